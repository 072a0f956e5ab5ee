/**
 * Each layer's defaults against Keras 3's, written out from Keras 3's layer signatures: a layer made
 * with only its required arguments reports Keras's default for every option its config holds, and
 * its first weights are what Keras's default initializers give. A changed default fails here.
 */
import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import * as keras from 'tsano/keras';

type Layer = { apply(x: T.Node | T.Node[]): unknown; getConfig(): Record<string, unknown>; getWeights(): T.NDArray[] };

/** Keras 3's defaults (keras.layers.*), by the config keys Keras writes. */
const KERAS_DEFAULTS: [string, () => Layer, number[], Record<string, unknown>][] = [
  ['Dense', () => keras.layers.dense({ units: 2 }), [4], { activation: 'linear', use_bias: true }],
  [
    'Conv2D',
    () => keras.layers.conv2d({ filters: 2, kernelSize: 3 }),
    [5, 5, 2],
    {
      strides: [1, 1],
      padding: 'valid',
      data_format: 'channels_last',
      dilation_rate: [1, 1],
      activation: 'linear',
      use_bias: true,
    },
  ],
  [
    'MaxPooling2D',
    () => keras.layers.maxPooling2d(),
    [4, 4, 2],
    { pool_size: [2, 2], strides: [2, 2], padding: 'valid' },
  ],
  [
    'LSTM',
    () => keras.layers.lstm({ units: 2 }),
    [3, 4],
    {
      activation: 'tanh',
      recurrent_activation: 'sigmoid',
      use_bias: true,
      unit_forget_bias: true,
      dropout: 0,
      recurrent_dropout: 0,
      return_sequences: false,
      return_state: false,
      go_backwards: false,
      stateful: false,
      unroll: false,
    },
  ],
  [
    'GRU',
    () => keras.layers.gru({ units: 2 }),
    [3, 4],
    { activation: 'tanh', recurrent_activation: 'sigmoid', reset_after: true, unroll: false },
  ],
  [
    'SimpleRNN',
    () => keras.layers.simpleRNN({ units: 2 }),
    [3, 4],
    { activation: 'tanh', use_bias: true, unroll: false },
  ],
  [
    'BatchNormalization',
    () => keras.layers.batchNormalization(),
    [4],
    { axis: -1, momentum: 0.99, epsilon: 0.001, center: true, scale: true },
  ],
  [
    'LayerNormalization',
    () => keras.layers.layerNormalization(),
    [4],
    { axis: -1, epsilon: 0.001, center: true, scale: true },
  ],
  [
    'GroupNormalization',
    () => keras.layers.groupNormalization({ groups: 2 }),
    [4],
    { epsilon: 0.001, center: true, scale: true },
  ],
  ['Embedding', () => keras.layers.embedding({ inputDim: 5, outputDim: 3 }), [4], { mask_zero: false }],
  ['LeakyReLU', () => keras.layers.leakyReLU(), [4], { alpha: 0.3 }],
  ['ELU', () => keras.layers.elu(), [4], { alpha: 1 }],
  ['Attention', () => keras.layers.attention(), [], { use_scale: false, score_mode: 'dot', dropout: 0 }],
  ['AdditiveAttention', () => keras.layers.additiveAttention(), [], { use_scale: true, dropout: 0 }],
  [
    'MultiHeadAttention',
    () => keras.layers.multiHeadAttention({ numHeads: 2, keyDim: 3 }),
    [],
    { value_dim: 3, dropout: 0, use_bias: true },
  ],
  ['Rescaling', () => keras.layers.rescaling({ scale: 2 }), [4], { offset: 0 }],
  ['Normalization', () => keras.layers.normalization(), [4], { axis: -1, invert: false }],
];

const build = (layer: Layer, shape: number[]) => {
  const x = T.tensor('x', { shape: [null, ...(shape.length ? shape : [3, 4])] });
  layer.apply(shape.length ? x : [x, x]);
};

describe("every layer's defaults are Keras 3's", () => {
  for (const [name, make, shape, defaults] of KERAS_DEFAULTS)
    it(name, () => {
      const layer = make();
      build(layer, shape);
      const config = layer.getConfig();
      for (const [key, value] of Object.entries(defaults)) expect(config[key], `${name}.${key}`).toEqual(value);
    });

  it("initial weights follow Keras's default initializers", () => {
    const lstm = keras.layers.lstm({ units: 3 });
    build(lstm, [2, 4]);
    // unit_forget_bias: the forget gate's bias (Keras's gate order i, f, c, o) starts at 1, the rest at 0.
    expect(Array.from(lstm.getWeights()[2]!.data)).toEqual([0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0]);
    // orthogonal recurrent kernel: its 3x12 rows are orthonormal... per gate the Gram matrix of the whole is I.
    const r = lstm.getWeights()[1]!;
    for (let i = 0; i < 3; i++)
      for (let j = 0; j < 3; j++) {
        let dot = 0;
        for (let k = 0; k < 12; k++) dot += r.data[i * 12 + k]! * r.data[j * 12 + k]!;
        expect(dot).toBeCloseTo(i === j ? 1 : 0, 5);
      }
    const gru = keras.layers.gru({ units: 3 });
    build(gru, [2, 4]);
    // reset_after: two bias rows (input and recurrent).
    expect(gru.getWeights()[2]!.shape).toEqual([2, 9]);
    const embedding = keras.layers.embedding({ inputDim: 50, outputDim: 8 });
    build(embedding, [4]);
    // Keras's 'uniform' embeddings initializer: RandomUniform(-0.05, 0.05).
    const table = Array.from(embedding.getWeights()[0]!.data);
    expect(Math.max(...table.map(Math.abs))).toBeLessThanOrEqual(0.05);
    expect(Math.max(...table.map(Math.abs))).toBeGreaterThan(0.04);
    const norm = keras.layers.batchNormalization();
    build(norm, [4]);
    // gamma 1, beta 0, moving mean 0, moving variance 1.
    expect(norm.getWeights().map((w) => Array.from(w.data))).toEqual([
      [1, 1, 1, 1],
      [0, 0, 0, 0],
      [0, 0, 0, 0],
      [1, 1, 1, 1],
    ]);
  });
});
