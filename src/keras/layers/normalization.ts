import * as T from '../../index.js';
import type { SharedVariable } from '../../graph/variables.js';
import { ConfigError, ShapeError } from '../../../runtime/errors.js';
import { floatx } from '../../../runtime/config.js';
import { checkOptions } from '../arguments.js';
import { knownSize, Layer, positiveInt, type LayerArgs, type Shape } from './layer.js';

export interface NormalizationArgs extends LayerArgs {
  axis?: number;
  /** Keras's own default 1e-3 (not keras.json's epsilon), as in Keras. */
  epsilon?: number;
  center?: boolean;
  scale?: boolean;
}

/** Normalization options a layer can compute with: epsilon a finite number >= 0, momentum within [0, 1]. */
function checkNormalization(args: NormalizationArgs & { momentum?: number }, layer: string): void {
  checkOptions(
    layer,
    { epsilon: args.epsilon, momentum: args.momentum },
    {
      epsilon: { kind: 'number', min: 0, max: Number.MAX_VALUE },
      momentum: { kind: 'number', min: 0, max: 1 },
    },
  );
}

/** (x − mean)/√(variance + epsilon), the mean and variance taken by `meanOf` over the axes a layer normalizes. */
function standardize(x: T.Node, meanOf: (v: T.Node) => T.Node, epsilon: number): T.Node {
  const centered = T.sub(x, meanOf(x));
  return T.mul(centered, T.rsqrt(T.add(meanOf(T.square(centered)), epsilon)));
}

/** The Keras config entries every normalization layer writes, with Keras's defaults. */
const normalizationConfig = (args: NormalizationArgs) => ({
  epsilon: args.epsilon ?? 1e-3,
  center: args.center ?? true,
  scale: args.scale ?? true,
});

/** The feature axis as a non-negative index, and the parameter shape that broadcasts along it. */
function featureAxis(shape: Shape, axis: number, name: string): { axis: number; size: number; broadcast: number[] } {
  const a = axis < 0 ? axis + shape.length : axis;
  if (a < 1 || a >= shape.length)
    throw new ShapeError(`${name}: axis ${axis} is not a feature axis of an input of rank ${shape.length}`);
  const size = knownSize(shape[a], `${name}: the feature axis`);
  return { axis: a, size, broadcast: shape.map((_, i) => (i === a ? size : 1)).slice(1) };
}

/**
 * Batch normalization: batch statistics while training (and moving averages updated with `momentum`),
 * the moving averages at inference. Weights in Keras order: gamma, beta, moving_mean, moving_variance.
 */
export class BatchNormalization extends Layer {
  private gamma?: SharedVariable;
  private beta?: SharedVariable;
  private movingMean?: SharedVariable;
  private movingVariance?: SharedVariable;
  private geometry?: ReturnType<typeof featureAxis>;

