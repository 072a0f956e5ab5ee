/**
 * Vectorized float64 math as wasm SIMD (f64x2) builders, accurate to a few float64 ulps: the float32
 * functions that need more than float32 in between (pow) compute here. Each function appends
 * statements to `out` and returns the local holding its result.
 */
import type { Expr } from './binaryen.js';
import type { FunctionEmitter, Local } from './emitter.js';
import { erfcScaled } from '../../runtime/reference/scalar-math.js';
import { chebyshevFit, logTwoParts } from './fit.js';
import { type ErfShape, LaneMath, type Float64Routine, type Stmts, type Trig } from './lane-math.js';
import { reduceHalfPiF64 } from './trig-reduction.js';
import { MAGIC, narrow, twoSum, widen } from './f64-lanes.js';

type V = Local;

/** 2^52 + 2^51: adding it to a float64 integer puts that integer in the low mantissa bits (and back). */
const MAGIC_BITS = 0x4338000000000000n;
const LN2_HI = 6.9314718036912381649e-1; // fdlibm's split: n · LN2_HI is exact for |n| < 2^11
const LN2_LO = 1.90821492927058770002e-10;
/** The centres the double-double log reduces the mantissa to (near 2^(−1/3), 1, 2^(1/3)), their logs and the boundaries between them. */
const LOG_CENTERS = {
  low: 203 / 256,
  high: 323 / 256,
  logLow: logTwoParts(203, 256),
  logHigh: logTwoParts(323, 256),
  lowBoundary: Math.sqrt(203 / 256),
  highBoundary: Math.sqrt(323 / 256),
};
const factorial = (k: number): number => (k <= 1 ? 1 : k * factorial(k - 1));

/**
 * erf(x)/x = 2/√π·Σ (−u)^n/(n!(2n + 1)) in u = x² on [0, 1], to n = 17 (the next term is 4e-18 of
 * the sum); erfc(z)·e^(z²) fitted once per process from the reference's continued fraction, degree 20
 * on six pieces doubling from 0.5 (about 2e-15 each), up to 27, where erfc underflows.
 */
let erfShape64: ErfShape | undefined;
function erfShape(): ErfShape {
  const bounds = [0.5, 1, 2, 4, 8, 16, 27];
  return (erfShape64 ??= {
    small: {
      lo: -1,
      hi: 1,
      coeffs: Array.from(
        { length: 18 },
        (_, i) => (((17 - i) % 2 ? -1 : 1) * (2 / Math.sqrt(Math.PI))) / (factorial(17 - i) * (2 * (17 - i) + 1)),
      ),
    },
    tail: bounds.slice(1).map((hi, i) => chebyshevFit(erfcScaled, bounds[i]!, hi, 20)),
    tailEnd: 27,
    geluCap: 40,
    nearOne: Array.from({ length: 7 }, (_, i) => 1 / factorial(6 - i)),
  });
}
/**
 * Taylor coefficients on |r| ≤ π/4, highest first: sin r = r + r·z·S(z) and cos r = 1 − z/2 + z²·C(z)
 * with z = r², to r^17 and r^18 (the next terms are below 1e-19 of the result).
 */
const SIN_TAYLOR = Array.from({ length: 8 }, (_, i) => (i % 2 ? -1 : 1) / factorial(17 - 2 * i));
const COS_TAYLOR = Array.from({ length: 8 }, (_, i) => (i % 2 ? 1 : -1) / factorial(18 - 2 * i));

/** The float64 builders (two lanes). */
export class SimdMathF64 extends LaneMath {
  constructor(e: FunctionEmitter) {
    super(e, e.m.f64x2 as never);
  }
  c(value: number): Expr {
    return this.e.f64x2Const(value).get();
  }
  /** f on these lanes as they are: they are float64 already. */
  viaFloat64(out: Stmts, xs: readonly V[], f: Float64Routine): V {
    return f(this, out, xs);
  }
  ci(value: bigint): Expr {
    return this.e.i64x2Const(value).get();
  }
  protected signMask(): Expr {
    return this.ci(-0x8000000000000000n);
  }

  /** i64 lanes (|k| < 2^51) as float64 lanes. */
  private toFloat(k: Expr): Expr {
    return this.m.f64x2.sub(this.m.i64x2.add(k, this.ci(MAGIC_BITS)), this.c(MAGIC));
  }

  /** e^x: n = round(x / ln 2), a two-part reduction, Taylor to degree 13 on |r| ≤ ln2/2, 2^n as two factors. */
  exp(out: Stmts, x: V): V {
    return this.expOfSum(out, x);
  }

