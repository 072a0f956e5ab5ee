/**
 * Elementwise int32 work in i32x4 lanes: the wrapping arithmetic NumPy's int32 has (add, sub, mul,
 * neg and abs wrap), comparisons to masks, and the floor division and remainders computed through
 * float64 (exact for int32 operands), with NumPy's 0 for a zero divisor.
 */
import type { FusedInstr, Op, OpArgs } from '../ir/ops.js';
import type { Expr, Module } from './binaryen.js';
import type { FunctionEmitter, Local } from './emitter.js';
import type { Stmts } from './lane-math.js';
import type { Value } from './lowering.js';

/** What an int lowering builds with: the module, a local for a value, an int splat. */
interface IntKit {
  readonly m: Module;
  set(out: Stmts, value: Expr): Local;
  int(value: number): Expr;
}
type IntLowering = (k: IntKit, out: Stmts, xs: readonly Value[], args: never) => Value;

const intValue = (v: Local): Value => ({ v, kind: 'int' });
const maskValue = (v: Local): Value => ({ v, kind: 'mask' });
const lanes2 =
  (f: (m: Module, a: Expr, b: Expr) => Expr): IntLowering =>
  (k, out, [a, b]) =>
    intValue(k.set(out, f(k.m, a!.v.get(), b!.v.get())));
const lanes1 =
  (f: (m: Module, a: Expr) => Expr): IntLowering =>
  (k, out, [a]) =>
    intValue(k.set(out, f(k.m, a!.v.get())));
const compare =
  (f: (m: Module, a: Expr, b: Expr) => Expr): IntLowering =>
  (k, out, [a, b]) =>
    maskValue(k.set(out, f(k.m, a!.v.get(), b!.v.get())));
/** A value as a mask: an int is true where it is not 0. */
const truth = (k: IntKit, out: Stmts, v: Value): Local =>
  v.kind === 'mask' ? v.v : k.set(out, k.m.i32x4.ne(v.v.get(), k.int(0)));

/** a and b as two float64 pairs each, combined by f, and the int results (truncated, saturating) put back together. */
function viaFloat64(k: IntKit, out: Stmts, a: Local, b: Local, f: (x: Expr, y: Expr) => Expr): Local {
  const { m } = k;
  const high = (v: Local) => m.i8x16.shuffle(v.get(), v.get(), [8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7]);
  const half = (x: Expr, y: Expr) =>
    m.i32x4.trunc_sat_f64x2_s_zero(f(m.f64x2.convert_low_i32x4_s(x), m.f64x2.convert_low_i32x4_s(y)));
  const low = k.set(out, half(a.get(), b.get()));
  const top = k.set(out, half(high(a), high(b)));
  return k.set(out, m.i8x16.shuffle(low.get(), top.get(), [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23]));
}

/**
 * The rounded quotient of int32 lanes (`round`: floor or trunc of a/b in float64, exact for int32),
 * 0 where b is 0 (NumPy), and −2^31 for −2^31 / −1, wrapping as the reference's int32 store does.
 */
function quotient(k: IntKit, out: Stmts, a: Local, b: Local, round: 'floor' | 'trunc'): Local {
  const { m } = k;
  const q = viaFloat64(k, out, a, b, (x, y) =>
    round === 'floor' ? m.f64x2.floor(m.f64x2.div(x, y)) : m.f64x2.trunc(m.f64x2.div(x, y)),
  );
  const wraps = m.v128.and(m.i32x4.eq(a.get(), k.int(-(2 ** 31))), m.i32x4.eq(b.get(), k.int(-1)));
  const wrapped = k.set(out, m.v128.bitselect(k.int(-(2 ** 31)), q.get(), wraps));
  return k.set(out, m.v128.andnot(wrapped.get(), m.i32x4.eq(b.get(), k.int(0))));
}
/** a − q·b for the rounded quotient q (wrapping), 0 where b is 0. */
const remainder =
  (round: 'floor' | 'trunc'): IntLowering =>
  (k, out, [a, b]) => {
    const q = quotient(k, out, a!.v, b!.v, round);
    const r = k.m.i32x4.sub(a!.v.get(), k.m.i32x4.mul(q.get(), b!.v.get()));
    return intValue(k.set(out, k.m.v128.andnot(r, k.m.i32x4.eq(b!.v.get(), k.int(0)))));
  };

