/**
 * Elementwise ops declared once: every other table (the op set, the reference kernels, the type
 * rules, the gradients, the wasm lowering's coverage, the builders `T.x`, the methods `x.op()`,
 * `T.fromFunction`'s `Math` names, `tsano/tf`'s functions, the generated test suite and docs/ops.md)
 * is derived from an entry here. docs/adding-an-op.md says how to add one.
 *
 * The declarations live at the bottom floor so the reference interpreter can run them; what they
 * build (gradients, decompositions) they build through an `OpAlgebra` the compiler supplies.
 */
import * as S from './reference/scalar-math.js';

/** Operands of a gradient or a decomposition: the graph's nodes in the compiler (any value type here). */
export type Operand<N> = N | number;

/** The ops a gradient or a decomposition may use; the compiler implements it with its graph builders. */
export interface OpAlgebra<N> {
  readonly add: (a: Operand<N>, b: Operand<N>) => N;
  readonly sub: (a: Operand<N>, b: Operand<N>) => N;
  readonly mul: (a: Operand<N>, b: Operand<N>) => N;
  readonly div: (a: Operand<N>, b: Operand<N>) => N;
  readonly lt: (a: Operand<N>, b: Operand<N>) => N;
  readonly gt: (a: Operand<N>, b: Operand<N>) => N;
  readonly eq: (a: Operand<N>, b: Operand<N>) => N;
  readonly ne: (a: Operand<N>, b: Operand<N>) => N;
  readonly and: (a: N, b: N) => N;
  readonly where: (cond: N, a: Operand<N>, b: Operand<N>) => N;
  readonly neg: (a: N) => N;
  readonly abs: (a: N) => N;
  readonly sqrt: (a: N) => N;
  readonly square: (a: N) => N;
  readonly sin: (a: N) => N;
  readonly cos: (a: N) => N;
  /**
   * Another declared op, by name. Typed as a string, not as `DeclaredOp`, because that type is read off
   * this table; an unknown name is an error when the gradient is built, which the generated suite does for every op.
   */
  readonly op: (name: string, ...operands: N[]) => N;
}

/** The gradient with respect to each operand (null: none flows), from the output `y` and its cotangent `g`. */
export type DeclaredGradient = <N>(d: OpAlgebra<N>, g: N, y: N, ...x: N[]) => (N | null)[];

/** How the output dtype follows the operands: always float (ints become floatx), promoted, or bool. */
export type DeclaredDType = 'float' | 'promote' | 'bool';

interface Declaration {
  readonly arity: 1 | 2;
  readonly dtype: DeclaredDType;
  /** The value in float64: the reference interpreter's kernel and the oracle of every backend. */
  readonly reference: (...v: number[]) => number;
  /** The value for int32 operands where float64 would round before int32 wraps (products): NumPy's wrapping int32. */
  readonly int32?: (...v: number[]) => number;
  /** 'constant': piecewise constant, no gradient flows (as for `sign`); 'none': not differentiable (bool results). */
  readonly gradient: DeclaredGradient | 'constant' | 'none';
  /** A composite: its numerically stable form in other ops, expanded after the stabilization rules ran. */
  readonly decompose?: <N>(d: OpAlgebra<N>, ...x: N[]) => N;
  /** Other spellings: TensorFlow.js's name for `tsano/tf` (default the op's), the `Math` member `T.fromFunction` reads. */
  readonly tf?: string;
  readonly math?: string;
  /** One line for docs/ops.md. */
  readonly doc: string;
  /** Where the op is defined (the generated tests draw ordinary values from here; extremes anyway). */
  readonly domain?: readonly [number, number];
  /** The SIMD lowering reads bool operands as comparison masks (the rest see them as 1/0). */
  readonly masks?: true;
  /** a op b = b op a: patterns match both operand orders. */
  readonly commutative?: true;
  /** The float32 accuracy the wasm kernel keeps against the reference, in ulps (default 3; docs/accuracy.md). */
  readonly ulps?: number;
}

/** A primitive: the wasm backend lowers it (compiler/codegen/elementwise.ts must list it). */
interface PrimitiveDeclaration extends Declaration {
  readonly decompose?: undefined;
}
interface CompositeDeclaration extends Declaration {
  readonly decompose: <N>(d: OpAlgebra<N>, ...x: N[]) => N;
}

