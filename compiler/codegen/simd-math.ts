/**
 * Vectorized float32 math as wasm SIMD (f32x4) builders: range reduction plus polynomials
 * (Cephes coefficients), with NaN, ±Inf, ±0 and subnormals handled explicitly. Each function
 * appends statements to `out` and returns the local holding its result.
 */
import { erf, erfcScaled } from '../../runtime/reference/scalar-math.js';
import type { Expr } from './binaryen.js';
import type { FunctionEmitter, Local } from './emitter.js';
import { type ErfShape, LaneMath, type Float64Routine, type Stmts, type Trig } from './lane-math.js';
import { chebyshevFit } from './fit.js';
import { narrow, widen } from './f64-lanes.js';
import { SimdMathF64 } from './simd-math-f64.js';
import { reduceHalfPi } from './trig-reduction.js';

export type { Stmts };

type V = Local;

const LOG2E = 1.4426950408889634;
const LN2_HI = 0.693359375;
const LN2_LO = -2.1219444e-4;
/** 1.5·2^23 and its bit pattern: x + 1.5·2^23 rounds x to an integer held in the low mantissa bits (|x| < 2^22). */
const ROUNDING_SHIFT = 12582912;
const ROUNDING_SHIFT_BITS = 0x4b400000;
const ONE_BITS = 0x3f800000;
/** √½ rounded down to float32, as bits. */
const SQRT_HALF_BITS = 0x3f3504f3;

/**
 * Fitted once per process from the reference's float64 functions. erf(x) = x·P(x²) below 1;
 * erfc(z) = e^(−z²)·G(z) from 0.5 up, G smooth and slowly varying (≈ 1/(z√π)), in three pieces.
 */
let erfShape32: ErfShape | undefined;
function erfShape(): ErfShape {
  return (erfShape32 ??= {
    small: chebyshevFit((u) => (u === 0 ? 2 / Math.sqrt(Math.PI) : erf(Math.sqrt(u)) / Math.sqrt(u)), 0, 1, 7),
    tail: [
      [0.5, 2],
      [2, 4.5],
      [4.5, 10],
    ].map(([lo, hi]) => chebyshevFit(erfcScaled, lo!, hi!, 11)),
    tailEnd: 10,
    geluCap: 20,
    nearOne: [1 / 120, 1 / 24, 1 / 6, 1 / 2, 1, 1],
  });
}
/** Cephes sinf/cosf minimax coefficients on [−π/4, π/4]. */
const SIN_COEFFS = [-1.9515295891e-4, 8.3321608736e-3, -1.6666654611e-1];
const COS_COEFFS = [2.443315711809948e-5, -1.388731625493765e-3, 4.166664568298827e-2];
const SIGN_BIT = -0x80000000;

/** f32x4.relaxed_madd(a, b, c) = a * b + c; binaryen.js has no helper for it, only the C API. */
export function relaxedMadd(e: FunctionEmitter, a: Expr, b: Expr, c: Expr): Expr {
  return relaxedTernary(e, 'RelaxedMaddVecF32x4', a, b, c);
}

/** A relaxed-SIMD three-operand instruction (binaryen.js has helpers for none of them, only the C API). */
function relaxedTernary(
  e: FunctionEmitter,
  op: 'RelaxedMaddVecF32x4' | 'RelaxedLaneselectI32x4',
  a: Expr,
  b: Expr,
  c: Expr,
): Expr {
  const bin = e.b as unknown as {
    _BinaryenSIMDTernary(module: number, op: number, a: Expr, b: Expr, c: Expr): Expr;
  } & Record<typeof op, number>;
  return bin._BinaryenSIMDTernary((e.m as unknown as { ptr: number }).ptr, bin[op], a, b, c);
}

/** The float32 builders (four lanes). */
export class SimdMath extends LaneMath {
  /**
   * With `relaxed` (relaxed SIMD), multiply-adds are f32x4.relaxed_madd (one rounding instead of two)
   * and selects relaxed_laneselect.
   */
  constructor(
    e: FunctionEmitter,
    private readonly relaxed = false,
  ) {
    super(e, e.m.f32x4 as never);
  }
  c(value: number): Expr {
    return this.e.f32x4Const(value).get();
  }
  /** f on the float32 lanes widened to two pairs of float64 lanes, its results rounded once back to float32. */
  viaFloat64(out: Stmts, xs: readonly V[], f: Float64Routine): V {
    const d = new SimdMathF64(this.e);
    const halves = xs.map((x) => widen(this.e, out, x.get(), x.get()));
    const low = f(
      d,
      out,
      halves.map((h) => h[0]),
    );
    const high = f(
      d,
      out,
      halves.map((h) => h[1]),
    );
    return this.set(out, narrow(this.e, low.get(), high.get()));
  }
  ci(value: number): Expr {
    return this.e.i32x4Const(value).get();
  }
  protected signMask(): Expr {
    return this.ci(SIGN_BIT);
  }
  /** With relaxed SIMD one blend instruction (the mask's lanes are all ones or all zeros, so it is exact). */
  override select(out: Stmts, ifTrue: Expr, ifFalse: Expr, mask: Expr): V {
    return this.relaxed
      ? this.set(out, relaxedTernary(this.e, 'RelaxedLaneselectI32x4', ifTrue, ifFalse, mask))
      : super.select(out, ifTrue, ifFalse, mask);
  }
  /** a * b + c, one rounding with relaxed SIMD. */
  override madd(a: Expr, b: Expr, c: Expr): Expr {
    return this.relaxed ? relaxedMadd(this.e, a, b, c) : super.madd(a, b, c);
  }

