/**
 * Python Keras's own files. No Python Keras runs where these tests run, so the files are written here
 * with h5wasm and fflate in the layouts Keras's saving code writes (Keras 2's legacy HDF5 format;
 * Keras 3's saving_lib), with topologies and weights from TensorFlow.js models, whose predictions the
 * loaded models must reproduce.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import h5wasm from 'h5wasm/node';
import { strFromU8, strToU8, unzipSync, zipSync } from 'fflate';
import * as T from 'tsano';
import * as keras from 'tsano/keras';
import { expectSamePredictions, seededInput } from '../helpers/tfjs.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
  await h5wasm.ready;
});

const folder = () => mkdtempSync(path.join(os.tmpdir(), 'tsano-keras-files-'));
type Json = Record<string, unknown>;

/** A TF.js model's Keras 2 topology (what Keras 2's model.to_json() writes), as a JSON object. */
function kerasTopology(model: tfl.LayersModel): Json {
  return JSON.parse(JSON.stringify(model.toJSON(null, false))) as Json;
}

function cnn(): tfl.LayersModel {
  return tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape: [6, 6, 2], filters: 3, kernelSize: 3, activation: 'relu', name: 'conv' }),
      tfl.layers.batchNormalization({ name: 'norm' }),
      tfl.layers.flatten({ name: 'flat' }),
      tfl.layers.dense({ units: 4, activation: 'tanh', name: 'hidden' }),
      tfl.layers.dense({ units: 2, activation: 'softmax', name: 'out' }),
    ],
  });
}

/** BatchNormalization's moving statistics set away from 0 and 1, so a mix-up of its four weights shows. */
function withMovedStatistics(model: tfl.LayersModel): tfl.LayersModel {
  const norm = model.getLayer('norm');
  norm.setWeights(norm.getWeights().map((w, i) => tf.add(w, tf.scalar([0.5, -0.25, 0.3, 1.5][i]!))));
  return model;
}

/**
 * Keras 2's model.save('m.h5'): the topology in the root's `model_config` attribute, and under
 * `model_weights` a group per layer (listed by `layer_names`) whose `weight_names` attribute lists its
 * datasets, stored at `<layer>/<layer>/<weight>:0`. `float64` stores one layer's weights as doubles.
 */
function writeKeras2H5(file: string, model: tfl.LayersModel, float64Layer?: string): void {
  const f = new h5wasm.File(file, 'w');
  f.create_attribute('keras_version', '2.15.0');
  f.create_attribute('backend', 'tensorflow');
  f.create_attribute('model_config', JSON.stringify(kerasTopology(model)));
  const weights = f.create_group('model_weights');
  weights.create_attribute(
    'layer_names',
    model.layers.map((l) => l.name),
  );
  for (const layer of model.layers) {
    const group = weights.create_group(layer.name);
    const values = layer.getWeights();
    const names = layer.weights.map((w) => `${layer.name}/${w.name.split('/').pop()!.replace(/_\d+$/, '')}:0`);
    if (values.length === 0) continue;
    group.create_attribute('weight_names', names);
    const inner = group.create_group(layer.name);
    values.forEach((v, i) => {
      const data = v.dataSync() as Float32Array;
      inner.create_dataset({
        name: names[i]!.split('/')[1]!,
        data: layer.name === float64Layer ? Float64Array.from(data) : data,
        shape: v.shape,
      });
    });
  }
  f.close();
}

/** Keras's naming.to_snake_case, written out again here from its regular expressions. */
const snake = (name: string) =>
  name
    .replace(/(.)([A-Z][a-z]+)/g, '$1_$2')
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .toLowerCase();

/**
 * Keras 3's model.save('m.keras'): a zip of metadata.json, config.json (each object as
 * {module, class_name, config, registered_name}) and model.weights.h5, where layer k of a class is
 * stored under `layers/<class in snake_case>[_k]/vars/<i>`, numbered in the model's layer order.
 */
function writeKeras3Archive(file: string, config: Json, layers: readonly tfl.layers.Layer[]): void {
  const dir = folder();
  const h5file = path.join(dir, 'model.weights.h5');
  const f = new h5wasm.File(h5file, 'w');
  f.create_group('vars');
  const root = f.create_group('layers');
  const seen = new Map<string, number>();
  for (const layer of layers) {
    const base = snake(layer.getClassName());
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    const vars = root.create_group(n ? `${base}_${n}` : base).create_group('vars');
    layer.getWeights().forEach((v, i) => {
      vars.create_dataset({ name: String(i), data: v.dataSync() as Float32Array, shape: v.shape });
    });
  }
  f.close();
  writeFileSync(
    file,
    zipSync({
      'metadata.json': strToU8(JSON.stringify({ keras_version: '3.5.0', date_saved: '2026-01-01@00:00:00' })),
      'config.json': strToU8(JSON.stringify(config)),
      'model.weights.h5': new Uint8Array(readFileSync(h5file)),
    }),
  );
}

