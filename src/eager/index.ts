/**
 * `import * as tf from 'tsano/tf'`: TensorFlow.js's eager tensor functions over tsano's NDArray, so
 * data-preparation code written for TF.js runs unchanged. Each op compiles a one-op tsano function
 * per signature (op, arguments, operand shapes and dtypes) the first time, kept in a bounded cache;
 * later calls with that signature reuse it.
 */
import * as T from '../index.js';
import { ConfigError } from '../../runtime/errors.js';
import { concrete, symbolic, tracing, withMinimize } from './autodiff.js';
import {
  declaration,
  DECLARED_OP_NAMES,
  tfName,
  type DECLARED_OPS,
  type DeclaredOp,
} from '../../runtime/declared-ops.js';

// Every op answers synchronously: before the code generator has loaded, on the reference kernels
// (stats.tier 'generic'); TSANO_TIER=fused loads the generator with the namespace instead.
if (T.tierPolicy() === 'fused') await T.ready();

type Values = T.ArrayValue | number | boolean;
type Operand = T.NDArray | Values;
type Builder = (...nodes: T.Node[]) => T.Node;

const CACHE_SIZE = 512;
const compiled = new Map<string, T.CompiledFunction<T.NDArray>>();

const asArray = (v: Operand): T.NDArray =>
  v instanceof T.NDArray
    ? v
    : typeof v === 'number' || typeof v === 'boolean'
      ? T.array([v as number]).reshape([])
      : T.array(v);

/**
 * Runs `build` on `operands` through a compiled function cached by signature; while tf.grad and its
 * kin trace a function, builds the graph node instead (the tensors there are symbolic).
 */
function run(name: string, args: unknown, operands: readonly Operand[], build: Builder): T.NDArray {
  if (tracing() && operands.some((o) => o instanceof T.Node))
    return build(...(operands.map(symbolic) as T.Node[])) as unknown as T.NDArray;
  const arrays = operands.map((o) => asArray(concrete(o) as Operand));
  const key = `${name}:${JSON.stringify(args)}:${arrays.map((a) => `${a.dtype}[${a.shape.join(',')}]`).join(';')}`;
  let f = compiled.get(key);
  if (f) compiled.delete(key);
  else {
    const inputs = arrays.map((a, i) => T.tensor(`${name}_${i}`, { dtype: a.dtype, shape: a.shape }));
    // Small one-op functions gain nothing from wasm code generation: the reference kernels run them.
    const small = arrays.every((a) => a.size <= 4096);
    f = T.compileSync(inputs, build(...inputs), { mode: small ? 'js' : 'wasm' });
  }
  compiled.set(key, f);
  if (compiled.size > CACHE_SIZE) {
    const oldest = compiled.keys().next().value!;
    compiled.get(oldest)!.dispose();
    compiled.delete(oldest);
  }
  return f(...arrays);
}

const unary = (name: string, op: (x: T.Node) => T.Node) => (x: Operand) => run(name, null, [x], op);
const binary = (name: string, op: (a: T.Node, b: T.Node) => T.Node) => (a: Operand, b: Operand) =>
  run(name, null, [a, b], op);
const reduction =
  (name: string, op: (x: T.Node, axis?: number | number[], keep?: boolean) => T.Node) =>
  (x: Operand, axis?: number | number[], keepDims = false) =>
    run(name, [axis ?? null, keepDims], [x], (n) => op(n, axis, keepDims));

// ---- creation ----
/** tf.tensor(values, shape?, dtype?) */
export const tensor = (values: Values, shape?: readonly number[], dtype?: T.DType): T.NDArray =>
  typeof values === 'number' || typeof values === 'boolean'
    ? T.array([values as number], { shape: shape ?? [], ...(dtype ? { dtype } : {}) })
    : T.array(values, { ...(shape ? { shape } : {}), ...(dtype ? { dtype } : {}) });
const ranked =
  (rank: number) =>
  (values: Values, shape?: readonly number[], dtype?: T.DType): T.NDArray => {
    const t = tensor(values, shape, dtype);
    if (t.ndim !== rank)
      throw new ConfigError(`tensor${rank}d: expected rank ${rank}, got shape [${t.shape.join(', ')}]`);
    return t;
  };
