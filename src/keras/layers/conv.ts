import * as T from '../../index.js';
import type { SharedVariable } from '../../graph/variables.js';
import { imageDataFormat, type DataFormat } from '../../../runtime/config.js';
import { windowGeometry } from '../../../runtime/geometry.js';
import { activation } from '../activations.js';
import { knownSize, Layer, positiveInt, type LayerArgs, type Regularizer, type Shape } from './layer.js';

type Pair = number | readonly [number, number];
const pair = (v: Pair): [number, number] => (typeof v === 'number' ? [v, v] : [v[0], v[1]]);
export const snakeFormat = (f: DataFormat) => (f === 'channelsLast' ? 'channels_last' : 'channels_first');
export const axes = (f: DataFormat) => (f === 'channelsLast' ? { h: 1, w: 2, c: 3 } : { h: 2, w: 3, c: 1 });

/** What a 2-D convolution layer's config says about its window. */
interface Window {
  kernelSize: Pair;
  strides?: Pair;
  padding?: 'valid' | 'same';
  dilationRate?: Pair;
}

/** The output shape of a convolution over `s`: rows and columns by the window, `channels` out. */
function convolvedShape(s: Shape, format: DataFormat, w: Window, channels: number | null): Shape {
  const a = axes(format);
  const [kh, kw] = pair(w.kernelSize);
  const [sh, sw] = pair(w.strides ?? 1);
  const [dh, dw] = pair(w.dilationRate ?? 1);
  const size = (d: number | null, k: number, st: number, dl: number) =>
    d === null ? null : windowGeometry(d, k, st, dl, w.padding ?? 'valid').out;
  const out = [...s];
  out[a.h] = size(s[a.h]!, kh, sh, dh);
  out[a.w] = size(s[a.w]!, kw, sw, dw);
  out[a.c] = channels;
  return out;
}

/** The window's part of a convolution layer's Keras config. */
const windowConfig = (w: Window, format: DataFormat) => ({
  kernel_size: pair(w.kernelSize),
  strides: pair(w.strides ?? 1),
  padding: w.padding ?? 'valid',
  data_format: snakeFormat(format),
  dilation_rate: pair(w.dilationRate ?? 1),
});

/** y plus a per-channel bias (shaped to broadcast in either data format), then the activation. */
function biased(y: T.Node, bias: SharedVariable | undefined, format: DataFormat, act: (x: T.Node) => T.Node) {
  if (!bias) return act(y);
  return act(T.add(y, format === 'channelsLast' ? bias : T.reshape(bias, [bias.shape[0]!, 1, 1])));
}

export interface Conv2DArgs extends LayerArgs {
  filters: number;
  kernelSize: Pair;
  strides?: Pair;
  padding?: 'valid' | 'same';
  dilationRate?: Pair;
  dataFormat?: DataFormat;
  activation?: string;
  useBias?: boolean;
  kernelInitializer?: string;
  biasInitializer?: string;
  kernelRegularizer?: Regularizer;
}

/** 2-D convolution; the data format defaults to keras.json's image_data_format. */
export class Conv2D extends Layer {
  private kernel?: SharedVariable;
  private bias?: SharedVariable;
  private readonly format: DataFormat;
  private readonly act: (x: T.Node) => T.Node;

  constructor(private readonly args: Conv2DArgs) {
    super('Conv2D', args);
    positiveInt(args.filters, 'conv2d: filters');
    this.format = args.dataFormat ?? imageDataFormat();
    this.act = activation(args.activation, `conv2d ${this.name}`);
  }
  protected override build(s: Shape): void {
    const c = knownSize(s[axes(this.format).c], `conv2d ${this.name}: input channels`);
    const [kh, kw] = pair(this.args.kernelSize);
    this.kernel = this.createWeight(
      'kernel',
      [kh, kw, c, this.args.filters],
      this.args.kernelInitializer ?? 'glorot_uniform',
      this.args.kernelRegularizer,
    );
    if (this.args.useBias ?? true)
      this.bias = this.createWeight('bias', [this.args.filters], this.args.biasInitializer ?? 'zeros');
  }
  protected forward(x: T.Node): T.Node {
    const y = T.conv2d(x, this.kernel!, {
      strides: pair(this.args.strides ?? 1),
      padding: this.args.padding ?? 'valid',
      dilation: pair(this.args.dilationRate ?? 1),
      dataFormat: this.format,
    });
    return biased(y, this.bias, this.format, this.act);
  }
  computeOutputShape(s: Shape): Shape {
    return convolvedShape(s, this.format, this.args, this.args.filters);
  }
  getConfig() {
    return {
      name: this.name,
      filters: this.args.filters,
      ...windowConfig(this.args, this.format),
      activation: this.args.activation ?? 'linear',
      use_bias: this.args.useBias ?? true,
    };
  }
}

