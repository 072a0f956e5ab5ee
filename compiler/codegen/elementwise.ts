import type { FusedInstr, Op, OpArgs } from '../ir/ops.js';
import { bytesPerElement, type DType } from '../../runtime/dtype.js';
import type { ElementType, ElementwiseSpec, Layout } from '../../runtime/kernel-abi.js';
import type { Expr, Module } from './binaryen.js';
import type { FunctionEmitter, Local } from './emitter.js';
import { SimdMath, type Stmts } from './simd-math.js';
import { SimdMathF64 } from './simd-math-f64.js';
import { DECLARED_LOWERINGS } from './declared-math.js';
import { evaluateInts, supportedInt } from './int-lanes.js';
import { composites, declaration, DECLARED_OP_NAMES } from '../../runtime/declared-ops.js';
import {
  asFloat,
  asMask,
  eluLike,
  float,
  map2,
  mask,
  type FloatLanes,
  type LaneMath,
  type Lowering,
  type Value,
} from './lowering.js';

/** The SIMD lowering of each op (either lane width); null for ops that are not elementwise. */
export const LOWERING: { readonly [K in Op]: Lowering | null } = {
  input: null,
  constant: null,
  shared: null,
  randomUniformLike: null,
  elu: eluLike((a: OpArgs['elu']) => a.alpha, 1),
  cast: (s, out, [a], args: OpArgs['cast'], _m, fx) => {
    if (args.dtype === 'bool') return a!.kind === 'mask' ? a! : mask(s.set(out, fx.ne(a!.v.get(), s.c(0))));
    return a!.kind === 'mask' ? float(s.select(out, s.c(1), s.c(0), a!.v.get())) : a!;
  },
  pow: (s, out, [a, b]) => float(s.pow(out, a!.v, b!.v)),
  where: (s, out, [c, a, b], _x, m, fx) => {
    const cond = asMask(s, out, c!, fx);
    if (a!.kind === 'mask' && b!.kind === 'mask')
      return mask(s.set(out, m.v128.bitselect(a!.v.get(), b!.v.get(), cond.v.get())));
    return float(s.set(out, m.v128.bitselect(asFloat(s, out, a!).v.get(), asFloat(s, out, b!).v.get(), cond.v.get())));
  },
  clip: (s, out, [x, lo, hi], _x, _m, fx) => float(s.set(out, fx.min(fx.max(x!.v.get(), lo!.v.get()), hi!.v.get()))),
  sum: null,
  mean: null,
  max: null,
  min: null,
  prod: null,
  logsumexp: null,
  argmax: null,
  argmin: null,
  dot: null,
  cholesky: null,
  solveTriangular: null,
  solve: null,
  slogdet: null,
  qr: null,
  checkFinite: null,
  eigh: null,
  svd: null,
  matmul: null,
  identity: null,
  stopGradient: null,
  reshape: null,
  transpose: null,
  expandDims: null,
  squeeze: null,
  concat: null,
  slice: null,
  gather: null,
  oneHot: null,
  pad: null,
  dimOf: null,
  arange: null,
  dynamicSlice: null,
  dynamicSliceGrad: null,
  softmax: null,
  cumsum: null,
  cumprod: null,
  argsort: null,
  topkIndices: null,
  takeAlongAxis: null,
  takeAlongAxisGrad: null,
  logSoftmax: null,
  conv2d: null,
  maxPool2d: null,
  avgPool2d: null,
  broadcastLike: null,
  sumLike: null,
  reshapeLike: null,
  sliceGrad: null,
  gatherGrad: null,
  concatPart: null,
  conv2dGradInput: null,
  conv2dGradFilter: null,
  maxPool2dGrad: null,
  avgPool2dGrad: null,
  fused: null,
  fusedOutput: null,
  loop: null,
  ifelse: null,
  ...DECLARED_LOWERINGS,
  ...composites(() => null),
};

/** Ops whose lowering reads masks as masks (the rest see bools as 1/0 floats). */
const MASK_AWARE = new Set<Op>([...DECLARED_OP_NAMES.filter((op) => declaration(op).masks), 'where', 'cast']);

/** Whether an instruction can be lowered: float32, float64 or bool values and a lowering, or in int32 lanes an int lowering. */
export const supportedLanes = (op: Op, dtype: DType, ints = false): boolean =>
  ints ? supportedInt(op) : LOWERING[op] !== null && (dtype === 'float32' || dtype === 'bool' || dtype === 'float64');

/** Computes a region's instructions on loaded operands (appending to `out`); returns every instruction's value. */
export function evaluate(
  s: LaneMath,
  out: Stmts,
  instrs: readonly FusedInstr[],
  loaded: readonly Value[],
  m: Module,
  fx: FloatLanes,
): Value[] {
  const values: Value[] = [];
  for (const instr of instrs) {
    let operands = instr.inputs.map((r) => (r.from === 'input' ? loaded[r.index]! : values[r.index]!));
    // Arithmetic on bools (max of two masks, bool + bool…) computes on 1/0 floats, as the reference does.
    if (!MASK_AWARE.has(instr.op)) operands = operands.map((v) => asFloat(s, out, v));
    let value = LOWERING[instr.op]!(s, out, operands, instr.args as never, m, fx);
    if (instr.dtype === 'bool' && value.kind === 'float') value = mask(s.set(out, fx.ne(value.v.get(), s.c(0))));
    values.push(value);
  }
  return values;
}

