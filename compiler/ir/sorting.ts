/**
 * Sorting: argsort and the k largest are ops of their own; sorted values are x taken along the axis at
 * those indices, so they differentiate (the gradient goes back to where each value came from).
 */
import { asNode, type TensorLike } from './convert.js';
import { Node } from './node.js';
import { captureOrigin } from './origin.js';
import { ShapeError } from '../../runtime/errors.js';
import { checkOptionNames } from '../../runtime/options.js';

const describe = (x: Node) => `${x.name ?? 'a tensor'} [${x.shape.map((d) => d ?? '?').join(', ')}]`;

function axisOf(x: Node, axis: number, op: string): number {
  if (!Number.isInteger(axis) || axis < -x.ndim || axis >= x.ndim)
    throw new ShapeError(`${op}(${describe(x)}): axis ${axis} is out of range for rank ${x.ndim}`);
  return axis < 0 ? axis + x.ndim : axis;
}

export interface SortOptions {
  /** Largest first (NaN first); ascending (the default) puts NaN last, as NumPy. */
  readonly descending?: boolean;
}

/** The indices that sort x along `axis` (last by default), stably: equal elements keep their order. */
export function argsort(x: TensorLike, axis = -1, options: SortOptions = {}): Node {
  checkOptionNames('argsort', options, ['descending']);
  const node = asNode(x);
  if (node.ndim === 0) throw new ShapeError(`argsort(${describe(node)}): needs at least one axis`);
  return Node.make(
    'argsort',
    [node],
    { axis: axisOf(node, axis, 'argsort'), descending: !!options.descending },
    captureOrigin(),
  );
}

/** x's elements at int32 `indices` along `axis` (NumPy's take_along_axis): indices have x's rank. */
export function takeAlongAxis(x: TensorLike, indices: TensorLike, axis = -1): Node {
  const node = asNode(x);
  const at = asNode(indices);
  return Node.make('takeAlongAxis', [node, at], { axis: axisOf(node, axis, 'takeAlongAxis') }, captureOrigin());
}

/** x sorted along `axis` (last by default), stably, NaN last (first when descending). */
export function sort(x: TensorLike, axis = -1, options: SortOptions = {}): Node {
  const node = asNode(x);
  const order = argsort(node, axis, options);
  return takeAlongAxis(node, order, axis);
}

/**
 * The k largest elements of each row of the last axis and their indices (TF.js's topk), largest first,
 * NaN ranking above every number, equal values by position.
 */
export function topk(x: TensorLike, k = 1, options: { sorted?: boolean } = {}): { values: Node; indices: Node } {
  checkOptionNames('topk', options, ['sorted']);
  if (options.sorted === false) throw new ShapeError('topk: only sorted results (sorted: true) are produced');
  const node = asNode(x);
  if (node.ndim === 0) throw new ShapeError(`topk(${describe(node)}): needs at least one axis`);
  const indices = Node.make('topkIndices', [node], { k }, captureOrigin());
  return { values: takeAlongAxis(node, indices, -1), indices };
}