export interface PoolArgs extends LayerArgs {
  poolSize?: Pair;
  strides?: Pair;
  padding?: 'valid' | 'same';
  dataFormat?: DataFormat;
}

abstract class Pooling2D extends Layer {
  protected readonly format: DataFormat;
  constructor(
    className: string,
    protected readonly args: PoolArgs,
  ) {
    super(className, args);
    this.format = args.dataFormat ?? imageDataFormat();
  }
  protected options() {
    const poolSize = pair(this.args.poolSize ?? 2);
    return {
      poolSize,
      strides: pair(this.args.strides ?? poolSize),
      padding: this.args.padding ?? 'valid',
      dataFormat: this.format,
    } as const;
  }
  computeOutputShape(s: Shape): Shape {
    const a = axes(this.format);
    const o = this.options();
    const out = [...s];
    out[a.h] = s[a.h] === null ? null : windowGeometry(s[a.h]!, o.poolSize[0], o.strides[0], 1, o.padding).out;
    out[a.w] = s[a.w] === null ? null : windowGeometry(s[a.w]!, o.poolSize[1], o.strides[1], 1, o.padding).out;
    return out;
  }
  getConfig() {
    const o = this.options();
    return {
      name: this.name,
      pool_size: o.poolSize,
      strides: o.strides,
      padding: o.padding,
      data_format: snakeFormat(this.format),
    };
  }
}

export class MaxPooling2D extends Pooling2D {
  constructor(args: PoolArgs = {}) {
    super('MaxPooling2D', args);
  }
  protected forward(x: T.Node): T.Node {
    return T.maxPool2d(x, this.options());
  }
}

export class AveragePooling2D extends Pooling2D {
  constructor(args: PoolArgs = {}) {
    super('AveragePooling2D', args);
  }
  protected forward(x: T.Node): T.Node {
    return T.avgPool2d(x, this.options());
  }
}

/** Mean over the spatial axes. */
export class GlobalAveragePooling2D extends Layer {
  private readonly format: DataFormat;
  constructor(args: LayerArgs & { dataFormat?: DataFormat } = {}) {
    super('GlobalAveragePooling2D', args);
    this.format = args.dataFormat ?? imageDataFormat();
  }
  protected forward(x: T.Node): T.Node {
    const a = axes(this.format);
    return T.mean(x, [a.h, a.w]);
  }
  computeOutputShape(s: Shape): Shape {
    return [s[0] ?? null, s[axes(this.format).c] ?? null];
  }
  getConfig() {
    return { name: this.name, data_format: snakeFormat(this.format) };
  }
}

/** The depthwise kernel [kh, kw, c, m] as the full kernel [kh, kw, c, c·m] of a convolution that keeps channels apart. */
function blockDiagonal(depthwise: T.Node, c: number, m: number): T.Node {
  const [kh, kw] = depthwise.shape as [number, number];
  const eye = T.array(
    Float64Array.from({ length: c * c }, (_, i) => (Math.floor(i / c) === i % c ? 1 : 0)),
    { shape: [1, 1, c, c, 1] },
  ).astype(depthwise.dtype);
  return T.reshape(T.mul(T.reshape(depthwise, [kh, kw, c, 1, m]), T.constant(eye)), [kh, kw, c, c * m]);
}

interface DepthwiseArgs extends Omit<Conv2DArgs, 'filters'> {
  depthMultiplier?: number;
  depthwiseInitializer?: string;
}

/** Each input channel convolved with its own `depthMultiplier` kernels (output channel c·m + j). */
export class DepthwiseConv2D extends Layer {
  protected depthwise?: SharedVariable;
  private bias?: SharedVariable;
  protected readonly format: DataFormat;
  private readonly act: (x: T.Node) => T.Node;
  protected readonly multiplier: number;
  protected channels = 0;

