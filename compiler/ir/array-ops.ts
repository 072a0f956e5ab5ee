/**
 * NumPy's array construction and rearrangement, built from the op set when the graph is built
 * (gathers with constant indices, masks, transposes, matmul): each differentiates through what it is
 * built from, and fusion and rewrites see the pieces.
 */
import * as B from './build.js';
import { asNode, constantNode, type TensorLike } from './convert.js';
import { index, type IndexSpec } from './indexing.js';
import { Node } from './node.js';
import { floatx } from '../../runtime/config.js';
import type { DType } from '../../runtime/dtype.js';
import { ShapeError } from '../../runtime/errors.js';
import { NDArray } from '../../runtime/ndarray.js';

type Axis = number | readonly number[];

const describe = (x: Node) => `${x.name ?? 'a tensor'} [${x.shape.map((d) => d ?? '?').join(', ')}]`;

/** An axis of x, negative counting from the end, or a ShapeError naming the op. */
function axisOf(x: Node, axis: number, op: string): number {
  if (!Number.isInteger(axis) || axis < -x.ndim || axis >= x.ndim)
    throw new ShapeError(`${op}(${describe(x)}): axis ${axis} is out of range for rank ${x.ndim}`);
  return axis < 0 ? axis + x.ndim : axis;
}

/** A size that must be known when the graph is built (a constant index table depends on it). */
function knownSize(x: Node, axis: number, op: string): number {
  const d = x.shape[axis];
  if (d === null || d === undefined)
    throw new ShapeError(`${op}(${describe(x)}): axis ${axis} must have a size known when the graph is built`);
  return d;
}

function checkCount(value: number, what: string, op: string): void {
  if (!Number.isInteger(value) || value < 0)
    throw new ShapeError(`${op}: ${what} must be a non-negative integer, got ${value}`);
}

const int32Indices = (values: readonly number[], shape: readonly number[] = [values.length]) =>
  constantNode(new NDArray(Int32Array.from(values), shape, 'int32'));

/** The n × m identity (ones on the k-th diagonal) as a constant: `eye(n, m = n, k = 0, dtype = floatx)`, NumPy's and Theano's. */
export function eye(n: number, m = n, k = 0, dtype: DType = floatx()): Node {
  checkCount(n, 'the number of rows', 'eye');
  checkCount(m, 'the number of columns', 'eye');
  if (!Number.isInteger(k)) throw new ShapeError(`eye: the diagonal k must be an integer, got ${k}`);
  const data = new Float64Array(n * m);
  for (let i = 0; i < n; i++) if (i + k >= 0 && i + k < m) data[i * m + i + k] = 1;
  return constantNode(new NDArray(data, [n, m], 'float64').astype(dtype));
}

/** Positions of the last two axes as int32 constants: rows down, columns across. */
function rowsAndColumns(x: Node, op: string): [Node, Node] {
  if (x.ndim < 2) throw new ShapeError(`${op}(${describe(x)}): needs at least two axes`);
  const [r, c] = [knownSize(x, x.ndim - 2, op), knownSize(x, x.ndim - 1, op)];
  const rows = int32Indices(
    Array.from({ length: r }, (_, i) => i),
    [r, 1],
  );
  const cols = int32Indices(
    Array.from({ length: c }, (_, j) => j),
    [1, c],
  );
  return [rows, cols];
}

/** x with the elements above the k-th diagonal of its last two axes set to 0 (NumPy's tril). */
export function tril(x: TensorLike, k = 0): Node {
  const node = asNode(x);
  const [rows, cols] = rowsAndColumns(node, 'tril');
  return B.where(B.le(B.sub(cols, rows), k), node, 0);
}

/** x with the elements below the k-th diagonal of its last two axes set to 0 (NumPy's triu). */
export function triu(x: TensorLike, k = 0): Node {
  const node = asNode(x);
  const [rows, cols] = rowsAndColumns(node, 'triu');
  return B.where(B.ge(B.sub(cols, rows), k), node, 0);
}

/**
 * The k-th diagonal of the plane of axes `axis1` and `axis2`, as a last axis (NumPy's diagonal): the
 * plane moved last, flattened, and gathered at i·m + i + k.
 */
