import * as T from '../index.js';
import type { SharedVariable } from '../graph/variables.js';
import { floatx } from '../../runtime/config.js';
import { ConfigError, DisposedError, ShapeError } from '../../runtime/errors.js';
import { Random } from '../../runtime/random.js';
import {
  checkFinite,
  checkOptions,
  checkSparseLabels,
  EVALUATE_OPTIONS,
  FIT_OPTIONS,
  PREDICT_OPTIONS,
} from './arguments.js';
import { CALLS, Layer, type Shape } from './layers/layer.js';
import { lossByName, metricByName, type Loss } from './losses.js';
import { optimizerByName, type Optimizer } from './optimizers.js';
import { storeRounded } from '../graph/variables.js';
import { ProgressBar } from './progress.js';
import { saveModel } from './save.js';

export interface CompileArgs {
  optimizer: string | Optimizer;
  loss: string | { name: string; fromLogits?: boolean };
  metrics?: readonly string[];
}

export interface Callback {
  /** Called by fit before training: the model being trained (Keras's set_model). */
  setModel?(model: LayersModel): void;
  onTrainBegin?(): void | Promise<void>;
  onEpochBegin?(epoch: number): void | Promise<void>;
  onEpochEnd?(epoch: number, logs: Record<string, number>): void | Promise<void>;
  onBatchEnd?(batch: number, logs: Record<string, number>): void | Promise<void>;
  onTrainEnd?(history: Record<string, number[]>): void | Promise<void>;
  /** Set by callbacks such as EarlyStopping; fit stops after the current epoch. */
  stopTraining?: boolean;
}

export interface FitArgs {
  epochs?: number;
  batchSize?: number;
  shuffle?: boolean;
  /** Seeds the shuffling, so fit is deterministic. */
  seed?: number;
  validationSplit?: number;
  validationData?: readonly [T.ArrayValue, T.ArrayValue];
  callbacks?: readonly Callback[];
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
    for (const [k, v] of Object.entries(logs)) (this.history[k] ??= []).push(v);
  }
}

/** A layer's entry in a Keras topology; the first layer of a model carries the batch input shape. */
const layerEntry = (l: Layer, first: boolean): Record<string, unknown> => ({
  class_name: l.className,
  config: {
    ...l.getConfig(),
    trainable: true,
    dtype: 'float32',
    ...(first && l.batchInputShape ? { batch_input_shape: l.batchInputShape } : {}),
  },
});

const snakeCase = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

const asArray = (v: T.ArrayValue, what: string) => {
  const a = v instanceof T.NDArray ? v : T.array(v);
  if (a.ndim === 0) throw new ShapeError(`${what}: expected a batch of samples, got a scalar`);
  return a.dtype === floatx() ? a : a.astype(floatx());
};

/** Rows `indices` of a [samples, ...] array, as a new contiguous array. */
function takeRows(a: T.NDArray, indices: ArrayLike<number>): T.NDArray {
  const row = a.size / a.shape[0]!;
  const Ctor = a.data.constructor as new (n: number) => typeof a.data;
  const out = new Ctor(indices.length * row);
  for (let i = 0; i < indices.length; i++)
    out.set(a.data.subarray(indices[i]! * row, (indices[i]! + 1) * row), i * row);
  return T.array(out, { shape: [indices.length, ...a.shape.slice(1)] });
}

/**
 * What Sequential and functional models share. The whole training step (forward, loss, gradients,
 * optimizer updates) is one compiled tsano function, so it is optimized, stabilized and fused like any graph.
 */
export abstract class LayersModel {
  abstract readonly layers: readonly Layer[];
  private compiled?: { optimizer: Optimizer; loss: Loss; lossName: string; metrics: { name: string; fn: Loss }[] };
  protected trainFn?: T.CompiledFunction<T.NDArray[]>;
  protected predictFn?: T.CompiledFunction<T.NDArray>;
  protected evalFn?: T.CompiledFunction<T.NDArray[]>;

