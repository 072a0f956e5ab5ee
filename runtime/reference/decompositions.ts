/**
 * Dense linear algebra in float64, batched over leading axes (NumPy's broadcasting of the batch axes):
 * Cholesky, triangular solves, LU with partial pivoting for general solves and log-determinants.
 * Failures are values, as NumPy and jax give them: a matrix that is not positive definite makes NaN
 * in cholesky, a singular one ±Infinity or NaN in solve and -Infinity in the log-determinant.
 */
import { allocate, type DType } from '../dtype.js';
import { NDArray } from '../ndarray.js';
import { batchIndices } from './layout.js';
import { LinalgError } from '../errors.js';

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
  const { batch, indices: offsets } = batchIndices([t.shape.slice(0, -2), rhs.shape.slice(0, -2)]);
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
  const { batch, indices: offsets } = batchIndices([a.shape.slice(0, -2), rhs.shape.slice(0, -2)]);
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

/** The largest |entry| of a matrix, or 1 where that is 0 or not finite (nothing to scale, or NaN to keep). */
function largestMagnitude(m: Float64Array): number {
  let largest = 0;
  for (const v of m) largest = Math.max(largest, Math.abs(v));
  return largest > 0 && Number.isFinite(largest) ? largest : 1;
}

/** Flips the sign of column j of each matrix in `pair` when `lead`'s column j has its largest-magnitude entry negative (a deterministic sign). */
function normalizeColumns(
  lead: Float64Array,
  rows: number,
  cols: number,
  others: readonly [Float64Array, number][],
): void {
  for (let j = 0; j < cols; j++) {
    let best = 0;
    for (let i = 1; i < rows; i++) if (Math.abs(lead[i * cols + j]!) > Math.abs(lead[best * cols + j]!)) best = i;
    if (lead[best * cols + j]! >= 0) continue;
    for (let i = 0; i < rows; i++) lead[i * cols + j] = -lead[i * cols + j]!;
    for (const [m, r] of others) for (let i = 0; i < r; i++) m[i * cols + j] = -m[i * cols + j]!;
  }
}

/**
 * Householder QR of each m×n matrix: `part` 'q' (m×k, or m×m `complete`) or 'r' (k×n, or m×n), k = min(m, n).
 * R's diagonal is made non-negative (the factorization is then unique for a full-rank A). Columns are
 * kept contiguous; Q is formed only for the 'q' part, by applying the reflectors to the identity's
 * first columns, last reflector first.
 */
export function qr(a: NDArray, part: 'q' | 'r', complete: boolean, dtype: DType): NDArray {
  const [m, n] = [a.shape[a.ndim - 2]!, a.shape[a.ndim - 1]!];
  const count = a.shape.slice(0, -2).reduce((p, d) => p * d, 1);
  const k = Math.min(m, n);
  const qCols = complete ? m : k;
  const rRows = complete ? m : k;
  const out = allocate(dtype, count * (part === 'q' ? m * qCols : rRows * n));
  for (let b = 0; b < count; b++) {
    const given = matrixOf(a, b, m, n);
    const cols = Array.from({ length: n }, (_, j) => Float64Array.from({ length: m }, (_, i) => given[i * n + j]!));
    const reflectors: (Float64Array | undefined)[] = [];
    for (let j = 0; j < k; j++) {
      const x = cols[j]!;
      let norm = 0;
      for (let i = j; i < m; i++) norm = Math.hypot(norm, x[i]!);
      if (norm === 0) {
        reflectors.push(undefined);
        continue;
      }
      // v = (x − α·e₁)/‖x‖: divided by the column's norm, so that vᵀv neither under- nor overflows.
      const v = new Float64Array(m);
      for (let i = j; i < m; i++) v[i] = x[i]! / norm;
      v[j] = v[j]! - (x[j]! > 0 ? -1 : 1);
      let vv = 0;
      for (let i = j; i < m; i++) vv += v[i]! * v[i]!;
      if (vv === 0) {
        reflectors.push(undefined);
        continue;
      }
      for (let i = j; i < m; i++) v[i] = (v[i]! * Math.SQRT2) / Math.sqrt(vv); // then H = I − v·vᵀ
      reflectors.push(v);
      for (let c = j; c < n; c++) {
        const col = cols[c]!;
        let s = 0;
        for (let i = j; i < m; i++) s += v[i]! * col[i]!;
        for (let i = j; i < m; i++) col[i] = col[i]! - s * v[i]!;
      }
    }
    // A non-negative diagonal: row i of R and column i of Q change sign together.
    const flip = Array.from({ length: k }, (_, i) => cols[i]![i]! < 0);
    if (part === 'r') {
      for (let i = 0; i < rRows; i++)
        for (let c = 0; c < n; c++) out[b * rRows * n + i * n + c] = i > c ? 0 : (flip[i] ? -1 : 1) * cols[c]![i]!;
    } else {
      for (let c = 0; c < qCols; c++) {
        const e = new Float64Array(m);
        e[c] = 1;
        for (let j = k - 1; j >= 0; j--) {
          const v = reflectors[j];
          if (!v) continue;
          let s = 0;
          for (let i = j; i < m; i++) s += v[i]! * e[i]!;
          for (let i = j; i < m; i++) e[i] = e[i]! - s * v[i]!;
        }
        const sign = c < k && flip[c] ? -1 : 1;
        for (let i = 0; i < m; i++) out[b * m * qCols + i * qCols + c] = sign * e[i]!;
      }
    }
  }
  const batch = a.shape.slice(0, -2);
  return new NDArray(out, part === 'q' ? [...batch, m, qCols] : [...batch, rRows, n], dtype);
}