  constructor(
    protected readonly args: DepthwiseArgs,
    className = 'DepthwiseConv2D',
  ) {
    super(className, args);
    this.multiplier = positiveInt(args.depthMultiplier ?? 1, `${className}: depthMultiplier`);
    this.format = args.dataFormat ?? imageDataFormat();
    this.act = activation(args.activation, `${className} ${this.name}`);
  }
  protected override build(s: Shape): void {
    this.channels = knownSize(s[axes(this.format).c], `${this.name}: input channels`);
    const [kh, kw] = pair(this.args.kernelSize);
    this.depthwise = this.createWeight(
      'depthwise_kernel',
      [kh, kw, this.channels, this.multiplier],
      this.args.depthwiseInitializer ?? 'glorot_uniform',
    );
    this.buildRest();
    if (this.args.useBias ?? true)
      this.bias = this.createWeight('bias', [this.outputChannels()], this.args.biasInitializer ?? 'zeros');
  }
  /** The weights after the depthwise kernel (a separable convolution's pointwise kernel). */
  protected buildRest(): void {}
  protected outputChannels(): number {
    return this.channels * this.multiplier;
  }
  protected convolve(x: T.Node): T.Node {
    return T.conv2d(x, blockDiagonal(this.depthwise!, this.channels, this.multiplier), {
      strides: pair(this.args.strides ?? 1),
      padding: this.args.padding ?? 'valid',
      dilation: pair(this.args.dilationRate ?? 1),
      dataFormat: this.format,
    });
  }
  protected forward(x: T.Node): T.Node {
    return biased(this.convolve(x), this.bias, this.format, this.act);
  }
  computeOutputShape(s: Shape): Shape {
    const c = s[axes(this.format).c];
    return convolvedShape(s, this.format, this.args, c === null || c === undefined ? null : this.channelsFor(c));
  }
  protected channelsFor(c: number): number {
    return c * this.multiplier;
  }
  getConfig() {
    return {
      name: this.name,
      ...windowConfig(this.args, this.format),
      depth_multiplier: this.multiplier,
      activation: this.args.activation ?? 'linear',
      use_bias: this.args.useBias ?? true,
    };
  }
}

/** A depthwise convolution followed by a 1×1 (pointwise) convolution to `filters` channels. */
export class SeparableConv2D extends DepthwiseConv2D {
  private pointwise?: SharedVariable;
  private readonly filters: number;
  private readonly pointwiseInitializer: string;
  constructor(args: DepthwiseArgs & { filters: number; pointwiseInitializer?: string }) {
    super(args, 'SeparableConv2D');
    this.filters = positiveInt(args.filters, 'separableConv2d: filters');
    this.pointwiseInitializer = args.pointwiseInitializer ?? 'glorot_uniform';
  }
  protected override buildRest(): void {
    this.pointwise = this.createWeight(
      'pointwise_kernel',
      [1, 1, this.channels * this.multiplier, this.filters],
      this.pointwiseInitializer,
    );
  }
  protected override outputChannels(): number {
    return this.filters;
  }
  protected override channelsFor(): number {
    return this.filters;
  }
  protected override convolve(x: T.Node): T.Node {
    return T.conv2d(super.convolve(x), this.pointwise!, { dataFormat: this.format });
  }
  override getConfig() {
    return { ...super.getConfig(), filters: this.filters };
  }
}

/** Transposed convolution (upsampling by strides); kernel [kh, kw, filters, input channels] as in Keras. */
export class Conv2DTranspose extends Layer {
  private kernel?: SharedVariable;
  private bias?: SharedVariable;
  private readonly format: DataFormat;
  private readonly act: (x: T.Node) => T.Node;

  constructor(private readonly args: Omit<Conv2DArgs, 'dilationRate'>) {
    super('Conv2DTranspose', args);
    positiveInt(args.filters, 'conv2dTranspose: filters');
    this.format = args.dataFormat ?? imageDataFormat();
    this.act = activation(args.activation, `conv2dTranspose ${this.name}`);
  }
  protected override build(s: Shape): void {
    const c = knownSize(s[axes(this.format).c], `conv2dTranspose ${this.name}: input channels`);
    const [kh, kw] = pair(this.args.kernelSize);
    this.kernel = this.createWeight(
      'kernel',
      [kh, kw, this.args.filters, c],
      this.args.kernelInitializer ?? 'glorot_uniform',
      this.args.kernelRegularizer,
    );
    if (this.args.useBias ?? true)
      this.bias = this.createWeight('bias', [this.args.filters], this.args.biasInitializer ?? 'zeros');
  }
  protected forward(x: T.Node): T.Node {
    const y = T.conv2dTranspose(x, this.kernel!, {
      strides: pair(this.args.strides ?? 1),
      padding: this.args.padding ?? 'valid',
      dataFormat: this.format,
    });
    return biased(y, this.bias, this.format, this.act);
  }
  computeOutputShape(s: Shape): Shape {
    const a = axes(this.format);
    const [kh, kw] = pair(this.args.kernelSize);
    const [sh, sw] = pair(this.args.strides ?? 1);
    const grow = (d: number | null, k: number, st: number) =>
      d === null ? null : (this.args.padding ?? 'valid') === 'valid' ? (d - 1) * st + k : d * st;
    const out = [...s];
    out[a.h] = grow(s[a.h]!, kh, sh);
    out[a.w] = grow(s[a.w]!, kw, sw);
    out[a.c] = this.args.filters;
    return out;
  }
  getConfig() {
    return {
      name: this.name,
      filters: this.args.filters,
      kernel_size: pair(this.args.kernelSize),
      strides: pair(this.args.strides ?? 1),
      padding: this.args.padding ?? 'valid',
      data_format: snakeFormat(this.format),
      activation: this.args.activation ?? 'linear',
      use_bias: this.args.useBias ?? true,
    };
  }
}
