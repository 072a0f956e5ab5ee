/**
 * Running totals (cumsum, cumprod) along one axis. The op set has the inclusive forward form; the
 * exclusive and reversed forms (TF.js's options) are built around it: a shift by one and flips.
 */
import * as B from './build.js';
import { flip } from './array-ops.js';
import { asNode, constantNode, type TensorLike } from './convert.js';
import { index, type IndexSpec } from './indexing.js';
import { Node } from './node.js';
import { captureOrigin } from './origin.js';
import { ShapeError } from '../../runtime/errors.js';
import { checkOptionNames } from '../../runtime/options.js';

/** TF.js's options: `exclusive` leaves each element out of its own total, `reverse` runs last to first. */
export interface CumulativeOptions {
  readonly exclusive?: boolean;
  readonly reverse?: boolean;
}

/** The op itself: inclusive, first to last, along `axis` (non-negative). */
export const runningTotal = (op: 'cumsum' | 'cumprod', x: Node, axis: number): Node =>
  Node.make(op, [x], { axis }, captureOrigin());

function cumulative(
  op: 'cumsum' | 'cumprod',
  x: TensorLike,
  axis: number | undefined,
  options: CumulativeOptions,
): Node {
  checkOptionNames(op, options, ['exclusive', 'reverse']);
  let node = asNode(x);
  // NumPy's and Theano's cumsum without an axis run over the flattened array.
  if (axis === undefined) node = B.reshape(node, [-1]);
  const a = axis ?? 0;
  if (!Number.isInteger(a) || a < -node.ndim || a >= node.ndim)
    throw new ShapeError(`${op}(${node.name ?? 'a tensor'}): axis ${a} is out of range for rank ${node.ndim}`);
  const ax = a < 0 ? a + node.ndim : a;
  if (options.reverse) node = flip(node, ax);
  let out = runningTotal(op, node, ax);
  if (options.exclusive) {
    // Each total moved one place on, the identity in front.
    const identity = constantNode(op === 'cumsum' ? 0 : 1, out.dtype);
    const first = Node.make('broadcastLike', [identity, index(node, ...axisSlice(node.ndim, ax, '0:1'))], {});
    out = B.concat([first, index(out, ...axisSlice(node.ndim, ax, ':-1'))], ax);
  }
  return options.reverse ? flip(out, ax) : out;
}
const axisSlice = (rank: number, axis: number, spec: string): IndexSpec[] =>
  Array.from({ length: rank }, (_, i) => (i === axis ? spec : ':'));

/** Running sums along `axis` (the flattened array when none): NumPy's and Theano's cumsum, with TF.js's `exclusive` and `reverse`. */
export const cumsum = (x: TensorLike, axis?: number, options: CumulativeOptions = {}): Node =>
  cumulative('cumsum', x, axis, options);
/** Running products along `axis` (the flattened array when none), as cumsum. */
export const cumprod = (x: TensorLike, axis?: number, options: CumulativeOptions = {}): Node =>
  cumulative('cumprod', x, axis, options);
