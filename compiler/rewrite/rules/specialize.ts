import * as B from '../../ir/build.js';
import { Node } from '../../ir/node.js';
import { anyConstant, cap, constantValue, guarded, named, op, rule, type Bindings, type Rule } from '../pattern.js';
import { solve } from '../../ir/linalg.js';
import { diagonal } from '../../ir/array-ops.js';
import type { NDArray } from '../../../runtime/ndarray.js';
import { cannotWiden, scalarConst, uniformValue } from './helpers.js';

const x = cap('x');
const y = cap('y');

/** pow(x, c) with a scalar-like constant c that cannot widen x, else undefined. */
function exponent(m: Bindings, node: Node): number | undefined {
  const c = m.c!;
  if (!cannotWiden(c, m.x!) || m.x!.dtype !== node.dtype) return undefined;
  return uniformValue(c);
}

/** Ops whose result is never -Infinity: there sqrt and rsqrt agree with pow everywhere. */
const NEVER_MINUS_INFINITY = new Set<Node['op']>(['abs', 'square', 'exp', 'sqrt', 'sigmoid', 'softplus']);

/**
 * `root(x)` where it agrees with pow(x, ±0.5): everywhere but x = -Infinity, where pow gives `atMinusInfinity`
 * (C's and NumPy's pow(-inf, 0.5) is +inf, its square root NaN).
 */
const powRoot = (root: (v: Node) => Node, atMinusInfinity: number) => (v: Node) =>
  NEVER_MINUS_INFINITY.has(v.op)
    ? root(v)
    : B.where(B.eq(v, scalarConst(-Infinity, v.dtype)), scalarConst(atMinusInfinity, v.dtype), root(v));

const POW_FORMS: Record<number, (x: Node) => Node> = {
  2: (v) => B.square(v),
  0.5: powRoot(B.sqrt, Infinity),
  [-1]: (v) => B.reciprocal(v),
  [-0.5]: powRoot(B.rsqrt, 0),
  1: (v) => v,
  3: (v) => B.mul(v, B.square(v)),
};

/** True for ±2^k with k in the normal range: there 1/c is exact and x/c equals x*(1/c) bit for bit. */
const powerOfTwo = (c: number) =>
  c !== 0 && Number.isFinite(c) && Number.isInteger(Math.log2(Math.abs(c))) && Math.abs(Math.log2(Math.abs(c))) < 126;

/** Cheaper forms once the math is settled. */
const slogdetPart = (part: 'sign' | 'logAbs') => (n: Node) => (n as Node<'slogdet'>).args.part === part;
/** A transpose that swaps the last two axes only. */
const isLastTwoSwap = (t: Node<'transpose'>) =>
  t.args.perm.every((p, i) => (i < t.args.perm.length - 2 ? p === i : p === 2 * t.args.perm.length - 3 - i));
/** An n×n identity matrix (the constant `inv` solves against). */
function isIdentity(value: NDArray): boolean {
  const n = value.shape[0] ?? 0;
  if (value.ndim !== 2 || n !== value.shape[1]) return false;
  for (let i = 0; i < value.size; i++) if (value.data[i] !== (i % (n + 1) === 0 ? 1 : 0)) return false;
  return true;
}

