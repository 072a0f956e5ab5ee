import { Node } from './node.js';
import type { ConvArgs, MatmulArgs, Op, OpArgs, PoolArgs, SliceSpec } from './ops.js';
import { captureOrigin, withOrigin } from './origin.js';
import { normalizeAxes, TypeRuleError } from './type.js';
import { floatx, imageDataFormat, type DataFormat } from '../../runtime/config.js';
import { isDType, type DType } from '../../runtime/dtype.js';
import { ConfigError, DTypeError, ShapeError } from '../../runtime/errors.js';
import { nextSeed } from '../../runtime/random.js';
import { checkOptionNames } from '../../runtime/options.js';
import { full } from '../../runtime/ndarray.js';
import { asNode, asNodes, constantNode, type TensorLike } from './convert.js';
import {
  DECLARED_OPS,
  forDeclared,
  isDeclaredOp,
  type DeclaredOp,
  type OpAlgebra,
} from '../../runtime/declared-ops.js';

/** Builds `op` over operands (literals converted), reporting the caller's line on errors. */
function build<K extends Op>(op: K, operands: readonly TensorLike[], args: OpArgs[K]): Node {
  // One stack capture per op: the literals it converts are built at the same line.
  const origin = captureOrigin();
  return Node.make(
    op,
    withOrigin(origin, () => asNodes(operands)),
    args,
    origin,
  );
}

/** Axis arguments normalised against the operand's rank, with a ShapeError naming the op when out of range. */
function axesOf(x: Node, axis: number | readonly number[] | undefined, op: string): number[] {
  const all = x.shape.map((_, i) => i);
  if (axis === undefined) return all;
  try {
    return normalizeAxes(typeof axis === 'number' ? [axis] : axis, x.ndim);
  } catch (e) {
    if (e instanceof TypeRuleError) throw new ShapeError(`${op}(${describeShort(x)}): ${e.message}`);
    throw e;
  }
}
const describeShort = (x: Node) => x.name ?? x.op;
const axisOf = (x: Node, axis: number, op: string, rank = x.ndim): number => {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    throw new ShapeError(`${op}(${describeShort(x)}): axis ${axis} is out of range for rank ${rank}`);
  }
  return axis < 0 ? axis + rank : axis;
};

// ---- elementwise ----
const none = {} as Record<string, never>;
const unary =
  (op: Op) =>
  (x: TensorLike): Node =>
    build(op, [x], none as never);
const binary =
  (op: Op) =>
  (a: TensorLike, b: TensorLike): Node =>
    build(op, [a, b], none as never);

export const elu = (x: TensorLike, alpha = 1): Node => build('elu', [x], { alpha });

export const pow = binary('pow');

// ---- the ops of runtime/declared-ops.ts ----
type DeclaredBuilder<K extends DeclaredOp> = (typeof DECLARED_OPS)[K]['arity'] extends 1
  ? (x: TensorLike) => Node
  : (a: TensorLike, b: TensorLike) => Node;
/** The builder of every declared op (`T.floor(x)`, `T.atan2(y, x)`, …). */
export const DECLARED_BUILDERS = forDeclared(
  (op) =>
    (...operands: TensorLike[]): Node =>
      build(op, operands, none as never),
) as { readonly [K in DeclaredOp]: DeclaredBuilder<K> };
// The public names; test/properties/declared-ops.test.ts checks that every declared op is here.
export const {
  eq,
  ne,
  lt,
  le,
  gt,
  ge,
  and,
  or,
  not,
  add,
  sub,
  mul,
  div,
  maximum,
  minimum,
  neg,
  exp,
  log,
  log1p,
  expm1,
  sqrt,
  rsqrt,
  square,
  abs,
  sign,
  tanh,
  sigmoid,
  softplus,
  relu,
  selu,
  gelu,
  erf,
  sin,
  cos,
  reciprocal,
  log1mexp,
  floor,
  ceil,
  round,
  trunc,
  isnan,
  isinf,
  isfinite,
  tan,
  atan,
  asin,
  acos,
  atan2,
  sinh,
  cosh,
  asinh,
  acosh,
  atanh,
  exp2,
  log2,
  log10,
  mod,
  fmod,
  floorDiv,
} = DECLARED_BUILDERS;

