/**
 * TensorFlow.js examples, each written once against TF.js's API and run twice: with `tsano/tf` and with
 * TensorFlow.js itself (@tensorflow/tfjs-core and tfjs-layers, the packages the `@tensorflow/tfjs`
 * bundle re-exports). The only line a user changes is the import. The harness adds one hook: after the
 * example builds its model, tsano's copy gets TF.js's initial weights, so the two trainings start alike.
 *
 * Data sets are small enough for one batch: both libraries shuffle each epoch with their own generators,
 * and one batch makes the shuffle irrelevant.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tfc from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
// What the @tensorflow/tfjs bundle does: tensors get their chained methods (x.argMax(-1)).
import '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops.js';
import * as ours from 'tsano/tf';
import { loadMnist } from '../src/demo/mnist-data.js';

type Tf = typeof ours;
const theirs = { ...tfc, ...tfl } as unknown as Tf;

beforeAll(async () => {
  await tfc.setBackend('cpu');
});

/**
 * The harness's hook: both models start from the same weights, drawn from a fixed seed in the
 * initializers' range, biases zero as theirs are (TF.js draws its own from an unseeded generator, and a flower whose two best
 * classes are nearly tied would then flip between runs).
 */
type AnyModel = { getWeights(): { shape: number[] }[]; setWeights(w: unknown[]): void };
function sameStart(tf: Tf, model: AnyModel): void {
  let seed = 12345;
  const rand = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const weights = model.getWeights().map((w) => {
    const size = w.shape.reduce((a, b) => a * b, 1);
    const fanIn = w.shape.length > 1 ? size / w.shape[w.shape.length - 1]! : size;
    const limit = w.shape.length > 1 ? Math.sqrt(3 / fanIn) : 0;
    return tf.tensor(
      Float32Array.from({ length: size }, () => (rand() * 2 - 1) * limit),
      w.shape,
    );
  });
  model.setWeights(weights);
}

/** The "Getting started" example: fit y = 2x - 1 with one dense unit and SGD. */
async function linearRegression(tf: Tf) {
  const model = tf.sequential();
  model.add(tf.layers.dense({ units: 1, inputShape: [1] }));
  model.compile({ loss: 'meanSquaredError', optimizer: 'sgd' });
  sameStart(tf, model as unknown as AnyModel);
  const xs = tf.tensor2d([-1, 0, 1, 2, 3, 4], [6, 1]);
  const ys = tf.tensor2d([-3, -1, 1, 3, 5, 7], [6, 1]);
  const history = await model.fit(xs, ys, { epochs: 100, verbose: 0 });
  const prediction = (model.predict(tf.tensor2d([20], [1, 1])) as ours.Tensor).dataSync();
  return { losses: history.history['loss'] as number[], prediction: Array.from(prediction) };
}

