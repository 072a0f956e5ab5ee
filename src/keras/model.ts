import * as T from '../index.js';
import type { SharedVariable } from '../graph/variables.js';
import { ConfigError, DisposedError, SaveError, ShapeError } from '../../runtime/errors.js';
import { Random } from '../../runtime/random.js';
import {
  checkFinite,
  checkOptions,
  checkSparseLabels,
  EVALUATE_OPTIONS,
  FIT_OPTIONS,
  PREDICT_OPTIONS,
} from './arguments.js';
import { setWeight, type AnyLayer, type Shape } from './layers/layer.js';
import type { Optimizer } from './optimizers.js';
import { compiledObjectives, type CompileArgs, type OutputObjective } from './compile-args.js';
import { layerTable } from './summary.js';
import { storeRounded } from '../graph/variables.js';
import { asSamples, range, samplesByName, takeRows, type ModelData } from './model-data.js';
import { concat } from '../../runtime/reference/shape.js';
import { ProgressBar } from './progress.js';
import { layersArtifacts, localPath, saveModel } from './save.js';
import { locate, postModel } from './model-urls.js';
import { saveKerasFile, saveKerasH5, saveKerasWeights } from './keras-save.js';
import { loadKerasWeights } from './keras-weights.js';

/**
 * What fit calls back: any object with some of these hooks, or a subclass of this class
 * (TensorFlow.js's tf.Callback), which keeps the model being trained in `this.model`.
 */
export interface Callback {
  /** Called by fit before training: the model being trained (Keras's set_model). */
  setModel?(model: AnyLayersModel): void;
  onTrainBegin?(logs?: Record<string, number>): void | Promise<void>;
  onEpochBegin?(epoch: number, logs?: Record<string, number>): void | Promise<void>;
  onBatchBegin?(batch: number, logs?: Record<string, number>): void | Promise<void>;
  onEpochEnd?(epoch: number, logs: Record<string, number>): void | Promise<void>;
  onBatchEnd?(batch: number, logs: Record<string, number>): void | Promise<void>;
  onTrainEnd?(history: Record<string, number[]>): void | Promise<void>;
  /** Set by callbacks such as EarlyStopping; fit stops after the current epoch. */
  stopTraining?: boolean;
}
// The class half of Callback (merged with the interface above): every hook stays optional.
export class Callback {
  /** The model fit is training (set before onTrainBegin). */
  model?: AnyLayersModel;
  setModel?(model: AnyLayersModel): void {
    this.model = model;
  }
}

export interface FitArgs {
  epochs?: number;
  batchSize?: number;
  shuffle?: boolean;
  /** Seeds the shuffling, so fit is deterministic. */
  seed?: number;
  validationSplit?: number;
  validationData?: readonly [ModelData, ModelData];
  /** Callbacks: a list, or one object of hooks (TensorFlow.js's `{ onEpochEnd }`). */
  callbacks?: readonly Callback[] | Callback;
  verbose?: 0 | 1 | 2;
  /** A weight per class (by class index; for one column of 0/1 targets, by that value): Keras's class_weight. */
  classWeight?: Readonly<Record<number, number>>;
  /** A weight per sample, multiplying its loss: Keras's sample_weight. */
  sampleWeight?: T.ArrayValue;
}

/** What fit returns: per-epoch logs by name, as Keras's History. */
export class History {
  readonly history: Record<string, number[]> = {};
  readonly epoch: number[] = [];
  record(epoch: number, logs: Record<string, number>): void {
    this.epoch.push(epoch);
    for (const [k, v] of Object.entries(logs)) {
      if (!(k in this.history)) {
        this.history[k] = [];
        // TensorFlow.js names accuracy `acc`: readable under that name too, without listing it twice.
        const alias = k.replace(/(^|_)accuracy$/, '$1acc');
        if (alias !== k && !(alias in this.history))
          Object.defineProperty(this.history, alias, { get: () => this.history[k], enumerable: false });
      }
      this.history[k]!.push(v);
    }
  }
}

