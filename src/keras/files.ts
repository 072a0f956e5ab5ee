import { readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import * as T from '../index.js';
import { asLoadError, LoadError, TsanoError } from '../../runtime/errors.js';
import { checkedSize } from '../../runtime/limits.js';
import { withWeightSource } from './layers/layer.js';
import type { LayersModel } from './model.js';
import { loadKerasFile } from './keras-load.js';
import { isKerasFile } from './hdf5.js';

/**
 * What a loaded model's predict returns: one array, or a list when the file's model has several outputs.
 * The file decides, so the caller says which it expects (TensorFlow.js types it `Tensor | Tensor[]`).
 */
type Outputs = T.NDArray | T.NDArray[];
import { fetchBytes, locate } from './model-urls.js';
import { reason } from './save.js';
import { isObject, modelFromTopology, type Config } from './serialization.js';

/** A model.json is a topology and a manifest; anything near this size is not one. */
const MAX_MODEL_JSON_BYTES = 64 * 2 ** 20;
/** Keras topologies nest a few levels (config, layers, inbound nodes); deeper JSON is refused before parsing. */
const MAX_JSON_DEPTH = 64;
/** Bytes per element of the weight dtypes the TensorFlow.js layers format writes unquantized. */
const WEIGHT_BYTES = { float32: 4, int32: 4, bool: 1, uint8: 1 } as const;
type WeightDType = keyof typeof WEIGHT_BYTES;

interface WeightSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: WeightDType;
  readonly bytes: number;
}
interface WeightGroup {
  readonly files: readonly string[];
  readonly weights: readonly WeightSpec[];
}

/** The deepest nesting of arrays and objects in JSON text, counted without parsing (so without recursion). */
function jsonDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92)
        i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 91 || c === 123) deepest = Math.max(deepest, ++depth);
    else if (c === 93 || c === 125) depth--;
  }
  return deepest;
}

/** Parses JSON text from a file, refusing what is not UTF-8, too large or too deep, with the file's name. */
function parseJsonFile(bytes: Uint8Array, file: string): unknown {
  if (bytes.length > MAX_MODEL_JSON_BYTES)
    throw new LoadError(
      `${file}: ${bytes.length} bytes is too large for a model description (at most ${MAX_MODEL_JSON_BYTES})`,
    );
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new LoadError(`${file}: not UTF-8 text`);
  }
  return parseJsonText(text, file);
}

function parseJsonText(text: string, file: string): unknown {
  const depth = jsonDepth(text);
  if (depth > MAX_JSON_DEPTH)
    throw new LoadError(
      `${file}: JSON nested ${depth} levels deep (a model description needs at most ${MAX_JSON_DEPTH})`,
    );
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new LoadError(`${file}: invalid JSON (${(e as Error).message})`);
  }
}

/** The weights manifest, checked field by field: names, shapes within the size limit, known dtypes, files inside the model's folder. */
function readManifest(manifest: unknown, dir: string, file: string): WeightGroup[] {
  if (manifest === undefined) return [];
  if (!Array.isArray(manifest))
    throw new LoadError(
      `${file}: weightsManifest must be a list of groups, got ${JSON.stringify(manifest)?.slice(0, 40)}`,
    );
  return manifest.map((group: unknown, g) => {
    const where = `${file}: weightsManifest[${g}]`;
    if (!isObject(group) || !Array.isArray(group['paths']) || !Array.isArray(group['weights']))
      throw new LoadError(`${where} must be { paths: [...], weights: [...] }`);
    const files = group['paths'].map((p: unknown, k) => {
      if (typeof p !== 'string' || p === '')
        throw new LoadError(`${where}.paths[${k}] must be a file name, got ${JSON.stringify(p)}`);
      const resolved = path.resolve(dir, p);
      const inside = path.relative(dir, resolved);
      if (path.isAbsolute(p) || inside.startsWith('..') || path.isAbsolute(inside))
        throw new LoadError(
          `${where}.paths[${k}]: '${p}' is outside the model's folder ${dir}; weights files must sit beside model.json`,
        );
      return resolved;
    });
    const weights = group['weights'].map((w: unknown, k): WeightSpec => {
      const at = `${where}.weights[${k}]`;
      if (!isObject(w) || typeof w['name'] !== 'string') throw new LoadError(`${at} must have a name`);
      const dtype = w['dtype'] ?? 'float32';
      if (typeof dtype !== 'string' || !(dtype in WEIGHT_BYTES))
        throw new LoadError(
          `${at} (${w['name']}): dtype ${JSON.stringify(dtype)} is not supported (${Object.keys(WEIGHT_BYTES).join(', ')}; quantized weights are not)`,
        );
      if (!Array.isArray(w['shape'])) throw new LoadError(`${at} (${w['name']}): shape must be a list of sizes`);
      const shape = w['shape'] as number[];
      let size: number;
      try {
        size = checkedSize(shape, dtype === 'float32' ? 'float32' : 'int32', `weight '${w['name']}'`);
      } catch (e) {
        throw new LoadError(`${at}: ${(e as Error).message}`);
      }
      return {
        name: w['name'].replace(/:0$/, ''),
        shape,
        dtype: dtype as WeightDType,
        bytes: size * WEIGHT_BYTES[dtype as WeightDType],
      };
    });
    return { files, weights };
  });
}