  /** e^(x + low) where `low` is below an ulp of x (a double-double's low part), joining the reduced argument. */
  expOfSum(out: Stmts, x: V, low?: V): V {
    const { m } = this;
    const xc = this.set(out, this.atLeast(this.atMost(x.get(), 709.8), -745.2));
    // n = round(x / ln 2) by adding 1.5·2^52: the sum's low mantissa bits are n as an integer.
    const shifted = this.set(out, this.madd(xc.get(), this.c(Math.LOG2E), this.c(MAGIC)));
    const n = this.set(out, m.f64x2.sub(shifted.get(), this.c(MAGIC)));
    let r = this.set(
      out,
      m.f64x2.sub(m.f64x2.sub(xc.get(), m.f64x2.mul(n.get(), this.c(LN2_HI))), m.f64x2.mul(n.get(), this.c(LN2_LO))),
    );
    // A clamped x over- or underflows whatever its low part says.
    if (low) r = this.set(out, m.f64x2.add(r.get(), m.v128.and(low.get(), m.f64x2.eq(xc.get(), x.get()))));
    const p = this.poly(
      out,
      r,
      Array.from({ length: 14 }, (_, i) => 1 / factorial(13 - i)),
    );
    const ni = this.set(out, m.i64x2.sub(shifted.get(), this.ci(MAGIC_BITS)));
    const n1 = this.set(out, m.i64x2.shr_s(ni.get(), m.i32.const(1)));
    const n2 = this.set(out, m.i64x2.sub(ni.get(), n1.get()));
    const scale = (k: V) => m.i64x2.shl(m.i64x2.add(k.get(), this.ci(1023n)), m.i32.const(52));
    return this.set(out, m.f64x2.mul(m.f64x2.mul(p.get(), scale(n1)), scale(n2)));
  }

  /** Veltkamp's split: a = high + low exactly, each with at most 26 significant bits (|a| < 2^996). */
  split(out: Stmts, a: V): [V, V] {
    const { m } = this;
    const c = this.set(out, m.f64x2.mul(a.get(), this.c(134217729)));
    const high = this.set(out, m.f64x2.sub(c.get(), m.f64x2.sub(c.get(), a.get())));
    return [high, this.set(out, m.f64x2.sub(a.get(), high.get()))];
  }

  /** The rounding error of p = a·b (a·b − p exactly, Dekker's product without a fused multiply-add). */
  productError(out: Stmts, a: V, b: V, p: V): V {
    const { m } = this;
    const [ah, al] = this.split(out, a);
    const [bh, bl] = this.split(out, b);
    const partial = m.f64x2.add(
      m.f64x2.add(m.f64x2.sub(m.f64x2.mul(ah.get(), bh.get()), p.get()), m.f64x2.mul(ah.get(), bl.get())),
      m.f64x2.mul(al.get(), bh.get()),
    );
    return this.set(out, m.f64x2.add(partial, m.f64x2.mul(al.get(), bl.get())));
  }

  /** a + b = sum + error exactly (Knuth's two-sum). */
  private twoSum(out: Stmts, a: Expr, b: Expr): [V, V] {
    return twoSum(this.e, out, this.set(out, a), this.set(out, b));
  }

  /**
   * |x|^y = e^(y·log|x|) with log|x| and the product carried as double-doubles: y·log|x| reaches
   * ±745, where one float64 rounding (1e-13) would already miss 1e-14 relative in the result.
   */
  protected powMagnitude(out: Stmts, ax: V, y: V): V {
    const { m } = this;
    const [lh, ll] = this.logTwoParts(out, ax);
    const logHigh = this.select(
      out,
      this.c(-Infinity),
      this.select(out, this.c(Infinity), lh.get(), m.f64x2.eq(ax.get(), this.c(Infinity))).get(),
      m.f64x2.eq(ax.get(), this.c(0)),
    );
    const p = this.set(out, m.f64x2.mul(y.get(), logHigh.get()));
    // Beyond 2^64 (where the split would overflow), y·log|x| over- or underflows unless log|x| is 0:
    // the error term then only needs to be finite.
    const yc = this.set(out, this.atLeast(this.atMost(y.get(), 2 ** 64), -(2 ** 64)));
    const low = this.set(out, m.f64x2.add(this.productError(out, yc, lh, p).get(), m.f64x2.mul(yc.get(), ll.get())));
    // Infinite or NaN products leave a NaN error term, which must not turn an overflow or 0 into NaN.
    return this.expOfSum(out, p, this.select(out, low.get(), this.c(0), m.f64x2.eq(low.get(), low.get())));
  }