/**
 * Eigenvalues (ascending) or eigenvectors (columns, each with its largest-magnitude entry positive) of
 * symmetric matrices, by cyclic Jacobi rotations on the lower triangle mirrored (NumPy's eigh, UPLO='L').
 */
export function eigh(a: NDArray, part: 'values' | 'vectors', dtype: DType): NDArray {
  const n = a.shape[a.ndim - 1]!;
  const count = a.shape.slice(0, -2).reduce((p, d) => p * d, 1);
  const out = allocate(dtype, count * (part === 'values' ? n : n * n));
  for (let b = 0; b < count; b++) {
    const s = matrixOf(a, b, n, n);
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) s[i * n + j] = s[j * n + i]!;
    // Scaled to a largest magnitude of 1 (eigenvalues scaled back), so that no sum of squares under- or overflows.
    const scale = largestMagnitude(s);
    for (let i = 0; i < s.length; i++) s[i] = s[i]! / scale;
    const v = new Float64Array(n * n);
    for (let i = 0; i < n; i++) v[i * n + i] = 1;
    for (let sweep = 0; sweep < 100; sweep++) {
      let off = 0;
      let scale = 0;
      for (let i = 0; i < n; i++)
        for (let j = 0; j < n; j++) i === j ? (scale += s[i * n + j]! ** 2) : (off += s[i * n + j]! ** 2);
      if (!(off > 1e-30 * (scale + off)) || !Number.isFinite(off)) break;
      for (let p = 0; p < n - 1; p++)
        for (let q = p + 1; q < n; q++) {
          const apq = s[p * n + q]!;
          if (apq === 0) continue;
          const theta = (s[q * n + q]! - s[p * n + p]!) / (2 * apq);
          const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
          const c = 1 / Math.sqrt(t * t + 1);
          const sn = t * c;
          for (let k = 0; k < n; k++) {
            const [skp, skq] = [s[k * n + p]!, s[k * n + q]!];
            s[k * n + p] = c * skp - sn * skq;
            s[k * n + q] = sn * skp + c * skq;
          }
          for (let k = 0; k < n; k++) {
            const [spk, sqk] = [s[p * n + k]!, s[q * n + k]!];
            s[p * n + k] = c * spk - sn * sqk;
            s[q * n + k] = sn * spk + c * sqk;
          }
          for (let k = 0; k < n; k++) {
            const [vkp, vkq] = [v[k * n + p]!, v[k * n + q]!];
            v[k * n + p] = c * vkp - sn * vkq;
            v[k * n + q] = sn * vkp + c * vkq;
          }
        }
    }
    const order = Array.from({ length: n }, (_, i) => i).sort((p, q) => s[p * n + p]! - s[q * n + q]!);
    if (part === 'values') order.forEach((i, r) => (out[b * n + r] = s[i * n + i]! * scale));
    else {
      const sorted = new Float64Array(n * n);
      for (let row = 0; row < n; row++) order.forEach((i, c) => (sorted[row * n + c] = v[row * n + i]!));
      normalizeColumns(sorted, n, n, []);
      out.set(sorted, b * n * n);
    }
  }
  const batch = a.shape.slice(0, -2);
  return new NDArray(out, part === 'values' ? [...batch, n] : [...batch, n, n], dtype);
}

/**
 * The reduced singular value decomposition A = U·diag(S)·Vᵀ of each m×n matrix by one-sided Jacobi
 * (Hestenes: accurate for small singular values too): `part` 'u' (m×k), 's' (k, descending) or 'vt'
 * (k×n), k = min(m, n); each column of U with its largest-magnitude entry positive, V's row alike.
 */