const SQRT_2_OVER_PI_HALF = 0.3989422804014327; // 1/sqrt(2 pi)
const TWO_OVER_SQRT_PI = 1.1283791670955126;

export const DECLARED_OPS = {
  eq: {
    arity: 2,
    dtype: 'bool',
    reference: (a, b) => (a === b ? 1 : 0),
    gradient: 'none',
    masks: true,
    commutative: true,
    tf: 'equal',
    doc: 'a == b (NaN equals nothing)',
  },
  ne: {
    arity: 2,
    dtype: 'bool',
    reference: (a, b) => (a !== b ? 1 : 0),
    gradient: 'none',
    masks: true,
    commutative: true,
    tf: 'notEqual',
    doc: 'a ≠ b (true for NaN)',
  },
  lt: {
    arity: 2,
    dtype: 'bool',
    reference: (a, b) => (a < b ? 1 : 0),
    gradient: 'none',
    masks: true,
    tf: 'less',
    doc: 'a < b',
  },
  le: {
    arity: 2,
    dtype: 'bool',
    reference: (a, b) => (a <= b ? 1 : 0),
    gradient: 'none',
    masks: true,
    tf: 'lessEqual',
    doc: 'a ≤ b',
  },
  gt: {
    arity: 2,
    dtype: 'bool',
    reference: (a, b) => (a > b ? 1 : 0),
    gradient: 'none',
    masks: true,
    tf: 'greater',
    doc: 'a > b',
  },
  ge: {
    arity: 2,
    dtype: 'bool',
    reference: (a, b) => (a >= b ? 1 : 0),
    gradient: 'none',
    masks: true,
    tf: 'greaterEqual',
    doc: 'a ≥ b',
  },
  and: {
    arity: 2,
    dtype: 'bool',
    reference: (a, b) => (S.truthy(a) && S.truthy(b) ? 1 : 0),
    gradient: 'none',
    masks: true,
    commutative: true,
    tf: 'logicalAnd',
    doc: 'both true (a number is true where it is not 0, NaN included, as NumPy)',
  },
  or: {
    arity: 2,
    dtype: 'bool',
    reference: (a, b) => (S.truthy(a) || S.truthy(b) ? 1 : 0),
    gradient: 'none',
    masks: true,
    commutative: true,
    tf: 'logicalOr',
    doc: 'either true',
  },
  not: {
    arity: 1,
    dtype: 'bool',
    reference: (a) => (S.truthy(a) ? 0 : 1),
    gradient: 'none',
    masks: true,
    tf: 'logicalNot',
    doc: 'not true',
  },
  add: {
    arity: 2,
    dtype: 'promote',
    reference: (a, b) => a + b,
    gradient: (_d, g) => [g, g],
    commutative: true,
    doc: 'a + b',
  },
  sub: { arity: 2, dtype: 'promote', reference: (a, b) => a - b, gradient: (d, g) => [g, d.neg(g)], doc: 'a − b' },
  mul: {
    arity: 2,
    dtype: 'promote',
    reference: (a, b) => a * b,
    int32: Math.imul,
    gradient: (d, g, _y, a, b) => [d.mul(g, b!), d.mul(g, a!)],
    commutative: true,
    doc: 'a·b',
  },
  div: {
    arity: 2,
    dtype: 'float',
    reference: (a, b) => a / b,
    gradient: (d, g, y, _a, b) => [d.div(g, b!), d.neg(d.div(d.mul(g, y), b!))],
    doc: 'a / b, true division',
  },
  maximum: {
    arity: 2,
    dtype: 'promote',
    reference: Math.max,
    gradient: (d, g, y, a, b) => extremumShares(d, g, y, a!, b!),
    commutative: true,
    doc: 'the larger of a and b, NaN if either is; the gradient goes to the chosen one, half to each on a tie (PyTorch)',
  },
  minimum: {
    arity: 2,
    dtype: 'promote',
    reference: Math.min,
    gradient: (d, g, y, a, b) => extremumShares(d, g, y, a!, b!),
    commutative: true,
    doc: 'the smaller of a and b, as maximum',
  },
  neg: { arity: 1, dtype: 'promote', reference: (x) => -x, gradient: (d, g) => [d.neg(g)], doc: '−x' },
  exp: {
    arity: 1,
    dtype: 'float',
    reference: Math.exp,
    gradient: (d, g, y) => [d.mul(g, y)],
    math: 'exp',
    doc: 'e^x, to 1 ulp in float32 from the subnormals to the overflow',
  },
  log: {
    arity: 1,
    dtype: 'float',
    reference: Math.log,
    gradient: (d, g, _y, x) => [d.div(g, x!)],
    math: 'log',
    domain: [0, 1e6],
    doc: 'the natural logarithm',
  },
  log1p: {
    arity: 1,
    dtype: 'float',
    reference: Math.log1p,
    gradient: (d, g, _y, x) => [d.div(g, d.add(x!, 1))],
    math: 'log1p',
    domain: [-1, 1e6],
    doc: 'log(1 + x), accurate near 0',
  },
  expm1: {
    arity: 1,
    dtype: 'float',
    reference: Math.expm1,
    // exp(x), not expm1(x) + 1: that sum cancels for negative x (at x = -9 it keeps 3 digits in float32).
    gradient: (d, g, _y, x) => [d.mul(g, d.op('exp', x!))],
    math: 'expm1',
    doc: 'e^x − 1, accurate near 0',
  },
  sqrt: {
    arity: 1,
    dtype: 'float',
    reference: Math.sqrt,
    gradient: (d, g, y) => [d.div(d.mul(g, 0.5), y)],
    math: 'sqrt',
    domain: [0, 1e6],
    doc: 'the square root',
  },
  rsqrt: {
    arity: 1,
    dtype: 'float',
    reference: (x) => 1 / Math.sqrt(x),
    gradient: (d, g, y) => [d.mul(d.mul(g, -0.5), d.mul(y, d.square(y)))],
    domain: [0, 1e6],
    doc: '1 / √x',
  },
  square: {
    arity: 1,
    dtype: 'promote',
    reference: (x) => x * x,
    int32: (x) => Math.imul(x, x),
    gradient: (d, g, _y, x) => [d.mul(g, d.mul(x!, 2))],
    doc: 'x·x',
  },
  abs: {
    arity: 1,
    dtype: 'promote',
    reference: Math.abs,
    gradient: (d, g, _y, x) => [d.mul(g, d.op('sign', x!))],
    math: 'abs',
    doc: '|x|; its gradient at 0 is 0',
  },
  sign: {
    arity: 1,
    dtype: 'promote',
    reference: Math.sign,
    gradient: 'constant',
    math: 'sign',
    doc: '−1, 0 or 1 (±0 and NaN as they are)',
  },
  tanh: {
    arity: 1,
    dtype: 'float',
    reference: Math.tanh,
    gradient: (d, g, y) => [d.mul(g, d.sub(1, d.square(y)))],
    math: 'tanh',
    doc: 'the hyperbolic tangent',
  },
  sigmoid: {
    arity: 1,
    dtype: 'float',
    reference: S.sigmoid,
    gradient: (d, g, y) => [d.mul(g, d.mul(y, d.sub(1, y)))],
    doc: '1 / (1 + e^−x), without overflow',
  },
  softplus: {
    arity: 1,
    dtype: 'float',
    reference: S.softplus,
    gradient: (d, g, _y, x) => [d.mul(g, d.op('sigmoid', x!))],
    doc: 'log(1 + e^x), without overflow',
  },
  relu: {
    arity: 1,
    dtype: 'promote',
    reference: S.relu,
    gradient: (d, g, _y, x) => [d.where(d.gt(x!, 0), g, 0)],
    doc: 'max(x, 0); relu(NaN) is NaN and its gradient at 0 is 0',
  },
  selu: {
    arity: 1,
    dtype: 'float',
    reference: S.selu,
    gradient: (d, g, y, x) => [
      d.where(d.gt(x!, 0), d.mul(g, S.SELU_SCALE), d.mul(g, d.add(y, S.SELU_SCALE * S.SELU_ALPHA))),
    ],
    doc: "scale·(x > 0 ? x : alpha·(e^x − 1)), Keras's constants",
  },
  gelu: {
    arity: 1,
    dtype: 'float',
    reference: S.gelu,
    gradient: (d, g, _y, x) => {
      const cdf = d.mul(d.add(d.op('erf', d.mul(x!, Math.SQRT1_2)), 1), 0.5);
      const pdf = d.mul(d.op('exp', d.mul(d.square(x!), -0.5)), SQRT_2_OVER_PI_HALF);
      return [d.mul(g, d.add(cdf, d.mul(x!, pdf)))];
    },
    ulps: 4,
    doc: "x·Φ(x), the exact erf form (Keras's default)",
  },
  erf: {
    arity: 1,
    dtype: 'float',
    reference: S.erf,
    gradient: (d, g, _y, x) => [d.mul(g, d.mul(d.op('exp', d.neg(d.square(x!))), TWO_OVER_SQRT_PI))],
    ulps: 4,
    doc: 'the error function, accurate to double precision',
  },
  sin: {
    arity: 1,
    dtype: 'float',
    reference: Math.sin,
    gradient: (d, g, _y, x) => [d.mul(g, d.cos(x!))],
    math: 'sin',
    ulps: 4,
    doc: 'the sine, reduced by π/2 exactly over the whole range',
  },
  cos: {
    arity: 1,
    dtype: 'float',
    reference: Math.cos,
    gradient: (d, g, _y, x) => [d.neg(d.mul(g, d.sin(x!)))],
    math: 'cos',
    ulps: 4,
    doc: 'the cosine, reduced by π/2 exactly over the whole range',
  },
  reciprocal: {
    arity: 1,
    dtype: 'float',
    reference: (x) => 1 / x,
    gradient: (d, g, y) => [d.neg(d.mul(g, d.square(y)))],
    doc: '1 / x',
  },
  log1mexp: {
    arity: 1,
    dtype: 'float',
    reference: S.log1mexp,
    // exp(x) / expm1(x) = -1 / expm1(-x), written so that its own derivative never divides by expm1(-x)^2 (subnormal in float32 below x = -44).
    gradient: (d, g, _y, x) => [d.div(d.mul(g, d.op('exp', x!)), d.op('expm1', x!))],
    domain: [-30, 0],
    ulps: 4,
    doc: 'log(1 − e^x) for x ≤ 0 (Mächler), NaN above 0',
  },
  floor: {
    arity: 1,
    dtype: 'promote',
    reference: Math.floor,
    gradient: 'constant',
    math: 'floor',
    doc: 'the largest integer not above x',
  },
  ceil: {
    arity: 1,
    dtype: 'promote',
    reference: Math.ceil,
    gradient: 'constant',
    math: 'ceil',
    doc: 'the smallest integer not below x',
  },
  round: {
    arity: 1,
    dtype: 'promote',
    reference: roundHalfEven,
    gradient: 'constant',
    doc: 'the nearest integer, halves to even (NumPy and TF.js; `Math.round` rounds halves up)',
  },
  trunc: {
    arity: 1,
    dtype: 'promote',
    reference: Math.trunc,
    gradient: 'constant',
    math: 'trunc',
    doc: 'x with its fraction dropped (toward zero)',
  },
  isnan: {
    arity: 1,
    dtype: 'bool',
    reference: (x) => (Number.isNaN(x) ? 1 : 0),
    gradient: 'none',
    tf: 'isNaN',
    decompose: (d, x) => d.ne(x, x),
    doc: 'true where x is NaN',
  },
  isinf: {
    arity: 1,
    dtype: 'bool',
    reference: (x) => (x === Infinity || x === -Infinity ? 1 : 0),
    gradient: 'none',
    tf: 'isInf',
    decompose: (d, x) => d.eq(d.abs(x), Infinity),
    doc: 'true where x is ±Infinity',
  },
  isfinite: {
    arity: 1,
    dtype: 'bool',
    reference: (x) => (Number.isFinite(x) ? 1 : 0),
    gradient: 'none',
    tf: 'isFinite',
    decompose: (d, x) => d.lt(d.abs(x), Infinity),
    doc: 'true where x is neither NaN nor ±Infinity',
  },
  tan: {
    arity: 1,
    dtype: 'float',
    reference: Math.tan,
    gradient: (d, g, y) => [d.mul(g, d.add(d.square(y), 1))],
    decompose: (d, x) => d.div(d.sin(x), d.cos(x)),
    math: 'tan',
    doc: 'sin x / cos x, each reduced by π/2 exactly',
  },
  atan: {
    arity: 1,
    dtype: 'float',
    reference: Math.atan,
    gradient: (d, g, _y, x) => [d.div(g, d.add(d.square(x!), 1))],
    math: 'atan',
    doc: 'the inverse tangent, in (−π/2, π/2)',
  },
  asin: {
    arity: 1,
    dtype: 'float',
    reference: Math.asin,
    gradient: (d, g, _y, x) => [d.div(g, d.sqrt(oneMinusSquare(d, x!)))],
    math: 'asin',
    domain: [-1, 1],
    doc: 'the inverse sine, NaN outside [−1, 1]',
  },
  acos: {
    arity: 1,
    dtype: 'float',
    reference: Math.acos,
    gradient: (d, g, _y, x) => [d.neg(d.div(g, d.sqrt(oneMinusSquare(d, x!))))],
    math: 'acos',
    domain: [-1, 1],
    doc: 'the inverse cosine, in [0, π]; NaN outside [−1, 1]',
  },
  atan2: {
    arity: 2,
    dtype: 'float',
    reference: Math.atan2,
    gradient: (d, g, _y, y, x) => {
      const r2 = d.add(d.square(x!), d.square(y!));
      return [d.div(d.mul(g, x!), r2), d.neg(d.div(d.mul(g, y!), r2))];
    },
    math: 'atan2',
    doc: 'the angle of the point (x, y) = (b, a), in [−π, π], with the signs of zeros as C and NumPy',
  },
  sinh: {
    arity: 1,
    dtype: 'float',
    reference: Math.sinh,
    gradient: (d, g, _y, x) => [d.mul(g, d.op('cosh', x!))],
    math: 'sinh',
    doc: 'the hyperbolic sine, finite up to the overflow of its value (not of e^x)',
  },
  cosh: {
    arity: 1,
    dtype: 'float',
    reference: Math.cosh,
    gradient: (d, g, _y, x) => [d.mul(g, d.op('sinh', x!))],
    math: 'cosh',
    doc: 'the hyperbolic cosine, finite up to the overflow of its value',
  },
  asinh: {
    arity: 1,
    dtype: 'float',
    reference: Math.asinh,
    gradient: (d, g, _y, x) => [d.div(g, d.sqrt(d.add(d.square(x!), 1)))],
    math: 'asinh',
    doc: 'the inverse hyperbolic sine, without overflow for large |x|',
  },
  acosh: {
    arity: 1,
    dtype: 'float',
    reference: Math.acosh,
    gradient: (d, g, _y, x) => [d.div(g, d.sqrt(d.mul(d.sub(x!, 1), d.add(x!, 1))))],
    math: 'acosh',
    domain: [1, 1e6],
    doc: 'the inverse hyperbolic cosine, NaN below 1',
  },
  atanh: {
    arity: 1,
    dtype: 'float',
    reference: Math.atanh,
    gradient: (d, g, _y, x) => [d.div(g, oneMinusSquare(d, x!))],
    math: 'atanh',
    domain: [-1, 1],
    doc: 'the inverse hyperbolic tangent, ±Infinity at ±1, NaN beyond',
  },
  exp2: {
    arity: 1,
    dtype: 'float',
    reference: (x) => 2 ** x,
    gradient: (d, g, y) => [d.mul(d.mul(g, y), Math.LN2)],
    doc: '2^x, exact at integers',
  },
  log2: {
    arity: 1,
    dtype: 'float',
    reference: Math.log2,
    gradient: (d, g, _y, x) => [d.div(g, d.mul(x!, Math.LN2))],
    math: 'log2',
    domain: [0, 1e6],
    doc: 'the base-2 logarithm, exact at powers of two',
  },
  log10: {
    arity: 1,
    dtype: 'float',
    reference: Math.log10,
    gradient: (d, g, _y, x) => [d.div(g, d.mul(x!, Math.LN10))],
    math: 'log10',
    domain: [0, 1e6],
    doc: 'the base-10 logarithm',
  },
  mod: {
    arity: 2,
    dtype: 'promote',
    reference: S.pythonMod,
    gradient: (d, g, _y, a, b) => [g, d.neg(d.mul(g, d.op('floorDiv', a!, b!)))],
    doc: "a − floor(a / b)·b with the sign of b (Python's `%`, NumPy's `mod`, TF.js's `mod`), exact",
  },
  fmod: {
    arity: 2,
    dtype: 'promote',
    reference: (a, b) => a % b,
    gradient: (d, g, _y, a, b) => [g, d.neg(d.mul(g, d.op('trunc', d.div(a!, b!))))],
    doc: "a − trunc(a / b)·b with the sign of a (C's `fmod`, JavaScript's `%`), exact",
  },
  floorDiv: {
    arity: 2,
    dtype: 'promote',
    reference: S.floorDivide,
    gradient: 'constant',
    // CPython's float_floor_div: the quotient of the exact remainder, rounded to the integer it nearly is.
    decompose: (d, a, b) => {
      const r = d.op('fmod', a!, b!);
      const moved = d.and(d.ne(r, 0), d.ne(d.lt(r, 0), d.lt(b!, 0)));
      const exact = d.div(d.sub(a!, r), b!);
      const q = d.where(moved, d.sub(exact, 1), exact);
      const f = d.op('floor', q);
      const rounded = d.where(d.lt(0.5, d.sub(q, f)), d.add(f, 1), f);
      const quotient = d.div(a!, b!);
      return d.where(d.eq(b!, 0), quotient, d.where(d.eq(q, 0), d.mul(quotient, 0), rounded));
    },
    doc: "(a − mod(a, b)) / b rounded to an integer (Python's `//`, NumPy's `floor_divide`)",
  },
} as const satisfies Record<string, PrimitiveDeclaration | CompositeDeclaration>;