  constructor(private readonly args: NormalizationArgs & { momentum?: number } = {}) {
    super('BatchNormalization', args);
    checkNormalization(args, 'batchNormalization');
  }
  protected override build(s: Shape): void {
    this.geometry = featureAxis(s, this.args.axis ?? -1, `batch_normalization ${this.name}`);
    const n = this.geometry.size;
    if (this.args.scale ?? true) this.gamma = this.createWeight('gamma', [n], 'ones');
    if (this.args.center ?? true) this.beta = this.createWeight('beta', [n], 'zeros');
    this.movingMean = this.createWeight('moving_mean', [n], 'zeros', undefined, false);
    this.movingVariance = this.createWeight('moving_variance', [n], 'ones', undefined, false);
    // A variance read from a file is never negative: one that is (a damaged file) would make every prediction NaN.
    const negative = Array.prototype.find.call(this.movingVariance.get().data, (v: number) => v < 0);
    if (negative !== undefined)
      throw new ConfigError(
        `batch_normalization ${this.name}: moving_variance holds ${negative}; a variance cannot be negative`,
      );
  }
  private param(w: SharedVariable | undefined, fallback: number): T.TensorLike {
    return w ? T.reshape(w, this.geometry!.broadcast) : fallback;
  }
  protected forward(input: T.Node | T.Node[], training: boolean): T.Node {
    const x = input as T.Node;
    const g = this.geometry!;
    const eps = this.args.epsilon ?? 1e-3;
    const reduce = x.shape.map((_, i) => i).filter((i) => i !== g.axis);
    let mean: T.Node;
    let variance: T.Node;
    if (training) {
      mean = T.mean(x, reduce, true);
      variance = T.mean(T.square(T.sub(x, mean)), reduce, true);
      const m = this.args.momentum ?? 0.99;
      this.addUpdate(this.movingMean!, T.add(T.mul(this.movingMean!, m), T.mul(T.reshape(mean, [g.size]), 1 - m)));
      this.addUpdate(
        this.movingVariance!,
        T.add(T.mul(this.movingVariance!, m), T.mul(T.reshape(variance, [g.size]), 1 - m)),
      );
    } else {
      mean = T.reshape(this.movingMean!, g.broadcast);
      variance = T.reshape(this.movingVariance!, g.broadcast);
    }
    const normalized = T.mul(T.sub(x, mean), T.rsqrt(T.add(variance, eps)));
    return T.add(T.mul(normalized, this.param(this.gamma, 1)), this.param(this.beta, 0));
  }
  computeOutputShape(s: Shape): Shape {
    return s;
  }
  getConfig() {
    return {
      name: this.name,
      axis: this.args.axis ?? -1,
      momentum: this.args.momentum ?? 0.99,
      ...normalizationConfig(this.args),
    };
  }
}

/** Layer normalization over the last axis (per sample), with gamma and beta. */
export class LayerNormalization extends Layer {
  private gamma?: SharedVariable;
  private beta?: SharedVariable;
  constructor(private readonly args: NormalizationArgs = {}) {
    super('LayerNormalization', args);
    checkNormalization(args, 'layerNormalization');
  }
  protected override build(s: Shape): void {
    const n = knownSize(s[s.length - 1], `layer_normalization ${this.name}: the last axis`);
    if (this.args.scale ?? true) this.gamma = this.createWeight('gamma', [n], 'ones');
    if (this.args.center ?? true) this.beta = this.createWeight('beta', [n], 'zeros');
  }
  protected forward(input: T.Node | T.Node[]): T.Node {
    const y = standardize(input as T.Node, (v) => T.mean(v, -1, true), this.args.epsilon ?? 1e-3);
    return T.add(T.mul(y, this.gamma ?? 1), this.beta ?? 0);
  }
  computeOutputShape(s: Shape): Shape {
    return s;
  }
  getConfig() {
    return {
      name: this.name,
      axis: -1,
      ...normalizationConfig(this.args),
    };
  }
}

/** Rows of a [inputDim, outputDim] table picked by integer ids. */
export class Embedding extends Layer {
  private table?: SharedVariable;
  constructor(
    private readonly args: LayerArgs & {
      inputDim: number;
      outputDim: number;
      embeddingsInitializer?: string;
      /** Index 0 is padding: later layers that take masks (recurrent ones) skip those steps. */
      maskZero?: boolean;
      /** The length of the sequences, which the layers after a Flatten need (Keras's input_length). */
      inputLength?: number;
    },
  ) {
    super('Embedding', {
      ...args,
      ...(args.inputLength && !args.inputShape && !args.batchInputShape ? { inputShape: [args.inputLength] } : {}),
    });
  }
  override computeMask(input: T.Node): T.Node | undefined {
    return this.args.maskZero ? T.cast(T.ne(input, 0), floatx()) : undefined;
  }
  protected override build(): void {
    this.table = this.createWeight(
      'embeddings',
      [this.args.inputDim, this.args.outputDim],
      this.args.embeddingsInitializer ?? 'random_uniform',
    );
  }
  protected forward(input: T.Node | T.Node[]): T.Node {
    return T.gather(this.table!, T.cast(input as T.Node, 'int32'), 0);
  }
  computeOutputShape(s: Shape): Shape {
    return [...s, this.args.outputDim];
  }
  getConfig() {
    return {
      name: this.name,
      input_dim: this.args.inputDim,
      output_dim: this.args.outputDim,
      mask_zero: this.args.maskZero ?? false,
      ...(this.args.inputLength ? { input_length: this.args.inputLength } : {}),
    };
  }
}

