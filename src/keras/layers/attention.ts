/**
 * Keras 3's MultiHeadAttention: query, key and value projected per head (EinsumDense kernels of shape
 * [features, heads, size], as Keras stores them), scaled dot-product attention over the steps, and the
 * heads projected back. `apply([query, value])` or `apply([query, value, key])`, as Keras calls it.
 */
import * as T from '../../index.js';
import type { SharedVariable } from '../../graph/variables.js';
import { ConfigError, ShapeError } from '../../../runtime/errors.js';
import { knownSize, Layer, MASKS, positiveInt, type LayerArgs, type Shape } from './layer.js';

export interface MultiHeadAttentionArgs extends LayerArgs {
  numHeads: number;
  keyDim: number;
  /** Each head's value size (default keyDim). */
  valueDim?: number;
  /** Dropout on the attention probabilities while training. */
  dropout?: number;
  useBias?: boolean;
  /** The last axis of the output (default: the query's). */
  outputShape?: number;
  /** Each query step attends only to itself and the steps before it (Keras's call argument use_causal_mask). */
  useCausalMask?: boolean;
  kernelInitializer?: string;
  biasInitializer?: string;
}

/** What Keras's masked softmax adds where a step is masked out (float32). */
const MASKED = -1e9;

interface Projection {
  readonly kernel: SharedVariable;
  readonly bias?: SharedVariable;
}

export class MultiHeadAttention extends Layer {
  readonly numHeads: number;
  readonly keyDim: number;
  readonly valueDim: number;
  private projections?: { query: Projection; key: Projection; value: Projection; output: Projection };

  constructor(private readonly args: MultiHeadAttentionArgs) {
    super('MultiHeadAttention', args);
    this.numHeads = positiveInt(args.numHeads, `multiHeadAttention ${this.name}: numHeads`);
    this.keyDim = positiveInt(args.keyDim, `multiHeadAttention ${this.name}: keyDim`);
    this.valueDim = positiveInt(args.valueDim ?? args.keyDim, `multiHeadAttention ${this.name}: valueDim`);
    const rate = args.dropout ?? 0;
    if (!(rate >= 0 && rate < 1))
      throw new ConfigError(`multiHeadAttention ${this.name}: dropout must be in [0, 1), got ${rate}`);
    if (args.outputShape !== undefined) positiveInt(args.outputShape, `multiHeadAttention ${this.name}: outputShape`);
  }

  /** The query, value and key of a call (the key defaults to the value). */
  private operands(x: T.Node | T.Node[]): [T.Node, T.Node, T.Node] {
    const list = Array.isArray(x) ? x : [x];
    if (list.length < 2 || list.length > 3)
      throw new ConfigError(
        `multiHeadAttention ${this.name}: apply takes [query, value] or [query, value, key], got ${list.length} tensor${list.length === 1 ? '' : 's'}`,
      );
    const [query, value, key = value] = list as [T.Node, T.Node, T.Node?];
    for (const [what, t] of [
      ['query', query],
      ['value', value],
      ['key', key],
    ] as const)
      if (t.ndim !== 3)
        throw new ShapeError(
          `multiHeadAttention ${this.name}: the ${what} must be [batch, steps, features], got rank ${t.ndim}`,
        );
    return [query, value, key];
  }

  /** The four projections, made for these operands' feature sizes on the first call. */
  private build3(query: T.Node, value: T.Node, key: T.Node) {
    if (this.projections) return this.projections;
    const features = (t: T.Node, what: string) =>
      knownSize(t.shape[2], `multiHeadAttention ${this.name}: the ${what}'s last axis`);
    const [dq, dv, dk] = [features(query, 'query'), features(value, 'value'), features(key, 'key')];
    const out = this.args.outputShape ?? dq;
    const useBias = this.args.useBias ?? true;
    const kernelInit = this.args.kernelInitializer ?? 'glorot_uniform';
    const biasInit = this.args.biasInitializer ?? 'zeros';
    const projection = (name: string, kernel: number[], bias: number[]): Projection => ({
      kernel: this.createWeight(`${name}/kernel`, kernel, kernelInit),
      ...(useBias ? { bias: this.createWeight(`${name}/bias`, bias, biasInit) } : {}),
    });
    const H = this.numHeads;
    // Keras's creation order (its files list the weights in it): query, key, value, output.
    const q = projection('query', [dq, H, this.keyDim], [H, this.keyDim]);
    const k = projection('key', [dk, H, this.keyDim], [H, this.keyDim]);
    const v = projection('value', [dv, H, this.valueDim], [H, this.valueDim]);
    const o = projection('attention_output', [H, this.valueDim, out], [out]);
    this.projections = { query: q, key: k, value: v, output: o };
    return this.projections;
  }

  protected forward(x: T.Node | T.Node[], training: boolean): T.Node {
    const [query, value, key] = this.operands(x);
    const p = this.build3(query, value, key);
    const project = (t: T.Node, { kernel, bias }: Projection) => {
      const z = T.einsum('btd,dhk->bthk', t, kernel);
      return bias ? T.add(z, bias) : z;
    };
    const q = T.mul(project(query, p.query), 1 / Math.sqrt(this.keyDim));
    const k = project(key, p.key);
    const v = project(value, p.value);
    // [batch, heads, query steps, key steps]
    let scores = T.einsum('bshk,bthk->bhts', k, q);
    const mask = this.attentionMask(query, value);
    if (mask) scores = T.add(scores, T.mul(T.sub(1, mask), MASKED));
    let weights = T.softmax(scores, -1);
    const rate = this.args.dropout ?? 0;
    if (training && rate > 0) weights = T.dropout(weights, rate);
    const heads = T.einsum('bhts,bshv->bthv', weights, v);
    const out = T.einsum('bthv,hvo->bto', heads, p.output.kernel);
    return p.output.bias ? T.add(out, p.output.bias) : out;
  }

  /** 1 where a query step may attend to a key step, [batch or 1, 1, query steps, key steps]; none when all may. */
  private attentionMask(query: T.Node, value: T.Node): T.Node | undefined {
    const parts: T.Node[] = [];
    const valueMask = MASKS.get(value);
    if (valueMask) parts.push(T.expandDims(T.expandDims(T.cast(valueMask, 'float32'), 1), 1));
    const queryMask = MASKS.get(query);
    if (queryMask) parts.push(T.expandDims(T.expandDims(T.cast(queryMask, 'float32'), 1), -1));
    if (this.args.useCausalMask) {
      const [tq, tv] = [query.shape[1], value.shape[1]];
      const steps = (n: number | null | undefined, what: string) =>
        knownSize(n, `multiHeadAttention ${this.name}: a causal mask needs the ${what} steps known`);
      const [rows, cols] = [steps(tq, 'query'), steps(tv, 'value')];
      parts.push(T.tril(T.ones([rows, cols])));
    }
    return parts.length ? parts.reduce((a, b) => T.mul(a, b)) : undefined;
  }

  computeOutputShape(s: Shape): Shape {
    return [...s.slice(0, -1), this.args.outputShape ?? s[s.length - 1]!];
  }

  getConfig() {
    return {
      name: this.name,
      num_heads: this.numHeads,
      key_dim: this.keyDim,
      value_dim: this.valueDim,
      dropout: this.args.dropout ?? 0,
      use_bias: this.args.useBias ?? true,
      output_shape: this.args.outputShape ?? null,
      attention_axes: null,
    };
  }
}
