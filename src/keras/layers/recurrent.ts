/**
 * Keras's recurrent layers on `T.scan`: SimpleRNN, LSTM and GRU (both GRU formulations), with
 * Bidirectional and TimeDistributed around them. The input projection `x·kernel + bias` runs for the
 * whole sequence as one product before the loop (as cuDNN-style implementations do); the loop then
 * holds only the recurrent product and the gates, which the optimizer fuses.
 */
import * as T from '../../index.js';
import type { SharedVariable } from '../../graph/variables.js';
import { ConfigError, ShapeError } from '../../../runtime/errors.js';
import { activation } from '../activations.js';
import { knownSize, Layer, MASKS, positiveInt, type AnyLayer, type LayerArgs, type Shape } from './layer.js';

export interface RecurrentArgs extends LayerArgs {
  units: number;
  /** The output (and candidate) activation; tanh by default. */
  activation?: string;
  /** The gates' activation (LSTM, GRU); sigmoid by default, as in Keras (TensorFlow.js defaults to hardSigmoid). */
  recurrentActivation?: string;
  useBias?: boolean;
  kernelInitializer?: string;
  recurrentInitializer?: string;
  biasInitializer?: string;
  /** LSTM: the forget gate's bias starts at 1 (Keras's default). */
  unitForgetBias?: boolean;
  /** GRU: the reset gate applies after the recurrent product (Keras's default, cuDNN's form); false is the original GRU. */
  resetAfter?: boolean;
  /** Return the output of every step ([batch, steps, units]) instead of the last ([batch, units]). */
  returnSequences?: boolean;
  /** Also return the final states: apply gives [output, h] (SimpleRNN, GRU) or [output, h, c] (LSTM). */
  returnState?: boolean;
  /** Walk the sequence from its end. */
  goBackwards?: boolean;
  /** Fraction of the inputs dropped in training (one mask per sequence, as Keras does). */
  dropout?: number;
  /** Fraction of the recurrent state dropped in training (one mask per sequence). */
  recurrentDropout?: number;
  /** Seeds the dropout masks. */
  seed?: number;
  /**
   * Keep the final states of each batch as the next batch's initial states (sample i of a batch continues
   * sample i of the one before), until `resetStates()`. Needs a known batch size (`batchInputShape`).
   */
  stateful?: boolean;
}

/** One recurrent cell: how many gate blocks its kernels hold, its states, and one step of it. */
interface Cell {
  readonly className: 'SimpleRNN' | 'LSTM' | 'GRU';
  readonly gates: number;
  readonly states: number;
  /**
   * New states (the output first) from the projected input of the step and the previous states;
   * `hIn` is the previous output as the recurrent product reads it (after recurrent dropout).
   */
  step(projected: T.Node, states: readonly T.Node[], hIn: T.Node, layer: Recurrent): T.Node[];
}

const columns = (x: T.Node, gate: number, units: number) => T.index(x, null, [gate * units, (gate + 1) * units]);

const CELLS: Record<Cell['className'], Cell> = {
  SimpleRNN: {
    className: 'SimpleRNN',
    gates: 1,
    states: 1,
    step: (x, _states, hIn, l) => [l.act(T.add(x, T.dot(hIn, l.recurrentKernel)))],
  },
  LSTM: {
    className: 'LSTM',
    gates: 4,
    states: 2,
    step: (x, [, c], hIn, l) => {
      const z = T.add(x, T.dot(hIn, l.recurrentKernel));
      const gate = (k: number) => columns(z, k, l.units);
      const [i, f, o] = [l.gateAct(gate(0)), l.gateAct(gate(1)), l.gateAct(gate(3))];
      const c1 = T.add(T.mul(f, c!), T.mul(i, l.act(gate(2))));
      return [T.mul(o, l.act(c1)), c1];
    },
  },
  GRU: {
    className: 'GRU',
    gates: 3,
    states: 1,
    step: (x, [h], hIn, l) => {
      const u = l.units;
      const xz = columns(x, 0, u);
      const xr = columns(x, 1, u);
      const xh = columns(x, 2, u);
      let candidate: T.Node;
      let z: T.Node;
      if (l.resetAfter) {
        const inner = l.recurrentBias
          ? T.add(T.dot(hIn, l.recurrentKernel), l.recurrentBias)
          : T.dot(hIn, l.recurrentKernel);
        z = l.gateAct(T.add(xz, columns(inner, 0, u)));
        const r = l.gateAct(T.add(xr, columns(inner, 1, u)));
        candidate = l.act(T.add(xh, T.mul(r, columns(inner, 2, u))));
      } else {
        const recurrent = (k: number) => T.index(l.recurrentKernel, null, [k * u, (k + 1) * u]);
        z = l.gateAct(T.add(xz, T.dot(hIn, recurrent(0))));
        const r = l.gateAct(T.add(xr, T.dot(hIn, recurrent(1))));
        candidate = l.act(T.add(xh, T.dot(T.mul(r, hIn), recurrent(2))));
      }
      return [T.add(T.mul(z, h!), T.mul(T.sub(1, z), candidate))];
    },
  },
};