/** Three species from four measurements (tfjs-examples/iris: its model, optimizer, loss and fit call). */
async function iris(tf: Tf, data: { x: number[][]; y: number[] }) {
  const xTrain = tf.tensor2d(data.x, [data.x.length, 4]);
  const yTrain = tf.oneHot(tf.tensor1d(data.y, 'int32'), 3);
  const model = tf.sequential();
  model.add(tf.layers.dense({ units: 10, activation: 'sigmoid', inputShape: [xTrain.shape[1]!] }));
  model.add(tf.layers.dense({ units: 3, activation: 'softmax' }));
  model.summary(undefined, undefined, () => {});
  const optimizer = tf.train.adam(0.01);
  model.compile({ optimizer, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  sameStart(tf, model as unknown as AnyModel);
  const seen: number[] = [];
  const history = await model.fit(xTrain, yTrain, {
    epochs: 40,
    validationData: [xTrain, yTrain],
    verbose: 0,
    callbacks: {
      onEpochEnd: async (epoch: number, logs?: Record<string, number>) => {
        seen.push(logs!['val_loss']!);
      },
    },
  });
  const predicted = (model.predict(xTrain) as ours.Tensor).argMax(-1).dataSync();
  return {
    losses: history.history['loss'] as number[],
    accuracy: history.history['acc'] as number[],
    validation: seen,
    predicted: Array.from(predicted),
  };
}

/** The functional API: two branches of one input, concatenated, with a named output. */
async function functional(tf: Tf) {
  const input = tf.input({ shape: [3] });
  const dense1 = tf.layers.dense({ units: 8, activation: 'relu' }).apply(input) as ours.SymbolicTensor;
  const dense2 = tf.layers.dense({ units: 4, activation: 'tanh' }).apply(input) as ours.SymbolicTensor;
  const merged = tf.layers.concatenate().apply([dense1, dense2] as never) as ours.SymbolicTensor;
  const output = tf.layers.dense({ units: 1, name: 'price' }).apply(merged) as ours.SymbolicTensor;
  const model = tf.model({ inputs: input as never, outputs: output as never });
  model.compile({ optimizer: tf.train.sgd(0.05), loss: 'meanSquaredError' });
  sameStart(tf, model as unknown as AnyModel);
  const xs = tf.tensor2d([0.1, 0.5, -0.3, 1.2, -0.7, 0.4, 0.9, 0.2, -1.1, -0.5, 0.8, 0.3, 0.0, -0.2, 0.6], [5, 3]);
  const ys = tf.tensor2d([0.5, 1.0, -0.4, 0.3, 0.7], [5, 1]);
  const history = await model.fit(xs, ys, { epochs: 30, batchSize: 5, verbose: 0 });
  return { losses: history.history['loss'] as number[], params: model.countParams() };
}

/** tfjs-examples/mnist-node: its model as written, evaluated (and, where asked, fitted) on digits. */
async function mnistNode(tf: Tf, digits: { images: Float32Array; labels: number[] }, fitEpochs: number) {
  const model = tf.sequential();
  model.add(tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 32, kernelSize: 3, activation: 'relu' }));
  model.add(tf.layers.conv2d({ filters: 32, kernelSize: 3, activation: 'relu' }));
  model.add(tf.layers.maxPooling2d({ poolSize: [2, 2] }));
  model.add(tf.layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu' }));
  model.add(tf.layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu' }));
  model.add(tf.layers.maxPooling2d({ poolSize: [2, 2] }));
  model.add(tf.layers.flatten());
  model.add(tf.layers.dropout({ rate: 0.25 }));
  model.add(tf.layers.dense({ units: 512, activation: 'relu' }));
  model.add(tf.layers.dropout({ rate: 0.5 }));
  model.add(tf.layers.dense({ units: 10, activation: 'softmax' }));
  const optimizer = 'rmsprop';
  model.compile({ optimizer, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  sameStart(tf, model as unknown as AnyModel);
  const count = digits.labels.length;
  const images = tf.tensor4d(digits.images, [count, 28, 28, 1]);
  const labels = tf.oneHot(tf.tensor1d(digits.labels, 'int32'), 10);
  const before = model.evaluate(images, labels) as ours.Tensor[];
  const losses: number[] = [];
  if (fitEpochs > 0) {
    const history = await model.fit(images, labels, {
      epochs: fitEpochs,
      batchSize: 32,
      validationSplit: 0.15,
      verbose: 0,
    });
    losses.push(...(history.history['loss'] as number[]));
  }
  return { evaluated: before.map((t) => t.dataSync()[0]!), params: model.countParams(), losses };
}

/** Thirty flowers of three kinds in the iris data's ranges (sepal and petal length and width, in cm). */
function flowers() {
  let seed = 7;
  const rand = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const centres = [
    [5.0, 3.4, 1.5, 0.2],
    [5.9, 2.8, 4.3, 1.3],
    [6.6, 3.0, 5.6, 2.0],
  ];
  const x: number[][] = [];
  const y: number[] = [];
  for (let i = 0; i < 30; i++) {
    const kind = i % 3;
    x.push(centres[kind]!.map((c) => c + (rand() - 0.5) * 0.8));
    y.push(kind);
  }
  return { x, y };
}

const close = (a: readonly number[], b: readonly number[], tolerance: number) => {
  expect(a.length).toBe(b.length);
  a.forEach((v, i) => expect(Math.abs(v - b[i]!)).toBeLessThan(tolerance * Math.max(1, Math.abs(b[i]!))));
};

describe('TensorFlow.js examples run unchanged on tsano/tf, side by side with TF.js', () => {
  it('linear regression: the same loss every epoch and the same prediction', async () => {
    const b = await linearRegression(theirs);
    const a = await linearRegression(ours);
    close(a.losses, b.losses, 1e-4);
    close(a.prediction, b.prediction, 1e-4);
    expect(a.prediction[0]).toBeGreaterThan(35); // 2 * 20 - 1, approached
  });

  it('iris: the same losses, accuracy and validation losses (via onEpochEnd) for 40 epochs of Adam', async () => {
    const data = flowers();
    const b = await iris(theirs, data);
    const a = await iris(ours, data);
    close(a.losses, b.losses, 1e-4);
    close(a.validation, b.validation, 1e-4);
    close(a.accuracy, b.accuracy, 1e-6);
    expect(a.predicted).toEqual(b.predicted);
  });

  it('mnist-node: the same parameters and evaluation; then it trains (dropout draws differ, so only tsano fits)', async () => {
    const { xTrain, yTrain } = loadMnist();
    // Every 20th digit: all ten classes (the set is sorted by class).
    const rows = Array.from({ length: 200 }, (_, i) => i * 20);
    const images = new Float32Array(rows.length * 784);
    rows.forEach((r, i) => images.set(xTrain.data.subarray(r * 784, (r + 1) * 784) as Float32Array, i * 784));
    const labels = rows.map((r) => Array.from(yTrain.data.subarray(r * 10, (r + 1) * 10)).indexOf(1));
    const b = await mnistNode(theirs, { images: images.subarray(0, 64 * 784), labels: labels.slice(0, 64) }, 0);
    const a = await mnistNode(ours, { images: images.subarray(0, 64 * 784), labels: labels.slice(0, 64) }, 0);
    expect(a.params).toBe(b.params);
    close(a.evaluated, b.evaluated, 1e-4);
    const trained = await mnistNode(ours, { images, labels }, 3);
    expect(trained.losses[2]).toBeLessThan(trained.losses[0]!);
  }, 60_000);

  it('the functional API: the same parameter count and losses', async () => {
    const b = await functional(theirs);
    const a = await functional(ours);
    expect(a.params).toBe(b.params);
    close(a.losses, b.losses, 1e-4);
  });
});
