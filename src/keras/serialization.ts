import * as T from '../index.js';
import { LoadError } from '../../runtime/errors.js';
import { Activation, Dense, Dropout, Flatten, Identity, Rescaling, Reshape } from './layers/core.js';
import { CategoryEncoding, Discretization, type EncodingMode } from './layers/preprocessing.js';
import {
  AveragePooling2D,
  Conv2D,
  Conv2DTranspose,
  DepthwiseConv2D,
  GlobalAveragePooling2D,
  MaxPooling2D,
  SeparableConv2D,
} from './layers/conv.js';
import type { AnyLayer } from './layers/layer.js';
import { CUSTOM_LAYERS } from './layers/custom.js';
import { Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract } from './layers/merge.js';
import { AdditiveAttention, Attention, MultiHeadAttention } from './layers/attention.js';
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
  BatchNormalization,
  Embedding,
  GroupNormalization,
  LayerNormalization,
  Normalization,
  UnitNormalization,
} from './layers/normalization.js';
import type { AnyLayersModel } from './model.js';
import { Sequential } from './sequential.js';
import { Functional } from './functional.js';
import {
  Bidirectional,
  GRU,
  LSTM,
  SimpleRNN,
  TimeDistributed,
  type MergeMode,
  type Recurrent,
} from './layers/recurrent.js';

/** Keras JSON keys are snake_case; layer arguments are camelCase (as TensorFlow.js converts them). */
const camel = (k: string) => k.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
export type Config = Record<string, unknown>;
const camelKeys = (c: Config): Config => Object.fromEntries(Object.entries(c).map(([k, v]) => [camel(k), v]));
const dataFormat = (v: unknown): 'channelsFirst' | 'channelsLast' | undefined =>
  v === 'channels_first' ? 'channelsFirst' : v === 'channels_last' ? 'channelsLast' : undefined;

