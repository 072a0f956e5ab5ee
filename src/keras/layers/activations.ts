/** Activation layers with parameters: LeakyReLU, ELU, ReLU, Softmax and PReLU (a learned slope). */
import * as T from '../../index.js';
import type { SharedVariable } from '../../graph/variables.js';
import { ConfigError } from '../../../runtime/errors.js';
import { knownSize, Layer, type LayerArgs, type Shape } from './layer.js';

const finite = (v: number | undefined, what: string, fallback: number): number => {
  const value = v ?? fallback;
  if (!Number.isFinite(value)) throw new ConfigError(`${what} must be a finite number, got ${String(v)}`);
  return value;
};

abstract class Elementwise extends Layer {
  computeOutputShape(s: Shape): Shape {
    return s;
  }
}

/** x where x > 0, alpha·x elsewhere (Keras's default alpha, 0.3). */
export class LeakyReLU extends Elementwise {
  private readonly alpha: number;
  constructor(args: LayerArgs & { alpha?: number } = {}) {
    super('LeakyReLU', args);
    this.alpha = finite(args.alpha, 'leakyReLU: alpha', 0.3);
  }
  protected forward(x: T.Node): T.Node {
    return T.where(T.gt(x, 0), x, T.mul(x, this.alpha));
  }
  getConfig() {
    return { name: this.name, alpha: this.alpha };
  }
}

/** Keras's ELU layer: x where x > 0, alpha·(eˣ − 1) elsewhere (alpha 1 by default). */
export class ELU extends Elementwise {
  private readonly alpha: number;
  constructor(args: LayerArgs & { alpha?: number } = {}) {
    super('ELU', args);
    this.alpha = finite(args.alpha, 'elu: alpha', 1);
  }
  protected forward(x: T.Node): T.Node {
    return T.elu(x, this.alpha);
  }
  getConfig() {
    return { name: this.name, alpha: this.alpha };
  }
}

/** Keras's ReLU layer: x from the threshold up to maxValue (capped there), negativeSlope·(x − threshold) below it. */
export class ReLU extends Elementwise {
  private readonly config: { maxValue: number | undefined; negativeSlope: number; threshold: number };
  constructor(args: LayerArgs & { maxValue?: number; negativeSlope?: number; threshold?: number } = {}) {
    super('ReLU', args);
    if (args.maxValue !== undefined && !(args.maxValue >= 0))
      throw new ConfigError(`reLU: maxValue must be a number >= 0, got ${String(args.maxValue)}`);
    this.config = {
      maxValue: args.maxValue,
      negativeSlope: finite(args.negativeSlope, 'reLU: negativeSlope', 0),
      threshold: finite(args.threshold, 'reLU: threshold', 0),
    };
  }
  protected forward(x: T.Node): T.Node {
    const { maxValue, negativeSlope, threshold } = this.config;
    const below = negativeSlope === 0 ? 0 : T.mul(T.sub(x, threshold), negativeSlope);
    const y = T.where(T.ge(x, threshold), x, below);
    return maxValue === undefined ? y : T.minimum(y, maxValue);
  }
  getConfig() {
    return {
      name: this.name,
      max_value: this.config.maxValue ?? null,
      negative_slope: this.config.negativeSlope,
      threshold: this.config.threshold,
    };
  }
}

/** softmax along `axis` (the last by default). */
export class Softmax extends Elementwise {
  private readonly axis: number;
  constructor(args: LayerArgs & { axis?: number } = {}) {
    super('Softmax', args);
    this.axis = args.axis ?? -1;
  }
  protected forward(x: T.Node): T.Node {
    return T.softmax(x, this.axis);
  }
  getConfig() {
    return { name: this.name, axis: this.axis };
  }
}

/** max(x, 0) + alpha·min(x, 0) with a learned alpha per element (shared along `sharedAxes`). */
export class PReLU extends Elementwise {
  private alpha?: SharedVariable;
  constructor(private readonly args: LayerArgs & { alphaInitializer?: string; sharedAxes?: readonly number[] } = {}) {
    super('PReLU', args);
  }
  protected override build(inputShape: Shape): void {
    const shared = new Set(this.args.sharedAxes ?? []);
    const shape = inputShape
      .slice(1)
      .map((d, i) => (shared.has(i + 1) ? 1 : knownSize(d, `pReLU ${this.name}: axis ${i + 1}`)));
    this.alpha = this.createWeight('alpha', shape, this.args.alphaInitializer ?? 'zeros');
  }
  protected forward(x: T.Node): T.Node {
    return T.add(T.relu(x), T.mul(this.alpha!, T.minimum(x, 0)));
  }
  getConfig() {
    return { name: this.name, shared_axes: this.args.sharedAxes ?? null };
  }
}
