/** Loading weights into a model from the files Keras writes: `.weights.h5`, `.keras` and legacy `.h5`. */
import { readFile } from 'node:fs/promises';
import { LoadError } from '../../runtime/errors.js';
import type { AnyLayersModel } from './model.js';
import { reason } from './save.js';
import {
  asList,
  HDF5_BYTES_PER_DATASET,
  HDF5_BYTES_PER_FILE,
  HDF5_MAGIC,
  kerasLayerGroups,
  kerasVarGroups,
  startsWith,
  storedWeight,
  textAttribute,
  unzipEntries,
  withH5File,
  ZIP_MAGIC,
  type H5Group,
  type StoredWeight,
} from './hdf5.js';

/**
 * Loads weights into `model` from a file Keras writes: `save_weights`' `.weights.h5` (Keras 3:
 * `layers/<layer>/vars/<i>`), a `.keras` archive (its model.weights.h5), or a legacy `.h5` (each layer's
 * `weight_names`, matched by layer name). Every weight is checked against the model (count and shape)
 * before any is set, so a file that does not fit changes nothing.
 */
export async function loadKerasWeights(model: AnyLayersModel, file: string): Promise<void> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(file));
  } catch (e) {
    throw new LoadError(`${file}: cannot read the weights (${reason(e)})`);
  }
  // Built first: a model never called has its weights only once built.
  model.getWeights();
  const layers = model.layers;
  const cap = layers.reduce(
    (n, l) => n + l.getWeights().reduce((m, w) => m + w.size * 8 + HDF5_BYTES_PER_DATASET, 0),
    HDF5_BYTES_PER_FILE,
  );
  if (startsWith(bytes, ZIP_MAGIC)) {
    const inner = unzipEntries(bytes, { 'model.weights.h5': cap }, file)['model.weights.h5'];
    if (!inner) throw new LoadError(`${file}: the archive has no model.weights.h5`);
    bytes = inner;
  }
  if (!startsWith(bytes, HDF5_MAGIC)) throw new LoadError(`${file}: neither a weights HDF5 file nor a .keras archive`);
  const { result: values } = await withH5File(bytes, 'r', file, (f) => {
    const stored: StoredWeight[][] = f.get('layers')
      ? (() => {
          const groups = kerasLayerGroups(layers.map((l) => l.className));
          return layers.map((layer, k) =>
            kerasVarGroups(layer.className, groups[k]!).flatMap((path) => {
              const vars = f.get(path) as H5Group | null;
              if (!vars) return [];
              return vars
                .keys()
                .sort((a, b) => Number(a) - Number(b))
                .map((name) => storedWeight(vars, name, file));
            }),
          );
        })()
      : layers.map((layer) => {
          const root = (f.get('model_weights') as H5Group | null) ?? f;
          const group = root.get(layer.name) as H5Group | null;
          if (!group) return [];
          return asList(textAttribute(group, 'weight_names'))
            .filter((n) => n !== '')
            .map((n) => storedWeight(group, n, file));
        });
    return layers.map((layer, k) => {
      const wanted = layer.getWeights();
      const found = stored[k]!;
      if (found.length !== wanted.length)
        throw new LoadError(
          `${file}: layer '${layer.name}' has ${wanted.length} weights, the file holds ${found.length} for it`,
        );
      return found.map((s, i) => {
        const shape = wanted[i]!.shape;
        if (s.shape.length !== shape.length || s.shape.some((d, a) => d !== shape[a]))
          throw new LoadError(
            `${file}: weight ${i + 1} of layer '${layer.name}' is ${JSON.stringify(s.shape)} in the file, the layer has ${JSON.stringify(shape)}`,
          );
        return s.read();
      });
    });
  });
  layers.forEach((layer, k) => {
    if (values[k]!.length) layer.setWeights(values[k]!);
  });
}
