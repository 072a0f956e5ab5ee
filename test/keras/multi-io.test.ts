import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import * as T from 'tsano';
import * as keras from 'tsano/keras';
import { saveWithTfjs, seededInput } from '../helpers/tfjs.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const ROWS = 12;
const xa = seededInput([ROWS, 4], 11);
const xb = seededInput([ROWS, 3], 12);
/** One-hot classes and a regression target, derived from the inputs so training has something to learn. */
const yClass = new Float32Array(ROWS * 3);
const yValue = new Float32Array(ROWS);
for (let i = 0; i < ROWS; i++) {
  yClass[i * 3 + (xa[i * 4]! > 0 ? 0 : xb[i * 3]! > 0 ? 1 : 2)] = 1;
  yValue[i] = xa[i * 4 + 1]! - 0.5 * xb[i * 3 + 2]!;
}

/** Two inputs, a shared trunk, two heads: TF.js's functional API. */
function tfjsModel(): tfl.LayersModel {
  const a = tfl.input({ shape: [4], name: 'a' });
  const b = tfl.input({ shape: [3], name: 'b' });
  const merged = tfl.layers.concatenate({ name: 'merged' }).apply([a, b]) as tfl.SymbolicTensor;
  const trunk = tfl.layers.dense({ units: 5, activation: 'tanh', name: 'trunk' }).apply(merged) as tfl.SymbolicTensor;
  const cls = tfl.layers.dense({ units: 3, activation: 'softmax', name: 'cls' }).apply(trunk) as tfl.SymbolicTensor;
  const value = tfl.layers.dense({ units: 1, name: 'value' }).apply(trunk) as tfl.SymbolicTensor;
  return tfl.model({ inputs: [a, b], outputs: [cls, value] });
}

/** The same model with tsano's functional API. */
function tsanoModel() {
  const a = keras.input({ shape: [4], name: 'a' });
  const b = keras.input({ shape: [3], name: 'b' });
  const merged = keras.layers.concatenate({ name: 'merged' }).apply([a, b]);
  const trunk = keras.layers.dense({ units: 5, activation: 'tanh', name: 'trunk' }).apply(merged);
  const cls = keras.layers.dense({ units: 3, activation: 'softmax', name: 'cls' }).apply(trunk);
  const value = keras.layers.dense({ units: 1, name: 'value' }).apply(trunk);
  return keras.model({ inputs: [a, b], outputs: [cls, value] });
}

const close = (ours: ArrayLike<number>, theirs: ArrayLike<number>, tolerance: number) => {
  expect(ours.length).toBe(theirs.length);
  for (let i = 0; i < ours.length; i++)
    expect(Math.abs(ours[i]! - theirs[i]!)).toBeLessThan(tolerance * Math.max(1, Math.abs(theirs[i]!)));
};