  exp(out: Stmts, x: V): V {
    const { m } = this;
    const { y, n } = this.expReduced(out, this.set(out, this.atLeast(this.atMost(x.get(), 89), -104)));
    // 2^n as two factors, so that n down to -150 (subnormal results) and up to 128 (overflow) both work.
    const n1 = this.set(out, m.i32x4.shr_s(n.get(), m.i32.const(1)));
    const n2 = this.set(out, m.i32x4.sub(n.get(), n1.get()));
    return this.set(out, m.f32x4.mul(m.f32x4.mul(y.get(), this.powerOfTwo(n1)), this.powerOfTwo(n2)));
  }

  /** e^x for x in [−87, 88] or NaN (the caller's clamp): results are normal, so 2^n is one factor. */
  private expOfNormal(out: Stmts, x: V): V {
    const { y, n } = this.expReduced(out, x);
    return this.set(out, this.m.f32x4.mul(y.get(), this.powerOfTwo(n)));
  }

  /**
   * e^x = 2^n · y: n = round(x / ln 2) by adding 1.5·2^23 (the sum's low mantissa bits are n as an
   * integer), a two-part reduction by n·ln 2 and Cephes' degree-5 polynomial for y.
   */
  private expReduced(out: Stmts, x: V): { y: V; n: V } {
    const { m } = this;
    const shifted = this.set(out, this.madd(x.get(), this.c(LOG2E), this.c(ROUNDING_SHIFT)));
    const n = this.set(out, m.f32x4.sub(shifted.get(), this.c(ROUNDING_SHIFT)));
    const r = this.set(out, this.madd(n.get(), this.c(-LN2_LO), this.madd(n.get(), this.c(-LN2_HI), x.get())));
    const z = this.set(out, m.f32x4.mul(r.get(), r.get()));
    const p = this.poly(
      out,
      r,
      [1.98756915e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1],
    );
    const y = this.set(out, m.f32x4.add(this.madd(p.get(), z.get(), r.get()), this.c(1)));
    return { y, n: this.set(out, m.i32x4.sub(shifted.get(), this.ci(ROUNDING_SHIFT_BITS))) };
  }

  /** 2^k for integer lanes k in [−126, 127], built in the exponent bits. */
  private powerOfTwo(k: V): Expr {
    return this.m.i32x4.shl(this.m.i32x4.add(k.get(), this.ci(127)), this.m.i32.const(23));
  }

  log(out: Stmts, x: V): V {
    const { m } = this;
    // Subnormals first scaled into the normal range (2^23), the exponent corrected by 23.
    const tiny = this.set(out, m.f32x4.lt(x.get(), this.c(1.17549435e-38)));
    const xs = this.select(out, m.f32x4.mul(x.get(), this.c(8388608)), x.get(), tiny.get());
    let r = this.logOfNormal(out, xs, m.v128.and(tiny.get(), this.ci(23)));
    r = this.select(out, this.c(-Infinity), r.get(), m.f32x4.eq(x.get(), this.c(0)));
    r = this.select(out, this.c(Infinity), r.get(), m.f32x4.eq(x.get(), this.c(Infinity)));
    // Negative inputs and NaN give NaN (x >= 0 is false for both).
    return this.select(out, r.get(), this.c(NaN), m.f32x4.ge(x.get(), this.c(0)));
  }

  /**
   * log x for a positive normal x whose exponent is `exponentCorrection` too high: x = 2^e·m with
   * m in [√½, √2) straight from the bits (offsetting them by √½'s bits moves the exponent boundary
   * there), then Cephes' degree-8 polynomial in m − 1.
   */
  private logOfNormal(out: Stmts, x: V, exponentCorrection?: Expr): V {
    const { m } = this;
    const shifted = this.set(out, m.i32x4.add(x.get(), this.ci(ONE_BITS - SQRT_HALF_BITS)));
    let exponent = m.i32x4.sub(m.i32x4.shr_u(shifted.get(), m.i32.const(23)), this.ci(127));
    if (exponentCorrection) exponent = m.i32x4.sub(exponent, exponentCorrection);
    const e = this.set(out, m.f32x4.convert_i32x4_s(exponent));
    const mantissa = m.i32x4.add(m.v128.and(shifted.get(), this.ci(0x007fffff)), this.ci(SQRT_HALF_BITS));
    const f = this.set(out, m.f32x4.sub(mantissa, this.c(1)));
    const z = this.set(out, m.f32x4.mul(f.get(), f.get()));
    const p = this.poly(
      out,
      f,
      [
        7.0376836292e-2, -1.151461031e-1, 1.167699874e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1,
        2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1,
      ],
    );
    let y = this.set(out, m.f32x4.mul(m.f32x4.mul(f.get(), z.get()), p.get()));
    y = this.set(out, this.madd(e.get(), this.c(LN2_LO), y.get()));
    y = this.set(out, this.madd(z.get(), this.c(-0.5), y.get()));
    return this.set(out, this.madd(e.get(), this.c(LN2_HI), m.f32x4.add(f.get(), y.get())));
  }