/** A layer's entry in a Keras topology; the first layer of a model carries the batch input shape. */
export const layerEntry = (l: AnyLayer, first: boolean): Record<string, unknown> => ({
  class_name: l.className,
  config: {
    ...l.getConfig(),
    trainable: l.trainable,
    dtype: 'float32',
    ...(first && l.batchInputShape ? { batch_input_shape: l.batchInputShape } : {}),
  },
});

/**
 * What Sequential and functional models share. The whole training step (forward, loss, gradients,
 * optimizer updates) is one compiled tsano function, so it is optimized, stabilized and fused like any graph.
 * `Out` is what predict returns: one array, or one per output when the model was built with a list of outputs.
 */
export abstract class LayersModel<Out extends T.NDArray | T.NDArray[] = T.NDArray> {
  abstract readonly layers: readonly AnyLayer[];
  private compiled?: { optimizer: Optimizer; outputs: readonly OutputObjective[] };
  protected trainFn?: T.CompiledFunction<T.NDArray[]>;
  protected predictFn?: T.CompiledFunction<Out>;
  protected evalFn?: T.CompiledFunction<T.NDArray[]>;
  /** Set to true (by a callback, or between batches) to end fit after the current batch, as in TensorFlow.js. */
  stopTraining = false;

  /** The forward pass in inference mode as a compiled function (what predict calls), compiled now if it was not yet. */
  makePredictFunction(): T.CompiledFunction<Out> {
    this.checkNotDisposed('makePredictFunction');
    if (!this.predictFn) {
      const { xs, ys, updates } = this.inferenceGraph();
      this.predictFn = T.compileSync(xs, this.outputsAsList ? ys : ys[0]!, {
        ...(updates.length ? { updates } : {}),
      }) as unknown as T.CompiledFunction<Out>;
    }
    return this.predictFn;
  }

  /** The compiled training step behind fit (Keras's `train_function`): undefined until the first fit. */
  get trainFunction(): T.CompiledFunction<T.NDArray[]> | undefined {
    return this.trainFn;
  }

  /** The compiled forward pass behind predict (Keras's `predict_function`): undefined until the first predict. */
  get predictFunction(): T.CompiledFunction<Out> | undefined {
    return this.predictFn;
  }

  /** The symbolic inputs and outputs, built in training or inference mode. */
  protected abstract forward(training: boolean): { xs: T.Node[]; ys: T.Node[] };

  private inference?: { xs: T.Node[]; ys: T.Node[]; updates: [T.Node, T.Node][] };
  /**
   * The inference-mode graph, built once per structure: predict, evaluate and the getters that read the
   * inputs and outputs do no graph work after the first (adding a layer builds it again). Its updates
   * are what inference changes (a stateful recurrent layer's states), taken so no training step sees them.
   */
  protected inferenceGraph(): { xs: T.Node[]; ys: T.Node[]; updates: [T.Node, T.Node][] } {
    if (!this.inference) {
      const graph = this.forward(false);
      this.inference = { ...graph, updates: this.layers.flatMap((l) => l.takeUpdates()) };
    }
    return this.inference;
  }

  /** Sets every stateful recurrent layer's states back to zeros (Keras's reset_states). */
  resetStates(): void {
    for (const l of this.layers) (l as { resetStates?: () => void }).resetStates?.();
  }

  /** Forgets everything built for the model's structure: its graphs and compiled functions. */
  protected structureChanged(): void {
    this.inference = undefined;
    this.trainFn = this.predictFn = this.evalFn = undefined;
  }
  /** True when the model was given its outputs as a list: predict then returns a list. */
  protected abstract readonly outputsAsList: boolean;

  /** The names of the model's inputs, which fit and predict accept data by. */
  get inputNames(): string[] {
    return this.inferenceGraph().xs.map((x, i) => x.name ?? `input_${i + 1}`);
  }

  /** The names of the model's outputs (the layers that produce them), which losses and targets go by. */
  abstract readonly outputNames: string[];

  /** The symbolic inputs (TensorFlow.js's model.inputs). */
  get inputs(): T.Node[] {
    return this.inferenceGraph().xs;
  }