describe('models with several inputs and outputs', () => {
  it('a TF.js-saved two-input, two-output model loads and predicts as TF.js does', async () => {
    const theirs = tfjsModel();
    const loaded = await keras.loadModel<T.NDArray[]>(await saveWithTfjs(theirs));
    expect(loaded.inputNames).toEqual(['a', 'b']);
    expect(loaded.outputNames).toEqual(['cls', 'value']);
    const expected = theirs.predict([tf.tensor(xa, [ROWS, 4]), tf.tensor(xb, [ROWS, 3])]) as tf.Tensor[];
    const ours = loaded.predict([T.array(xa, { shape: [ROWS, 4] }), T.array(xb, { shape: [ROWS, 3] })]);
    expect(ours).toHaveLength(2);
    ours.forEach((o, k) => {
      expect(o.shape).toEqual(expected[k]!.shape);
      close(o.data, expected[k]!.dataSync(), 1e-5);
    });
  });

  // TF.js accepts lossWeights but does not apply them (its total is the plain sum), so this compares
  // without them; the test after this one checks that the total is the weighted sum.
  it('fit with targets by output name and per-output losses matches TF.js step for step', async () => {
    const theirs = tfjsModel();
    const ours = tsanoModel();
    ours.setWeights(theirs.getWeights().map((w) => T.array(w.dataSync() as Float32Array, { shape: w.shape })));
    theirs.compile({
      optimizer: tf.train.sgd(0.1),
      loss: { cls: 'categoricalCrossentropy', value: 'meanSquaredError' },
    });
    ours.compile({
      optimizer: keras.optimizers.sgd({ learningRate: 0.1 }),
      loss: { cls: 'categoricalCrossentropy', value: 'meanSquaredError' },
    });
    const their = await theirs.fit(
      [tf.tensor(xa, [ROWS, 4]), tf.tensor(xb, [ROWS, 3])],
      [tf.tensor(yClass, [ROWS, 3]), tf.tensor(yValue, [ROWS, 1])],
      { epochs: 3, batchSize: ROWS, shuffle: false, verbose: 0 },
    );
    const our = await ours.fit(
      { a: T.array(xa, { shape: [ROWS, 4] }), b: T.array(xb, { shape: [ROWS, 3] }) },
      { value: T.array(yValue, { shape: [ROWS, 1] }), cls: T.array(yClass, { shape: [ROWS, 3] }) },
      { epochs: 3, batchSize: ROWS, shuffle: false, verbose: 0 },
    );
    for (const key of ['loss', 'cls_loss', 'value_loss']) {
      expect(our.history[key], key).toBeDefined();
      close(our.history[key]!, their.history[key] as number[], 1e-4);
    }
    const weightsAfter = theirs.getWeights();
    ours.getWeights().forEach((w, i) => close(w.data, weightsAfter[i]!.dataSync(), 1e-4));
  });

  it('the total loss is the weighted sum of the outputs losses, and metrics are named per output', async () => {
    const model = tsanoModel();
    model.compile({
      optimizer: 'sgd',
      loss: ['categoricalCrossentropy', 'mse'],
      lossWeights: [2, 0.25],
      metrics: { cls: ['accuracy'], value: 'mae' },
    });
    expect(model.metricsNames).toEqual(['loss', 'cls_loss', 'value_loss', 'cls_accuracy', 'value_mae']);
    const x = [T.array(xa, { shape: [ROWS, 4] }), T.array(xb, { shape: [ROWS, 3] })];
    const y = [T.array(yClass, { shape: [ROWS, 3] }), T.array(yValue, { shape: [ROWS, 1] })];
    const [loss, clsLoss, valueLoss, accuracy, mae] = model.evaluate(x, y, { batchSize: 5 });
    expect(loss).toBeCloseTo(2 * clsLoss! + 0.25 * valueLoss!, 5);
    // The metrics and losses from the predictions, computed here in plain arithmetic.
    const [p, v] = model.predict(x);
    let ce = 0;
    let hits = 0;
    let se = 0;
    let ae = 0;
    for (let i = 0; i < ROWS; i++) {
      const row = Array.from(p!.data.subarray(i * 3, i * 3 + 3));
      const label = Array.from(yClass.subarray(i * 3, i * 3 + 3)).indexOf(1);
      ce -= Math.log(row[label]!);
      hits += row.indexOf(Math.max(...row)) === label ? 1 : 0;
      se += (v!.data[i]! - yValue[i]!) ** 2;
      ae += Math.abs(v!.data[i]! - yValue[i]!);
    }
    expect(clsLoss).toBeCloseTo(ce / ROWS, 4);
    expect(valueLoss).toBeCloseTo(se / ROWS, 4);
    expect(accuracy).toBeCloseTo(hits / ROWS, 5);
    expect(mae).toBeCloseTo(ae / ROWS, 4);
  });

  it('an output weighted 0 in lossWeights does not train its head', async () => {
    const model = tsanoModel();
    model.compile({ optimizer: 'sgd', loss: ['categoricalCrossentropy', 'mse'], lossWeights: { cls: 0, value: 1 } });
    const head = () =>
      model
        .getLayer('cls')
        .getWeights()
        .map((w) => Array.from(w.data));
    const trunk = () =>
      model
        .getLayer('trunk')
        .getWeights()
        .map((w) => Array.from(w.data));
    const [headBefore, trunkBefore] = [head(), trunk()];
    const x = [T.array(xa, { shape: [ROWS, 4] }), T.array(xb, { shape: [ROWS, 3] })];
    const y = [T.array(yClass, { shape: [ROWS, 3] }), T.array(yValue, { shape: [ROWS, 1] })];
    await model.fit(x, y, { epochs: 2, verbose: 0 });
    expect(head()).toEqual(headBefore);
    expect(trunk()).not.toEqual(trunkBefore);
  });

  it('inputs as a list or by name give the same predictions, in batches or at once', () => {
    const model = tsanoModel();
    const a = T.array(xa, { shape: [ROWS, 4] });
    const b = T.array(xb, { shape: [ROWS, 3] });
    const byList = model.predict([a, b]);
    const byName = model.predict({ b, a }, { batchSize: 5 });
    byList.forEach((o, k) => expect(Array.from(byName[k]!.data)).toEqual(Array.from(o.data)));
  });

  it('saves and loads with both inputs and outputs in order', async () => {
    const model = tsanoModel();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tsano-multi-io-'));
    await model.save(dir);
    const loaded = await keras.loadModel<T.NDArray[]>(path.join(dir, 'model.json'));
    expect(loaded.inputNames).toEqual(['a', 'b']);
    expect(loaded.outputNames).toEqual(['cls', 'value']);
    const x = [T.array(xa, { shape: [ROWS, 4] }), T.array(xb, { shape: [ROWS, 3] })];
    const before = model.predict(x);
    loaded.predict(x).forEach((o, k) => expect(Array.from(o.data)).toEqual(Array.from(before[k]!.data)));
  });

  it('a model built with one output in a list predicts a list; with one tensor, a tensor', () => {
    const x = keras.input({ shape: [2] });
    const y = keras.layers.dense({ units: 1 }).apply(x);
    const listed = keras.model({ inputs: x, outputs: [y] });
    const single = keras.model({ inputs: x, outputs: y });
    const data = T.array([[1, 2]]);
    expect(Array.isArray(listed.predict(data))).toBe(true);
    expect(single.predict(data)).toBeInstanceOf(T.NDArray);
  });

  it('data that does not fit the model is an error naming the inputs or outputs', async () => {
    const model = tsanoModel();
    model.compile({ optimizer: 'sgd', loss: ['categoricalCrossentropy', 'mse'] });
    const a = T.array(xa, { shape: [ROWS, 4] });
    const b = T.array(xb, { shape: [ROWS, 3] });
    const y = [T.array(yClass, { shape: [ROWS, 3] }), T.array(yValue, { shape: [ROWS, 1] })];
    expect(() => model.predict(a)).toThrow(/the model has 2 inputs \(a, b\)/);
    expect(() => model.predict([a, b, a])).toThrow(/the model has 2 inputs \(a, b\), got 3 arrays/);
    expect(() => model.predict({ a, c: b })).toThrow(/no input named c \(its inputs: a, b\)/);
    expect(() => model.predict({ a })).toThrow(/no data for the input 'b'/);
    expect(() => model.predict([a, T.array(xb.subarray(0, 9), { shape: [3, 3] })])).toThrow(
      /input 'b' has 3 samples, the first input 12/,
    );
    await expect(model.fit([a, b], [y[0]!], { verbose: 0 })).rejects.toThrow(/2 outputs \(cls, value\), got 1 arrays/);
    await expect(model.fit([a, b], y, { verbose: 0, classWeight: { 0: 2 } })).rejects.toThrow(
      /classWeight applies to a model with one output/,
    );
    expect(() => model.compile({ optimizer: 'sgd', loss: ['mse'] })).toThrow(
      /loss has 1 entries for 2 outputs \(cls, value\)/,
    );
    expect(() => model.compile({ optimizer: 'sgd', loss: { cls: 'mse' } })).toThrow(
      /loss has no entry for the output 'value'/,
    );
    expect(() => model.compile({ optimizer: 'sgd', loss: { cls: 'mse', vlaue: 'mse' } })).toThrow(
      /loss names cls, vlaue, not outputs of the model/,
    );
  });

  it('layers that pass their input through (Dropout in inference, a linear Activation) are calls of their own', async () => {
    const x = keras.input({ shape: [4], name: 'x' });
    const h = keras.layers.dense({ units: 3, name: 'h' }).apply(x);
    const dropped = keras.layers.dropout({ rate: 0.5, seed: 1, name: 'drop' }).apply(h);
    const same = keras.layers.activation({ activation: 'linear', name: 'same' }).apply(h);
    const model = keras.model({
      inputs: x,
      outputs: [keras.layers.dense({ units: 2, name: 'y' }).apply(dropped), same],
    });
    expect(model.layers.map((l) => l.name)).toEqual(['h', 'drop', 'y', 'same']); // Keras's order: by depth, then as met
    model.compile({ optimizer: 'sgd', loss: ['mse', 'mse'] });
    const data = T.randomNormal([8, 4], { seed: 2 });
    await model.fit(data, [T.zeros([8, 2]), T.zeros([8, 3])], { verbose: 0 });
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tsano-pass-through-'));
    await model.save(dir);
    const loaded = await keras.loadModel<T.NDArray[]>(path.join(dir, 'model.json'));
    expect(loaded.layers.map((l) => l.className)).toEqual(['Dense', 'Dropout', 'Dense', 'Activation']);
    const [a, b] = model.predict(data);
    const [c, d] = loaded.predict(data);
    expect(Array.from(c!.data)).toEqual(Array.from(a!.data));
    expect(Array.from(d!.data)).toEqual(Array.from(b!.data));
  });

  it('keras.model rejects inputs no output depends on, and outputs that are not layer outputs', () => {
    const a = keras.input({ shape: [2], name: 'a' });
    const b = keras.input({ shape: [2], name: 'b' });
    const y = keras.layers.dense({ units: 1 }).apply(a);
    expect(() => keras.model({ inputs: [a, b], outputs: y })).toThrow(/no output depends on the input b/);
    expect(() => keras.model({ inputs: [a, keras.input({ shape: [2], name: 'a' })], outputs: y })).toThrow(
      /two inputs are named 'a'/,
    );
    expect(() => keras.model({ inputs: a, outputs: [y, a] })).toThrow(/output 1 \(a\) is not a layer's output/);
  });
});
