/**
 * ONNX operators as tsano graph builders, one entry per op type. An entry reads its attributes and
 * operands through an `ImportContext` and returns the node's outputs. Operands a tsano op needs as
 * numbers (shapes, axes, slice bounds, pads) must be constants or shape arithmetic that folds at
 * import time (`Shape → Gather → Concat` chains, with unknown sizes carried as -1).
 */
import * as T from '../index.js';
import type { Node } from '../../compiler/ir/node.js';
import { isFloat, type DType } from '../../runtime/dtype.js';
import { NDArray } from '../../runtime/ndarray.js';
import { dtypeOfOnnx, onnxTypeName } from './tensors.js';
import { OnnxError } from './schema.js';

/** A size known only at call time: axis `axis` of the value `of` (what Shape read). */
export interface SymbolicDim {
  readonly of: Node;
  readonly axis: number;
}
export type DimValue = number | SymbolicDim;
const isKnown = (d: DimValue): d is number => typeof d === 'number';

/**
 * An imported value: its node, and when the value is known at import time, the value itself (for
 * operands that must be numbers). `dims` is a 1-D int vector known but for some entries: a shape
 * read from an input whose batch size is symbolic.
 */
export interface Value {
  readonly node: Node;
  readonly known?: NDArray;
  readonly dims?: readonly DimValue[];
  /**
   * The same rank-4 value held channels-last (NHWC): ONNX's images are NCHW, tsano's image kernels
   * channels-last, so a run of convolutions, pools and elementwise ops stays NHWC and `node` (NCHW)
   * is made only if another op reads it.
   */
  readonly channelsLast?: Node;
}

/** A value computed channels-last; its NCHW node is a transpose made on first use. */
export function channelsLastValue(nhwc: Node): Value {
  let nchw: Node | undefined;
  return {
    channelsLast: nhwc,
    get node() {
      return (nchw ??= T.transpose(nhwc, [0, 3, 1, 2]));
    },
  };
}

/** A rank-4 NCHW value as NHWC (its own, or a transpose). */
const asChannelsLast = (v: Value): Node => v.channelsLast ?? T.transpose(v.node, [0, 2, 3, 1]);

/**
 * An operand of an elementwise op whose other operand is channels-last: broadcast against NCHW, it is
 * padded to rank 4 and its axes moved as the image's were (a per-channel [C, 1, 1] becomes [1, 1, 1, C]).
 */
function broadcastChannelsLast(v: Value): Node {
  if (v.channelsLast) return v.channelsLast;
  let x = v.node;
  if (x.ndim === 0) return x;
  while (x.ndim < 4) x = T.expandDims(x, 0);
  return T.transpose(x, [0, 2, 3, 1]);
}

/** Elementwise `f` over operands, channels-last when one of them is and all are of rank ≤ 4. */
function elementwiseOver(vs: readonly Value[], f: (...xs: Node[]) => Node): Value | Node {
  if (vs.some((v) => v.channelsLast) && vs.every((v) => v.channelsLast || v.node.ndim <= 4))
    return channelsLastValue(f(...vs.map(broadcastChannelsLast)));
  return f(...vs.map((v) => v.node));
}

/** What an importer sees of one ONNX node. */
export interface ImportContext {
  readonly opset: number;
  /** "node 'fc1' (Gemm, opset 17)": the start of every message about the node. */
  readonly where: string;
  readonly outputCount: number;
  /** Operand i; undefined where it is absent or named ''. */
  input(i: number): Value | undefined;
  /** Operand i, which must be present. */
  required(i: number): Value;
  /** Operand i's value, which must be known at import time. */
  constant(i: number): NDArray;
  /** Operand i as integers known at import time (unknown sizes as null), or undefined when absent. */
  ints(i: number): (number | null)[] | undefined;
  /** Operand i as a shape: integers, and sizes known only at call time by where they come from. */
  shape(i: number): DimValue[] | undefined;
  int(name: string, fallback?: number): number;
  intList(name: string, fallback?: readonly number[]): number[];
  floatList(name: string): number[];
  float(name: string, fallback?: number): number;
  string(name: string, fallback?: string): string;
  tensor(name: string): NDArray | undefined;
  has(name: string): boolean;
  /** A subgraph attribute's outputs, imported in the enclosing graph's scope. */
  graph(name: string): Value[];
  fail(why: string): never;
}

type Importer = (c: ImportContext) => Value | Node | readonly (Value | Node)[];

const node = (v: Value | Node): Node => ('node' in v && !(v instanceof T.Node) ? v.node : (v as Node));
const known = (x: NDArray): Value => ({ node: T.constant(x), known: x });
const intVector = (values: readonly number[]): NDArray =>
  new NDArray(Int32Array.from(values), [values.length], 'int32');

/** Axis `a` of a rank-`rank` value, negative counting from the end, or the node's error. */
function axis(c: ImportContext, a: number, rank: number): number {
  const k = a < 0 ? a + rank : a;
  if (!Number.isInteger(k) || k < 0 || k >= rank) c.fail(`axis ${a} is out of range for rank ${rank}`);
  return k;
}

/** A unary op: its node from the operand's (channels-last in, channels-last out). */
const unary =
  (f: (x: Node) => Node): Importer =>
  (c) =>
    elementwiseOver([c.required(0)], f);

/** ONNX broadcasts binary operands as NumPy does; tsano's ops too. */
const binary =
  (f: (a: Node, b: Node) => Node): Importer =>
  (c) =>
    elementwiseOver([c.required(0), c.required(1)], f);

