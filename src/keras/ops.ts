/**
 * `keras.ops`: Keras 3's backend-neutral op namespace on tsano's ops, so layers written for Keras 3
 * (`ops.matmul`, `ops.softmax(x, axis)`, `ops.einsum`, ...) port with their names in camelCase and
 * their arguments in Keras's order and defaults. Each op builds a graph node, as `T`'s do.
 */
import * as T from '../index.js';
import { ConfigError } from '../../runtime/errors.js';
import { asNode } from '../../compiler/ir/convert.js';

type X = T.TensorLike;
type Axis = number | number[] | null | undefined;
const axisOf = (axis: Axis) => (axis === null ? undefined : axis);
const bool = (x: X) => T.ne(x, 0);

/** Reductions take (x, axis = all, keepdims = false), as Keras's do. */
const reduction =
  (f: (x: X, axis?: number | number[], keepdims?: boolean) => T.Node) =>
  (x: X, axis?: Axis, keepdims = false) =>
    f(x, axisOf(axis), keepdims);

export const ops = {
  // Elementwise, one operand.
  abs: T.abs,
  absolute: T.abs,
  negative: T.neg,
  sign: T.sign,
  square: T.square,
  sqrt: T.sqrt,
  rsqrt: T.rsqrt,
  exp: T.exp,
  expm1: T.expm1,
  log: T.log,
  log1p: T.log1p,
  log2: T.log2,
  log10: T.log10,
  sin: T.sin,
  cos: T.cos,
  tan: T.tan,
  arcsin: T.asin,
  arccos: T.acos,
  arctan: T.atan,
  sinh: T.sinh,
  cosh: T.cosh,
  tanh: T.tanh,
  arcsinh: T.asinh,
  arccosh: T.acosh,
  arctanh: T.atanh,
  floor: T.floor,
  ceil: T.ceil,
  round: T.round,
  trunc: T.trunc,
  erf: T.erf,
  isnan: T.isnan,
  isinf: T.isinf,
  isfinite: T.isfinite,
  // Two operands.
  add: T.add,
  subtract: T.sub,
  multiply: T.mul,
  divide: T.div,
  trueDivide: T.div,
  power: T.pow,
  maximum: T.maximum,
  minimum: T.minimum,
  mod: T.mod,
  floorDivide: T.floorDiv,
  arctan2: T.atan2,
  equal: T.eq,
  notEqual: T.ne,
  greater: T.gt,
  greaterEqual: T.ge,
  less: T.lt,
  lessEqual: T.le,
  logicalAnd: (a: X, b: X) => T.and(bool(a), bool(b)),
  logicalOr: (a: X, b: X) => T.or(bool(a), bool(b)),
  logicalNot: (a: X) => T.not(bool(a)),
  where: (condition: X, x1: X, x2: X) => T.where(bool(condition), x1, x2),
  clip: (x: X, xMin: X, xMax: X) => T.clip(x, xMin, xMax),
  // Activations (keras.ops.nn's, also at the top as Keras exports them).
  relu: T.relu,
  relu6: (x: X) => T.clip(x, 0, 6),
  sigmoid: T.sigmoid,
  softplus: T.softplus,
  silu: (x: X) => T.mul(x, T.sigmoid(x)),
  swish: (x: X) => T.mul(x, T.sigmoid(x)),
  gelu: (x: X, approximate = true) => {
    if (!approximate) return T.gelu(x);
    const cube = T.mul(T.pow(x, 3), 0.044715);
    return T.mul(T.mul(x, 0.5), T.add(1, T.tanh(T.mul(T.add(x, cube), Math.sqrt(2 / Math.PI)))));
  },
  elu: (x: X, alpha = 1) => T.elu(x, alpha),
  selu: T.selu,
  leakyRelu: (x: X, negativeSlope = 0.2) => T.where(T.gt(x, 0), x, T.mul(x, negativeSlope)),
  hardSigmoid: (x: X) => T.clip(T.add(T.div(x, 6), 0.5), 0, 1),
  softmax: (x: X, axis = -1) => T.softmax(x, axis),
  logSoftmax: (x: X, axis = -1) => T.logSoftmax(x, axis),
  // Reductions.
  sum: reduction(T.sum),
  mean: reduction(T.mean),
  max: reduction(T.max),
  min: reduction(T.min),
  prod: reduction(T.prod),
  var: reduction(T.variance),
  std: reduction(T.std),
  logsumexp: reduction(T.logsumexp),
  any: (x: X, axis?: Axis, keepdims = false) => T.gt(T.max(T.cast(bool(x), T.floatx()), axisOf(axis), keepdims), 0),
  all: (x: X, axis?: Axis, keepdims = false) => T.gt(T.min(T.cast(bool(x), T.floatx()), axisOf(axis), keepdims), 0),
  argmax: (x: X, axis?: number | null, keepdims = false) => T.argmax(x, axis ?? undefined, keepdims),
  argmin: (x: X, axis?: number | null, keepdims = false) => T.argmin(x, axis ?? undefined, keepdims),
  cumsum: (x: X, axis?: number | null) => T.cumsum(x, axis ?? undefined),
  cumprod: (x: X, axis?: number | null) => T.cumprod(x, axis ?? undefined),
  // Products.
  matmul: (a: X, b: X) => T.matmul(a, b),
  dot: (a: X, b: X) => T.dot(a, b),
  einsum: T.einsum,
  tensordot: (a: X, b: X, axes: number | [number[], number[]] = 2) => T.tensordot(a, b, axes as never),
  norm: (x: X, ord?: number | string | null, axis?: Axis, keepdims = false) =>
    T.norm(x, (ord ?? 'euclidean') as never, axisOf(axis) as never, keepdims),
  // Shapes and arrays.
  reshape: (x: X, newshape: readonly number[]) => T.reshape(x, newshape),
  transpose: (x: X, axes?: readonly number[] | null) => T.transpose(x, axes ?? undefined),
  expandDims: (x: X, axis: number) => T.expandDims(x, axis),
  squeeze: (x: X, axis?: number | null) => T.squeeze(x, axis ?? undefined),
  concatenate: (xs: readonly X[], axis = 0) => T.concat(xs, axis),
  stack: (xs: readonly X[], axis = 0) => T.stack(xs, axis),
  tile: T.tile,
  repeat: (x: X, repeats: number, axis?: number | null) => T.repeat(x, repeats, axis ?? undefined),
  flip: (x: X, axis?: Axis) => T.flip(x, axisOf(axis) as never),
  roll: (x: X, shift: number, axis?: number | null) => T.roll(x, shift, axis ?? undefined),
  take: (x: X, indices: X, axis = 0) => T.gather(x, indices, axis),
  takeAlongAxis: (x: X, indices: X, axis = -1) => T.takeAlongAxis(x, indices, axis),
  oneHot: (x: X, numClasses: number) => T.oneHot(x, numClasses),
  tril: (x: X, k = 0) => T.tril(x, k),
  triu: (x: X, k = 0) => T.triu(x, k),
  diag: (x: X, k = 0) => T.diag(x, k),
  trace: (x: X, offset = 0, axis1 = 0, axis2 = 1) => T.trace(x, offset, axis1, axis2),
  eye: (n: number, m?: number, k = 0) => T.eye(n, m ?? n, k),
  arange: (start: number, stop?: number, step = 1) => T.arange(start, stop, step),
  zerosLike: T.zerosLike,
  onesLike: T.onesLike,
  cast: (x: X, dtype: T.DType) => T.cast(x, dtype),
  sort: (x: X, axis = -1) => T.sort(x, axis),
  argsort: (x: X, axis = -1) => T.argsort(x, axis),
  /** [values, indices], as Keras returns them. */
  topK: (x: X, k: number, sorted = true) => {
    const { values, indices } = T.topk(x, k, { sorted });
    return [values, indices] as [T.Node, T.Node];
  },
  /** The shape, each dimension a number when known when the graph is built, else a symbolic scalar. */
  shape: (x: X): (number | T.Node)[] => {
    const node = asNode(x);
    return node.shape.map((d, i) => d ?? T.shape(node, i));
  },
  convertToTensor: (x: X) => asNode(x),
  stopGradient: (x: X) => T.stopGradient(x),
} as const;

/** Names Keras 3 spells in snake_case: `ops.logSoftmax` is `ops.log_softmax`. */
export function opByKerasName(name: string): (typeof ops)[keyof typeof ops] {
  const camel = name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()) as keyof typeof ops;
  const op = ops[camel];
  if (!op) throw new ConfigError(`keras.ops: no op '${name}' (tsano has: ${Object.keys(ops).join(', ')})`);
  return op;
}