/** Elementwise choice: `a` where `cond` is true, else `b`. */
/** An array of `value` with x's shape and dtype, whatever x holds (NaN included); sizes known only at call time too. */
const filledLike = (x: TensorLike, value: number): Node => {
  const node = asNode(x);
  return build('broadcastLike', [constantNode(value, node.dtype), node], none);
};
/** x itself, through which no gradient flows (TensorFlow's stop_gradient; Theano's zero_grad and disconnected_grad). */
export const stopGradient = (x: TensorLike): Node => build('stopGradient', [x], none);
export const zeroGrad = stopGradient;
export const disconnectedGrad = stopGradient;
export const onesLike = (x: TensorLike): Node => filledLike(x, 1);
export const zerosLike = (x: TensorLike): Node => filledLike(x, 0);

export const where = (cond: TensorLike, a: TensorLike, b: TensorLike): Node => build('where', [cond, a, b], none);
/** Limits x to [lo, hi]. */
export const clip = (x: TensorLike, lo: TensorLike, hi: TensorLike): Node => build('clip', [x, lo, hi], none);

export function cast(x: TensorLike, dtype: DType): Node {
  if (!isDType(dtype))
    throw new DTypeError(`cast: unknown dtype '${String(dtype)}' (use float32, float64, int32 or bool)`);
  const node = asNode(x);
  return node.dtype === dtype ? node : build('cast', [node], { dtype });
}

// ---- reductions ----
type Axis = number | readonly number[];
const reduction =
  (op: 'sum' | 'mean' | 'max' | 'min' | 'prod' | 'logsumexp') =>
  (x: TensorLike, axis?: Axis, keepdims = false): Node => {
    const node = asNode(x);
    return build(op, [node], { axes: axesOf(node, axis, op), keepdims });
  };

export const sum = reduction('sum');
export const mean = reduction('mean');
export const max = reduction('max');
export const min = reduction('min');
export const prod = reduction('prod');
/** log(sum(exp(x))) computed without overflow. */
export const logsumexp = reduction('logsumexp');

const argReduction =
  (op: 'argmax' | 'argmin') =>
  (x: TensorLike, axis?: number, keepdims = false): Node => {
    const node = asNode(x);
    // No axis means the index into the flattened array, as NumPy.
    const axes = axis === undefined ? node.shape.map((_, i) => i) : [axisOf(node, axis, op)];
    return build(op, [node], { axes, keepdims });
  };
export const argmax = argReduction('argmax');
export const argmin = argReduction('argmin');

/** Population variance (ddof 0, as NumPy and Keras). */
export function variance(x: TensorLike, axis?: Axis, keepdims = false): Node {
  const node = asNode(x);
  const centered = sub(node, mean(node, axis, true));
  return mean(square(centered), axis, keepdims);
}
export const std = (x: TensorLike, axis?: Axis, keepdims = false): Node => sqrt(variance(x, axis, keepdims));

// ---- linear algebra ----
/** NumPy dot. */
export const dot = binary('dot');
/**
 * NumPy matmul (batched, broadcasting leading axes); `transposeA` / `transposeB` read an operand
 * with its last two axes swapped, as TensorFlow's matmul does.
 */
export function matmul(
  a: TensorLike,
  b: TensorLike,
  options: { transposeA?: boolean; transposeB?: boolean } = {},
): Node {
  checkOptionNames('matmul', options, ['transposeA', 'transposeB']);
  const args: MatmulArgs = {
    ...(options.transposeA ? { transposeA: true } : {}),
    ...(options.transposeB ? { transposeB: true } : {}),
  };
  return build('matmul', [a, b], args);
}
/** Outer product of the flattened operands. */
export function outer(a: TensorLike, b: TensorLike): Node {
  const [x, y] = asNodes([a, b]);
  return mul(expandDims(reshape(x!, [-1]), 1), expandDims(reshape(y!, [-1]), 0));
}

