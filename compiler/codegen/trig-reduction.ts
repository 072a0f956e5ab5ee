/**
 * Reduction of an argument by π/2 for sin and cos: r = x − n·π/2 with |r| ≤ π/4 and the quadrant
 * n mod 4, over the whole float range (sin(1e38) and sin(1e300) included).
 * - float32: below 2^19 four lanes at a time in float64 (Cody–Waite, three parts of π/2); above, one
 *   lane at a time by a scalar Payne–Hanek routine that multiplies the argument's 24-bit mantissa by
 *   just the bits of 2/π that matter at its exponent.
 * - float64: below 2^26 two lanes at a time, Cody–Waite with three 27-bit parts of π/2 and a fourth,
 *   the differences kept exact as two-sums; above, a scalar Payne–Hanek routine in 64-bit integers
 *   (the 53-bit mantissa times 192 bits of 2/π).
 */
import type { Expr } from './binaryen.js';
import { FunctionEmitter, type Local } from './emitter.js';
import { halfPiParts, twoOverPiChunks, twoOverPiWords } from './fit.js';
import { MAGIC, narrow, twoSum, widen } from './f64-lanes.js';
import type { Stmts } from './lane-math.js';

/** Lanes at or above this magnitude take the scalar path (n·P1 stays exact below it). */
export const VECTOR_REDUCTION_LIMIT = 2 ** 19;
const HALF_PI = halfPiParts(33, 3);
const CHUNKS = twoOverPiChunks(8);
const LARGE = 'reduce_half_pi_large';
const QUADRANT = 'reduced_quadrant';

/** The global the scalar routines leave the quadrant in (one per module, whichever width asks first). */
function quadrantGlobal(e: FunctionEmitter): string {
  return e.helper(QUADRANT, () => e.m.addGlobal(QUADRANT, e.b.i32, true, e.m.i32.const(0)));
}

/** Returns r (f32x4) and n (i32x4, only its low two bits matter) for |x| given as `ax`. */
export function reduceHalfPi(e: FunctionEmitter, out: Stmts, ax: Local): { r: Local; n: Local } {
  const { m, b } = e;
  const halves = widen(e, out, ax.get(), ax.get()).map((h) => {
    const n = e.let(out, b.v128, m.f64x2.nearest(m.f64x2.mul(h.get(), e.f64x2Const(2 / Math.PI).get())));
    let r = e.let(out, b.v128, m.f64x2.sub(h.get(), m.f64x2.mul(n.get(), e.f64x2Const(HALF_PI[0]!).get())));
    for (const part of HALF_PI.slice(1))
      r = e.let(out, b.v128, m.f64x2.sub(r.get(), m.f64x2.mul(n.get(), e.f64x2Const(part).get())));
    return { n, r };
  });
  const r = e.let(out, b.v128, narrow(e, halves[0]!.r.get(), halves[1]!.r.get()));
  const n = e.let(
    out,
    b.v128,
    m.i8x16.shuffle(
      m.i32x4.trunc_sat_f64x2_s_zero(halves[0]!.n.get()),
      m.i32x4.trunc_sat_f64x2_s_zero(halves[1]!.n.get()),
      [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23],
    ),
  );
  // Large finite lanes (NaN fails both comparisons; Inf stays on the vector path and gives NaN).
  const large = e.let(
    out,
    b.v128,
    m.v128.and(
      m.f32x4.ge(ax.get(), e.f32x4Const(VECTOR_REDUCTION_LIMIT).get()),
      m.f32x4.lt(ax.get(), e.f32x4Const(Infinity).get()),
    ),
  );
  const helper = e.helper(LARGE, () => emitLargeReduction(e));
  const lanes: Expr[] = [0, 1, 2, 3].map((lane) =>
    m.if(
      m.i32x4.extract_lane(large.get(), lane),
      m.block(null, [
        m.local.set(
          r.index,
          m.f32x4.replace_lane(
            r.get(),
            lane,
            m.f32.demote(m.call(helper, [m.f32x4.extract_lane(ax.get(), lane)], b.f64)),
          ),
        ),
        m.local.set(n.index, m.i32x4.replace_lane(n.get(), lane, m.global.get(QUADRANT, b.i32))),
      ]),
    ),
  );
  out.push(m.if(m.v128.any_true(large.get()), m.block(null, lanes)));
  return { r, n };
}

