import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import * as keras from 'tsano/keras';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'tsano-save-'));

describe('save and load', () => {
  it('a saved sequential convnet loads back with identical predictions (TensorFlow.js layers format)', async () => {
    const model = keras.sequential({
      layers: [
        keras.layers.conv2d({
          filters: 4,
          kernelSize: 3,
          activation: 'relu',
          inputShape: [8, 8, 1],
          dataFormat: 'channelsLast',
        }),
        keras.layers.maxPooling2d({ poolSize: 2, dataFormat: 'channelsLast' }),
        keras.layers.batchNormalization(),
        keras.layers.flatten(),
        keras.layers.dropout({ rate: 0.5 }),
        keras.layers.dense({ units: 3, activation: 'softmax' }),
      ],
    });
    const dir = tmp();
    await model.save(`file://${dir}`);
    const json = JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8'));
    expect(json.format).toBe('layers-model');
    expect(json.modelTopology.class_name).toBe('Sequential');
    expect(json.weightsManifest[0].weights.map((w: { name: string }) => w.name)).toEqual(
      model.weights.map((w) => w.name),
    );
    const loaded = await keras.models.loadModel(path.join(dir, 'model.json'));
    const x = T.randomNormal([2, 8, 8, 1], { seed: 2 });
    expect(Array.from((await loaded.predict(x)).data)).toEqual(Array.from((await model.predict(x)).data));
  });

  it('a functional model round-trips, and missing weights are reported by name', async () => {
    const inp = keras.input({ shape: [5], name: 'features' });
    const a = keras.layers.dense({ units: 4, activation: 'tanh' }).apply(inp);
    const b = keras.layers.dense({ units: 4 }).apply(inp);
    const out = keras.layers.dense({ units: 2 }).apply(keras.layers.concatenate().apply([a, b]));
    const model = keras.model({ inputs: inp, outputs: out });
    const dir = tmp();
    await model.save(dir);
    const loaded = await keras.loadLayersModel(path.join(dir, 'model.json'));
    const x = T.randomNormal([3, 5], { seed: 4 });
    expect(Array.from((await loaded.predict(x)).data)).toEqual(Array.from((await model.predict(x)).data));
    await expect(keras.models.loadModel(path.join(dir, 'nope.json'))).rejects.toThrow(
      /nope\.json: cannot read the model/,
    );
  });

  it('modelFromJSON reads Keras 2 and Keras 3 layouts (batch_shape, DTypePolicy, {args} inbound nodes)', async () => {
    const keras2 = JSON.stringify({
      class_name: 'Sequential',
      keras_version: '2.2.4',
      backend: 'tensorflow',
      config: {
        name: 'sequential_1',
        layers: [
          {
            class_name: 'Dense',
            config: {
              name: 'dense_1',
              units: 8,
              activation: 'relu',
              use_bias: true,
              batch_input_shape: [null, 4],
              dtype: 'float32',
            },
          },
          { class_name: 'Dense', config: { name: 'dense_2', units: 2, activation: 'softmax', use_bias: true } },
        ],
      },
    });
    const m2 = keras.models.modelFromJSON(keras2);
    expect((await m2.predict(T.zeros([1, 4]))).shape).toEqual([1, 2]);
    const policy = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null };
    const tensor = (name: string) => ({
      class_name: '__keras_tensor__',
      config: { shape: [null, 4], dtype: 'float32', keras_history: [name, 0, 0] },
    });
    const keras3 = JSON.stringify({
      module: 'keras.src.models.functional',
      class_name: 'Functional',
      registered_name: 'Functional',
      config: {
        name: 'functional',
        trainable: true,
        layers: [
          {
            module: 'keras.layers',
            class_name: 'InputLayer',
            name: 'input_layer',
            config: { batch_shape: [null, 4], dtype: 'float32', sparse: false, name: 'input_layer' },
            inbound_nodes: [],
          },
          {
            module: 'keras.layers',
            class_name: 'Dense',
            name: 'dense',
            config: { name: 'dense', trainable: true, dtype: policy, units: 3, activation: 'relu', use_bias: true },
            inbound_nodes: [{ args: [tensor('input_layer')], kwargs: {} }],
          },
          {
            module: 'keras.layers',
            class_name: 'Dense',
            name: 'dense_1',
            config: {
              name: 'dense_1',
              trainable: true,
              dtype: policy,
              units: 1,
              activation: 'sigmoid',
              use_bias: true,
            },
            inbound_nodes: [{ args: [tensor('dense')], kwargs: {} }],
          },
        ],
        input_layers: [['input_layer', 0, 0]],
        output_layers: [['dense_1', 0, 0]],
      },
    });
    const m3 = keras.models.modelFromJSON(keras3);
    expect(m3.layers.map((l) => l.name)).toEqual(['dense', 'dense_1']);
    expect((await m3.predict(T.zeros([2, 4]))).shape).toEqual([2, 1]);
    expect(() =>
      keras.models.modelFromJSON(
        JSON.stringify({ class_name: 'Sequential', config: { layers: [{ class_name: 'ConvLSTM2D', config: {} }] } }),
      ),
    ).toThrow(/layer class 'ConvLSTM2D' is not supported/);
  });
});