/** Max, Min, Sum, Mean: any number of operands. */
const variadic =
  (f: (a: Node, b: Node) => Node, finish: (x: Node, n: number) => Node = (x) => x): Importer =>
  (c) => {
    const vs: Value[] = [];
    for (let i = 0; c.input(i); i++) vs.push(c.input(i)!);
    if (vs.length === 0) c.fail('needs at least one operand');
    return elementwiseOver(vs, (...xs) =>
      finish(
        xs.reduce((a, b) => f(a, b)),
        xs.length,
      ),
    );
  };

/** Reduce*: axes from the attribute (before opset 18, and ReduceSum before 13) or the second operand. */
const reduce =
  (f: (x: Node, axes: number[], keepdims: boolean) => Node, axesAsInputFrom = 18): Importer =>
  (c) => {
    const x = c.required(0).node;
    const keepdims = c.int('keepdims', 1) === 1;
    const given = c.opset >= axesAsInputFrom ? c.ints(1) : c.has('axes') ? c.intList('axes') : undefined;
    if (given?.some((a) => a === null)) c.fail('axes must be known at import time');
    if (!given || given.length === 0) {
      if (c.int('noop_with_empty_axes', 0) === 1) return x;
      return f(
        x,
        x.shape.map((_, i) => i),
        keepdims,
      );
    }
    return f(
      x,
      (given as number[]).map((a) => axis(c, a, x.ndim)),
      keepdims,
    );
  };

/** A [1, C, 1, ...] view of a per-channel vector, to broadcast over an NCHW value. */
const perChannel = (v: Node, rank: number): Node => T.reshape(v, [1, -1, ...Array<number>(rank - 2).fill(1)]);

/** The rank-4 image operand of Conv and the pools, channels-last, with its NCHW sizes. */
function imageOperand(c: ImportContext): { x: Node; sizes: readonly (number | null)[] } {
  const v = c.required(0);
  const rank = v.channelsLast ? 4 : v.node.ndim;
  if (rank !== 4) c.fail(`only 2-D windows (rank-4 NCHW operands) are supported, got rank ${rank}`);
  const x = asChannelsLast(v);
  return { x, sizes: [x.shape[1]!, x.shape[2]!] };
}

/** Explicit pads [top, left, bottom, right] as tsano's 'same' when they are what 'same' pads, else undefined. */
function asSame(
  pads: readonly number[],
  sizes: readonly (number | null)[],
  kernel: readonly number[],
  strides: readonly number[],
  dil: readonly number[],
) {
  if (pads.every((p) => p === 0)) return 'valid';
  if (sizes.some((d) => d === null)) return undefined;
  for (let i = 0; i < 2; i++) {
    const n = sizes[i]!;
    const span = (kernel[i]! - 1) * dil[i]! + 1;
    const total = Math.max((Math.ceil(n / strides[i]!) - 1) * strides[i]! + span - n, 0);
    if (pads[i] !== Math.floor(total / 2) || pads[i + 2] !== total - Math.floor(total / 2)) return undefined;
  }
  return 'same';
}

interface Window {
  kernel: number[];
  strides: number[];
  dilations: number[];
  pads: number[];
  padding: 'valid' | 'same' | 'explicit';
}

/** The window attributes of Conv, MaxPool and AveragePool, 2-D only, for an image of `sizes` (H, W). */
function windowOf(c: ImportContext, sizes: readonly (number | null)[], kernelShape: readonly number[]): Window {
  const kernel = c.intList('kernel_shape', kernelShape);
  const strides = c.intList('strides', [1, 1]);
  const dilations = c.intList('dilations', [1, 1]);
  const autoPad = c.string('auto_pad', 'NOTSET');
  let pads = c.intList('pads', [0, 0, 0, 0]);
  if (autoPad === 'SAME_UPPER') return { kernel, strides, dilations, pads, padding: 'same' };
  if (autoPad === 'VALID') pads = [0, 0, 0, 0];
  else if (autoPad !== 'NOTSET') c.fail(`auto_pad '${autoPad}' is not supported`);
  const same = asSame(pads, sizes, kernel, strides, dilations);
  return { kernel, strides, dilations, pads, padding: same ?? 'explicit' };
}

/** x (NCHW) padded on its two image axes by ONNX's [top, left, bottom, right] pads. */
const padImage = (x: Node, pads: readonly number[], value: number): Node =>
  T.pad(
    x,
    [
      [0, 0],
      [0, 0],
      [pads[0]!, pads[2]!],
      [pads[1]!, pads[3]!],
    ],
    value,
  );
/** x (NHWC) padded likewise. */
const padChannelsLast = (x: Node, pads: readonly number[], value: number): Node =>
  T.pad(
    x,
    [
      [0, 0],
      [pads[0]!, pads[2]!],
      [pads[1]!, pads[3]!],
      [0, 0],
    ],
    value,
  );

