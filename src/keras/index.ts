/**
 * tsano/keras: the Keras-compatible layer API (TensorFlow.js spelling). On first import it reads
 * keras.json exactly as Keras does and prints which backend is in use.
 */
import '../graph/methods.js';
import {
  epsilon,
  floatx,
  imageDataFormat,
  setEpsilonValue,
  setFloatxDType,
  setHalfStorage,
  setImageDataFormatValue,
  defaultBackend,
} from '../../runtime/config.js';
import { ConfigError } from '../../runtime/errors.js';
import { checkOptionNames } from '../../runtime/options.js';
import { CustomLayer, registerClass, type CallKwargs, type CustomLayerClass } from './layers/custom.js';
import {
  CategoryEncoding,
  Discretization,
  type CategoryEncodingArgs,
  type DiscretizationArgs,
} from './layers/preprocessing.js';
import { plotModel, type PlotModelOptions } from './plot-model.js';
import { TrainingCurves, type TrainingCurvesArgs } from './training-curves.js';
import {
  Bidirectional,
  GRU,
  LSTM,
  SimpleRNN,
  TimeDistributed,
  type RecurrentArgs,
  type RecurrentOutput,
} from './layers/recurrent.js';
import * as T from '../index.js';
import { configInForce } from './config.js';
import {
  Activation,
  Dense,
  Dropout,
  Flatten,
  Identity,
  Lambda,
  Rescaling,
  Reshape,
  type DenseArgs,
} from './layers/core.js';
import {
  AveragePooling2D,
  Conv2D,
  type Conv2DArgs,
  Conv2DTranspose,
  DepthwiseConv2D,
  GlobalAveragePooling2D,
  MaxPooling2D,
  type PoolArgs,
  SeparableConv2D,
} from './layers/conv.js';
import type { AnyLayer, Layer, LayerArgs, Regularizer } from './layers/layer.js';
import { History, LayersModel, type AnyLayersModel } from './model.js';
import { Sequential } from './sequential.js';
import { Functional } from './functional.js';
import {
  BatchNormalization,
  Embedding,
  GroupNormalization,
  LayerNormalization,
  Normalization,
  UnitNormalization,
  type NormalizationArgs,
} from './layers/normalization.js';
import {
  AdditiveAttention,
  Attention,
  MultiHeadAttention,
  type AttentionArgs,
  type MultiHeadAttentionArgs,
} from './layers/attention.js';
import { Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract } from './layers/merge.js';
import * as optimizerFns from './optimizers.js';
import { LOSS_NAMES, lossByName, type Loss } from './losses.js';
import type { Optimizer } from './optimizers.js';
import { ELU, LeakyReLU, PReLU, ReLU, Softmax } from './layers/activations.js';
import {
  AlphaDropout,
  AveragePooling1D,
  Conv1D,
  GaussianDropout,
  GaussianNoise,
  Masking,
  MaxPooling1D,
  SpatialDropout1D,
  SpatialDropout2D,
  type Conv1DArgs,
  type Pool1DArgs,
} from './layers/sequence.js';
import {
  CenterCrop,
  Cropping2D,
  GlobalAveragePooling1D,
  GlobalMaxPooling1D,
  GlobalMaxPooling2D,
  Permute,
  RepeatVector,
  UpSampling2D,
  ZeroPadding2D,
} from './layers/reshaping.js';
import {
  CSVLogger,
  EarlyStopping,
  TerminateOnNaN,
  LearningRateScheduler,
  ModelCheckpoint,
  ReduceLROnPlateau,
  type ReduceLROnPlateauArgs,
} from './callbacks.js';
import { loadModel, modelFromJSON } from './files.js';

const config = configInForce();
console.error(`Using ${config.backend} backend.`);