/**
 * maximum/minimum: the gradient goes to the operand that was chosen; on a tie each gets half (as
 * PyTorch does), so maximum(x, x) = x has derivative 1, where Theano's full gradient to both gave 2.
 */
function extremumShares<N>(d: OpAlgebra<N>, g: N, y: N, a: N, b: N): N[] {
  const share = d.where(d.eq(a, b), d.mul(g, 0.5), g);
  return [d.where(d.eq(y, a), share, 0), d.where(d.eq(y, b), share, 0)];
}

/** 1 − x² as (1 − x)(1 + x): no cancellation near |x| = 1. */
function oneMinusSquare<N>(d: OpAlgebra<N>, x: N): N {
  return d.mul(d.sub(1, x), d.add(1, x));
}

/** The nearest integer, halves to even (IEEE roundTiesToEven, as NumPy's `round` and wasm's `nearest`). */
export function roundHalfEven(x: number): number {
  const up = Math.round(x); // halves up; keeps -0 and gives -0 for (-0.5, -0)
  return up - x === 0.5 && up % 2 !== 0 ? up - 1 : up;
}

export type DeclaredOp = keyof typeof DECLARED_OPS;
type Declared = typeof DECLARED_OPS;
/** The declared ops the wasm backend implements itself (no decomposition). */
export type PrimitiveOp = { [K in DeclaredOp]: Declared[K] extends { decompose: unknown } ? never : K }[DeclaredOp];
/** The declared ops expanded into others before scheduling. */
export type CompositeOp = Exclude<DeclaredOp, PrimitiveOp>;

/** A declaration read through its general type (the table keeps each entry's literal type). */
export const declaration = (op: DeclaredOp): PrimitiveDeclaration | CompositeDeclaration => DECLARED_OPS[op];
export const DECLARED_OP_NAMES = Object.keys(DECLARED_OPS) as DeclaredOp[];
export const isDeclaredOp = (op: string): op is DeclaredOp => Object.hasOwn(DECLARED_OPS, op);
/** The name `tsano/tf` gives op (TF.js's). */
export const tfName = (op: DeclaredOp): string => declaration(op).tf ?? op;

/** A table over every declared op, each entry from `entry`. */
export function forDeclared<V>(entry: (op: DeclaredOp) => V): { readonly [K in DeclaredOp]: V } {
  return Object.fromEntries(DECLARED_OP_NAMES.map((op) => [op, entry(op)])) as { [K in DeclaredOp]: V };
}
/** A table over the composite ops. */
export function composites<V>(entry: (op: CompositeOp) => V): { readonly [K in CompositeOp]: V } {
  const names = DECLARED_OP_NAMES.filter((op): op is CompositeOp => declaration(op).decompose !== undefined);
  return Object.fromEntries(names.map((op) => [op, entry(op)])) as { [K in CompositeOp]: V };
}
