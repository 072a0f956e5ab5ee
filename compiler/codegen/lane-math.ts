/**
 * What the float32 (f32x4) and float64 (f64x2) math builders have in common: the formulas that are
 * the same at either width once exp, log and expm1 exist. Each function appends statements to `out`
 * and returns the local holding its result.
 */
import type { Expr, Module } from './binaryen.js';
import type { FunctionEmitter, Local } from './emitter.js';
import type { PolynomialPiece } from './fit.js';
import type { SimdMathF64 } from './simd-math-f64.js';

export type Stmts = Expr[];
/** Math written once for float64 lanes; float32 kernels run it on widened lanes. */
export type Float64Routine = (d: SimdMathF64, out: Stmts, xs: readonly Local[]) => Local;
type V = Local;

/**
 * What erf and gelu need of a width: erf(x)/x as a polynomial in x² on [0, 1], erfc(z)·e^(z²) in
 * pieces from 0.5 to `tailEnd` (where erfc underflows), gelu's cap on x (where Φ(x) rounds to 1), and
 * e^d for the tiny d of an exact-square split, as a polynomial.
 */
export interface ErfShape {
  readonly small: PolynomialPiece;
  readonly tail: readonly PolynomialPiece[];
  readonly tailEnd: number;
  readonly geluCap: number;
  readonly nearOne: readonly number[];
}

/**
 * What sin and cos need of a width: the reduction by π/2 (r and the quadrant n in integer lanes of
 * the float's width), the polynomials of sin r = r + r·z·S(z) and cos r = 1 − z/2 + z²·C(z) in
 * z = r², those integer lanes' operations, and the position of the sign bit in them.
 */
export interface Trig {
  reduce(out: Stmts, ax: Local): { r: Local; n: Local };
  readonly sin: readonly number[];
  readonly cos: readonly number[];
  readonly ints: Module['i32x4'] | Module['i64x2'];
  int(c: number): Expr;
  readonly signBit: number;
}

export abstract class LaneMath {
  constructor(
    protected readonly e: FunctionEmitter,
    protected readonly fx: Module['f32x4'] & Module['f64x2'],
  ) {}
  protected get m() {
    return this.e.m;
  }
  /** The binaryen module, for routines written outside these classes. */
  get module(): Module {
    return this.e.m;
  }
  /** A routine written for float64 lanes, run on these lanes (float32 ones widened, and the result rounded once). */
  abstract viaFloat64(out: Stmts, xs: readonly V[], f: Float64Routine): V;
  set(out: Stmts, value: Expr): V {
    return this.e.let(out, this.e.b.v128, value);
  }
  /** ifTrue where `mask` (a comparison result: each lane all ones or all zeros) is set, else ifFalse. */
  select(out: Stmts, ifTrue: Expr, ifFalse: Expr, mask: Expr): V {
    return this.set(out, this.m.v128.bitselect(ifTrue, ifFalse, mask));
  }
  /** |v| with the sign of `sign`. */
  copySign(out: Stmts, v: Expr, sign: Expr): V {
    return this.set(out, this.m.v128.bitselect(sign, v, this.signMask()));
  }
  /** The sign bit of each lane. */
  protected abstract signMask(): Expr;
  // |v|, −v and −|v| as one bitwise op on the sign bit: V8 builds f32x4.abs's and neg's mask anew at
  // every use (three instructions each).
  abs(v: Expr): Expr {
    return this.m.v128.andnot(v, this.signMask());
  }
  neg(v: Expr): Expr {
    return this.m.v128.xor(v, this.signMask());
  }
  negAbs(v: Expr): Expr {
    return this.m.v128.or(v, this.signMask());
  }
  /**
   * min(v, c) and max(v, c) against a constant, NaN in v passing through: pmin/pmax (b < a ? b : a)
   * are one instruction on x64, where min/max with IEEE NaN and ±0 rules take seven.
   */
  atMost(v: Expr, c: number): Expr {
    return this.fx.pmin(v, this.c(c));
  }
  atLeast(v: Expr, c: number): Expr {
    return this.fx.pmax(v, this.c(c));
  }
  /** a * b + c. */
  madd(a: Expr, b: Expr, c: Expr): Expr {
    return this.fx.add(this.fx.mul(a, b), c);
  }
  /** Horner evaluation of coeffs[0]·x^n + … + coeffs[n]. */
  poly(out: Stmts, x: V, coeffs: readonly number[]): V {
    let acc = this.set(out, this.c(coeffs[0]!));
    for (const k of coeffs.slice(1)) acc = this.set(out, this.madd(acc.get(), x.get(), this.c(k)));
    return acc;
  }
  /** A splatted constant of this width. */
  abstract c(value: number): Expr;
  abstract exp(out: Stmts, x: V): V;
  abstract log(out: Stmts, x: V): V;
  abstract expm1(out: Stmts, x: V): V;

