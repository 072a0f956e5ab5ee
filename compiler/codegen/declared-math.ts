/**
 * The SIMD lowerings of the primitive ops of runtime/declared-ops.ts. The math beyond single
 * instructions is written once, for float64 lanes, and float32 kernels run it on widened lanes
 * (rounded once at the end, so a float32 result is within an ulp); docs/accuracy.md has the figures.
 */
import type { PrimitiveOp } from '../../runtime/declared-ops.js';
import type { Expr } from './binaryen.js';
import type { Local } from './emitter.js';
import {
  asMask,
  cmp,
  eluLike,
  float,
  laneMath,
  map1,
  map2,
  mask,
  type FloatLanes,
  type Lowering,
  type Value,
} from './lowering.js';
import { SELU_ALPHA, SELU_SCALE } from '../../runtime/reference/scalar-math.js';
import { chebyshevFit } from './fit.js';
import type { Float64Routine, Stmts } from './lane-math.js';
import type { SimdMathF64 } from './simd-math-f64.js';

type V = Local;

/** One lane instruction of either width (floor, ceil, trunc, nearest). */
const instruction =
  (f: (fx: FloatLanes, a: Expr) => Expr): Lowering =>
  (s, out, [a], _args, _m, fx) =>
    float(s.set(out, f(fx, a!.v.get())));
/** A float64 routine at either width. */
const routine =
  (f: Float64Routine): Lowering =>
  (s, out, xs) =>
    float(
      s.viaFloat64(
        out,
        xs.map((x) => x.v),
        f,
      ),
    );

const HALF_PI = [1.5707963267948966, 6.123233995736766e-17] as const;
const QUARTER_PI = [0.7853981633974483, 3.061616997868383e-17] as const;
const PI = [3.141592653589793, 1.2246467991473532e-16] as const;
const TAN_PI_8 = Math.SQRT2 - 1;
const TAN_3PI_8 = Math.SQRT2 + 1;
const LN2 = [0.6931471805599453, 2.3190468138462996e-17] as const;
const LOG10_E = [0.4342944819032518, 1.098319650216765e-17] as const;

/**
 * atan r = r + r·z·g(z), z = r² ≤ tan²(π/8): g fitted once per process (degree 12, about 1e-17 of
 * the result) to its alternating series, summed in float64 from the smallest term.
 */
let atanShape: ReturnType<typeof chebyshevFit> | undefined;
function atanTail(z: number): number {
  let sum = 0;
  for (let k = 40; k >= 1; k--) sum = sum * z + (k % 2 ? -1 : 1) / (2 * k + 1);
  return sum;
}
const atanPiece = () => (atanShape ??= chebyshevFit(atanTail, 0, TAN_PI_8 * TAN_PI_8, 12));

/** atan of a non-negative (or NaN) a: reduced to |r| ≤ tan(π/8) by π/4 or π/2 (Cephes), each added in two parts. */
function atanMagnitude(d: SimdMathF64, out: Stmts, a: V): V {
  const f = d.module.f64x2;
  const big = d.set(out, f.gt(a.get(), d.c(TAN_3PI_8)));
  const mid = d.set(out, f.gt(a.get(), d.c(TAN_PI_8)));
  const pick = (high: number, middle: number, low: number) =>
    d.select(out, d.c(high), d.select(out, d.c(middle), d.c(low), mid.get()).get(), big.get());
  const reduced = d.select(
    out,
    f.div(d.c(-1), a.get()),
    f.div(f.sub(a.get(), d.c(1)), f.add(a.get(), d.c(1))),
    big.get(),
  );
  const r = d.select(out, reduced.get(), a.get(), mid.get());
  const z = d.set(out, f.mul(r.get(), r.get()));
  const g = d.piecewise(out, z, [atanPiece()]);
  const baseHigh = pick(HALF_PI[0], QUARTER_PI[0], 0);
  const baseLow = pick(HALF_PI[1], QUARTER_PI[1], 0);
  const small = f.add(f.mul(f.mul(r.get(), z.get()), g.get()), baseLow.get());
  return d.set(out, f.add(baseHigh.get(), f.add(r.get(), small)));
}