export const scalar = (value: number, dtype?: T.DType) => tensor(value, [], dtype);
/** tf.tensor1d(values, dtype?): TF.js's one-axis form takes no shape. */
export const tensor1d = (values: Values, dtype?: T.DType): T.NDArray => ranked(1)(values, undefined, dtype);
export const tensor2d = ranked(2);
export const tensor3d = ranked(3);
export const tensor4d = ranked(4);
export const tensor5d = ranked(5);
export const tensor6d = ranked(6);
export const zeros = (shape: readonly number[], dtype?: T.DType) => T.zeros(shape, dtype);
export const ones = (shape: readonly number[], dtype?: T.DType) => T.ones(shape, dtype);
export const fill = (shape: readonly number[], value: number, dtype?: T.DType) => T.full(shape, value, dtype);
export const zerosLike = (x: T.NDArray) => T.zeros(x.shape, x.dtype);
export const onesLike = (x: T.NDArray) => T.ones(x.shape, x.dtype);
/** tf.range(start, stop, step): start, start + step, ... below stop. */
export function range(start: number, stop: number, step = 1, dtype: T.DType = 'float32'): T.NDArray {
  if (step === 0) throw new ConfigError('range: step must not be 0');
  const count = Math.max(0, Math.ceil((stop - start) / step));
  return T.array(
    Array.from({ length: count }, (_, i) => start + i * step),
    { dtype },
  );
}
/** tf.linspace(start, stop, num): num evenly spaced values from start to stop, both included. */
export function linspace(start: number, stop: number, num: number): T.NDArray {
  if (!Number.isInteger(num) || num < 1) throw new ConfigError(`linspace: num must be a positive integer, got ${num}`);
  return T.array(Array.from({ length: num }, (_, i) => (num === 1 ? start : start + ((stop - start) * i) / (num - 1))));
}
export const oneHot = (indices: Operand, depth: number, onValue = 1, offValue = 0) =>
  run('oneHot', [depth, onValue, offValue], [indices], (i) =>
    T.add(T.mul(T.oneHot(i, depth), onValue - offValue), offValue),
  );
export const randomNormal = (shape: readonly number[], mean = 0, stddev = 1, dtype?: T.DType, seed?: number) =>
  T.randomNormal(shape, { mean, stddev, ...(dtype ? { dtype } : {}), ...(seed === undefined ? {} : { seed }) });
export const randomUniform = (shape: readonly number[], minval = 0, maxval = 1, dtype?: T.DType, seed?: number) =>
  T.randomUniform(shape, { minval, maxval, ...(dtype ? { dtype } : {}), ...(seed === undefined ? {} : { seed }) });

// ---- math ----
export const pow = binary('pow', T.pow);
export const squaredDifference = binary('squaredDifference', (a, b) => T.square(T.sub(a, b)));
export const matMul = (a: Operand, b: Operand, transposeA = false, transposeB = false) =>
  run('matMul', [transposeA, transposeB], [a, b], (x, y) => T.matmul(x, y, { transposeA, transposeB }));
export const dot = binary('dot', T.dot);
export const softmax = (x: Operand, axis = -1) => run('softmax', axis, [x], (n) => T.softmax(n, axis));
export const logSoftmax = (x: Operand, axis = -1) => run('logSoftmax', axis, [x], (n) => T.logSoftmax(n, axis));
export const clipByValue = (x: Operand, lo: number, hi: number) => run('clip', [lo, hi], [x], (n) => T.clip(n, lo, hi));
export const cast = (x: Operand, dtype: T.DType) => run('cast', dtype, [x], (n) => T.cast(n, dtype));

// ---- reductions ----
export const sum = reduction('sum', T.sum);
export const mean = reduction('mean', T.mean);
export const max = reduction('max', T.max);
export const min = reduction('min', T.min);
export const prod = reduction('prod', T.prod);
export const argMax = (x: Operand, axis = 0) => run('argMax', axis, [x], (n) => T.argmax(n, axis));
export const argMin = (x: Operand, axis = 0) => run('argMin', axis, [x], (n) => T.argmin(n, axis));