export const specialize: readonly Rule[] = [
  // log(sign · exp(log|det A|)) -> log|det A| where the sign is 1 (log(det(A)) without the determinant's overflow), -Inf at 0, NaN below
  rule(
    'log_det',
    op(
      'log',
      op(
        'mul',
        guarded(named('sign', op('slogdet', cap('a'))), slogdetPart('sign')),
        op('exp', guarded(named('logAbs', op('slogdet', cap('a'))), slogdetPart('logAbs'))),
      ),
    ),
    (m, node) =>
      B.where(
        B.gt(m.sign!, 0),
        m.logAbs!,
        B.where(B.eq(m.sign!, 0), scalarConst(-Infinity, node.dtype), scalarConst(NaN, node.dtype)),
      ),
  ),
  // matmul(inv(A), b) -> solve(A, b): one factorization and substitution instead of an inverse and a product (fewer flops, smaller error)
  rule('inv_matmul', op('matmul', op('solve', cap('a'), anyConstant('eye')), cap('b')), (m, node) => {
    const args = node.args as Node<'matmul'>['args'];
    const eye = (m.eye as Node<'constant'>).args.value;
    if (args.transposeA || args.transposeB || !isIdentity(eye) || m.b!.ndim < 2 || node.dtype !== m.a!.dtype)
      return undefined;
    return solve(m.a!, m.b!);
  }),
  // log|det(L·Lᵀ)| -> 2·Σ log diag(L) for a Cholesky factor L: its diagonal is the square roots of the pivots (no product formed, no LU)
  rule(
    'logdet_cholesky_product',
    guarded(op('slogdet', named('product', op('matmul', cap('l'), cap('lt')))), slogdetPart('logAbs')),
    (m) => {
      const [l, lt] = [m.l!, m.lt!];
      const args = (m.product as Node<'matmul'>).args;
      const transposed = args.transposeB
        ? lt === l
        : lt.op === 'transpose' && lt.inputs[0] === l && isLastTwoSwap(lt as Node<'transpose'>);
      const n = l.shape[l.ndim - 1];
      if (l.op !== 'cholesky' || args.transposeA || !transposed || n === null || n === undefined) return undefined;
      return B.mul(B.sum(B.log(diagonal(l, 0, -2, -1)), -1), 2);
    },
  ),
  // pow(x, 2) -> square(x), pow(x, 0.5) -> sqrt(x) (x = -inf kept apart unless x cannot be -inf), pow(x, -1) -> reciprocal(x), pow(x, -0.5) -> rsqrt(x), pow(x, 1) -> x, pow(x, 3) -> x * square(x)
  rule('pow_specialize', op('pow', x, anyConstant('c')), (m, node) => {
    const e = exponent(m, node);
    return e === undefined ? undefined : POW_FORMS[e]?.(m.x!);
  }),
  // x / c -> x * (1/c) when 1/c is exact (c a power of two)
  rule('div_by_power_of_two', op('div', x, anyConstant('c')), (m, node) => {
    const c = uniformValue(m.c!);
    return c !== undefined && powerOfTwo(c) && cannotWiden(m.c!, m.x!) && m.x!.dtype === node.dtype
      ? B.mul(m.x!, scalarConst(1 / c, node.dtype))
      : undefined;
  }),
  // x * x -> square(x)
  rule('mul_self_to_square', op('mul', x, x), (m) => B.square(m.x!)),
  // x * -1 -> -x
  rule('mul_minus_one', op('mul', x, constantValue(-1, 'c')), (m, node) =>
    cannotWiden(m.c!, m.x!) && m.x!.dtype === node.dtype ? B.neg(m.x!) : undefined,
  ),
  // x + (-y) -> x - y
  rule('add_neg_to_sub', op('add', x, op('neg', y)), (m) => B.sub(m.x!, m.y!)),
  // matmul(transpose(a), b) -> matmul(a, b, transposeA), and the same for b: the kernel reads the
  // operand transposed instead of a transpose copying it (matrices only: batched transposes stay)
  rule('matmul_transposed_operand', op('matmul', x, y), (m, node) => {
    const f = (node as Node<'matmul'>).args;
    const swapped = (v: Node) => v.op === 'transpose' && v.ndim === 2 && (v as Node<'transpose'>).args.perm[0] === 1;
    const a = !f.transposeA && swapped(m.x!);
    const b = !f.transposeB && swapped(m.y!);
    if (!a && !b) return undefined;
    return B.matmul(a ? m.x!.inputs[0]! : m.x!, b ? m.y!.inputs[0]! : m.y!, {
      transposeA: a || !!f.transposeA,
      transposeB: b || !!f.transposeB,
    });
  }),
  // stopGradient(x) -> x once gradients are built (not earlier: the gradient's own rewrites keep it)
  rule('stop_gradient_remove', op('stopGradient', x), (m) => m.x),
  // dot(a, W) with a of rank 3 or more and W a matrix -> reshape(dot(reshape(a, [-1, k]), W)): the
  // leading axes folded into the rows of one matrix product (sequences times a kernel, as in Dense
  // and recurrent layers); at most one leading size may be unknown. A vector is a matrix of one row
  // (a loop's step reading h·W), so it runs on the matrix kernels too.
  rule('dot_fold_leading_axes', op('dot', x, y), (m) => {
    const [a, w] = [m.x!, m.y!];
    if ((a.ndim !== 1 && a.ndim < 3) || w.ndim !== 2) return undefined;
    const leading = a.shape.slice(0, -1);
    const k = a.shape[a.ndim - 1]!;
    const n = w.shape[1]!;
    // A size 0 leaves -1 in the reshape undetermined: such products have nothing to fold.
    if (k === null || n === null || k === 0 || leading.includes(0)) return undefined;
    if (leading.filter((d) => d === null).length > 1) return undefined;
    const count = leading.includes(null) ? -1 : leading.reduce<number>((p, d) => p * d!, 1);
    const rows = B.dot(B.reshape(a, [count, k]), w);
    return B.reshape(rows, [...leading.map((d) => d ?? -1), n]);
  }),
  // f(reshape(x), v) -> reshape(f(x, v)) for f in (+ - * /) and v a row along a last axis the reshape
  // keeps: a bias added after folded leading axes meets its product again (an epilogue of its kernel)
  ...(['add', 'sub', 'mul', 'div'] as const).map((o) =>
    rule(`${o}_row_before_reshape`, op(o, op('reshape', x), y), (m, node) => {
      const [inner, row] = [m.x!, m.y!];
      const last = node.shape[node.ndim - 1];
      if (last === null || last === undefined || inner.shape[inner.ndim - 1] !== last) return undefined;
      if (row.ndim > 1 || (row.ndim === 1 && row.shape[0] !== last && row.shape[0] !== 1)) return undefined;
      if (node.dtype !== inner.dtype) return undefined;
      // The match may have taken the operands in either order (add and mul commute): keep the node's.
      const k = node.inputs.findIndex((i) => i.op === 'reshape' && i.inputs[0] === inner);
      if (k < 0 || node.inputs[1 - k] !== row) return undefined;
      const operands = k === 0 ? [inner, row] : [row, inner];
      return B.reshape(Node.make(o, operands, {}), (node.inputs[k] as Node<'reshape'>).args.shape);
    }),
  ),
  // sum(a * b, last axis) with b a vector along that axis -> dot(a, b)
  rule('sum_mul_to_dot', op('sum', op('mul', x, y)), (m, node) => {
    const a = (node as Node<'sum'>).args;
    const [big, vec] = m.x!.ndim >= m.y!.ndim ? [m.x!, m.y!] : [m.y!, m.x!];
    if (a.keepdims || vec.ndim !== 1 || big.ndim < 1 || a.axes.length !== 1 || a.axes[0] !== big.ndim - 1)
      return undefined;
    const k = big.shape[big.ndim - 1];
    if (k === null || vec.shape[0] !== k || big.dtype !== vec.dtype) return undefined;
    return B.dot(big, vec);
  }),
];
