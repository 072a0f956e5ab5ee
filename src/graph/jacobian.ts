/**
 * Theano's T.jacobian and T.hessian. With y's shape known when the graph is built, one gradient per
 * element of y, stacked; with a vector y whose length is known only at call time, a loop over its
 * elements (T.scan), compiled once whatever the length.
 */
import { flatten, reshape, stack } from '../../compiler/ir/build.js';
import { arange, dimOf, index } from '../../compiler/ir/indexing.js';
import type { Node } from '../../compiler/ir/node.js';
import { GradError } from '../../runtime/errors.js';
import { grad, list, structured, type GradOptions } from './grad.js';
import { scan } from './scan.js';

/**
 * The Jacobian of `y` with respect to `wrt` (Theano's T.jacobian): for each, an array of shape
 * [...y.shape, ...wrt.shape] whose element [i..., j...] is d y[i...] / d wrt[j...].
 */
export function jacobian(y: Node, wrt: Node, options?: GradOptions): Node;
export function jacobian(y: Node, wrt: readonly Node[], options?: GradOptions): Node[];
export function jacobian(y: Node, wrt: Node | readonly Node[], options: GradOptions = {}): Node | Node[] {
  const targets = list(wrt);
  const rowOf = (element: Node) => grad(element, targets, { ...options, disconnected: 'zero' });
  if (y.shape.some((d) => d === null)) {
    if (y.ndim !== 1)
      throw new GradError(
        `jacobian: ${y.name ?? 'the expression'} [${y.shape.map((d) => d ?? '?').join(', ')}] has sizes known only at call time; flatten it to a vector first`,
      );
    // One gradient per element in a loop: its length is a value of the call.
    const [rows] = scan((i: Node) => rowOf(index(y, i)), { sequences: arange(dimOf(y, 0)), name: 'jacobian' });
    return structured(wrt, Array.isArray(rows) ? rows : [rows as Node]);
  }
  const count = y.shape.reduce<number>((p, d) => p * d!, 1);
  const flat = y.ndim === 1 ? y : flatten(y);
  const rows = Array.from({ length: count }, (_, i) => rowOf(y.ndim === 0 ? y : index(flat, i)));
  return structured(
    wrt,
    targets.map((t, k) => {
      const stacked = stack(
        rows.map((r) => r[k]!),
        0,
      );
      return y.ndim === 1 ? stacked : reshape(stacked, [...(y.shape as number[]), ...t.shape.map((d) => d ?? -1)]);
    }),
  );
}

/** The Hessian of a scalar `cost` with respect to `wrt` (Theano's T.hessian): the Jacobian of its gradient. */
export function hessian(cost: Node, wrt: Node, options?: GradOptions): Node;
export function hessian(cost: Node, wrt: readonly Node[], options?: GradOptions): Node[];
export function hessian(cost: Node, wrt: Node | readonly Node[], options: GradOptions = {}): Node | Node[] {
  return structured(
    wrt,
    list(wrt).map((t) => jacobian(grad(cost, t, options), t, options)),
  );
}