// ---- shapes ----
export const reshape = (x: Operand, shape: readonly number[]) => asArray(x).reshape(resolveShape(asArray(x), shape));
export const transpose = (x: Operand, perm?: readonly number[]) =>
  run('transpose', perm ?? null, [x], (n) => T.transpose(n, perm));
export const expandDims = (x: Operand, axis = 0) => run('expandDims', axis, [x], (n) => T.expandDims(n, axis));
export const squeeze = (x: Operand, axis?: number[]) => run('squeeze', axis ?? null, [x], (n) => T.squeeze(n, axis));
export const concat = (xs: readonly Operand[], axis = 0) => run('concat', axis, xs, (...ns) => T.concat(ns, axis));
/** TF.js's ranked spellings of concat (tf.concat1d(xs), tf.concat2d(xs, axis), …). */
export const concat1d = (xs: readonly Operand[]) => concat(xs, 0);
export const concat2d = (xs: readonly Operand[], axis = 0) => concat(xs, axis);
export const concat3d = concat2d;
export const concat4d = concat2d;
/** tf.divNoNan(a, b): a / b, 0 where b is 0. */
export const divNoNan = (a: Operand, b: Operand) =>
  run('divNoNan', null, [a, b], (x, y) => T.where(T.eq(y, 0), T.zerosLike(T.div(x, y)), T.div(x, y)));
/** tf.prelu(x, alpha): x where it is positive, alpha·x elsewhere. */
export const prelu = (x: Operand, alpha: Operand) =>
  run('prelu', null, [x, alpha], (v, a) => T.where(T.gt(v, 0), v, T.mul(a, v)));
export const stack = (xs: readonly Operand[], axis = 0) => run('stack', axis, xs, (...ns) => T.stack(ns, axis));
export const slice = (x: Operand, begin: readonly number[], size?: readonly number[]) =>
  run('slice', [begin, size ?? null], [x], (n) => T.slice(n, begin, size));
export const gather = (x: Operand, indices: Operand, axis = 0) =>
  // Plain numbers are indices (TF.js reads them as int32), not float data.
  run(
    'gather',
    axis,
    [x, indices instanceof T.NDArray ? indices : T.array(indices as T.ArrayValue, { dtype: 'int32' })],
    (n, i) => T.gather(n, i, axis),
  );
export const tile = (x: Operand, reps: readonly number[]) => run('tile', reps, [x], (n) => T.tile(n, reps));
/** tf.reverse: x reversed along `axis` (all axes when none). */
export const reverse = (x: Operand, axis?: number | number[]) =>
  run('reverse', axis ?? null, [x], (n) => T.flip(n, axis));
/** tf.eye(numRows, numColumns?, batchShape?, dtype?): identity matrices, batched when batchShape is given. */
export function eye(numRows: number, numColumns = numRows, batchShape?: readonly number[], dtype?: T.DType): T.NDArray {
  const matrix = T.compileSync([], T.eye(numRows, numColumns, 0, dtype), { mode: 'js' })();
  return batchShape?.length
    ? tile(matrix.reshape([1, numRows, numColumns]), [...batchShape, 1, 1]).reshape([
        ...batchShape,
        numRows,
        numColumns,
      ])
    : matrix;
}
/** tf.where(condition, a, b): a where the condition holds, else b (broadcast). */
export const where = (condition: Operand, a: Operand, b: Operand) =>
  run('where', null, [condition, a, b], (c, x, y) => T.where(c, x, y));