/** A float vector held in a local, as an operand for `evaluate`. */
export const floatValue = (v: Local): Value => float(v);

/**
 * Vectors computed side by side in the main loop: up to four, fewer for long bodies, whose copies
 * would run out of registers (V8 has 16 on x64) and spill more than the overlap gains. Measured on
 * exp (20 statements per vector: four best), tanh (31: four) and the softplus/tanh/sigmoid chain
 * (74: two or three, 12% faster than four).
 */
const interleaving = (statementsPerVector: number) => Math.max(2, Math.min(4, Math.floor(170 / statementsPerVector)));

/** Statement lists merged round-robin: each list keeps its order, independent lists alternate. */
function interleave(lists: readonly Stmts[]): Stmts {
  const merged: Stmts = [];
  const longest = Math.max(...lists.map((l) => l.length));
  for (let i = 0; i < longest; i++) for (const l of lists) if (i < l.length) merged.push(l[i]!);
  return merged;
}

/**
 * Emits an elementwise kernel `(outer, inner, in0, …, out0, …)`: rows of `inner` elements, several
 * vectors (four float32 or two float64 lanes each) per iteration, then single vectors, the last few
 * elements of a row through the same code on splatted lanes (no separate scalar math), with per-input
 * addressing hoisted out of the inner loop by layout.
 */