// ---- shape ----
export const reshape = (x: TensorLike, shape: readonly number[]): Node => build('reshape', [x], { shape: [...shape] });

/** Reverses the axes, or permutes them by `perm`. */
export function transpose(x: TensorLike, perm?: readonly number[]): Node {
  const node = asNode(x);
  return build('transpose', [node], { perm: perm ? [...perm] : node.shape.map((_, i) => node.ndim - 1 - i) });
}

/** Theano's flatten: keeps the first ndim-1 axes and folds the rest into one. */
export function flatten(x: TensorLike, ndim = 1): Node {
  const node = asNode(x);
  if (!Number.isInteger(ndim) || ndim < 1 || ndim > Math.max(node.ndim, 1)) {
    throw new ShapeError(`flatten(${describeShort(node)}): ndim ${ndim} is out of range for rank ${node.ndim}`);
  }
  const lead = node.shape.slice(0, ndim - 1);
  const rest = node.shape.slice(ndim - 1);
  const restKnown = rest.every((d) => d !== null);
  if (restKnown && lead.filter((d) => d === null).length <= 1) {
    return reshape(node, [...lead.map((d) => d ?? -1), (rest as number[]).reduce((a, b) => a * b, 1)]);
  }
  if (lead.every((d) => d !== null)) return reshape(node, [...(lead as number[]), -1]);
  throw new ShapeError(
    `flatten(${describeShort(node)}): shape [${node.shape.join(', ')}] has too many unknown sizes to flatten to ${ndim} axes`,
  );
}

export function expandDims(x: TensorLike, axis: number): Node {
  const node = asNode(x);
  return build('expandDims', [node], { axis: axisOf(node, axis, 'expandDims', node.ndim + 1) });
}

/** Removes the given size-1 axes, or every axis statically known to be 1. */
export function squeeze(x: TensorLike, axis?: Axis): Node {
  const node = asNode(x);
  const axes = axis === undefined ? node.shape.flatMap((d, i) => (d === 1 ? [i] : [])) : axesOf(node, axis, 'squeeze');
  return build('squeeze', [node], { axes });
}

export function concat(xs: readonly TensorLike[], axis = 0): Node {
  if (xs.length === 0) throw new ShapeError('concat: needs at least one operand');
  const nodes = asNodes(xs);
  return build('concat', nodes, { axis: axisOf(nodes[0]!, axis, 'concat') });
}

export function stack(xs: readonly TensorLike[], axis = 0): Node {
  if (xs.length === 0) throw new ShapeError('stack: needs at least one operand');
  const nodes = asNodes(xs);
  const a = axisOf(nodes[0]!, axis, 'stack', nodes[0]!.ndim + 1);
  return concat(
    nodes.map((n) => expandDims(n, a)),
    a,
  );
}

/** Rows (or slices along `axis`) of x picked by int32 `indices`. */
export function gather(x: TensorLike, indices: TensorLike, axis = 0): Node {
  const node = asNode(x);
  const idx = asNode(indices instanceof Node ? indices : asNodeInt(indices));
  return build('gather', [node, idx], { axis: axisOf(node, axis, 'gather') });
}
function asNodeInt(v: TensorLike): Node {
  const n = asNode(v);
  return n.dtype === 'int32' ? n : cast(n, 'int32');
}

export function oneHot(indices: TensorLike, depth: number, dtype?: DType): Node {
  const idx = indices instanceof Node ? indices : asNodeInt(indices);
  if (dtype !== undefined && !isDType(dtype)) throw new DTypeError(`oneHot: unknown dtype '${String(dtype)}'`);
  return build('oneHot', [idx], { depth, dtype: dtype ?? floatx() });
}

/** Constant padding: `paddings[i] = [before, after]` for each axis. */
export const pad = (x: TensorLike, paddings: readonly (readonly [number, number])[], value = 0): Node =>
  build('pad', [x], { paddings: paddings.map((p) => [p[0], p[1]] as const), value });

