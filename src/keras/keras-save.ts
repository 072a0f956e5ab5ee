/** Writing a model as Python Keras 3 saves it: a `.keras` archive of config.json, metadata.json and model.weights.h5. */
import { rmSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { readFile } from 'node:fs/promises';
import { strFromU8, strToU8, unzipSync, zipSync } from 'fflate';
import { SaveError } from '../../runtime/errors.js';
import type { AnyLayersModel } from './model.js';
import { reason, writeBeside } from './save.js';
import {
  kerasLayerGroups,
  kerasVarGroups,
  kerasWeightSlots,
  storedWeight,
  withH5File,
  type H5Group,
  type StoredWeight,
} from './hdf5.js';
import type { NDArray } from '../../runtime/ndarray.js';

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

/** True when a stored weight holds `w`'s values (float32 copies of float64 values count as the same). */
function sameWeight(stored: StoredWeight, w: NDArray): boolean {
  return (
    stored.shape.length === w.shape.length &&
    stored.shape.every((d, a) => d === w.shape[a]) &&
    stored.read().data.every((v, e) => Object.is(v, w.data[e]) || Object.is(v, Math.fround(w.data[e]!)))
  );
}

/** Each of the model's weights with where a Keras 3 weights file keeps it: its vars group and its name there. */
function weightSlots(model: AnyLayersModel): { readonly w: NDArray; readonly group: string; readonly name: string }[] {
  const groups = kerasLayerGroups(model.layers.map((l) => l.className));
  return model.layers.flatMap((layer, k) => {
    const weights = layer.getWeights();
    const slots = kerasWeightSlots(layer.className, groups[k]!, weights.length);
    return weights.map((w, i) => ({ w, group: slots[i]![0], name: slots[i]![1] }));
  });
}

/** The weights in the layout of Keras 3's weights files (`model.weights.h5` in a `.keras`, `save_weights`' `.weights.h5`). */
async function kerasWeightsFile(model: AnyLayersModel, file: string): Promise<Uint8Array> {
  const { bytes } = await withH5File(undefined, 'w', file, (f) => {
    f.create_group('vars');
    const layersGroup = f.create_group('layers');
    const groups = kerasLayerGroups(model.layers.map((l) => l.className));
    // Every vars group (a layer's own, or one per sublayer), weights or not, as Keras writes them.
    const made = new Map<string, ReturnType<typeof layersGroup.create_group>>();
    const group = (p: string): ReturnType<typeof layersGroup.create_group> => {
      const known = made.get(p);
      if (known) return known;
      const cut = p.lastIndexOf('/');
      const made_ = cut < 0 ? f.create_group(p) : group(p.slice(0, cut)).create_group(p.slice(cut + 1));
      made.set(p, made_);
      return made_;
    };
    made.set('layers', layersGroup);
    model.layers.forEach((layer, k) => kerasVarGroups(layer.className, groups[k]!).forEach(group));
    for (const { w, group: at, name } of weightSlots(model)) {
      const values = w.dtype === 'float64' ? w.data : w.astype('float32').data;
      group(at).create_dataset({ name, data: values as Float32Array, shape: [...w.shape] });
    }
  });
  return bytes!;
}

/** The weights that read back from a Keras 3 weights file otherwise than the model holds them. */
async function changedInWeightsFile(weights: Uint8Array, model: AnyLayersModel, file: string): Promise<string[]> {
  const { result } = await withH5File(weights, 'r', file, (f) =>
    weightSlots(model).flatMap(({ w, group, name }) =>
      sameWeight(storedWeight(f.get(group) as H5Group, name, file), w) ? [] : [`${group}/${name}`],
    ),
  );
  return result;
}

/** Builds every layer, so a model not yet called has all its weights to write (or says why it cannot). */
function buildForSaving(model: AnyLayersModel, file: string): void {
  try {
    model.getWeights();
  } catch (e) {
    throw new SaveError(`${file}: the model cannot be built, so its weights cannot be saved (${(e as Error).message})`);
  }
}

/** Writes `data` beside `file`, checks what reads back with `check` (a SaveError when it differs), then replaces `file`. */
async function replaceChecked(
  file: string,
  data: Uint8Array,
  check: (written: string) => Promise<void>,
): Promise<void> {
  const temporary = await writeBeside(file, data);
  try {
    await check(temporary);
    await rename(temporary, file);
  } catch (e) {
    rmSync(temporary, { force: true });
    if (e instanceof SaveError) throw e;
    throw new SaveError(`${file}: cannot write (${reason(e)})`);
  }
}

const readBackFailure = (file: string, what: string) =>
  new SaveError(`${file}: the file written reads back ${what}; nothing was replaced`);

/**
 * Writes `model` as a Keras 3 `.keras` archive (config.json, metadata.json, model.weights.h5), the
 * file Python's `keras.saving.load_model` opens. The old file is replaced only once the new one is whole.
 */
export async function saveKerasFile(model: AnyLayersModel, file: string): Promise<void> {
  buildForSaving(model, file);
  const configText = JSON.stringify(keras3Config(model));
  const weights = await kerasWeightsFile(model, file);
  const metadata = { keras_version: '3.0.0', date_saved: new Date().toISOString(), saved_by: 'tsano' };
  const archive = zipSync(
    {
      'metadata.json': strToU8(JSON.stringify(metadata)),
      'config.json': strToU8(configText),
      'model.weights.h5': weights,
    },
    { level: 0 },
  );
  // The archive is read back from disk and compared with what was meant before it replaces anything.
  await replaceChecked(file, archive, async (written) => {
    let entries: Record<string, Uint8Array>;
    try {
      entries = unzipSync(new Uint8Array(await readFile(written)));
    } catch (e) {
      throw readBackFailure(file, `as no zip archive (${(e as Error).message})`);
    }
    if (!entries['config.json'] || strFromU8(entries['config.json']) !== configText)
      throw readBackFailure(file, 'with another config.json');
    if (!entries['model.weights.h5']) throw readBackFailure(file, 'without model.weights.h5');
    const changed = await changedInWeightsFile(entries['model.weights.h5'], model, file);
    if (changed.length) throw readBackFailure(file, `with other values in ${changed.join(', ')}`);
  });
}

/** Writes the model's weights as Keras 3's `save_weights` does (`*.weights.h5`): `layers/<layer>/vars/<i>`. */
export async function saveKerasWeights(model: AnyLayersModel, file: string): Promise<void> {
  buildForSaving(model, file);
  const weights = await kerasWeightsFile(model, file);
  await replaceChecked(file, weights, async (written) => {
    const changed = await changedInWeightsFile(new Uint8Array(await readFile(written)), model, file);
    if (changed.length) throw readBackFailure(file, `with other values in ${changed.join(', ')}`);
  });
}

/**
 * Writes the model as Keras's legacy HDF5 (`model.save('m.h5')`, which Keras 3 still writes and
 * reads): the config in the root's `model_config`, and under `model_weights` a group per layer whose
 * `weight_names` lists its weights, each stored at its name inside that group.
 */
export async function saveKerasH5(model: AnyLayersModel, file: string): Promise<void> {
  buildForSaving(model, file);
  const configText = JSON.stringify(keras3Config(model));
  const weightsOf = (layer: AnyLayersModel['layers'][number]) =>
    layer.getWeights().map((w, i) => ({ w, name: layer.weights[i]!.name ?? `${layer.name}/${i}` }));
  const { bytes } = await withH5File(undefined, 'w', file, (f) => {
    f.create_attribute('keras_version', '3.0.0');
    f.create_attribute('backend', 'tsano');
    f.create_attribute('model_config', configText);
    const root = f.create_group('model_weights');
    root.create_attribute('keras_version', '3.0.0');
    root.create_attribute('backend', 'tsano');
    root.create_attribute(
      'layer_names',
      model.layers.map((l) => l.name),
    );
    for (const layer of model.layers) {
      const group = root.create_group(layer.name);
      const weights = weightsOf(layer);
      if (weights.length === 0) continue;
      group.create_attribute(
        'weight_names',
        weights.map((x) => x.name),
      );
      for (const { w, name } of weights) {
        const parts = name.split('/');
        let at = group;
        for (const part of parts.slice(0, -1)) at = (at.get(part) as typeof group | null) ?? at.create_group(part);
        const values = w.dtype === 'float64' ? w.data : w.astype('float32').data;
        at.create_dataset({ name: parts[parts.length - 1]!, data: values as Float32Array, shape: [...w.shape] });
      }
    }
  });
  await replaceChecked(file, bytes!, async (written) => {
    const { result: changed } = await withH5File(new Uint8Array(await readFile(written)), 'r', file, (f) => {
      if (String(f.attrs['model_config']?.value) !== configText) return ['model_config'];
      const root = f.get('model_weights') as H5Group;
      return model.layers.flatMap((layer) =>
        weightsOf(layer).flatMap(({ w, name }) =>
          sameWeight(storedWeight(root.get(layer.name) as H5Group, name, file), w) ? [] : [`${layer.name}/${name}`],
        ),
      );
    });
    if (changed.length) throw readBackFailure(file, `with other values in ${changed.join(', ')}`);
  });
}