  /** The symbolic outputs, inference mode (TensorFlow.js's model.outputs). */
  get outputs(): T.Node[] {
    return this.inferenceGraph().ys;
  }

  /** The output's shape; one per output for a model given a list of outputs. */
  get outputShape(): Out extends T.NDArray[] ? Shape[] : Shape {
    const shapes = this.inferenceGraph().ys.map((y) => y.shape);
    return (this.outputsAsList ? shapes : shapes[0]!) as never;
  }

  /** Every weight, layer by layer (Keras order). */
  get weights(): SharedVariable[] {
    this.inferenceGraph();
    return [...new Set(this.layers.flatMap((l) => [...l.weights]))];
  }

  get trainableWeights(): SharedVariable[] {
    this.inferenceGraph();
    return [...new Set(this.layers.flatMap((l) => [...l.trainableWeights]))];
  }

  getWeights(): T.NDArray[] {
    return this.weights.map((w) => w.get());
  }

  setWeights(values: readonly T.NDArray[]): void {
    const ws = this.weights;
    if (values.length !== ws.length)
      throw new ShapeError(`setWeights: the model has ${ws.length} weight arrays, got ${values.length}`);
    values.forEach((v, i) => setWeight(ws[i]!, v, 'setWeights'));
  }

  compile(args: CompileArgs): void {
    this.compiled = compiledObjectives(args, this.outputNames);
    this.trainFn = this.evalFn = undefined;
  }

  abstract readonly modelName: string;
  protected abstract layerOutputShape(layer: AnyLayer): Shape;
  /** The Keras topology (`model.to_json()` layout, Keras 2 style with batch_input_shape). */
  abstract topology(): Record<string, unknown>;

  /** The optimizer given to compile (undefined before compile). */
  get optimizer(): Optimizer | undefined {
    return this.compiled?.optimizer;
  }

  private requireCompiled() {
    if (!this.compiled) throw new ConfigError('call model.compile({ optimizer, loss }) before fit or evaluate');
    return this.compiled;
  }

  /** The names fit and evaluate report values by: the loss, then (per output, for several) losses and metrics. */
  get metricsNames(): string[] {
    const { outputs } = this.requireCompiled();
    if (outputs.length === 1) return ['loss', ...outputs[0]!.metrics.map((m) => m.name)];
    return [
      'loss',
      ...outputs.map((o) => `${o.name}_loss`),
      ...outputs.flatMap((o) => o.metrics.map((m) => `${o.name}_${m.name}`)),
    ];
  }

  private targetInputs(ys: readonly T.Node[]): T.Node[] {
    return this.requireCompiled().outputs.map((o, i) =>
      T.tensor(ys.length === 1 ? 'target' : `${o.name}_target`, {
        shape: o.sparse ? ys[i]!.shape.slice(0, -1) : ys[i]!.shape,
      }),
    );
  }

  /** The total loss (plus regularization), per-output losses and metrics over a batch, as graphs, in metricsNames order. */
  private objective(ys: readonly T.Node[], targets: readonly T.Node[], weights?: T.Node): T.Node[] {
    const { outputs } = this.requireCompiled();
    const losses = outputs.map((o, i) => {
      const perSample = o.loss(targets[i]!, ys[i]!);
      if (!weights) return T.mean(perSample);
      // Sequence outputs have a loss per sample and step: each sample's weight spreads over its steps.
      const spread = perSample.ndim > 1 ? T.reshape(weights, [-1, ...perSample.shape.slice(1).map(() => 1)]) : weights;
      return T.mean(T.mul(perSample, spread));
    });
    const weighted = losses.map((l, i) => (outputs[i]!.weight === 1 ? l : T.mul(l, outputs[i]!.weight)));
    const reg = this.layers.map((l) => l.regularization()).filter((r): r is T.Node => r !== undefined);
    const total = [...weighted, ...reg].reduce((a, b) => T.add(a, b));
    const metrics = outputs.flatMap((o, i) =>
      o.metrics.map((m) =>
        'stateful' in m ? m.stateful.statistics(targets[i]!, ys[i]!) : T.mean(m.fn(targets[i]!, ys[i]!)),
      ),
    );
    return [total, ...(outputs.length > 1 ? losses : []), ...metrics];
  }