// ---- neural ----
export function softmax(x: TensorLike, axis = -1): Node {
  const node = asNode(x);
  return build('softmax', [node], { axis: axisOf(node, axis, 'softmax') });
}
export function logSoftmax(x: TensorLike, axis = -1): Node {
  const node = asNode(x);
  return build('logSoftmax', [node], { axis: axisOf(node, axis, 'logSoftmax') });
}

type PairLike = number | readonly [number, number];

/** A window option (strides, dilation, pool size) as a pair of positive integers, or a ConfigError naming it. */
function pair(v: PairLike, op: string, option: string): [number, number] {
  const p: unknown[] = typeof v === 'number' ? [v, v] : Array.isArray(v) ? v : [v];
  if (p.length !== 2 || !p.every((d) => Number.isInteger(d) && (d as number) >= 1))
    throw new ConfigError(`${op}: ${option} must be a positive integer or a pair of them, got ${JSON.stringify(v)}`);
  return p as [number, number];
}

/** The data formats as tsano and TF.js spell them, and as Keras does. */
const DATA_FORMATS: Readonly<Record<string, DataFormat>> = {
  channelsLast: 'channelsLast',
  channelsFirst: 'channelsFirst',
  channels_last: 'channelsLast',
  channels_first: 'channelsFirst',
};

/** `format` (either spelling), the configured image_data_format when absent, or a ConfigError naming the accepted values. */
function dataFormatOf(format: string | undefined, op: string): DataFormat {
  if (format === undefined) return imageDataFormat();
  const known = Object.hasOwn(DATA_FORMATS, format) ? DATA_FORMATS[format] : undefined;
  if (!known)
    throw new ConfigError(
      `${op}: dataFormat must be one of ${Object.keys(DATA_FORMATS)
        .map((f) => `'${f}'`)
        .join(', ')}, got ${JSON.stringify(format)}`,
    );
  return known;
}

export interface Conv2dOptions {
  strides?: PairLike;
  padding?: 'valid' | 'same';
  dilation?: PairLike;
  /** 'channelsLast' or 'channelsFirst' (Keras's 'channels_last' and 'channels_first' too); default image_data_format. */
  dataFormat?: DataFormat | 'channels_last' | 'channels_first';
}

/** 2-D convolution (cross-correlation, as Keras); kernel shape [kh, kw, inChannels, outChannels]. */
export function conv2d(x: TensorLike, kernel: TensorLike, options: Conv2dOptions = {}): Node {
  checkOptionNames('conv2d', options, ['strides', 'padding', 'dilation', 'dataFormat']);
  const args: ConvArgs = {
    strides: pair(options.strides ?? 1, 'conv2d', 'strides'),
    padding: checkPadding(options.padding ?? 'valid', 'conv2d'),
    dilation: pair(options.dilation ?? 1, 'conv2d', 'dilation'),
    dataFormat: dataFormatOf(options.dataFormat, 'conv2d'),
  };
  return build('conv2d', [x, kernel], args);
}

/**
 * Transposed 2-D convolution (Keras's Conv2DTranspose, the gradient of conv2d with respect to its
 * input); kernel shape [kh, kw, outChannels, inChannels]. Output rows (H − 1)·s + kh ('valid') or H·s
 * ('same'), likewise for columns. The image sizes and the kernel must be known.
 */