function conv(c: ImportContext): Value {
  const { x, sizes } = imageOperand(c);
  const w = c.required(1).node;
  if (w.ndim !== 4) c.fail(`only 2-D convolutions are supported (weight of rank ${w.ndim})`);
  const win = windowOf(c, sizes, [w.shape[2]!, w.shape[3]!]);
  const group = c.int('group', 1);
  const input = win.padding === 'explicit' ? padChannelsLast(x, win.pads, 0) : x;
  const options = {
    strides: win.strides as [number, number],
    dilation: win.dilations as [number, number],
    padding: win.padding === 'same' ? ('same' as const) : ('valid' as const),
    dataFormat: 'channelsLast' as const,
  };
  // ONNX's weight is [out, in / group, kh, kw]; tsano's kernel [kh, kw, in, out].
  const kernelOf = (wg: Node) => T.transpose(wg, [2, 3, 1, 0]);
  let y: Node;
  if (group === 1) y = T.conv2d(input, kernelOf(w), options);
  else {
    const [out, inPer] = [w.shape[0], w.shape[1]];
    if (out === null || inPer === null || out! % group !== 0)
      c.fail(`group ${group} does not divide the weight's shape`);
    const outPer = out! / group;
    const parts: Node[] = [];
    for (let g = 0; g < group; g++) {
      const xg = T.index(input, null, null, null, [g * inPer!, (g + 1) * inPer!]);
      const wg = T.index(w, [g * outPer, (g + 1) * outPer]);
      parts.push(T.conv2d(xg, kernelOf(wg), options));
    }
    y = T.concat(parts, 3);
  }
  const b = c.input(2);
  return channelsLastValue(b ? T.add(y, b.node) : y);
}

function convTranspose(c: ImportContext): Node {
  const x = c.required(0).node;
  const w = c.required(1).node;
  if (w.ndim !== 4 || x.ndim !== 4) c.fail('only 2-D transposed convolutions are supported');
  if (c.int('group', 1) !== 1) c.fail('group > 1 is not supported');
  if (c.intList('dilations', [1, 1]).some((d) => d !== 1)) c.fail('dilations other than 1 are not supported');
  if (c.has('output_shape')) c.fail("'output_shape' is not supported; give pads instead");
  const autoPad = c.string('auto_pad', 'NOTSET');
  if (autoPad !== 'NOTSET' && autoPad !== 'SAME_UPPER' && autoPad !== 'VALID')
    c.fail(`auto_pad '${autoPad}' is not supported`);
  const strides = c.intList('strides', [1, 1]);
  let pads = autoPad === 'NOTSET' ? c.intList('pads', [0, 0, 0, 0]) : [0, 0, 0, 0];
  let extra = c.intList('output_padding', [0, 0]);
  if (autoPad === 'SAME_UPPER') {
    // The output is the input times the stride; the surplus of the full output is cropped, more at the end.
    const total = [0, 1].map((i) => w.shape[2 + i]! - strides[i]!);
    pads = [
      ...total.map((t) => Math.max(Math.floor(t / 2), 0)),
      ...total.map((t) => Math.max(t - Math.floor(t / 2), 0)),
    ];
    extra = total.map((t) => Math.max(-t, 0));
  }
  // ONNX's weight is [in, out, kh, kw]; tsano's transposed kernel [kh, kw, out, in].
  let y = T.conv2dTranspose(x, T.transpose(w, [2, 3, 1, 0]), {
    strides: strides as [number, number],
    padding: 'valid',
    dataFormat: 'channelsFirst',
  });
  if (extra.some((e) => e !== 0)) y = padImage(y, [0, 0, extra[0]!, extra[1]!], 0);
  if (pads.some((p) => p !== 0)) {
    const [h, wd] = [y.shape[2]!, y.shape[3]!];
    y = T.index(y, null, null, [pads[0]!, h - pads[2]!], [pads[1]!, wd - pads[3]!]);
  }
  const b = c.input(2);
  return b ? T.add(y, perChannel(b.node, 4)) : y;
}

function pool(kind: 'max' | 'avg'): (c: ImportContext) => Value {
  return (c) => {
    const { x, sizes } = imageOperand(c);
    if (c.outputCount > 1) c.fail("the 'Indices' output is not supported");
    if (c.int('ceil_mode', 0) !== 0) c.fail('ceil_mode 1 is not supported');
    if (!c.has('kernel_shape')) c.fail("needs 'kernel_shape'");
    const win = windowOf(c, sizes, c.intList('kernel_shape'));
    if (win.dilations.some((d) => d !== 1)) c.fail('dilations other than 1 are not supported');
    const includePad = kind === 'avg' && c.int('count_include_pad', 0) === 1;
    let input = x;
    let padding: 'valid' | 'same' = win.padding === 'same' ? 'same' : 'valid';
    if (win.padding === 'explicit' || (includePad && padding === 'same')) {
      if (kind === 'avg' && !includePad)
        c.fail('explicit pads that differ from SAME_UPPER with count_include_pad 0 are not supported');
      input = padChannelsLast(x, win.pads, kind === 'max' ? -Infinity : 0);
      padding = 'valid';
    }
    const options = {
      poolSize: win.kernel as [number, number],
      strides: win.strides as [number, number],
      padding,
      dataFormat: 'channelsLast' as const,
    };
    return channelsLastValue(kind === 'max' ? T.maxPool2d(input, options) : T.avgPool2d(input, options));
  };
}

const WINDOW_ATTRIBUTES = ['kernel_shape', 'strides', 'dilations'];

/**
 * A 1-D Conv or pool (operands [N, C, L], weights [M, C, k]) as the 2-D one over [N, C, 1, L]: its
 * window attributes gain a leading 1 (pads a leading 0), and the result drops the added axis.
 */