const atan: Float64Routine = (d, out, [x]) =>
  d.copySign(out, atanMagnitude(d, out, d.set(out, d.abs(x!.get()))).get(), x!.get());

/** asin x = atan(x / √((1 − x)(1 + x))): the square root's argument keeps its digits near ±1. */
const asin: Float64Routine = (d, out, [x]) => {
  const f = d.module.f64x2;
  const root = f.sqrt(f.mul(f.sub(d.c(1), x!.get()), f.add(d.c(1), x!.get())));
  return atan(d, out, [d.set(out, f.div(x!.get(), root))]);
};

/** acos x = 2·atan √((1 − x)/(1 + x)): 0 at 1, π at −1, NaN outside [−1, 1]. */
const acos: Float64Routine = (d, out, [x]) => {
  const f = d.module.f64x2;
  const t = d.set(out, f.sqrt(f.div(f.sub(d.c(1), x!.get()), f.add(d.c(1), x!.get()))));
  const half = atanMagnitude(d, out, t);
  return d.set(out, f.add(half.get(), half.get()));
};

/** The sign bit of each lane as a mask (−0 included, as atan2's quadrants need). */
function signBit(d: SimdMathF64, out: Stmts, x: V): V {
  return d.set(out, d.module.i64x2.lt_s(x.get(), d.module.v128.const(new Array(16).fill(0))));
}

/**
 * atan2(y, x) = ±atan(|y|/|x|) moved to x's half-plane (π − t for a negative x, −0 included), with
 * the ratios that are NaN defined as C does: both zero gives 0, both infinite π/4.
 */
const atan2: Float64Routine = (d, out, [y, x]) => {
  const f = d.module.f64x2;
  const ay = d.set(out, d.abs(y!.get()));
  const ax = d.set(out, d.abs(x!.get()));
  let t = atanMagnitude(d, out, d.set(out, f.div(ay.get(), ax.get())));
  const both = (c: number) => d.module.v128.and(f.eq(ay.get(), d.c(c)), f.eq(ax.get(), d.c(c)));
  t = d.select(out, d.c(Math.PI / 4), t.get(), both(Infinity));
  t = d.select(out, d.c(0), t.get(), both(0));
  const flipped = f.sub(d.c(PI[0]), f.sub(t.get(), d.c(PI[1])));
  t = d.select(out, flipped, t.get(), signBit(d, out, x!).get());
  return d.copySign(out, t.get(), y!.get());
};

/** (½h)·h ± (½/h)/h with h = e^(|x|/2): e^|x|/2 ± e^−|x|/2 without overflow before the value's own. */
function halfExpPair(d: SimdMathF64, out: Stmts, a: V, sign: 1 | -1): V {
  const f = d.module.f64x2;
  const h = d.exp(out, d.set(out, f.mul(a.get(), d.c(0.5))));
  const up = f.mul(f.mul(h.get(), d.c(0.5)), h.get());
  const down = f.div(f.div(d.c(0.5), h.get()), h.get());
  return d.set(out, sign > 0 ? f.add(up, down) : f.sub(up, down));
}

/** sinh: ½(E + E/(E + 1)) with E = expm1|x| below 1 (no cancellation), the exponential pair above; x's sign. */
const sinh: Float64Routine = (d, out, [x]) => {
  const f = d.module.f64x2;
  const a = d.set(out, d.abs(x!.get()));
  const e = d.expm1(out, a);
  const small = f.mul(d.c(0.5), f.add(e.get(), f.div(e.get(), f.add(e.get(), d.c(1)))));
  const r = d.select(out, small, halfExpPair(d, out, a, -1).get(), f.lt(a.get(), d.c(1)));
  return d.copySign(out, r.get(), x!.get());
};

const cosh: Float64Routine = (d, out, [x]) => halfExpPair(d, out, d.set(out, d.abs(x!.get())), 1);

