/**
 * Dense linear algebra in float64, batched over leading axes (NumPy's broadcasting of the batch axes):
 * Cholesky, triangular solves, LU with partial pivoting for general solves and log-determinants.
 * Failures are values, as NumPy and jax give them: a matrix that is not positive definite makes NaN
 * in cholesky, a singular one ±Infinity or NaN in solve and -Infinity in the log-determinant.
 */
import { allocate, type DType } from '../dtype.js';
import { NDArray } from '../ndarray.js';
import { broadcastConcrete } from './layout.js';

/** The batch offsets (in matrices) of each operand for every batch index of the broadcast batch shape. */
function batches(shapes: readonly (readonly number[])[]): { batch: number[]; offsets: number[][] } {
  const batch = broadcastConcrete(shapes);
  const count = batch.reduce((p, d) => p * d, 1);
  const offsets = shapes.map((s) => {
    const strides = new Array<number>(batch.length).fill(0);
    let stride = 1;
    for (let a = s.length - 1; a >= 0; a--) {
      const axis = batch.length - s.length + a;
      strides[axis] = s[a] === 1 && batch[axis] !== 1 ? 0 : stride;
      stride *= s[a]!;
    }
    return Array.from({ length: count }, (_, flat) => {
      let rest = flat;
      let offset = 0;
      for (let a = batch.length - 1; a >= 0; a--) {
        offset += (rest % batch[a]!) * strides[a]!;
        rest = Math.floor(rest / batch[a]!);
      }
      return offset;
    });
  });
  return { batch, offsets };
}

const matrixOf = (x: NDArray, index: number, rows: number, cols: number): Float64Array =>
  Float64Array.from(x.data.subarray(index * rows * cols, (index + 1) * rows * cols));

/** The lower Cholesky factor L (A = L·Lᵀ) of each matrix, from its lower triangle; NaN from the first non-positive pivot on. */
export function cholesky(a: NDArray, dtype: DType): NDArray {
  const n = a.shape[a.ndim - 1]!;
  const count = n === 0 ? 0 : a.size / (n * n);
  const out = allocate(dtype, a.size);
  for (let b = 0; b < count; b++) {
    const m = matrixOf(a, b, n, n);
    const l = new Float64Array(n * n);
    for (let j = 0; j < n; j++) {
      let d = m[j * n + j]!;
      for (let k = 0; k < j; k++) d -= l[j * n + k]! * l[j * n + k]!;
      const pivot = d > 0 ? Math.sqrt(d) : NaN;
      l[j * n + j] = pivot;
      for (let i = j + 1; i < n; i++) {
        let s = m[i * n + j]!;
        for (let k = 0; k < j; k++) s -= l[i * n + k]! * l[j * n + k]!;
        l[i * n + j] = s / pivot;
      }
    }
    out.set(l, b * n * n);
  }
  return new NDArray(out, [...a.shape], dtype);
}

export interface TriangularOptions {
  readonly lower: boolean;
  /** Solve with the matrix transposed (Lᵀ X = B). */
  readonly transpose: boolean;
  /** Take the diagonal as ones (it is not read). */
  readonly unitDiagonal: boolean;
}

/** X with T·X = B (or Tᵀ·X = B) for triangular T, by substitution; B is [..., n, k]. */
export function solveTriangular(t: NDArray, rhs: NDArray, o: TriangularOptions, dtype: DType): NDArray {
  const n = t.shape[t.ndim - 1]!;
  const k = rhs.shape[rhs.ndim - 1]!;
  const { batch, offsets } = batches([t.shape.slice(0, -2), rhs.shape.slice(0, -2)]);
  const count = offsets[0]!.length;
  const out = allocate(dtype, count * n * k);
  // Solving with Tᵀ: a lower T's transpose is upper, and the reverse.
  const forward = o.lower !== o.transpose;
  const at = (m: Float64Array, i: number, j: number) => (o.transpose ? m[j * n + i]! : m[i * n + j]!);
  for (let b = 0; b < count; b++) {
    const m = matrixOf(t, offsets[0]![b]!, n, n);
    const x = matrixOf(rhs, offsets[1]![b]!, n, k);
    for (let step = 0; step < n; step++) {
      const i = forward ? step : n - 1 - step;
      for (let c = 0; c < k; c++) {
        let s = x[i * k + c]!;
        for (let step2 = 0; step2 < step; step2++) {
          const j = forward ? step2 : n - 1 - step2;
          s -= at(m, i, j) * x[j * k + c]!;
        }
        x[i * k + c] = o.unitDiagonal ? s : s / at(m, i, i);
      }
    }
    out.set(x, b * n * k);
  }
  return new NDArray(out, [...batch, n, k], dtype);
}