function lifted1d(inner: (c: ImportContext) => Value | Node): Importer {
  return (c) => {
    const x = c.required(0);
    if ((x.channelsLast ? 4 : x.node.ndim) !== 3) return inner(c);
    const widen = (i: number): Value | undefined => {
      const v = c.input(i);
      if (!v || (i > 1 && v.node.ndim !== 3)) return v;
      return v.node.ndim === 3 ? { node: T.expandDims(v.node, 2) } : v;
    };
    const lifted: ImportContext = {
      ...c,
      input: (i) => (i <= 1 ? widen(i) : c.input(i)),
      required: (i) => (i <= 1 ? (widen(i) ?? c.required(i)) : c.required(i)),
      intList: (name, fallback) => {
        if (!c.has(name)) return [...(fallback ?? c.intList(name))];
        const v = c.intList(name);
        if (name === 'pads') return [0, v[0]!, 0, v[1]!];
        return WINDOW_ATTRIBUTES.includes(name) ? [1, ...v] : v;
      },
    };
    const out = inner(lifted);
    const nhwc =
      'node' in out && !(out instanceof T.Node)
        ? (out.channelsLast ?? T.transpose(out.node, [0, 2, 3, 1]))
        : (out as Node);
    return T.transpose(T.squeeze(nhwc, 1), [0, 2, 1]);
  };
}

/**
 * Resize by whole factors with mode 'nearest' (an upsampling, as U-Nets and detectors use it): each
 * pixel repeated along the image axes, which is what ONNX's nearest modes pick for integer scales
 * under half_pixel, pytorch_half_pixel and asymmetric coordinates.
 */
function resize(c: ImportContext): Value | Node {
  const v = c.required(0);
  const rank = v.channelsLast ? 4 : v.node.ndim;
  if (c.string('mode', 'nearest') !== 'nearest') c.fail(`mode '${c.string('mode')}' is not supported (only nearest)`);
  const coordinates = c.string('coordinate_transformation_mode', 'half_pixel');
  if (!['half_pixel', 'pytorch_half_pixel', 'asymmetric'].includes(coordinates))
    c.fail(`coordinate_transformation_mode '${coordinates}' is not supported with whole scales`);
  const nearest = c.string('nearest_mode', 'round_prefer_floor');
  if (nearest !== 'round_prefer_floor' && nearest !== 'floor') c.fail(`nearest_mode '${nearest}' is not supported`);
  const nchw = v.channelsLast
    ? [null, v.channelsLast.shape[3]!, v.channelsLast.shape[1]!, v.channelsLast.shape[2]!]
    : v.node.shape;
  const scales = c.input(2)?.known ? Array.from(c.input(2)!.known!.data) : undefined;
  const sizes = c.ints(3);
  const factors = scales?.length
    ? scales
    : (sizes?.map((s, i) => (s === null || nchw[i] === null ? NaN : s / nchw[i]!)) ??
      c.fail('needs scales or sizes known at import time'));
  if (factors.length !== rank || factors.some((f) => !Number.isInteger(f) || f < 1))
    c.fail(`only whole scale factors ≥ 1 are supported, got [${factors.join(', ')}]`);
  if (factors[0] !== 1 || factors[1] !== 1 || rank !== 4)
    c.fail('only the two image axes of an NCHW value can be scaled');
  const x = asChannelsLast(v);
  const along = (y: Node, axis: number, f: number) => (f === 1 ? y : T.repeat(y, f, axis));
  return channelsLastValue(along(along(x, 1, factors[2]!), 2, factors[3]!));
}

function gemm(c: ImportContext): Node {
  let a = c.required(0).node;
  let b = c.required(1).node;
  if (c.int('transA', 0)) a = T.transpose(a);
  if (c.int('transB', 0)) b = T.transpose(b);
  const alpha = c.float('alpha', 1);
  const beta = c.float('beta', 1);
  let y = T.matmul(a, b);
  if (alpha !== 1) y = T.mul(y, alpha);
  const bias = c.input(2);
  if (bias) y = T.add(y, beta === 1 ? bias.node : T.mul(bias.node, beta));
  return y;
}

/**
 * A size list for tsano's reshape (one -1 at most). ONNX's 0 copies the operand's size; a size read
 * from the operand's own unknown axis (TorchScript's flatten: `Reshape(x, [Shape(x)[0], -1])`) lets
 * the -1 be worked out from the operand's known sizes.
 */
function reshapeTarget(c: ImportContext, x: Node, dims: readonly DimValue[], allowZero: boolean): number[] {
  const target: DimValue[] = dims.map((d, i) => (d === 0 && !allowZero ? (x.shape[i] ?? { of: x, axis: i }) : d));
  const copied = target.filter((d): d is SymbolicDim => !isKnown(d) && d.of === x).map((d) => d.axis);
  const unknownOwn = x.shape.flatMap((d, i) => (d === null ? [i] : []));
  const inferred = target.indexOf(-1);
  const sameUnknowns = copied.length === unknownOwn.length && unknownOwn.every((a) => copied.includes(a));
  if (inferred >= 0 && copied.length > 0 && sameUnknowns && target.every((d) => isKnown(d) || d.of === x)) {
    const knownOwn = x.shape.reduce<number>((p, d) => p * (d ?? 1), 1);
    const knownTarget = target.reduce<number>((p, d, i) => (i === inferred || !isKnown(d) ? p : p * d), 1);
    if (knownOwn % knownTarget !== 0)
      c.fail(`cannot reshape [${x.shape.map((d) => d ?? '?').join(', ')}] to the target shape`);
    target[inferred] = knownOwn / knownTarget;
  }
  const unknown = target.filter((d) => !isKnown(d) || d === -1).length;
  const show = dims.map((d) => (isKnown(d) ? d : '?')).join(', ');
  if (unknown > 1) c.fail(`the target shape [${show}] has ${unknown} sizes known only at call time`);
  return target.map((d) => (isKnown(d) ? d : -1));
}

