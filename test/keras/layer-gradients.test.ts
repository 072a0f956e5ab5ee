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
  // The layers added for Keras users' everyday models, each through its input gradient.
  const unary: [string, number[], () => { apply(x: T.Node, training?: boolean): T.Node }][] = [
    [
      'Conv1D causal, dilated',
      [2, 7, 3],
      () => keras.layers.conv1d({ filters: 2, kernelSize: 2, padding: 'causal', dilationRate: 2 }),
    ],
    ['Conv1D strided', [2, 7, 3], () => keras.layers.conv1d({ filters: 2, kernelSize: 3, strides: 2 })],
    ['MaxPooling1D', [2, 6, 3], () => keras.layers.maxPooling1d({ poolSize: 2 })],
    ['AveragePooling1D', [2, 6, 3], () => keras.layers.averagePooling1d({ poolSize: 3, strides: 1 })],
    ['GlobalMaxPooling1D', [2, 5, 3], () => keras.layers.globalMaxPooling1d()],
    ['GlobalAveragePooling1D', [2, 5, 3], () => keras.layers.globalAveragePooling1d()],
    ['GlobalMaxPooling2D', [2, 3, 4, 2], () => keras.layers.globalMaxPooling2d({ dataFormat: 'channelsLast' })],
    ['UpSampling2D', [1, 2, 3, 2], () => keras.layers.upSampling2d({ size: [2, 3], dataFormat: 'channelsLast' })],
    ['ZeroPadding2D', [1, 2, 3, 2], () => keras.layers.zeroPadding2d({ padding: 1, dataFormat: 'channelsLast' })],
    [
      'Cropping2D',
      [1, 4, 5, 2],
      () =>
        keras.layers.cropping2d({
          cropping: [
            [1, 0],
            [1, 2],
          ],
          dataFormat: 'channelsLast',
        }),
    ],
    [
      'DepthwiseConv2D',
      [1, 5, 5, 2],
      () => keras.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, dataFormat: 'channelsLast' }),
    ],
    [
      'SeparableConv2D',
      [1, 5, 5, 2],
      () => keras.layers.separableConv2d({ filters: 3, kernelSize: 3, padding: 'same', dataFormat: 'channelsLast' }),
    ],
    [
      'Conv2DTranspose',
      [1, 3, 3, 2],
      () => keras.layers.conv2dTranspose({ filters: 2, kernelSize: 3, strides: 2, dataFormat: 'channelsLast' }),
    ],
    ['LeakyReLU', [3, 4], () => keras.layers.leakyReLU({ alpha: 0.2 })],
    ['PReLU', [3, 4], () => keras.layers.prelu()],
    [
      'ReLU with maxValue and threshold',
      [3, 4],
      () => keras.layers.reLU({ maxValue: 0.8, threshold: -0.3, negativeSlope: 0.1 }),
    ],
    ['Softmax', [3, 4], () => keras.layers.softmax()],
    ['RepeatVector', [3, 4], () => keras.layers.repeatVector({ n: 3 })],
    ['Permute', [2, 3, 4], () => keras.layers.permute({ dims: [2, 1] })],
    ['Masking', [2, 3, 4], () => keras.layers.masking({ maskValue: 0 })],
    ['SpatialDropout1D in inference', [2, 3, 4], () => keras.layers.spatialDropout1d({ rate: 0.5 })],
    ['GaussianNoise in inference', [2, 3, 4], () => keras.layers.gaussianNoise({ stddev: 0.3 })],
    ['ELU', [3, 4], () => keras.layers.elu({ alpha: 0.6 })],
    ['Rescaling', [3, 4], () => keras.layers.rescaling({ scale: 0.25, offset: 1 })],
    ['UnitNormalization', [3, 4], () => keras.layers.unitNormalization()],
    ['GroupNormalization', [2, 3, 4], () => keras.layers.groupNormalization({ groups: 2 })],
    ['CenterCrop', [1, 4, 5, 2], () => keras.layers.centerCrop({ height: 2, width: 3, dataFormat: 'channelsLast' })],
  ];
  for (const [name, shape, make] of unary)
    it(name, async () => {
      await checkGradient([data(shape, shape.length * 7 + name.length)], through(make()));
    });

  it('MultiHeadAttention: self attention, causal, and cross attention (query and value)', async () => {
    await checkGradient([data([2, 3, 4], 18)], ([x]) =>
      keras.layers.multiHeadAttention({ numHeads: 2, keyDim: 3 }).apply([x!, x!]),
    );
    await checkGradient([data([1, 4, 2], 19)], ([x]) =>
      keras.layers.multiHeadAttention({ numHeads: 1, keyDim: 2, useCausalMask: true }).apply([x!, x!]),
    );
    await checkGradient([data([2, 2, 3], 20), data([2, 4, 2], 21)], ([q, v]) =>
      keras.layers.multiHeadAttention({ numHeads: 2, keyDim: 2, valueDim: 3, outputShape: 2 }).apply([q!, v!]),
    );
  });

  it('Attention (dot and concat) and AdditiveAttention, query and value', async () => {
    for (const make of [
      () => keras.layers.attention({ useScale: true }),
      () => keras.layers.attention({ scoreMode: 'concat', useScale: true }),
      () => keras.layers.additiveAttention(),
    ])
      await checkGradient([data([2, 3, 4], 22), data([2, 2, 4], 23)], ([q, v]) => make().apply([q!, v!]));
  });

  it('merge layers', async () => {
    for (const merge of [
      keras.layers.subtract(),
      keras.layers.average(),
      keras.layers.maximum(),
      keras.layers.minimum(),
    ])
      await checkGradient([data([3, 4], 14), data([3, 4], 15)], ([a, b]) => merge.apply([a!, b!]));
    await checkGradient([data([3, 4], 16), data([3, 4], 17)], ([a, b]) =>
      keras.layers.dot({ axes: 1, normalize: true }).apply([a!, b!]),
    );
    await checkGradient([data([3, 4], 10), data([3, 4], 11)], ([a, b]) => keras.layers.multiply().apply([a!, b!]));
    await checkGradient([data([3, 4], 12), data([3, 2], 13)], ([a, b]) => keras.layers.concatenate().apply([a!, b!]));
  });
});