/** A recurrent layer: the input projected once, then `T.scan` over the steps. */
export class Recurrent<Out extends T.Node | T.Node[] = T.Node | T.Node[]> extends Layer<Out> {
  readonly units: number;
  readonly act: (x: T.Node) => T.Node;
  readonly gateAct: (x: T.Node) => T.Node;
  readonly resetAfter: boolean;
  private kernel?: SharedVariable;
  private recurrent?: SharedVariable;
  private bias?: SharedVariable;
  private readonly cell: Cell;

  constructor(
    className: Cell['className'],
    readonly args: RecurrentArgs,
  ) {
    super(className, args);
    this.cell = CELLS[className];
    const where = `${className.toLowerCase()} ${this.name}`;
    this.units = positiveInt(args.units, `${where}: units`);
    this.act = activation(args.activation ?? 'tanh', where);
    this.gateAct = activation(args.recurrentActivation ?? 'sigmoid', where);
    this.resetAfter = className === 'GRU' && (args.resetAfter ?? true);
    for (const key of ['dropout', 'recurrentDropout'] as const) {
      const rate = args[key];
      if (rate !== undefined && !(typeof rate === 'number' && rate >= 0 && rate < 1))
        throw new ConfigError(`${where}: ${key} must be in [0, 1), got ${String(rate)}`);
    }
  }

  get recurrentKernel(): T.Node {
    return this.recurrent!;
  }

  /** GRU with resetAfter: the bias added to the recurrent product, inside the reset gate (row 1 of the bias). */
  get recurrentBias(): T.Node | undefined {
    return this.bias && this.resetAfter ? T.index(this.bias, 1) : undefined;
  }

  /** A stateful layer's states between calls (not weights: Keras keeps them apart too). */
  private states?: SharedVariable[];

  /** Sets a stateful layer's states back to zeros (Keras's reset_states). */
  resetStates(): void {
    for (const st of this.states ?? []) st.set(T.zeros([...st.get().shape]));
  }

  protected override build(s: Shape): void {
    const where = `${this.className.toLowerCase()} ${this.name}`;
    if (s.length !== 3) throw new ShapeError(`${where}: expects [batch, steps, features], got rank ${s.length}`);
    if (this.args.stateful) {
      const batch = s[0];
      if (batch === null || batch === undefined)
        throw new ConfigError(
          `${where}: a stateful layer needs a known batch size: give the first layer batchInputShape [batch, steps, features]`,
        );
      this.states = Array.from({ length: this.cell.states }, (_, i) =>
        T.shared(T.zeros([batch, this.units]), `${this.name}/state_${i}`),
      );
    }
    const features = knownSize(s[2], `${where}: features (the input's last axis)`);
    const width = this.cell.gates * this.units;
    this.kernel = this.createWeight('kernel', [features, width], this.args.kernelInitializer ?? 'glorot_uniform');
    this.recurrent = this.createWeight(
      'recurrent_kernel',
      [this.units, width],
      this.args.recurrentInitializer ?? 'orthogonal',
    );
    if (this.args.useBias ?? true) {
      const forgetBias = this.className === 'LSTM' && (this.args.unitForgetBias ?? true) && !this.args.biasInitializer;
      // Keras starts the LSTM forget gate's bias at 1.
      const ones = (shape: readonly number[]) => {
        const values = T.zeros(shape);
        values.data.fill(1, this.units, 2 * this.units);
        return values;
      };
      this.bias = this.createWeight(
        'bias',
        this.resetAfter ? [2, width] : [width],
        forgetBias ? ones : (this.args.biasInitializer ?? 'zeros'),
      );
    }
  }

