import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import * as keras from 'tsano/keras';

/**
 * The training and prediction functions of the usual model kinds run entirely in wasm (no step does
 * work on the reference kernels), and every call after the first of its shape is one call into the
 * module.
 */

const rows = 64;
const classes = 4;
const labels = Array.from({ length: rows }, (_, i) => (i * 7) % classes);
const oneHot = T.array(labels.map((l) => Array.from({ length: classes }, (_, c) => (c === l ? 1 : 0))));

/** A small convnet on images of `inputShape` in `dataFormat`, with its data. */
const cnn = (dataFormat: 'channelsLast' | 'channelsFirst', inputShape: number[], seed: number) => ({
  model: keras.sequential({
    layers: [
      keras.layers.conv2d({ filters: 8, kernelSize: 3, activation: 'relu', inputShape, dataFormat }),
      keras.layers.maxPooling2d({ poolSize: 2, dataFormat }),
      keras.layers.flatten(),
      keras.layers.dense({ units: classes, activation: 'softmax' }),
    ],
  }),
  x: T.randomNormal([rows, ...inputShape], { seed }),
  y: oneHot,
  loss: 'categorical_crossentropy',
});

const MODELS: Record<string, () => { model: keras.Sequential; x: T.NDArray; y: T.NDArray; loss: string }> = {
  'MLP with dropout': () => ({
    model: keras.sequential({
      layers: [
        keras.layers.dense({ units: 32, activation: 'relu', inputShape: [20] }),
        keras.layers.dropout({ rate: 0.25, seed: 5 }),
        keras.layers.dense({ units: classes, activation: 'softmax' }),
      ],
    }),
    x: T.randomNormal([rows, 20], { seed: 1 }),
    y: oneHot,
    loss: 'categorical_crossentropy',
  }),
  CNN: () => cnn('channelsLast', [12, 12, 1], 2),
  'CNN, channels first': () => cnn('channelsFirst', [1, 12, 12], 4),
  'embedding with sparse labels': () => ({
    model: keras.sequential({
      layers: [
        keras.layers.embedding({ inputDim: 30, outputDim: 8, inputShape: [6] }),
        keras.layers.flatten(),
        keras.layers.dense({ units: classes, activation: 'softmax' }),
      ],
    }),
    x: T.array(
      Int32Array.from({ length: rows * 6 }, (_, i) => (i * 13) % 30),
      { shape: [rows, 6] },
    ).astype('float32'),
    y: T.array(Float32Array.from(labels)),
    loss: 'sparse_categorical_crossentropy',
  }),
  'batch normalization': () => ({
    model: keras.sequential({
      layers: [
        keras.layers.dense({ units: 16, inputShape: [10] }),
        keras.layers.batchNormalization(),
        keras.layers.activation({ activation: 'tanh' }),
        keras.layers.dense({ units: classes, activation: 'softmax' }),
      ],
    }),
    x: T.randomNormal([rows, 10], { seed: 3 }),
    y: oneHot,
    loss: 'categorical_crossentropy',
  }),
};

describe('Keras models run whole in wasm, one call into the module per call', () => {
  for (const [name, make] of Object.entries(MODELS)) {
    it(name, async () => {
      const { model, x, y, loss } = make();
      model.compile({ optimizer: 'adam', loss, metrics: ['accuracy'] });
      // Batches of 16: four calls of one shape per epoch.
      await model.fit(x, y, { epochs: 2, batchSize: 16, verbose: 0 });
      const train = model.trainFunction!;
      expect(train.stats.referenceSteps).toBe(0);
      expect(train.stats.referenceFallbacks ?? 0).toBe(0);
      const entries = train.stats.wasmEntries!;
      await model.fit(x, y, { epochs: 1, batchSize: 16, verbose: 0 });
      expect(train.stats.wasmEntries! - entries).toBe(rows / 16);

      const first = await model.predict(x);
      const predict = model.predictFunction!;
      expect(predict.stats.referenceSteps).toBe(0);
      const before = predict.stats.wasmEntries!;
      const again = await model.predict(x);
      expect(predict.stats.wasmEntries! - before).toBe(1);
      expect(Array.from(again.data)).toEqual(Array.from(first.data));
      expect(predict.stats.referenceFallbacks ?? 0).toBe(0);
    });
  }
});