/** LU with partial pivoting of an n×n matrix in place; returns the row permutation's sign (0 for a singular matrix). */
function luInPlace(m: Float64Array, n: number, perm: Int32Array): number {
  let sign = 1;
  for (let i = 0; i < n; i++) perm[i] = i;
  for (let j = 0; j < n; j++) {
    let p = j;
    for (let i = j + 1; i < n; i++) if (Math.abs(m[i * n + j]!) > Math.abs(m[p * n + j]!)) p = i;
    if (p !== j) {
      for (let c = 0; c < n; c++) [m[j * n + c], m[p * n + c]] = [m[p * n + c]!, m[j * n + c]!];
      [perm[j], perm[p]] = [perm[p]!, perm[j]!];
      sign = -sign;
    }
    const pivot = m[j * n + j]!;
    if (pivot === 0) continue; // singular: the solve divides by 0, as NumPy's gives inf/NaN
    for (let i = j + 1; i < n; i++) {
      const f = (m[i * n + j]! /= pivot);
      if (f !== 0) for (let c = j + 1; c < n; c++) m[i * n + c]! -= f * m[j * n + c]!;
    }
  }
  return sign;
}

/** X with A·X = B for general square A (LU with partial pivoting); B is [..., n, k]. */
export function solve(a: NDArray, rhs: NDArray, dtype: DType): NDArray {
  const n = a.shape[a.ndim - 1]!;
  const k = rhs.shape[rhs.ndim - 1]!;
  const { batch, offsets } = batches([a.shape.slice(0, -2), rhs.shape.slice(0, -2)]);
  const count = offsets[0]!.length;
  const out = allocate(dtype, count * n * k);
  const perm = new Int32Array(n);
  for (let b = 0; b < count; b++) {
    const m = matrixOf(a, offsets[0]![b]!, n, n);
    const given = matrixOf(rhs, offsets[1]![b]!, n, k);
    luInPlace(m, n, perm);
    const x = new Float64Array(n * k);
    for (let i = 0; i < n; i++) for (let c = 0; c < k; c++) x[i * k + c] = given[perm[i]! * k + c]!;
    for (let i = 0; i < n; i++)
      for (let c = 0; c < k; c++) {
        let s = x[i * k + c]!;
        for (let j = 0; j < i; j++) s -= m[i * n + j]! * x[j * k + c]!;
        x[i * k + c] = s;
      }
    for (let i = n - 1; i >= 0; i--)
      for (let c = 0; c < k; c++) {
        let s = x[i * k + c]!;
        for (let j = i + 1; j < n; j++) s -= m[i * n + j]! * x[j * k + c]!;
        x[i * k + c] = s / m[i * n + i]!;
      }
    out.set(x, b * n * k);
  }
  return new NDArray(out, [...batch, n, k], dtype);
}

/** log|det A| (`part` 'logAbs') or the determinant's sign (`part` 'sign': −1, 0 or 1) of each matrix, by LU. */
export function slogdet(a: NDArray, part: 'logAbs' | 'sign', dtype: DType): NDArray {
  const n = a.shape[a.ndim - 1]!;
  const count = a.shape.slice(0, -2).reduce((p, d) => p * d, 1);
  const out = allocate(dtype, count);
  const perm = new Int32Array(n);
  for (let b = 0; b < count; b++) {
    const m = matrixOf(a, b, n, n);
    let sign = luInPlace(m, n, perm);
    let logAbs = 0;
    for (let i = 0; i < n; i++) {
      const d = m[i * n + i]!;
      if (d < 0) sign = -sign;
      logAbs += Math.log(Math.abs(d));
    }
    if (logAbs === -Infinity) sign = 0;
    out[b] = part === 'sign' ? (Number.isNaN(logAbs) ? NaN : sign) : logAbs;
  }
  return new NDArray(out, a.shape.slice(0, -2), dtype);
}
