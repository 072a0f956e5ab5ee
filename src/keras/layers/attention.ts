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

/** 1 where query step t may see key step s (s ≤ t), a constant: the scores' add then needs no index arithmetic. */
const causalMask = (rows: number, cols: number) =>
  T.constant(
    T.array(
      Array.from({ length: rows * cols }, (_, k) => (k % cols <= Math.floor(k / cols) ? 1 : 0)),
      { shape: [rows, cols], dtype: T.floatx() },
    ),
  );

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
    // The query first: the product comes out in the scores' layout, with no transpose to fuse.
    let scores = T.einsum('bthk,bshk->bhts', q, k);
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
      parts.push(causalMask(rows, cols));
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

export interface AttentionArgs extends LayerArgs {
  /** Multiply the scores by a learned scalar (Attention) or scale each feature (AdditiveAttention). */
  useScale?: boolean;
  /** 'dot' (Luong): q·k; 'concat' (Bahdanau): Σ tanh(q + k). */
  scoreMode?: 'dot' | 'concat';
  /** Dropout on the attention weights while training. */
  dropout?: number;
  /** Each query step attends only to itself and the steps before it (Keras's call argument use_causal_mask). */
  useCausalMask?: boolean;
}

/**
 * Keras's Attention (Luong's dot-product attention): `apply([query, value])` or `[query, value, key]`,
 * [batch, steps, features] each; scores of every query step against every key step, softmax over the
 * key steps (masked steps and, with useCausalMask, later steps left out), the values weighted by them.
 */
export class Attention extends Layer {
  private scale?: SharedVariable;
  private concatScale?: SharedVariable;
  constructor(
    protected readonly args: AttentionArgs = {},
    className = 'Attention',
  ) {
    super(className, args);
    const mode = args.scoreMode ?? 'dot';
    if (mode !== 'dot' && mode !== 'concat')
      throw new ConfigError(`${className} ${this.name}: scoreMode must be 'dot' or 'concat', got '${String(mode)}'`);
    const rate = args.dropout ?? 0;
    if (!(rate >= 0 && rate < 1))
      throw new ConfigError(`${className} ${this.name}: dropout must be in [0, 1), got ${rate}`);
  }

  protected useScaleByDefault(): boolean {
    return false;
  }

  protected override build(s: Shape): void {
    const features = knownSize(s[s.length - 1], `${this.className} ${this.name}: the query's last axis`);
    if (this.args.useScale ?? this.useScaleByDefault()) this.scale = this.scaleWeight(features);
    if ((this.args.scoreMode ?? 'dot') === 'concat' && this.className === 'Attention')
      this.concatScale = this.createWeight('concat_score_weight', [], 'ones');
  }

  /** Attention's scale is one scalar. */
  protected scaleWeight(_features: number): SharedVariable {
    return this.createWeight('scale', [], 'ones');
  }

  /** [batch, query steps, key steps] */
  protected scores(q: T.Node, k: T.Node): T.Node {
    if ((this.args.scoreMode ?? 'dot') === 'dot') {
      const s = T.einsum('btd,bsd->bts', q, k);
      return this.scale ? T.mul(s, this.scale) : s;
    }
    // Attention scales inside the tanh and weighs the sum; AdditiveAttention scales each feature outside.
    const sum = T.add(T.expandDims(q, 2), T.expandDims(k, 1));
    if (this.concatScale) return T.mul(T.sum(T.tanh(this.scale ? T.mul(sum, this.scale) : sum), -1), this.concatScale);
    return T.sum(this.scale ? T.mul(T.tanh(sum), this.scale) : T.tanh(sum), -1);
  }

  protected forward(x: T.Node | T.Node[], training: boolean): T.Node {
    const list = Array.isArray(x) ? x : [x];
    if (list.length < 2 || list.length > 3)
      throw new ConfigError(
        `${this.className} ${this.name}: apply takes [query, value] or [query, value, key], got ${list.length} tensor${list.length === 1 ? '' : 's'}`,
      );
    const [query, value, key = value] = list as [T.Node, T.Node, T.Node?];
    let scores = this.scores(query, key);
    const allowed: T.Node[] = [];
    const valueMask = MASKS.get(value);
    if (valueMask) allowed.push(T.expandDims(T.cast(valueMask, scores.dtype), 1));
    if (this.args.useCausalMask) {
      const steps = (n: number | null | undefined, what: string) =>
        knownSize(n, `${this.className} ${this.name}: a causal mask needs the ${what} steps known`);
      allowed.push(causalMask(steps(query.shape[1], 'query'), steps(value.shape[1], 'value')));
    }
    if (allowed.length)
      scores = T.add(
        scores,
        T.mul(
          T.sub(
            1,
            allowed.reduce((a, b) => T.mul(a, b)),
          ),
          MASKED,
        ),
      );
    let weights = T.softmax(scores, -1);
    const rate = this.args.dropout ?? 0;
    if (training && rate > 0) weights = T.dropout(weights, rate);
    const out = T.einsum('bts,bsd->btd', weights, value);
    // A query step that is padding gives zeros (Keras multiplies by the query mask).
    const queryMask = MASKS.get(query);
    return queryMask ? T.mul(out, T.expandDims(T.cast(queryMask, out.dtype), -1)) : out;
  }

  computeOutputShape(s: Shape): Shape {
    return s;
  }

  getConfig(): Record<string, unknown> {
    return {
      name: this.name,
      use_scale: this.args.useScale ?? this.useScaleByDefault(),
      ...(this.className === 'Attention' ? { score_mode: this.args.scoreMode ?? 'dot' } : {}),
      dropout: this.args.dropout ?? 0,
    };
  }
}

/** Keras's AdditiveAttention (Bahdanau): scores Σ scale·tanh(q + k), with a learned scale per feature by default. */
export class AdditiveAttention extends Attention {
  constructor(args: Omit<AttentionArgs, 'scoreMode'> = {}) {
    super({ ...args, scoreMode: 'concat' }, 'AdditiveAttention');
  }
  protected override useScaleByDefault(): boolean {
    return true;
  }
  protected override scaleWeight(features: number): SharedVariable {
    return this.createWeight('scale', [features], 'glorot_uniform');
  }
}