  protected forward(input: T.Node | T.Node[], training: boolean): Out {
    const [x, ...given] = Array.isArray(input) ? input : [input];
    const where = `${this.className.toLowerCase()} ${this.name}`;
    if (given.length !== 0 && given.length !== this.cell.states)
      throw new ShapeError(
        `${where}: initialState needs ${this.cell.states} tensor${this.cell.states > 1 ? 's' : ''} ([batch, ${this.units}] each), got ${given.length}`,
      );
    given.forEach((g, i) => {
      if (g.ndim !== 2 || (g.shape[1] !== null && g.shape[1] !== this.units))
        throw new ShapeError(
          `${where}: initial state ${i} must be [batch, ${this.units}], got [${g.shape.join(', ')}]`,
        );
    });
    const seed = this.args.seed;
    const dropped = (node: T.Node, rate: number | undefined, offset: number) =>
      training && rate
        ? T.dropout(T.onesLike(node), rate, { ...(seed === undefined ? {} : { seed: seed + offset }) })
        : undefined;
    const inputMask = dropped(T.index(x!, null, 0), this.args.dropout, 0);
    const xs = inputMask ? T.mul(x!, T.expandDims(inputMask, 1)) : x!;
    const inputBias = this.bias && (this.resetAfter ? T.index(this.bias, 0) : this.bias);
    // Steps first before the projection, not after it: the input is narrower than its projection.
    const inputSteps = T.transpose(xs, [1, 0, 2]);
    const projected = T.dot(inputSteps, this.kernel!);
    const stepsFirst = inputBias ? T.add(projected, inputBias) : projected;
    const zeros = T.zerosLike(columns(T.index(stepsFirst, 0), 0, this.units));
    const recurrentMask = dropped(zeros, this.args.recurrentDropout, 1);
    const mask = MASKS.get(x!);
    const maskSteps = mask ? T.expandDims(T.transpose(mask, [1, 0]), -1) : undefined;
    const cell = this.cell;
    const [outputs] = T.scan(
      (...args: T.Node[]) => {
        const [step, stepMask] = maskSteps ? [args[0]!, args[1]!] : [args[0]!, undefined];
        const previous = args.slice(maskSteps ? 2 : 1);
        const h = previous[0]!;
        const next = cell.step(step, previous, recurrentMask ? T.mul(h, recurrentMask) : h, this);
        // A masked step leaves the states (and so the output) as they were, as Keras and TensorFlow.js do.
        return stepMask ? next.map((n, i) => T.add(T.mul(n, stepMask), T.mul(previous[i]!, T.sub(1, stepMask)))) : next;
      },
      {
        sequences: maskSteps ? [stepsFirst, maskSteps] : [stepsFirst],
        outputsInfo: Array.from({ length: cell.states }, (_, i) => given[i] ?? this.states?.[i] ?? zeros),
        goBackwards: this.args.goBackwards ?? false,
        name: where,
      },
    );
    const states = Array.isArray(outputs) ? outputs : [outputs];
    // The final states become the next call's initial ones, in training and inference alike.
    this.states?.forEach((st, i) => this.addUpdate(st, T.index(states[i]!, -1)));
    const output = this.args.returnSequences ? T.transpose(states[0]!, [1, 0, 2]) : T.index(states[0]!, -1);
    return (this.args.returnState ? [output, ...states.map((st) => T.index(st, -1))] : output) as Out;
  }

  override computeMask(input: T.Node, inputMask: T.Node | undefined): T.Node | undefined {
    return this.args.returnSequences ? inputMask : undefined;
  }