/** log(a) + ln 2 where a² + 1 rounds to a² (|a| > 2^28), with ln 2 in two parts. */
function logTwice(d: SimdMathF64, out: Stmts, a: V): Expr {
  const f = d.module.f64x2;
  return f.add(f.add(d.log(out, a).get(), d.c(LN2[1])), d.c(LN2[0]));
}

/** asinh (fdlibm's three ranges): log1p(a + a²/(1 + √(1 + a²))) below 2, log(2a + 1/(√(a² + 1) + a)) below 2^28, log a + ln 2 above. */
const asinh: Float64Routine = (d, out, [x]) => {
  const f = d.module.f64x2;
  const a = d.set(out, d.abs(x!.get()));
  const a2 = d.set(out, f.mul(a.get(), a.get()));
  const root = d.set(out, f.sqrt(f.add(a2.get(), d.c(1))));
  const small = d.log1p(out, d.set(out, f.add(a.get(), f.div(a2.get(), f.add(d.c(1), root.get())))));
  const middle = d.log(out, d.set(out, f.add(f.add(a.get(), a.get()), f.div(d.c(1), f.add(root.get(), a.get())))));
  let r = d.select(out, middle.get(), small.get(), f.gt(a.get(), d.c(2)));
  r = d.select(out, logTwice(d, out, a), r.get(), f.gt(a.get(), d.c(2 ** 28)));
  return d.copySign(out, r.get(), x!.get());
};

/** acosh (fdlibm): log1p(t + √(2t + t²)) with t = x − 1 below 2, log(2x − 1/(x + √(x² − 1))) below 2^28, log x + ln 2 above. */
const acosh: Float64Routine = (d, out, [x]) => {
  const f = d.module.f64x2;
  const t = d.set(out, f.sub(x!.get(), d.c(1)));
  const small = d.log1p(
    out,
    d.set(out, f.add(t.get(), f.sqrt(f.add(f.add(t.get(), t.get()), f.mul(t.get(), t.get()))))),
  );
  const root = f.sqrt(f.sub(f.mul(x!.get(), x!.get()), d.c(1)));
  const middle = d.log(out, d.set(out, f.sub(f.add(x!.get(), x!.get()), f.div(d.c(1), f.add(x!.get(), root)))));
  let r = d.select(out, middle.get(), small.get(), f.gt(x!.get(), d.c(2)));
  r = d.select(out, logTwice(d, out, x!), r.get(), f.gt(x!.get(), d.c(2 ** 28)));
  // Below 1 the small-range form can meet a root of 2t + t² (t = −2, or huge negative t): NaN there by rule.
  return d.select(out, r.get(), d.c(NaN), f.ge(x!.get(), d.c(1)));
};

/** atanh (fdlibm): ½·log1p(2a + 2a²/(1 − a)) below ½, ½·log1p(2a/(1 − a)) above; x's sign. */
const atanh: Float64Routine = (d, out, [x]) => {
  const f = d.module.f64x2;
  const a = d.set(out, d.abs(x!.get()));
  const twoA = d.set(out, f.add(a.get(), a.get()));
  const oneMinus = d.set(out, f.sub(d.c(1), a.get()));
  const smallArg = f.add(twoA.get(), f.div(f.mul(twoA.get(), a.get()), oneMinus.get()));
  const arg = d.select(out, smallArg, f.div(twoA.get(), oneMinus.get()), f.lt(a.get(), d.c(0.5)));
  const r = d.set(out, f.mul(d.log1p(out, arg).get(), d.c(0.5)));
  return d.copySign(out, r.get(), x!.get());
};

/** 2^x = e^(x·ln 2) with the product carried as a double-double, so integers give exact powers. */
const exp2: Float64Routine = (d, out, [x]) => {
  const f = d.module.f64x2;
  const high = d.set(out, f.mul(x!.get(), d.c(LN2[0])));
  const ln2 = d.set(out, d.c(LN2[0]));
  const low = d.set(out, f.add(d.productError(out, x!, ln2, high).get(), f.mul(x!.get(), d.c(LN2[1]))));
  return d.expOfSum(out, high, low);
};