export function conv2dTranspose(
  x: TensorLike,
  kernel: TensorLike,
  options: Omit<Conv2dOptions, 'dilation'> = {},
): Node {
  checkOptionNames('conv2dTranspose', options, ['strides', 'padding', 'dataFormat']);
  const [input, k] = [asNode(x), asNode(kernel)];
  const args: ConvArgs = {
    strides: pair(options.strides ?? 1, 'conv2dTranspose', 'strides'),
    padding: checkPadding(options.padding ?? 'valid', 'conv2dTranspose'),
    dilation: [1, 1],
    dataFormat: dataFormatOf(options.dataFormat, 'conv2dTranspose'),
  };
  if (input.ndim !== 4 || k.ndim !== 4)
    throw new ShapeError(
      `conv2dTranspose: expected a 4-D input and a 4-D kernel, got ranks ${input.ndim} and ${k.ndim}`,
    );
  const last = args.dataFormat === 'channelsLast';
  const [h, w] = last ? [input.shape[1], input.shape[2]] : [input.shape[2], input.shape[3]];
  const [kh, kw, out] = k.shape;
  if ([h, w, kh, kw, out].some((d) => d === null || d === undefined))
    throw new ShapeError('conv2dTranspose: the image sizes and the kernel shape must be known');
  const grow = (d: number, kd: number, s: number) => (args.padding === 'valid' ? (d - 1) * s + kd : d * s);
  const [oh, ow] = [grow(h!, kh!, args.strides[0]), grow(w!, kw!, args.strides[1])];
  // The gradient op takes the forward input only for its shape: any value of that shape, per sample.
  const shape = last ? [1, oh, ow, out!] : [1, out!, oh, ow];
  const ref = mul(max(input, [1, 2, 3], true), full(shape, 0, input.dtype));
  return build('conv2dGradInput', [input, k, ref], args);
}

export interface Pool2dOptions {
  poolSize?: PairLike;
  strides?: PairLike;
  padding?: 'valid' | 'same';
  dataFormat?: DataFormat | 'channels_last' | 'channels_first';
}

function poolArgs(options: Pool2dOptions, op: string): PoolArgs {
  checkOptionNames(op, options, ['poolSize', 'strides', 'padding', 'dataFormat']);
  const poolSize = pair(options.poolSize ?? 2, op, 'poolSize');
  return {
    poolSize,
    strides: pair(options.strides ?? poolSize, op, 'strides'),
    padding: checkPadding(options.padding ?? 'valid', op),
    dataFormat: dataFormatOf(options.dataFormat, op),
  };
}
function checkPadding(p: string, op: string): 'valid' | 'same' {
  if (p !== 'valid' && p !== 'same') throw new ShapeError(`${op}: padding must be 'valid' or 'same', got '${p}'`);
  return p;
}

export const maxPool2d = (x: TensorLike, options: Pool2dOptions = {}): Node =>
  build('maxPool2d', [x], poolArgs(options, 'maxPool2d'));
export const avgPool2d = (x: TensorLike, options: Pool2dOptions = {}): Node =>
  build('avgPool2d', [x], poolArgs(options, 'avgPool2d'));

/** Uniform [0, 1) noise shaped like x, redrawn at every call of a compiled function. */
export const randomUniformLike = (x: TensorLike, seed: number = nextSeed()): Node =>
  build('randomUniformLike', [x], { seed });

/** Inverted dropout: zeroes a `rate` fraction of x and scales the rest by 1/(1-rate). A fresh mask every call. */
export function dropout(x: TensorLike, rate: number, options: { seed?: number } = {}): Node {
  checkOptionNames('dropout', options, ['seed']);
  if (!(rate >= 0 && rate < 1)) throw new ShapeError(`dropout: rate must be in [0, 1), got ${rate}`);
  const node = asNode(x);
  if (rate === 0) return node;
  const keep = ge(randomUniformLike(node, options.seed ?? nextSeed()), rate);
  return where(keep, div(node, 1 - rate), 0);
}

/** The graph builders as the algebra that declared gradients and decompositions are written in. */
export const GRAPH_ALGEBRA: OpAlgebra<Node> = {
  add,
  sub,
  mul,
  div,
  lt,
  gt,
  eq,
  ne,
  and,
  where,
  neg,
  abs,
  sqrt,
  square,
  sin,
  cos,
  op: (name, ...operands) => {
    if (!isDeclaredOp(name)) throw new Error(`internal: '${name}' is not a declared op`);
    return build(name, operands, none as never);
  },
};
