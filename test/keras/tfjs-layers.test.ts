import { readFileSync, writeFileSync } from 'node:fs';
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

  it('sequence layers: Conv1D (valid, same, causal and dilated), 1-D pooling; noise layers are the identity at inference', async () => {
    for (const [padding, dilationRate] of [
      ['valid', 1],
      ['same', 2],
    ] as const)
      await roundTrip(
        tfl.sequential({
          layers: [
            tfl.layers.conv1d({
              filters: 3,
              kernelSize: 3,
              padding,
              dilationRate,
              activation: 'tanh',
              inputShape: [9, 2],
            }),
            tfl.layers.gaussianNoise({ stddev: 0.5 }),
            tfl.layers.spatialDropout1d({ rate: 0.4 }),
            tfl.layers.maxPooling1d({ poolSize: 2 }),
            tfl.layers.conv1d({ filters: 2, kernelSize: 2, strides: 2 }),
            tfl.layers.averagePooling1d({ poolSize: 2, strides: 1, padding: 'same' }),
          ],
        }),
        [3, 9, 2],
        6,
      );
  });

  it('Conv1D with causal padding (TensorFlow.js has none): valid convolution of the input with zeros before it', async () => {
    const [steps, reach] = [9, 4];
    const model = tfl.sequential({
      layers: [tfl.layers.conv1d({ filters: 3, kernelSize: 3, dilationRate: 2, inputShape: [steps + reach, 2] })],
    });
    randomizeWeights(model, 7);
    const file = await saveWithTfjs(model);
    const json = JSON.parse(readFileSync(file, 'utf8'));
    const layer = json.modelTopology.config.layers[0].config;
    layer.padding = 'causal';
    layer.batch_input_shape = [null, steps, 2];
    writeFileSync(file, JSON.stringify(json));
    const causal = await keras.models.loadModel(file);
    const x = seededInput([2, steps, 2], 8);
    const padded = new Float32Array(2 * (steps + reach) * 2);
    for (let n = 0; n < 2; n++)
      padded.set(x.subarray(n * steps * 2, (n + 1) * steps * 2), (n * (steps + reach) + reach) * 2);
    const theirs = (model.predict(tf.tensor(padded, [2, steps + reach, 2])) as tf.Tensor).dataSync();
    const ours = (await causal.predict(T.array(x, { shape: [2, steps, 2] }))).data;
    expect(ours.length).toBe(theirs.length);
    ours.forEach((v, i) => expect(Math.abs(v - theirs[i]!)).toBeLessThan(1e-5));
  });

  it('DepthwiseConv2D, SeparableConv2D and Conv2DTranspose (valid and same, strided)', async () => {
    await roundTrip(
      tfl.sequential({
        layers: [
          tfl.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, inputShape: [7, 6, 3], padding: 'same' }),
          // TF.js leaves depth_multiplier out of a SeparableConv2D's saved config: its default of 1 here.
          tfl.layers.separableConv2d({ filters: 4, kernelSize: 2, strides: 2 }),
          tfl.layers.conv2dTranspose({ filters: 3, kernelSize: 3, strides: 2, activation: 'relu' }),
          tfl.layers.conv2dTranspose({ filters: 2, kernelSize: 2, strides: 2, padding: 'same' }),
        ],
      }),
      [2, 7, 6, 3],
      10,
    );
  });

  it('Dot of matrices and of sequences, plain and normalized', async () => {
    const x = tfl.input({ shape: [4] });
    const [a, b] = [1, 2].map(() => tfl.layers.dense({ units: 3 }).apply(x) as tfl.SymbolicTensor);
    const flat = tfl.layers.dot({ axes: 1 }).apply([a!, b!]) as tfl.SymbolicTensor;
    await roundTrip(tfl.model({ inputs: x, outputs: flat }), [5, 4], 11);
    const s = tfl.input({ shape: [3, 4] });
    const [p, q] = [1, 2].map(() => tfl.layers.dense({ units: 2 }).apply(s) as tfl.SymbolicTensor);
    const cosine = tfl.layers.dot({ axes: [2, 2], normalize: true }).apply([p!, q!]) as tfl.SymbolicTensor;
    await roundTrip(tfl.model({ inputs: s, outputs: cosine }), [2, 3, 4], 12);
    const across = tfl.layers.dot({ axes: [1, 1] }).apply([p!, q!]) as tfl.SymbolicTensor;
    await roundTrip(tfl.model({ inputs: s, outputs: across }), [2, 3, 4], 13);
  });

  it('Masking zeroes the steps whose every channel is the mask value', async () => {
    const model = tfl.sequential({
      layers: [tfl.layers.masking({ maskValue: 0.5, inputShape: [6, 3] }), tfl.layers.dense({ units: 2 })],
    });
    randomizeWeights(model, 14);
    const loaded = await keras.models.loadModel(await saveWithTfjs(model));
    const x = seededInput([2, 6, 3], 15);
    // Steps 1 and 4 of the first sample, and step 2 of the second, are all mask values.
    for (const step of [1, 4, 8]) x.fill(0.5, step * 3, step * 3 + 3);
    x[5 * 3 + 1] = 0.5; // one channel only: not masked
    await expectSamePredictions(model, loaded, x, [2, 6, 3]);
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
  it('GaussianNoise adds noise of its deviation while training; SpatialDropout drops whole channels', async () => {
    const x = T.zeros([64, 50, 4]);
    const input = T.tensor('x', { shape: [null, 50, 4] });
    const f = await T.compile([input], [keras.layers.gaussianNoise({ stddev: 2 }).apply(input, true)]);
    const [sample] = f(x) as T.NDArray[];
    const values = Array.from(sample!.data);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
    expect(Math.abs(mean)).toBeLessThan(0.05);
    expect(Math.abs(sd - 2)).toBeLessThan(0.05);

    const ones = T.ones([16, 10, 8]);
    const sequence = T.tensor('s', { shape: [null, 10, 8] });
    const g = await T.compile([sequence], [keras.layers.spatialDropout1d({ rate: 0.5 }).apply(sequence, true)]);
    const [dropped] = g(ones) as T.NDArray[];
    const d = dropped!.data;
    let kept = 0;
    for (let n = 0; n < 16; n++)
      for (let c = 0; c < 8; c++) {
        const column = Array.from({ length: 10 }, (_, t) => d[(n * 10 + t) * 8 + c]!);
        expect(new Set(column).size, 'one decision per sample and channel').toBe(1);
        expect([0, 2]).toContain(column[0]);
        kept += column[0] === 2 ? 1 : 0;
      }
    expect(kept).toBeGreaterThan(30);
    expect(kept).toBeLessThan(98);
  });

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