/**
 * predict, evaluate and backend.function answer synchronously, as in TensorFlow.js, without waiting for
 * the code generator: a function whose module is not cached starts on the reference kernels and moves
 * to its own module once the generator has loaded (`stats.tier`). TSANO_TIER=fused loads it here
 * instead, so every call runs fused; `await keras.ready()` is kept for code written for tf.ready().
 */
if (T.tierPolicy() === 'fused') await T.ready();
export const ready = T.ready;

const FLOATX = ['float16', 'float32', 'float64'];

/** Keras's backend module: configuration plus the classic functions over the graph API. */
export const backend = {
  floatx: (): string => (config.floatx === 'float16' ? 'float16' : floatx()),
  setFloatx(value: 'float16' | 'float32' | 'float64') {
    if (!FLOATX.includes(value))
      throw new ConfigError(`setFloatx: unknown floatx '${value}' (expected one of ${FLOATX.join(', ')})`);
    config.floatx = value;
    setFloatxDType(value === 'float64' ? 'float64' : 'float32');
    setHalfStorage(value === 'float16');
  },
  epsilon,
  setEpsilon: (value: number) => setEpsilonValue(value),
  imageDataFormat: () => (imageDataFormat() === 'channelsLast' ? 'channels_last' : 'channels_first'),
  setImageDataFormat(value: string) {
    const v = value.toLowerCase();
    if (v !== 'channels_last' && v !== 'channels_first')
      throw new ConfigError(`setImageDataFormat: expected channels_last or channels_first, got '${value}'`);
    setImageDataFormatValue(v === 'channels_last' ? 'channelsLast' : 'channelsFirst');
  },
  backend: () => defaultBackend(),
  // Keras's own (Python) spellings, as its documentation writes them.
  get set_floatx() {
    return this.setFloatx;
  },
  get set_epsilon() {
    return this.setEpsilon;
  },
  get image_data_format() {
    return this.imageDataFormat;
  },
  get set_image_data_format() {
    return this.setImageDataFormat;
  },
  // classic backend functions, so Keras-1/2 backend code ports line by line
  placeholder: (args: { shape: readonly (number | null)[]; name?: string; dtype?: T.DType }) =>
    T.tensor(args.name ?? 'placeholder', { shape: args.shape, ...(args.dtype ? { dtype: args.dtype } : {}) }),
  variable: (value: T.ArrayValue, name?: string) => T.shared(value, name),
  constant: T.constant,
  dot: T.dot,
  sum: T.sum,
  mean: T.mean,
  max: T.max,
  exp: T.exp,
  log: T.log,
  sigmoid: T.sigmoid,
  softmax: T.softmax,
  relu: T.relu,
  gradients: (loss: T.Node, variables: T.Node[]) => T.grad(loss, variables),
  /** keras.backend.function(inputs, outputs, updates): a compiled function taking an array of inputs. */
  function(inputs: T.Node[], outputs: T.Node[], updates: [T.Node, T.Node][] = []) {
    const f = T.compileSync(inputs, outputs, { updates });
    return (values: T.ArrayValue[]) => f(...values);
  },
};

