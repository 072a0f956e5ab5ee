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

const ROWS = 10;
const xa = seededInput([ROWS, 6], 31);
const xb = seededInput([ROWS, 6], 32);
const y = Float32Array.from({ length: ROWS }, (_, i) => (xa[i * 6]! > xb[i * 6]! ? 1 : 0));

/** A siamese model: one tower (two layer objects) called on both inputs, both embeddings, a head (TF.js has no Subtract layer). */
function tfjsSiamese(): tfl.LayersModel {
  const a = tfl.input({ shape: [6], name: 'a' });
  const b = tfl.input({ shape: [6], name: 'b' });
  const t1 = tfl.layers.dense({ units: 8, activation: 'relu', name: 'tower_1' });
  const t2 = tfl.layers.dense({ units: 4, name: 'tower_2' });
  const tower = (x: tfl.SymbolicTensor) => t2.apply(t1.apply(x)) as tfl.SymbolicTensor;
  const diff = tfl.layers.concatenate({ name: 'diff' }).apply([tower(a), tower(b)]) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 1, activation: 'sigmoid', name: 'same' }).apply(diff) as tfl.SymbolicTensor;
  return tfl.model({ inputs: [a, b], outputs: out });
}

function tsanoSiamese() {
  const a = keras.input({ shape: [6], name: 'a' });
  const b = keras.input({ shape: [6], name: 'b' });
  const t1 = keras.layers.dense({ units: 8, activation: 'relu', name: 'tower_1' });
  const t2 = keras.layers.dense({ units: 4, name: 'tower_2' });
  const tower = (x: T.Node) => t2.apply(t1.apply(x));
  const diff = keras.layers.concatenate({ name: 'diff' }).apply([tower(a), tower(b)]);
  const out = keras.layers.dense({ units: 1, activation: 'sigmoid', name: 'same' }).apply(diff);
  return keras.model({ inputs: [a, b], outputs: out });
}

const close = (ours: ArrayLike<number>, theirs: ArrayLike<number>, tolerance: number) => {
  expect(ours.length).toBe(theirs.length);
  for (let i = 0; i < ours.length; i++)
    expect(Math.abs(ours[i]! - theirs[i]!)).toBeLessThan(tolerance * Math.max(1, Math.abs(theirs[i]!)));
};

const inputs = () => [T.array(xa, { shape: [ROWS, 6] }), T.array(xb, { shape: [ROWS, 6] })];

describe('a layer called on several inputs shares its weights (siamese towers)', () => {
  it('holds each weight once, predicts and trains as TF.js does step for step', async () => {
    const theirs = tfjsSiamese();
    const ours = tsanoSiamese();
    expect(ours.layers.map((l) => l.name)).toEqual(['tower_1', 'tower_2', 'diff', 'same']);
    expect(ours.countParams()).toBe(theirs.countParams());
    ours.setWeights(theirs.getWeights().map((w) => T.array(w.dataSync() as Float32Array, { shape: w.shape })));
    const theirInputs = [tf.tensor(xa, [ROWS, 6]), tf.tensor(xb, [ROWS, 6])];
    close((ours.predict(inputs()) as T.NDArray).data, (theirs.predict(theirInputs) as tf.Tensor).dataSync(), 1e-5);
    theirs.compile({ optimizer: tf.train.sgd(0.5), loss: 'binaryCrossentropy' });
    ours.compile({ optimizer: keras.optimizers.sgd({ learningRate: 0.5 }), loss: 'binaryCrossentropy' });
    const their = await theirs.fit(theirInputs, tf.tensor(y, [ROWS, 1]), {
      epochs: 3,
      batchSize: ROWS,
      shuffle: false,
      verbose: 0,
    });
    const our = await ours.fit(inputs(), T.array(y, { shape: [ROWS, 1] }), {
      epochs: 3,
      batchSize: ROWS,
      shuffle: false,
      verbose: 0,
    });
    close(our.history['loss']!, their.history['loss'] as number[], 1e-4);
    // Each tower weight's gradient sums both calls' contributions.
    const after = theirs.getWeights();
    ours.getWeights().forEach((w, i) => close(w.data, after[i]!.dataSync(), 1e-4));
  });

  it('saves and loads with every call (Keras 3 .keras, TF.js format, and a TF.js-saved file)', async () => {
    const ours = tsanoSiamese();
    const expected = (ours.predict(inputs()) as T.NDArray).data;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tsano-shared-'));
    for (const [target, file] of [
      [path.join(dir, 'm.keras'), path.join(dir, 'm.keras')],
      [path.join(dir, 'tfjs'), path.join(dir, 'tfjs', 'model.json')],
    ]) {
      await ours.save(target!);
      const loaded = await keras.loadModel(file!);
      expect(loaded.layers.map((l) => l.name)).toEqual(['tower_1', 'tower_2', 'diff', 'same']);
      close((loaded.predict(inputs()) as T.NDArray).data, expected, 1e-6);
    }
    const theirs = tfjsSiamese();
    const loaded = await keras.loadModel(await saveWithTfjs(theirs));
    const theirInputs = [tf.tensor(xa, [ROWS, 6]), tf.tensor(xb, [ROWS, 6])];
    close((loaded.predict(inputs()) as T.NDArray).data, (theirs.predict(theirInputs) as tf.Tensor).dataSync(), 1e-5);
  });

  it('a shared layer whose later call reads a layer listed after it loads (calls wait for their inputs)', async () => {
    // shared(a) first; then shared(mid(shared(a))): the layer list names 'shared' before 'mid'.
    const a = keras.input({ shape: [3], name: 'a' });
    const shared = keras.layers.dense({ units: 3, activation: 'tanh', name: 'shared' });
    const mid = keras.layers.dense({ units: 3, name: 'mid' });
    const out = shared.apply(mid.apply(shared.apply(a)));
    const model = keras.model({ inputs: a, outputs: out });
    const x = T.array(seededInput([4, 3], 5), { shape: [4, 3] });
    const expected = (model.predict(x) as T.NDArray).data;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tsano-shared-order-'));
    await model.save(path.join(dir, 'm.keras'));
    const loaded = await keras.loadModel(path.join(dir, 'm.keras'));
    close((loaded.predict(x) as T.NDArray).data, expected, 1e-6);
  });
});