  /**
   * log(1 + x) with the rounding error of 1 + x corrected: log(u) − ((u − 1) − x)/u (log(u) itself at
   * u = 0 and Inf), and x itself at ±0 (the correction would turn −0 into +0).
   */
  log1p(out: Stmts, x: V): V {
    const { fx } = this;
    const u = this.onePlus(out, x);
    const lu = this.log(out, u);
    const r = this.set(
      out,
      fx.sub(lu.get(), fx.mul(fx.sub(fx.sub(u.get(), this.c(1)), x.get()), this.reciprocal(out, u).get())),
    );
    const finite = this.select(
      out,
      r.get(),
      lu.get(),
      this.m.v128.and(fx.ne(u.get(), this.c(0)), fx.ne(u.get(), this.c(Infinity))),
    );
    return this.select(out, x.get(), finite.get(), fx.eq(x.get(), this.c(0)));
  }

  /** 1/(1 + e) or e/(1 + e) with e = e^(−|x|), by the sign of x: no overflow. */
  sigmoid(out: Stmts, x: V): V {
    const { fx } = this;
    const e = this.expNegAbs(out, x);
    const q = this.reciprocal(out, this.onePlus(out, e));
    return this.select(out, q.get(), fx.mul(e.get(), q.get()), fx.ge(x.get(), this.c(0)));
  }

  /** log1p for x in [0, 1] (or NaN, where any result may come back): a width may skip the special cases. */
  log1pOfUnit(out: Stmts, x: V): V {
    return this.log1p(out, x);
  }

  /** log(1 + e^x) = max(x, 0) + log1p(e^(−|x|)); a NaN x passes through the max. */
  softplus(out: Stmts, x: V): V {
    const l = this.log1pOfUnit(out, this.expNegAbs(out, x));
    return this.set(out, this.fx.add(this.atLeast(x.get(), 0), l.get()));
  }

  /** log(1 − e^x) for x ≤ 0 (NaN above): log(−expm1 x) above −ln 2, log1p(−e^x) below (Mächler). */
  log1mexp(out: Stmts, x: V): V {
    const { fx } = this;
    const near = this.log(out, this.set(out, this.neg(this.expm1(out, x).get())));
    const far = this.log1p(out, this.set(out, this.neg(this.exp(out, x).get())));
    const r = this.select(out, near.get(), far.get(), fx.gt(x.get(), this.c(-Math.LN2)));
    return this.select(out, this.c(NaN), r.get(), fx.gt(x.get(), this.c(0)));
  }

  /** This width's reduction and polynomials for sin and cos. */
  protected abstract trig(): Trig;

  /** sin or cos: reduction by π/2 (trig-reduction.ts), then the sine or cosine polynomial by quadrant. */
  private sinCos(out: Stmts, x: V, cosine: boolean): V {
    const { fx, m } = this;
    const { reduce, sin: sinCoeffs, cos: cosCoeffs, ints, int, signBit } = this.trig();
    const ax = this.set(out, this.abs(x.get()));
    const { r, n } = reduce(out, ax);
    const z = this.set(out, fx.mul(r.get(), r.get()));
    const ps = this.poly(out, z, sinCoeffs);
    const sin = this.set(out, this.madd(fx.mul(r.get(), z.get()), ps.get(), r.get()));
    const pc = this.poly(out, z, cosCoeffs);
    const cos = this.set(
      out,
      this.madd(fx.mul(z.get(), z.get()), pc.get(), fx.sub(this.c(1), fx.mul(z.get(), this.c(0.5)))),
    );
    // cos(a) = sin(a + π/2): one quadrant further.
    const q = this.set(out, cosine ? ints.add(n.get(), int(1)) : n.get());
    const swap = this.set(out, ints.ne(m.v128.and(q.get(), int(1)), int(0)));
    const v = this.select(out, cos.get(), sin.get(), swap.get());
    // Quadrants 2 and 3 negate: bit 1 of q moved to the sign bit.
    let sign: Expr = ints.shl(m.v128.and(q.get(), int(2)), m.i32.const(signBit - 1));
    // sin is odd: the sign of x too (cos is even).
    if (!cosine) sign = m.v128.xor(sign, m.v128.and(x.get(), this.signMask()));
    return this.set(out, m.v128.xor(v.get(), sign));
  }
  sin(out: Stmts, x: V): V {
    return this.sinCos(out, x, false);
  }
  cos(out: Stmts, x: V): V {
    return this.sinCos(out, x, true);
  }