type Pair = number | readonly [number, number];
/** Layer factories (TensorFlow.js spelling: keras.layers.dense({ units })). */
export const layers = {
  dense: (args: DenseArgs) => new Dense(args),
  activation: (args: LayerArgs & { activation: string }) => new Activation(args),
  dropout: (args: LayerArgs & { rate: number; seed?: number }) => new Dropout(args),
  flatten: (args: LayerArgs = {}) => new Flatten(args),
  reshape: (args: LayerArgs & { targetShape: readonly number[] }) => new Reshape(args),
  conv2d: (args: Conv2DArgs) => new Conv2D(args),
  maxPooling2d: (args: PoolArgs = {}) => new MaxPooling2D(args),
  averagePooling2d: (args: PoolArgs = {}) => new AveragePooling2D(args),
  globalAveragePooling2d: (args: LayerArgs & { dataFormat?: 'channelsLast' | 'channelsFirst' } = {}) =>
    new GlobalAveragePooling2D(args),
  batchNormalization: (args: NormalizationArgs & { momentum?: number } = {}) => new BatchNormalization(args),
  layerNormalization: (args: NormalizationArgs = {}) => new LayerNormalization(args),
  multiHeadAttention: (args: MultiHeadAttentionArgs) => new MultiHeadAttention(args),
  embedding: (args: ConstructorParameters<typeof Embedding>[0]) => new Embedding(args),
  add: (args: LayerArgs = {}) => new Add(args),
  multiply: (args: LayerArgs = {}) => new Multiply(args),
  concatenate: (args: LayerArgs & { axis?: number } = {}) => new Concatenate(args),
  subtract: (args: LayerArgs = {}) => new Subtract(args),
  average: (args: LayerArgs = {}) => new Average(args),
  maximum: (args: LayerArgs = {}) => new Maximum(args),
  minimum: (args: LayerArgs = {}) => new Minimum(args),
  leakyReLU: (args?: ConstructorParameters<typeof LeakyReLU>[0]) => new LeakyReLU(args),
  reLU: (args?: ConstructorParameters<typeof ReLU>[0]) => new ReLU(args),
  softmax: (args?: ConstructorParameters<typeof Softmax>[0]) => new Softmax(args),
  prelu: (args?: ConstructorParameters<typeof PReLU>[0]) => new PReLU(args),
  repeatVector: (args: ConstructorParameters<typeof RepeatVector>[0]) => new RepeatVector(args),
  permute: (args: ConstructorParameters<typeof Permute>[0]) => new Permute(args),
  zeroPadding2d: (args?: ConstructorParameters<typeof ZeroPadding2D>[0]) => new ZeroPadding2D(args),
  cropping2d: (args?: ConstructorParameters<typeof Cropping2D>[0]) => new Cropping2D(args),
  upSampling2d: (args?: ConstructorParameters<typeof UpSampling2D>[0]) => new UpSampling2D(args),
  globalMaxPooling1d: (args?: ConstructorParameters<typeof GlobalMaxPooling1D>[0]) => new GlobalMaxPooling1D(args),
  globalMaxPooling2d: (args?: ConstructorParameters<typeof GlobalMaxPooling2D>[0]) => new GlobalMaxPooling2D(args),
  globalAveragePooling1d: (args?: ConstructorParameters<typeof GlobalAveragePooling1D>[0]) =>
    new GlobalAveragePooling1D(args),
  conv1d: (args: Conv1DArgs) => new Conv1D(args),
  maxPooling1d: (args?: Pool1DArgs) => new MaxPooling1D(args),
  averagePooling1d: (args?: Pool1DArgs) => new AveragePooling1D(args),
  gaussianNoise: (args: ConstructorParameters<typeof GaussianNoise>[0]) => new GaussianNoise(args),
  gaussianDropout: (args: ConstructorParameters<typeof GaussianDropout>[0]) => new GaussianDropout(args),
  alphaDropout: (args: ConstructorParameters<typeof AlphaDropout>[0]) => new AlphaDropout(args),
  identity: (args: LayerArgs = {}) => new Identity(args),
  elu: (args?: ConstructorParameters<typeof ELU>[0]) => new ELU(args),
  rescaling: (args: ConstructorParameters<typeof Rescaling>[0]) => new Rescaling(args),
  categoryEncoding: (args: CategoryEncodingArgs) => new CategoryEncoding(args),
  discretization: (args: DiscretizationArgs) => new Discretization(args),
  lambda: (args: ConstructorParameters<typeof Lambda>[0]) => new Lambda(args),
  centerCrop: (args: ConstructorParameters<typeof CenterCrop>[0]) => new CenterCrop(args),
  unitNormalization: (args: LayerArgs = {}) => new UnitNormalization(args),
  normalization: (args?: ConstructorParameters<typeof Normalization>[0]) => new Normalization(args),
  groupNormalization: (args?: ConstructorParameters<typeof GroupNormalization>[0]) => new GroupNormalization(args),
  attention: (args?: AttentionArgs) => new Attention(args),
  additiveAttention: (args?: ConstructorParameters<typeof AdditiveAttention>[0]) => new AdditiveAttention(args),
  spatialDropout1d: (args: ConstructorParameters<typeof SpatialDropout1D>[0]) => new SpatialDropout1D(args),
  spatialDropout2d: (args: ConstructorParameters<typeof SpatialDropout2D>[0]) => new SpatialDropout2D(args),
  depthwiseConv2d: (args: ConstructorParameters<typeof DepthwiseConv2D>[0]) => new DepthwiseConv2D(args),
  separableConv2d: (args: ConstructorParameters<typeof SeparableConv2D>[0]) => new SeparableConv2D(args),
  conv2dTranspose: (args: ConstructorParameters<typeof Conv2DTranspose>[0]) => new Conv2DTranspose(args),
  dot: (args: ConstructorParameters<typeof Dot>[0]) => new Dot(args),
  masking: (args?: ConstructorParameters<typeof Masking>[0]) => new Masking(args),
  simpleRNN: <A extends RecurrentArgs>(args: A) => new SimpleRNN<RecurrentOutput<A>>(args),
  lstm: <A extends RecurrentArgs>(args: A) => new LSTM<RecurrentOutput<A>>(args),
  gru: <A extends RecurrentArgs>(args: A) => new GRU<RecurrentOutput<A>>(args),
  bidirectional: (args: ConstructorParameters<typeof Bidirectional>[0]) => new Bidirectional(args),
  timeDistributed: (args: ConstructorParameters<typeof TimeDistributed>[0]) => new TimeDistributed(args),
  /** The base class of custom layers (TensorFlow.js's tf.layers.Layer). */
  Layer: CustomLayer,
};
/** Weight penalties (TensorFlow.js's tf.regularizers): l2(0.01) or l2({ l2: 0.01 }), and the same for l1. */
const penalty =
  (kind: 'l1' | 'l2') =>
  (config: number | { l1?: number; l2?: number } = 0.01): Regularizer => {
    const value = typeof config === 'number' ? config : (config[kind] ?? 0.01);
    if (typeof value !== 'number' || !(value >= 0))
      throw new ConfigError(`regularizers.${kind}: expected a non-negative number, got ${JSON.stringify(config)}`);
    return { [kind]: value };
  };
