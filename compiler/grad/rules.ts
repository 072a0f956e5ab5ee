import * as B from '../ir/build.js';
import { Node } from '../ir/node.js';
import { flip } from '../ir/array-ops.js';
import { cumsum, runningTotal } from '../ir/scans.js';
import { solveTriangular } from '../ir/linalg.js';
import * as I from '../ir/indexing.js';
import type { Op, ReduceArgs } from '../ir/ops.js';
import type { Shape } from '../ir/type.js';
import { SELU_ALPHA, SELU_SCALE } from '../../runtime/reference/scalar-math.js';
import { GradError } from '../../runtime/errors.js';
import { declaration, forDeclared, type DeclaredOp } from '../../runtime/declared-ops.js';

/**
 * A vector-Jacobian product: given the node and the gradient `g` of the cost with respect to its
 * output, the gradient with respect to each operand (null: no gradient flows to that operand).
 */
export type VJP<K extends Op> = (node: Node<K>, g: Node) => readonly (Node | null)[];

const sameStatic = (a: Shape, b: Shape) => a.length === b.length && a.every((d, i) => d !== null && d === b[i]);

/** Sums a gradient back to an operand's shape, undoing broadcasting (a no-op when shapes provably match). */
export const unbroadcast = (g: Node, x: Node): Node =>
  sameStatic(g.shape, x.shape) ? g : Node.make('sumLike', [g, x], {});
export const broadcastLike = (g: Node, x: Node): Node =>
  sameStatic(g.shape, x.shape) ? g : Node.make('broadcastLike', [g, x], {});

const noGrad = (node: Node): null[] => node.inputs.map(() => null);
const unaryGrad =
  <K extends Op>(f: (x: Node, y: Node, g: Node, node: Node<K>) => Node): VJP<K> =>
  (node, g) => [f(node.inputs[0]!, node, g, node)];

/** The gradient of a reduction, spread back over the reduced axes. */
function expandReduced(g: Node, x: Node, a: ReduceArgs): Node {
  let out = g;
  if (!a.keepdims) for (const axis of a.axes) out = B.expandDims(out, axis);
  return broadcastLike(out, x);
}
const keep = (y: Node, x: Node, a: ReduceArgs): Node =>
  a.keepdims ? y : expandReduced(y, x, { ...a, keepdims: false });

function reducedCount(x: Node, axes: readonly number[]): Node {
  const dims = axes.map((a) => x.shape[a]);
  if (dims.every((d) => d !== null))
    return B.cast(
      (dims as number[]).reduce((p, d) => p * d, 1),
      x.dtype,
    );
  return B.sum(B.add(B.zerosLike(x), 1), axes, true);
}

const swapLast = (x: Node): Node => {
  const perm = x.shape.map((_, i) => i);
  [perm[x.ndim - 2], perm[x.ndim - 1]] = [perm[x.ndim - 1]!, perm[x.ndim - 2]!];
  return B.transpose(x, perm);
};

/** Gradients of NumPy matmul, including 1-D operands (promoted, then the added axis summed away). */
function matmulGrad(a: Node, b: Node, g: Node): [Node, Node] {
  if (a.ndim === 1 && b.ndim === 1) return [B.mul(g, b), B.mul(g, a)];
  if (a.ndim === 1) {
    const ga = B.squeeze(B.matmul(B.expandDims(g, -2), swapLast(b)), -2);
    const gb = B.matmul(B.expandDims(a, -1), B.expandDims(g, -2));
    return [unbroadcast(ga, a), unbroadcast(gb, b)];
  }
  if (b.ndim === 1) {
    const ga = B.matmul(B.expandDims(g, -1), B.expandDims(b, 0));
    const gb = B.squeeze(B.matmul(swapLast(a), B.expandDims(g, -1)), -1);
    return [unbroadcast(ga, a), unbroadcast(gb, b)];
  }
  return [unbroadcast(B.matmul(g, swapLast(b)), a), unbroadcast(B.matmul(swapLast(a), g), b)];
}

const selected = (cond: Node, g: Node) => B.where(cond, g, 0);
/** A constant none of whose elements is `v` (so a guard against `v` is not needed). */
const isConstantWithout = (n: Node, v: number) =>
  n.op === 'constant' && !(n as Node<'constant'>).args.value.data.includes(v);

/**
 * max/min over axes: the gradient is shared equally by the elements that attain the extremum (max([x, x]) = x has
 * derivative 1). A slice whose extremum is NaN has none, and gets 0 as before.
 */