/** Each group's files, after checking they exist and hold exactly the bytes the manifest declares. */
async function readWeightFiles(group: WeightGroup, file: string): Promise<Buffer> {
  const declared = group.weights.reduce((s, w) => s + w.bytes, 0);
  const folder = await realpath(path.dirname(path.resolve(file))).catch(() => path.dirname(path.resolve(file)));
  const sizes = await Promise.all(
    group.files.map(async (f) => {
      try {
        // The path's text was checked against the folder; a symbolic link may still lead out of it.
        const real = await realpath(f);
        const inside = path.relative(folder, real);
        if (inside.startsWith('..') || path.isAbsolute(inside))
          throw new LoadError(
            `${f}: weights file listed in ${file} is a link to ${real}, outside the model's folder; weights files must sit beside model.json`,
          );
        const s = await stat(real);
        if (!s.isFile()) throw new LoadError(`${f}: weights file listed in ${file} is not a file`);
        return s.size;
      } catch (e) {
        if (e instanceof TsanoError) throw e;
        throw new LoadError(`${f}: weights file listed in ${file} cannot be read (${reason(e)})`);
      }
    }),
  );
  const held = sizes.reduce((a, b) => a + b, 0);
  if (held !== declared) {
    const names = group.files.map((f) => path.basename(f)).join(', ');
    throw new LoadError(
      `${group.files.length === 1 ? group.files[0] : names}: ${held < declared ? 'truncated' : 'longer than declared'}: ${held} bytes, but ${file} declares ${declared} for ${group.weights.map((w) => `${w.name} ${JSON.stringify(w.shape)}`).join(', ')}`,
    );
  }
  const parts = await Promise.all(
    group.files.map((f) =>
      readFile(f).catch((e) => {
        throw new LoadError(`${f}: weights file listed in ${file} cannot be read (${reason(e)})`);
      }),
    ),
  );
  return Buffer.concat(parts);
}

/** Decodes a group's weights by name, warning about values that are not finite. */
function decodeWeights(
  group: WeightGroup,
  data: Buffer,
  file: string,
  into: Map<string, { spec: WeightSpec; value: T.NDArray }>,
): void {
  let offset = 0;
  for (const spec of group.weights) {
    const raw = data.subarray(offset, offset + spec.bytes);
    offset += spec.bytes;
    const copy = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength);
    const values =
      spec.dtype === 'float32'
        ? new Float32Array(copy)
        : spec.dtype === 'int32'
          ? Float32Array.from(new Int32Array(copy))
          : Float32Array.from(new Uint8Array(copy));
    const bad = values.reduce((n, v) => (Number.isFinite(v) ? n : n + 1), 0);
    if (bad)
      console.warn(
        `tsano: ${file}: weight '${spec.name}' holds ${bad} value${bad === 1 ? '' : 's'} that ${bad === 1 ? 'is' : 'are'} NaN or infinite`,
      );
    if (into.has(spec.name)) throw new LoadError(`${file}: weight '${spec.name}' is listed twice in the manifest`);
    into.set(spec.name, { spec, value: T.array(values, { shape: spec.shape }) });
  }
}

/**
 * Loads a TensorFlow.js layers model (written by tsano or by TensorFlow.js), weights included. Everything the
 * files declare is checked before it is allocated: a hostile or damaged file is a LoadError naming the file and
 * the field, and nothing outside the model's folder is read.
 */
