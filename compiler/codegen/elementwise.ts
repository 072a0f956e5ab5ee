import type { Op, OpArgs } from '../ir/ops.js';
import type { DType } from '../../runtime/dtype.js';
import { SELU_ALPHA, SELU_SCALE } from '../../runtime/reference/scalar-math.js';
import type { ElementType, KernelSpec } from '../schedule/kernels.js';
import type { Expr } from './binaryen.js';
import type { FunctionEmitter, Local } from './emitter.js';
import { SimdMath, type Stmts } from './simd-math.js';

/** A value inside a kernel: four float32 lanes, or a comparison mask (all bits set where true). */
interface Value {
  readonly v: Local;
  readonly kind: 'f32' | 'mask';
}

type Lowering = (s: SimdMath, out: Stmts, xs: readonly Value[], args: never, m: FunctionEmitter['m']) => Value;

const f32 = (v: Local): Value => ({ v, kind: 'f32' });
const mask = (v: Local): Value => ({ v, kind: 'mask' });
const map1 = (f: (m: FunctionEmitter['m'], a: Expr) => Expr): Lowering => (s, out, [a], _args, m) => f32(s.set(out, f(m, a!.v.get())));
const map2 = (f: (m: FunctionEmitter['m'], a: Expr, b: Expr) => Expr): Lowering => (s, out, [a, b], _args, m) => f32(s.set(out, f(m, a!.v.get(), b!.v.get())));
/** Two bools compared as bits (a mask lane is all ones, a NaN as float32, so float comparison would lie). */
type MaskCompare = (m: FunctionEmitter['m'], a: Expr, b: Expr, notA: () => Expr, notB: () => Expr) => Expr;
const cmp = (f: (m: FunctionEmitter['m'], a: Expr, b: Expr) => Expr, onMasks: MaskCompare): Lowering => (s, out, [a, b], _args, m) => {
  if (a!.kind === 'mask' && b!.kind === 'mask') {
    return mask(s.set(out, onMasks(m, a!.v.get(), b!.v.get(), () => m.v128.not(a!.v.get()), () => m.v128.not(b!.v.get()))));
  }
  return mask(s.set(out, f(m, asFloat(s, out, a!, m).v.get(), asFloat(s, out, b!, m).v.get())));
};
/** A value as a mask: a float is true where it is not 0 (NaN is true, as in NumPy). */
function asMask(s: SimdMath, out: Stmts, v: Value, m: FunctionEmitter['m']): Value {
  return v.kind === 'mask' ? v : mask(s.set(out, m.f32x4.ne(v.v.get(), s.c(0))));
}
/** A bool as float32 1 or 0, the value the reference computes with. */
function asFloat(s: SimdMath, out: Stmts, v: Value, m: FunctionEmitter['m']): Value {
  return v.kind === 'mask' ? f32(s.select(out, s.c(1), s.c(0), v.v.get())) : v;
}
type MathName = 'exp' | 'log' | 'log1p' | 'expm1' | 'tanh' | 'sigmoid' | 'softplus' | 'erf' | 'gelu' | 'sin' | 'cos' | 'log1mexp';
const math = (name: MathName): Lowering => (s, out, [a]) => f32(s[name](out, a!.v));
const eluLike = (alpha: (args: never) => number, scale: number): Lowering => (s, out, [a], args, m) => {
  const e = s.expm1(out, a!.v);
  const neg = s.set(out, m.f32x4.mul(e.get(), s.c(alpha(args) * scale)));
  const pos = s.set(out, m.f32x4.mul(a!.v.get(), s.c(scale)));
  return f32(s.select(out, pos.get(), neg.get(), m.f32x4.gt(a!.v.get(), s.c(0))));
};

