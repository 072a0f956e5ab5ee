import { beforeAll, describe, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import * as keras from 'tsano/keras';
import { expectSamePredictions, saveWithTfjs, seededInput } from '../helpers/tfjs.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('models saved by TensorFlow.js load in tsano and predict the same', () => {
  it('a convnet with batch normalization, pooling and dense layers', async () => {
    const model = tfl.sequential({
      layers: [
        tfl.layers.conv2d({ filters: 4, kernelSize: 3, activation: 'relu', inputShape: [8, 8, 2], padding: 'same' }),
        tfl.layers.maxPooling2d({ poolSize: 2 }),
        tfl.layers.batchNormalization(),
        tfl.layers.conv2d({ filters: 3, kernelSize: 2, strides: 2 }),
        tfl.layers.flatten(),
        tfl.layers.dropout({ rate: 0.3 }),
        tfl.layers.dense({ units: 5, activation: 'tanh' }),
        tfl.layers.dense({ units: 3, activation: 'softmax' }),
      ],
    });
    // Non-trivial batch-normalization statistics, so the loaded moving averages matter.
    const bn = model.layers[2]!;
    bn.setWeights(bn.getWeights().map((w, i) => tf.add(w, tf.scalar(0.1 * (i + 1)))));
    const file = await saveWithTfjs(model);
    const loaded = await keras.models.loadModel(file);
    await expectSamePredictions(model, loaded, seededInput([3, 8, 8, 2], 11), [3, 8, 8, 2]);
  });

  it('dense layers with every activation tsano shares with TF.js', async () => {
    const activations = ['relu', 'sigmoid', 'tanh', 'elu', 'selu', 'softplus', 'linear', 'softmax'] as const;
    const layers: tfl.layers.Layer[] = activations.map((activation, i) =>
      tfl.layers.dense({ units: 4, activation, ...(i === 0 ? { inputShape: [6] } : {}) }),
    );
    const model = tfl.sequential({ layers });
    const file = await saveWithTfjs(model);
    const loaded = await keras.loadLayersModel(file);
    await expectSamePredictions(model, loaded, seededInput([4, 6], 3), [4, 6]);
  });
});

describe('functional TF.js models with the other layers', () => {
  it('pooling, normalization and merge layers', async () => {
    const inp = tfl.input({ shape: [6, 6, 2] });
    const pooled = tfl.layers
      .flatten()
      .apply(tfl.layers.averagePooling2d({ poolSize: 2 }).apply(inp)) as tfl.SymbolicTensor;
    const global = tfl.layers.globalAveragePooling2d({}).apply(inp) as tfl.SymbolicTensor;
    const joined = tfl.layers.concatenate().apply([pooled, global]) as tfl.SymbolicTensor;
    const a = tfl.layers.layerNormalization().apply(tfl.layers.dense({ units: 4 }).apply(joined)) as tfl.SymbolicTensor;
    const b = tfl.layers.dense({ units: 4, activation: 'tanh' }).apply(joined) as tfl.SymbolicTensor;
    const out = tfl.layers
      .multiply()
      .apply([tfl.layers.add().apply([a, b]) as tfl.SymbolicTensor, b]) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: inp, outputs: out });
    const ln = model.layers.find((l) => l.getClassName() === 'LayerNormalization')!;
    ln.setWeights(ln.getWeights().map((w, i) => tf.add(w, tf.scalar(0.2 * (i + 1)))));
    const loaded = await keras.models.loadModel(await saveWithTfjs(model));
    await expectSamePredictions(model, loaded, seededInput([2, 6, 6, 2], 21), [2, 6, 6, 2]);
  });

  it('embedding', async () => {
    const model = tfl.sequential({
      layers: [
        tfl.layers.embedding({ inputDim: 10, outputDim: 3, inputLength: 5, inputShape: [5] }),
        tfl.layers.flatten(),
        tfl.layers.dense({ units: 2 }),
      ],
    });
    const loaded = await keras.models.loadModel(await saveWithTfjs(model));
    await expectSamePredictions(model, loaded, Float32Array.from([1, 2, 3, 9, 0, 4, 4, 7, 8, 5]), [2, 5]);
  });
});