function reducedExtremumGrad(node: Node<'max' | 'min'>, g: Node): Node {
  const x = node.inputs[0]!;
  const attains = B.cast(B.eq(x, keep(node, x, node.args)), node.dtype);
  return B.div(B.mul(expandReduced(g, x, node.args), attains), B.maximum(B.sum(attains, node.args.axes, true), 1));
}
const SQRT_2_OVER_PI_HALF = 0.3989422804014327; // 1/sqrt(2 pi)
const TWO_OVER_SQRT_PI = 1.1283791670955126;

/** Sums from each element to the end of the axis: the adjoint of a running sum. */
const sumsToEnd = (v: Node, axis: number): Node => flip(runningTotal('cumsum', flip(v, axis), axis), axis);

/**
 * cumprod's gradient, exact at zeros: before the first zero of a line, Σ_{j≥i} g_j·y_j / x_i; at the
 * first zero, the same sums over the running product with that zero taken as 1 (no division); after
 * it, 0 (every later product holds that zero). Dividing by x everywhere (TensorFlow's form) gives NaN there.
 */
function cumprodGrad(node: Node<'cumprod'>, g: Node): Node {
  const x = node.inputs[0]!;
  const axis = node.args.axis;
  const isZero = B.eq(x, 0);
  const clean = B.eq(cumsum(B.cast(isZero, 'int32'), axis, { exclusive: true }), 0);
  const firstZero = B.and(isZero, clean);
  const withoutIt = runningTotal('cumprod', B.where(firstZero, 1, x), axis);
  const beforeZero = B.div(sumsToEnd(B.mul(g, node), axis), x);
  const atZero = sumsToEnd(B.mul(g, withoutIt), axis);
  return B.where(clean, B.where(isZero, atZero, beforeZero), 0);
}

/** The last two axes swapped. */
const mT = (x: Node): Node =>
  B.transpose(
    x,
    [...x.shape.keys()].map((a, _, all) => (a < all.length - 2 ? a : 2 * all.length - 3 - a)),
  );

/** Positions of the last two axes' rows and columns, broadcast against x (sizes known only at call time too). */
function rowsCols(x: Node): [Node, Node] {
  const index = (axis: number) => {
    let v = I.arange(I.dimOf(x, axis));
    for (let a = 0; a < x.ndim; a++) if (a !== x.ndim + axis) v = B.expandDims(v, a);
    return v;
  };
  return [index(-2), index(-1)];
}
/** x on one triangle of its last two axes (the diagonal scaled by `diagonal`), 0 elsewhere. */
function triangle(x: Node, lower: boolean, diagonal: number): Node {
  const [r, c] = rowsCols(x);
  const off = B.where(lower ? B.gt(r, c) : B.lt(r, c), x, 0);
  return diagonal === 0 ? off : B.add(off, B.where(B.eq(r, c), diagonal === 1 ? x : B.mul(x, diagonal), 0));
}

/**
 * Murray (2016), for a Cholesky factor that reads only A's lower triangle: with Φ the lower triangle and
 * half the diagonal, S = L⁻ᵀ·Φ(Lᵀ·L̄)·L⁻¹ and Ā = Φ(S + Sᵀ) (the symmetric gradient folded onto the
 * triangle that is read).
 */
function choleskyGrad(node: Node<'cholesky'>, g: Node): Node {
  const l = node as Node;
  const p = triangle(B.matmul(mT(l), g), true, 0.5);
  const y = solveTriangular(l, p, { lower: true, transpose: true });
  const s = mT(solveTriangular(l, mT(y), { lower: true, transpose: true }));
  return triangle(B.add(s, mT(s)), true, 0.5);
}

/** Giles (2008): X = T⁻¹B gives B̄ = T⁻ᵀX̄ and T̄ = −B̄·Xᵀ on T's triangle (Tᵀ solves swap the roles). */
function solveTriangularGrad(node: Node<'solveTriangular'>, g: Node): (Node | null)[] {
  const [t, b] = node.inputs as [Node, Node];
  const { lower, transpose, unitDiagonal } = node.args;
  const gb = Node.make('solveTriangular', [t, g], { lower, transpose: !transpose, unitDiagonal });
  const full = transpose ? B.neg(B.matmul(node, mT(gb))) : B.neg(B.matmul(gb, mT(node)));
  return [unbroadcast(triangle(full, lower, unitDiagonal ? 0 : 1), t), unbroadcast(gb, b)];
}