  /**
   * Adds up a run of batches' results (in metricsNames order) as Keras's metrics do: means weighted by
   * batch size, and each stateful metric from its statistics summed over the batches.
   */
  private accumulator(): { add(results: readonly T.NDArray[], rows: number): void; values(): number[] } {
    const { outputs } = this.requireCompiled();
    const stateful = [
      undefined,
      ...(outputs.length > 1 ? outputs.map(() => undefined) : []),
      ...outputs.flatMap((o) => o.metrics.map((m) => ('stateful' in m ? m.stateful : undefined))),
    ];
    const sums: (number | Float64Array)[] = stateful.map(() => 0);
    let seen = 0;
    return {
      add(results, rows) {
        results.forEach((r, k) => {
          const total = sums[k]!;
          if (typeof total === 'number')
            sums[k] = stateful[k] ? Float64Array.from(r.data as ArrayLike<number>) : total + r.item() * rows;
          else r.data.forEach((v, i) => (total[i]! += v as number));
        });
        seen += rows;
      },
      values: () => sums.map((s, k) => (typeof s === 'number' ? s / Math.max(seen, 1) : stateful[k]!.resultOf(s))),
    };
  }

  /** The weights the training step was built for: a layer frozen or unfrozen since means building it again. */
  private trainedWeights: readonly SharedVariable[] = [];

  /** The training step: (inputs, targets, per-sample weights) to loss and metrics, applying the optimizer's updates. */
  private async trainStep(): Promise<T.CompiledFunction<T.NDArray[]>> {
    const params = this.trainableWeights;
    const same = params.length === this.trainedWeights.length && params.every((p, i) => p === this.trainedWeights[i]);
    if (this.trainFn && same) return this.trainFn;
    const c = this.requireCompiled();
    const { xs, ys } = this.forward(true);
    const stateUpdates = this.layers.flatMap((l) => l.takeUpdates());
    const targets = this.targetInputs(ys);
    const weights = T.vector('sampleWeight');
    const [loss, ...rest] = this.objective(ys, targets, weights);
    const grads = params.length ? T.grad(loss!, params) : [];
    this.trainFn = await T.compile([...xs, ...targets, weights], [loss!, ...rest], {
      updates: [...(params.length ? c.optimizer.updates(params, grads) : []), ...stateUpdates],
    });
    this.trainedWeights = params;
    return this.trainFn;
  }

  /** One update on one batch: the optimizer sets this step's rate, then the training step runs. */
  private update(train: T.CompiledFunction<T.NDArray[]>, batch: Batch): T.NDArray[] {
    this.requireCompiled().optimizer.beforeStep();
    return train(...batch.xs, ...batch.ys, batch.weights);
  }

  /** Each sample's weight for fit: its sampleWeight times its class's weight (1 where neither is given). */
  private sampleWeights(ys: readonly T.NDArray[], args: Pick<FitArgs, 'classWeight' | 'sampleWeight'>): T.NDArray {
    const n = ys[0]!.shape[0]!;
    const weights = new Float32Array(n).fill(1);
    if (args.sampleWeight !== undefined) {
      const given = asSamples(args.sampleWeight, 'fit sampleWeight');
      if (given.size !== n) throw new ShapeError(`fit: sampleWeight has ${given.size} values, the data ${n} samples`);
      checkFinite(given, 'fit sampleWeight');
      given.data.forEach((w, i) => (weights[i] = w));
    }
    if (args.classWeight !== undefined) {
      if (ys.length > 1)
        throw new ConfigError(
          'fit: classWeight applies to a model with one output (as in Keras); give sampleWeight instead',
        );
      const y = ys[0]!;
      const sparse = y.ndim === 1 || y.shape[1] === 1;
      const width = sparse ? 1 : y.shape[1]!;
      for (let i = 0; i < n; i++) {
        const row = y.data.subarray(i * width, (i + 1) * width);
        const label = sparse ? Math.round(row[0]!) : row.indexOf(Math.max(...row));
        weights[i]! *= args.classWeight[label] ?? 1;
      }
    }
    return T.array(weights, { shape: [n] });
  }