/** tf.unstack(x, axis = 0): the slices along an axis, that axis removed. */
export function unstack(x: Operand, axis = 0): T.NDArray[] {
  const array = asArray(x);
  const a = axis < 0 ? axis + array.ndim : axis;
  return Array.from({ length: array.shape[a] ?? 0 }, (_, i) =>
    run('unstack', [a, i], [array], (n) => T.index(n, ...array.shape.map((_, k) => (k === a ? i : ':')))),
  );
}
/** tf.split(x, numOrSizeSplits, axis = 0): equal parts, or parts of the given sizes (one -1 takes the rest). */
export function split(x: Operand, numOrSizeSplits: number | readonly number[], axis = 0): T.NDArray[] {
  const array = asArray(x);
  const a = axis < 0 ? axis + array.ndim : axis;
  const length = array.shape[a]!;
  let sizes: number[];
  if (typeof numOrSizeSplits === 'number') {
    if (!Number.isInteger(numOrSizeSplits) || numOrSizeSplits <= 0 || length % numOrSizeSplits !== 0)
      throw new ConfigError(`split: ${numOrSizeSplits} equal parts do not divide an axis of ${length}`);
    sizes = new Array<number>(numOrSizeSplits).fill(length / numOrSizeSplits);
  } else {
    const rest = length - numOrSizeSplits.filter((s) => s !== -1).reduce((p, s) => p + s, 0);
    sizes = numOrSizeSplits.map((s) => (s === -1 ? rest : s));
    if (sizes.reduce((p, s) => p + s, 0) !== length || sizes.some((s) => s < 0))
      throw new ConfigError(`split: sizes [${numOrSizeSplits.join(', ')}] do not add up to the axis's ${length}`);
  }
  let start = 0;
  return sizes.map((size) => {
    const from = start;
    start += size;
    return run('split', [a, from, size], [array], (n) =>
      T.index(n, ...array.shape.map((_, k) => (k === a ? `${from}:${from + size}` : ':'))),
    );
  });
}
/** tf.moments(x, axes?, keepDims = false): the mean and the (population) variance. */
export function moments(
  x: Operand,
  axes?: number | number[],
  keepDims = false,
): { mean: T.NDArray; variance: T.NDArray } {
  return {
    mean: run('moments.mean', [axes ?? null, keepDims], [x], (n) => T.mean(n, axes, keepDims)),
    variance: run('moments.variance', [axes ?? null, keepDims], [x], (n) => T.variance(n, axes, keepDims)),
  };
}
/** tf.cumsum(x, axis = 0, exclusive = false, reverse = false); tf.cumprod likewise. */
export const cumsum = (x: Operand, axis = 0, exclusive = false, reverse = false) =>
  run('cumsum', [axis, exclusive, reverse], [x], (n) => T.cumsum(n, axis, { exclusive, reverse }));
export const cumprod = (x: Operand, axis = 0, exclusive = false, reverse = false) =>
  run('cumprod', [axis, exclusive, reverse], [x], (n) => T.cumprod(n, axis, { exclusive, reverse }));
/** tf.topk(x, k = 1, sorted = true): the k largest of each last-axis row and their indices. */
export function topk(x: Operand, k = 1, sorted = true): { values: T.NDArray; indices: T.NDArray } {
  const values = run('topkValues', [k, sorted], [x], (n) => T.topk(n, k, { sorted }).values);
  const indices = run('topkIndices', [k, sorted], [x], (n) => T.topk(n, k, { sorted }).indices);
  return { values, indices };
}
/** tf.einsum(equation, ...tensors). */
export const einsum = (equation: string, ...xs: Operand[]) =>
  run('einsum', equation, xs, (...ns) => T.einsum(equation, ...ns));
/** tf.norm(x, ord = 'euclidean', axis?, keepDims = false). */
export const norm = (
  x: Operand,
  ord: number | 'euclidean' | 'fro' = 'euclidean',
  axis?: number | [number, number],
  keepDims = false,
) => run('norm', [String(ord), axis ?? null, keepDims], [x], (n) => T.norm(n, ord, axis, keepDims));

/** A shape with one -1 filled in from the array's size (TF.js's reshape). */
function resolveShape(a: T.NDArray, shape: readonly number[]): number[] {
  const known = shape.filter((d) => d !== -1).reduce((p, d) => p * d, 1);
  return shape.map((d) => (d === -1 ? a.size / known : d));
}

// ---- memory and backend: NDArrays are garbage collected, so these keep TF.js code running ----
/** Runs `fn` and returns its result (TF.js frees intermediates here; tsano's arrays are collected). */
export const tidy = <R>(nameOrFn: string | (() => R), fn?: () => R): R =>
  (typeof nameOrFn === 'function' ? nameOrFn : fn!)();