  /** The forward pass in inference mode as a compiled function (what predict calls), compiled now if it was not yet. */
  async makePredictFunction(): Promise<T.CompiledFunction<T.NDArray>> {
    this.checkNotDisposed('makePredictFunction');
    if (!this.predictFn) {
      const { x, y } = this.forward(false);
      this.predictFn = await T.compile([x], y);
    }
    return this.predictFn;
  }

  /** The compiled training step behind fit (Keras's `train_function`): undefined until the first fit. */
  get trainFunction(): T.CompiledFunction<T.NDArray[]> | undefined {
    return this.trainFn;
  }

  /** The compiled forward pass behind predict (Keras's `predict_function`): undefined until the first predict. */
  get predictFunction(): T.CompiledFunction<T.NDArray> | undefined {
    return this.predictFn;
  }

  /** The symbolic input and output, built in training or inference mode. */
  protected abstract forward(training: boolean): { x: T.Node; y: T.Node };

  get outputShape(): Shape {
    return this.forward(false).y.shape;
  }

  /** Every weight, layer by layer (Keras order). */
  get weights(): SharedVariable[] {
    this.forward(false);
    return [...new Set(this.layers.flatMap((l) => [...l.weights]))];
  }

  get trainableWeights(): SharedVariable[] {
    this.forward(false);
    return [...new Set(this.layers.flatMap((l) => [...l.trainableWeights]))];
  }

  getWeights(): T.NDArray[] {
    return this.weights.map((w) => w.get());
  }

  setWeights(values: readonly T.NDArray[]): void {
    const ws = this.weights;
    if (values.length !== ws.length)
      throw new ShapeError(`setWeights: the model has ${ws.length} weight arrays, got ${values.length}`);
    values.forEach((v, i) => ws[i]!.set(v));
  }

  compile(args: CompileArgs): void {
    const optimizer = typeof args.optimizer === 'string' ? optimizerByName(args.optimizer) : args.optimizer;
    const lossName = typeof args.loss === 'string' ? args.loss : args.loss.name;
    const loss = lossByName(lossName, typeof args.loss === 'string' ? {} : args.loss);
    const metrics = (args.metrics ?? []).map((name) => ({ name, fn: metricByName(name, lossName) }));
    this.compiled = { optimizer, loss, lossName, metrics };
    this.trainFn = this.evalFn = undefined;
  }

  abstract readonly modelName: string;
  protected abstract layerOutputShape(layer: Layer): Shape;
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

  private targetInput(): T.Node {
    const out = this.outputShape;
    const sparse = snakeCase(this.requireCompiled().lossName) === 'sparse_categorical_crossentropy';
    return T.tensor('target', { shape: sparse ? [null] : out });
  }

  /** Mean loss (plus regularization) and mean metrics over a batch, as graphs; the loss of each sample weighted when given. */
  private objective(y: T.Node, target: T.Node, weights?: T.Node) {
    const c = this.requireCompiled();
    const perSample = c.loss(target, y);
    let loss = T.mean(weights ? T.mul(perSample, weights) : perSample);
    const reg = this.layers.map((l) => l.regularization()).filter((r): r is T.Node => r !== undefined);
    if (reg.length)
      loss = T.add(
        loss,
        reg.reduce((a, b) => T.add(a, b)),
      );
    return { loss, metrics: c.metrics.map((m) => T.mean(m.fn(target, y))) };
  }

  /** The weights the training step was built for: a layer frozen or unfrozen since means building it again. */
  private trainedWeights: readonly SharedVariable[] = [];

  /** The training step: (x, target, per-sample weights) to loss and metrics, applying the optimizer's updates. */
  private async trainStep(): Promise<T.CompiledFunction<T.NDArray[]>> {
    const params = this.trainableWeights;
    const same = params.length === this.trainedWeights.length && params.every((p, i) => p === this.trainedWeights[i]);
    if (this.trainFn && same) return this.trainFn;
    const c = this.requireCompiled();
    const { x, y } = this.forward(true);
    const stateUpdates = this.layers.flatMap((l) => l.takeUpdates());
    const target = this.targetInput();
    const weights = T.vector('sampleWeight');
    const { loss, metrics } = this.objective(y, target, weights);
    const grads = params.length ? T.grad(loss, params) : [];
    this.trainFn = await T.compile([x, target, weights], [loss, ...metrics], {
      updates: [...(params.length ? c.optimizer.updates(params, grads) : []), ...stateUpdates],
    });
    this.trainedWeights = params;
    return this.trainFn;
  }