export const regularizers = {
  l1: penalty('l1'),
  l2: penalty('l2'),
  l1l2: (config: { l1?: number; l2?: number } = {}): Regularizer => ({
    ...penalty('l1')({ l1: config.l1 ?? 0.01 }),
    ...penalty('l2')({ l2: config.l2 ?? 0.01 }),
  }),
};

/** Registering custom layer classes, so saved models holding them load (TensorFlow.js's tf.serialization). */
export const serialization = { registerClass };
export { CustomLayer, registerClass, type CallKwargs, type CustomLayerClass };
export { SimpleRNN, LSTM, GRU, Bidirectional, TimeDistributed, type RecurrentArgs };
export { Masking };
export { DepthwiseConv2D, SeparableConv2D, Conv2DTranspose, Dot };
export { Conv1D, MaxPooling1D, AveragePooling1D, GaussianNoise, SpatialDropout1D, SpatialDropout2D };
export { Subtract, Average, Maximum, Minimum, LeakyReLU, ReLU, Softmax, PReLU };
export { RepeatVector, Permute, ZeroPadding2D, Cropping2D, UpSampling2D, CenterCrop };
export { GaussianDropout, AlphaDropout, Identity, ELU, Rescaling, Lambda, UnitNormalization, GroupNormalization };
export { CategoryEncoding, Discretization, type CategoryEncodingArgs, type DiscretizationArgs };
export { Normalization };
export { Attention, AdditiveAttention };
export { GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalAveragePooling1D };

