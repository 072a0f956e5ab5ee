/** Reading models Python Keras saved: `.keras` (Keras 3 archive) and `.h5` (Keras 2 HDF5). */
import { readFile } from 'node:fs/promises';
import { strFromU8 } from 'fflate';
import * as T from '../index.js';
import { asLoadError, LoadError } from '../../runtime/errors.js';
import { withWeightSource } from './layers/layer.js';
import { isObject, modelFromTopology, type Config } from './serialization.js';
import type { AnyLayersModel } from './model.js';
import { reason } from './save.js';
import {
  asList,
  storedWeight,
  HDF5_BYTES_PER_DATASET,
  HDF5_BYTES_PER_FILE,
  HDF5_MAGIC,
  MAX_DESCRIPTION_BYTES,
  unzipEntries,
  kerasLayerGroups,
  kerasVarGroups,
  startsWith,
  textAttribute,
  withH5File,
  ZIP_MAGIC,
  type H5Group,
  type StoredWeight,
} from './hdf5.js';

/**
 * Builds the model of `topology` with its weights taken, layer by layer in order, from `weights`
 * (arrays by layer name); every array the file holds must be used, with the shape the layer builds.
 */
function assemble(topology: Config, weights: Map<string, StoredWeight[]>, where: string): AnyLayersModel {
  const taken = new Map<string, number>();
  const source = (full: string, shape: readonly number[], layer: string) => {
    const list = weights.get(layer) ?? [];
    const index = taken.get(layer) ?? 0;
    const value = list[index];
    if (!value)
      throw new LoadError(
        `${where}: layer '${layer}' needs weight ${index + 1} (${full}, ${JSON.stringify(shape)}), the file has ${list.length} for it`,
      );
    if (value.shape.length !== shape.length || value.shape.some((d, i) => d !== shape[i]))
      throw new LoadError(
        `${where}: weight ${index + 1} of layer '${layer}' is ${JSON.stringify(value.shape)} in the file, the layer builds ${JSON.stringify(shape)}`,
      );
    taken.set(layer, index + 1);
    return value.read();
  };
  const model = asLoadError(where, () =>
    withWeightSource(source, () => {
      const m = modelFromTopology(topology, where);
      void m.weights;
      return m;
    }),
  );
  for (const [layer, list] of weights)
    if ((taken.get(layer) ?? 0) !== list.length)
      throw new LoadError(
        `${where}: the file holds ${list.length} weights for layer '${layer}', the model uses ${taken.get(layer) ?? 0}`,
      );
  return model;
}

/** The layer entries of a topology (Keras 2 or 3), in file order. */
function layerEntries(topology: Config): Config[] {
  const config = topology['config'];
  const list = Array.isArray(config) ? config : isObject(config) ? config['layers'] : undefined;
  return Array.isArray(list) ? (list.filter(isObject) as Config[]) : [];
}

const layerName = (e: Config) => String(e['name'] ?? (isObject(e['config']) ? e['config']['name'] : ''));

/** The bytes a weights file of `topology`'s model can need: its weights in float64, and HDF5's structures. */
function weightsFileCap(topology: Config, where: string): number {
  let bytes = HDF5_BYTES_PER_FILE;
  const count = (_: string, shape: readonly number[]) => {
    bytes += shape.reduce((a, b) => a * b, 1) * 8 + HDF5_BYTES_PER_DATASET;
    return T.zeros([...shape]);
  };
  asLoadError(where, () => withWeightSource(count, () => void modelFromTopology(topology, where).weights));
  return bytes;
}

/** A Keras 3 `.keras` archive: the model from config.json, weights from model.weights.h5 (`layers/<class>/vars/<i>`). */
async function readKerasArchive(bytes: Uint8Array, where: string): Promise<AnyLayersModel> {
  const described = unzipEntries(bytes, { 'config.json': MAX_DESCRIPTION_BYTES }, where);
  const configBytes = described['config.json'];
  if (!configBytes) throw new LoadError(`${where}: the archive has no config.json (is it a Keras 3 .keras file?)`);
  let topology: unknown;
  try {
    topology = JSON.parse(strFromU8(configBytes));
  } catch (e) {
    throw new LoadError(`${where}: config.json is not JSON (${(e as Error).message})`);
  }
  if (!isObject(topology)) throw new LoadError(`${where}: config.json must hold an object`);
  const config = topology;
  const weightsBytes = unzipEntries(bytes, { 'model.weights.h5': weightsFileCap(config, where) }, where)[
    'model.weights.h5'
  ];
  if (!weightsBytes) throw new LoadError(`${where}: the archive has no model.weights.h5`);
  if (!startsWith(weightsBytes, HDF5_MAGIC)) throw new LoadError(`${where}: model.weights.h5 is not an HDF5 file`);
  const { result } = await withH5File(weightsBytes, 'r', `${where} (model.weights.h5)`, (f) => {
    const byLayer = new Map<string, StoredWeight[]>();
    const entries = layerEntries(config).filter((e) => e['class_name'] !== 'InputLayer');
    const groups = kerasLayerGroups(entries.map((e) => String(e['class_name'])));
    entries.forEach((entry, k) => {
      const stored = kerasVarGroups(String(entry['class_name']), groups[k]!).flatMap((path) => {
        const vars = f.get(path) as H5Group | null;
        if (!vars) return [];
        const names = vars.keys().sort((a, b) => Number(a) - Number(b));
        return names.map((name) => storedWeight(vars, name, where));
      });
      if (stored.length) byLayer.set(layerName(entry), stored);
    });
    return assemble(config, byLayer, where);
  });
  return result;
}

/** A Keras 2 `.h5` model: the topology in the root's model_config, each layer's weights named by its weight_names. */
async function readKerasH5(bytes: Uint8Array, where: string): Promise<AnyLayersModel> {
  const { result } = await withH5File(bytes, 'r', where, (f) => {
    const config = textAttribute(f, 'model_config');
    if (config === undefined)
      throw new LoadError(
        `${where}: no model_config attribute: the file holds weights only (Keras's save_weights), not a model`,
      );
    let topology: unknown;
    try {
      topology = JSON.parse(asList(config)[0]!);
    } catch (e) {
      throw new LoadError(`${where}: model_config is not JSON (${(e as Error).message})`);
    }
    if (!isObject(topology)) throw new LoadError(`${where}: model_config must hold an object`);
    const root = (f.get('model_weights') as H5Group | null) ?? f;
    const weights = new Map<string, StoredWeight[]>();
    for (const layer of asList(textAttribute(root, 'layer_names'))) {
      const group = root.get(layer) as H5Group | null;
      if (!group || group.type !== 'Group')
        throw new LoadError(`${where}: layer_names lists '${layer}', which has no group`);
      // Keras writes an empty weight_names for a layer without weights.
      const names = asList(textAttribute(group, 'weight_names')).filter((n) => n !== '');
      if (names.length)
        weights.set(
          layer,
          names.map((n) => storedWeight(group, n, where)),
        );
    }
    return assemble(topology, weights, where);
  });
  return result;
}

/** Reads a model Python Keras saved: a `.keras` archive or a Keras 2 `.h5` file. */
export async function loadKerasFile(file: string): Promise<AnyLayersModel> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(file));
  } catch (e) {
    throw new LoadError(`${file}: cannot read the model (${reason(e)})`);
  }
  if (startsWith(bytes, ZIP_MAGIC)) return readKerasArchive(bytes, file);
  if (startsWith(bytes, HDF5_MAGIC)) return readKerasH5(bytes, file);
  throw new LoadError(`${file}: neither a .keras archive (zip) nor an HDF5 file`);
}