/** Keras's UnitNormalization: x scaled to unit L2 norm along the last axis (x / √max(Σx², 1e-12)). */
export class UnitNormalization extends Layer {
  constructor(args: LayerArgs = {}) {
    super('UnitNormalization', args);
  }
  protected forward(input: T.Node | T.Node[]): T.Node {
    const x = input as T.Node;
    return T.mul(x, T.rsqrt(T.maximum(T.sum(T.square(x), -1, true), 1e-12)));
  }
  computeOutputShape(s: Shape): Shape {
    return s;
  }
  getConfig() {
    return { name: this.name, axis: -1 };
  }
}

/**
 * Keras's GroupNormalization: the channels (last axis) split into `groups`; each sample's values in a
 * group (over every other axis but the batch) normalized to mean 0 and variance 1, then scaled and
 * shifted per channel.
 */
export class GroupNormalization extends Layer {
  private gamma?: SharedVariable;
  private beta?: SharedVariable;
  readonly groups: number;
  constructor(private readonly args: NormalizationArgs & { groups?: number } = {}) {
    super('GroupNormalization', args);
    checkNormalization(args, 'groupNormalization');
    this.groups = positiveInt(args.groups ?? 32, `groupNormalization ${this.name}: groups`);
  }
  protected override build(s: Shape): void {
    const channels = knownSize(s[s.length - 1], `group_normalization ${this.name}: the last axis`);
    if (channels % this.groups !== 0)
      throw new ConfigError(
        `group_normalization ${this.name}: ${channels} channels cannot be split into ${this.groups} groups of the same size`,
      );
    if (this.args.scale ?? true) this.gamma = this.createWeight('gamma', [channels], 'ones');
    if (this.args.center ?? true) this.beta = this.createWeight('beta', [channels], 'zeros');
  }
  protected forward(input: T.Node | T.Node[]): T.Node {
    const x = input as T.Node;
    const channels = x.shape[x.ndim - 1] as number;
    const size = channels / this.groups;
    // Channel c belongs to group ⌊c / size⌋: averages over a group's channels are products with this
    // [channels, groups] matrix (over any axes, known or not), and its transpose spreads them back.
    const member = T.constant(
      T.array(
        Array.from({ length: channels * this.groups }, (_, k) =>
          Math.floor(k / this.groups / size) === k % this.groups ? 1 / size : 0,
        ),
        { shape: [channels, this.groups], dtype: x.dtype },
      ),
    );
    const spread = T.mul(T.transpose(member), size);
    const spatial = Array.from({ length: x.ndim - 2 }, (_, a) => a + 1);
    const overSample = (v: T.Node) => (spatial.length ? T.mean(v, spatial, true) : v);
    const groupMean = (v: T.Node) => T.dot(T.dot(overSample(v), member), spread);
    const y = standardize(x, groupMean, this.args.epsilon ?? 1e-3);
    return T.add(T.mul(y, this.gamma ?? 1), this.beta ?? 0);
  }
  computeOutputShape(s: Shape): Shape {
    return s;
  }
  getConfig() {
    return {
      name: this.name,
      groups: this.groups,
      axis: -1,
      ...normalizationConfig(this.args),
    };
  }
}

/**
 * Keras's Normalization (a preprocessing layer): (x − mean) / max(√variance, epsilon) per feature of
 * the last axis, with the mean and variance given (constants), or learned from data by `adapt` (kept,
 * as Keras keeps them, in non-trainable weights `mean`, `variance` and `count`, saved with the
 * model); `invert` maps normalized values back.
 */
export class Normalization extends Layer {
  private mean?: T.Node;
  private variance?: T.Node;
  private adapted?: { mean: SharedVariable; variance: SharedVariable; count: SharedVariable };
  /** Statistics adapted before the weights exist. */
  private statistics?: { mean: number[]; variance: number[]; count: number };

