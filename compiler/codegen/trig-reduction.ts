/**
 * Reduction of a float32 argument by π/2 for sin and cos: r = x − n·π/2 with |r| ≤ π/4 and the
 * quadrant n mod 4. Below 2^19 four lanes at a time in float64 (Cody–Waite, three parts of π/2);
 * above, one lane at a time by a scalar Payne–Hanek routine that multiplies the argument's 24-bit
 * mantissa by just the bits of 2/π that matter at its exponent, so the whole float32 range reduces
 * correctly (sin(1e38) included).
 */
import type { Expr } from './binaryen.js';
import { FunctionEmitter, type Local } from './emitter.js';
import { halfPiParts, twoOverPiChunks } from './fit.js';
import type { Stmts } from './simd-math.js';
import { narrow, widen } from './simd-math-f64.js';

/** Lanes at or above this magnitude take the scalar path (n·P1 stays exact below it). */
export const VECTOR_REDUCTION_LIMIT = 2 ** 19;
const HALF_PI = halfPiParts(33, 3);
const CHUNKS = twoOverPiChunks(8);
const LARGE = 'reduce_half_pi_large';
const QUADRANT = 'reduced_quadrant';

/** Returns r (f32x4) and n (i32x4, only its low two bits matter) for |x| given as `ax`. */
export function reduceHalfPi(e: FunctionEmitter, out: Stmts, ax: Local): { r: Local; n: Local } {
  const { m, b } = e;
  const halves = widen(e, out, ax.get(), ax.get()).map((h) => {
    const n = e.let(out, b.v128, m.f64x2.nearest(m.f64x2.mul(h.get(), e.f64x2Const(2 / Math.PI).get())));
    let r = e.let(out, b.v128, m.f64x2.sub(h.get(), m.f64x2.mul(n.get(), e.f64x2Const(HALF_PI[0]!).get())));
    for (const part of HALF_PI.slice(1)) r = e.let(out, b.v128, m.f64x2.sub(r.get(), m.f64x2.mul(n.get(), e.f64x2Const(part).get())));
    return { n, r };
  });
  const r = e.let(out, b.v128, narrow(e, halves[0]!.r.get(), halves[1]!.r.get()));
  const n = e.let(out, b.v128, m.i8x16.shuffle(m.i32x4.trunc_sat_f64x2_s_zero(halves[0]!.n.get()), m.i32x4.trunc_sat_f64x2_s_zero(halves[1]!.n.get()),
    [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23]));
  // Large finite lanes (NaN fails both comparisons; Inf stays on the vector path and gives NaN).
  const large = e.let(out, b.v128, m.v128.and(m.f32x4.ge(ax.get(), e.f32x4Const(VECTOR_REDUCTION_LIMIT).get()), m.f32x4.lt(ax.get(), e.f32x4Const(Infinity).get())));
  const helper = e.helper(LARGE, () => emitLargeReduction(e));
  const lanes: Expr[] = [0, 1, 2, 3].map((lane) =>
    m.if(m.i32x4.extract_lane(large.get(), lane), m.block(null, [
      m.local.set(r.index, m.f32x4.replace_lane(r.get(), lane, m.f32.demote(m.call(helper, [m.f32x4.extract_lane(ax.get(), lane)], b.f64)))),
      m.local.set(n.index, m.i32x4.replace_lane(n.get(), lane, m.global.get(QUADRANT, b.i32))),
    ])));
  out.push(m.if(m.v128.any_true(large.get()), m.block(null, lanes)));
  return { r, n };
}

/**
 * (f32 x ≥ 2^19, finite) → f64 r, quadrant in a global. x = M·2^E (M < 2^24); 2/π = Σ c_k·2^(−24(k+1)).
 * The terms M·c_k·2^(E−24(k+1)) are exact in float64; those worth a multiple of 4 are dropped, the
 * two leading kept ones are reduced mod 4 (their sum is then exact), and the fraction is what is left
 * after the nearest integer.
 */
function emitLargeReduction(parent: FunctionEmitter): void {
  const { m, b } = parent;
  m.addGlobal(QUADRANT, b.i32, true, m.i32.const(0));
  const chunk = 'two_over_pi_chunk';
  // chunk(k): a br_table over the constants.
  const labels = CHUNKS.map((_, k) => `c${k}`);
  let inner: Expr = m.block(labels[0]!, [m.switch(labels, labels[labels.length - 1]!, m.local.get(0, b.i32))]);
  CHUNKS.forEach((c, k) => {
    const body = [inner, m.return(m.f64.const(c))];
    inner = k + 1 < labels.length ? m.block(labels[k + 1]!, body) : m.block(null, body);
  });
  m.addFunction(chunk, b.createType([b.i32]), b.f64, [], m.block(null, [inner, m.unreachable()]));

  const e = new FunctionEmitter(b, m, [b.f32]);
  const body: Expr[] = [];
  const x = e.params[0]!;
  const i32 = (v: number) => m.i32.const(v);
  const bits = e.let(body, b.i32, m.i32.reinterpret(x.get()));
  const exponent = e.let(body, b.i32, m.i32.sub(m.i32.shr_u(bits.get(), i32(23)), i32(150)));
  const mantissa = e.let(body, b.f64, m.f64.convert_u.i32(m.i32.or(m.i32.and(bits.get(), i32(0x7fffff)), i32(0x800000))));
  // First chunk whose term is not a multiple of 4.
  const k0 = e.let(body, b.i32, m.select(m.i32.ge_s(exponent.get(), i32(2)), m.i32.div_s(m.i32.sub(exponent.get(), i32(2)), i32(24)), i32(0)));
  const scale0 = e.let(body, b.i32, m.i32.sub(exponent.get(), m.i32.mul(m.i32.add(k0.get(), i32(1)), i32(24))));
  const pow2 = (s: Expr) => m.f64.reinterpret(m.i64.shl(m.i64.extend_s(m.i32.add(s, i32(1023))), e.i64Const(52n)));
  const term = (j: number) => e.let(body, b.f64,
    m.f64.mul(m.f64.mul(mantissa.get(), m.call(chunk, [m.i32.add(k0.get(), i32(j))], b.f64)), pow2(m.i32.sub(scale0.get(), i32(24 * j)))));
  const mod4 = (v: Local) => m.f64.sub(v.get(), m.f64.mul(m.f64.floor(m.f64.mul(v.get(), m.f64.const(0.25))), m.f64.const(4)));
  const [t0, t1, t2, t3] = [term(0), term(1), term(2), term(3)];
  const s01 = e.let(body, b.f64, m.f64.add(mod4(t0), mod4(t1)));
  const s = e.let(body, b.f64, mod4(s01));
  const n = e.let(body, b.f64, m.f64.nearest(m.f64.add(s.get(), t2.get())));
  body.push(m.global.set(QUADRANT, m.i32.trunc_s.f64(n.get())));
  const fraction = m.f64.add(m.f64.add(m.f64.sub(s.get(), n.get()), t2.get()), t3.get());
  body.push(m.return(m.f64.mul(fraction, m.f64.const(Math.PI / 2))));
  e.finish(LARGE, body, b.f64, false);
}