/** Y with Y·Rᵀ = X for upper triangular R: X·R⁻ᵀ. */
const timesInverseTransposeOfUpper = (x: Node, r: Node): Node => mT(solveTriangular(r, mT(x), { lower: false }));

/**
 * QR (reduced, m ≥ n; Walter and Lehmann, as PyTorch): with M = R·R̄ᵀ − Q̄ᵀ·Q and copyltu(M) its lower
 * triangle mirrored, Ā = (Q̄ + Q·copyltu(M))·R⁻ᵀ. Each factor is its own node: each brings its share.
 */
function qrGrad(node: Node<'qr'>, g: Node): Node {
  const a = node.inputs[0]!;
  const [m, n] = a.shape.slice(-2);
  if (node.args.complete || m === null || n === null || m! < n!)
    unsupported('qr', "the gradient needs mode 'reduced' and m ≥ n with sizes known when the graph is built");
  const q = Node.make('qr', [a], { complete: false, part: 'q' });
  const r = Node.make('qr', [a], { complete: false, part: 'r' });
  const mOf = node.args.part === 'q' ? B.neg(B.matmul(mT(g), q)) : B.matmul(r, mT(g));
  const copyltu = B.add(triangle(mOf, true, 1), mT(triangle(mOf, true, 0)));
  const inner = node.args.part === 'q' ? B.add(g, B.matmul(q, copyltu)) : B.matmul(q, copyltu);
  return timesInverseTransposeOfUpper(inner, r);
}

/**
 * eigh of the lower triangle: with A = V·diag(w)·Vᵀ, values give G = V·diag(w̄)·Vᵀ and vectors give
 * G = V·(F ∘ Vᵀ·V̄)·Vᵀ, F_ij = 1/(w_j − w_i) off the diagonal (infinite for repeated eigenvalues: the
 * vectors' gradient is undefined there); folded onto the triangle that is read as for Cholesky.
 */
function eighGrad(node: Node<'eigh'>, g: Node): Node {
  const a = node.inputs[0]!;
  const w = Node.make('eigh', [a], { part: 'values' });
  const v = Node.make('eigh', [a], { part: 'vectors' });
  let inner: Node;
  if (node.args.part === 'values') inner = B.mul(B.expandDims(g, -2), v);
  else {
    const [r, c] = rowsCols(v);
    const gap = B.sub(B.expandDims(w, -2), B.expandDims(w, -1));
    const f = B.where(B.eq(r, c), 0, B.div(1, gap));
    inner = B.matmul(v, B.mul(f, B.matmul(mT(v), g)));
  }
  const full = node.args.part === 'values' ? B.matmul(inner, mT(v)) : B.matmul(inner, mT(v));
  return triangle(B.add(full, mT(full)), true, 0.5);
}

/**
 * The reduced SVD's gradient (Townsend 2016), each factor its own share: the values give U·diag(s̄)·Vᵀ;
 * U gives U·(J·S)·Vᵀ + (I − U·Uᵀ)·Ū·S⁻¹·Vᵀ with J = F ∘ (Uᵀ·Ū − Ūᵀ·U); Vᵀ gives U·(S·K)·Vᵀ +
 * U·S⁻¹·V̄ᵀ·(I − V·Vᵀ) with K = F ∘ (Vᵀ·V̄ − V̄ᵀ·V), where F_ij = 1/(s_j² − s_i²) off the diagonal:
 * infinite for repeated singular values and S⁻¹ for zero ones, where U and V have no gradient.
 */
function svdGrad(node: Node<'svd'>, g: Node): Node {
  const a = node.inputs[0]!;
  const u = Node.make('svd', [a], { part: 'u' });
  const s = Node.make('svd', [a], { part: 's' });
  const vt = Node.make('svd', [a], { part: 'vt' });
  const row = (v: Node) => B.expandDims(v, -2);
  const column = (v: Node) => B.expandDims(v, -1);
  if (node.args.part === 's') return B.matmul(B.mul(u, row(g)), vt);
  const square = B.square(s);
  const small = B.matmul(mT(u), u);
  const [r, c] = rowsCols(small);
  const f = B.where(B.eq(r, c), 0, B.div(1, B.sub(row(square), column(square))));
  if (node.args.part === 'u') {
    const utg = B.matmul(mT(u), g);
    const j = B.mul(f, B.sub(utg, mT(utg)));
    const inside = B.matmul(B.matmul(u, B.mul(j, row(s))), vt);
    const outside = B.matmul(B.div(B.sub(g, B.matmul(u, utg)), row(s)), vt);
    return B.add(inside, outside);
  }
  const vtv = B.matmul(vt, mT(g));
  const k = B.mul(f, B.sub(vtv, mT(vtv)));
  const inside = B.matmul(B.matmul(u, B.mul(column(s), k)), vt);
  const outside = B.matmul(u, B.div(B.sub(g, B.matmul(B.matmul(g, mT(vt)), vt)), column(s)));
  return B.add(inside, outside);
}