/** The float32 SIMD lowering of each op; null for ops that are not elementwise. */
export const F32X4_LOWERING: { readonly [K in Op]: Lowering | null } = {
  input: null, constant: null, shared: null, randomUniformLike: null,
  neg: map1((m, a) => m.f32x4.neg(a)),
  exp: math('exp'), log: math('log'), log1p: math('log1p'), expm1: math('expm1'),
  sqrt: map1((m, a) => m.f32x4.sqrt(a)),
  rsqrt: (s, out, [a], _x, m) => f32(s.set(out, m.f32x4.div(s.c(1), m.f32x4.sqrt(a!.v.get())))),
  square: map1((m, a) => m.f32x4.mul(a, a)),
  abs: map1((m, a) => m.f32x4.abs(a)),
  sign: (s, out, [a], _x, m) => {
    const pos = s.select(out, s.c(1), s.c(0), m.f32x4.gt(a!.v.get(), s.c(0)));
    const both = s.select(out, s.c(-1), pos.get(), m.f32x4.lt(a!.v.get(), s.c(0)));
    return f32(s.select(out, both.get(), a!.v.get(), m.f32x4.eq(a!.v.get(), a!.v.get())));
  },
  tanh: math('tanh'), sigmoid: math('sigmoid'), softplus: math('softplus'),
  relu: (s, out, [a], _x, m) => f32(s.set(out, m.f32x4.max(a!.v.get(), s.c(0)))),
  elu: eluLike((a: OpArgs['elu']) => a.alpha, 1),
  selu: eluLike(() => SELU_ALPHA, SELU_SCALE),
  gelu: math('gelu'), erf: math('erf'), sin: math('sin'), cos: math('cos'),
  not: (s, out, [a], _x, m) => mask(s.set(out, m.v128.not(asMask(s, out, a!, m).v.get()))),
  reciprocal: (s, out, [a], _x, m) => f32(s.set(out, m.f32x4.div(s.c(1), a!.v.get()))),
  log1mexp: math('log1mexp'),
  cast: (s, out, [a], args: OpArgs['cast'], m) => {
    if (args.dtype === 'bool') return a!.kind === 'mask' ? a! : mask(s.set(out, m.f32x4.ne(a!.v.get(), s.c(0))));
    return a!.kind === 'mask' ? f32(s.select(out, s.c(1), s.c(0), a!.v.get())) : a!;
  },
  add: map2((m, a, b) => m.f32x4.add(a, b)), sub: map2((m, a, b) => m.f32x4.sub(a, b)),
  mul: map2((m, a, b) => m.f32x4.mul(a, b)), div: map2((m, a, b) => m.f32x4.div(a, b)),
  pow: (s, out, [a, b]) => f32(s.pow(out, a!.v, b!.v)),
  maximum: map2((m, a, b) => m.f32x4.max(a, b)), minimum: map2((m, a, b) => m.f32x4.min(a, b)),
  // false < true: a < b is !a & b, a > b is a & !b.
  eq: cmp((m, a, b) => m.f32x4.eq(a, b), (m, a, b) => m.i32x4.eq(a, b)),
  ne: cmp((m, a, b) => m.f32x4.ne(a, b), (m, a, b) => m.v128.xor(a, b)),
  lt: cmp((m, a, b) => m.f32x4.lt(a, b), (m, _a, b, notA) => m.v128.and(notA(), b)),
  le: cmp((m, a, b) => m.f32x4.le(a, b), (m, _a, b, notA) => m.v128.or(notA(), b)),
  gt: cmp((m, a, b) => m.f32x4.gt(a, b), (m, a, _b, _notA, notB) => m.v128.and(a, notB())),
  ge: cmp((m, a, b) => m.f32x4.ge(a, b), (m, a, _b, _notA, notB) => m.v128.or(a, notB())),
  and: (s, out, [a, b], _x, m) => mask(s.set(out, m.v128.and(asMask(s, out, a!, m).v.get(), asMask(s, out, b!, m).v.get()))),
  or: (s, out, [a, b], _x, m) => mask(s.set(out, m.v128.or(asMask(s, out, a!, m).v.get(), asMask(s, out, b!, m).v.get()))),
  where: (s, out, [c, a, b], _x, m) => {
    const cond = asMask(s, out, c!, m);
    if (a!.kind === 'mask' && b!.kind === 'mask') return mask(s.set(out, m.v128.bitselect(a!.v.get(), b!.v.get(), cond.v.get())));
    return f32(s.set(out, m.v128.bitselect(asFloat(s, out, a!, m).v.get(), asFloat(s, out, b!, m).v.get(), cond.v.get())));
  },
  clip: (s, out, [x, lo, hi], _x, m) => f32(s.set(out, m.f32x4.min(m.f32x4.max(x!.v.get(), lo!.v.get()), hi!.v.get()))),
  sum: null, mean: null, max: null, min: null, prod: null, logsumexp: null, argmax: null, argmin: null,
  dot: null, matmul: null, reshape: null, transpose: null, expandDims: null, squeeze: null, concat: null,
  slice: null, gather: null, oneHot: null, pad: null, softmax: null, logSoftmax: null, conv2d: null,
  maxPool2d: null, avgPool2d: null, broadcastLike: null, sumLike: null, reshapeLike: null, sliceGrad: null,
  gatherGrad: null, concatPart: null, conv2dGradInput: null, conv2dGradFilter: null, maxPool2dGrad: null,
  avgPool2dGrad: null, fused: null, fusedOutput: null,
};

/** Ops whose lowering reads masks as masks (the rest see bools as 1/0 floats). */
const MASK_AWARE = new Set<Op>(['eq', 'ne', 'lt', 'le', 'gt', 'ge', 'and', 'or', 'not', 'where', 'cast']);

/** Whether an instruction can be lowered: float32 values or comparison masks, and a lowering exists. */
export const supportedF32 = (op: Op, dtype: DType): boolean =>
  F32X4_LOWERING[op] !== null && (dtype === 'float32' || dtype === 'bool');

/**
 * Emits an elementwise kernel `(outer, inner, in0, …, out0, …)`: rows of `inner` elements, four lanes
 * at a time, the last few elements of a row through the same code on splatted lanes (no separate
 * scalar math), with per-input addressing hoisted out of the inner loop by layout.
 */