/** Keras layer classes tsano reads, with the arguments it takes from their configs. */
const LAYERS: Record<string, (c: Config, shape: Config) => AnyLayer> = {
  Dense: (c, s) =>
    new Dense({
      ...s,
      units: c['units'] as number,
      activation: c['activation'] as string,
      useBias: c['useBias'] as boolean,
    }),
  Activation: (c, s) => new Activation({ ...s, activation: c['activation'] as string }),
  Dropout: (c, s) => new Dropout({ ...s, rate: c['rate'] as number }),
  Flatten: (_c, s) => new Flatten(s),
  Reshape: (c, s) => new Reshape({ ...s, targetShape: c['targetShape'] as number[] }),
  Conv2D: (c, s) => new Conv2D({ ...s, ...convolution(c), filters: c['filters'] as number }),
  MaxPooling2D: (c, s) => new MaxPooling2D({ ...s, ...pool<[number, number]>(c), ...format(c) }),
  AveragePooling2D: (c, s) => new AveragePooling2D({ ...s, ...pool<[number, number]>(c), ...format(c) }),
  GlobalAveragePooling2D: (c, s) => new GlobalAveragePooling2D({ ...s, ...format(c) }),
  BatchNormalization: (c, s) =>
    new BatchNormalization({
      ...s,
      axis: c['axis'] as number,
      momentum: c['momentum'] as number,
      epsilon: c['epsilon'] as number,
      center: c['center'] as boolean,
      scale: c['scale'] as boolean,
    }),
  LayerNormalization: (c, s) =>
    new LayerNormalization({
      ...s,
      epsilon: c['epsilon'] as number,
      center: c['center'] as boolean,
      scale: c['scale'] as boolean,
    }),
  MultiHeadAttention: (c, s) => {
    const unsupported = (what: string) =>
      new LoadError(`MultiHeadAttention '${String(s['name'])}': ${what} is not supported`);
    const axes = c['attentionAxes'] as number[] | null | undefined;
    if (axes && !(axes.length === 1 && (axes[0] === 1 || axes[0] === -2)))
      throw unsupported(`attention_axes ${JSON.stringify(axes)} (attention over the steps axis, [1], is)`);
    if (c['useGate']) throw unsupported('use_gate');
    if (c['slidingWindow'] !== null && c['slidingWindow'] !== undefined) throw unsupported('sliding_window');
    const output = c['outputShape'] as number | number[] | null | undefined;
    if (Array.isArray(output) && output.length !== 1) throw unsupported(`output_shape ${JSON.stringify(output)}`);
    return new MultiHeadAttention({
      ...s,
      numHeads: c['numHeads'] as number,
      keyDim: c['keyDim'] as number,
      ...(c['valueDim'] !== null && c['valueDim'] !== undefined ? { valueDim: c['valueDim'] as number } : {}),
      dropout: (c['dropout'] as number | undefined) ?? 0,
      useBias: (c['useBias'] as boolean | undefined) ?? true,
      ...(output !== null && output !== undefined ? { outputShape: Array.isArray(output) ? output[0]! : output } : {}),
    });
  },
  Embedding: (c, s) =>
    new Embedding({
      ...s,
      inputDim: c['inputDim'] as number,
      outputDim: c['outputDim'] as number,
      maskZero: c['maskZero'] as boolean,
    }),
  Add: (_c, s) => new Add(s),
  Multiply: (_c, s) => new Multiply(s),
  Concatenate: (c, s) => new Concatenate({ ...s, axis: c['axis'] as number }),
  Subtract: (_c, s) => new Subtract(s),
  Average: (_c, s) => new Average(s),
  Maximum: (_c, s) => new Maximum(s),
  Minimum: (_c, s) => new Minimum(s),
  LeakyReLU: (c, s) => new LeakyReLU({ ...s, alpha: (c['alpha'] ?? c['negativeSlope']) as number }),
  ReLU: (c, s) =>
    new ReLU({
      ...s,
      maxValue: c['maxValue'] as number,
      negativeSlope: c['negativeSlope'] as number,
      threshold: c['threshold'] as number,
    }),
  Softmax: (c, s) => new Softmax({ ...s, axis: c['axis'] as number }),
  PReLU: (c, s) => new PReLU({ ...s, sharedAxes: c['sharedAxes'] as number[] }),
  RepeatVector: (c, s) => new RepeatVector({ ...s, n: c['n'] as number }),
  Permute: (c, s) => new Permute({ ...s, dims: c['dims'] as number[] }),
  ZeroPadding2D: (c, s) => new ZeroPadding2D({ ...s, padding: c['padding'] as number, ...format(c) }),
  Cropping2D: (c, s) => new Cropping2D({ ...s, cropping: c['cropping'] as number, ...format(c) }),
  UpSampling2D: (c, s) => new UpSampling2D({ ...s, size: c['size'] as [number, number], ...format(c) }),
  GlobalMaxPooling1D: (c, s) => new GlobalMaxPooling1D({ ...s, ...format(c) }),
  GlobalMaxPooling2D: (c, s) => new GlobalMaxPooling2D({ ...s, ...format(c) }),
  GlobalAveragePooling1D: (c, s) => new GlobalAveragePooling1D({ ...s, ...format(c) }),
  Conv1D: (c, s) => new Conv1D({ ...s, ...window<number>(c), filters: c['filters'] as number }),
  MaxPooling1D: (c, s) => new MaxPooling1D({ ...s, ...pool<number>(c) }),
  AveragePooling1D: (c, s) => new AveragePooling1D({ ...s, ...pool<number>(c) }),
  GaussianNoise: (c, s) => new GaussianNoise({ ...s, stddev: c['stddev'] as number }),
  GaussianDropout: (c, s) => new GaussianDropout({ ...s, rate: c['rate'] as number }),
  AlphaDropout: (c, s) => new AlphaDropout({ ...s, rate: c['rate'] as number }),
  Identity: (_c, s) => new Identity(s),
  ELU: (c, s) => new ELU({ ...s, alpha: (c['alpha'] as number | undefined) ?? 1 }),
  Rescaling: (c, s) =>
    new Rescaling({ ...s, scale: c['scale'] as number, offset: (c['offset'] as number | undefined) ?? 0 }),
  CategoryEncoding: (c, s) =>
    new CategoryEncoding({
      ...s,
      numTokens: c['numTokens'] as number,
      outputMode: (c['outputMode'] as EncodingMode | undefined) ?? 'multi_hot',
    }),
  Discretization: (c, s) =>
    new Discretization({
      ...s,
      ...(c['binBoundaries'] ? { binBoundaries: c['binBoundaries'] as number[] } : { numBins: c['numBins'] as number }),
      epsilon: (c['epsilon'] as number | undefined) ?? 0.01,
      outputMode: (c['outputMode'] as 'int' | EncodingMode | undefined) ?? 'int',
    }),
  CenterCrop: (c, s) =>
    new CenterCrop({ ...s, height: c['height'] as number, width: c['width'] as number, ...format(c) }),
  UnitNormalization: (c, s) => {
    const axis = c['axis'] as number | number[] | undefined;
    if (axis !== undefined && [axis].flat().some((a) => a !== -1))
      throw new LoadError(
        `UnitNormalization '${String(s['name'])}': axis ${JSON.stringify(axis)} is not supported (the last axis is)`,
      );
    return new UnitNormalization(s);
  },
  GroupNormalization: (c, s) => {
    if (c['axis'] !== undefined && c['axis'] !== -1)
      throw new LoadError(
        `GroupNormalization '${String(s['name'])}': axis ${JSON.stringify(c['axis'])} is not supported (the last axis is)`,
      );
    return new GroupNormalization({
      ...s,
      groups: (c['groups'] as number | undefined) ?? 32,
      epsilon: c['epsilon'] as number,
      center: c['center'] as boolean,
      scale: c['scale'] as boolean,
    });
  },
  Normalization: (c, s) => {
    const axis = c['axis'];
    if (axis !== undefined && axis !== -1 && !(Array.isArray(axis) && axis.length === 1 && axis[0] === -1))
      throw new LoadError(
        `Normalization '${String(s['name'])}': axis ${JSON.stringify(axis)} is not supported (the last axis is)`,
      );
    const stat = (v: unknown) => (v === null || v === undefined ? undefined : ([v].flat(Infinity) as number[]));
    const [mean, variance] = [stat(c['mean']), stat(c['variance'])];
    return new Normalization({
      ...s,
      ...(mean && variance
        ? { mean: mean.length === 1 ? mean[0]! : mean, variance: variance.length === 1 ? variance[0]! : variance }
        : {}),
      invert: (c['invert'] as boolean | undefined) ?? false,
    });
  },
  Attention: (c, s) =>
    new Attention({
      ...s,
      useScale: (c['useScale'] as boolean | undefined) ?? false,
      scoreMode: (c['scoreMode'] as 'dot' | 'concat' | undefined) ?? 'dot',
      dropout: (c['dropout'] as number | undefined) ?? 0,
    }),
  AdditiveAttention: (c, s) =>
    new AdditiveAttention({
      ...s,
      useScale: (c['useScale'] as boolean | undefined) ?? true,
      dropout: (c['dropout'] as number | undefined) ?? 0,
    }),
  SpatialDropout1D: (c, s) => new SpatialDropout1D({ ...s, rate: c['rate'] as number }),
  SpatialDropout2D: (c, s) => new SpatialDropout2D({ ...s, rate: c['rate'] as number, ...format(c) }),
  DepthwiseConv2D: (c, s) =>
    new DepthwiseConv2D({ ...s, ...convolution(c), depthMultiplier: c['depthMultiplier'] as number }),
  SeparableConv2D: (c, s) =>
    new SeparableConv2D({
      ...s,
      ...convolution(c),
      filters: c['filters'] as number,
      depthMultiplier: c['depthMultiplier'] as number,
    }),
  Conv2DTranspose: (c, s) => new Conv2DTranspose({ ...s, ...convolution(c), filters: c['filters'] as number }),
  Dot: (c, s) => new Dot({ ...s, axes: c['axes'] as number, normalize: c['normalize'] as boolean }),
  Masking: (c, s) => new Masking({ ...s, maskValue: c['maskValue'] as number }),
  SimpleRNN: (c, s) => new SimpleRNN({ ...s, ...recurrent(c) }),
  LSTM: (c, s) => new LSTM({ ...s, ...recurrent(c) }),
  GRU: (c, s) => new GRU({ ...s, ...recurrent(c) }),
  Bidirectional: (c, s) =>
    new Bidirectional({
      ...s,
      layer: wrapped(c) as Recurrent<T.Node | T.Node[]>,
      mergeMode: c['mergeMode'] as MergeMode,
    }),
  TimeDistributed: (c, s) => new TimeDistributed({ ...s, layer: wrapped(c) }),
};
/** The layer a wrapper's config holds (Bidirectional, TimeDistributed). */
const wrapped = (c: Config): AnyLayer => {
  if (!isObject(c['layer'])) throw new LoadError('a wrapper layer needs the layer it wraps in its config');
  return makeLayer(c['layer'], 'the wrapped layer');
};
/** A recurrent layer's arguments as its config gives them. */
const recurrent = (c: Config) => {
  return {
    stateful: c['stateful'] === true,
    units: c['units'] as number,
    activation: c['activation'] as string,
    recurrentActivation: c['recurrentActivation'] as string,
    useBias: c['useBias'] as boolean,
    returnSequences: c['returnSequences'] as boolean,
    returnState: c['returnState'] as boolean,
    goBackwards: c['goBackwards'] as boolean,
    dropout: c['dropout'] as number,
    recurrentDropout: c['recurrentDropout'] as number,
    unitForgetBias: c['unitForgetBias'] as boolean,
    resetAfter: c['resetAfter'] as boolean,
  };
};
const format = (c: Config) => (dataFormat(c['dataFormat']) ? { dataFormat: dataFormat(c['dataFormat'])! } : {});
/** A convolution's window and output as its config gives them; `Size` is how the layer spells a size (1-D or 2-D). */
const window = <Size>(c: Config) => ({
  kernelSize: c['kernelSize'] as Size,
  strides: c['strides'] as Size,
  padding: c['padding'] as 'valid',
  dilationRate: c['dilationRate'] as Size,
  activation: c['activation'] as string,
  useBias: c['useBias'] as boolean,
});
/** The arguments every 2-D convolution layer reads from its config. */
const convolution = (c: Config) => ({ ...window<[number, number]>(c), ...format(c) });
/** A pooling window as its config gives it (strides default to the pool size when left out). */
const pool = <Size>(c: Config) => ({
  poolSize: c['poolSize'] as Size,
  strides: (c['strides'] ?? undefined) as Size,
  padding: c['padding'] as 'valid',
});

