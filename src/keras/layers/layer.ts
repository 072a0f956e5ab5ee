import * as T from '../../index.js';
import type { SharedVariable } from '../../graph/variables.js';
import { ConfigError, ShapeError } from '../../../runtime/errors.js';
import { initialize } from '../initializers.js';

export type Shape = readonly (number | null)[];

/** Common layer options (TensorFlow.js spelling). */
export interface LayerArgs {
  name?: string;
  /** Shape of one sample, without the batch axis (first layer of a sequential model). */
  inputShape?: readonly (number | null)[];
  /** Shape with the batch axis. */
  batchInputShape?: readonly (number | null)[];
  /** TensorFlow.js's inputDim: the same as inputShape [inputDim]. */
  inputDim?: number;
  /** False builds the layer frozen: fit leaves its weights as they are (as `layer.trainable = false`). */
  trainable?: boolean;
}

export interface Regularizer {
  l1?: number;
  l2?: number;
}

/** Keras's to_snake_case: Conv2D -> conv2d, MaxPooling2D -> max_pooling2d. */
export const toSnakeCase = (name: string): string =>
  name
    .replace(/(.)([A-Z][a-z0-9]+)/g, '$1_$2')
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .toLowerCase();

const counters = new Map<string, number>();
/** Keras's automatic names: dense, dense_1, dense_2… */
export function uniqueName(base: string): string {
  const n = counters.get(base) ?? 0;
  counters.set(base, n + 1);
  return n === 0 ? base : `${base}_${n}`;
}

let callCounter = 0;
/** Numbers layer calls, so the identity node of each call is a node of its own. */
const nextCall = (): number => ++callCounter;

let seedCounter = 1000;
/** Seeds for weight initialisation: deterministic in a process, so a script builds the same model every run. */
export const nextWeightSeed = (): number => (seedCounter += 7919);

/**
 * A layer: owns its weights (shared variables) and turns a symbolic input into a symbolic output, or
 * (`Out` a list: a recurrent layer with returnState) into several.
 */
export abstract class Layer<Out extends T.Node | T.Node[] = T.Node> {
  readonly name: string;
  readonly batchInputShape: Shape | undefined;
  protected readonly weightList: SharedVariable[] = [];
  /** Weights that gradients update (moving statistics are not among them). */
  private readonly updatable = new Set<SharedVariable>();
  private frozen = false;
  protected readonly penalties: (() => T.Node | undefined)[] = [];
  private pendingUpdates: [T.Node, T.Node][] = [];
  private builtFor: Shape | undefined;

  constructor(
    readonly className: string,
    args: LayerArgs,
  ) {
    if (args.name !== undefined && (typeof args.name !== 'string' || args.name === ''))
      throw new ConfigError(`${className}: name must be a non-empty string, got ${JSON.stringify(args.name)}`);
    for (const key of ['inputShape', 'batchInputShape'] as const) {
      const shape = args[key];
      if (
        shape !== undefined &&
        (!Array.isArray(shape) || shape.some((d) => d !== null && !(Number.isInteger(d) && d >= 1)))
      ) {
        throw new ConfigError(`${className}: ${key} must list positive integers or null, got ${JSON.stringify(shape)}`);
      }
    }
    if (args.trainable !== undefined && typeof args.trainable !== 'boolean')
      throw new ConfigError(`${className}: trainable must be true or false, got ${JSON.stringify(args.trainable)}`);
    this.frozen = args.trainable === false;
    this.name = args.name ?? uniqueName(toSnakeCase(className));
    if (args.batchInputShape) this.batchInputShape = [...args.batchInputShape];
    else if (args.inputShape) this.batchInputShape = [null, ...args.inputShape];
    else if (args.inputDim !== undefined)
      this.batchInputShape = [null, positiveInt(args.inputDim, `${className}: inputDim`)];
  }