export function emitElementwise(e: FunctionEmitter, spec: Extract<KernelSpec, { kind: 'elementwise' }>, name: string, fma = false): void {
  const { m, b } = e;
  const [outer, inner, ...ptrs] = e.params;
  const inputs = ptrs.slice(0, spec.layouts.length);
  const outputs = ptrs.slice(spec.layouts.length);
  const s = new SimdMath(e, fma);
  const o = e.local(b.i32);
  const j = e.local(b.i32);
  const rowBase = spec.layouts.map(() => e.local(b.i32));
  const outBase = outputs.map(() => e.local(b.i32));
  const i32 = (c: number) => m.i32.const(c);
  // Byte offset of element `l` for an element type: float32 is 4 bytes, bool 1.
  const byteOffset = (l: Expr, t: ElementType) => (t === 'bool' ? l : m.i32.shl(l, i32(2)));
  const one = e.i32x4Const(1);

  /** A bool operand (bytes 0/1) as a lane mask: widen bytes to 32-bit lanes, compare with zero. */
  const boolMask = (bytes: Expr) => m.i32x4.ne(m.i32x4.extend_low_i16x8_u(m.i16x8.extend_low_i8x16_u(bytes)), e.i32x4Const(0).get());
  /** A lane mask stored as bool bytes: 1 where set, narrowed from 32-bit lanes to bytes. */
  const maskBytes = (value: Expr) => {
    const bits = m.v128.and(value, one.get());
    const halves = m.i16x8.narrow_i32x4_u(bits, m.v128.const(new Array(16).fill(0)));
    return m.i8x16.narrow_i16x8_u(halves, m.v128.const(new Array(16).fill(0)));
  };

  const body = (vector: boolean): Stmts => {
    const out: Stmts = [];
    const loaded: Value[] = spec.layouts.map((layout, k) => {
      const streaming = layout === 'full' || layout === 'row';
      const t = spec.inputTypes[k]!;
      const addr = streaming ? m.i32.add(rowBase[k]!.get(), byteOffset(j.get(), t)) : rowBase[k]!.get();
      if (t === 'bool') return mask(s.set(out, boolMask(vector && streaming ? m.v128.load32_zero(0, 1, addr) : m.v128.load8_splat(0, 1, addr))));
      return f32(s.set(out, vector && streaming ? m.v128.load(0, 4, addr) : m.v128.load32_splat(0, 4, addr)));
    });
    const values: Value[] = [];
    for (const instr of spec.instrs) {
      let operands = instr.inputs.map((r) => (r.from === 'input' ? loaded[r.index]! : values[r.index]!));
      // Arithmetic on bools (max of two masks, bool + bool…) computes on 1/0 floats, as the reference does.
      if (!MASK_AWARE.has(instr.op)) operands = operands.map((v) => asFloat(s, out, v, m));
      let value = F32X4_LOWERING[instr.op]!(s, out, operands, instr.args as never, m);
      if (instr.dtype === 'bool' && value.kind === 'f32') value = mask(s.set(out, m.f32x4.ne(value.v.get(), s.c(0))));
      values.push(value);
    }
    spec.outputs.forEach((index, q) => {
      const t = spec.outputTypes[q]!;
      const addr = m.i32.add(outBase[q]!.get(), byteOffset(j.get(), t));
      const value = values[index]!.v.get();
      if (t === 'bool') out.push(vector ? m.v128.store32_lane(0, 1, 0, addr, maskBytes(value)) : m.v128.store8_lane(0, 1, 0, addr, maskBytes(value)));
      else out.push(vector ? m.v128.store(0, 4, addr, value) : m.v128.store32_lane(0, 4, 0, addr, value));
    });
    out.push(m.local.set(j.index, m.i32.add(j.get(), i32(vector ? 4 : 1))));
    return out;
  };

  const rowSetup: Stmts = [
    ...spec.layouts.map((layout, k) => {
      const stride = layout === 'full' ? m.i32.mul(o.get(), inner!.get()) : layout === 'column' ? o.get() : i32(0);
      return m.local.set(rowBase[k]!.index, m.i32.add(inputs[k]!.get(), byteOffset(stride, spec.inputTypes[k]!)));
    }),
    ...outputs.map((p, q) => m.local.set(outBase[q]!.index, m.i32.add(p.get(), byteOffset(m.i32.mul(o.get(), inner!.get()), spec.outputTypes[q]!)))),
    m.local.set(j.index, i32(0)),
  ];
  const loop = (label: string, exitWhen: Expr, stmts: Stmts) =>
    m.block(`${label}_exit`, [m.loop(`${label}_loop`, m.block(null, [m.br(`${label}_exit`, exitWhen), ...stmts, m.br(`${label}_loop`)]))]);
  const rows = loop('row', m.i32.ge_u(o.get(), outer!.get()), [
    ...rowSetup,
    loop('vec', m.i32.gt_u(m.i32.add(j.get(), i32(4)), inner!.get()), body(true)),
    loop('tail', m.i32.ge_u(j.get(), inner!.get()), body(false)),
    m.local.set(o.index, m.i32.add(o.get(), i32(1))),
  ]);
  e.finish(name, [m.local.set(o.index, i32(0)), rows]);
}