/** Removes undefined values, so layer defaults apply for keys a file leaves out. */
const defined = (o: Config): Config =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== null));

/** The batch shape of an input, in any of Keras 2, Keras 3 and TensorFlow.js spellings. */
function batchShape(c: Config): (number | null)[] | undefined {
  if (Array.isArray(c['batchInputShape'])) return c['batchInputShape'] as (number | null)[];
  if (Array.isArray(c['batchShape'])) return c['batchShape'] as (number | null)[];
  if (Array.isArray(c['inputShape'])) return [null, ...(c['inputShape'] as (number | null)[])];
  return undefined;
}

/** A JSON object (not an array, not null). */
export const isObject = (v: unknown): v is Config => typeof v === 'object' && v !== null && !Array.isArray(v);

function makeLayer(entry: Config, where: string): AnyLayer {
  const className = String(entry['class_name'] ?? entry['className']);
  if (entry['config'] !== undefined && !isObject(entry['config']))
    throw new LoadError(`${where}: the config of layer class '${className}' must be an object`);
  const config = camelKeys((entry['config'] ?? {}) as Config);
  const custom = CUSTOM_LAYERS.get(className);
  const factory: ((c: Config, s: Config) => AnyLayer) | undefined =
    LAYERS[className] ?? (custom ? (c, s) => new custom({ ...c, ...s }) : undefined);
  if (!factory)
    throw new LoadError(
      `${where}: layer class '${className}' is not supported (supported: ${Object.keys(LAYERS).join(', ')}; a custom layer loads once keras.serialization.registerClass has been given its class)`,
    );
  const shape = batchShape(config);
  const common = defined({
    name: config['name'] as string | undefined,
    ...(shape ? { batchInputShape: shape } : {}),
    ...(config['trainable'] === false ? { trainable: false } : {}),
  });
  const layer = factory(defined(config), common);
  return layer;
}

