import { add, cast } from '../ir/build.js';
import { constantNode } from '../ir/convert.js';
import { toposort } from '../ir/graph.js';
import { describe, Node, whereBuilt } from '../ir/node.js';
import { formatShape } from '../ir/type.js';
import { isFloat } from '../../runtime/dtype.js';
import { GradError } from '../../runtime/errors.js';
import { unbroadcast, VJPS, type VJP } from './rules.js';
import { zerosLike } from '../ir/build.js';
import type { Op } from '../ir/ops.js';

export interface GradOptions {
  /** What to do when the cost does not depend on a variable: 'raise' (default, as Theano) or 'zero'. */
  disconnected?: 'raise' | 'zero';
}

/** Rejects what `grad` cannot differentiate, naming the user's expression: a non-scalar or integer cost, a non-float variable. */
export function checkGradArguments(cost: Node, targets: readonly Node[]): void {
  if (!(cost instanceof Node)) throw new GradError('grad: cost must be a symbolic expression');
  if (cost.ndim !== 0) {
    throw new GradError(
      `grad: cost must be a scalar, but ${describe(cost)} has shape ${formatShape(cost.shape)} (reduce it, e.g. with T.sum or T.mean)${whereBuilt(cost)}`,
    );
  }
  if (!isFloat(cost.dtype))
    throw new GradError(
      `grad: cost ${describe(cost)} has dtype ${cost.dtype}; gradients need a float cost${whereBuilt(cost)}`,
    );
  targets.forEach((t) => {
    if (!(t instanceof Node)) throw new GradError('grad: wrt must be symbolic variables');
    if (!isFloat(t.dtype))
      throw new GradError(`grad: ${describe(t)} has dtype ${t.dtype}; only float variables have gradients`);
  });
}

/** The error for a variable the cost does not depend on. */
export function disconnectedError(cost: Node, t: Node): GradError {
  return new GradError(
    `grad: the cost ${describe(cost)} does not depend on ${describe(t)} (pass { disconnected: 'zero' } to get zeros)${whereBuilt(t)}`,
  );
}

/**
 * Reverse-mode differentiation of the graph as written: symbolic gradients of a scalar `cost` with
 * respect to each of `targets` (`T.grad` stabilizes the cost first, then calls this).
 */
export function differentiate(cost: Node, targets: readonly Node[], options: GradOptions = {}): Node[] {
  checkGradArguments(cost, targets);
  const order = toposort([cost]);
  const reachable = new Set(order);
  const wanted = new Set(targets);
  // Only nodes that depend on some target need gradients.
  const dependsOnTarget = new Set<Node>();
  for (const node of order) {
    if (wanted.has(node) || node.inputs.some((i) => dependsOnTarget.has(i))) dependsOnTarget.add(node);
  }

  const contributions = new Map<Node, Node[]>([[cost, [constantNode(1, cost.dtype)]]]);
  const total = (node: Node): Node | undefined => {
    const parts = contributions.get(node);
    if (!parts || parts.length === 0) return undefined;
    const summed = parts.reduce((a, b) => add(a, b));
    return summed.dtype === node.dtype ? summed : cast(summed, node.dtype);
  };

  for (let i = order.length - 1; i >= 0; i--) {
    const node = order[i]!;
    if (!dependsOnTarget.has(node)) continue;
    const g = total(node);
    if (!g) continue;
    const rule = VJPS[node.op] as VJP<Op>;
    const grads = rule(node, g);
    node.inputs.forEach((input, k) => {
      const gi = grads[k];
      if (!gi || !dependsOnTarget.has(input)) return;
      const list = contributions.get(input) ?? [];
      list.push(gi);
      contributions.set(input, list);
    });
  }

  const results = targets.map((t) => {
    if (!reachable.has(t)) {
      if (options.disconnected === 'zero') return zerosLike(t);
      throw disconnectedError(cost, t);
    }
    const g = total(t);
    return g ? unbroadcast(g, t) : zerosLike(t);
  });
  return results;
}