  constructor(
    private readonly args: LayerArgs & {
      mean?: number | number[];
      variance?: number | number[];
      invert?: boolean;
    } = {},
  ) {
    super('Normalization', args);
    if ((args.mean === undefined) !== (args.variance === undefined))
      throw new ConfigError(`normalization ${this.name}: give both mean and variance, or neither (and call adapt)`);
  }

  protected override build(s: Shape): void {
    const n = knownSize(s[s.length - 1], `normalization ${this.name}: the last axis`);
    const perFeature = (v: number | readonly number[], what: string) => {
      const list = typeof v === 'number' ? new Array<number>(n).fill(v) : [...v];
      if (list.length !== n)
        throw new ShapeError(`normalization ${this.name}: ${list.length} ${what} values for ${n} features`);
      return T.array(list, { shape: [n], dtype: T.floatx() });
    };
    if (this.args.mean !== undefined && this.args.variance !== undefined) {
      this.mean = T.constant(perFeature(this.args.mean, 'mean'));
      this.variance = T.constant(perFeature(this.args.variance, 'variance'));
      return;
    }
    const known = this.statistics;
    const weight = (name: string, values: T.NDArray) =>
      this.createWeight(name, [...values.shape], () => values, undefined, false);
    this.adapted = {
      mean: weight('mean', perFeature(known?.mean ?? 0, 'mean')),
      variance: weight('variance', perFeature(known?.variance ?? 1, 'variance')),
      count: weight('count', T.array([known?.count ?? 0], { shape: [], dtype: T.floatx() })),
    };
    this.mean = this.adapted.mean;
    this.variance = this.adapted.variance;
  }

  /**
   * Learns each feature's mean and variance (over every axis but the last) from `data`, a sample of
   * the inputs the layer will see (Keras's adapt).
   */
  adapt(data: T.NDArray): void {
    if (!(data instanceof T.NDArray) || data.ndim < 1)
      throw new ConfigError(`normalization ${this.name}: adapt takes an array of inputs, [samples, ..., features]`);
    if (this.args.mean !== undefined)
      throw new ConfigError(`normalization ${this.name}: the mean and variance were given; there is nothing to adapt`);
    const n = data.shape[data.ndim - 1]!;
    const rows = data.size / n;
    if (rows === 0) throw new ShapeError(`normalization ${this.name}: adapt needs at least one sample`);
    const mean = new Array<number>(n).fill(0);
    const variance = new Array<number>(n).fill(0);
    for (let r = 0; r < rows; r++) for (let k = 0; k < n; k++) mean[k]! += data.data[r * n + k]! / rows;
    for (let r = 0; r < rows; r++)
      for (let k = 0; k < n; k++) variance[k]! += (data.data[r * n + k]! - mean[k]!) ** 2 / rows;
    this.statistics = { mean, variance, count: rows };
    if (!this.adapted) return;
    if (this.adapted.mean.get().size !== n)
      throw new ShapeError(
        `normalization ${this.name}: adapt data has ${n} features, the layer ${this.adapted.mean.get().size}`,
      );
    this.adapted.mean.set(T.array(mean, { shape: [n], dtype: T.floatx() }));
    this.adapted.variance.set(T.array(variance, { shape: [n], dtype: T.floatx() }));
    this.adapted.count.set(T.array([rows], { shape: [], dtype: T.floatx() }));
  }

  protected forward(input: T.Node | T.Node[]): T.Node {
    const x = T.cast(input as T.Node, T.floatx());
    const spread = T.maximum(T.sqrt(this.variance!), T.epsilon());
    return this.args.invert ? T.add(this.mean!, T.mul(x, spread)) : T.div(T.sub(x, this.mean!), spread);
  }
  computeOutputShape(s: Shape): Shape {
    return s;
  }
  getConfig() {
    return {
      name: this.name,
      axis: -1,
      invert: this.args.invert ?? false,
      mean: this.args.mean ?? null,
      variance: this.args.variance ?? null,
    };
  }
}