  /** log(1 + x) for x in [0, 1] (NaN may give any value): 1 + x is normal and finite, no special cases. */
  override log1pOfUnit(out: Stmts, x: V): V {
    const u = this.onePlus(out, x);
    const lu = this.logOfNormal(out, u);
    return this.set(
      out,
      this.m.f32x4.sub(
        lu.get(),
        this.m.f32x4.mul(
          this.m.f32x4.sub(this.m.f32x4.sub(u.get(), this.c(1)), x.get()),
          this.reciprocal(out, u).get(),
        ),
      ),
    );
  }

  /** e^x - 1: a Taylor polynomial below |x| = 0.5 (no cancellation), exp(x) - 1 above. */
  expm1(out: Stmts, x: V): V {
    const { m } = this;
    const inv = (k: number) => 1 / [1, 1, 2, 6, 24, 120, 720, 5040, 40320][k]!;
    const p = this.poly(out, x, [inv(8), inv(7), inv(6), inv(5), inv(4), inv(3), inv(2), 1]);
    const small = this.set(out, m.f32x4.mul(p.get(), x.get()));
    const ex = this.exp(out, x);
    const large = this.set(out, m.f32x4.sub(ex.get(), this.c(1)));
    return this.select(out, small.get(), large.get(), m.f32x4.lt(this.abs(x.get()), this.c(0.5)));
  }

  tanh(out: Stmts, x: V): V {
    const { m } = this;
    const z = this.set(out, m.f32x4.mul(x.get(), x.get()));
    const p = this.poly(
      out,
      z,
      [-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1, -3.33332819422e-1],
    );
    const small = this.set(out, this.madd(m.f32x4.mul(p.get(), z.get()), x.get(), x.get()));
    // tanh is 1 in float32 from |x| = 9.01 on: 2|x| capped at 40 keeps e^(2|x|) normal.
    const twoA = this.set(out, this.atMost(m.f32x4.mul(this.abs(x.get()), this.c(2)), 40));
    const ex = this.expOfNormal(out, twoA);
    const t = this.set(out, m.f32x4.sub(this.c(1), m.f32x4.div(this.c(2), m.f32x4.add(ex.get(), this.c(1)))));
    const r = this.select(out, small.get(), t.get(), m.f32x4.lt(this.abs(x.get()), this.c(0.625)));
    // x's sign on both branches: t is |tanh x|, and the polynomial gives +0 at x = −0 ((−0)·(−0) + (−0)).
    return this.copySign(out, r.get(), x.get());
  }

  protected erfShape(): ErfShape {
    return erfShape();
  }
  protected trig(): Trig {
    return {
      reduce: (out, ax) => reduceHalfPi(this.e, out, ax),
      sin: SIN_COEFFS,
      cos: COS_COEFFS,
      ints: this.m.i32x4,
      int: (c) => this.ci(c),
      signBit: 31,
    };
  }
  /** a with its low 12 mantissa bits cleared: its square is exact in float32. */
  protected squareHead(a: V): Expr {
    return this.m.v128.and(a.get(), this.ci(-0x1000));
  }

  /** |x|^y as e^(y·log|x|) in float64 lanes (f64x2 log and exp to a few float64 ulps), rounded once to float32. */
  protected powMagnitude(out: Stmts, ax: V, y: V): V {
    const { m } = this;
    const d = new SimdMathF64(this.e);
    const [ax0, ax1] = widen(this.e, out, ax.get(), ax.get());
    const [y0, y1] = widen(this.e, out, y.get(), y.get());
    const half = (a: V, b: V) => {
      const l = d.logPositive(out, a);
      let lx = d.set(out, m.v128.bitselect(d.c(-Infinity), l.get(), m.f64x2.eq(a.get(), d.c(0))));
      lx = d.set(out, m.v128.bitselect(d.c(Infinity), lx.get(), m.f64x2.eq(a.get(), d.c(Infinity))));
      return d.exp(out, d.set(out, m.f64x2.mul(b.get(), lx.get())));
    };
    return this.set(out, narrow(this.e, half(ax0, y0).get(), half(ax1, y1).get()));
  }
}