/** A function `name(k)` returning `values[k]`: a br_table over the constants. */
function constantTable(e: FunctionEmitter, name: string, type: number, values: readonly Expr[]): string {
  const { m, b } = e;
  const labels = values.map((_, k) => `${name}_${k}`);
  let inner: Expr = m.block(labels[0]!, [m.switch(labels, labels[labels.length - 1]!, m.local.get(0, b.i32))]);
  values.forEach((v, k) => {
    const body = [inner, m.return(v)];
    inner = k + 1 < labels.length ? m.block(labels[k + 1]!, body) : m.block(null, body);
  });
  m.addFunction(name, b.createType([b.i32]), type, [], m.block(null, [inner, m.unreachable()]));
  return name;
}

/**
 * (f32 x ≥ 2^19, finite) → f64 r, quadrant in a global. x = M·2^E (M < 2^24); 2/π = Σ c_k·2^(−24(k+1)).
 * The terms M·c_k·2^(E−24(k+1)) are exact in float64; those worth a multiple of 4 are dropped, the
 * two leading kept ones are reduced mod 4 (their sum is then exact), and the fraction is what is left
 * after the nearest integer.
 */
function emitLargeReduction(parent: FunctionEmitter): void {
  const { m, b } = parent;
  quadrantGlobal(parent);
  const chunk = constantTable(
    parent,
    'two_over_pi_chunk',
    b.f64,
    CHUNKS.map((c) => m.f64.const(c)),
  );

  const e = new FunctionEmitter(b, m, [b.f32]);
  const body: Expr[] = [];
  const x = e.params[0]!;
  const i32 = (v: number) => m.i32.const(v);
  const bits = e.let(body, b.i32, m.i32.reinterpret(x.get()));
  const exponent = e.let(body, b.i32, m.i32.sub(m.i32.shr_u(bits.get(), i32(23)), i32(150)));
  const mantissa = e.let(
    body,
    b.f64,
    m.f64.convert_u.i32(m.i32.or(m.i32.and(bits.get(), i32(0x7fffff)), i32(0x800000))),
  );
  // First chunk whose term is not a multiple of 4.
  const k0 = e.let(
    body,
    b.i32,
    m.select(m.i32.ge_s(exponent.get(), i32(2)), m.i32.div_s(m.i32.sub(exponent.get(), i32(2)), i32(24)), i32(0)),
  );
  const scale0 = e.let(body, b.i32, m.i32.sub(exponent.get(), m.i32.mul(m.i32.add(k0.get(), i32(1)), i32(24))));
  const pow2 = (s: Expr) => m.f64.reinterpret(m.i64.shl(m.i64.extend_s(m.i32.add(s, i32(1023))), e.i64Const(52n)));
  const term = (j: number) =>
    e.let(
      body,
      b.f64,
      m.f64.mul(
        m.f64.mul(mantissa.get(), m.call(chunk, [m.i32.add(k0.get(), i32(j))], b.f64)),
        pow2(m.i32.sub(scale0.get(), i32(24 * j))),
      ),
    );
  const mod4 = (v: Local) =>
    m.f64.sub(v.get(), m.f64.mul(m.f64.floor(m.f64.mul(v.get(), m.f64.const(0.25))), m.f64.const(4)));
  const [t0, t1, t2, t3] = [term(0), term(1), term(2), term(3)];
  const s01 = e.let(body, b.f64, m.f64.add(mod4(t0), mod4(t1)));
  const s = e.let(body, b.f64, mod4(s01));
  const n = e.let(body, b.f64, m.f64.nearest(m.f64.add(s.get(), t2.get())));
  body.push(m.global.set(QUADRANT, m.i32.trunc_s.f64(n.get())));
  const fraction = m.f64.add(m.f64.add(m.f64.sub(s.get(), n.get()), t2.get()), t3.get());
  body.push(m.return(m.f64.mul(fraction, m.f64.const(Math.PI / 2))));
  e.finish(LARGE, body, b.f64, false);
}

/** float64 lanes at or above this magnitude take the scalar path (n·part exact for n < 2^26). */
export const VECTOR_REDUCTION_LIMIT_F64 = 2 ** 26;
const HALF_PI_F64 = halfPiParts(27, 4);
const LARGE_F64 = 'reduce_half_pi_large_f64';
/** 2/π words after one zero word, enough for the largest float64 exponent (bit 969 + 192). */
const TWO_OVER_PI_WORDS = twoOverPiWords(20, 1);