export async function loadModel<Out extends Outputs = T.NDArray>(target: string): Promise<LayersModel<Out>> {
  const where = locate(target, 'load');
  if (where.kind === 'http') return loadModelByUrl<Out>(where.url);
  const file = where.path;
  if (isKerasFile(file)) return (await loadKerasFile(file)) as LayersModel<Out>;
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (e) {
    throw new LoadError(`${file}: cannot read the model (${reason(e)})`);
  }
  const json = parseJsonFile(bytes, file);
  if (!isObject(json) || !isObject(json['modelTopology']))
    throw new LoadError(`${file}: no modelTopology (is this a TensorFlow.js layers model?)`);
  const groups = readManifest(json['weightsManifest'], path.dirname(path.resolve(file)), file);
  const provided = new Map<string, { spec: WeightSpec; value: T.NDArray }>();
  for (const group of groups) decodeWeights(group, await readWeightFiles(group, file), file, provided);
  return modelFromArtifacts<Out>(json, provided, file);
}

/** The folder weights paths are checked against when a model comes by URL: they must name files beside model.json. */
const URL_FOLDER = '/model';

/** A TensorFlow.js layers model served over http(s): model.json, then its weights files beside it, as TF.js loads it. */
async function loadModelByUrl<Out extends Outputs>(url: URL): Promise<LayersModel<Out>> {
  const bytes = await fetchBytes(url, 'model.json');
  if (bytes.length > MAX_MODEL_JSON_BYTES)
    throw new LoadError(`${url.href}: ${bytes.length} bytes is too large for a model.json`);
  const json = parseJsonFile(Buffer.from(bytes), url.href);
  if (!isObject(json) || !isObject(json['modelTopology']))
    throw new LoadError(`${url.href}: no modelTopology (is this a TensorFlow.js layers model?)`);
  const groups = readManifest(json['weightsManifest'], URL_FOLDER, url.href);
  const provided = new Map<string, { spec: WeightSpec; value: T.NDArray }>();
  for (const group of groups) {
    const parts = await Promise.all(
      group.files.map((f) => fetchBytes(new URL(path.posix.relative(URL_FOLDER, f), url), 'a weights file')),
    );
    const data = Buffer.concat(parts);
    const declared = group.weights.reduce((sum, w) => sum + w.bytes, 0);
    if (data.length !== declared)
      throw new LoadError(
        `${url.href}: the weights files hold ${data.length} bytes, the manifest declares ${declared}`,
      );
    decodeWeights(group, data, url.href, provided);
  }
  return modelFromArtifacts<Out>(json, provided, url.href);
}

/** The model of a topology, its weights taken by name from `provided` (each checked against the shape the topology makes). */
function modelFromArtifacts<Out extends Outputs>(
  json: Record<string, unknown>,
  provided: ReadonlyMap<string, { spec: WeightSpec; value: T.NDArray }>,
  file: string,
): LayersModel<Out> {
  const used = new Set<string>();
  const source = (name: string, shape: readonly number[]) => {
    const found = provided.get(name);
    if (!found)
      throw new LoadError(
        `${file}: the model's weight '${name}' ${JSON.stringify(shape)} is not in the weights manifest (it lists ${[...provided.keys()].join(', ') || 'none'})`,
      );
    if (found.spec.shape.length !== shape.length || found.spec.shape.some((d, i) => d !== shape[i])) {
      throw new LoadError(
        `${file}: weight '${name}' is ${JSON.stringify(found.spec.shape)} in the weights manifest, but the topology makes it ${JSON.stringify(shape)}`,
      );
    }
    used.add(name);
    return found.value.astype(T.floatx());
  };
  const model = asLoadError(file, () =>
    withWeightSource(source, () => {
      const m = modelFromTopology(json['modelTopology'] as Config, file);
      void m.weights; // builds every layer, taking its weights from the files
      return m as LayersModel<Out>;
    }),
  );
  const unused = [...provided.keys()].filter((n) => !used.has(n));
  if (unused.length)
    throw new LoadError(`${file}: the weights manifest lists ${unused.join(', ')}, which the model does not have`);
  return model;
}

/** A model from Keras's `model.to_json()` output (Keras 2 or Keras 3 layout), with fresh weights. */
export function modelFromJSON<Out extends Outputs = T.NDArray>(text: string): LayersModel<Out> {
  if (typeof text !== 'string')
    throw new LoadError(`modelFromJSON: expected the JSON text of a model, got ${typeof text}`);
  const json = parseJsonText(text, 'modelFromJSON');
  if (!isObject(json)) throw new LoadError('modelFromJSON: the JSON must be an object (a Keras model config)');
  return asLoadError('modelFromJSON', () => {
    const model = modelFromTopology(json, 'modelFromJSON');
    void model.weights; // builds every layer now, so an impossible size is an error here, not at the first predict
    return model as LayersModel<Out>;
  });
}