export const dispose = (_x: unknown): void => {};
export const keep = <R>(x: R): R => x;
export const ready = T.ready;
export const getBackend = () => 'tsano';
export const memory = () => ({ numTensors: compiled.size, numBytes: 0, unreliable: true });

// ---- methods on arrays, as TF.js tensors have them ----
// ---- the ops of runtime/declared-ops.ts, under TensorFlow.js's names (tsano's where TF.js has none) ----
type Declared = typeof DECLARED_OPS;
type TfNameOf<K extends DeclaredOp> = Declared[K] extends { readonly tf: infer N extends string } ? N : K;
type EagerDeclared = {
  readonly [K in DeclaredOp as TfNameOf<K>]: Declared[K]['arity'] extends 1
    ? (x: Operand) => T.NDArray
    : (a: Operand, b: Operand) => T.NDArray;
};
type DeclaredTensorMethods = {
  readonly [K in DeclaredOp as TfNameOf<K>]: Declared[K]['arity'] extends 1
    ? () => T.NDArray
    : (o: Operand) => T.NDArray;
};
const DECLARED = Object.fromEntries(
  DECLARED_OP_NAMES.map((op) => {
    const build = T.DECLARED_BUILDERS[op] as Builder;
    const eager = declaration(op).arity === 1 ? unary(tfName(op), build) : binary(tfName(op), build);
    return [tfName(op), eager];
  }),
) as unknown as EagerDeclared;
// The public names; test/eager.test.ts checks that every declared op is here.
export const {
  equal,
  notEqual,
  less,
  lessEqual,
  greater,
  greaterEqual,
  logicalAnd,
  logicalOr,
  logicalNot,
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
  isNaN,
  isInf,
  isFinite,
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
} = DECLARED;

declare module '../../runtime/ndarray.js' {
  interface NDArray extends DeclaredTensorMethods {
    readonly rank: number;
    print(): void;
    dispose(): void;
    pow(o: Operand): NDArray;
    matMul(o: Operand, transposeA?: boolean, transposeB?: boolean): NDArray;
    sum(axis?: number | number[], keepDims?: boolean): NDArray;
    mean(axis?: number | number[], keepDims?: boolean): NDArray;
    max(axis?: number | number[], keepDims?: boolean): NDArray;
    min(axis?: number | number[], keepDims?: boolean): NDArray;
    argMax(axis?: number): NDArray;
    argMin(axis?: number): NDArray;
    transpose(perm?: readonly number[]): NDArray;
    expandDims(axis?: number): NDArray;
    squeeze(axis?: number[]): NDArray;
    cast(dtype: T.DType): NDArray;
    asType(dtype: T.DType): NDArray;
    divNoNan(o: Operand): NDArray;
    slice(begin: readonly number[], size?: readonly number[]): NDArray;
    gather(indices: Operand, axis?: number): NDArray;
    unstack(axis?: number): NDArray[];
    split(numOrSizeSplits: number | readonly number[], axis?: number): NDArray[];
    cumsum(axis?: number, exclusive?: boolean, reverse?: boolean): NDArray;
    toFloat(): NDArray;
  }
}

/** Each method is the function of the same name with the array as its first operand. */
const AS_METHODS = {
  asType: cast,
  divNoNan,
  slice,
  gather,
  unstack,
  split,
  cumsum,
  pow,
  matMul,
  sum,
  mean,
  max,
  min,
  argMax,
  argMin,
  transpose,
  expandDims,
  squeeze,
  cast,
} as const;
const methods: Record<string, (this: T.NDArray, ...args: unknown[]) => unknown> = {
  print() {
    console.log(this.toString());
  },
  dispose() {},
  toFloat() {
    return cast(this, 'float32');
  },
};
for (const [name, fn] of [...Object.entries(AS_METHODS), ...Object.entries(DECLARED)])
  methods[name] = function (this: T.NDArray, ...args: unknown[]) {
    return (fn as (x: T.NDArray, ...rest: unknown[]) => T.NDArray)(this, ...args);
  };