/** A symbolic input for the functional API: `keras.input({ shape: [784] })` (batch axis added). */
export const input = (args: { shape: readonly (number | null)[]; name?: string; dtype?: T.DType }) =>
  T.tensor(args.name ?? 'input', { shape: [null, ...args.shape], ...(args.dtype ? { dtype: args.dtype } : {}) });
/**
 * A model from layer calls between `inputs` and `outputs`, each one tensor or a list; given a list of
 * outputs, predict returns a list.
 */
export function model(args: {
  inputs: T.Node | readonly T.Node[];
  outputs: T.Node;
  name?: string;
}): Functional<T.NDArray>;
export function model(args: {
  inputs: T.Node | readonly T.Node[];
  outputs: readonly T.Node[];
  name?: string;
}): Functional<T.NDArray[]>;
export function model(args: {
  inputs: T.Node | readonly T.Node[];
  outputs: T.Node | readonly T.Node[];
  name?: string;
}): Functional<T.NDArray> | Functional<T.NDArray[]> {
  checkOptionNames('keras.model', args, ['inputs', 'outputs', 'name']);
  return new Functional<T.NDArray>(args.inputs, args.outputs, args.name);
}
export type { Pair };
export type { AnyLayersModel, FitArgs } from './model.js';
export type { CompileArgs, LossSpec, MetricsSpec } from './compile-args.js';
export { Callback } from './model.js';
export type { ModelData } from './model-data.js';

export const sequential = (args: { layers?: readonly AnyLayer[] } = {}) => new Sequential(args);
/** Loading saved models: TensorFlow.js layers models (tsano's own saves included) and Keras JSON topologies. */
export const models = { loadModel, loadLayersModel: loadModel, modelFromJSON };
export { loadModel, loadModel as loadLayersModel, modelFromJSON };
export { ops, opByKerasName } from './ops.js';
import {
  AUC,
  MeanIoU,
  Precision,
  Recall,
  sparseTopKCategoricalAccuracy,
  StatefulMetric,
  topKCategoricalAccuracy,
} from './metrics.js';

/**
 * An optimizer factory that also takes TensorFlow.js's positional form: `adam(0.01)` or
 * `adam(0.01, 0.9, 0.999)`, the arguments after the rate named by `positional`.
 */
function positionalRate<C extends object>(make: (config?: C) => Optimizer, positional: readonly (keyof C)[] = []) {
  return (config?: C | number, ...rest: number[]): Optimizer => {
    if (typeof config !== 'number') return make(config);
    if (rest.length > positional.length)
      throw new ConfigError(
        `optimizer: ${rest.length + 1} positional arguments, at most ${positional.length + 1} (learningRate${positional.map((p) => `, ${String(p)}`).join('')})`,
      );
    return make({
      learningRate: config,
      ...Object.fromEntries(rest.map((v, i) => [positional[i], v])),
    } as C);
  };
}

export const optimizers = {
  sgd: positionalRate(optimizerFns.sgd),
  adam: positionalRate(optimizerFns.adam, ['beta1', 'beta2', 'epsilon']),
  adamw: positionalRate(optimizerFns.adamw),
  adamax: positionalRate(optimizerFns.adamax, ['beta1', 'beta2', 'epsilon']),
  nadam: positionalRate(optimizerFns.nadam, ['beta1', 'beta2', 'epsilon']),
  rmsprop: positionalRate(optimizerFns.rmsprop, ['rho']),
  adagrad: positionalRate(optimizerFns.adagrad),
  adadelta: positionalRate(optimizerFns.adadelta, ['rho', 'epsilon']),
  ftrl: positionalRate(optimizerFns.ftrl),
  schedules: optimizerFns.schedules,
};