/** Returns r (f64x2) and n (i64x2, only its low two bits matter) for |x| given as `ax`. */
export function reduceHalfPiF64(e: FunctionEmitter, out: Stmts, ax: Local): { r: Local; n: Local } {
  const { m, b } = e;
  const c = (v: number) => e.f64x2Const(v).get();
  const n = e.let(out, b.v128, m.f64x2.nearest(m.f64x2.mul(ax.get(), c(2 / Math.PI))));
  const times = (part: number) => e.let(out, b.v128, m.f64x2.neg(m.f64x2.mul(n.get(), c(part))));
  const [p1, p2, p3, p4] = HALF_PI_F64 as [number, number, number, number];
  // x − n·p1 is exact (n·p1 has 53 bits, and is within a factor 2 of x); the next two parts are
  // subtracted with their rounding errors kept, which the last part joins.
  const a = e.let(out, b.v128, m.f64x2.add(ax.get(), m.f64x2.neg(m.f64x2.mul(n.get(), c(p1)))));
  const [firstSum, firstError] = twoSum(e, out, a, times(p2));
  const [secondSum, secondError] = twoSum(e, out, firstSum, times(p3));
  const r = e.let(
    out,
    b.v128,
    m.f64x2.add(
      secondSum.get(),
      m.f64x2.sub(m.f64x2.add(firstError.get(), secondError.get()), m.f64x2.mul(n.get(), c(p4))),
    ),
  );
  // n below 2^51 as an integer: 1.5·2^52 added puts it in the low mantissa bits.
  const quadrant = e.let(out, b.v128, m.f64x2.add(n.get(), c(MAGIC)));
  const large = e.let(
    out,
    b.v128,
    m.v128.and(m.f64x2.ge(ax.get(), c(VECTOR_REDUCTION_LIMIT_F64)), m.f64x2.lt(ax.get(), c(Infinity))),
  );
  const helper = e.helper(LARGE_F64, () => emitLargeReductionF64(e));
  const lanes: Expr[] = [0, 1].map((lane) =>
    m.if(
      m.i64.ne(m.i64x2.extract_lane(large.get(), lane), e.i64Const(0n)),
      m.block(null, [
        m.local.set(
          r.index,
          m.f64x2.replace_lane(r.get(), lane, m.call(helper, [m.f64x2.extract_lane(ax.get(), lane)], b.f64)),
        ),
        m.local.set(
          quadrant.index,
          m.i64x2.replace_lane(quadrant.get(), lane, m.i64.extend_u(m.global.get(QUADRANT, b.i32))),
        ),
      ]),
    ),
  );
  out.push(m.if(m.v128.any_true(large.get()), m.block(null, lanes)));
  return { r, n: quadrant };
}

/**
 * (f64 x ≥ 2^26, finite) → f64 r, quadrant in a global. x = M·2^E with M < 2^53. Bits of 2/π worth
 * E − i ≥ 2 make multiples of 4 and are skipped: the 192 bits from bit E − 1 on, as an integer W,
 * give x·2/π mod 4 = M·W / 2^190 (the rest is below 2^−137). The product's bits 190–191 are the
 * quadrant, the 128 below the fraction, rounded to the nearest quadrant and normalized before it
 * becomes a float64 (near a multiple of π/2 it starts with up to about 60 zeros).
 */
