/**
 * float64 lane primitives that the float64 math and the π/2 reduction share: an exact two-sum, the
 * rounding constant, and the change between four float32 lanes and two pairs of float64 lanes.
 */
import type { Expr } from './binaryen.js';
import type { FunctionEmitter, Local } from './emitter.js';
import type { Stmts } from './lane-math.js';

type V = Local;

/** 1.5 · 2^52: adding it rounds a float64 to an integer held in the low mantissa bits. */
export const MAGIC = 6755399441055744;

/** a + b = sum + error exactly, in two float64 lanes (Knuth's two-sum: no ordering of |a| and |b| needed). */
export function twoSum(e: FunctionEmitter, out: Stmts, a: V, b: V): [V, V] {
  const { m, b: bin } = e;
  const sum = e.let(out, bin.v128, m.f64x2.add(a.get(), b.get()));
  const bb = e.let(out, bin.v128, m.f64x2.sub(sum.get(), a.get()));
  return [
    sum,
    e.let(
      out,
      bin.v128,
      m.f64x2.add(m.f64x2.sub(a.get(), m.f64x2.sub(sum.get(), bb.get())), m.f64x2.sub(b.get(), bb.get())),
    ),
  ];
}

/** The float32 lanes [0, 1] and [2, 3] of `x` as two float64 vectors. */
export function widen(e: FunctionEmitter, out: Stmts, x: Expr, xAgain: Expr): [V, V] {
  const { m } = e;
  const high = m.i8x16.shuffle(xAgain, xAgain, [8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7]);
  return [e.let(out, e.b.v128, m.f64x2.promote_low_f32x4(x)), e.let(out, e.b.v128, m.f64x2.promote_low_f32x4(high))];
}

/** Two float64 vectors rounded back into one vector of four float32 lanes. */
export function narrow(e: FunctionEmitter, low: Expr, high: Expr): Expr {
  const { m } = e;
  return m.i8x16.shuffle(
    m.f32x4.demote_f64x2_zero(low),
    m.f32x4.demote_f64x2_zero(high),
    [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23],
  );
}