export function svd(a: NDArray, part: 'u' | 's' | 'vt', dtype: DType): NDArray {
  const [m0, n0] = [a.shape[a.ndim - 2]!, a.shape[a.ndim - 1]!];
  const count = a.shape.slice(0, -2).reduce((p, d) => p * d, 1);
  const k = Math.min(m0, n0);
  const size = part === 's' ? k : part === 'u' ? m0 * k : k * n0;
  const out = allocate(dtype, count * size);
  // Wide matrices are decomposed transposed: Aᵀ = V·S·Uᵀ.
  const wide = n0 > m0;
  const [m, n] = wide ? [n0, m0] : [m0, n0];
  for (let b = 0; b < count; b++) {
    const given = matrixOf(a, b, m0, n0);
    // Columns of W (m rows) and of V (n rows), each contiguous: the rotations work on pairs of them.
    const w = Array.from({ length: n }, (_, j) =>
      Float64Array.from({ length: m }, (_, i) => (wide ? given[j * n0 + i]! : given[i * n0 + j]!)),
    );
    // Scaled to a largest magnitude of 1 (and back at the end), so that no sum of squares under- or overflows.
    let largest = 0;
    for (const col of w) for (const v of col) largest = Math.max(largest, Math.abs(v));
    const scale = largest > 0 && Number.isFinite(largest) ? largest : 1;
    for (const col of w) for (let i = 0; i < m; i++) col[i] = col[i]! / scale;
    const v = Array.from({ length: n }, (_, j) => {
      const col = new Float64Array(n);
      col[j] = 1;
      return col;
    });
    for (let sweep = 0; sweep < 100; sweep++) {
      let rotated = false;
      for (let p = 0; p < n - 1; p++)
        for (let q = p + 1; q < n; q++) {
          const [wp, wq] = [w[p]!, w[q]!];
          let [alpha, beta, gamma] = [0, 0, 0];
          for (let i = 0; i < m; i++) {
            alpha += wp[i]! * wp[i]!;
            beta += wq[i]! * wq[i]!;
            gamma += wp[i]! * wq[i]!;
          }
          if (!(Math.abs(gamma) > 1e-15 * Math.sqrt(alpha * beta))) continue;
          rotated = true;
          const zeta = (beta - alpha) / (2 * gamma);
          const t = (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
          const c = 1 / Math.sqrt(1 + t * t);
          const s = c * t;
          for (let i = 0; i < m; i++) {
            const [x, y] = [wp[i]!, wq[i]!];
            wp[i] = c * x - s * y;
            wq[i] = s * x + c * y;
          }
          const [vp, vq] = [v[p]!, v[q]!];
          for (let i = 0; i < n; i++) {
            const [x, y] = [vp[i]!, vq[i]!];
            vp[i] = c * x - s * y;
            vq[i] = s * x + c * y;
          }
        }
      if (!rotated) break;
    }
    const norms = w.map((col) => {
      let s = 0;
      for (const x of col) s = Math.hypot(s, x);
      return s;
    });
    const sigma = norms.map((s) => s * scale);
    const order = sigma
      .map((_, j) => j)
      .sort((p, q) => sigma[q]! - sigma[p]!)
      .slice(0, k);
    // U = W/σ column by column (m×k), V's columns in the same order (n×k), row-major.
    const u = new Float64Array(m * k);
    const vk = new Float64Array(n * k);
    order.forEach((j, c) => {
      for (let i = 0; i < m; i++) u[i * k + c] = norms[j]! > 0 ? w[j]![i]! / norms[j]! : 0;
      for (let i = 0; i < n; i++) vk[i * k + c] = v[j]![i]!;
    });
    const [left, right, leftRows, rightRows] = wide ? [vk, u, n, m] : [u, vk, m, n];
    normalizeColumns(left, leftRows, k, [[right, rightRows]]);
    if (part === 's') order.forEach((j, c) => (out[b * k + c] = sigma[j]!));
    else if (part === 'u') out.set(left, b * size);
    else
      for (let c = 0; c < k; c++)
        for (let j = 0; j < rightRows; j++) out[b * size + c * rightRows + j] = right[j * k + c]!;
  }
  const batch = a.shape.slice(0, -2);
  return new NDArray(out, part === 's' ? [...batch, k] : part === 'u' ? [...batch, m0, k] : [...batch, k, n0], dtype);
}

/** x itself, or a LinalgError naming `what` and the first batch index whose matrix holds a NaN or an infinity. */
export function checkFinite(x: NDArray, what: string): NDArray {
  const matrixSize = x.shape.slice(-2).reduce((p, d) => p * d, 1);
  for (let i = 0; i < x.size; i++) {
    const v = x.data[i]!;
    if (v - v !== 0) {
      const batch = Math.floor(i / Math.max(1, matrixSize));
      throw new LinalgError(`${what} for the matrix at batch index ${batch} (its result holds ${v})`);
    }
  }
  return x;
}