  /** One update on one batch: the optimizer sets this step's rate, then the training step runs. */
  private update(train: T.CompiledFunction<T.NDArray[]>, x: T.NDArray, y: T.NDArray, weights: T.NDArray): T.NDArray[] {
    this.requireCompiled().optimizer.beforeStep();
    return train(x, y, weights);
  }

  /** Each sample's weight for fit: its sampleWeight times its class's weight (1 where neither is given). */
  private sampleWeights(y: T.NDArray, args: Pick<FitArgs, 'classWeight' | 'sampleWeight'>): T.NDArray {
    const n = y.shape[0]!;
    const weights = new Float32Array(n).fill(1);
    if (args.sampleWeight !== undefined) {
      const given = asArray(args.sampleWeight, 'fit sampleWeight');
      if (given.size !== n) throw new ShapeError(`fit: sampleWeight has ${given.size} values, the data ${n} samples`);
      checkFinite(given, 'fit sampleWeight');
      given.data.forEach((w, i) => (weights[i] = w));
    }
    if (args.classWeight !== undefined) {
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
  getLayer(which: string | number): Layer {
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
  async trainOnBatch(xIn: T.ArrayValue, yIn: T.ArrayValue): Promise<number | number[]> {
    this.checkNotDisposed('trainOnBatch');
    const [x, y] = this.trainingData(xIn, yIn, 'trainOnBatch');
    const train = await this.trainStep();
    const values = this.update(train, x, y, this.sampleWeights(y, {})).map((r) => r.item());
    return values.length === 1 ? values[0]! : values;
  }

  /** Loss (and metrics) on one batch, in inference mode. */
  async testOnBatch(xIn: T.ArrayValue, yIn: T.ArrayValue): Promise<number | number[]> {
    this.checkNotDisposed('testOnBatch');
    const [x, y] = this.trainingData(xIn, yIn, 'testOnBatch');
    const values = await this.evaluateArrays(x, y, x.shape[0]!);
    return values.length === 1 ? values[0]! : values;
  }

  /** Outputs for one batch. */
  async predictOnBatch(x: T.ArrayValue): Promise<T.NDArray> {
    return this.predict(x);
  }

  /** Trains for `epochs`, returning the History of loss and metrics per epoch. */
  async fit(xIn: T.ArrayValue, yIn: T.ArrayValue, args: FitArgs = {}): Promise<History> {
    this.checkNotDisposed('fit');
    checkOptions('fit', args, FIT_OPTIONS);
    const { epochs = 1, batchSize = 32, shuffle = true, verbose = 1, callbacks = [] } = args;
    let [x, y] = this.trainingData(xIn, yIn, 'fit');
    let weights = this.sampleWeights(y, args);
    let validation: [T.NDArray, T.NDArray] | undefined;
    if (args.validationData)
      validation = this.trainingData(args.validationData[0], args.validationData[1], 'fit validationData');
    else if (args.validationSplit) {
      // Keras takes the last samples, before shuffling.
      const n = x.shape[0]!;
      const split = Math.floor(n * (1 - args.validationSplit));
      if (split === 0 || split === n)
        throw new ConfigError(
          `fit: validationSplit ${args.validationSplit} of ${n} samples leaves ${split === 0 ? 'none to train on' : 'none to validate on'}`,
        );
      const all = Array.from({ length: n }, (_, i) => i);
      validation = [takeRows(x, all.slice(split)), takeRows(y, all.slice(split))];
      [x, y, weights] = [x, y, weights].map((a) => takeRows(a, all.slice(0, split))) as [
        T.NDArray,
        T.NDArray,
        T.NDArray,
      ];
    }
    const train = await this.trainStep();
    const names = ['loss', ...this.requireCompiled().metrics.map((m) => m.name)];
    for (const cb of callbacks) cb.setModel?.(this);
    for (const cb of callbacks) await cb.onTrainBegin?.();
    const history = new History();
    const rng = new Random(args.seed ?? 1);
    const n = x.shape[0]!;
    const steps = Math.ceil(n / batchSize);
    for (let epoch = 0; epoch < epochs; epoch++) {
      for (const cb of callbacks) await cb.onEpochBegin?.(epoch);
      const order = Array.from({ length: n }, (_, i) => i);
      if (shuffle) {
        for (let i = n - 1; i > 0; i--) {
          const j = Math.floor(rng.uniform() * (i + 1));
          [order[i], order[j]] = [order[j]!, order[i]!];
        }
      }
      const bar = verbose ? new ProgressBar(steps, `Epoch ${epoch + 1}/${epochs}`) : undefined;
      const sums = names.map(() => 0);
      let seen = 0;
      for (let s = 0; s < steps; s++) {
        const idx = order.slice(s * batchSize, (s + 1) * batchSize);
        const results = this.update(train, takeRows(x, idx), takeRows(y, idx), takeRows(weights, idx));
        results.forEach((r, k) => (sums[k]! += r.item() * idx.length));
        seen += idx.length;
        const logs = Object.fromEntries(names.map((name, k) => [name, sums[k]! / seen]));
        bar?.update(s + 1, logs);
        for (const cb of callbacks) await cb.onBatchEnd?.(s, logs);
        if (callbacks.some((cb) => cb.stopTraining)) break;
      }
      const logs: Record<string, number> = Object.fromEntries(names.map((name, k) => [name, sums[k]! / seen]));
      if (validation) {
        const v = await this.evaluateArrays(validation[0], validation[1], batchSize);
        names.forEach((name, k) => (logs[`val_${name}`] = v[k]!));
      }
      bar?.finish(logs);
      history.record(epoch, logs);
      for (const cb of callbacks) await cb.onEpochEnd?.(epoch, logs);
      if (callbacks.some((cb) => cb.stopTraining)) break;
    }
    for (const cb of callbacks) await cb.onTrainEnd?.(history.history);
    return history;
  }

  private async evaluateArrays(x: T.NDArray, y: T.NDArray, batchSize: number): Promise<number[]> {
    if (!this.evalFn) {
      const { x: input, y: out } = this.forward(false);
      const target = this.targetInput();
      const { loss, metrics } = this.objective(out, target);
      this.evalFn = await T.compile([input, target], [loss, ...metrics]);
    }
    const n = x.shape[0]!;
    const sums: number[] = [];
    for (let s = 0; s < n; s += batchSize) {
      const idx = Array.from({ length: Math.min(batchSize, n - s) }, (_, i) => s + i);
      this.evalFn(takeRows(x, idx), takeRows(y, idx)).forEach(
        (r, k) => (sums[k] = (sums[k] ?? 0) + r.item() * idx.length),
      );
    }
    return sums.map((v) => v / n);
  }

  /** Loss and metrics on the given data, in inference mode (dropout off). */
  async evaluate(
    x: T.ArrayValue,
    y: T.ArrayValue,
    args: { batchSize?: number; verbose?: 0 | 1 | 2 } = {},
  ): Promise<number[]> {
    this.checkNotDisposed('evaluate');
    checkOptions('evaluate', args, EVALUATE_OPTIONS);
    return this.evaluateArrays(...this.trainingData(x, y, 'evaluate'), args.batchSize ?? 32);
  }

  /** Outputs for inputs, in inference mode: all at once, or `batchSize` samples per call. */
  async predict(xIn: T.ArrayValue, args: { batchSize?: number; verbose?: 0 | 1 | 2 } = {}): Promise<T.NDArray> {
    this.checkNotDisposed('predict');
    checkOptions('predict', args, PREDICT_OPTIONS);
    const predict = await this.makePredictFunction();
    const x = asArray(xIn, 'predict x');
    const n = x.shape[0]!;
    if (args.batchSize === undefined || args.batchSize >= n) return storeRounded(predict(x));
    const parts: T.NDArray[] = [];
    for (let s = 0; s < n; s += args.batchSize)
      parts.push(
        predict(
          takeRows(
            x,
            Array.from({ length: Math.min(args.batchSize, n - s) }, (_, i) => s + i),
          ),
        ),
      );
    const out = new (parts[0]!.data.constructor as new (n: number) => T.NDArray['data'])(
      parts.reduce((t, p) => t + p.size, 0),
    );
    let offset = 0;
    for (const p of parts) {
      out.set(p.data as never, offset);
      offset += p.size;
    }
    return storeRounded(T.array(out, { shape: [n, ...parts[0]!.shape.slice(1)] }));
  }

  /** x and y as arrays with as many samples, finite, and (for sparse crossentropy) labels that are class indices. */
  private trainingData(xIn: T.ArrayValue, yIn: T.ArrayValue, what: string): [T.NDArray, T.NDArray] {
    const x = asArray(xIn, `${what} x`);
    const y = asArray(yIn, `${what} y`);
    if (x.shape[0] !== y.shape[0]) throw new ShapeError(`${what}: x has ${x.shape[0]} samples, y has ${y.shape[0]}`);
    checkFinite(x, `${what} x`);
    checkFinite(y, `${what} y`);
    if (snakeCase(this.requireCompiled().lossName) === 'sparse_categorical_crossentropy') {
      const classes = this.outputShape[this.outputShape.length - 1];
      if (typeof classes === 'number') checkSparseLabels(y, classes, `${what} y`);
    }
    return [x, y];
  }

  /** The time of every step of the compiled predict function on `x` (see `T.printProfile`). */
  async profilePredict(xIn: T.ArrayValue, options: { repeats?: number } = {}): Promise<T.Profile> {
    await this.predict(xIn);
    return this.predictFn!.profile(asArray(xIn, 'profilePredict x'), options);
  }

  /** The time of every step of the compiled training step on one batch (x, y); each repeat trains, as train_on_batch does. */
  async profileTrain(xIn: T.ArrayValue, yIn: T.ArrayValue, options: { repeats?: number } = {}): Promise<T.Profile> {
    this.checkNotDisposed('profileTrain');
    const [x, y] = this.trainingData(xIn, yIn, 'profileTrain');
    return (await this.trainStep()).profile(x, y, this.sampleWeights(y, {}), options);
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

  /** Writes the model as a TensorFlow.js layers model: `dir/model.json` and `dir/weights.bin` ('file://dir' also works). */
  async save(dir: string): Promise<void> {
    await saveModel(this, dir);
  }

  /** Keras-style table of layers, output shapes and parameter counts; returned and printed. */
  summary(print: (line: string) => void = console.log): string {
    this.forward(false);
    const rows = this.layers.map((l) => {
      const shape = this.layerOutputShape(l);
      return [
        `${l.name} (${l.className})`,
        `(${shape.map((d) => (d === null ? 'None' : d)).join(', ')})`,
        String(l.countParams()),
      ];
    });
    const total = this.layers.reduce((s, l) => s + l.countParams(), 0);
    const widths = [34, 26, 10];
    const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('');
    const text = [
      `Model: "${this.modelName}"`,
      '_'.repeat(70),
      line(['Layer (type)', 'Output Shape', 'Param #']),
      '='.repeat(70),
      ...rows.map(line),
      '='.repeat(70),
      `Total params: ${total}`,
      `Trainable params: ${total}`,
      'Non-trainable params: 0',
      '_'.repeat(70),
    ].join('\n');
    print(text);
    return text;
  }
}

/** A linear stack of layers. */
export class Sequential extends LayersModel {
  readonly layers: Layer[] = [];
  readonly modelName = 'sequential';
  private input?: T.Node;

  constructor(args: { layers?: readonly Layer[]; name?: string } = {}) {
    super();
    for (const l of args.layers ?? []) this.add(l);
  }

  add(layer: Layer): void {
    if (this.layers.length === 0 && !layer.batchInputShape) {
      throw new ConfigError(
        `the first layer of a sequential model needs inputShape (e.g. { inputShape: [784] }), ${layer.name} has none`,
      );
    }
    this.layers.push(layer);
    this.trainFn = this.predictFn = this.evalFn = undefined;
  }

  protected forward(training: boolean): { x: T.Node; y: T.Node } {
    this.input ??= T.tensor('input', { shape: this.layers[0]!.batchInputShape! });
    let h = this.input;
    for (const l of this.layers) h = l.apply(h, training);
    return { x: this.input, y: h };
  }

  topology(): Record<string, unknown> {
    return {
      class_name: 'Sequential',
      config: { name: 'sequential', layers: this.layers.map((l, i) => layerEntry(l, i === 0)) },
      keras_version: 'tsano',
      backend: 'tsano',
    };
  }

  protected layerOutputShape(layer: Layer): Shape {
    let s: Shape = this.layers[0]!.batchInputShape!;
    for (const l of this.layers) {
      s = l.computeOutputShape(s);
      if (l === layer) break;
    }
    return s;
  }
}

/** A model from a graph of layer calls: `keras.model({ inputs, outputs })` (one input, one output). */
export class Functional extends LayersModel {
  readonly layers: Layer[];
  readonly modelName = 'model';
  private readonly shapes = new Map<Layer, Shape>();

  constructor(
    private readonly input: T.Node,
    private readonly output: T.Node,
  ) {
    super();
    const order: Layer[] = [];
    const visit = (n: T.Node) => {
      const call = CALLS.get(n);
      if (!call) {
        if (n !== input)
          throw new ConfigError(
            `keras.model: the outputs depend on ${n.name ?? 'a tensor'} that is neither the input nor a layer's output`,
          );
        return;
      }
      call.inputs.forEach(visit);
      if (!order.includes(call.layer)) order.push(call.layer);
      this.shapes.set(call.layer, n.shape);
    };
    visit(output);
    this.layers = order;
  }

  /** Replays the recorded layer calls, so training mode reaches dropout and batch normalization. */
  protected forward(training: boolean): { x: T.Node; y: T.Node } {
    const memo = new Map<T.Node, T.Node>([[this.input, this.input]]);
    const rebuild = (n: T.Node): T.Node => {
      const done = memo.get(n);
      if (done) return done;
      const call = CALLS.get(n)!;
      const inputs = call.inputs.map(rebuild);
      const out = call.layer.apply(inputs.length === 1 ? inputs[0]! : inputs, training);
      memo.set(n, out);
      return out;
    };
    return { x: this.input, y: rebuild(this.output) };
  }

  protected layerOutputShape(layer: Layer): Shape {
    return this.shapes.get(layer) ?? [];
  }

  /** An InputLayer, then each layer with the names of the layers it reads. */
  topology(): Record<string, unknown> {
    const names = new Map<T.Node, string>([[this.input, this.input.name ?? 'input']]);
    const inputName = names.get(this.input);
    const layers: Record<string, unknown>[] = [
      {
        class_name: 'InputLayer',
        name: inputName,
        config: { name: inputName, batch_input_shape: this.input.shape, dtype: 'float32' },
        inbound_nodes: [],
      },
    ];
    const visit = (n: T.Node) => {
      if (names.has(n)) return;
      const call = CALLS.get(n)!;
      call.inputs.forEach(visit);
      names.set(n, call.layer.name);
      layers.push({
        ...layerEntry(call.layer, false),
        name: call.layer.name,
        inbound_nodes: [call.inputs.map((i) => [names.get(i), 0, 0, {}])],
      });
    };
    visit(this.output);
    return {
      class_name: 'Model',
      config: {
        name: 'model',
        layers,
        input_layers: [[inputName, 0, 0]],
        output_layers: [[names.get(this.output), 0, 0]],
      },
      keras_version: 'tsano',
      backend: 'tsano',
    };
  }

  get inputNode(): T.Node {
    return this.input;
  }
  get outputNode(): T.Node {
    return this.output;
  }
}