export function diagonal(x: TensorLike, offset = 0, axis1 = 0, axis2 = 1): Node {
  const node = asNode(x);
  if (node.ndim < 2) throw new ShapeError(`diagonal(${describe(node)}): needs at least two axes`);
  const [a1, a2] = [axisOf(node, axis1, 'diagonal'), axisOf(node, axis2, 'diagonal')];
  if (a1 === a2) throw new ShapeError(`diagonal(${describe(node)}): axis1 and axis2 are both ${a1}`);
  if (!Number.isInteger(offset)) throw new ShapeError(`diagonal: the offset must be an integer, got ${offset}`);
  const [n, m] = [knownSize(node, a1, 'diagonal'), knownSize(node, a2, 'diagonal')];
  const rest = node.shape.map((_, i) => i).filter((i) => i !== a1 && i !== a2);
  const moved = B.transpose(node, [...rest, a1, a2]);
  const flat = B.reshape(moved, [...rest.map((i) => node.shape[i] ?? -1), n * m]);
  const first = Math.max(0, -offset);
  const length = Math.max(0, Math.min(n - first, m - first - offset));
  const at = Array.from({ length }, (_, i) => (first + i) * m + first + i + offset);
  return B.gather(flat, int32Indices(at), rest.length);
}

/** NumPy's diag: a vector's values on the k-th diagonal of a square matrix, or a matrix's k-th diagonal. */
export function diag(v: TensorLike, k = 0): Node {
  const node = asNode(v);
  if (node.ndim === 2) return diagonal(node, k);
  if (node.ndim !== 1) throw new ShapeError(`diag(${describe(node)}): takes a vector or a matrix`);
  if (!Number.isInteger(k)) throw new ShapeError(`diag: k must be an integer, got ${k}`);
  const n = knownSize(node, 0, 'diag');
  const size = n + Math.abs(k);
  // Index 0 is a zero put in front of the vector; element i sits at row i − min(k, 0), column i + max(k, 0).
  const table = new Array<number>(size * size).fill(0);
  for (let i = 0; i < n; i++) table[(i - Math.min(k, 0)) * size + i + Math.max(k, 0)] = i + 1;
  const padded = B.concat([constantNode([0], node.dtype), node], 0);
  return B.gather(padded, int32Indices(table, [size, size]), 0);
}

/** The sum of the k-th diagonal of the plane of axes `axis1` and `axis2` (the first two by default), as NumPy's trace. */
export function trace(x: TensorLike, offset = 0, axis1 = 0, axis2 = 1): Node {
  return B.sum(diagonal(x, offset, axis1, axis2), -1);
}

/** Axes (all when none) as a sorted list of non-negative axes. */
function axesList(x: Node, axis: Axis | undefined, op: string): number[] {
  if (axis === undefined) return x.shape.map((_, i) => i);
  const list = (typeof axis === 'number' ? [axis] : [...axis]).map((a) => axisOf(x, a, op));
  if (new Set(list).size !== list.length) throw new ShapeError(`${op}(${describe(x)}): an axis is listed twice`);
  return list;
}

/** x repeated `reps[i]` times along axis i (NumPy's tile, TF.js's tile): a gather of arange(r·d) mod d per axis. */
export function tile(x: TensorLike, reps: number | readonly number[]): Node {
  let node = asNode(x);
  const counts = typeof reps === 'number' ? [reps] : [...reps];
  counts.forEach((r) => checkCount(r, 'each repetition count', 'tile'));
  // Fewer axes than reps: leading axes of size 1 (NumPy); more: reps padded with 1s.
  while (node.ndim < counts.length) node = B.expandDims(node, 0);
  const full = [...new Array<number>(node.ndim - counts.length).fill(1), ...counts];
  full.forEach((r, axis) => {
    if (r === 1) return;
    const d = knownSize(node, axis, 'tile');
    node = B.gather(node, int32Indices(Array.from({ length: r * d }, (_, i) => i % d)), axis);
  });
  return node;
}

