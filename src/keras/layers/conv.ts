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
    this.kernel = this.addWeight(
      'kernel',
      [kh, kw, c, this.args.filters],
      this.args.kernelInitializer ?? 'glorot_uniform',
      this.args.kernelRegularizer,
    );
    if (this.args.useBias ?? true)
      this.bias = this.addWeight('bias', [this.args.filters], this.args.biasInitializer ?? 'zeros');
  }
  protected forward(x: T.Node): T.Node {
    const y = T.conv2d(x, this.kernel!, {
      strides: pair(this.args.strides ?? 1),
      padding: this.args.padding ?? 'valid',
      dilation: pair(this.args.dilationRate ?? 1),
      dataFormat: this.format,
    });
    if (!this.bias) return this.act(y);
    const b = this.format === 'channelsLast' ? this.bias : T.reshape(this.bias, [this.args.filters, 1, 1]);
    return this.act(T.add(y, b));
  }
  computeOutputShape(s: Shape): Shape {
    const a = axes(this.format);
    const [kh, kw] = pair(this.args.kernelSize);
    const [sh, sw] = pair(this.args.strides ?? 1);
    const [dh, dw] = pair(this.args.dilationRate ?? 1);
    const out = [...s];
    const size = (d: number | null, k: number, st: number, dl: number) =>
      d === null ? null : windowGeometry(d, k, st, dl, this.args.padding ?? 'valid').out;
    out[a.h] = size(s[a.h]!, kh, sh, dh);
    out[a.w] = size(s[a.w]!, kw, sw, dw);
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
      dilation_rate: pair(this.args.dilationRate ?? 1),
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
