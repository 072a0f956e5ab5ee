/**
 * What a SIMD lowering is (a function from lane values to a lane value) and the small helpers the
 * lowering tables share (compiler/codegen/elementwise.ts, compiler/codegen/declared-math.ts).
 */
import type { Expr, Module } from './binaryen.js';
import type { Local } from './emitter.js';
import type { SimdMath, Stmts } from './simd-math.js';
import type { SimdMathF64 } from './simd-math-f64.js';

/** A value inside a kernel: float lanes, or a comparison mask (all bits set where true). */
export interface Value {
  readonly v: Local;
  readonly kind: 'float' | 'mask' | 'int';
}

/** The float lane operations of one width: binaryen's f32x4 or f64x2 (the same method names). */
export type FloatLanes = Module['f32x4'] & Module['f64x2'];
/** Math a lowering may call: SimdMath (float32 lanes) or SimdMathF64 (float64 lanes). */
export type LaneMath = SimdMath | SimdMathF64;
export type Lowering = (s: LaneMath, out: Stmts, xs: readonly Value[], args: never, m: Module, fx: FloatLanes) => Value;

export const float = (v: Local): Value => ({ v, kind: 'float' });
export const mask = (v: Local): Value => ({ v, kind: 'mask' });
export const map1 =
  (f: (fx: FloatLanes, a: Expr) => Expr): Lowering =>
  (s, out, [a], _args, _m, fx) =>
    float(s.set(out, f(fx, a!.v.get())));
export const map2 =
  (f: (fx: FloatLanes, a: Expr, b: Expr) => Expr): Lowering =>
  (s, out, [a, b], _args, _m, fx) =>
    float(s.set(out, f(fx, a!.v.get(), b!.v.get())));
/** A value as a mask: a float is true where it is not 0 (NaN is true, as in NumPy). */
export function asMask(s: LaneMath, out: Stmts, v: Value, fx: FloatLanes): Value {
  return v.kind === 'mask' ? v : mask(s.set(out, fx.ne(v.v.get(), s.c(0))));
}
/** A bool as 1 or 0, the value the reference computes with. */
export function asFloat(s: LaneMath, out: Stmts, v: Value): Value {
  return v.kind === 'mask' ? float(s.select(out, s.c(1), s.c(0), v.v.get())) : v;
}
export const eluLike =
  (alpha: (args: never) => number, scale: number): Lowering =>
  (s, out, [a], args, _m, fx) => {
    const e = s.expm1(out, a!.v);
    const neg = s.set(out, fx.mul(e.get(), s.c(alpha(args) * scale)));
    const pos = s.set(out, fx.mul(a!.v.get(), s.c(scale)));
    return float(s.select(out, pos.get(), neg.get(), fx.gt(a!.v.get(), s.c(0))));
  };

/** A lane-math function of one operand (s.exp, s.tanh, …), the same at either width. */
export const laneMath =
  (f: (s: LaneMath, out: Stmts, x: Local) => Local): Lowering =>
  (s, out, [a]) =>
    float(f(s, out, a!.v));

/** Two bools compared as bits (a mask lane is all ones, a NaN as a float, so float comparison would lie). */
export type MaskCompare = (m: Module, a: Expr, b: Expr, notA: () => Expr, notB: () => Expr) => Expr;
export const cmp =
  (f: (fx: FloatLanes, a: Expr, b: Expr) => Expr, onMasks: MaskCompare): Lowering =>
  (s, out, [a, b], _args, m, fx) => {
    if (a!.kind === 'mask' && b!.kind === 'mask') {
      return mask(
        s.set(
          out,
          onMasks(
            m,
            a!.v.get(),
            b!.v.get(),
            () => m.v128.not(a!.v.get()),
            () => m.v128.not(b!.v.get()),
          ),
        ),
      );
    }
    return mask(s.set(out, f(fx, asFloat(s, out, a!).v.get(), asFloat(s, out, b!).v.get())));
  };