  /** This width's erf and gelu approximations. */
  protected abstract erfShape(): ErfShape;
  /** a with enough low mantissa bits cleared that its square is exact. */
  protected abstract squareHead(a: V): Expr;

  /**
   * A piecewise polynomial: each lane picks the piece whose [lo, hi) holds x (pieces ascending, one
   * degree), by selecting coefficients rather than evaluating every piece.
   */
  piecewise(out: Stmts, x: V, pieces: readonly PolynomialPiece[]): V {
    const { fx, m } = this;
    const masks = pieces.slice(1).map((p) => this.set(out, fx.ge(x.get(), this.c(p.lo))));
    const pick = (value: (p: PolynomialPiece) => number): Expr =>
      pieces
        .slice(1)
        .reduce<Expr>(
          (acc, p, i) => m.v128.bitselect(this.c(value(p)), acc, masks[i]!.get()),
          this.c(value(pieces[0]!)),
        );
    const t = this.set(
      out,
      fx.mul(
        fx.sub(
          x.get(),
          pick((p) => (p.lo + p.hi) / 2),
        ),
        pick((p) => 2 / (p.hi - p.lo)),
      ),
    );
    let acc = this.set(
      out,
      pick((p) => p.coeffs[0]!),
    );
    for (let k = 1; k < pieces[0]!.coeffs.length; k++)
      acc = this.set(
        out,
        this.madd(
          acc.get(),
          t.get(),
          pick((p) => p.coeffs[k]!),
        ),
      );
    return acc;
  }

  /**
   * factor·erfc(z) for z ≥ 0, as factor·G(z)·e^(−s·a²) where s·a² = z² (a = z for erf, x for gelu).
   * e^(−s·a²) without the rounding error of a² (which e^ would multiply by a²): a = h + l with h's
   * square exact, so s·h² is exact and e^(−s(a² − h²)) is near 1. The tiny e^(−s·h²) factor is
   * applied last, so that a result in the subnormal range is rounded only once.
   */
  private erfcTail(out: Stmts, z: V, a: V, s: number, factor: Expr): V {
    const { fx } = this;
    const shape = this.erfShape();
    const zc = this.set(out, this.atMost(this.atLeast(z.get(), 0.5), shape.tailEnd));
    const g = this.piecewise(out, zc, shape.tail);
    const h = this.set(out, this.squareHead(a));
    const d = this.set(out, fx.mul(fx.mul(fx.sub(a.get(), h.get()), fx.add(a.get(), h.get())), this.c(-s)));
    const nearOne = this.poly(out, d, shape.nearOne);
    const tiny = this.exp(out, this.set(out, this.neg(fx.mul(fx.mul(h.get(), h.get()), this.c(s)))));
    return this.set(out, fx.mul(fx.mul(fx.mul(factor, g.get()), nearOne.get()), tiny.get()));
  }

  /** x·P(x²) on |x| < 1; 1 − erfc(|x|) with x's sign above. */
  erf(out: Stmts, x: V): V {
    const { fx } = this;
    const shape = this.erfShape();
    const ax = this.set(out, this.atMost(this.abs(x.get()), shape.tailEnd));
    const u = this.set(out, fx.mul(x.get(), x.get()));
    const p = this.piecewise(out, u, [shape.small]);
    const small = this.set(out, fx.mul(x.get(), p.get()));
    const tail = this.erfcTail(out, ax, ax, 1, this.c(1));
    const large = this.set(out, fx.sub(this.c(1), tail.get()));
    const signed = this.copySign(out, large.get(), x.get());
    return this.select(out, small.get(), signed.get(), fx.lt(this.abs(x.get()), this.c(1)));
  }

