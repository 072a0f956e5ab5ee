import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import * as T from 'tsano';
import * as keras from 'tsano/keras';
import { expectSamePredictions, saveWithTfjs, seededInput } from '../helpers/tfjs.js';

/**
 * The layers added for Keras users, each built in TensorFlow.js, saved, loaded here, and predicting
 * the same within 1e-5 (weights randomized first, so a learned parameter is checked too).
 */

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Randomizes a TF.js model's weights (seeded), so layers whose weights start at zero are checked too. */
function randomizeWeights(model: tfl.LayersModel, seed: number): void {
  model.setWeights(model.getWeights().map((w, i) => tf.tensor(seededInput(w.shape as number[], seed + i), w.shape)));
}

async function roundTrip(model: tfl.LayersModel, inputShape: number[], seed: number): Promise<void> {
  randomizeWeights(model, seed);
  const loaded = await keras.models.loadModel(await saveWithTfjs(model));
  await expectSamePredictions(model, loaded, seededInput(inputShape, seed + 100), inputShape);
}

describe('new layers load from TensorFlow.js and predict the same', () => {
  it('activation layers: LeakyReLU, ReLU with a cap, Softmax, PReLU', () =>
    roundTrip(
      tfl.sequential({
        layers: [
          tfl.layers.dense({ units: 6, inputShape: [5] }),
          tfl.layers.leakyReLU({ alpha: 0.2 }),
          tfl.layers.dense({ units: 6 }),
          tfl.layers.prelu({}),
          tfl.layers.dense({ units: 6 }),
          tfl.layers.reLU({ maxValue: 0.5 }),
          tfl.layers.dense({ units: 4 }),
          tfl.layers.softmax({}),
        ],
      }),
      [7, 5],
      1,
    ));

  it('image layers: ZeroPadding2D, Cropping2D, UpSampling2D, GlobalMaxPooling2D', () =>
    roundTrip(
      tfl.sequential({
        layers: [
          tfl.layers.zeroPadding2d({
            padding: [
              [1, 2],
              [0, 1],
            ],
            inputShape: [5, 4, 3],
          }),
          tfl.layers.conv2d({ filters: 2, kernelSize: 2 }),
          tfl.layers.cropping2D({
            cropping: [
              [1, 0],
              [0, 1],
            ],
          }),
          tfl.layers.upSampling2d({ size: [2, 3] }),
          tfl.layers.globalMaxPooling2d({}),
        ],
      }),
      [2, 5, 4, 3],
      2,
    ));

  it('sequence layers: RepeatVector, Permute, GlobalMaxPooling1D, GlobalAveragePooling1D', async () => {
    await roundTrip(
      tfl.sequential({
        layers: [
          tfl.layers.dense({ units: 3, inputShape: [4] }),
          tfl.layers.repeatVector({ n: 5 }),
          tfl.layers.permute({ dims: [2, 1] }),
          tfl.layers.globalMaxPooling1d({}),
        ],
      }),
      [3, 4],
      3,
    );
    await roundTrip(
      tfl.sequential({
        layers: [tfl.layers.globalAveragePooling1d({ inputShape: [6, 3] }), tfl.layers.dense({ units: 2 })],
      }),
      [2, 6, 3],
      4,
    );
  });

  it('merge layers: Average, Maximum, Minimum in a functional model', async () => {
    const x = tfl.input({ shape: [4] });
    const [a, b, c] = [1, 2, 3].map(() => tfl.layers.dense({ units: 3 }).apply(x) as tfl.SymbolicTensor);
    const merged = [
      tfl.layers.average().apply([a!, b!, c!]),
      tfl.layers.maximum().apply([b!, c!]),
      tfl.layers.minimum().apply([a!, c!]),
    ] as tfl.SymbolicTensor[];
    const out = tfl.layers.concatenate().apply(merged) as tfl.SymbolicTensor;
    await roundTrip(tfl.model({ inputs: x, outputs: out }), [5, 4], 5);
  });
});

describe('new layers built in tsano', () => {
  it('Subtract (TensorFlow.js has none): the first input minus the second', async () => {
    const x = keras.input({ shape: [4] });
    const [a, b] = [1, 2].map(() => keras.layers.dense({ units: 3 }).apply(x));
    const difference = keras.model({ inputs: x, outputs: keras.layers.subtract().apply([a!, b!]) });
    const [first, second] = [a, b].map((o) => keras.model({ inputs: x, outputs: o! }));
    const v = T.randomNormal([5, 4], { seed: 9 });
    const [d, p, q] = await Promise.all([difference, first!, second!].map((m) => m.predict(v)));
    expect(Array.from(d!.data)).toEqual(Array.from(p!.data, (v, i) => Math.fround(v - q!.data[i]!)));
  });

  it('train in a model and save and load', async () => {
    const model = keras.sequential({
      layers: [
        keras.layers.zeroPadding2d({ padding: 1, inputShape: [6, 6, 1] }),
        keras.layers.conv2d({ filters: 2, kernelSize: 3 }),
        keras.layers.leakyReLU(),
        keras.layers.upSampling2d({ size: 2 }),
        keras.layers.cropping2d({ cropping: 2 }),
        keras.layers.globalMaxPooling2d(),
        keras.layers.repeatVector({ n: 3 }),
        keras.layers.permute({ dims: [2, 1] }),
        keras.layers.globalAveragePooling1d(),
        keras.layers.prelu(),
        keras.layers.dense({ units: 2 }),
        keras.layers.softmax(),
      ],
    });
    model.compile({ optimizer: 'adam', loss: 'categorical_crossentropy' });
    const x = T.randomNormal([8, 6, 6, 1], { seed: 1 });
    const y = T.array(Array.from({ length: 8 }, (_, i) => [i % 2, 1 - (i % 2)]));
    await model.fit(x, y, { epochs: 2, batchSize: 4, verbose: 0 });
    const dir = (await import('node:fs')).mkdtempSync(
      (await import('node:path')).join((await import('node:os')).tmpdir(), 'tsano-layers-'),
    );
    await model.save(dir);
    const loaded = await keras.models.loadModel(`${dir}/model.json`);
    const [a, b] = [await model.predict(x), await loaded.predict(x)];
    expect(Array.from(b.data)).toEqual(Array.from(a.data));
  });
});