function shapeOp(c: ImportContext): Value {
  const x = c.required(0).node;
  const rank = x.ndim;
  const clampAxis = (a: number) => Math.min(Math.max(a < 0 ? a + rank : a, 0), rank);
  const start = clampAxis(c.int('start', 0));
  const end = clampAxis(c.int('end', rank));
  const dims: DimValue[] = x.shape.slice(start, Math.max(start, end)).map((d, i) => d ?? { of: x, axis: start + i });
  if (dims.every(isKnown)) return known(intVector(dims));
  const parts = dims.map((d, i) => (isKnown(d) ? T.constant(d, 'int32') : T.dimOf(x, start + i)));
  return { node: T.stack(parts), dims };
}

/** Gather on a shape vector known but for some sizes keeps it foldable. */
function gatherOp(c: ImportContext): Value | Node {
  const data = c.required(0);
  const indices = c.required(1);
  const ax = axis(c, c.int('axis', 0), data.node.ndim);
  const size = data.node.shape[ax];
  const wrap = (i: number) => (i < 0 && size !== null ? i + size! : i);
  if (data.dims && indices.known && ax === 0) {
    const picked = Array.from(indices.known.data, (i) => data.dims![wrap(i)]);
    if (picked.some((d) => d === undefined)) c.fail('index out of range');
    const out = picked as DimValue[];
    if (out.every(isKnown)) return known(new NDArray(Int32Array.from(out), indices.known.shape, 'int32'));
    return { node: T.gather(data.node, T.constant(indices.known), 0), dims: out };
  }
  if (indices.known) {
    const fixed = new NDArray(Int32Array.from(indices.known.data, wrap), indices.known.shape, 'int32');
    return T.gather(data.node, T.constant(fixed), ax);
  }
  return T.gather(data.node, T.cast(indices.node, 'int32'), ax);
}

function sliceOp(c: ImportContext): Node {
  const x = c.required(0).node;
  const starts = c.ints(1);
  const ends = c.ints(2);
  if (!starts || !ends || starts.some((s) => s === null) || ends.some((e) => e === null))
    c.fail('starts and ends must be known at import time');
  const axes = c.ints(3) ?? starts.map((_, i) => i);
  const steps = c.ints(4) ?? starts.map(() => 1);
  const specs: [number | null, number | null, number][] = x.shape.map(() => [null, null, 1]);
  const INT_BIG = 2 ** 31 - 1;
  axes.forEach((a, i) => {
    if (a === null) c.fail('axes must be known at import time');
    const k = axis(c, a, x.ndim);
    const step = steps[i];
    if (step === null || step === undefined || step === 0) c.fail('steps must be known, non-zero integers');
    const bound = (v: number) => (v >= INT_BIG ? null : v <= -INT_BIG ? null : v);
    specs[k] = [bound(starts[i]!), bound(ends[i]!), step];
  });
  return T.index(x, ...specs);
}

function splitOp(c: ImportContext): Node[] {
  const x = c.required(0).node;
  const ax = axis(c, c.int('axis', 0), x.ndim);
  const size = x.shape[ax];
  let sizes = c.opset >= 13 ? c.ints(1) : c.has('split') ? c.intList('split') : undefined;
  if (!sizes) {
    if (size === null) c.fail('splitting an axis of unknown size needs explicit sizes');
    const n = c.has('num_outputs') ? c.int('num_outputs') : c.outputCount;
    const each = Math.ceil(size! / n);
    sizes = Array.from({ length: n }, (_, i) => Math.max(Math.min(each, size! - i * each), 0));
  }
  if (sizes.some((s) => s === null)) c.fail('split sizes must be known at import time');
  let at = 0;
  return (sizes as number[]).map((s) => {
    const spec: ([number, number] | null)[] = x.shape.map(() => null);
    spec[ax] = [at, at + s];
    at += s;
    return T.index(x, ...spec);
  });
}

function expandOp(c: ImportContext): Node {
  const x = c.required(0).node;
  const dims = c.ints(1);
  if (!dims) c.fail('needs a shape');
  const rank = Math.max(dims.length, x.ndim);
  const own = [...Array<number | null>(rank - x.ndim).fill(1), ...x.shape];
  const target = dims.length < rank ? [...Array<number | null>(rank - dims.length).fill(1), ...dims] : dims;
  const shape = target.map((d, i) => {
    if (d === null) {
      if (own[i] === 1) c.fail('cannot expand a size-1 axis to a size known only at call time');
      return 1;
    }
    return d;
  });
  const ones = T.constant(new NDArray(new Uint8Array(shape.reduce((a, b) => a * b, 1)).fill(1), shape, 'bool'));
  return T.where(ones, x, x);
}

function castTo(c: ImportContext, x: Node, code: number): Node {
  const dtype = dtypeOfOnnx(code);
  if (!dtype) c.fail(`element type ${onnxTypeName(code)} is not supported`);
  return x.dtype === dtype ? x : T.cast(x, dtype);
}

function constantOp(c: ImportContext): Value {
  const t = c.tensor('value');
  if (t) return known(t);
  if (c.has('value_float')) return known(new NDArray(Float32Array.of(c.float('value_float')), [], 'float32'));
  if (c.has('value_int')) return known(new NDArray(Int32Array.of(c.int('value_int')), [], 'int32'));
  if (c.has('value_floats')) {
    const v = c.floatList('value_floats');
    return known(new NDArray(Float32Array.from(v), [v.length], 'float32'));
  }
  if (c.has('value_ints')) return known(intVector(c.intList('value_ints')));
  return c.fail('only tensor, float and int constants are supported');
}