/** A Keras 2 layer entry in Keras 3's serialized form. */
const keras3Layer = (entry: Json): Json => {
  const { batch_input_shape: _shape, ...config } = entry['config'] as Json;
  return { module: 'keras.layers', class_name: entry['class_name'], config, registered_name: null };
};

describe("Python Keras's file formats", () => {
  it('a Keras 2 .h5 model loads and predicts as the model it was written from (BatchNormalization, a float64 layer)', async () => {
    const theirs = withMovedStatistics(cnn());
    const file = path.join(folder(), 'model.h5');
    writeKeras2H5(file, theirs, 'hidden');
    const loaded = await keras.loadModel(file);
    expect(loaded.layers.map((l) => l.name)).toEqual(['conv', 'norm', 'flat', 'hidden', 'out']);
    await expectSamePredictions(theirs, loaded, seededInput([3, 6, 6, 2], 5), [3, 6, 6, 2]);
  });

  it('a Keras 3 .keras Sequential archive loads and predicts as the model it was written from', async () => {
    const theirs = withMovedStatistics(cnn());
    const topology = kerasTopology(theirs);
    const entries = (topology['config'] as Json)['layers'] as Json[];
    const config = {
      module: 'keras',
      class_name: 'Sequential',
      config: {
        name: 'sequential',
        trainable: true,
        layers: [
          {
            module: 'keras.layers',
            class_name: 'InputLayer',
            config: { batch_shape: [null, 6, 6, 2], dtype: 'float32', sparse: false, name: 'input_layer' },
            registered_name: null,
          },
          ...entries.map(keras3Layer),
        ],
      },
      registered_name: null,
      build_config: { input_shape: [null, 6, 6, 2] },
      compile_config: null,
    };
    const file = path.join(folder(), 'model.keras');
    writeKeras3Archive(file, config, theirs.layers);
    const loaded = await keras.loadModel(file);
    await expectSamePredictions(theirs, loaded, seededInput([3, 6, 6, 2], 6), [3, 6, 6, 2]);
  });

  it("a Keras 3 functional archive: same-class layers named in Keras's order (deepest first), not file order of creation", async () => {
    // x -> left, x -> right (both Dense), add, head (Dense). Keras orders layers by depth from the
    // outputs (input, left and right, add, head), so right is 'dense_1' and head 'dense_2'.
    const x = tfl.input({ shape: [3], name: 'x' });
    const headLayer = tfl.layers.dense({ units: 2, name: 'head' });
    const left = tfl.layers.dense({ units: 4, name: 'left', activation: 'tanh' }).apply(x) as tfl.SymbolicTensor;
    const right = tfl.layers.dense({ units: 4, name: 'right' }).apply(x) as tfl.SymbolicTensor;
    const sum = tfl.layers.add({ name: 'add' }).apply([left, right]) as tfl.SymbolicTensor;
    const theirs = tfl.model({ inputs: x, outputs: headLayer.apply(sum) as tfl.SymbolicTensor });
    const tensor = (name: string) => ({
      class_name: '__keras_tensor__',
      config: { shape: [null, 4], dtype: 'float32', keras_history: [name, 0, 0] },
    });
    const layer = (name: string, units: number, activation: string, from: string): Json => ({
      module: 'keras.layers',
      class_name: 'Dense',
      config: { name, trainable: true, dtype: 'float32', units, activation, use_bias: true },
      registered_name: null,
      name,
      inbound_nodes: [{ args: [tensor(from)], kwargs: {} }],
    });
    const config = {
      module: 'keras',
      class_name: 'Functional',
      config: {
        name: 'functional',
        trainable: true,
        layers: [
          {
            module: 'keras.layers',
            class_name: 'InputLayer',
            config: { batch_shape: [null, 3], dtype: 'float32', sparse: false, name: 'x' },
            registered_name: null,
            name: 'x',
            inbound_nodes: [],
          },
          layer('left', 4, 'tanh', 'x'),
          layer('right', 4, 'linear', 'x'),
          {
            module: 'keras.layers',
            class_name: 'Add',
            config: { name: 'add', trainable: true, dtype: 'float32' },
            registered_name: null,
            name: 'add',
            inbound_nodes: [{ args: [[tensor('left'), tensor('right')]], kwargs: {} }],
          },
          layer('head', 2, 'linear', 'add'),
        ],
        input_layers: [['x', 0, 0]],
        output_layers: [['head', 0, 0]],
      },
      registered_name: null,
    };
    const file = path.join(folder(), 'functional.keras');
    const byName = (n: string) => theirs.getLayer(n);
    writeKeras3Archive(file, config, [byName('left'), byName('right'), byName('add'), byName('head')]);
    const loaded = await keras.loadModel(file);
    await expectSamePredictions(theirs, loaded, seededInput([5, 3], 7), [5, 3]);

    // The same graph built here lists its layers in that order, and writes them under those names.
    const input = keras.input({ shape: [3], name: 'x' });
    const head = keras.layers.dense({ units: 2, name: 'head' });
    const l = keras.layers.dense({ units: 4, name: 'left', activation: 'tanh' }).apply(input);
    const r = keras.layers.dense({ units: 4, name: 'right' }).apply(input);
    const ours = keras.model({ inputs: input, outputs: head.apply(keras.layers.add({ name: 'add' }).apply([l, r])) });
    expect(ours.layers.map((x) => x.name)).toEqual(['left', 'right', 'add', 'head']);
    const saved = path.join(folder(), 'ours.keras');
    await ours.save(saved);
    const weightsFile = path.join(folder(), 'w.h5');
    writeFileSync(weightsFile, unzipSync(new Uint8Array(readFileSync(saved)))['model.weights.h5']!);
    const h5 = new h5wasm.File(weightsFile, 'r');
    const stored = (h5.get('layers/dense_1/vars/0') as unknown as { value: Float32Array }).value;
    h5.close();
    expect(Array.from(stored)).toEqual(Array.from(ours.getLayer('right').getWeights()[0]!.data));
  });

  it('a model saved here as .keras holds what Keras 3 reads, and loads back with the same predictions', async () => {
    const model = keras.sequential({
      layers: [
        keras.layers.dense({ units: 5, activation: 'relu', inputShape: [4], name: 'first' }),
        keras.layers.batchNormalization({ name: 'norm' }),
        keras.layers.dense({ units: 3, activation: 'softmax', name: 'second' }),
      ],
    });
    model.compile({ optimizer: 'adam', loss: 'categoricalCrossentropy' });
    const x = T.randomNormal([16, 4], { seed: 3 });
    const y = T.array(
      Float32Array.from({ length: 48 }, (_, i) => (i % 3 === Math.floor(i / 3) % 3 ? 1 : 0)),
      {
        shape: [16, 3],
      },
    );
    await model.fit(x, y, { epochs: 2, verbose: 0 });
    const file = path.join(folder(), 'trained.keras');
    await model.save(file);

    const files = unzipSync(new Uint8Array(readFileSync(file)));
    expect(Object.keys(files).sort()).toEqual(['config.json', 'metadata.json', 'model.weights.h5']);
    const config = JSON.parse(strFromU8(files['config.json']!)) as Json;
    expect(config['class_name']).toBe('Sequential');
    const layers = (config['config'] as Json)['layers'] as Json[];
    expect(layers.map((l) => [l['module'], l['class_name']])).toEqual([
      ['keras.layers', 'InputLayer'],
      ['keras.layers', 'Dense'],
      ['keras.layers', 'BatchNormalization'],
      ['keras.layers', 'Dense'],
    ]);
    expect((layers[0]!['config'] as Json)['batch_shape']).toEqual([null, 4]);
    const weightsFile = path.join(folder(), 'w.h5');
    writeFileSync(weightsFile, files['model.weights.h5']!);
    const h5 = new h5wasm.File(weightsFile, 'r');
    const read = (p: string) => Array.from((h5.get(p) as unknown as { value: Float32Array }).value);
    expect(read('layers/dense/vars/0')).toEqual(Array.from(model.getLayer('first').getWeights()[0]!.data));
    expect(read('layers/dense_1/vars/1')).toEqual(Array.from(model.getLayer('second').getWeights()[1]!.data));
    // Keras 3 stores trainable variables first: gamma, beta, then the moving mean and variance.
    expect(read('layers/batch_normalization/vars/3')).toEqual(Array.from(model.getLayer('norm').getWeights()[3]!.data));
    h5.close();

    const loaded = await keras.loadModel(file);
    expect(Array.from(loaded.predict(x).data)).toEqual(Array.from(model.predict(x).data));
  });

  it('files that are not Keras models are LoadErrors that say what is missing', async () => {
    const dir = folder();
    const weightsOnly = path.join(dir, 'weights.h5');
    const f = new h5wasm.File(weightsOnly, 'w');
    f.create_attribute('layer_names', ['dense']);
    f.close();
    await expect(keras.loadModel(weightsOnly)).rejects.toThrow(/holds weights only/);
    const noConfig = path.join(dir, 'broken.keras');
    writeFileSync(noConfig, zipSync({ 'metadata.json': strToU8('{}') }));
    await expect(keras.loadModel(noConfig)).rejects.toThrow(/no config.json/);
    const text = path.join(dir, 'text.h5');
    writeFileSync(text, 'not a model');
    await expect(keras.loadModel(text)).rejects.toThrow(T.LoadError);
    await expect(keras.loadModel(path.join(dir, 'missing.keras'))).rejects.toThrow(/cannot read the model/);
  });

  it('a weight whose shape differs from what the topology builds is a LoadError naming the layer', async () => {
    const theirs = cnn();
    const file = path.join(folder(), 'model.h5');
    writeKeras2H5(file, theirs);
    const f = new h5wasm.File(file, 'a');
    const topology = kerasTopology(theirs);
    const layers = (topology['config'] as Json)['layers'] as Json[];
    (layers[4]!['config'] as Json)['units'] = 3;
    f.attrs['model_config'] && f.delete_attribute('model_config');
    f.create_attribute('model_config', JSON.stringify(topology));
    f.close();
    await expect(keras.loadModel(file)).rejects.toThrow(/layer 'out' is \[4,2\] in the file, the layer builds \[4,3\]/);
  });
});
