import { allocate, type DType } from '../dtype.js';
import { ShapeError } from '../errors.js';
import { NDArray, sizeOf } from '../ndarray.js';
import { mapBroadcast } from './elementwise.js';
import { broadcastConcrete, broadcastStrides, forEachIndex } from './layout.js';

function checkInner(k1: number, k2: number, a: readonly number[], b: readonly number[]): void {
  if (k1 !== k2) throw new ShapeError(`inner dimensions differ: [${a.join(', ')}] and [${b.join(', ')}]`);
}

/** C[i, j] = sum_l A[i, l] B[l, j] over contiguous row-major blocks, float64 accumulation. */
function gemm(
  a: ArrayLike<number>,
  aOff: number,
  b: ArrayLike<number>,
  bOff: number,
  out: { [i: number]: number },
  outOff: number,
  n: number,
  k: number,
  m: number,
): void {
  const row = new Float64Array(m);
  for (let i = 0; i < n; i++) {
    row.fill(0);
    for (let l = 0; l < k; l++) {
      const av = a[aOff + i * k + l]!;
      const bRow = bOff + l * m;
      for (let j = 0; j < m; j++) row[j]! += av * b[bRow + j]!;
    }
    for (let j = 0; j < m; j++) out[outOff + i * m + j] = row[j]!;
  }
}

/** NumPy matmul: broadcast batch axes; 1-D operands are promoted and the added axis removed. */
export function matmul(a: NDArray, b: NDArray, dtype: DType): NDArray {
  const as = a.ndim === 1 ? [1, a.shape[0]!] : a.shape;
  const bs = b.ndim === 1 ? [b.shape[0]!, 1] : b.shape;
  const [n, k] = as.slice(-2) as [number, number];
  const [k2, m] = bs.slice(-2) as [number, number];
  checkInner(k, k2, a.shape, b.shape);
  const batch = broadcastConcrete([as.slice(0, -2), bs.slice(0, -2)]);
  const aBatch = broadcastStrides(as.slice(0, -2), batch).map((s) => s * n * k);
  const bBatch = broadcastStrides(bs.slice(0, -2), batch).map((s) => s * k * m);
  const out = allocate(dtype, sizeOf(batch) * n * m);
  forEachIndex(batch, [aBatch, bBatch], (i, [ao, bo]) => gemm(a.data, ao!, b.data, bo!, out, i * n * m, n, k, m));
  const shape = [...batch];
  if (a.ndim > 1) shape.push(n);
  if (b.ndim > 1) shape.push(m);
  return new NDArray(out, shape, dtype);
}

/** NumPy dot: sum over the last axis of a and the second-to-last axis of b (its only axis if 1-D). */
export function dot(a: NDArray, b: NDArray, dtype: DType): NDArray {
  if (a.ndim === 0 || b.ndim === 0) return mapBroadcast([a, b], dtype, (x, y) => x * y);
  const k = a.shape[a.ndim - 1]!;
  const aRows = sizeOf(a.shape.slice(0, -1));
  if (b.ndim === 1) {
    checkInner(k, b.shape[0]!, a.shape, b.shape);
    const out = allocate(dtype, aRows);
    gemm(a.data, 0, b.data, 0, out, 0, aRows, k, 1);
    return new NDArray(out, a.shape.slice(0, -1), dtype);
  }
  const kb = b.shape[b.ndim - 2]!;
  const m = b.shape[b.ndim - 1]!;
  checkInner(k, kb, a.shape, b.shape);
  const bBatch = sizeOf(b.shape.slice(0, -2));
  const out = allocate(dtype, aRows * bBatch * m);
  const block = allocate('float64', aRows * m);
  for (let t = 0; t < bBatch; t++) {
    gemm(a.data, 0, b.data, t * k * m, block, 0, aRows, k, m);
    for (let i = 0; i < aRows; i++) {
      for (let j = 0; j < m; j++) out[(i * bBatch + t) * m + j] = block[i * m + j]!;
    }
  }
  return new NDArray(out, [...a.shape.slice(0, -1), ...b.shape.slice(0, -2), m], dtype);
}