  /** The number of weights (Keras's count_params). */
  countParams(): number {
    return this.weights.reduce((sum, w) => sum + w.get().size, 0);
  }

  /** A layer by its name or its index. */
  getLayer(which: string | number): AnyLayer {
    const layer = typeof which === 'number' ? this.layers[which] : this.layers.find((l) => l.name === which);
    if (!layer)
      throw new ConfigError(
        `getLayer: no layer ${typeof which === 'number' ? `at index ${which} (the model has ${this.layers.length})` : `named '${which}' (layers: ${this.layers.map((l) => l.name).join(', ')})`}`,
      );
    return layer;
  }

  /** The model's topology as a JSON string (Keras's to_json). */
  toJSON(): string {
    return JSON.stringify(this.topology());
  }

  /** One training step on one batch: the loss (and metrics) before the update, as Keras's train_on_batch. */
  async trainOnBatch(x: ModelData, y: ModelData): Promise<number | number[]> {
    this.checkNotDisposed('trainOnBatch');
    const data = this.trainingData(x, y, 'trainOnBatch');
    const train = await this.trainStep();
    const totals = this.accumulator();
    totals.add(this.update(train, { ...data, weights: this.sampleWeights(data.ys, {}) }), data.xs[0]!.shape[0]!);
    const values = totals.values();
    return values.length === 1 ? values[0]! : values;
  }

  /** Loss (and metrics) on one batch, in inference mode. */
  testOnBatch(x: ModelData, y: ModelData): number | number[] {
    this.checkNotDisposed('testOnBatch');
    const data = this.trainingData(x, y, 'testOnBatch');
    const values = this.evaluateArrays(data, data.xs[0]!.shape[0]!);
    return values.length === 1 ? values[0]! : values;
  }

  /** Outputs for one batch. */
  predictOnBatch(x: ModelData): Out {
    return this.predict(x);
  }

  /** Trains for `epochs`, returning the History of loss and metrics per epoch. */
  async fit(x: ModelData, y: ModelData, args: FitArgs = {}): Promise<History> {
    this.checkNotDisposed('fit');
    checkOptions('fit', args, FIT_OPTIONS);
    const { epochs = 1, batchSize = 32, shuffle = true, verbose = 1 } = args;
    const callbacks: readonly Callback[] =
      args.callbacks === undefined ? [] : Array.isArray(args.callbacks) ? args.callbacks : [args.callbacks as Callback];
    const given = this.trainingData(x, y, 'fit');
    let data: Batch = { ...given, weights: this.sampleWeights(given.ys, args) };
    let validation: Omit<Batch, 'weights'> | undefined;
    if (args.validationData)
      validation = this.trainingData(args.validationData[0], args.validationData[1], 'fit validationData');
    else if (args.validationSplit) {
      // Keras takes the last samples, before shuffling.
      const n = data.xs[0]!.shape[0]!;
      const split = Math.floor(n * (1 - args.validationSplit));
      if (split === 0 || split === n)
        throw new ConfigError(
          `fit: validationSplit ${args.validationSplit} of ${n} samples leaves ${split === 0 ? 'none to train on' : 'none to validate on'}`,
        );
      validation = batchOf(data, range(split, n));
      data = batchOf(data, range(0, split));
    }
    const train = await this.trainStep();
    const names = this.metricsNames;
    this.stopTraining = false;
    const stopping = () => this.stopTraining || callbacks.some((cb) => cb.stopTraining);
    for (const cb of callbacks) cb.setModel?.(this);
    for (const cb of callbacks) await cb.onTrainBegin?.({});
    const history = new History();
    const rng = new Random(args.seed ?? 1);
    const n = data.xs[0]!.shape[0]!;
    const steps = Math.ceil(n / batchSize);
    for (let epoch = 0; epoch < epochs; epoch++) {
      for (const cb of callbacks) await cb.onEpochBegin?.(epoch, {});
      const order = range(0, n);
      if (shuffle) {
        for (let i = n - 1; i > 0; i--) {
          const j = Math.floor(rng.uniform() * (i + 1));
          [order[i], order[j]] = [order[j]!, order[i]!];
        }
      }
      const bar = verbose ? new ProgressBar(steps, `Epoch ${epoch + 1}/${epochs}`) : undefined;
      const epochTotals = this.accumulator();
      const current = () => Object.fromEntries(epochTotals.values().map((v, k) => [names[k]!, v]));
      for (let s = 0; s < steps; s++) {
        const idx = order.slice(s * batchSize, (s + 1) * batchSize);
        for (const cb of callbacks) await cb.onBatchBegin?.(s, { batch: s, size: idx.length });
        epochTotals.add(this.update(train, batchOf(data, idx)), idx.length);
        const logs = withAccAliases(current());
        bar?.update(s + 1, logs);
        for (const cb of callbacks) await cb.onBatchEnd?.(s, logs);
        if (stopping()) break;
      }
      const logs: Record<string, number> = current();
      if (validation) {
        const v = this.evaluateArrays(validation, batchSize);
        names.forEach((name, k) => (logs[`val_${name}`] = v[k]!));
      }
      bar?.finish(logs);
      history.record(epoch, logs);
      // One object for every callback, as in Keras: a callback may add to what the next one reads.
      const epochLogs = withAccAliases(logs);
      for (const cb of callbacks) await cb.onEpochEnd?.(epoch, epochLogs);
      if (stopping()) break;
    }
    for (const cb of callbacks) await cb.onTrainEnd?.(history.history);
    return history;
  }