function unsupported(op: string, why: string): never {
  throw new GradError(`${op}: ${why}`);
}

/** A declared op's VJP from its declaration, each operand's share summed back over broadcasting. */
function declaredVJP(op: DeclaredOp): VJP<DeclaredOp> {
  const { gradient } = declaration(op);
  if (gradient === 'constant' || gradient === 'none') return noGrad;
  // One operand never broadcasts: its share has its shape already (even where sizes are known only at call time).
  return (node, g) =>
    gradient(B.GRAPH_ALGEBRA, g, node, ...node.inputs).map((share, i) =>
      share && node.inputs.length > 1 ? unbroadcast(share, node.inputs[i]!) : share,
    );
}

/** One VJP per op; a missing op is a compile error. */
export const VJPS: { readonly [K in Op]: VJP<K> } = {
  input: () => [],
  constant: () => [],
  shared: () => [],
  randomUniformLike: noGrad,

  elu: (node, g) => {
    const [x] = node.inputs;
    return [B.where(B.gt(x!, 0), g, B.mul(g, B.add(node, node.args.alpha)))];
  },
  ...forDeclared(declaredVJP),
  cast: (node, g) => [node.inputs[0]!.dtype.startsWith('float') ? B.cast(g, node.inputs[0]!.dtype) : null],

  pow: (node, g) => {
    const [a, b] = node.inputs as [Node, Node];
    // a^0 is 1 for every a: its slope is 0 even at a = 0, where b * a^(b-1) is 0 * Infinity (PyTorch masks it the same way).
    const slope = B.mul(g, B.mul(b, B.pow(a, B.sub(b, 1))));
    const ga = isConstantWithout(b, 0) ? slope : B.where(B.eq(b, 0), 0, slope);
    // The exponent's gradient needs log(a): only built when the exponent is not a constant. 0^b is 0 for b > 0: slope 0, not 0 * -Infinity.
    const gb =
      b.op === 'constant'
        ? null
        : unbroadcast(B.where(B.and(B.eq(a, 0), B.ge(b, 0)), 0, B.mul(g, B.mul(node, B.log(a)))), b);
    return [unbroadcast(ga, a), gb];
  },
  where: (node, g) => {
    const [c, a, b] = node.inputs as [Node, Node, Node];
    return [null, unbroadcast(B.where(c, g, 0), a), unbroadcast(B.where(c, 0, g), b)];
  },
  clip: (node, g) => {
    // clip(x, lo, hi) = minimum(maximum(x, lo), hi), NumPy's definition, which also fixes lo > hi.
    const [x, lo, hi] = node.inputs as [Node, Node, Node];
    const belowHi = B.le(B.maximum(x, lo), hi);
    return [
      unbroadcast(selected(B.and(belowHi, B.ge(x, lo)), g), x),
      unbroadcast(selected(B.and(belowHi, B.lt(x, lo)), g), lo),
      unbroadcast(selected(B.not(belowHi), g), hi),
    ];
  },

  sum: (node, g) => [expandReduced(g, node.inputs[0]!, node.args)],
  mean: (node, g) => {
    const x = node.inputs[0]!;
    return [B.div(expandReduced(g, x, node.args), reducedCount(x, node.args.axes))];
  },
  prod: (node, g) => {
    // Exact at zeros (Theano's approach): with one zero in a slice only that element gets the product of the others.
    const x = node.inputs[0]!;
    const a = node.args;
    const isZero = B.eq(x, 0);
    const zeros = B.sum(B.cast(isZero, 'int32'), a.axes, true);
    const nonZeroProd = B.prod(B.where(isZero, 1, x), a.axes, true);
    const y = keep(node, x, a);
    const local = B.where(
      B.eq(zeros, 0),
      B.div(y, B.where(isZero, 1, x)),
      B.where(B.and(B.eq(zeros, 1), isZero), nonZeroProd, 0),
    );
    return [B.mul(expandReduced(g, x, a), local)];
  },
  max: (node, g) => [reducedExtremumGrad(node, g)],
  min: (node, g) => [reducedExtremumGrad(node, g)],
  logsumexp: (node, g) => {
    // softmax over one axis, which shifts by the maximum: x - logsumexp(x) loses digits to the rounding of a large logsumexp.
    const x = node.inputs[0]!;
    const a = node.args;
    const weights = a.axes.length === 1 ? B.softmax(x, a.axes[0]!) : B.exp(B.sub(x, keep(node, x, a)));
    return [B.mul(expandReduced(g, x, a), weights)];
  },
  argmax: noGrad,
  argmin: noGrad,
  cholesky: (node, g) => [choleskyGrad(node, g)],
  solveTriangular: solveTriangularGrad,
  // Giles (2008): X = A⁻¹B gives B̄ = A⁻ᵀX̄ and Ā = −B̄·Xᵀ.
  solve: (node, g) => {
    const [a, b] = node.inputs as [Node, Node];
    const gb = Node.make('solve', [mT(a), g], {});
    return [unbroadcast(B.neg(B.matmul(gb, mT(node))), a), unbroadcast(gb, b)];
  },
  // d log|det A| = tr(A⁻¹ dA): Ā = ḡ·A⁻ᵀ.
  slogdet: (node, g) => {
    const a = node.inputs[0]!;
    if (node.args.part === 'sign') return [null];
    const [r, c] = rowsCols(a);
    const inverseT = Node.make('solve', [mT(a), B.cast(B.eq(r, c), a.dtype)], {});
    return [B.mul(B.expandDims(B.expandDims(g, -1), -1), inverseT)];
  },
  qr: (node, g) => [qrGrad(node, g)],
  checkFinite: (_node, g) => [g],
  eigh: (node, g) => [eighGrad(node, g)],
  svd: (node, g) => [svdGrad(node, g)],
  cumsum: (node, g) => [sumsToEnd(g, node.args.axis)],
  cumprod: (node, g) => [cumprodGrad(node, g)],
  argsort: noGrad,
  topkIndices: noGrad,
  takeAlongAxis: (node, g) => [Node.make('takeAlongAxisGrad', [g, node.inputs[1]!, node.inputs[0]!], node.args), null],
  takeAlongAxisGrad: (node, g) => [Node.make('takeAlongAxis', [g, node.inputs[1]!], node.args), null, null],

  dot: (node, g) => {
    const [a, b] = node.inputs as [Node, Node];
    if (a.ndim === 0 || b.ndim === 0) return [unbroadcast(B.mul(g, b), a), unbroadcast(B.mul(g, a), b)];
    if (b.ndim > 2) unsupported('dot', 'gradient with a second operand of rank > 2 is not supported; use matmul');
    return matmulGrad(a, b, g);
  },
  matmul: (node, g) => {
    // A transposed operand is differentiated as the explicit transpose it stands for.
    const f = (node as Node<'matmul'>).args;
    const [a, b] = node.inputs as [Node, Node];
    const [ga, gb] = matmulGrad(f.transposeA ? swapLast(a) : a, f.transposeB ? swapLast(b) : b, g);
    return [f.transposeA ? swapLast(ga) : ga, f.transposeB ? swapLast(gb) : gb];
  },

  identity: (_node, g) => [g],
  stopGradient: () => [null],
  reshape: (node, g) => [Node.make('reshapeLike', [g, node.inputs[0]!], {})],
  transpose: (node, g) => {
    const inverse = [...node.args.perm];
    node.args.perm.forEach((p, i) => (inverse[p] = i));
    return [B.transpose(g, inverse)];
  },
  expandDims: (node, g) => [Node.make('reshapeLike', [g, node.inputs[0]!], {})],
  squeeze: (node, g) => [Node.make('reshapeLike', [g, node.inputs[0]!], {})],
  concat: (node, g) => {
    // Where every operand's length along the axis is known, each part is a slice of g: a part that read
    // all operands would make the gradient of a concat of n operands n² edges (a loop of 2,000 steps: 4M).
    const axis = node.args.axis;
    const lengths = node.inputs.map((x) => x.shape[axis]);
    const offsets = lengths.every((l): l is number => l !== null)
      ? lengths.map((_, i) => lengths.slice(0, i).reduce((a, b) => a + b, 0))
      : undefined;
    return node.inputs.map((x, index) => {
      const part = offsets
        ? Node.make('slice', [g], {
            starts: g.shape.map((_, a) => (a === axis ? offsets[index]! : null)),
            stops: g.shape.map((_, a) => (a === axis ? offsets[index]! + (lengths[index] as number) : null)),
            steps: g.shape.map(() => 1),
          })
        : Node.make('concatPart', [g, ...node.inputs], { axis, index });
      return part.dtype === x.dtype ? part : B.cast(part, x.dtype);
    });
  },
  slice: (node, g) => [Node.make('sliceGrad', [g, node.inputs[0]!], node.args)],
  gather: (node, g) => [Node.make('gatherGrad', [g, node.inputs[1]!, node.inputs[0]!], node.args), null],
  oneHot: noGrad,
  dimOf: noGrad,
  arange: noGrad,
  dynamicSlice: (node, g) => {
    const [x, ...bounds] = node.inputs;
    return [Node.make('dynamicSliceGrad', [g, x!, ...bounds], node.args), ...bounds.map(() => null)];
  },
  pad: (node, g) => {
    const spec = {
      starts: node.args.paddings.map((p) => p[0]),
      stops: node.args.paddings.map((p) => (p[1] === 0 ? null : -p[1])),
      steps: node.args.paddings.map(() => 1),
    };
    return [Node.make('slice', [g], spec)];
  },

  softmax: (node, g) => [B.mul(node, B.sub(g, B.sum(B.mul(g, node), node.args.axis, true)))],
  logSoftmax: (node, g) => [B.sub(g, B.mul(B.exp(node), B.sum(g, node.args.axis, true)))],
  conv2d: (node, g) => {
    const [x, w] = node.inputs as [Node, Node];
    return [Node.make('conv2dGradInput', [g, w, x], node.args), Node.make('conv2dGradFilter', [x, g, w], node.args)];
  },
  maxPool2d: (node, g) => [Node.make('maxPool2dGrad', [node.inputs[0]!, g], node.args)],
  avgPool2d: (node, g) => [Node.make('avgPool2dGrad', [g, node.inputs[0]!], node.args)],

  broadcastLike: (node, g) => [unbroadcast(g, node.inputs[0]!), null],
  sumLike: (node, g) => [broadcastLike(g, node.inputs[0]!), null],
  reshapeLike: (node, g) => [Node.make('reshapeLike', [g, node.inputs[0]!], {}), null],
  sliceGrad: (node, g) => [Node.make('slice', [g], node.args), null],
  dynamicSliceGrad: (node, g) => {
    const [, , ...bounds] = node.inputs;
    return [Node.make('dynamicSlice', [g, ...bounds], node.args), null, ...bounds.map(() => null)];
  },
  gatherGrad: (node, g) => [B.gather(g, node.inputs[1]!, node.args.axis), null, null],
  concatPart: (node, g) => {
    const [, ...operands] = node.inputs;
    const pieces = operands.map((x, i) => (i === node.args.index ? g : B.zerosLike(x)));
    return [B.concat(pieces, node.args.axis), ...operands.map(() => null)];
  },
  conv2dGradInput: (node, g) => {
    const [g0, w] = node.inputs as [Node, Node, Node];
    return [B.conv2d(g, w, node.args), Node.make('conv2dGradFilter', [g, g0, w], node.args), null];
  },
  conv2dGradFilter: (node, g) => {
    const [x, g0] = node.inputs as [Node, Node, Node];
    return [Node.make('conv2dGradInput', [g0, g, x], node.args), B.conv2d(x, g, node.args), null];
  },
  maxPool2dGrad: () => unsupported('maxPool2d', 'second derivatives of max pooling are not supported'),
  avgPool2dGrad: (node, g) => [B.avgPool2d(g, node.args), null],
  // Fusion runs after differentiation, on compiled graphs only.
  loop: (node, g) => node.args.loop.vjp(node.args.output, g, node.inputs) as (Node | null)[],
  // The cotangent goes to the chosen branch's output, zeros to the other's: lazily, by an ifelse of its own.
  ifelse: (node, g) => {
    const [cond, ...branches] = node.inputs as [Node, ...Node[]];
    const n = node.args.branches;
    const k = node.args.output;
    const to = (branch: Node, chosen: boolean) => {
      const zeros = B.zerosLike(branch);
      const parts = chosen ? [g, zeros] : [zeros, g];
      return Node.make('ifelse', [cond, ...parts], { branches: 1, output: 0, id: node.args.id });
    };
    return [null, ...branches.map((b, i) => (i === k ? to(b, true) : i === n + k ? to(b, false) : null))];
  },
  fused: () => unsupported('fused', 'fused kernels are built after differentiation and are not differentiated'),
  fusedOutput: () => unsupported('fused', 'fused kernels are built after differentiation and are not differentiated'),
};
