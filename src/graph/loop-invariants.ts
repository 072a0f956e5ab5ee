/**
 * Loop-invariant code motion for loop bodies: the part of a body that reads only values every step
 * shares (a weight, its transpose in a gradient, a bias broadcast to the batch) is computed once per
 * call, before the loop, and the body reads it as an input of its own.
 */
import { substitute, toposort } from '../../compiler/ir/graph.js';
import { isRandom } from '../../compiler/ir/ops.js';
import type { Node } from '../../compiler/ir/node.js';
import { tensor } from './variables.js';

export interface HoistedBody {
  /** What the loop computes once: the invariant nodes, over the body's invariant inputs. */
  readonly invariants: readonly Node[];
  /** The body's outputs, reading a placeholder for each invariant node. */
  readonly outputs: readonly Node[];
  /** One placeholder per invariant node, the body's extra inputs (after its own). */
  readonly placeholders: readonly Node[];
}

/** Nodes that never move out of a step: they stand for per-step state or effects. */
const staysInLoop = (n: Node) => isRandom(n.op) || n.op === 'shared' || n.op === 'loop' || n.op === 'ifelse';

/**
 * Splits a body (`inputs` → `outputs`) into the invariant nodes it can compute before the loop (those
 * that depend on `invariant` inputs only, and on at least one of them) and the body that reads them.
 * Undefined when there is nothing to hoist.
 */
export function hoistInvariants(outputs: readonly Node[], invariant: ReadonlySet<Node>): HoistedBody | undefined {
  const order = toposort(outputs);
  // Nodes that depend on invariant inputs and constants only; of those, the ones that read an input.
  const fixed = new Set<Node>();
  const readsInput = new Set<Node>();
  for (const n of order) {
    if (n.op === 'input') {
      if (invariant.has(n)) (fixed.add(n), readsInput.add(n));
      continue;
    }
    if (n.op === 'constant') {
      fixed.add(n);
      continue;
    }
    if (staysInLoop(n) || n.inputs.length === 0 || !n.inputs.every((i) => fixed.has(i))) continue;
    fixed.add(n);
    if (n.inputs.some((i) => readsInput.has(i))) readsInput.add(n);
  }
  // Worth computing once: invariant work a step-dependent node (or the body's result) reads.
  const outputSet = new Set(outputs);
  const readByStep = new Set<Node>();
  for (const n of order) if (!fixed.has(n)) for (const i of n.inputs) readByStep.add(i);
  const invariants = order.filter(
    (n) => fixed.has(n) && readsInput.has(n) && n.op !== 'input' && (readByStep.has(n) || outputSet.has(n)),
  );
  if (invariants.length === 0) return undefined;
  const placeholders = invariants.map((n, i) =>
    tensor(`loop invariant ${i}`, { dtype: n.dtype, shape: n.shape.map((d) => d ?? null) }),
  );
  return {
    invariants,
    placeholders,
    outputs: substitute(outputs, new Map(invariants.map((n, i) => [n, placeholders[i]!] as const))),
  };
}