export function emitElementwise(e: FunctionEmitter, spec: ElementwiseSpec, name: string, fma = false): void {
  const { m, b } = e;
  const wide = spec.lanes === 'f64x2';
  const width = wide ? 2 : 4;
  const fx = (wide ? m.f64x2 : m.f32x4) as FloatLanes;
  const { outer, inner } = e.named('elementwise');
  const ptrs = e.tail('elementwise');
  const inputs = ptrs.slice(0, spec.layouts.length);
  const outputs = ptrs.slice(spec.layouts.length);
  const s: LaneMath = wide ? new SimdMathF64(e) : new SimdMath(e, fma);
  const o = e.local(b.i32);
  const j = e.local(b.i32);
  const rowBase = spec.layouts.map(() => e.local(b.i32));
  const outBase = outputs.map(() => e.local(b.i32));
  const i32 = (c: number) => m.i32.const(c);
  const byteOffset = (l: Expr, t: ElementType) => (t === 'bool' ? l : m.i32.shl(l, i32(Math.log2(bytesPerElement(t)))));
  const zero = () => m.v128.const(new Array(16).fill(0));

  /** A bool operand (bytes 0/1) as a lane mask: widen bytes to the lane width, compare with zero. */
  const boolMask = (bytes: Expr) => {
    const words = m.i32x4.extend_low_i16x8_u(m.i16x8.extend_low_i8x16_u(bytes));
    return wide
      ? m.i64x2.ne(m.i64x2.extend_low_i32x4_u(words), e.i64x2Const(0n).get())
      : m.i32x4.ne(words, e.i32x4Const(0).get());
  };
  /** A lane mask stored as bool bytes: 1 where set, narrowed from the lane width to bytes. */
  const maskBytes = (value: Expr) => {
    let words = m.v128.and(value, e.i32x4Const(1).get());
    if (wide) words = m.i8x16.shuffle(words, words, [0, 1, 2, 3, 8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11]);
    return m.i8x16.narrow_i16x8_u(m.i16x8.narrow_i32x4_u(words, zero()), zero());
  };
  const loadBools = (vector: boolean, at: number, addr: Expr) =>
    !vector
      ? m.v128.load8_splat(at, 1, addr)
      : wide
        ? m.v128.load16_splat(at, 1, addr)
        : m.v128.load32_zero(at, 1, addr);
  const storeBools = (vector: boolean, at: number, addr: Expr, bytes: Expr) =>
    !vector
      ? m.v128.store8_lane(at, 1, 0, addr, bytes)
      : wide
        ? m.v128.store16_lane(at, 1, 0, addr, bytes)
        : m.v128.store32_lane(at, 1, 0, addr, bytes);
  const loadOne = (addr: Expr) => (wide ? m.v128.load64_splat(0, 8, addr) : m.v128.load32_splat(0, 4, addr));
  // int32 operands: as they are in int32 lanes, else converted to the lanes' float type (rounded to nearest in float32, exact in float64).
  const intLanes = spec.lanes === 'i32x4';
  const toLanes = (ints: Expr) =>
    intLanes ? ints : wide ? m.f64x2.convert_low_i32x4_s(ints) : m.f32x4.convert_i32x4_s(ints);
  const intOrFloat = (v: Local): Value => (intLanes ? { v, kind: 'int' } : float(v));
  const loadInts = (vector: boolean, at: number, addr: Expr) =>
    toLanes(
      !vector ? m.v128.load32_splat(at, 4, addr) : wide ? m.v128.load64_zero(at, 4, addr) : m.v128.load(at, 4, addr),
    );
  const storeOne = (addr: Expr, v: Expr) =>
    wide ? m.v128.store64_lane(0, 8, 0, addr, v) : m.v128.store32_lane(0, 4, 0, addr, v);

  const streams = (layout: Layout) => layout === 'full' || layout === 'row';
  // Scalars and per-row values are read once per row (splatted), not once per vector.
  const rowSetupLoads: Stmts = [];
  const rowConstant: (Value | undefined)[] = spec.layouts.map((layout, k) => {
    if (streams(layout)) return undefined;
    const t = spec.inputTypes[k]!;
    if (t === 'bool') return mask(s.set(rowSetupLoads, boolMask(loadBools(false, 0, rowBase[k]!.get()))));
    if (t === 'int32') return intOrFloat(s.set(rowSetupLoads, loadInts(false, 0, rowBase[k]!.get())));
    return float(s.set(rowSetupLoads, loadOne(rowBase[k]!.get())));
  });

  /** One vector's (or, not `vector`, one element's) work at element j + `lane0`. */
  const step = (vector: boolean, lane0: number): Stmts => {
    const out: Stmts = [];
    const offset = (t: ElementType) => lane0 * bytesPerElement(t);
    const loaded: Value[] = spec.layouts.map((layout, k) => {
      const t = spec.inputTypes[k]!;
      if (!streams(layout)) return rowConstant[k]!;
      const addr = m.i32.add(rowBase[k]!.get(), byteOffset(j.get(), t));
      if (t === 'bool') return mask(s.set(out, boolMask(loadBools(vector, offset(t), addr))));
      if (t === 'int32') return intOrFloat(s.set(out, loadInts(vector, offset(t), addr)));
      return float(s.set(out, vector ? m.v128.load(offset(t), bytesPerElement(t), addr) : loadOne(addr)));
    });
    const values = intLanes ? evaluateInts(e, out, spec.instrs, loaded) : evaluate(s, out, spec.instrs, loaded, m, fx);
    spec.outputs.forEach((index, q) => {
      const t = spec.outputTypes[q]!;
      const addr = m.i32.add(outBase[q]!.get(), byteOffset(j.get(), t));
      const value = values[index]!.v.get();
      if (t === 'bool') out.push(storeBools(vector, offset(t), addr, maskBytes(value)));
      else out.push(vector ? m.v128.store(offset(t), bytesPerElement(t), addr, value) : storeOne(addr, value));
    });
    return out;
  };
  /**
   * Several vectors per iteration (or one, or one element), their statements interleaved: a long
   * math chain is latency-bound, and independent chains side by side let the core overlap them.
   */
  const body = (steps: readonly Stmts[], advance: number): Stmts => [
    ...interleave(steps),
    m.local.set(j.index, m.i32.add(j.get(), i32(advance))),
  ];
  const first = step(true, 0);
  const count = interleaving(first.length);
  const side = [first, ...Array.from({ length: count - 1 }, (_, k) => step(true, (k + 1) * width))];

  const rowSetup: Stmts = [
    ...spec.layouts.map((layout, k) => {
      const stride = layout === 'full' ? m.i32.mul(o.get(), inner!.get()) : layout === 'column' ? o.get() : i32(0);
      return m.local.set(rowBase[k]!.index, m.i32.add(inputs[k]!.get(), byteOffset(stride, spec.inputTypes[k]!)));
    }),
    ...outputs.map((p, q) =>
      m.local.set(
        outBase[q]!.index,
        m.i32.add(p.get(), byteOffset(m.i32.mul(o.get(), inner!.get()), spec.outputTypes[q]!)),
      ),
    ),
    ...rowSetupLoads,
    m.local.set(j.index, i32(0)),
  ];
  const loop = (label: string, exitWhen: Expr, stmts: Stmts) =>
    m.block(`${label}_exit`, [
      m.loop(`${label}_loop`, m.block(null, [m.br(`${label}_exit`, exitWhen), ...stmts, m.br(`${label}_loop`)])),
    ]);
  const rows = loop('row', m.i32.ge_u(o.get(), outer!.get()), [
    ...rowSetup,
    loop('wide', m.i32.gt_u(m.i32.add(j.get(), i32(width * count)), inner!.get()), body(side, width * count)),
    loop('vec', m.i32.gt_u(m.i32.add(j.get(), i32(width)), inner!.get()), body([step(true, 0)], width)),
    loop('tail', m.i32.ge_u(j.get(), inner!.get()), body([step(false, 0)], 1)),
    m.local.set(o.index, m.i32.add(o.get(), i32(1))),
  ]);
  e.finish(name, [m.local.set(o.index, i32(0)), rows]);
}
