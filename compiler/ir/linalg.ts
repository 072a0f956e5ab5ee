/**
 * Dense linear algebra (Theano's nlinalg and slinalg, NumPy's and SciPy's linalg): the factorizations
 * and solves are ops of their own, the rest is built from them. Matrices are the last two axes,
 * batched over the others (NumPy's broadcasting); a vector right-hand side is a column.
 */
import * as B from './build.js';
import { eye } from './array-ops.js';
import { asNode, type TensorLike } from './convert.js';
import { Node } from './node.js';
import { captureOrigin } from './origin.js';
import { ShapeError } from '../../runtime/errors.js';
import { checkOptionNames } from '../../runtime/options.js';

const describe = (x: Node) => `${x.name ?? 'a tensor'} [${x.shape.map((d) => d ?? '?').join(', ')}]`;
const make = <K extends 'cholesky' | 'solveTriangular' | 'solve' | 'slogdet' | 'qr' | 'eigh' | 'svd'>(
  op: K,
  inputs: Node[],
  args: Node<K>['args'],
) => Node.make(op, inputs, args, captureOrigin());

/** b as a batch of columns: a vector becomes one column (taken away again by `restore`). */
function columns(b: Node): { rhs: Node; restore: (x: Node) => Node } {
  return b.ndim === 1 ? { rhs: B.expandDims(b, -1), restore: (x) => B.squeeze(x, -1) } : { rhs: b, restore: (x) => x };
}

/** `check: true` turns a failure (NaN or ±Infinity in the result) into a LinalgError naming the op and the batch index. */
export interface CheckOption {
  readonly check?: boolean;
}

/** x, checked at call time when asked: the first matrix with a NaN or an infinity is a LinalgError. */
function checked(x: Node, what: string, check: boolean | undefined): Node {
  if (!check) return x;
  return Node.make('checkFinite', [x], { what }, captureOrigin());
}

/**
 * The lower Cholesky factor L of symmetric positive-definite matrices (A = L·Lᵀ; only A's lower
 * triangle is read); NaN where A is not positive definite (`check: true`: a LinalgError instead).
 */
export function cholesky(a: TensorLike, options: CheckOption = {}): Node {
  checkOptionNames('cholesky', options, ['check']);
  const node = asNode(a);
  return checked(make('cholesky', [node], {}), `cholesky(${describe(node)}): not positive definite`, options.check);
}

export interface SolveTriangularOptions extends CheckOption {
  /** The matrix is lower triangular (default false: upper, as SciPy). */
  readonly lower?: boolean;
  /** Solve Aᵀ·x = b instead (SciPy's trans=1). */
  readonly transpose?: boolean;
  /** The diagonal is taken as ones and not read. */
  readonly unitDiagonal?: boolean;
}

/** x with A·x = b for triangular A (SciPy's solve_triangular): b a vector or a batch of columns. */
export function solveTriangular(a: TensorLike, b: TensorLike, options: SolveTriangularOptions = {}): Node {
  checkOptionNames('solveTriangular', options, ['lower', 'transpose', 'unitDiagonal', 'check']);
  const { rhs, restore } = columns(asNode(b));
  const matrix = asNode(a);
  const x = make('solveTriangular', [matrix, rhs], {
    lower: !!options.lower,
    transpose: !!options.transpose,
    unitDiagonal: !!options.unitDiagonal,
  });
  return restore(checked(x, `solveTriangular(${describe(matrix)}): singular (a zero on the diagonal)`, options.check));
}

/** x with A·x = b for general square A (LU with partial pivoting): b a vector or a batch of columns. */
export function solve(a: TensorLike, b: TensorLike, options: CheckOption = {}): Node {
  checkOptionNames('solve', options, ['check']);
  const { rhs, restore } = columns(asNode(b));
  const matrix = asNode(a);
  return restore(checked(make('solve', [matrix, rhs], {}), `solve(${describe(matrix)}): singular`, options.check));
}

/** x with (L·Lᵀ)·x = b from the Cholesky factor L (SciPy's cho_solve). */
export function choSolve(l: TensorLike, b: TensorLike): Node {
  const factor = asNode(l);
  return solveTriangular(factor, solveTriangular(factor, b, { lower: true }), { lower: true, transpose: true });
}

/** The inverse of each square matrix (NumPy's inv, Theano's matrix_inverse); ±Infinity or NaN for a singular one. */
export function inv(a: TensorLike, options: CheckOption = {}): Node {
  checkOptionNames('inv', options, ['check']);
  const node = asNode(a);
  const n = node.shape[node.ndim - 1];
  if (node.ndim < 2 || n === null || n === undefined)
    throw new ShapeError(`inv(${describe(node)}): needs square matrices whose size is known when the graph is built`);
  const inverse = make('solve', [node, eye(n, n, 0, node.dtype === 'float64' ? 'float64' : undefined)], {});
  return checked(inverse, `inv(${describe(node)}): singular`, options.check);
}

