/**
 * Layers over sequences ([batch, steps, channels]) and noise layers: Conv1D and 1-D pooling run as
 * their 2-D kernels over a height of one; GaussianNoise and SpatialDropout act in training only.
 */
import * as T from '../../index.js';
import type { SharedVariable } from '../../graph/variables.js';
import { imageDataFormat, type DataFormat } from '../../../runtime/config.js';
import { ConfigError } from '../../../runtime/errors.js';
import { windowGeometry } from '../../../runtime/geometry.js';
import { nextSeed } from '../../../runtime/random.js';
import { activation } from '../activations.js';
import { knownSize, Layer, positiveInt, type LayerArgs, type Regularizer, type Shape } from './layer.js';

/** One size, as Keras writes it for 1-D layers: n or [n]. */
const single = (v: number | readonly number[] | undefined, fallback: number, what: string): number =>
  positiveInt(Array.isArray(v) ? v[0] : (v ?? fallback), what);

export interface Conv1DArgs extends LayerArgs {
  filters: number;
  kernelSize: number | readonly [number];
  strides?: number | readonly [number];
  padding?: 'valid' | 'same' | 'causal';
  dilationRate?: number | readonly [number];
  activation?: string;
  useBias?: boolean;
  kernelInitializer?: string;
  biasInitializer?: string;
  kernelRegularizer?: Regularizer;
}

/** 1-D convolution over the steps; `causal` padding pads the start only, so no step sees a later one. */
export class Conv1D extends Layer {
  private kernel?: SharedVariable;
  private bias?: SharedVariable;
  private readonly act: (x: T.Node) => T.Node;
  private readonly k: number;
  private readonly stride: number;
  private readonly dilation: number;
  private readonly padding: 'valid' | 'same' | 'causal';

  constructor(private readonly args: Conv1DArgs) {
    super('Conv1D', args);
    positiveInt(args.filters, 'conv1d: filters');
    this.k = single(args.kernelSize, 0, 'conv1d: kernelSize');
    this.stride = single(args.strides, 1, 'conv1d: strides');
    this.dilation = single(args.dilationRate, 1, 'conv1d: dilationRate');
    this.padding = args.padding ?? 'valid';
    if (!['valid', 'same', 'causal'].includes(this.padding))
      throw new ConfigError(`conv1d: padding must be valid, same or causal, got '${String(args.padding)}'`);
    this.act = activation(args.activation, `conv1d ${this.name}`);
  }
  protected override build(s: Shape): void {
    const c = knownSize(s[2], `conv1d ${this.name}: input channels`);
    this.kernel = this.createWeight(
      'kernel',
      [this.k, c, this.args.filters],
      this.args.kernelInitializer ?? 'glorot_uniform',
      this.args.kernelRegularizer,
    );
    if (this.args.useBias ?? true)
      this.bias = this.createWeight('bias', [this.args.filters], this.args.biasInitializer ?? 'zeros');
  }
  protected forward(x: T.Node): T.Node {
    const reach = (this.k - 1) * this.dilation;
    const padded =
      this.padding === 'causal'
        ? T.pad(x, [
            [0, 0],
            [reach, 0],
            [0, 0],
          ])
        : x;
    const [, c, f] = this.kernel!.shape as number[];
    const y = T.conv2d(T.expandDims(padded, 1), T.reshape(this.kernel!, [1, this.k, c!, f!]), {
      strides: [1, this.stride],
      padding: this.padding === 'same' ? 'same' : 'valid',
      dilation: [1, this.dilation],
      dataFormat: 'channelsLast',
    });
    const z = T.squeeze(y, 1);
    return this.act(this.bias ? T.add(z, this.bias) : z);
  }
  computeOutputShape(s: Shape): Shape {
    const steps = s[1];
    const out =
      steps === null || steps === undefined
        ? null
        : this.padding === 'causal'
          ? windowGeometry(steps + (this.k - 1) * this.dilation, this.k, this.stride, this.dilation, 'valid').out
          : windowGeometry(steps, this.k, this.stride, this.dilation, this.padding).out;
    return [s[0] ?? null, out, this.args.filters];
  }
  getConfig() {
    return {
      name: this.name,
      filters: this.args.filters,
      kernel_size: [this.k],
      strides: [this.stride],
      padding: this.padding,
      dilation_rate: [this.dilation],
      activation: this.args.activation ?? 'linear',
      use_bias: this.args.useBias ?? true,
    };
  }
}