/** Integer division truncates in ONNX; tsano's div is true division. */
function divide(a: Node, b: Node): Node {
  if (!isFloat(a.dtype) && !isFloat(b.dtype) && a.dtype !== 'bool') return T.cast(T.trunc(T.div(a, b)), a.dtype);
  return T.div(a, b);
}

function normalize(c: ImportContext): Node {
  const x = c.required(0).node;
  if (c.outputCount > 1) c.fail("the 'Mean' and 'InvStdDev' outputs are not supported");
  const first = axis(c, c.int('axis', -1), x.ndim);
  const axes = x.shape.map((_, i) => i).filter((i) => i >= first);
  const eps = c.float('epsilon', 1e-5);
  const mean = T.mean(x, axes, true);
  const centered = T.sub(x, mean);
  const variance = T.mean(T.square(centered), axes, true);
  let y = T.mul(centered, T.rsqrt(T.add(variance, eps)));
  y = T.mul(y, c.required(1).node);
  const b = c.input(2);
  return b ? T.add(y, b.node) : y;
}

function batchNorm(c: ImportContext): Value | Node {
  if (c.int('training_mode', 0) !== 0 || c.outputCount > 1)
    c.fail('only inference (training_mode 0, one output) is supported');
  const v = c.required(0);
  const eps = c.float('epsilon', 1e-5);
  const norm = (x: Node, [scale, bias, mean, variance]: Node[]) =>
    T.add(T.mul(T.mul(T.sub(x, mean!), T.rsqrt(T.add(variance!, eps))), scale!), bias!);
  const stats = [1, 2, 3, 4].map((i) => c.required(i).node);
  // Channels-last, the per-channel vectors broadcast along the last axis as they are.
  if (v.channelsLast) return channelsLastValue(norm(v.channelsLast, stats));
  return norm(
    v.node,
    stats.map((s) => perChannel(s, v.node.ndim)),
  );
}

/** GlobalAveragePool and GlobalMaxPool: over every axis past the channels. */
function globalPool(c: ImportContext, f: (x: Node, axes: number[], keepdims: boolean) => Node): Value | Node {
  const v = c.required(0);
  if (v.channelsLast) return channelsLastValue(f(v.channelsLast, [1, 2], true));
  const x = v.node;
  return f(x, x.shape.map((_, i) => i).slice(2), true);
}

/** If: the known branch when the condition is known at import time, else Theano's lazy ifelse (only the chosen branch runs). */
function ifOp(c: ImportContext): Value[] | Node[] {
  const cond = c.required(0);
  if (cond.known) return c.graph(cond.known.data[0] ? 'then_branch' : 'else_branch');
  const [thens, elses] = [c.graph('then_branch'), c.graph('else_branch')];
  if (thens.length !== elses.length)
    c.fail(`its branches give ${thens.length} and ${elses.length} outputs; ifelse needs as many`);
  return T.ifelse(
    T.reshape(cond.node, []),
    thens.map((v) => v.node),
    elses.map((v) => v.node),
  );
}

function clipOp(c: ImportContext): Value | Node {
  const v = c.required(0);
  const dtype = v.channelsLast?.dtype ?? v.node.dtype;
  const bound = (i: number, name: string) =>
    c.opset >= 11 ? c.input(i) : c.has(name) ? { node: T.constant(c.float(name), dtype) } : undefined;
  const [lo, hi] = [bound(1, 'min'), bound(2, 'max')];
  // The bounds are scalars (ONNX's rule), so the image's layout does not matter to them.
  return pointwise(c, (x) => {
    let y = x;
    if (lo) y = T.maximum(y, lo.node);
    if (hi) y = T.minimum(y, hi.node);
    return y;
  });
}

const leakyRelu: Importer = (c) => pointwise(c, (x) => T.where(T.gt(x, 0), x, T.mul(x, c.float('alpha', 0.01))));

/** An op of one operand applied where it is (channels-last stays channels-last). */
function pointwise(c: ImportContext, f: (x: Node) => Node): Value | Node {
  return elementwiseOver([c.required(0)], f);
}

function flattenOp(c: ImportContext): Node {
  const x = c.required(0).node;
  const k = c.int('axis', 1);
  const at = k < 0 ? k + x.ndim : k;
  if (at < 0 || at > x.ndim) c.fail(`axis ${k} is out of range for rank ${x.ndim}`);
  const size = (ds: readonly (number | null)[]) =>
    ds.some((d) => d === null) ? -1 : ds.reduce<number>((a, b) => a * b!, 1);
  const target = [size(x.shape.slice(0, at)), size(x.shape.slice(at))];
  if (target[0] === -1 && target[1] === -1) c.fail('both sides of the axis have sizes known only at call time');
  return T.reshape(x, target);
}