function emitLargeReductionF64(parent: FunctionEmitter): void {
  const { m, b } = parent;
  quadrantGlobal(parent);
  const word = constantTable(
    parent,
    'two_over_pi_word',
    b.i64,
    TWO_OVER_PI_WORDS.map((w) => parent.i64Const(BigInt.asIntN(64, w))),
  );

  const e = new FunctionEmitter(b, m, [b.f64]);
  const body: Expr[] = [];
  const x = e.params[0]!;
  const i64 = (v: bigint) => e.i64Const(v);
  const let64 = (v: Expr) => e.let(body, b.i64, v);
  const low32 = (v: Expr) => m.i64.and(v, i64(0xffffffffn));
  const high32 = (v: Expr) => m.i64.shr_u(v, i64(32n));
  const bits = let64(m.i64.reinterpret(x.get()));
  const exponent = e.let(body, b.i32, m.i32.sub(m.i32.wrap(m.i64.shr_u(bits.get(), i64(52n))), m.i32.const(1075)));
  const mantissa = let64(m.i64.or(m.i64.and(bits.get(), i64(0xfffffffffffffn)), i64(1n << 52n)));
  // Bit E − 1 of 2/π sits at bit E − 2 + 64 of the zero-prefixed table.
  const start = e.let(body, b.i32, m.i32.add(exponent.get(), m.i32.const(62)));
  /** 64 table bits from `at`: two words shifted together (the second shifted twice, so that a shift of 0 drops it). */
  const window = (at: Expr) => {
    const p = e.let(body, b.i32, at);
    const k = m.i32.shr_u(p.get(), m.i32.const(6));
    const shift = e.let(body, b.i64, m.i64.extend_u(m.i32.and(p.get(), m.i32.const(63))));
    return m.i64.or(
      m.i64.shl(m.call(word, [k], b.i64), shift.get()),
      m.i64.shr_u(
        m.i64.shr_u(m.call(word, [m.i32.add(m.i32.shr_u(p.get(), m.i32.const(6)), m.i32.const(1))], b.i64), i64(1n)),
        m.i64.sub(i64(63n), shift.get()),
      ),
    );
  };
  const windows = [0, 64, 128].map((d) => let64(window(m.i32.add(start.get(), m.i32.const(d)))));
  // 32-bit limbs, least significant first: W = w5…w0, M = m1 m0; each limb product fits 64 bits.
  const w = windows.reverse().flatMap((v) => [let64(low32(v.get())), let64(high32(v.get()))]);
  const mLimbs = [let64(low32(mantissa.get())), let64(high32(mantissa.get()))];
  const products = mLimbs.map((mi) => w.map((wk) => let64(m.i64.mul(mi.get(), wk.get()))));
  const limbs: Local[] = [];
  let carry: Expr = i64(0n);
  for (let j = 0; j <= 5; j++) {
    const column = products.flatMap((row, i) => (j - i >= 0 && j - i < row.length ? [row[j - i]!] : []));
    const lowSum = let64(column.reduce<Expr>((s, p) => m.i64.add(s, low32(p.get())), carry));
    limbs.push(let64(low32(lowSum.get())));
    carry = column.reduce<Expr>((s, p) => m.i64.add(s, high32(p.get())), high32(lowSum.get()));
  }
  const [, p1, p2, p3, p4, p5] = limbs as [Local, Local, Local, Local, Local, Local];
  const shl = (v: Expr, s: bigint) => m.i64.shl(v, i64(s));
  const shr = (v: Expr, s: bigint) => m.i64.shr_u(v, i64(s));
  // The fraction's 128 bits below bit 190, as two words.
  const fracHigh = let64(
    m.i64.or(m.i64.or(shl(m.i64.and(p5.get(), i64(0x3fffffffn)), 34n), shl(p4.get(), 2n)), shr(p3.get(), 30n)),
  );
  const fracLow = let64(
    m.i64.or(m.i64.or(shl(m.i64.and(p3.get(), i64(0x3fffffffn)), 34n), shl(p2.get(), 2n)), shr(p1.get(), 30n)),
  );
  // A fraction of ½ or more rounds up to the next quadrant and leaves 1 − fraction, negated.
  const roundsUp = e.let(body, b.i32, m.i32.wrap(shr(fracHigh.get(), 63n)));
  const quadrant = m.i32.add(m.i32.wrap(shr(p5.get(), 30n)), roundsUp.get());
  body.push(m.global.set(QUADRANT, m.i32.and(quadrant, m.i32.const(3))));
  const high = let64(
    m.select(
      roundsUp.get(),
      m.i64.add(m.i64.xor(fracHigh.get(), i64(-1n)), m.i64.extend_u(m.i64.eqz(fracLow.get()))),
      fracHigh.get(),
    ),
  );
  const low = let64(m.select(roundsUp.get(), m.i64.sub(i64(0n), fracLow.get()), fracLow.get()));
  // Normalized: a leading word of zeros skipped, then the leading zeros of the rest.
  const highZero = e.let(body, b.i32, m.i64.eqz(high.get()));
  const top = let64(m.select(highZero.get(), low.get(), high.get()));
  const next = let64(m.select(highZero.get(), i64(0n), low.get()));
  const zeros = let64(m.i64.clz(top.get()));
  const normalized = m.i64.or(
    m.i64.shl(top.get(), zeros.get()),
    m.i64.shr_u(shr(next.get(), 1n), m.i64.sub(i64(63n), zeros.get())),
  );
  // 2^−(64 + zeros + 64·highZero) as a float64 (well inside the normal range).
  const scaleExponent = m.i64.sub(
    i64(1023n - 64n),
    m.i64.add(zeros.get(), m.i64.extend_u(m.i32.shl(highZero.get(), m.i32.const(6)))),
  );
  const fraction = m.f64.mul(m.f64.convert_u.i64(normalized), m.f64.reinterpret(m.i64.shl(scaleExponent, i64(52n))));
  const r = m.f64.mul(fraction, m.f64.const(Math.PI / 2));
  body.push(m.return(m.select(roundsUp.get(), m.f64.neg(r), r)));
  e.finish(LARGE_F64, body, b.f64, false);
}
