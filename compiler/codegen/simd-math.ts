/**
 * Vectorized float32 math as wasm SIMD (f32x4) builders: range reduction plus polynomials
 * (Cephes coefficients), with NaN, ±Inf, ±0 and subnormals handled explicitly. Each function
 * appends statements to `out` and returns the local holding its result.
 */
import type { Expr } from './binaryen.js';
import type { FunctionEmitter, Local } from './emitter.js';

export type Stmts = Expr[];
type V = Local;

const LOG2E = 1.4426950408889634;
const LN2_HI = 0.693359375;
const LN2_LO = -2.12194440e-4;

/** f32x4.relaxed_madd(a, b, c) = a * b + c; binaryen.js has no helper for it, only the C API. */
export function relaxedMadd(e: FunctionEmitter, a: Expr, b: Expr, c: Expr): Expr {
  const bin = e.b as unknown as { _BinaryenSIMDTernary(module: number, op: number, a: Expr, b: Expr, c: Expr): Expr; RelaxedMaddVecF32x4: number };
  return bin._BinaryenSIMDTernary((e.m as unknown as { ptr: number }).ptr, bin.RelaxedMaddVecF32x4, a, b, c);
}

/** Shorthands over one emitter. */
export class SimdMath {
  /** With `fma`, polynomial steps use f32x4.relaxed_madd (one rounding instead of two). */
  constructor(private readonly e: FunctionEmitter, private readonly fma = false) {}
  private get m() {
    return this.e.m;
  }
  private get v128() {
    return this.e.b.v128;
  }
  set(out: Stmts, value: Expr): V {
    return this.e.let(out, this.v128, value);
  }
  c(value: number): Expr {
    return this.e.f32x4Const(value).get();
  }
  ci(value: number): Expr {
    return this.e.i32x4Const(value).get();
  }
  /** Horner evaluation of coeffs[0]*x^n + … + coeffs[n]. */
  poly(out: Stmts, x: V, coeffs: readonly number[]): V {
    let acc = this.set(out, this.c(coeffs[0]!));
    for (const k of coeffs.slice(1)) acc = this.set(out, this.madd(acc.get(), x.get(), this.c(k)));
    return acc;
  }
  /** a * b + c. */
  madd(a: Expr, b: Expr, c: Expr): Expr {
    return this.fma ? relaxedMadd(this.e, a, b, c) : this.m.f32x4.add(this.m.f32x4.mul(a, b), c);
  }

  select(out: Stmts, ifTrue: Expr, ifFalse: Expr, mask: Expr): V {
    return this.set(out, this.m.v128.bitselect(ifTrue, ifFalse, mask));
  }

  exp(out: Stmts, x: V): V {
    const { m } = this;
    const xc = this.set(out, m.f32x4.max(m.f32x4.min(x.get(), this.c(89)), this.c(-104)));
    const n = this.set(out, m.f32x4.nearest(m.f32x4.mul(xc.get(), this.c(LOG2E))));
    const r = this.set(out, m.f32x4.sub(m.f32x4.sub(xc.get(), m.f32x4.mul(n.get(), this.c(LN2_HI))), m.f32x4.mul(n.get(), this.c(LN2_LO))));
    const z = this.set(out, m.f32x4.mul(r.get(), r.get()));
    const p = this.poly(out, r, [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1]);
    const y = this.set(out, m.f32x4.add(m.f32x4.add(m.f32x4.mul(p.get(), z.get()), r.get()), this.c(1)));
    // 2^n as two factors, so that n down to -150 (subnormal results) and up to 128 (overflow) both work.
    const ni = this.set(out, m.i32x4.trunc_sat_f32x4_s(n.get()));
    const n1 = this.set(out, m.i32x4.shr_s(ni.get(), m.i32.const(1)));
    const n2 = this.set(out, m.i32x4.sub(ni.get(), n1.get()));
    const scale = (k: V) => m.i32x4.shl(m.i32x4.add(k.get(), this.ci(127)), m.i32.const(23));
    return this.set(out, m.f32x4.mul(m.f32x4.mul(y.get(), scale(n1)), scale(n2)));
  }