/** The int32 lowering of each op that has one; ops without an entry keep an int32 program on the reference. */
const INT_LOWERING: Partial<Record<Op, IntLowering>> = {
  add: lanes2((m, a, b) => m.i32x4.add(a, b)),
  sub: lanes2((m, a, b) => m.i32x4.sub(a, b)),
  mul: lanes2((m, a, b) => m.i32x4.mul(a, b)),
  neg: lanes1((m, a) => m.i32x4.neg(a)),
  abs: lanes1((m, a) => m.i32x4.abs(a)),
  square: (k, out, [a]) => intValue(k.set(out, k.m.i32x4.mul(a!.v.get(), a!.v.get()))),
  maximum: lanes2((m, a, b) => m.i32x4.max_s(a, b)),
  minimum: lanes2((m, a, b) => m.i32x4.min_s(a, b)),
  relu: (k, out, [a]) => intValue(k.set(out, k.m.i32x4.max_s(a!.v.get(), k.int(0)))),
  // −1 where a < 0 minus −1 where a > 0.
  sign: (k, out, [a]) =>
    intValue(k.set(out, k.m.i32x4.sub(k.m.i32x4.lt_s(a!.v.get(), k.int(0)), k.m.i32x4.gt_s(a!.v.get(), k.int(0))))),
  clip: (k, out, [x, lo, hi]) =>
    intValue(k.set(out, k.m.i32x4.min_s(k.m.i32x4.max_s(x!.v.get(), lo!.v.get()), hi!.v.get()))),
  floor: (_k, _out, [a]) => a!,
  ceil: (_k, _out, [a]) => a!,
  round: (_k, _out, [a]) => a!,
  trunc: (_k, _out, [a]) => a!,
  floorDiv: (k, out, [a, b]) => intValue(quotient(k, out, a!.v, b!.v, 'floor')),
  mod: remainder('floor'),
  fmod: remainder('trunc'),
  eq: compare((m, a, b) => m.i32x4.eq(a, b)),
  ne: compare((m, a, b) => m.i32x4.ne(a, b)),
  lt: compare((m, a, b) => m.i32x4.lt_s(a, b)),
  le: compare((m, a, b) => m.i32x4.le_s(a, b)),
  gt: compare((m, a, b) => m.i32x4.gt_s(a, b)),
  ge: compare((m, a, b) => m.i32x4.ge_s(a, b)),
  and: (k, out, [a, b]) => maskValue(k.set(out, k.m.v128.and(truth(k, out, a!).get(), truth(k, out, b!).get()))),
  or: (k, out, [a, b]) => maskValue(k.set(out, k.m.v128.or(truth(k, out, a!).get(), truth(k, out, b!).get()))),
  not: (k, out, [a]) => maskValue(k.set(out, k.m.v128.not(truth(k, out, a!).get()))),
  where: (k, out, [c, a, b]) => {
    const kind = a!.kind === 'mask' && b!.kind === 'mask' ? 'mask' : 'int';
    return { v: k.set(out, k.m.v128.bitselect(a!.v.get(), b!.v.get(), truth(k, out, c!).get())), kind };
  },
  cast: (k, out, [a], args: OpArgs['cast']) =>
    args.dtype === 'bool'
      ? maskValue(truth(k, out, a!))
      : a!.kind === 'mask'
        ? intValue(k.set(out, k.m.v128.and(a!.v.get(), k.int(1))))
        : a!,
};

/** Ops whose int lowering reads masks as masks (the rest see bools as 1/0 ints). */
const READS_MASKS = new Set<Op>(['and', 'or', 'not', 'where', 'cast']);

/** Whether an instruction of an int32 (or bool) kernel has an i32x4 lowering. */
export const supportedInt = (op: Op): boolean => INT_LOWERING[op] !== undefined;

/** A region's instructions on int32 and mask lanes (appending to `out`); every instruction's value. */
export function evaluateInts(
  e: FunctionEmitter,
  out: Stmts,
  instrs: readonly FusedInstr[],
  loaded: readonly Value[],
): Value[] {
  const { m } = e;
  const kit: IntKit = {
    m,
    set: (into, value) => e.let(into, e.b.v128, value),
    int: (value) => e.i32x4Const(value).get(),
  };
  const values: Value[] = [];
  for (const instr of instrs) {
    let operands = instr.inputs.map((r) => (r.from === 'input' ? loaded[r.index]! : values[r.index]!));
    // Mixed with ints, a bool is 1 or 0 (a mask is all ones: its low bit).
    const asInt = (v: Value): Value =>
      v.kind === 'mask' ? intValue(kit.set(out, m.v128.and(v.v.get(), kit.int(1)))) : v;
    if (!READS_MASKS.has(instr.op) || (instr.op === 'where' && operands.slice(1).some((v) => v.kind !== 'mask')))
      operands = instr.op === 'where' ? [operands[0]!, ...operands.slice(1).map(asInt)] : operands.map(asInt);
    let value = INT_LOWERING[instr.op]!(kit, out, operands, instr.args as never);
    if (instr.dtype === 'bool' && value.kind !== 'mask') value = maskValue(truth(kit, out, value));
    values.push(value);
  }
  return values;
}