  /**
   * What this layer's weight names start with, when not its own name: a layer wrapped by
   * TimeDistributed names its weights after the wrapper, as Keras and TensorFlow.js do.
   */
  weightScope?: string;

  /** Creates the weights for inputs of `inputShape` (with the batch axis). */
  protected build(_inputShape: Shape): void {}
  /** The symbolic output for a symbolic input (an array of them for merge layers). */
  protected abstract forward(x: T.Node | T.Node[], training: boolean): Out;
  abstract computeOutputShape(inputShape: Shape): Shape;

  /** Applies the layer to a symbolic tensor (or several), building its weights on first use. */
  apply(x: T.Node | T.Node[], training = false): Out {
    const first = Array.isArray(x) ? x[0]! : x;
    if (!this.builtFor) {
      this.build(first.shape);
      this.builtFor = first.shape;
    }
    const result = this.forward(x, training);
    const inputs = Array.isArray(x) ? [...x] : [x];
    const call = nextCall();
    const outputs = (Array.isArray(result) ? result : [result]).map((o, index) => {
      // Each call's outputs are tensors of their own (Keras's KerasTensor), also where the layer passes
      // its input through (Dropout in inference, a linear Activation) or two outputs hold one value.
      const taken = inputs.includes(o) || CALLS.has(o) || o.op === 'input';
      const out = (taken ? T.Node.make('identity', [o], { label: `${this.name}:${call}:${index}` }) : o).named(
        this.name,
      );
      CALLS.set(out, { layer: this, inputs, index, call });
      return out;
    });
    const mask = this.computeMask(first, MASKS.get(first));
    if (mask) MASKS.set(outputs[0]!, mask);
    return (Array.isArray(result) ? outputs : outputs[0]!) as Out;
  }

  /**
   * The mask of this layer's output, per sample and step ([batch, steps], 1 where a step counts), from
   * its input and the input's mask (Keras's compute_mask). By default a mask passes through a layer
   * that keeps the steps axis, and stops at one that does not.
   */
  computeMask(input: T.Node, inputMask: T.Node | undefined): T.Node | undefined {
    if (!inputMask) return undefined;
    const out = this.computeOutputShape(input.shape);
    return out.length >= 3 && out[1] === input.shape[1] ? inputMask : undefined;
  }

  /** State updates the last training-mode forward pass asked for (BatchNormalization's moving averages). */
  takeUpdates(): [T.Node, T.Node][] {
    const u = this.pendingUpdates;
    this.pendingUpdates = [];
    return u;
  }

  protected addUpdate(variable: T.Node, value: T.Node): void {
    this.pendingUpdates.push([variable, value]);
  }

  get built(): boolean {
    return this.builtFor !== undefined;
  }

  /** Adds a weight initialised by `initializer` (or taken from the files a model is being loaded from). */
  protected createWeight(
    name: string,
    shape: readonly number[],
    initializer: string | ((shape: readonly number[]) => T.NDArray),
    regularizer?: Regularizer,
    trainable = true,
  ): SharedVariable {
    const scope = this.weightScope ?? this.name;
    const full = `${scope}/${name}`;
    const seed = nextWeightSeed();
    const w = T.shared(
      weightSource?.(full, shape, scope) ??
        (typeof initializer === 'function'
          ? initializer(shape)
          : initialize(initializer, shape, seed, `${this.name}.${name}`)),
      full,
    );
    this.weightList.push(w);
    if (trainable) this.updatable.add(w);
    if (regularizer) this.penalties.push(() => penalty(w, regularizer));
    return w;
  }

  get weights(): readonly SharedVariable[] {
    return this.weightList;
  }

  /** The weights gradients update (moving statistics are not among them; none while the layer is frozen). */
  get trainableWeights(): readonly SharedVariable[] {
    return this.frozen ? [] : this.weightList.filter((w) => this.updatable.has(w));
  }