Object.assign(T.NDArray.prototype, methods);
Object.defineProperty(T.NDArray.prototype, 'rank', {
  get(this: T.NDArray) {
    return this.ndim;
  },
});

export { NDArray as Tensor } from '../../runtime/ndarray.js';

// ---- models, layers and training: tsano's Keras API under TensorFlow.js's names ----
export {
  input,
  losses,
  regularizers,
  callbacks,
  Callback,
  Sequential,
  LayersModel,
  data,
  Dataset,
} from '../keras/index.js';
import * as keras from '../keras/index.js';
import { optimizers } from '../keras/index.js';

/** tf.layers: Keras's layers under TF.js's defaults (its LSTM and GRU gate with hardSigmoid, Keras's with sigmoid). */
export const layers = {
  ...keras.layers,
  lstm: (args: Parameters<typeof keras.layers.lstm>[0]) =>
    keras.layers.lstm({ recurrentActivation: 'hardSigmoid', ...args }),
  gru: (args: Parameters<typeof keras.layers.gru>[0]) =>
    keras.layers.gru({ recurrentActivation: 'hardSigmoid', ...args }),
};

/** TF.js's Adam: ε added after the bias correction (tf.train.adam(learningRate, beta1, beta2, epsilon) or a config). */
const tfjsAdam = (config?: Parameters<typeof optimizers.adam>[0], beta1?: number, beta2?: number, epsilon?: number) =>
  optimizers.adam({
    ...(typeof config === 'number'
      ? {
          learningRate: config,
          ...(beta1 === undefined ? {} : { beta1 }),
          ...(beta2 === undefined ? {} : { beta2 }),
          ...(epsilon === undefined ? {} : { epsilon }),
        }
      : (config ?? {})),
    epsilonAfterCorrection: true,
  } as never);
import type { Optimizer } from '../keras/optimizers.js';
import type { TfjsOptimizer } from './autodiff.js';

/** A model whose `evaluate` answers as TensorFlow.js's does: a scalar tensor, or one per loss and metric. */
export type TfjsModel<M> = Omit<M, 'evaluate'> & {
  evaluate(...args: Parameters<keras.AnyLayersModel['evaluate']>): T.NDArray | T.NDArray[];
};
function asTfjs<M extends keras.AnyLayersModel>(model: M): TfjsModel<M> {
  const numbers = model.evaluate.bind(model);
  return Object.assign(model, {
    evaluate: (...args: Parameters<typeof numbers>) => {
      const values = numbers(...args).map((v) => tensor(v, [], 'float32'));
      return values.length === 1 ? values[0]! : values;
    },
  }) as unknown as TfjsModel<M>;
}
export const sequential = (...args: Parameters<typeof keras.sequential>) => asTfjs(keras.sequential(...args));
export const model = (...args: Parameters<typeof keras.model>) => asTfjs(keras.model(...args));
export const loadLayersModel = async (...args: Parameters<typeof keras.loadLayersModel>) =>
  asTfjs(await keras.loadLayersModel(...args));
/** tf.train: optimizers with TensorFlow.js's positional form (`tf.train.adam(0.01)`). */
export const train = Object.fromEntries(
  Object.entries({ ...optimizers, adam: tfjsAdam }).map(([name, make]) => [
    name,
    typeof make === 'function'
      ? (...args: never[]) => withMinimize((make as (...a: never[]) => Optimizer)(...args))
      : make,
  ]),
) as {
  [K in keyof typeof optimizers]: (typeof optimizers)[K] extends (...a: infer A) => Optimizer
    ? (...a: A) => TfjsOptimizer
    : (typeof optimizers)[K];
};
export {
  variable,
  grad,
  grads,
  valueAndGrad,
  valueAndGrads,
  variableGrads,
  jit,
  TracingError,
  type Variable,
  type TfjsOptimizer,
} from './autodiff.js';
/** What `layer.apply` returns on a symbolic input (TF.js's SymbolicTensor): a graph node. */
export type { Node as SymbolicTensor } from '../../compiler/ir/node.js';