  computeOutputShape(s: Shape): Shape {
    return this.args.returnSequences ? [s[0] ?? null, s[1] ?? null, this.units] : [s[0] ?? null, this.units];
  }

  getConfig() {
    return {
      name: this.name,
      units: this.units,
      activation: this.args.activation ?? 'tanh',
      ...(this.cell.gates > 1 ? { recurrent_activation: this.args.recurrentActivation ?? 'sigmoid' } : {}),
      use_bias: this.args.useBias ?? true,
      return_sequences: this.args.returnSequences ?? false,
      return_state: this.args.returnState ?? false,
      go_backwards: this.args.goBackwards ?? false,
      stateful: this.args.stateful ?? false,
      // Keras's default: its unrolling needs a known number of steps, and a loop computes the same.
      unroll: false,
      dropout: this.args.dropout ?? 0,
      recurrent_dropout: this.args.recurrentDropout ?? 0,
      ...(this.className === 'LSTM' ? { unit_forget_bias: this.args.unitForgetBias ?? true } : {}),
      ...(this.className === 'GRU' ? { reset_after: this.resetAfter } : {}),
    };
  }
}

/** What a recurrent layer's apply returns for its arguments: a list with returnState, else one tensor. */
export type RecurrentOutput<A extends RecurrentArgs> = A extends { returnState: true } ? T.Node[] : T.Node;

export class SimpleRNN<Out extends T.Node | T.Node[] = T.Node> extends Recurrent<Out> {
  constructor(args: RecurrentArgs) {
    super('SimpleRNN', args);
  }
}
export class LSTM<Out extends T.Node | T.Node[] = T.Node> extends Recurrent<Out> {
  constructor(args: RecurrentArgs) {
    super('LSTM', args);
  }
}
export class GRU<Out extends T.Node | T.Node[] = T.Node> extends Recurrent<Out> {
  constructor(args: RecurrentArgs) {
    super('GRU', args);
  }
}

export type MergeMode = 'concat' | 'sum' | 'mul' | 'ave';
const MERGES: Record<MergeMode, (a: T.Node, b: T.Node) => T.Node> = {
  concat: (a, b) => T.concat([a, b], -1),
  sum: T.add,
  mul: T.mul,
  ave: (a, b) => T.mul(T.add(a, b), 0.5),
};

/** Runs a recurrent layer forwards and a copy of it backwards, and merges the two (Keras's Bidirectional). */
export class Bidirectional extends Layer {
  readonly forwardLayer: Recurrent<T.Node>;
  readonly backwardLayer: Recurrent<T.Node>;
  readonly mergeMode: MergeMode;

  constructor(args: LayerArgs & { layer: Recurrent<T.Node | T.Node[]>; mergeMode?: MergeMode }) {
    super('Bidirectional', args);
    if (!(args.layer instanceof Recurrent))
      throw new ConfigError(`bidirectional ${this.name}: layer must be a SimpleRNN, LSTM or GRU layer`);
    this.mergeMode = args.mergeMode ?? 'concat';
    if (!MERGES[this.mergeMode])
      throw new ConfigError(
        `bidirectional ${this.name}: mergeMode must be one of ${Object.keys(MERGES).join(', ')}, got '${String(args.mergeMode)}'`,
      );
    const inner = args.layer;
    if (inner.args.returnState)
      throw new ConfigError(`bidirectional ${this.name}: a wrapped layer with returnState is not supported yet`);
    const copy = (direction: 'forward' | 'backward', goBackwards: boolean) =>
      new Recurrent<T.Node>(inner.className as Cell['className'], {
        ...inner.args,
        name: `${this.name}/${direction}_${inner.name}`,
        goBackwards,
        inputShape: undefined,
        batchInputShape: undefined,
      });
    this.forwardLayer = copy('forward', inner.args.goBackwards ?? false);
    this.backwardLayer = copy('backward', !(inner.args.goBackwards ?? false));
  }