  /**
   * log x as high + low (about 2^−100 relative) for positive finite x: x = 2^e·m with m in [√½, √2),
   * m = c·(1 + s)/(1 − s) for the nearest of c = 203/256, 1, 323/256 (|s| ≤ 0.058, c = 1 around
   * x = 1 so that nothing cancels there), s with its division's error, log m = log c + 2s + 2s³/3 +
   * … to s^15, log c and e·ln 2 in two parts each. With the series' sum below 1.3e-4 its rounding
   * stays below 1e-17 of y·log x.
   */
  logTwoParts(out: Stmts, x: V): [V, V] {
    const { m } = this;
    const { e: ef, m: mm } = this.exponentAndMantissa(out, x);
    const below = this.set(out, m.f64x2.lt(mm.get(), this.c(LOG_CENTERS.lowBoundary)));
    const above = this.set(out, m.f64x2.ge(mm.get(), this.c(LOG_CENTERS.highBoundary)));
    const pick = (low: number, middle: number, high: number) =>
      this.select(out, this.c(low), this.select(out, this.c(high), this.c(middle), above.get()).get(), below.get());
    const center = pick(LOG_CENTERS.low, 1, LOG_CENTERS.high);
    const logCenterHigh = pick(LOG_CENTERS.logLow[0], 0, LOG_CENTERS.logHigh[0]);
    const logCenterLow = pick(LOG_CENTERS.logLow[1], 0, LOG_CENTERS.logHigh[1]);
    // m − c is exact (m is within a factor 2 of c); s = (m − c)/(m + c) with m + c's rounding kept.
    const f = this.set(out, m.f64x2.sub(mm.get(), center.get()));
    const [d, dl] = this.twoSum(out, mm.get(), center.get());
    const s = this.set(out, m.f64x2.div(f.get(), d.get()));
    // f − s·(d + dl), the product's rounding error included: s's residual, divided again.
    const sd = this.set(out, m.f64x2.mul(s.get(), d.get()));
    const residual = m.f64x2.sub(
      m.f64x2.sub(m.f64x2.sub(f.get(), sd.get()), this.productError(out, s, d, sd).get()),
      m.f64x2.mul(s.get(), dl.get()),
    );
    const sl = this.set(out, m.f64x2.div(residual, d.get()));
    const s2 = this.set(out, m.f64x2.mul(s.get(), s.get()));
    const tail = this.poly(
      out,
      s2,
      [15, 13, 11, 9, 7, 5, 3].map((k) => 2 / k),
    );
    // 2s³/3 + … from s alone, plus its derivative's share of sl (2s²·sl), plus 2sl, log c's and ln 2's low parts.
    const small = m.f64x2.add(
      m.f64x2.add(
        m.f64x2.mul(m.f64x2.mul(s.get(), s2.get()), tail.get()),
        m.f64x2.mul(m.f64x2.mul(s2.get(), sl.get()), this.c(2)),
      ),
      m.f64x2.add(
        m.f64x2.add(m.f64x2.mul(sl.get(), this.c(2)), m.f64x2.mul(ef.get(), this.c(LN2_LO))),
        logCenterLow.get(),
      ),
    );
    // e·LN2_HI is exact (LN2_HI has 32 significant bits), and so is its sum's error with log c's high part.
    const [h1, error1] = this.twoSum(out, m.f64x2.mul(ef.get(), this.c(LN2_HI)), logCenterHigh.get());
    const [high, error2] = this.twoSum(out, h1.get(), m.f64x2.mul(s.get(), this.c(2)));
    const lowSum = this.set(out, m.f64x2.add(m.f64x2.add(error1.get(), error2.get()), small));
    const sum = this.set(out, m.f64x2.add(high.get(), lowSum.get()));
    return [sum, this.set(out, m.f64x2.sub(lowSum.get(), m.f64x2.sub(sum.get(), high.get())))];
  }

  /** log(x): −Inf at 0, +Inf at +Inf, NaN below 0 and for NaN. */
  log(out: Stmts, x: V): V {
    const { m } = this;
    let r = this.logPositive(out, x);
    r = this.select(out, this.c(-Infinity), r.get(), m.f64x2.eq(x.get(), this.c(0)));
    r = this.select(out, this.c(Infinity), r.get(), m.f64x2.eq(x.get(), this.c(Infinity)));
    return this.select(out, r.get(), this.c(NaN), m.f64x2.ge(x.get(), this.c(0)));
  }