/** Ops whose semantics and name are tsano's elementwise ones. */
const ELEMENTWISE: Readonly<Record<string, Importer>> = {
  Abs: unary(T.abs),
  Neg: unary(T.neg),
  Exp: unary(T.exp),
  Log: unary(T.log),
  Sqrt: unary(T.sqrt),
  Reciprocal: unary(T.reciprocal),
  Tanh: unary(T.tanh),
  Sigmoid: unary(T.sigmoid),
  Relu: unary(T.relu),
  Softplus: unary(T.softplus),
  Erf: unary(T.erf),
  Sign: unary(T.sign),
  Floor: unary(T.floor),
  Ceil: unary(T.ceil),
  Round: unary(T.round),
  Sin: unary(T.sin),
  Cos: unary(T.cos),
  Tan: unary(T.tan),
  Asin: unary(T.asin),
  Acos: unary(T.acos),
  Atan: unary(T.atan),
  Sinh: unary(T.sinh),
  Cosh: unary(T.cosh),
  Asinh: unary(T.asinh),
  Acosh: unary(T.acosh),
  Atanh: unary(T.atanh),
  IsNaN: unary(T.isnan),
  Not: unary(T.not),
  Add: binary(T.add),
  Sub: binary(T.sub),
  Mul: binary(T.mul),
  Div: binary(divide),
  Pow: binary(T.pow),
  Equal: binary(T.eq),
  Less: binary(T.lt),
  LessOrEqual: binary(T.le),
  Greater: binary(T.gt),
  GreaterOrEqual: binary(T.ge),
  And: binary(T.and),
  Or: binary(T.or),
  Xor: binary(T.ne),
  Max: variadic(T.maximum),
  Min: variadic(T.minimum),
  Sum: variadic(T.add),
  Mean: variadic(T.add, (x, n) => T.div(x, n)),
};