  private evaluateArrays(data: Omit<Batch, 'weights'>, batchSize: number): number[] {
    if (!this.evalFn) {
      const { xs, ys, updates } = this.inferenceGraph();
      const targets = this.targetInputs(ys);
      this.evalFn = T.compileSync([...xs, ...targets], this.objective(ys, targets), {
        ...(updates.length ? { updates } : {}),
      });
    }
    const n = data.xs[0]!.shape[0]!;
    const totals = this.accumulator();
    for (let s = 0; s < n; s += batchSize) {
      const batch = batchOf(data, range(s, Math.min(n, s + batchSize)));
      totals.add(this.evalFn(...batch.xs, ...batch.ys), batch.xs[0]!.shape[0]!);
    }
    return totals.values();
  }

  /** Loss and metrics (in metricsNames order) on the given data, in inference mode (dropout off). */
  evaluate(x: ModelData, y: ModelData, args: { batchSize?: number; verbose?: 0 | 1 | 2 } = {}): number[] {
    this.checkNotDisposed('evaluate');
    checkOptions('evaluate', args, EVALUATE_OPTIONS);
    return this.evaluateArrays(this.trainingData(x, y, 'evaluate'), args.batchSize ?? 32);
  }

  /** Outputs for inputs, in inference mode: all at once, or `batchSize` samples per call. */
  predict(x: ModelData, args: { batchSize?: number; verbose?: 0 | 1 | 2 } = {}): Out {
    this.checkNotDisposed('predict');
    checkOptions('predict', args, PREDICT_OPTIONS);
    const predict = this.makePredictFunction();
    const xs = this.inputData(x, 'predict x');
    const n = xs[0]!.shape[0]!;
    const step = args.batchSize ?? n;
    const parts: T.NDArray[][] = [];
    const run = (inputs: readonly T.NDArray[]) => {
      const out = predict(...inputs);
      parts.push(Array.isArray(out) ? out : [out as T.NDArray]);
    };
    if (step >= n) run(xs);
    else for (let s = 0; s < n; s += step) run(xs.map((a) => takeRows(a, range(s, Math.min(n, s + step)))));
    // One call's outputs are the answer as they are; batches are stacked along the rows.
    const rows = (k: number) =>
      parts.length === 1
        ? parts[0]![k]!
        : concat(
            parts.map((p) => p[k]!),
            0,
            parts[0]![k]!.dtype,
          );
    const outputs = parts[0]!.map((_, k) => storeRounded(rows(k)));
    return (this.outputsAsList ? outputs : outputs[0]!) as Out;
  }