  /** e^x − 1: the Taylor series to degree 16 below |x| = ½ (no cancellation), e^x − 1 above. */
  expm1(out: Stmts, x: V): V {
    const { m } = this;
    const p = this.poly(
      out,
      x,
      Array.from({ length: 16 }, (_, i) => 1 / factorial(16 - i)),
    );
    const small = this.set(out, m.f64x2.mul(p.get(), x.get()));
    const ex = this.exp(out, x);
    return this.select(out, small.get(), m.f64x2.sub(ex.get(), this.c(1)), m.f64x2.lt(this.abs(x.get()), this.c(0.5)));
  }

  /** tanh |x| = t/(t + 2) with t = expm1(2|x|) (|x| capped at 20, where tanh is 1), x's sign copied. */
  tanh(out: Stmts, x: V): V {
    const { m } = this;
    const a = this.set(out, this.atMost(this.abs(x.get()), 20));
    const t = this.expm1(out, this.set(out, m.f64x2.add(a.get(), a.get())));
    const r = this.set(out, m.f64x2.div(t.get(), m.f64x2.add(t.get(), this.c(2))));
    return this.copySign(out, r.get(), x.get());
  }

  protected erfShape(): ErfShape {
    return erfShape();
  }
  protected trig(): Trig {
    return {
      reduce: (out, ax) => reduceHalfPiF64(this.e, out, ax),
      sin: SIN_TAYLOR,
      cos: COS_TAYLOR,
      ints: this.m.i64x2,
      int: (c) => this.ci(BigInt(c)),
      signBit: 63,
    };
  }
  /** a with its low 27 mantissa bits cleared: its square is exact. */
  protected squareHead(a: V): Expr {
    return this.m.v128.and(a.get(), this.ci(-(1n << 27n)));
  }

  /**
   * log(x) for positive finite x: x = 2^e · m with m in [√½, √2), log m = 2·atanh(s) with
   * s = (m − 1)/(m + 1), the odd series to s^19.
   */
  logPositive(out: Stmts, x: V): V {
    const { m } = this;
    const { e: ef, m: mm } = this.exponentAndMantissa(out, x);
    const s = this.set(out, m.f64x2.div(m.f64x2.sub(mm.get(), this.c(1)), m.f64x2.add(mm.get(), this.c(1))));
    const s2 = this.set(out, m.f64x2.mul(s.get(), s.get()));
    const p = this.poly(
      out,
      s2,
      [19, 17, 15, 13, 11, 9, 7, 5, 3].map((k) => 2 / k),
    );
    const logM = this.set(
      out,
      m.f64x2.add(m.f64x2.mul(s.get(), this.c(2)), m.f64x2.mul(m.f64x2.mul(s.get(), s2.get()), p.get())),
    );
    return this.set(
      out,
      m.f64x2.add(
        m.f64x2.add(m.f64x2.mul(ef.get(), this.c(LN2_LO)), logM.get()),
        m.f64x2.mul(ef.get(), this.c(LN2_HI)),
      ),
    );
  }

  /** x = 2^e · m with m in [√½, √2), e as a float64, for positive finite x (subnormals first scaled into the normal range). */
  exponentAndMantissa(out: Stmts, x: V): { e: V; m: V } {
    const { m } = this;
    const tiny = this.set(out, m.f64x2.lt(x.get(), this.c(2.2250738585072014e-308)));
    const xs = this.set(out, m.v128.bitselect(m.f64x2.mul(x.get(), this.c(2 ** 54)), x.get(), tiny.get()));
    const bias = this.set(out, m.v128.bitselect(this.ci(1023n + 54n), this.ci(1023n), tiny.get()));
    const e0 = this.set(out, m.i64x2.sub(m.i64x2.shr_u(xs.get(), m.i32.const(52)), bias.get()));
    const mant = this.set(
      out,
      m.v128.or(m.v128.and(xs.get(), this.ci(0x000fffffffffffffn)), this.ci(0x3ff0000000000000n)),
    );
    const big = this.set(out, m.f64x2.gt(mant.get(), this.c(Math.SQRT2)));
    const mm = this.set(out, m.v128.bitselect(m.f64x2.mul(mant.get(), this.c(0.5)), mant.get(), big.get()));
    return { e: this.set(out, this.toFloat(m.i64x2.sub(e0.get(), big.get()))), m: mm };
  }
}
