import { afterAll, beforeAll, describe, it } from 'vitest';
import * as T from 'tsano';
import * as keras from 'tsano/keras';
import { checkGradient } from '../helpers/gradcheck.js';

// Layer weights take floatx: float64 here, so finite differences are meaningful.
beforeAll(() => keras.backend.setFloatx('float64'));
afterAll(() => keras.backend.setFloatx('float32'));

const data = (shape: number[], seed: number) => ({
  shape,
  data: Array.from(T.randomNormal(shape, { seed, dtype: 'float64' }).data),
});
const through =
  (layer: { apply(x: T.Node, training?: boolean): T.Node }, training = false) =>
  ([x]: T.Node[]) =>
    layer.apply(x!, training);

describe('layer gradients match finite differences (float64)', () => {
  it('Dense with each activation', async () => {
    for (const activation of ['relu', 'sigmoid', 'tanh', 'softmax', 'elu', 'selu', 'gelu', 'softplus', 'linear']) {
      // relu/elu/selu have kinks at 0; the seed keeps inputs away from them after the kernel.
      await checkGradient([data([3, 4], 1)], through(keras.layers.dense({ units: 5, activation })));
    }
  });
  it('Conv2D, pooling and flatten', async () => {
    await checkGradient(
      [data([2, 6, 6, 2], 2)],
      through(keras.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', dataFormat: 'channelsLast' })),
    );
    await checkGradient(
      [data([2, 4, 4, 3], 3)],
      through(keras.layers.averagePooling2d({ poolSize: 2, dataFormat: 'channelsLast' })),
    );
    await checkGradient(
      [data([2, 4, 4, 3], 4)],
      through(keras.layers.maxPooling2d({ poolSize: 2, dataFormat: 'channelsLast' })),
    );
    await checkGradient(
      [data([2, 4, 4, 3], 5)],
      through(keras.layers.globalAveragePooling2d({ dataFormat: 'channelsLast' })),
    );
    await checkGradient([data([2, 3, 4], 6)], through(keras.layers.flatten()));
  });
  it('BatchNormalization (training and inference) and LayerNormalization', async () => {
    await checkGradient([data([5, 3], 7)], through(keras.layers.batchNormalization(), true));
    await checkGradient([data([5, 3], 8)], through(keras.layers.batchNormalization(), false));
    await checkGradient([data([4, 6], 9)], through(keras.layers.layerNormalization()));
  });
  it('merge layers', async () => {
    await checkGradient([data([3, 4], 10), data([3, 4], 11)], ([a, b]) => keras.layers.multiply().apply([a!, b!]));
    await checkGradient([data([3, 4], 12), data([3, 2], 13)], ([a, b]) => keras.layers.concatenate().apply([a!, b!]));
  });
});