/** log's values where x is not positive and finite: −Inf at 0, +Inf at +Inf, NaN below 0 and for NaN. */
function logSpecials(d: SimdMathF64, out: Stmts, x: V, r: V): V {
  const f = d.module.f64x2;
  let v = d.select(out, d.c(-Infinity), r.get(), f.eq(x.get(), d.c(0)));
  v = d.select(out, d.c(Infinity), v.get(), f.eq(x.get(), d.c(Infinity)));
  return d.select(out, v.get(), d.c(NaN), f.ge(x.get(), d.c(0)));
}

/** log2 x = e + log(m)/ln 2 for x = 2^e·m, m in [√½, √2): exact at powers of two (log m = 0). */
const log2: Float64Routine = (d, out, [x]) => {
  const f = d.module.f64x2;
  const { e, m } = d.exponentAndMantissa(out, x!);
  const logM = d.logPositive(out, m);
  return logSpecials(d, out, x!, d.set(out, f.add(e.get(), f.mul(logM.get(), d.c(Math.LOG2E)))));
};

/** log10 x = (log x as a double-double)·(log10 e in two parts), rounded once: 3 at 1000. */
const log10: Float64Routine = (d, out, [x]) => {
  const f = d.module.f64x2;
  const [high, low] = d.logTwoParts(out, x!);
  const c = d.set(out, d.c(LOG10_E[0]));
  const p = d.set(out, f.mul(high.get(), c.get()));
  const rest = f.add(
    d.productError(out, high, c, p).get(),
    f.add(f.mul(high.get(), d.c(LOG10_E[1])), f.mul(low.get(), c.get())),
  );
  return logSpecials(d, out, x!, d.set(out, f.add(p.get(), rest)));
};

let loopCount = 0;
/** 2^k for integer lanes 0 ≤ k < 2200, as four factors (one alone would pass the largest exponent). */
function twoTo(d: SimdMathF64, out: Stmts, k: V): V[] {
  const i = d.module.i64x2;
  const quarter = d.set(out, i.shr_u(k.get(), d.module.i32.const(2)));
  const rest = i.sub(k.get(), i.mul(quarter.get(), d.ci(3n)));
  const scale = (e: Expr) => d.set(out, i.shl(i.add(e, d.ci(1023n)), d.module.i32.const(52)));
  const q = scale(quarter.get());
  return [q, q, q, scale(rest)];
}

/** The exponent of positive finite lanes as an integer (biased by 1023), subnormals' counted from their leading bit. */
function exponentOf(d: SimdMathF64, out: Stmts, v: V): V {
  const { module: m } = d;
  const tiny = d.set(out, m.f64x2.lt(v.get(), d.c(2 ** -1022)));
  const normal = m.v128.bitselect(m.f64x2.mul(v.get(), d.c(2 ** 54)), v.get(), tiny.get());
  const field = m.i64x2.shr_u(normal, m.i32.const(52));
  return d.set(out, m.i64x2.sub(field, m.v128.and(tiny.get(), d.ci(54n))));
}

/**
 * fmod of magnitudes, exact for every pair: while some lane's A ≥ B, r = r − q·B′ with B′ = B·2^s
 * (a multiple of B, so the remainder is unchanged) scaled to within 2^50 of r (exponents of subnormals
 * counted from their leading bit, so that B′ ≤ r and every pass makes progress), q = trunc(r/B′)
 * and q·B′ as an exact pair (Dekker), then one B′ added or taken away where r/B′'s rounding made q
 * one off. A pass takes 50 bits off the exponent gap: one pass below quotients of 2^50.
 */
