import {
  checkGradArguments,
  differentiate,
  disconnectedError,
  type GradOptions as DifferentiateOptions,
} from '../../compiler/grad/grad.js';
import { substitute, toposort } from '../../compiler/ir/graph.js';
import { Node } from '../../compiler/ir/node.js';
import { stabilizeForGradient } from '../../compiler/rewrite/pipeline.js';
import { epsilon } from '../../runtime/config.js';

export interface GradOptions extends DifferentiateOptions {
  /**
   * Differentiate the stable form of the cost (default true): the canonicalize and stabilize rewrites,
   * with Keras's epsilon in force, run on the cost first, so the gradient belongs to the same exact
   * function the compiled value computes. `false` differentiates the graph exactly as written.
   */
  stabilize?: boolean;
}

const isVariable = (n: Node) => n.op === 'input' || n.op === 'shared';

/**
 * Symbolic gradients of a scalar `cost` with respect to each of `wrt` (Theano's `T.grad`). The result is
 * a graph, optimized and compiled like any other expression.
 */
export function grad(cost: Node, wrt: Node, options?: GradOptions): Node;
export function grad(cost: Node, wrt: readonly Node[], options?: GradOptions): Node[];
export function grad(cost: Node, wrt: Node | readonly Node[], options: GradOptions = {}): Node | Node[] {
  const targets = Array.isArray(wrt) ? (wrt as readonly Node[]) : [wrt as Node];
  checkGradArguments(cost, targets);
  const results =
    options.stabilize === false ? differentiate(cost, targets, options) : differentiateStable(cost, targets, options);
  return Array.isArray(wrt) ? results : results[0]!;
}

function differentiateStable(cost: Node, targets: readonly Node[], options: GradOptions): Node[] {
  const reachable = new Set(toposort([cost]));
  for (const t of targets) if (!reachable.has(t) && options.disconnected !== 'zero') throw disconnectedError(cost, t);
  // An expression the user differentiates with respect to must survive the rewrites as itself: it stands
  // as an input while the rest of the cost is rewritten, and is put back before differentiating.
  const held = new Map<Node, Node>();
  for (const t of targets) {
    if (!isVariable(t) && reachable.has(t))
      held.set(t, Node.leaf('input', { name: 'held', uid: -t.id }, t.type, undefined));
  }
  const [heldCost] = held.size ? substitute([cost], held) : [cost];
  const [stable] = stabilizeForGradient([heldCost!], epsilon(), process.env['TSANO_VERIFY'] === '1');
  const [restored] = held.size ? substitute([stable!], new Map([...held].map(([t, h]) => [h, t]))) : [stable];
  // A rewrite may cancel a dependence the written cost had (where(c, x, x) -> x): its gradient is zero.
  return differentiate(restored!, targets, { ...options, disconnected: 'zero' });
}
