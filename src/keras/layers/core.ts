import * as T from '../../index.js';
import type { SharedVariable } from '../../graph/variables.js';
import { ConfigError, ShapeError } from '../../../runtime/errors.js';
import { activation } from '../activations.js';
import { knownSize, Layer, positiveInt, type LayerArgs, type Regularizer, type Shape } from './layer.js';

export interface DenseArgs extends LayerArgs {
  units: number;
  activation?: string;
  useBias?: boolean;
  kernelInitializer?: string;
  biasInitializer?: string;
  kernelRegularizer?: Regularizer;
  biasRegularizer?: Regularizer;
}

/** `activation(dot(x, kernel) + bias)` over the last axis. */
export class Dense extends Layer {
  readonly units: number;
  private kernel?: SharedVariable;
  private bias?: SharedVariable;
  private readonly act: (x: T.Node) => T.Node;

  constructor(private readonly args: DenseArgs) {
    super('Dense', args);
    this.units = positiveInt(args.units, 'dense: units');
    this.act = activation(args.activation, `dense ${this.name}`);
  }
  protected override build(inputShape: Shape): void {
    const inDim = knownSize(inputShape[inputShape.length - 1], `dense ${this.name}: input's last axis`);
    this.kernel = this.createWeight(
      'kernel',
      [inDim, this.units],
      this.args.kernelInitializer ?? 'glorot_uniform',
      this.args.kernelRegularizer,
    );
    if (this.args.useBias ?? true)
      this.bias = this.createWeight(
        'bias',
        [this.units],
        this.args.biasInitializer ?? 'zeros',
        this.args.biasRegularizer,
      );
  }
  protected forward(x: T.Node): T.Node {
    const z = T.dot(x, this.kernel!);
    return this.act(this.bias ? T.add(z, this.bias) : z);
  }
  computeOutputShape(s: Shape): Shape {
    return [...s.slice(0, -1), this.units];
  }
  getConfig() {
    return {
      name: this.name,
      units: this.units,
      activation: this.args.activation ?? 'linear',
      use_bias: this.args.useBias ?? true,
    };
  }
}

export class Activation extends Layer {
  private readonly act: (x: T.Node) => T.Node;
  constructor(private readonly args: LayerArgs & { activation: string }) {
    super('Activation', args);
    this.act = activation(args.activation, `activation ${this.name}`);
  }
  protected forward(x: T.Node): T.Node {
    return this.act(x);
  }
  computeOutputShape(s: Shape): Shape {
    return s;
  }
  getConfig() {
    return { name: this.name, activation: this.args.activation };
  }
}

/** Inverted dropout while training, identity at inference; a fresh mask every training step. */
export class Dropout extends Layer {
  constructor(private readonly args: LayerArgs & { rate: number; seed?: number }) {
    super('Dropout', args);
    if (!(args.rate >= 0 && args.rate < 1))
      throw new ConfigError(`dropout ${this.name}: rate must be in [0, 1), got ${args.rate}`);
  }
  protected forward(x: T.Node, training: boolean): T.Node {
    return training ? T.dropout(x, this.args.rate, this.args.seed === undefined ? {} : { seed: this.args.seed }) : x;
  }
  computeOutputShape(s: Shape): Shape {
    return s;
  }
  getConfig() {
    return { name: this.name, rate: this.args.rate };
  }
}

/** Flattens every axis but the batch axis. */
export class Flatten extends Layer {
  constructor(args: LayerArgs = {}) {
    super('Flatten', args);
  }
  protected forward(x: T.Node): T.Node {
    return T.flatten(x, 2);
  }
  computeOutputShape(s: Shape): Shape {
    const rest = s.slice(1);
    return [s[0] ?? null, rest.every((d) => d !== null) ? (rest as number[]).reduce((a, b) => a * b, 1) : null];
  }
  getConfig() {
    return { name: this.name };
  }
}

export class Reshape extends Layer {
  constructor(private readonly args: LayerArgs & { targetShape: readonly number[] }) {
    super('Reshape', args);
  }
  protected forward(x: T.Node): T.Node {
    if (x.shape[0] === null && this.args.targetShape.includes(-1)) {
      throw new ShapeError(`reshape ${this.name}: -1 in targetShape needs a known batch size`);
    }
    return T.reshape(x, [-1, ...this.args.targetShape]);
  }
  computeOutputShape(s: Shape): Shape {
    return [s[0] ?? null, ...this.args.targetShape];
  }
  getConfig() {
    return { name: this.name, target_shape: this.args.targetShape };
  }
}

/** Keras's Identity: its input, unchanged (a placeholder in a model's structure). */
export class Identity extends Layer {
  constructor(args: LayerArgs = {}) {
    super('Identity', args);
  }
  protected forward(x: T.Node): T.Node {
    return x;
  }
  computeOutputShape(s: Shape): Shape {
    return s;
  }
  getConfig() {
    return { name: this.name };
  }
}

/** Keras's Rescaling: x·scale + offset (pixels from [0, 255] to [0, 1] with scale 1/255). */
export class Rescaling extends Layer {
  readonly scale: number;
  readonly offset: number;
  constructor(args: LayerArgs & { scale: number; offset?: number }) {
    super('Rescaling', args);
    const finite = (v: number, what: string) => {
      if (!Number.isFinite(v))
        throw new ConfigError(`rescaling ${this.name}: ${what} must be a finite number, got ${String(v)}`);
      return v;
    };
    this.scale = finite(args.scale, 'scale');
    this.offset = finite(args.offset ?? 0, 'offset');
  }
  protected forward(x: T.Node): T.Node {
    const scaled = T.mul(T.cast(x, T.floatx()), this.scale);
    return this.offset ? T.add(scaled, this.offset) : scaled;
  }
  computeOutputShape(s: Shape): Shape {
    return s;
  }
  getConfig() {
    return { name: this.name, scale: this.scale, offset: this.offset };
  }
}

/**
 * Keras's Lambda: a function of the input (or of a list of inputs) as a layer. Written in JavaScript,
 * it cannot be saved in a file another program could load: saving a model with one is an error.
 */
export class Lambda extends Layer<T.Node> {
  constructor(private readonly args: LayerArgs & { fn: (x: T.Node | T.Node[]) => T.Node }) {
    super('Lambda', args);
    if (typeof args.fn !== 'function')
      throw new ConfigError(`lambda ${this.name}: fn must be a function of the layer's input, got ${typeof args.fn}`);
  }
  protected forward(x: T.Node | T.Node[]): T.Node {
    const y = this.args.fn(x);
    if (!(y instanceof T.Node))
      throw new ConfigError(`lambda ${this.name}: fn must return a symbolic tensor, got ${typeof y}`);
    return y;
  }
  computeOutputShape(s: Shape): Shape {
    return this.args.fn(T.tensor(`${this.name} input`, { shape: s })).shape;
  }
  getConfig(): Record<string, unknown> {
    throw new ConfigError(
      `lambda ${this.name}: a Lambda layer holds a JavaScript function, which no saved model can hold; write it as a custom layer, or save the weights (saveWeights)`,
    );
  }
}