function remainderMagnitude(d: SimdMathF64, out: Stmts, A: V, B: V): V {
  const { module: m } = d;
  const f = m.f64x2;
  const i = m.i64x2;
  const r = d.set(out, A.get());
  const finite = (v: Expr) => f.lt(v, d.c(Infinity));
  const live = () =>
    m.v128.and(m.v128.and(f.ge(r.get(), B.get()), finite(r.get())), m.v128.and(f.gt(B.get(), d.c(0)), finite(B.get())));
  const body: Stmts = [];
  const active = d.set(body, live());
  const gap = d.set(body, i.sub(i.sub(exponentOf(d, body, r).get(), exponentOf(d, body, B).get()), d.ci(50n)));
  const shift = d.set(body, m.v128.and(gap.get(), i.gt_s(gap.get(), d.ci(0n))));
  const scaled = twoTo(d, body, shift).reduce((acc, factor) => d.set(body, f.mul(acc.get(), factor.get())), B);
  const q = d.set(body, f.trunc(f.div(r.get(), scaled.get())));
  const p = d.set(body, f.mul(q.get(), scaled.get()));
  // Dekker's split overflows above 2^996: there the product's error is found on values scaled by 2^−128 (exactly).
  const down = d.select(body, d.c(2 ** -128), d.c(1), f.gt(r.get(), d.c(2 ** 990)));
  const scaledDown = d.set(body, f.mul(scaled.get(), down.get()));
  const pDown = d.set(body, f.mul(p.get(), down.get()));
  const error = f.div(d.productError(body, q, scaledDown, pDown).get(), down.get());
  let next = d.set(body, f.sub(f.sub(r.get(), p.get()), error));
  next = d.select(body, f.add(next.get(), scaled.get()), next.get(), f.lt(next.get(), d.c(0)));
  next = d.select(body, f.sub(next.get(), scaled.get()), next.get(), f.ge(next.get(), scaled.get()));
  body.push(m.local.set(r.index, m.v128.bitselect(next.get(), r.get(), active.get())));
  const label = `remainder_${loopCount++}`;
  out.push(
    m.block(`${label}_exit`, [
      m.loop(
        `${label}_loop`,
        m.block(null, [m.br(`${label}_exit`, m.i32.eqz(m.v128.any_true(live()))), ...body, m.br(`${label}_loop`)]),
      ),
    ]),
  );
  return r;
}

/** C's fmod: the sign of a; NaN where b is 0 or a infinite; a itself where b is infinite. */
const fmod: Float64Routine = (d, out, [a, b]) => {
  const f = d.module.f64x2;
  const A = d.set(out, d.abs(a!.get()));
  const B = d.set(out, d.abs(b!.get()));
  let r = remainderMagnitude(d, out, A, B);
  r = d.select(out, A.get(), r.get(), f.eq(B.get(), d.c(Infinity)));
  const undefinedAt = d.module.v128.or(
    d.module.v128.or(f.eq(B.get(), d.c(0)), f.eq(A.get(), d.c(Infinity))),
    f.ne(B.get(), B.get()),
  );
  r = d.select(out, d.c(NaN), r.get(), undefinedAt);
  return d.copySign(out, r.get(), a!.get());
};

/** Python's mod: fmod moved into b's half-line (r + b where the signs differ; a zero takes b's sign). */
const mod: Float64Routine = (d, out, [a, b]) => {
  const f = d.module.f64x2;
  const r = fmod(d, out, [a!, b!]);
  const differ = d.module.v128.and(
    f.ne(r.get(), d.c(0)),
    d.module.v128.xor(signBit(d, out, r).get(), signBit(d, out, b!).get()),
  );
  const moved = d.select(out, f.add(r.get(), b!.get()), r.get(), differ);
  return d.select(out, d.copySign(out, d.c(0), b!.get()).get(), moved.get(), f.eq(r.get(), d.c(0)));
};

