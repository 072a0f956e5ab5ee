/** Writing a model as Python Keras 3 saves it: a `.keras` archive of config.json, metadata.json and model.weights.h5. */
import { rmSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { strToU8, zipSync } from 'fflate';
import type * as T from '../index.js';
import { SaveError } from '../../runtime/errors.js';
import { loadKerasFile } from './keras-load.js';
import type { AnyLayersModel } from './model.js';
import { reason, writeBeside } from './save.js';
import { kerasLayerGroups, withH5File } from './hdf5.js';

type Config = Record<string, unknown>;

/** A layer entry of our Keras 2 style topology in Keras 3's serialized form. */
function keras3Layer(entry: Config): Config {
  const { batch_input_shape: _dropped, ...config } = (entry['config'] ?? {}) as Config;
  return { module: 'keras.layers', class_name: entry['class_name'], config, registered_name: null };
}

/** Keras 3's reference to the output of layer `name`, as inbound nodes write it. */
const kerasTensor = (name: string, index: number) => ({
  class_name: '__keras_tensor__',
  config: { keras_history: [name, 0, index] },
});

/** config.json of a `.keras` archive: the model serialized as Keras 3 does (module, class_name, config). */
function keras3Config(model: AnyLayersModel): Config {
  const topology = model.topology();
  const config = topology['config'] as Config;
  const entries = config['layers'] as Config[];
  if (topology['class_name'] === 'Sequential') {
    const first = entries[0]?.['config'] as Config | undefined;
    const batchShape = first?.['batch_input_shape'];
    return {
      module: 'keras',
      class_name: 'Sequential',
      config: {
        name: config['name'],
        trainable: true,
        layers: [
          {
            module: 'keras.layers',
            class_name: 'InputLayer',
            config: { batch_shape: batchShape, dtype: 'float32', sparse: false, name: 'input_layer' },
            registered_name: null,
          },
          ...entries.map(keras3Layer),
        ],
      },
      registered_name: null,
      build_config: { input_shape: batchShape },
    };
  }
  const layers = entries.map((e) => {
    if (e['class_name'] === 'InputLayer') {
      const { batch_input_shape: shape, ...rest } = e['config'] as Config;
      return {
        module: 'keras.layers',
        class_name: 'InputLayer',
        config: { ...rest, batch_shape: shape, sparse: false },
        registered_name: null,
        name: e['name'],
        inbound_nodes: [],
      };
    }
    const inbound = ((e['inbound_nodes'] as unknown[][][])[0] ?? []).map((t) =>
      kerasTensor(String(t[0]), Number(t[2])),
    );
    return {
      ...keras3Layer(e),
      name: e['name'],
      inbound_nodes: [{ args: inbound.length === 1 ? inbound : [inbound], kwargs: {} }],
    };
  });
  return {
    module: 'keras',
    class_name: 'Functional',
    config: {
      name: config['name'],
      trainable: true,
      layers,
      input_layers: config['input_layers'],
      output_layers: config['output_layers'],
    },
    registered_name: null,
  };
}

/** Loads the archive just written and compares every weight with the model's, before it replaces anything. */
async function checkReadBack(written: string, expected: readonly T.NDArray[], file: string): Promise<void> {
  let values: T.NDArray[];
  try {
    values = (await loadKerasFile(written)).getWeights();
  } catch (e) {
    throw new SaveError(
      `${file}: the archive written does not load back (${(e as Error).message}); nothing was replaced`,
    );
  }
  const differs = (a: T.NDArray, b: T.NDArray) =>
    a.shape.length !== b.shape.length ||
    a.shape.some((d, i) => d !== b.shape[i]) ||
    a.data.some((v, i) => !Object.is(v, Math.fround(b.data[i]!)) && !Object.is(v, b.data[i]));
  const bad = values.length !== expected.length ? -1 : values.findIndex((v, i) => differs(v, expected[i]!));
  if (bad !== -1 || values.length !== expected.length)
    throw new SaveError(
      `${file}: the archive written loads back with ${values.length === expected.length ? `weight ${bad} changed` : `${values.length} weights instead of ${expected.length}`}; nothing was replaced`,
    );
}

/**
 * Writes `model` as a Keras 3 `.keras` archive (config.json, metadata.json, model.weights.h5), the
 * file Python's `keras.saving.load_model` opens. The old file is replaced only once the new one is whole.
 */
export async function saveKerasFile(model: AnyLayersModel, file: string): Promise<void> {
  // Builds every layer, so a model not yet called has all its weights to write (or says why it cannot).
  let expected: T.NDArray[];
  try {
    expected = model.getWeights();
  } catch (e) {
    throw new SaveError(`${file}: the model cannot be built, so its weights cannot be saved (${(e as Error).message})`);
  }
  const config = keras3Config(model);
  const { bytes: weights } = await withH5File(undefined, 'w', file, (f) => {
    f.create_group('vars');
    const layersGroup = f.create_group('layers');
    const groups = kerasLayerGroups(model.layers.map((l) => l.className));
    model.layers.forEach((layer, k) => {
      const vars = layersGroup.create_group(groups[k]!).create_group('vars');
      layer.getWeights().forEach((w, i) => {
        const values = w.dtype === 'float64' ? w.data : w.astype('float32').data;
        vars.create_dataset({ name: String(i), data: values as Float32Array, shape: [...w.shape] });
      });
    });
  });
  const metadata = { keras_version: '3.0.0', date_saved: new Date().toISOString(), saved_by: 'tsano' };
  const archive = zipSync(
    {
      'metadata.json': strToU8(JSON.stringify(metadata)),
      'config.json': strToU8(JSON.stringify(config)),
      'model.weights.h5': weights!,
    },
    { level: 0 },
  );
  const temporary = await writeBeside(file, archive);
  try {
    await checkReadBack(temporary, expected, file);
    await rename(temporary, file);
  } catch (e) {
    rmSync(temporary, { force: true });
    if (e instanceof SaveError) throw e;
    throw new SaveError(`${file}: cannot write (${reason(e)})`);
  }
}
