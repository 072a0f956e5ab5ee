/**
 * What reading and writing Python Keras's own files share: HDF5 through h5wasm (a maintained build of
 * the HDF5 library), file signatures, and Keras's snake_case naming of layers in `.keras` weights.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as T from '../index.js';
import { LoadError } from '../../runtime/errors.js';

export type H5 = typeof import('h5wasm/node').default;
export type H5Group = InstanceType<H5['Group']>;
let h5: Promise<H5> | undefined;
/** h5wasm, loaded at the first Keras file (its wasm build of the HDF5 library costs ~40 ms). */
const loadH5 = (): Promise<H5> =>
  (h5 ??= import('h5wasm/node').then(async (m) => {
    await m.default.ready;
    return m.default;
  }));

export const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];
export const HDF5_MAGIC = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];
export const startsWith = (bytes: Uint8Array, magic: readonly number[]) => magic.every((b, i) => bytes[i] === b);

/** True for a path Keras's own formats are read from (`.keras`, `.h5`, `.hdf5`). */
export const isKerasFile = (file: string): boolean => /\.(keras|h5|hdf5)$/i.test(file);

/**
 * Keras 3's naming.to_snake_case, which names a layer's weights in a `.keras` file by its class. It
 * differs from the tf.keras form that automatic layer names follow (toSnakeCase in layers/layer.ts):
 * no digits join a word, and characters that are not word characters are dropped.
 */
function kerasSnakeCase(name: string): string {
  return name
    .replace(/\W+/g, '')
    .replace(/(.)([A-Z][a-z]+)/g, '$1_$2')
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .toLowerCase();
}

/**
 * The group under `layers/` where a `.keras` file keeps each layer's variables, for layer classes in
 * the model's layer order: the class in snake_case, numbered from the second of a class on (dense,
 * dense_1, ...).
 */
export function kerasLayerGroups(classNames: readonly string[]): string[] {
  const counts = new Map<string, number>();
  return classNames.map((className) => {
    const base = kerasSnakeCase(className);
    const n = counts.get(base) ?? 0;
    counts.set(base, n + 1);
    return n === 0 ? base : `${base}_${n}`;
  });
}

/** An HDF5 file's bytes opened with h5wasm (through a temporary file, which its Node build reads). */
export async function withH5File<R>(
  bytes: Uint8Array | undefined,
  mode: 'r' | 'w',
  use: (f: InstanceType<H5['File']>) => R,
) {
  const lib = await loadH5();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tsano-h5-'));
  const file = path.join(dir, 'data.h5');
  try {
    if (bytes) await writeFile(file, bytes);
    const f = new lib.File(file, mode);
    let result: R;
    try {
      result = use(f);
    } finally {
      f.close();
    }
    return { result, bytes: mode === 'w' ? new Uint8Array(readFileSync(file)) : undefined };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** An attribute as text or a list of texts (h5py writes both fixed- and variable-length strings). */
export function textAttribute(group: H5Group, name: string): string | string[] | undefined {
  const attr = group.attrs[name];
  if (!attr) return undefined;
  const value = attr.value as unknown;
  const text = (v: unknown) => (v instanceof Uint8Array ? new TextDecoder().decode(v) : String(v));
  return Array.isArray(value) ? value.map(text) : text(value);
}

export const asList = (v: string | string[] | undefined): string[] =>
  v === undefined ? [] : Array.isArray(v) ? v : [v];

/** A dataset's values as an NDArray of floatx, or a LoadError naming where it is. */
export function datasetArray(group: H5Group, name: string, where: string): T.NDArray {
  const entity = group.get(name) as { value?: unknown; shape?: number[] | null } | null;
  if (!entity || !('shape' in entity) || !Array.isArray(entity.shape))
    throw new LoadError(`${where}: no dataset '${name}' in group '${group.path}'`);
  const data = entity.value;
  if (!(data instanceof Float32Array || data instanceof Float64Array))
    throw new LoadError(`${where}: dataset '${group.path}/${name}' is not floating point`);
  return T.array(data, { shape: entity.shape }).astype(T.floatx());
}