/** Every ONNX op type tsano imports (default domain), by name. */
export const IMPORTERS: Readonly<Record<string, Importer>> = {
  ...ELEMENTWISE,
  Identity: (c) => c.required(0),
  Dropout: (c) => {
    if (c.outputCount > 1) c.fail("the 'mask' output is not supported");
    return c.required(0);
  },
  Constant: constantOp,
  Cast: (c) => castTo(c, c.required(0).node, c.int('to')),
  CastLike: (c) => T.cast(c.required(0).node, c.required(1).node.dtype),
  Mod: (c) =>
    c.int('fmod', 0) ? T.fmod(c.required(0).node, c.required(1).node) : T.mod(c.required(0).node, c.required(1).node),
  IsInf: (c) => {
    const x = c.required(0).node;
    const [pos, neg] = [c.int('detect_positive', 1), c.int('detect_negative', 1)];
    if (pos && neg) return T.isinf(x);
    if (pos) return T.eq(x, Infinity);
    if (neg) return T.eq(x, -Infinity);
    return T.ne(x, x);
  },
  Where: (c) => elementwiseOver([c.required(0), c.required(1), c.required(2)], T.where),
  Clip: clipOp,
  LeakyRelu: leakyRelu,
  Elu: (c) => pointwise(c, (x) => T.elu(x, c.float('alpha', 1))),
  Selu: (c) => {
    const [alpha, gamma] = [c.float('alpha', 1.67326319217681884765625), c.float('gamma', 1.05070102214813232421875)];
    return pointwise(c, (x) => T.mul(T.where(T.gt(x, 0), x, T.mul(T.expm1(x), alpha)), gamma));
  },
  HardSigmoid: (c) => pointwise(c, (x) => T.clip(T.add(T.mul(x, c.float('alpha', 0.2)), c.float('beta', 0.5)), 0, 1)),
  Gelu: (c) => {
    if (c.string('approximate', 'none') === 'none') return pointwise(c, T.gelu);
    return pointwise(c, (x) => {
      const inner = T.mul(T.add(x, T.mul(T.mul(T.square(x), x), 0.044715)), Math.sqrt(2 / Math.PI));
      return T.mul(T.mul(x, 0.5), T.add(T.tanh(inner), 1));
    });
  },
  Softmax: (c) => T.softmax(c.required(0).node, c.int('axis', -1)),
  LogSoftmax: (c) => T.logSoftmax(c.required(0).node, c.int('axis', -1)),
  Gemm: gemm,
  MatMul: (c) => T.matmul(c.required(0).node, c.required(1).node),
  Einsum: (c) => {
    const xs: Node[] = [];
    for (let i = 0; c.input(i); i++) xs.push(c.input(i)!.node);
    return T.einsum(c.string('equation'), ...xs);
  },
  Conv: lifted1d(conv),
  ConvTranspose: convTranspose,
  Resize: resize,
  MaxPool: lifted1d(pool('max')),
  AveragePool: lifted1d(pool('avg')),
  GlobalAveragePool: (c) => globalPool(c, T.mean),
  GlobalMaxPool: (c) => globalPool(c, T.max),
  BatchNormalization: batchNorm,
  LayerNormalization: normalize,
  Flatten: flattenOp,
  Reshape: (c) => {
    const x = c.required(0).node;
    const dims = c.shape(1) ?? c.fail('needs a shape');
    return T.reshape(x, reshapeTarget(c, x, dims, c.int('allowzero', 0) === 1));
  },
  Transpose: (c) => {
    const v = c.required(0);
    const rank = v.channelsLast ? 4 : v.node.ndim;
    const perm = c.has('perm') ? c.intList('perm').map((a) => axis(c, a, rank)) : undefined;
    // NCHW to NHWC and back, as tf2onnx wraps every convolution: the layout tsano keeps anyway.
    if (v.channelsLast && perm?.join() === '0,2,3,1') return v.channelsLast;
    if (rank === 4 && perm?.join() === '0,3,1,2') return channelsLastValue(v.node);
    return T.transpose(v.node, perm);
  },
  Squeeze: (c) => {
    const x = c.required(0).node;
    const axes = c.opset >= 13 ? c.ints(1) : c.has('axes') ? c.intList('axes') : undefined;
    if (axes?.some((a) => a === null)) c.fail('axes must be known at import time');
    return T.squeeze(x, axes ? (axes as number[]).map((a) => axis(c, a, x.ndim)) : undefined);
  },
  Unsqueeze: (c) => {
    const v = c.required(0);
    const axes = (c.opset >= 13 ? c.ints(1) : c.intList('axes')) ?? c.fail('needs axes');
    if (axes.some((a) => a === null)) c.fail('axes must be known at import time');
    const rank = v.node.ndim + axes.length;
    const sorted = (axes as number[]).map((a) => axis(c, a, rank)).sort((a, b) => a - b);
    const out = sorted.reduce((x, a) => T.expandDims(x, a), v.node);
    if (v.dims && v.node.ndim === 0) return { node: out, dims: v.dims };
    return out;
  },
  Concat: (c) => {
    const vs: Value[] = [];
    for (let i = 0; c.input(i); i++) vs.push(c.input(i)!);
    if (vs.length === 0) c.fail('needs at least one operand');
    const ax = axis(c, c.int('axis'), vs[0]!.node.ndim);
    const node = T.concat(
      vs.map((v) => v.node),
      ax,
    );
    // A shape assembled from pieces stays foldable.
    if (vs.every((v) => v.node.ndim === 1 && (v.known || v.dims))) {
      const dims = vs.flatMap((v) => (v.known ? Array.from(v.known.data) : [...v.dims!]));
      if (dims.every(isKnown)) return known(intVector(dims));
      return { node, dims };
    }
    return node;
  },
  Split: splitOp,
  Slice: sliceOp,
  Gather: gatherOp,
  Shape: shapeOp,
  Size: (c) => {
    const x = c.required(0).node;
    if (x.shape.some((d) => d === null)) return T.prod(T.stack(x.shape.map((_, i) => T.dimOf(x, i))));
    return known(new NDArray(Int32Array.of(x.shape.reduce<number>((a, b) => a * b!, 1)), [], 'int32'));
  },
  Expand: expandOp,
  ConstantOfShape: (c) => {
    const dims = c.ints(0);
    if (!dims || dims.some((d) => d === null)) c.fail('the shape must be known at import time');
    const value = c.tensor('value') ?? new NDArray(Float32Array.of(0), [1], 'float32');
    return known(T.full(dims as number[], value.data[0]!, value.dtype));
  },
  Range: (c) => {
    const [start, limit, delta] = [0, 1, 2].map((i) => c.required(i));
    const dtype: DType = start!.node.dtype;
    if (start!.known && limit!.known && delta!.known)
      return T.arange(start!.known.data[0]!, limit!.known.data[0]!, delta!.known.data[0]!, dtype);
    return T.arange(start!.node, limit!.node, delta!.node, dtype);
  },
  Pad: (c) => {
    const x = c.required(0).node;
    if (c.string('mode', 'constant') !== 'constant') c.fail(`mode '${c.string('mode')}' is not supported`);
    const pads = (c.opset >= 11 ? c.ints(1) : c.intList('pads')) ?? c.fail('needs pads');
    if (pads.some((p) => p === null)) c.fail('pads must be known at import time');
    const axes = (c.ints(3) ?? x.shape.map((_, i) => i)).map((a) => axis(c, a!, x.ndim));
    const value = c.input(2)?.known?.data[0] ?? 0;
    const paddings: [number, number][] = x.shape.map(() => [0, 0]);
    axes.forEach((a, i) => (paddings[a] = [pads[i]!, pads[i + axes.length]!]));
    if (paddings.some(([b, e]) => b < 0 || e < 0)) c.fail('negative pads are not supported');
    return T.pad(x, paddings, value);
  },
  Tile: (c) => {
    const reps = c.ints(1);
    if (!reps || reps.some((r) => r === null)) c.fail('repeats must be known at import time');
    return T.tile(c.required(0).node, reps as number[]);
  },
  CumSum: (c) => {
    const x = c.required(0).node;
    const ax = c.ints(1) ?? c.fail('needs an axis');
    if (ax[0] === null || ax[0] === undefined) c.fail('the axis must be known at import time');
    return T.cumsum(x, axis(c, ax[0]!, x.ndim), {
      exclusive: c.int('exclusive', 0) === 1,
      reverse: c.int('reverse', 0) === 1,
    });
  },
  ArgMax: (c) => argReduce(c, T.argmax),
  ArgMin: (c) => argReduce(c, T.argmin),
  ReduceSum: reduce((x, a, k) => T.sum(x, a, k), 13),
  ReduceMean: reduce((x, a, k) => T.mean(x, a, k)),
  ReduceMax: reduce((x, a, k) => T.max(x, a, k)),
  ReduceMin: reduce((x, a, k) => T.min(x, a, k)),
  ReduceProd: reduce((x, a, k) => T.prod(x, a, k)),
  ReduceLogSumExp: reduce((x, a, k) => T.logsumexp(x, a, k)),
  ReduceSumSquare: reduce((x, a, k) => T.sum(T.square(x), a, k)),
  ReduceL2: reduce((x, a, k) => T.sqrt(T.sum(T.square(x), a, k))),
  ReduceL1: reduce((x, a, k) => T.sum(T.abs(x), a, k)),
  If: ifOp,
};

function argReduce(c: ImportContext, f: (x: Node, axis: number, keepdims: boolean) => Node): Node {
  const x = c.required(0).node;
  if (c.int('select_last_index', 0) !== 0) c.fail('select_last_index 1 is not supported');
  return f(x, axis(c, c.int('axis', 0), x.ndim), c.int('keepdims', 1) === 1);
}

export { node as nodeOf, known as knownValue };