  log(out: Stmts, x: V): V {
    const { m } = this;
    const tiny = this.set(out, m.f32x4.lt(x.get(), this.c(1.17549435e-38)));
    const xs = this.select(out, m.f32x4.mul(x.get(), this.c(8388608)), x.get(), tiny.get());
    const bias = this.select(out, this.ci(127 + 23), this.ci(127), tiny.get());
    const e0 = this.set(out, m.i32x4.sub(m.v128.and(m.i32x4.shr_u(xs.get(), m.i32.const(23)), this.ci(0xff)), bias.get()));
    const mant = this.set(out, m.v128.or(m.v128.and(xs.get(), this.ci(0x007fffff)), this.ci(0x3f800000)));
    const big = this.set(out, m.f32x4.gt(mant.get(), this.c(Math.SQRT2)));
    const mm = this.select(out, m.f32x4.mul(mant.get(), this.c(0.5)), mant.get(), big.get());
    const e = this.set(out, m.f32x4.convert_i32x4_s(m.i32x4.sub(e0.get(), big.get())));
    const f = this.set(out, m.f32x4.sub(mm.get(), this.c(1)));
    const z = this.set(out, m.f32x4.mul(f.get(), f.get()));
    const p = this.poly(out, f, [7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1]);
    let y = this.set(out, m.f32x4.mul(m.f32x4.mul(f.get(), z.get()), p.get()));
    y = this.set(out, m.f32x4.add(y.get(), m.f32x4.mul(e.get(), this.c(LN2_LO))));
    y = this.set(out, m.f32x4.sub(y.get(), m.f32x4.mul(z.get(), this.c(0.5))));
    let r = this.set(out, m.f32x4.add(m.f32x4.add(f.get(), y.get()), m.f32x4.mul(e.get(), this.c(LN2_HI))));
    r = this.select(out, this.c(-Infinity), r.get(), m.f32x4.eq(x.get(), this.c(0)));
    r = this.select(out, this.c(Infinity), r.get(), m.f32x4.eq(x.get(), this.c(Infinity)));
    // Negative inputs and NaN give NaN (x >= 0 is false for both).
    return this.select(out, r.get(), this.c(NaN), m.f32x4.ge(x.get(), this.c(0)));
  }

  /** log(1 + x) with the rounding error of 1 + x corrected: log(u) - ((u - 1) - x) / u. */
  log1p(out: Stmts, x: V): V {
    const { m } = this;
    const u = this.set(out, m.f32x4.add(x.get(), this.c(1)));
    const lu = this.log(out, u);
    let r = this.set(out, m.f32x4.sub(lu.get(), m.f32x4.div(m.f32x4.sub(m.f32x4.sub(u.get(), this.c(1)), x.get()), u.get())));
    r = this.select(out, this.c(-Infinity), r.get(), m.f32x4.eq(u.get(), this.c(0)));
    return this.select(out, this.c(Infinity), r.get(), m.f32x4.eq(u.get(), this.c(Infinity)));
  }

  /** e^x - 1: a Taylor polynomial below |x| = 0.5 (no cancellation), exp(x) - 1 above. */
  expm1(out: Stmts, x: V): V {
    const { m } = this;
    const inv = (k: number) => 1 / [1, 1, 2, 6, 24, 120, 720, 5040, 40320][k]!;
    const p = this.poly(out, x, [inv(8), inv(7), inv(6), inv(5), inv(4), inv(3), inv(2), 1]);
    const small = this.set(out, m.f32x4.mul(p.get(), x.get()));
    const ex = this.exp(out, x);
    const large = this.set(out, m.f32x4.sub(ex.get(), this.c(1)));
    return this.select(out, small.get(), large.get(), m.f32x4.lt(m.f32x4.abs(x.get()), this.c(0.5)));
  }

  tanh(out: Stmts, x: V): V {
    const { m } = this;
    const z = this.set(out, m.f32x4.mul(x.get(), x.get()));
    const p = this.poly(out, z, [-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1, -3.33332819422e-1]);
    const small = this.set(out, m.f32x4.add(m.f32x4.mul(m.f32x4.mul(p.get(), z.get()), x.get()), x.get()));
    const twoA = this.set(out, m.f32x4.mul(m.f32x4.abs(x.get()), this.c(2)));
    const ex = this.exp(out, twoA);
    const t = this.set(out, m.f32x4.sub(this.c(1), m.f32x4.div(this.c(2), m.f32x4.add(ex.get(), this.c(1)))));
    // copysign(t, x): the sign bit from x, the rest from t
    const signed = this.select(out, x.get(), t.get(), this.ci(-0x80000000));
    return this.select(out, small.get(), signed.get(), m.f32x4.lt(m.f32x4.abs(x.get()), this.c(0.625)));
  }

  /** 1 / (1 + e^-x) without overflow: e = exp(-|x|), then 1/(1+e) or e/(1+e) by the sign of x. */
  sigmoid(out: Stmts, x: V): V {
    const { m } = this;
    const negAbs = this.set(out, m.f32x4.neg(m.f32x4.abs(x.get())));
    const e = this.exp(out, negAbs);
    const q = this.set(out, m.f32x4.div(this.c(1), m.f32x4.add(e.get(), this.c(1))));
    return this.select(out, q.get(), m.f32x4.mul(e.get(), q.get()), m.f32x4.ge(x.get(), this.c(0)));
  }

  /** log(1 + e^x) = max(x, 0) + log1p(e^-|x|). */
  softplus(out: Stmts, x: V): V {
    const { m } = this;
    const negAbs = this.set(out, m.f32x4.neg(m.f32x4.abs(x.get())));
    const e = this.exp(out, negAbs);
    const l = this.log1p(out, e);
    return this.set(out, m.f32x4.add(m.f32x4.max(x.get(), this.c(0)), l.get()));
  }
}