/** The SIMD lowering of every declared primitive: a primitive missing here is a compile error. */
export const DECLARED_LOWERINGS: { readonly [K in PrimitiveOp]: Lowering } = {
  // false < true: a < b is !a & b, a > b is a & !b.
  eq: cmp(
    (fx, a, b) => fx.eq(a, b),
    (m, a, b) => m.v128.not(m.v128.xor(a, b)),
  ),
  ne: cmp(
    (fx, a, b) => fx.ne(a, b),
    (m, a, b) => m.v128.xor(a, b),
  ),
  lt: cmp(
    (fx, a, b) => fx.lt(a, b),
    (m, _a, b, notA) => m.v128.and(notA(), b),
  ),
  le: cmp(
    (fx, a, b) => fx.le(a, b),
    (m, _a, b, notA) => m.v128.or(notA(), b),
  ),
  gt: cmp(
    (fx, a, b) => fx.gt(a, b),
    (m, a, _b, _notA, notB) => m.v128.and(a, notB()),
  ),
  ge: cmp(
    (fx, a, b) => fx.ge(a, b),
    (m, a, _b, _notA, notB) => m.v128.or(a, notB()),
  ),
  and: (s, out, [a, b], _x, m, fx) =>
    mask(s.set(out, m.v128.and(asMask(s, out, a!, fx).v.get(), asMask(s, out, b!, fx).v.get()))),
  or: (s, out, [a, b], _x, m, fx) =>
    mask(s.set(out, m.v128.or(asMask(s, out, a!, fx).v.get(), asMask(s, out, b!, fx).v.get()))),
  not: (s, out, [a], _x, m, fx) => mask(s.set(out, m.v128.not(asMask(s, out, a!, fx).v.get()))),
  add: map2((fx, a, b) => fx.add(a, b)),
  sub: map2((fx, a, b) => fx.sub(a, b)),
  mul: map2((fx, a, b) => fx.mul(a, b)),
  div: map2((fx, a, b) => fx.div(a, b)),
  maximum: map2((fx, a, b) => fx.max(a, b)),
  minimum: map2((fx, a, b) => fx.min(a, b)),
  neg: (s, out, [a]) => float(s.set(out, s.neg(a!.v.get()))),
  exp: laneMath((s, out, x) => s.exp(out, x)),
  log: laneMath((s, out, x) => s.log(out, x)),
  log1p: laneMath((s, out, x) => s.log1p(out, x)),
  expm1: laneMath((s, out, x) => s.expm1(out, x)),
  sqrt: map1((fx, a) => fx.sqrt(a)),
  rsqrt: (s, out, [a], _x, _m, fx) => float(s.set(out, fx.div(s.c(1), fx.sqrt(a!.v.get())))),
  square: map1((fx, a) => fx.mul(a, a)),
  abs: (s, out, [a]) => float(s.set(out, s.abs(a!.v.get()))),
  sign: (s, out, [a], _x, _m, fx) => {
    const pos = s.select(out, s.c(1), s.c(0), fx.gt(a!.v.get(), s.c(0)));
    const both = s.select(out, s.c(-1), pos.get(), fx.lt(a!.v.get(), s.c(0)));
    return float(s.select(out, both.get(), a!.v.get(), fx.eq(a!.v.get(), a!.v.get())));
  },
  tanh: laneMath((s, out, x) => s.tanh(out, x)),
  sigmoid: laneMath((s, out, x) => s.sigmoid(out, x)),
  softplus: laneMath((s, out, x) => s.softplus(out, x)),
  relu: (s, out, [a], _x, _m, fx) => float(s.set(out, fx.max(a!.v.get(), s.c(0)))),
  selu: eluLike(() => SELU_ALPHA, SELU_SCALE),
  gelu: laneMath((s, out, x) => s.gelu(out, x)),
  erf: laneMath((s, out, x) => s.erf(out, x)),
  sin: laneMath((s, out, x) => s.sin(out, x)),
  cos: laneMath((s, out, x) => s.cos(out, x)),
  reciprocal: (s, out, [a], _x, _m, fx) => float(s.set(out, fx.div(s.c(1), a!.v.get()))),
  log1mexp: laneMath((s, out, x) => s.log1mexp(out, x)),
  floor: instruction((fx, a) => fx.floor(a)),
  ceil: instruction((fx, a) => fx.ceil(a)),
  trunc: instruction((fx, a) => fx.trunc(a)),
  round: instruction((fx, a) => fx.nearest(a)),
  atan: routine(atan),
  asin: routine(asin),
  acos: routine(acos),
  atan2: routine(atan2),
  sinh: routine(sinh),
  cosh: routine(cosh),
  asinh: routine(asinh),
  acosh: routine(acosh),
  atanh: routine(atanh),
  exp2: routine(exp2),
  log2: routine(log2),
  log10: routine(log10),
  fmod: routine(fmod),
  mod: routine(mod),
};