  /** The model's inputs from `x`, each with as many samples. */
  private inputData(x: ModelData, what: string): T.NDArray[] {
    // Each input's data in the input's dtype: floats, or integer ids for an embedding.
    const dtypes = this.inferenceGraph().xs.map((n) => (n.dtype === 'int32' ? 'int32' : T.floatx()));
    const xs = samplesByName(x, this.inputNames, 'input', what, dtypes);
    const n = xs[0]!.shape[0];
    xs.forEach((a, i) => {
      if (a.shape[0] !== n)
        throw new ShapeError(`${what}: input '${this.inputNames[i]}' has ${a.shape[0]} samples, the first input ${n}`);
    });
    return xs;
  }

  /** Inputs and targets with as many samples, finite, and (for sparse crossentropy) labels that are class indices. */
  private trainingData(x: ModelData, y: ModelData, what: string): Omit<Batch, 'weights'> {
    const { outputs } = this.requireCompiled();
    const xs = this.inputData(x, `${what} x`);
    const ys = samplesByName(y, this.outputNames, 'output', `${what} y`);
    const n = xs[0]!.shape[0];
    ys.forEach((t, i) => {
      if (t.shape[0] !== n)
        throw new ShapeError(
          `${what}: x has ${n} samples, y${ys.length > 1 ? ` for '${outputs[i]!.name}'` : ''} has ${t.shape[0]}`,
        );
    });
    xs.forEach((a, i) => checkFinite(a, `${what} x${xs.length > 1 ? ` '${this.inputNames[i]}'` : ''}`));
    const shapes = this.inferenceGraph().ys.map((o) => o.shape);
    ys.forEach((t, i) => {
      const where = `${what} y${ys.length > 1 ? ` '${outputs[i]!.name}'` : ''}`;
      checkFinite(t, where);
      const classes = shapes[i]![shapes[i]!.length - 1];
      if (outputs[i]!.sparse && typeof classes === 'number') checkSparseLabels(t, classes, where);
    });
    return { xs, ys };
  }

  /** The time of every step of the compiled predict function on `x` (see `T.printProfile`). */
  profilePredict(x: ModelData, options: { repeats?: number } = {}): T.Profile {
    this.predict(x);
    return this.predictFn!.profile(...this.inputData(x, 'profilePredict x'), options);
  }

  /** The time of every step of the compiled training step on one batch (x, y); each repeat trains, as train_on_batch does. */
  async profileTrain(x: ModelData, y: ModelData, options: { repeats?: number } = {}): Promise<T.Profile> {
    this.checkNotDisposed('profileTrain');
    const data = this.trainingData(x, y, 'profileTrain');
    return (await this.trainStep()).profile(...data.xs, ...data.ys, this.sampleWeights(data.ys, {}), options);
  }

  /**
   * Releases the model's compiled functions (their wasm modules and memory) at once, for long-lived
   * processes; its weights stay readable. Training or predicting afterwards is a DisposedError.
   */
  dispose(): void {
    for (const f of [this.trainFn, this.predictFn, this.evalFn]) f?.dispose();
    this.trainFn = this.predictFn = this.evalFn = undefined;
    this.disposed = true;
  }
  private disposed = false;

  private checkNotDisposed(what: string): void {
    if (this.disposed) throw new DisposedError(`${what}: the model was disposed`);
  }