  /** False freezes the layer (fine-tuning): fit leaves its weights as they are. Takes effect at the next fit. */
  get trainable(): boolean {
    return !this.frozen;
  }
  set trainable(value: boolean) {
    this.frozen = !value;
  }

  /** The weight penalty this layer adds to the loss (kernel/bias regularizers). */
  regularization(): T.Node | undefined {
    const terms = this.penalties.map((p) => p()).filter((t): t is T.Node => t !== undefined);
    return terms.length ? terms.reduce((a, b) => T.add(a, b)) : undefined;
  }

  // Through `weights`, which wrappers (Bidirectional, TimeDistributed) answer with their inner layers'.
  countParams(): number {
    return this.weights.reduce((s, w) => s + w.get().size, 0);
  }

  getWeights(): T.NDArray[] {
    return this.weights.map((w) => w.get());
  }

  setWeights(values: readonly T.NDArray[]): void {
    const weights = this.weights;
    if (values.length !== weights.length) {
      throw new ShapeError(`${this.name}.setWeights: expected ${weights.length} arrays, got ${values.length}`);
    }
    values.forEach((v, i) => setWeight(weights[i]!, v, `${this.name}.setWeights`));
  }

  /** Keras config (snake_case), for model.json. */
  abstract getConfig(): Record<string, unknown>;
}

/** A weight's new value: a layer's weights keep their shapes (a shared variable alone may change shape). */
export function setWeight(w: SharedVariable, value: T.NDArray, where: string): void {
  if (value.ndim !== w.ndim || value.shape.some((d, i) => d !== w.shape[i])) {
    throw new ShapeError(`${where}: ${w.name} has shape [${w.shape.join(', ')}], got [${value.shape.join(', ')}]`);
  }
  w.set(value);
}

function penalty(w: T.Node, r: Regularizer): T.Node | undefined {
  const terms: T.Node[] = [];
  if (r.l1) terms.push(T.mul(T.sum(T.abs(w)), r.l1));
  if (r.l2) terms.push(T.mul(T.sum(T.square(w)), r.l2));
  return terms.length ? terms.reduce((a, b) => T.add(a, b)) : undefined;
}

/** A weight's value by its full name, its shape, and the name of the layer (or wrapper) that holds it. */
type WeightSource = (name: string, shape: readonly number[], layer: string) => T.NDArray;
let weightSource: WeightSource | undefined;

/**
 * Builds layers inside `build` with their weights from `source` (by weight name) instead of initializers:
 * loading checks each weight's shape against the file before anything of that size is allocated.
 */
export function withWeightSource<R>(source: WeightSource, build: () => R): R {
  const previous = weightSource;
  weightSource = source;
  try {
    return build();
  } finally {
    weightSource = previous;
  }
}

/** The mask ([batch, steps], 1 where a step counts) a symbolic tensor carries: from Embedding(maskZero) or Masking. */
export const MASKS = new WeakMap<T.Node, T.Node>();

/**
 * Which layer produced a symbolic tensor from which inputs, as output `index` of which call (calls are
 * numbered in the order they were made; one layer called twice shares its weights between the calls):
 * the functional API replays these calls.
 */
export const CALLS = new WeakMap<T.Node, LayerCall>();
export interface LayerCall {
  readonly layer: AnyLayer;
  readonly inputs: T.Node[];
  readonly index: number;
  readonly call: number;
}

/** A layer whatever it returns (what models hold). */
export type AnyLayer = Layer<T.Node | T.Node[]>;

/** A positive integer option, or a clear error. */
export function positiveInt(value: unknown, what: string): number {
  if (!Number.isInteger(value) || (value as number) < 1)
    throw new ConfigError(`${what} must be a positive integer, got ${JSON.stringify(value)}`);
  return value as number;
}

export const knownSize = (d: number | null | undefined, what: string): number => {
  if (d === null || d === undefined) throw new ShapeError(`${what}: the size must be known when the layer is built`);
  return d;
};
