import { allocate, type DType } from '../dtype.js';
import { NDArray } from '../ndarray.js';
import { ShapeError } from '../errors.js';

/** Lines along `axis`: [outer, n, inner] with element (o, j, i) at (o·n + j)·inner + i. */
function lines(shape: readonly number[], axis: number) {
  const n = shape[axis]!;
  const inner = shape.slice(axis + 1).reduce((p, d) => p * d, 1);
  const outer = shape.slice(0, axis).reduce((p, d) => p * d, 1);
  return { n, inner, outer };
}

/**
 * Whether a comes before b: ascending, NaN after every number (NumPy); descending, NaN before every
 * number (NaN ranks highest, as argmax takes it). Ties keep their order (the sorts are stable).
 */
export const before = (a: number, b: number, descending: boolean): boolean =>
  descending ? (a !== a ? b === b : a > b) : b !== b ? a === a : a < b;

/** The indices that sort each line along `axis`, stably (int32). */
export function argsort(x: NDArray, axis: number, descending: boolean): NDArray {
  const { n, inner, outer } = lines(x.shape, axis);
  const out = new Int32Array(x.size);
  const order = Array.from({ length: n }, (_, j) => j);
  const line = new Float64Array(n);
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) {
      for (let j = 0; j < n; j++) line[j] = x.data[(o * n + j) * inner + i]!;
      for (let j = 0; j < n; j++) order[j] = j;
      order.sort((p, q) =>
        before(line[p]!, line[q]!, descending) ? -1 : before(line[q]!, line[p]!, descending) ? 1 : p - q,
      );
      for (let j = 0; j < n; j++) out[(o * n + j) * inner + i] = order[j]!;
    }
  return new NDArray(out, [...x.shape], 'int32');
}

/** The indices of the k first elements of each last-axis row in descending order (TF.js's topk), ties by position. */
export function topkIndices(x: NDArray, k: number): NDArray {
  const n = x.shape[x.ndim - 1] ?? 1;
  if (k > n) throw new ShapeError(`topk: k = ${k} is more than the ${n} elements of a row`);
  const rows = n === 0 ? 0 : x.size / n;
  const out = new Int32Array(rows * k);
  const vals = new Float64Array(k);
  const idx = new Int32Array(k);
  for (let r = 0; r < rows; r++) {
    let filled = 0;
    for (let j = 0; j < n; j++) {
      const v = x.data[r * n + j]!;
      if (filled === k && !before(v, vals[k - 1]!, true)) continue;
      let p = filled < k ? filled++ : k - 1;
      while (p > 0 && before(v, vals[p - 1]!, true)) {
        vals[p] = vals[p - 1]!;
        idx[p] = idx[p - 1]!;
        p--;
      }
      vals[p] = v;
      idx[p] = j;
    }
    out.set(idx, r * k);
  }
  return new NDArray(out, [...x.shape.slice(0, -1), k], 'int32');
}

/** out[..., j, ...] = x[..., indices[..., j, ...], ...] along `axis` (NumPy's take_along_axis; other axes broadcast from x). */
export function takeAlongAxis(x: NDArray, indices: NDArray, axis: number, dtype: DType): NDArray {
  const { n } = lines(x.shape, axis);
  const { n: m, inner, outer } = lines(indices.shape, axis);
  const out = allocate(dtype, indices.size);
  for (let o = 0; o < outer; o++)
    for (let j = 0; j < m; j++)
      for (let i = 0; i < inner; i++) {
        const at = indices.data[(o * m + j) * inner + i]!;
        if (!(at >= 0 && at < n)) throw new ShapeError(`takeAlongAxis: index ${at} is out of range for ${n} elements`);
        out[(o * m + j) * inner + i] = x.data[(o * n + at) * inner + i]!;
      }
  return new NDArray(out, [...indices.shape], dtype);
}

/** The adjoint of takeAlongAxis: g added at its indices into zeros shaped like `ref`. */
export function takeAlongAxisGrad(g: NDArray, indices: NDArray, ref: NDArray, axis: number, dtype: DType): NDArray {
  const { n } = lines(ref.shape, axis);
  const { n: m, inner, outer } = lines(indices.shape, axis);
  const acc = new Float64Array(ref.size);
  for (let o = 0; o < outer; o++)
    for (let j = 0; j < m; j++)
      for (let i = 0; i < inner; i++) {
        const at = indices.data[(o * m + j) * inner + i]!;
        acc[(o * n + at) * inner + i]! += g.data[(o * m + j) * inner + i]!;
      }
  const out = allocate(dtype, ref.size);
  out.set(acc);
  return new NDArray(out, [...ref.shape], dtype);
}