/** The sign (−1, 0 or 1) and the log of the absolute value of each determinant (NumPy's slogdet), without overflow. */
export function slogdet(a: TensorLike): { sign: Node; logAbsDet: Node } {
  const node = asNode(a);
  return { sign: make('slogdet', [node], { part: 'sign' }), logAbsDet: make('slogdet', [node], { part: 'logAbs' }) };
}

/** The determinant of each square matrix, as sign·exp(log|det|). */
export function det(a: TensorLike): Node {
  const { sign, logAbsDet } = slogdet(a);
  return B.mul(sign, B.exp(logAbsDet));
}

/** Q·R = A with Q's columns orthonormal and R upper triangular with a non-negative diagonal ('reduced': k = min(m, n) columns of Q; 'complete': m). */
export function qr(a: TensorLike, options: { mode?: 'reduced' | 'complete' } = {}): { q: Node; r: Node } {
  checkOptionNames('qr', options, ['mode']);
  const mode = options.mode ?? 'reduced';
  if (mode !== 'reduced' && mode !== 'complete')
    throw new ShapeError(`qr: mode must be 'reduced' or 'complete', got '${String(mode)}'`);
  const node = asNode(a);
  const complete = mode === 'complete';
  return { q: make('qr', [node], { complete, part: 'q' }), r: make('qr', [node], { complete, part: 'r' }) };
}

/** The eigenvalues (ascending) and eigenvectors (columns) of symmetric matrices, from their lower triangle (NumPy's eigh). */
export function eigh(a: TensorLike): { values: Node; vectors: Node } {
  const node = asNode(a);
  return { values: make('eigh', [node], { part: 'values' }), vectors: make('eigh', [node], { part: 'vectors' }) };
}

/** The reduced singular value decomposition A = U·diag(s)·Vᵀ (NumPy's svd with full_matrices=False): s descending. */
export function svd(a: TensorLike): { u: Node; s: Node; vt: Node } {
  const node = asNode(a);
  return {
    u: make('svd', [node], { part: 'u' }),
    s: make('svd', [node], { part: 's' }),
    vt: make('svd', [node], { part: 'vt' }),
  };
}

/** The Moore–Penrose pseudo-inverse by the SVD, singular values at or below rcond·max(s) taken as zero (NumPy's pinv). */
export function pinv(a: TensorLike, rcond = 1e-15): Node {
  const { u, s, vt } = svd(a);
  const kept = B.gt(s, B.mul(B.max(s, -1, true), rcond));
  const inverse = B.where(kept, B.div(1, B.where(kept, s, 1)), 0);
  return B.matmul(B.mul(mT(vt), B.expandDims(inverse, -2)), mT(u));
}

/** The least-squares solution x minimizing ‖A·x − b‖ (the minimum-norm one when A is rank-deficient), by the pseudo-inverse. */
export function lstsq(a: TensorLike, b: TensorLike): Node {
  const { rhs, restore } = columns(asNode(b));
  return restore(B.matmul(pinv(a), rhs));
}

/** A to the integer power k (NumPy's matrix_power): binary powering, through inv for k < 0, the identity for 0. */
export function matrixPower(a: TensorLike, k: number): Node {
  const node = asNode(a);
  if (!Number.isInteger(k)) throw new ShapeError(`matrixPower: the power must be an integer, got ${k}`);
  const [rows, n] = [node.shape[node.ndim - 2], node.shape[node.ndim - 1]];
  if (node.ndim < 2 || (rows !== null && n !== null && rows !== n))
    throw new ShapeError(`matrixPower(${describe(node)}): needs square matrices`);
  if (k <= 0 && (n === null || n === undefined))
    throw new ShapeError(
      `matrixPower(${describe(node)}, ${k}): a power ≤ 0 needs the size known when the graph is built`,
    );
  if (k === 0)
    return Node.make('broadcastLike', [eye(n!, n!, 0, node.dtype === 'float64' ? 'float64' : undefined), node], {});
  let base = k < 0 ? inv(node) : node;
  let result: Node | undefined;
  for (let e = Math.abs(k); e > 0; e >>= 1) {
    if (e & 1) result = result ? B.matmul(result, base) : base;
    if (e > 1) base = B.matmul(base, base);
  }
  return result!;
}

/** The last two axes swapped. */
const mT = (x: Node): Node =>
  B.transpose(
    x,
    [...x.shape.keys()].map((a, _, all) => (a < all.length - 2 ? a : 2 * all.length - 3 - a)),
  );

/** Theano's, NumPy's and SciPy's functions under one name: `T.linalg.cholesky(a)`, … */
export const linalg = {
  cholesky,
  solveTriangular,
  solve,
  choSolve,
  inv,
  slogdet,
  det,
  matrixInverse: inv,
  qr,
  eigh,
  svd,
  pinv,
  lstsq,
  matrixPower,
} as const;
/** Theano's spelling of inv. */
export const matrixInverse = inv;