  /**
   * gelu(x) = x·Φ(x), Φ(x) = ½·erfc(−x/√2): ½ + ½·erf near 0, else from the tail, which keeps its
   * relative accuracy for negative x (where Φ is tiny), with e^(−x²/2) from x itself.
   */
  gelu(out: Stmts, x: V): V {
    const { fx } = this;
    const cap = this.erfShape().geluCap;
    const w = this.set(out, fx.mul(x.get(), this.c(Math.SQRT1_2)));
    const p = this.piecewise(out, this.set(out, fx.mul(w.get(), w.get())), [this.erfShape().small]);
    const central = this.set(out, fx.add(this.c(0.5), fx.mul(fx.mul(w.get(), p.get()), this.c(0.5))));
    const ax = this.set(out, this.atMost(this.abs(x.get()), cap));
    // x·½·erfc(|w|): gelu itself for x < 0, and x − gelu for x > 0 (x capped: +Inf · 0 would be NaN).
    const lowerTail = this.erfcTail(
      out,
      this.set(out, this.abs(w.get())),
      ax,
      0.5,
      fx.mul(this.atMost(x.get(), cap), this.c(0.5)),
    );
    const tail = this.select(out, fx.sub(x.get(), lowerTail.get()), lowerTail.get(), fx.gt(x.get(), this.c(0)));
    const g = this.select(out, fx.mul(x.get(), central.get()), tail.get(), fx.lt(this.abs(w.get()), this.c(0.5)));
    return this.select(out, this.c(0), g.get(), fx.eq(x.get(), this.c(-Infinity)));
  }

  /** |x|^y for |x| in [0, Inf] and any y; NaN where y·log|x| is (0·Inf); the caller has the specials. */
  protected abstract powMagnitude(out: Stmts, ax: V, y: V): V;

  /**
   * x^y with JavaScript's Math.pow rules: |x|^y, the sign for negative x and odd integer y, NaN for
   * negative finite x and non-integer y, NaN for a NaN x, 1 for y = 0 whatever x is.
   */
  pow(out: Stmts, x: V, y: V): V {
    const { fx, m } = this;
    const r = this.powMagnitude(out, this.set(out, this.abs(x.get())), y);
    const isInteger = this.set(out, fx.eq(fx.nearest(y.get()), y.get()));
    const yHalf = this.set(out, fx.mul(y.get(), this.c(0.5)));
    const odd = this.set(out, m.v128.andnot(isInteger.get(), fx.eq(fx.nearest(yHalf.get()), yHalf.get())));
    let v = this.set(out, m.v128.xor(r.get(), m.v128.and(m.v128.and(x.get(), odd.get()), this.signMask())));
    // Finite negative bases with non-integer exponents (−Inf and −0 have answers).
    const negativeFinite = m.v128.and(fx.lt(x.get(), this.c(0)), fx.gt(x.get(), this.c(-Infinity)));
    v = this.select(out, this.c(NaN), v.get(), m.v128.andnot(negativeFinite, isInteger.get()));
    v = this.select(out, this.c(NaN), v.get(), fx.ne(x.get(), x.get()));
    return this.select(out, this.c(1), v.get(), fx.eq(y.get(), this.c(0)));
  }

  // Computed once per loop body: sigmoid(x) and softplus(x) of one x share e^(−|x|), 1 + e^(−|x|) and its reciprocal.
  protected expNegAbs(out: Stmts, x: V): V {
    return this.e.memo(out, `expNegAbs:${x.index}`, () => this.exp(out, this.set(out, this.negAbs(x.get()))));
  }
  protected onePlus(out: Stmts, x: V): V {
    return this.e.memo(out, `onePlus:${x.index}`, () => this.set(out, this.fx.add(x.get(), this.c(1))));
  }
  protected reciprocal(out: Stmts, x: V): V {
    return this.e.memo(out, `reciprocal:${x.index}`, () => this.set(out, this.fx.div(this.c(1), x.get())));
  }
}

/**
 * What kernels that move and combine float32 (float64, `wide`) values without math need of the type:
 * element size in bytes and as a shift, lanes per vector, the scalar and lane operations, a splatted
 * constant and a count as a splatted float.
 */
export function floatLanes(e: FunctionEmitter, wide: boolean) {
  const { m } = e;
  return wide
    ? {
        bytes: 8,
        shift: 3,
        lanes: 2,
        scalar: m.f64,
        fx: m.f64x2,
        splat: (v: number) => e.f64x2Const(v).get(),
        splatCount: (count: Expr) => m.f64x2.splat(m.f64.convert_s.i32(count)),
      }
    : {
        bytes: 4,
        shift: 2,
        lanes: 4,
        scalar: m.f32,
        fx: m.f32x4,
        splat: (v: number) => e.f32x4Const(v).get(),
        splatCount: (count: Expr) => m.f32x4.splat(m.f32.convert_s.i32(count)),
      };
}