/** A model from a Keras topology (Keras 2, Keras 3 or TensorFlow.js). */
export function modelFromTopology(topology: Config, where: string): AnyLayersModel {
  const root = (topology['model_config'] ?? topology) as Config;
  if (!isObject(root)) throw new LoadError(`${where}: the topology must be an object`);
  const className = root['class_name'];
  const config = (root['config'] ?? {}) as Config;
  const list = Array.isArray(config) ? config : isObject(config) ? (config['layers'] ?? []) : undefined;
  if (!Array.isArray(list))
    throw new LoadError(
      `${where}: config.layers must be a list of layers, got ${JSON.stringify(isObject(config) ? config['layers'] : config)?.slice(0, 40)}`,
    );
  const bad = list.findIndex((e) => !isObject(e) || typeof e['class_name'] !== 'string');
  if (bad >= 0)
    throw new LoadError(
      `${where}: config.layers[${bad}] must be an object with a class_name, got ${JSON.stringify(list[bad])?.slice(0, 40)}`,
    );
  const entries = list as Config[];
  if (className === 'Sequential') {
    const layers: AnyLayer[] = [];
    let pendingShape: (number | null)[] | undefined = batchShape(
      camelKeys((config['build_input_shape'] ? { batch_input_shape: config['build_input_shape'] } : {}) as Config),
    );
    for (const entry of entries) {
      let e = entry;
      if (e['class_name'] === 'InputLayer') {
        pendingShape = batchShape(camelKeys((e['config'] ?? {}) as Config));
        continue;
      }
      const conf = (e['config'] ?? {}) as Config;
      if (layers.length === 0 && pendingShape && !batchShape(camelKeys(conf)))
        e = { ...e, config: { ...conf, batch_input_shape: pendingShape } };
      layers.push(makeLayer(e, where));
    }
    return new Sequential({ layers });
  }
  if (className === 'Model' || className === 'Functional') return functionalFrom(config, entries, where);
  throw new LoadError(`${where}: model class '${String(className)}' is not supported (Sequential, Model, Functional)`);
}