/** Each element repeated `repeats` times (or repeats[i] times for element i) along `axis`; the flattened x without one (NumPy's repeat). */
export function repeat(x: TensorLike, repeats: number | readonly number[], axis?: number): Node {
  let node = asNode(x);
  if (axis === undefined) node = B.reshape(node, [-1]);
  const a = axis === undefined ? 0 : axisOf(node, axis, 'repeat');
  const d = knownSize(node, a, 'repeat');
  const counts = typeof repeats === 'number' ? new Array<number>(d).fill(repeats) : [...repeats];
  if (counts.length !== d)
    throw new ShapeError(
      `repeat(${describe(node)}): ${counts.length} repetition counts for ${d} elements along axis ${a}`,
    );
  counts.forEach((r) => checkCount(r, 'each repetition count', 'repeat'));
  return B.gather(node, int32Indices(counts.flatMap((r, i) => new Array<number>(r).fill(i))), a);
}

/** x reversed along `axis` (all axes when none), as NumPy's flip and TF.js's reverse. */
export function flip(x: TensorLike, axis?: Axis): Node {
  const node = asNode(x);
  const axes = axesList(node, axis, 'flip');
  if (node.ndim === 0) return node;
  const specs: IndexSpec[] = node.shape.map((_, i) => (axes.includes(i) ? '::-1' : ':'));
  return index(node, ...specs);
}

/** Elements shifted by `shift` along `axis`, those past the end coming back at the start (NumPy's roll); the flattened x without an axis, reshaped back. */
export function roll(x: TensorLike, shift: number | readonly number[], axis?: Axis): Node {
  const node = asNode(x);
  if (axis === undefined) {
    if (typeof shift !== 'number') throw new ShapeError('roll: several shifts need as many axes');
    const flat = roll(B.reshape(node, [-1]), shift, 0);
    return B.reshape(
      flat,
      node.shape.map((d) => d ?? -1),
    );
  }
  const axes = typeof axis === 'number' ? [axis] : [...axis];
  const shifts = typeof shift === 'number' ? axes.map(() => shift) : [...shift];
  if (shifts.length !== axes.length) throw new ShapeError(`roll: ${shifts.length} shifts for ${axes.length} axes`);
  let out = node;
  axes.forEach((ax, k) => {
    const a = axisOf(node, ax, 'roll');
    const s = shifts[k]!;
    if (!Number.isInteger(s)) throw new ShapeError(`roll: each shift must be an integer, got ${s}`);
    const d = knownSize(node, a, 'roll');
    if (d === 0) return;
    const at = Array.from({ length: d }, (_, i) => (((i - s) % d) + d) % d);
    out = B.gather(out, int32Indices(at), a);
  });
  return out;
}

/**
 * Coordinate grids from vectors (NumPy's meshgrid): with `indexing: 'xy'` (the default) the first
 * two output axes are (the second vector, the first); with 'ij', one axis per vector in order.
 */
export function meshgrid(...args: (TensorLike | { indexing?: 'xy' | 'ij' })[]): Node[] {
  const last = args[args.length - 1];
  const options = last !== undefined && isOptions(last) ? last : {};
  const vectors = (isOptions(last) ? args.slice(0, -1) : args).map((v) => asNode(v as TensorLike));
  const indexing = options.indexing ?? 'xy';
  if (indexing !== 'xy' && indexing !== 'ij')
    throw new ShapeError(`meshgrid: indexing must be 'xy' or 'ij', got '${String(indexing)}'`);
  vectors.forEach((v, i) => {
    if (v.ndim !== 1) throw new ShapeError(`meshgrid: operand ${i} (${describe(v)}) is not a vector`);
  });
  const n = vectors.length;
  // The output axis of each vector: 'xy' swaps the first two.
  const axisFor = (i: number) => (indexing === 'xy' && n >= 2 && i < 2 ? 1 - i : i);
  const placed = vectors.map((v, i) =>
    B.reshape(
      v,
      Array.from({ length: n }, (_, a) => (a === axisFor(i) ? -1 : 1)),
    ),
  );
  const grid = placed.map((p) => B.zerosLike(p)).reduce((acc, z) => B.add(acc, z));
  return placed.map((p) => Node.make('broadcastLike', [p, grid], {}));
}
const isOptions = (v: unknown): v is { indexing?: 'xy' | 'ij' } =>
  typeof v === 'object' && v !== null && !(v instanceof NDArray) && !Array.isArray(v) && !('op' in v);