export interface Pool1DArgs extends LayerArgs {
  poolSize?: number | readonly [number];
  strides?: number | readonly [number];
  padding?: 'valid' | 'same';
}

abstract class Pooling1D extends Layer {
  private readonly size: number;
  private readonly stride: number;
  private readonly padding: 'valid' | 'same';
  constructor(
    className: string,
    args: Pool1DArgs,
    private readonly pool: typeof T.maxPool2d,
  ) {
    super(className, args);
    this.size = single(args.poolSize, 2, `${className}: poolSize`);
    this.stride = single(args.strides ?? undefined, this.size, `${className}: strides`);
    this.padding = args.padding ?? 'valid';
  }
  protected forward(x: T.Node): T.Node {
    const y = this.pool(T.expandDims(x, 1), {
      poolSize: [1, this.size],
      strides: [1, this.stride],
      padding: this.padding,
      dataFormat: 'channelsLast',
    });
    return T.squeeze(y, 1);
  }
  computeOutputShape(s: Shape): Shape {
    const steps = s[1];
    const out =
      steps === null || steps === undefined ? null : windowGeometry(steps, this.size, this.stride, 1, this.padding).out;
    return [s[0] ?? null, out, s[2] ?? null];
  }
  getConfig() {
    return { name: this.name, pool_size: [this.size], strides: [this.stride], padding: this.padding };
  }
}

export class MaxPooling1D extends Pooling1D {
  constructor(args: Pool1DArgs = {}) {
    super('MaxPooling1D', args, T.maxPool2d);
  }
}
export class AveragePooling1D extends Pooling1D {
  constructor(args: Pool1DArgs = {}) {
    super('AveragePooling1D', args, T.avgPool2d);
  }
}

/** Adds zero-mean normal noise of `stddev` while training (a regularizer); the identity at inference. */
/** Draws of N(0, 1) shaped like `x`: Box–Muller from two uniform streams (1 − u is in (0, 1], so its log is finite). */
function standardNormalLike(x: T.Node, seed: number): T.Node {
  const radius = T.sqrt(T.mul(T.log(T.sub(1, T.randomUniformLike(x, seed))), -2));
  return T.mul(radius, T.cos(T.mul(T.randomUniformLike(x, seed + 1), 2 * Math.PI)));
}

const checkRate = (rate: number, what: string) => {
  if (!(rate >= 0 && rate < 1)) throw new ConfigError(`${what}: rate must be in [0, 1), got ${String(rate)}`);
};

/** Keras's GaussianDropout: while training, x times noise of mean 1 and standard deviation √(rate / (1 − rate)). */
export class GaussianDropout extends Layer {
  constructor(private readonly args: LayerArgs & { rate: number; seed?: number }) {
    super('GaussianDropout', args);
    checkRate(args.rate, `gaussianDropout ${this.name}`);
  }
  protected forward(x: T.Node, training: boolean): T.Node {
    if (!training || this.args.rate === 0) return x;
    const stddev = Math.sqrt(this.args.rate / (1 - this.args.rate));
    return T.mul(x, T.add(1, T.mul(standardNormalLike(x, this.args.seed ?? nextSeed()), stddev)));
  }
  computeOutputShape(s: Shape): Shape {
    return s;
  }
  getConfig() {
    return { name: this.name, rate: this.args.rate };
  }
}

/**
 * Keras's AlphaDropout: while training, dropped values set to SELU's negative saturation and the result
 * scaled and shifted so a SELU network keeps its mean and variance.
 */
export class AlphaDropout extends Layer {
  constructor(private readonly args: LayerArgs & { rate: number; seed?: number }) {
    super('AlphaDropout', args);
    checkRate(args.rate, `alphaDropout ${this.name}`);
  }
  protected forward(x: T.Node, training: boolean): T.Node {
    const rate = this.args.rate;
    if (!training || rate === 0) return x;
    const saturation = -1.6732632423543772 * 1.0507009873554805;
    const a = ((1 - rate) * (1 + rate * saturation ** 2)) ** -0.5;
    const b = -a * saturation * rate;
    const kept = T.ge(T.randomUniformLike(x, this.args.seed ?? nextSeed()), rate);
    return T.add(T.mul(T.where(kept, x, saturation), a), b);
  }
  computeOutputShape(s: Shape): Shape {
    return s;
  }
  getConfig() {
    return { name: this.name, rate: this.args.rate };
  }
}