  override get weights(): readonly SharedVariable[] {
    return [...this.forwardLayer.weights, ...this.backwardLayer.weights];
  }
  override get trainableWeights(): readonly SharedVariable[] {
    return this.trainable ? [...this.forwardLayer.trainableWeights, ...this.backwardLayer.trainableWeights] : [];
  }

  protected forward(x: T.Node | T.Node[], training: boolean): T.Node {
    const forwards = this.forwardLayer.apply(x, training);
    let backwards = this.backwardLayer.apply(x, training);
    // The backward layer's steps come out last-first: turned around, so step t of both lines up.
    if (this.forwardLayer.args.returnSequences) backwards = T.index(backwards, null, '::-1');
    return MERGES[this.mergeMode](forwards, backwards);
  }

  override computeMask(input: T.Node, inputMask: T.Node | undefined): T.Node | undefined {
    return this.forwardLayer.args.returnSequences ? inputMask : undefined;
  }

  computeOutputShape(s: Shape): Shape {
    const one = this.forwardLayer.computeOutputShape(s);
    const last = one[one.length - 1]!;
    return [...one.slice(0, -1), this.mergeMode === 'concat' ? last! * 2 : last];
  }

  getConfig() {
    const inner = this.forwardLayer;
    return {
      name: this.name,
      merge_mode: this.mergeMode,
      layer: { class_name: inner.className, config: { ...inner.getConfig(), name: inner.name.split('/forward_')[1] } },
    };
  }
}

/** Applies a layer to every step of a sequence ([batch, steps, ...]): Keras's TimeDistributed. */
export class TimeDistributed extends Layer {
  constructor(readonly args: LayerArgs & { layer: AnyLayer }) {
    super('TimeDistributed', args);
    if (!(args.layer instanceof Layer)) throw new ConfigError(`timeDistributed ${this.name}: layer must be a layer`);
    args.layer.weightScope = this.name;
  }
  override get weights(): readonly SharedVariable[] {
    return this.args.layer.weights;
  }
  override get trainableWeights(): readonly SharedVariable[] {
    return this.trainable ? this.args.layer.trainableWeights : [];
  }
  override regularization(): T.Node | undefined {
    return this.args.layer.regularization();
  }
  protected forward(x: T.Node | T.Node[], training: boolean): T.Node {
    const input = x as T.Node;
    if (input.shape[1] === null) return this.overAnyLength(input, training);
    const steps = knownSize(input.shape[1], `timeDistributed ${this.name}: the number of steps`);
    const inner = input.shape.slice(2).map((d) => knownSize(d, `timeDistributed ${this.name}: a sample's shape`));
    const flat = T.reshape(input, [-1, ...inner]);
    const out = this.args.layer.apply(flat, training);
    if (Array.isArray(out))
      throw new ConfigError(`timeDistributed ${this.name}: the wrapped layer must return one tensor`);
    return T.reshape(out, [
      -1,
      steps,
      ...out.shape.slice(1).map((d) => knownSize(d, `timeDistributed ${this.name}: the inner output`)),
    ]);
  }
  /** Steps of a length known only at call time: the layer applied in a loop over them (built out per length). */
  private overAnyLength(input: T.Node, training: boolean): T.Node {
    const where = `timeDistributed ${this.name}`;
    const rest = input.shape.slice(2).map((_, i) => i + 2);
    const [outputs] = T.scan(
      (step: T.Node) => {
        const out = this.args.layer.apply(step, training);
        if (Array.isArray(out)) throw new ConfigError(`${where}: the wrapped layer must return one tensor`);
        return out;
      },
      { sequences: T.transpose(input, [1, 0, ...rest]), name: where },
    );
    const stacked = outputs as T.Node;
    return T.transpose(stacked, [1, 0, ...stacked.shape.slice(2).map((_, i) => i + 2)]);
  }
  computeOutputShape(s: Shape): Shape {
    const inner = this.args.layer.computeOutputShape([null, ...s.slice(2)]);
    return [s[0] ?? null, s[1] ?? null, ...inner.slice(1)];
  }
  getConfig() {
    return {
      name: this.name,
      layer: { class_name: this.args.layer.className, config: this.args.layer.getConfig() },
    };
  }
}