  /**
   * Writes the model: to a path ending in `.keras`, as Python Keras 3 saves it (an archive
   * `keras.saving.load_model` opens); to one ending in `.h5` or `.hdf5`, as Keras's legacy HDF5;
   * otherwise as a TensorFlow.js layers model, `dir/model.json` and `dir/weights.bin` ('file://dir'
   * also works); to an http(s):// URL as TensorFlow.js's http handler sends it (a multipart POST of
   * model.json and model.weights.bin). TF.js's browser storages (indexeddb://, localstorage://,
   * downloads://) are a SaveError naming the scheme.
   */
  async save(target: string): Promise<void> {
    const where = locate(target, 'save');
    if (where.kind === 'http') {
      const { json, bytes } = layersArtifacts(this, './model.weights.bin');
      await postModel(where.url, json, bytes);
    } else if (/\.keras$/i.test(where.path)) await saveKerasFile(this, where.path);
    else if (/\.(h5|hdf5)$/i.test(where.path)) await saveKerasH5(this, where.path);
    else await saveModel(this, where.path);
  }

  /** Writes the weights as Keras 3's `save_weights` does: to a path ending in `.weights.h5`. */
  async saveWeights(file: string): Promise<void> {
    if (!/\.weights\.h5$/i.test(file))
      throw new SaveError(`saveWeights: the file name must end in .weights.h5 (as Keras 3 requires), got ${file}`);
    await saveKerasWeights(this, localPath(file));
  }

  /**
   * Sets the weights from a file Keras writes: `.weights.h5` (`save_weights`), a `.keras` archive, or a
   * legacy `.h5`. The file's weights must fit the model's, layer by layer; otherwise nothing changes.
   */
  async loadWeights(file: string): Promise<void> {
    await loadKerasWeights(this, localPath(file));
  }

  /** Each layer's name, class, output shape and parameter count (the summary's rows, plotModel's boxes). */
  layerSummary(): { name: string; className: string; outputShape: Shape; params: number }[] {
    this.inferenceGraph();
    return this.layers.map((l) => ({
      name: l.name,
      className: l.className,
      outputShape: this.layerOutputShape(l),
      params: l.countParams(),
    }));
  }

  /** Keras-style table of layers, output shapes and parameter counts; returned and printed. */
  /** Prints the layer table line by line with `print`; TF.js's form `summary(lineLength, positions, printFn)` works too. */
  summary(
    print?: ((line: string) => void) | number,
    _positions?: readonly number[],
    printFn?: (line: string) => void,
  ): string;
  summary(...args: unknown[]): string {
    const print = (typeof args[0] === 'function' ? args[0] : (args[2] ?? console.log)) as (line: string) => void;
    const rows = this.layerSummary().map((l): [string, string, string] => [
      `${l.name} (${l.className})`,
      `(${l.outputShape.map((d) => (d === null ? 'None' : d)).join(', ')})`,
      String(l.params),
    ]);
    const total = this.layers.reduce((s, l) => s + l.countParams(), 0);
    const trainable = this.trainableWeights.reduce((s, w) => s + w.get().size, 0);
    const text = layerTable(this.modelName, rows, total, trainable);
    print(text);
    return text;
  }
}

/** One batch of training data: each input's and each target's rows, and each sample's weight. */
interface Batch {
  readonly xs: readonly T.NDArray[];
  readonly ys: readonly T.NDArray[];
  readonly weights: T.NDArray;
}

/** The rows `rows` of every array of a batch. */
function batchOf<B extends Omit<Batch, 'weights'> & { readonly weights?: T.NDArray }>(
  data: B,
  rows: readonly number[],
): B {
  const take = (a: T.NDArray) => takeRows(a, rows);
  return {
    ...data,
    xs: data.xs.map(take),
    ys: data.ys.map(take),
    ...(data.weights ? { weights: take(data.weights) } : {}),
  };
}

/** Logs as callbacks see them: TensorFlow.js's `acc` and `val_acc` beside Keras's `accuracy`. */
function withAccAliases(logs: Record<string, number>): Record<string, number> {
  const out = { ...logs };
  for (const [k, v] of Object.entries(logs)) {
    const alias = k.replace(/(^|_)accuracy$/, '$1acc');
    if (alias !== k && !(alias in out)) out[alias] = v;
  }
  return out;
}

/** A model whatever its outputs' structure (what callbacks and saving take). */
export type AnyLayersModel = LayersModel<T.NDArray | T.NDArray[]>;
