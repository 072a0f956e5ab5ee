/**
 * Keras's categorical preprocessing layers: CategoryEncoding (integer tokens as one-hot, multi-hot or
 * count vectors) and Discretization (numbers into bins by boundaries, or by quantiles learnt with
 * `adapt`), with Keras 3's arguments, defaults and output shapes.
 */
import * as T from '../../index.js';
import { ConfigError } from '../../../runtime/errors.js';
import { Layer, positiveInt, type LayerArgs, type Shape } from './layer.js';

/** How tokens become vectors: an index ('int', Discretization only), or a vector of `depth` per sample. */
export type EncodingMode = 'one_hot' | 'multi_hot' | 'count';

function checkMode<M extends string>(mode: M, allowed: readonly M[], where: string): M {
  if (!allowed.includes(mode))
    throw new ConfigError(
      `${where}: outputMode must be one of ${allowed.map((m) => `'${m}'`).join(', ')}, got '${mode}'`,
    );
  return mode;
}

/**
 * Keras's encode_categorical_inputs: one_hot adds an axis of `depth` (replacing a last axis of 1);
 * multi_hot and count replace the last axis (a sample's tokens) by `depth` counts or flags.
 * Tokens outside [0, depth) count nowhere, as a one-hot row of them is zeros.
 */
function encode(x: T.Node, mode: EncodingMode, depth: number): T.Node {
  const tokens = x.dtype === 'int32' ? x : T.cast(x, 'int32');
  if (mode === 'one_hot') {
    const squeezed = tokens.ndim > 1 && tokens.shape[tokens.ndim - 1] === 1 ? T.squeeze(tokens, -1) : tokens;
    return T.oneHot(squeezed, depth, T.floatx());
  }
  const samples = tokens.ndim === 0 ? T.expandDims(tokens, 0) : tokens;
  const hot = T.oneHot(samples, depth, T.floatx());
  const total = T.sum(hot, hot.ndim - 2);
  return mode === 'count' ? total : T.minimum(total, 1);
}

function encodedShape(s: Shape, mode: EncodingMode, depth: number): Shape {
  if (s.length === 0) return [depth];
  if (mode === 'one_hot') return s[s.length - 1] === 1 && s.length > 1 ? [...s.slice(0, -1), depth] : [...s, depth];
  return [...s.slice(0, -1), depth];
}

export interface CategoryEncodingArgs extends LayerArgs {
  numTokens: number;
  outputMode?: EncodingMode;
}

/** Keras's CategoryEncoding: integer tokens in [0, numTokens) as one-hot, multi-hot (default) or count vectors. */
export class CategoryEncoding extends Layer {
  readonly numTokens: number;
  readonly outputMode: EncodingMode;
  constructor(args: CategoryEncodingArgs) {
    super('CategoryEncoding', args);
    this.numTokens = positiveInt(args.numTokens, `categoryEncoding ${this.name}: numTokens`);
    this.outputMode = checkMode(
      args.outputMode ?? 'multi_hot',
      ['one_hot', 'multi_hot', 'count'],
      `categoryEncoding ${this.name}`,
    );
  }
  protected forward(x: T.Node): T.Node {
    return encode(x, this.outputMode, this.numTokens);
  }
  computeOutputShape(s: Shape): Shape {
    return encodedShape(s, this.outputMode, this.numTokens);
  }
  getConfig() {
    return { name: this.name, num_tokens: this.numTokens, output_mode: this.outputMode, sparse: false };
  }
}

export interface DiscretizationArgs extends LayerArgs {
  /** Sorted bin edges: bin i holds boundaries[i − 1] ≤ x < boundaries[i]. */
  binBoundaries?: readonly number[];
  /** With `adapt`: the number of bins, whose edges are the data's quantiles. */
  numBins?: number;
  /** Keras's quantile-summary accuracy; `adapt` here computes exact quantiles, so it is only kept in the config. */
  epsilon?: number;
  outputMode?: 'int' | EncodingMode;
}

/** Keras's Discretization: each number's bin index ('int', int32), or the bins as one-hot, multi-hot or count vectors. */
export class Discretization extends Layer {
  private boundaries?: number[];
  readonly numBins?: number;
  readonly epsilon: number;
  readonly outputMode: 'int' | EncodingMode;
  constructor(args: DiscretizationArgs) {
    super('Discretization', args);
    const where = `discretization ${this.name}`;
    this.outputMode = checkMode(args.outputMode ?? 'int', ['int', 'one_hot', 'multi_hot', 'count'], where);
    this.epsilon = args.epsilon ?? 0.01;
    if (args.binBoundaries !== undefined && args.numBins !== undefined)
      throw new ConfigError(`${where}: give binBoundaries or numBins (then call adapt), not both`);
    if (args.binBoundaries !== undefined) {
      const b = [...args.binBoundaries];
      if (b.some((v) => typeof v !== 'number' || Number.isNaN(v)) || b.some((v, i) => i > 0 && v < b[i - 1]!))
        throw new ConfigError(
          `${where}: binBoundaries must be sorted numbers, got ${JSON.stringify(args.binBoundaries)}`,
        );
      this.boundaries = b;
    } else if (args.numBins !== undefined) this.numBins = positiveInt(args.numBins, `${where}: numBins`);
    else throw new ConfigError(`${where}: give binBoundaries, or numBins and call adapt`);
  }

  /** The bin edges (after `adapt` when built from numBins). */
  get binBoundaries(): readonly number[] | undefined {
    return this.boundaries;
  }

  /** Learns numBins − 1 edges: the data's quantiles at 1/numBins, 2/numBins, … (exact, where Keras approximates within epsilon). */
  adapt(data: T.NDArray | readonly number[]): void {
    const values = Array.from(data instanceof T.NDArray ? data.data : data).filter((v) => !Number.isNaN(v));
    if (!this.numBins) throw new ConfigError(`discretization ${this.name}: adapt needs numBins`);
    if (values.length === 0) throw new ConfigError(`discretization ${this.name}: adapt needs at least one number`);
    values.sort((a, b) => a - b);
    const n = values.length;
    this.boundaries = Array.from({ length: this.numBins - 1 }, (_, i) => {
      const at = ((i + 1) / this.numBins!) * (n - 1);
      const lo = Math.floor(at);
      return values[lo]! + (values[Math.min(lo + 1, n - 1)]! - values[lo]!) * (at - lo);
    });
  }

  private edges(): number[] {
    if (!this.boundaries) throw new ConfigError(`discretization ${this.name}: call adapt before using the layer`);
    return this.boundaries;
  }

  protected forward(x: T.Node): T.Node {
    const edges = this.edges();
    // A bin index is the number of edges at or below the value.
    const index =
      edges.length === 0
        ? T.cast(T.mul(x, 0), 'int32')
        : T.sum(
            T.cast(
              T.ge(T.expandDims(x, -1), T.constant(edges, x.dtype === 'float64' ? 'float64' : 'float32')),
              'int32',
            ),
            -1,
          );
    return this.outputMode === 'int' ? index : encode(index, this.outputMode, edges.length + 1);
  }
  computeOutputShape(s: Shape): Shape {
    return this.outputMode === 'int' ? s : encodedShape(s, this.outputMode, this.edges().length + 1);
  }
  getConfig() {
    return {
      name: this.name,
      bin_boundaries: this.boundaries ?? null,
      num_bins: this.numBins ?? null,
      epsilon: this.epsilon,
      output_mode: this.outputMode,
      sparse: false,
    };
  }
}
