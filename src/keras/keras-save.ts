/** Writing a model as Python Keras 3 saves it: a `.keras` archive of config.json, metadata.json and model.weights.h5. */
import { rmSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { readFile } from 'node:fs/promises';
import { strFromU8, strToU8, unzipSync, zipSync } from 'fflate';
import { SaveError } from '../../runtime/errors.js';
import type { AnyLayersModel } from './model.js';
import { reason, writeBeside } from './save.js';
import { kerasLayerGroups, kerasVarGroups, kerasWeightSlots, storedWeight, withH5File, type H5Group } from './hdf5.js';

type Config = Record<string, unknown>;

/** A layer entry of our Keras 2 style topology in Keras 3's serialized form. */
function keras3Layer(entry: Config): Config {
  const { batch_input_shape: _dropped, ...config } = (entry['config'] ?? {}) as Config;
  return { module: 'keras.layers', class_name: entry['class_name'], config, registered_name: null };
}

/** Keras 3's reference to the output of layer `name`, as inbound nodes write it. */
const kerasTensor = (name: string, node: number, index: number) => ({
  class_name: '__keras_tensor__',
  config: { keras_history: [name, node, index] },
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
    // One node per call of the layer (a shared layer has several).
    const nodes = (e['inbound_nodes'] as unknown[][][]).map((node) => {
      const inbound = node.map((t) => kerasTensor(String(t[0]), Number(t[1]), Number(t[2])));
      return { args: inbound.length === 1 ? inbound : [inbound], kwargs: {} };
    });
    return { ...keras3Layer(e), name: e['name'], inbound_nodes: nodes };
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

/**
 * Reads the archive just written back from disk and compares it with what was meant: config.json as
 * written, and every layer's weights in model.weights.h5, value for value, before it replaces anything.
 */
async function checkReadBack(written: string, model: AnyLayersModel, config: string, file: string): Promise<void> {
  const fail = (what: string) => new SaveError(`${file}: the archive written reads back ${what}; nothing was replaced`);
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(new Uint8Array(await readFile(written)));
  } catch (e) {
    throw fail(`as no zip archive (${(e as Error).message})`);
  }
  if (!entries['config.json'] || strFromU8(entries['config.json']) !== config) throw fail('with another config.json');
  const weights = entries['model.weights.h5'];
  if (!weights) throw fail('without model.weights.h5');
  const groups = kerasLayerGroups(model.layers.map((l) => l.className));
  const { result: changed } = await withH5File(weights, 'r', file, (f) =>
    model.layers.flatMap((layer, k) => {
      const values = layer.getWeights();
      const slots = kerasWeightSlots(layer.className, groups[k]!, values.length);
      return values.flatMap((w, i) => {
        const [group, name] = slots[i]!;
        const stored = storedWeight(f.get(group) as H5Group, name, file);
        const same =
          stored.shape.length === w.shape.length &&
          stored.shape.every((d, a) => d === w.shape[a]) &&
          stored.read().data.every((v, e) => Object.is(v, w.data[e]) || Object.is(v, Math.fround(w.data[e]!)));
        return same ? [] : [`${group}/${name}`];
      });
    }),
  );
  if (changed.length) throw fail(`with other values in ${changed.join(', ')}`);
}

/**
 * Writes `model` as a Keras 3 `.keras` archive (config.json, metadata.json, model.weights.h5), the
 * file Python's `keras.saving.load_model` opens. The old file is replaced only once the new one is whole.
 */
export async function saveKerasFile(model: AnyLayersModel, file: string): Promise<void> {
  // Builds every layer, so a model not yet called has all its weights to write (or says why it cannot).
  try {
    model.getWeights();
  } catch (e) {
    throw new SaveError(`${file}: the model cannot be built, so its weights cannot be saved (${(e as Error).message})`);
  }
  const config = keras3Config(model);
  const { bytes: weights } = await withH5File(undefined, 'w', file, (f) => {
    f.create_group('vars');
    const layersGroup = f.create_group('layers');
    const groups = kerasLayerGroups(model.layers.map((l) => l.className));
    model.layers.forEach((layer, k) => {
      const layerGroup = layersGroup.create_group(groups[k]!);
      // Each vars group (the layer's own, or one per sublayer), made when its first weight is written.
      const made = new Map<string, ReturnType<typeof layerGroup.create_group>>();
      const varsGroup = (path: string) => {
        const known = made.get(path);
        if (known) return known;
        const sub = path.split('/').slice(2, -1);
        const group = (sub.length ? layerGroup.create_group(sub[0]!) : layerGroup).create_group('vars');
        made.set(path, group);
        return group;
      };
      for (const path of kerasVarGroups(layer.className, groups[k]!)) varsGroup(path);
      const weights = layer.getWeights();
      const slots = kerasWeightSlots(layer.className, groups[k]!, weights.length);
      weights.forEach((w, i) => {
        const values = w.dtype === 'float64' ? w.data : w.astype('float32').data;
        const [path, name] = slots[i]!;
        varsGroup(path).create_dataset({ name, data: values as Float32Array, shape: [...w.shape] });
      });
    });
  });
  const configText = JSON.stringify(config);
  const metadata = { keras_version: '3.0.0', date_saved: new Date().toISOString(), saved_by: 'tsano' };
  const archive = zipSync(
    {
      'metadata.json': strToU8(JSON.stringify(metadata)),
      'config.json': strToU8(configText),
      'model.weights.h5': weights!,
    },
    { level: 0 },
  );
  const temporary = await writeBeside(file, archive);
  try {
    await checkReadBack(temporary, model, configText, file);
    await rename(temporary, file);
  } catch (e) {
    rmSync(temporary, { force: true });
    if (e instanceof SaveError) throw e;
    throw new SaveError(`${file}: cannot write (${reason(e)})`);
  }
}