/**
 * Keras's metric objects: stateful ones (precision, recall, AUC, mean IoU; summed over an epoch's
 * batches, with updateState, result and resetState of their own) and mean ones (top-k accuracy), for
 * compile's `metrics` beside the names.
 */
export const metrics = {
  precision: (args?: ConstructorParameters<typeof Precision>[0]) => new Precision(args),
  recall: (args?: ConstructorParameters<typeof Recall>[0]) => new Recall(args),
  auc: (args?: ConstructorParameters<typeof AUC>[0]) => new AUC(args),
  meanIoU: (args: ConstructorParameters<typeof MeanIoU>[0]) => new MeanIoU(args),
  topKCategoricalAccuracy,
  sparseTopKCategoricalAccuracy,
  Precision,
  Recall,
  AUC,
  MeanIoU,
};
export { StatefulMetric };

/**
 * Keras's loss functions by camelCase name (keras.losses.meanSquaredError(yTrue, yPred)): per-sample
 * values, usable as `loss` in compile as well as in graphs.
 */
export const losses: Readonly<Record<string, Loss>> = Object.fromEntries(
  LOSS_NAMES.map((name) => [name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()), lossByName(name)]),
);

export const callbacks = {
  earlyStopping: (args?: ConstructorParameters<typeof EarlyStopping>[0]) => new EarlyStopping(args),
  terminateOnNaN: () => new TerminateOnNaN(),
  reduceLROnPlateau: (args?: ReduceLROnPlateauArgs) => new ReduceLROnPlateau(args),
  learningRateScheduler: (...args: ConstructorParameters<typeof LearningRateScheduler>) =>
    new LearningRateScheduler(...args),
  modelCheckpoint: (args: ConstructorParameters<typeof ModelCheckpoint>[0]) => new ModelCheckpoint(args),
  csvLogger: (...args: ConstructorParameters<typeof CSVLogger>) => new CSVLogger(...args),
  /** Loss and metrics drawn per batch and epoch into an HTML page that reloads while fit runs, or an SVG. */
  trainingCurves: (args: TrainingCurvesArgs) => new TrainingCurves(args),
};

/** Keras's keras.utils: plotModel draws a model's layers (plot_model). */
export const utils = { plotModel };
export type { PlotModelOptions, TrainingCurvesArgs };
export { ReduceLROnPlateau, LearningRateScheduler, ModelCheckpoint, CSVLogger };
export { Sequential, Functional, LayersModel, History, EarlyStopping, TerminateOnNaN };
export { BatchNormalization, LayerNormalization, Embedding, Add, Multiply, Concatenate, MultiHeadAttention };
export { Dense, Activation, Dropout, Flatten, Reshape, Conv2D, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D };

// TF.js's datasets, and the models' fitDataset / evaluateDataset over them.
import * as datasets from './dataset.js';
export const data = { array: datasets.array, generator: datasets.generator, csv: datasets.csv };
export { Dataset, type CsvConfig, type FitDatasetArgs } from './dataset.js';
declare module './model.js' {
  interface LayersModel<Out> {
    /** Trains on a dataset of `{ xs, ys }` batches (TF.js's fitDataset). */
    fitDataset(
      dataset: datasets.Dataset<{ xs: unknown; ys: unknown }>,
      args?: datasets.FitDatasetArgs,
    ): Promise<History>;
    /** The loss (and metrics) over a dataset of `{ xs, ys }` batches. */
    evaluateDataset(dataset: datasets.Dataset<{ xs: unknown; ys: unknown }>): Promise<number | number[]>;
  }
}
Object.assign(LayersModel.prototype, {
  fitDataset(this: AnyLayersModel, dataset: never, args?: datasets.FitDatasetArgs) {
    return datasets.fitDataset(this, dataset, args);
  },
  evaluateDataset(this: AnyLayersModel, dataset: never) {
    return datasets.evaluateDataset(this, dataset);
  },
});