/** A tensor as a topology names it: the layer that made it, in which of its calls (node), and which of that call's outputs. */
type TensorRef = readonly [layer: string, node: number, index: number];

/** The calls of a functional layer entry (a shared layer has several), each the tensors it reads, in Keras 2 ([name, node, tensor]) or Keras 3 ({args}) form. */
function inboundNodes(e: Config): TensorRef[][] {
  const nodes = (e['inbound_nodes'] ?? []) as unknown[];
  return nodes.map((node) => {
    if (Array.isArray(node))
      return (node as unknown[][]).map((t): TensorRef => [String(t[0]), Number(t[1] ?? 0), Number(t[2] ?? 0)]);
    const refs: TensorRef[] = [];
    const walk = (v: unknown) => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === 'object') {
        const o = v as Config;
        if (o['class_name'] === '__keras_tensor__') {
          const history = (o['config'] as Config)['keras_history'] as unknown[];
          refs.push([String(history[0]), Number(history[1] ?? 0), Number(history[2] ?? 0)]);
        } else Object.values(o).forEach(walk);
      }
    };
    walk((node as Config)['args']);
    return refs;
  });
}

/** The tensors in `input_layers` / `output_layers`: a list of [name, node, tensor], or Keras 3's single [name, 0, 0]. */
function endpointRefs(value: unknown, key: string, where: string): TensorRef[] {
  if (!Array.isArray(value) || value.length === 0) throw new LoadError(`${where}: config.${key} must list layers`);
  const entries = Array.isArray(value[0]) ? (value as unknown[][]) : [value];
  return entries.map((e, i) => {
    if (!Array.isArray(e) || typeof e[0] !== 'string')
      throw new LoadError(`${where}: config.${key}[${i}] must be [layer name, node, tensor], got ${JSON.stringify(e)}`);
    return [e[0], Number(e[1] ?? 0), Number(e[2] ?? 0)];
  });
}

function functionalFrom(config: Config, entries: Config[], where: string): AnyLayersModel {
  // Each call's outputs, by layer name and node (call) index.
  const tensors = new Map<string, T.Node | T.Node[]>();
  const tensor = ([name, node, index]: TensorRef, what: string) => {
    const made = tensors.get(`${name}:${node}`);
    const t = Array.isArray(made) ? made[index] : index === 0 ? made : undefined;
    if (!t)
      throw new LoadError(
        `${where}: ${what} reads output ${index} of '${name}'${node ? ` (its call ${node})` : ''}, which is not defined before it`,
      );
    return t;
  };
  const pending: {
    readonly name: string;
    readonly layer: AnyLayer;
    readonly node: number;
    readonly refs: TensorRef[];
  }[] = [];
  for (const e of entries) {
    const conf = camelKeys((e['config'] ?? {}) as Config);
    const name = String(e['name'] ?? conf['name']);
    if (e['class_name'] === 'InputLayer') {
      const shape = batchShape(conf);
      if (!shape) throw new LoadError(`${where}: input layer '${name}' has no shape`);
      tensors.set(`${name}:0`, T.tensor(name, { shape }));
      continue;
    }
    const layer = makeLayer(e, where);
    inboundNodes(e).forEach((refs, node) => pending.push({ name, layer, node, refs }));
  }
  // Calls in the order listed, each once what it reads is there: a shared layer's later call may read a
  // layer listed after it.
  while (pending.length) {
    const next = pending.findIndex((p) => p.refs.every(([n, node]) => tensors.has(`${n}:${node}`)));
    const { name, layer, node, refs } = pending.splice(Math.max(next, 0), 1)[0]!;
    const inbound = refs.map((r) => tensor(r, `layer '${name}'`));
    tensors.set(`${name}:${node}`, layer.apply(inbound.length === 1 ? inbound[0]! : inbound));
  }
  const find = (key: string) => endpointRefs(config[key], key, where).map((r) => tensor(r, `config.${key}`));
  const inputs = find('input_layers');
  const outputs = find('output_layers');
  const nameOf = isObject(config) && typeof config['name'] === 'string' ? config['name'] : undefined;
  return new Functional(
    inputs.length === 1 ? inputs[0]! : inputs,
    outputs.length === 1 ? outputs[0]! : outputs,
    nameOf,
  ) as AnyLayersModel;
}