export class GaussianNoise extends Layer {
  constructor(private readonly args: LayerArgs & { stddev: number; seed?: number }) {
    super('GaussianNoise', args);
    if (!(Number.isFinite(args.stddev) && args.stddev >= 0))
      throw new ConfigError(`gaussianNoise: stddev must be a number >= 0, got ${String(args.stddev)}`);
  }
  protected forward(x: T.Node, training: boolean): T.Node {
    if (!training) return x;
    return T.add(x, T.mul(standardNormalLike(x, this.args.seed ?? nextSeed()), this.args.stddev));
  }
  computeOutputShape(s: Shape): Shape {
    return s;
  }
  getConfig() {
    return { name: this.name, stddev: this.args.stddev };
  }
}

/**
 * Dropout of whole channels while training: one keep-or-drop per sample and channel, the same at
 * every step (1-D) or pixel (2-D), kept channels scaled by 1/(1 − rate).
 */
abstract class SpatialDropout extends Layer {
  constructor(
    className: string,
    protected readonly args: LayerArgs & { rate: number; seed?: number },
    private readonly spatialAxes: () => number[],
  ) {
    super(className, args);
    if (!(args.rate >= 0 && args.rate < 1))
      throw new ConfigError(`${className}: rate must be in [0, 1), got ${String(args.rate)}`);
  }
  protected forward(x: T.Node, training: boolean): T.Node {
    if (!training || this.args.rate === 0) return x;
    // Any value of the per-(sample, channel) shape draws the mask: the maximum over the spatial axes.
    const perChannel = T.max(x, this.spatialAxes(), true);
    const keep = T.ge(T.randomUniformLike(perChannel, this.args.seed ?? nextSeed()), this.args.rate);
    return T.where(keep, T.div(x, 1 - this.args.rate), 0);
  }
  computeOutputShape(s: Shape): Shape {
    return s;
  }
  getConfig() {
    return { name: this.name, rate: this.args.rate };
  }
}

export class SpatialDropout1D extends SpatialDropout {
  constructor(args: LayerArgs & { rate: number; seed?: number }) {
    super('SpatialDropout1D', args, () => [1]);
  }
}
export class SpatialDropout2D extends SpatialDropout {
  private readonly format: DataFormat;
  constructor(args: LayerArgs & { rate: number; seed?: number; dataFormat?: DataFormat }) {
    super('SpatialDropout2D', args, () => (this.format === 'channelsLast' ? [1, 2] : [2, 3]));
    this.format = args.dataFormat ?? imageDataFormat();
  }
}

/**
 * Keras's Masking: a step whose every channel equals `maskValue` is masked, and comes out as zeros.
 * (The mask itself is for recurrent layers, which read it; the zeroed output is what every other layer sees.)
 */
export class Masking extends Layer {
  private readonly maskValue: number;
  constructor(args: LayerArgs & { maskValue?: number } = {}) {
    super('Masking', args);
    this.maskValue = args.maskValue ?? 0;
    if (typeof this.maskValue !== 'number' || Number.isNaN(this.maskValue))
      throw new ConfigError(`masking: maskValue must be a number, got ${String(args.maskValue)}`);
  }
  /** 1 for the steps that keep their values, 0 for masked ones, per sample and step. */
  mask(x: T.Node): T.Node {
    return T.max(T.cast(T.ne(x, this.maskValue), x.dtype), -1, true);
  }
  protected forward(x: T.Node): T.Node {
    return T.mul(x, this.mask(x));
  }
  override computeMask(input: T.Node): T.Node {
    return T.squeeze(this.mask(input), -1);
  }
  computeOutputShape(s: Shape): Shape {
    return s;
  }
  getConfig() {
    return { name: this.name, mask_value: this.maskValue };
  }
}
