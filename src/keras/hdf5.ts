/**
 * What reading and writing Python Keras's own files share: HDF5 through h5wasm (a maintained build of
 * the HDF5 library), zip entries inflated within caps, file signatures, and Keras's naming and layout
 * of layers' weights in `.keras` files.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { unzipSync } from 'fflate';
import * as T from '../index.js';
import { LoadError, TsanoError } from '../../runtime/errors.js';
import { checkedSize } from '../../runtime/limits.js';

export type H5 = typeof import('h5wasm/node').default;
export type H5Group = InstanceType<H5['Group']>;
type H5Dataset = InstanceType<H5['Dataset']>;

/** The parts of h5wasm's Emscripten file system that a read is fenced in with. */
interface FileSystem {
  open: (path: unknown, ...rest: unknown[]) => unknown;
  write: (stream: { fd?: number }, ...rest: unknown[]) => number;
  ErrnoError: new (errno: number) => Error;
}
let h5: Promise<{ lib: H5; fs: FileSystem }> | undefined;
/** h5wasm, loaded at the first Keras file (its wasm build of the HDF5 library costs ~40 ms). */
const loadH5 = () =>
  (h5 ??= import('h5wasm/node').then(async (m) => {
    await m.default.ready;
    return { lib: m.default, fs: m.FS as unknown as FileSystem };
  }));

/** Warnings found while HDF5 runs fenced (stderr is held then), printed once it is done. */
const warnings: string[] = [];

/** Emscripten's errno for "no such file", which HDF5 sees when it reaches for any other file. */
const ENOENT = 44;

/**
 * Runs `use` with HDF5 able to open `file` only, and with its diagnostics kept off stderr. External
 * links, virtual datasets and external storage all open another file by name: fenced in this way,
 * none of them can read anything on disk but the file being loaded. What HDF5 printed is returned.
 */
function fenced<R>(fs: FileSystem, file: string, use: () => R): { result: R; diagnostics: string } {
  const { open, write } = fs;
  const printed: string[] = [];
  fs.open = (target, ...rest) => {
    if (typeof target === 'string' && path.resolve(target) !== file) throw new fs.ErrnoError(ENOENT);
    return open(target, ...rest);
  };
  fs.write = (stream, ...rest) => {
    if (stream.fd !== 1 && stream.fd !== 2) return write(stream, ...rest);
    const [buffer, offset, length] = rest as [Uint8Array, number, number];
    printed.push(new TextDecoder().decode(buffer.subarray(offset, offset + length)));
    return length;
  };
  // Emscripten reports an abort (a file HDF5 gives up on) through console.error, bound when it started.
  const stderrWrite = process.stderr.write;
  process.stderr.write = ((chunk: string | Uint8Array) => {
    printed.push(typeof chunk === 'string' ? chunk : new TextDecoder().decode(chunk));
    return true;
  }) as typeof process.stderr.write;
  try {
    return { result: use(), diagnostics: printed.join('') };
  } catch (e) {
    (e as { diagnostics?: string }).diagnostics = printed.join('');
    throw e;
  } finally {
    fs.open = open;
    fs.write = write;
    process.stderr.write = stderrWrite;
  }
}

/** HDF5's own words on what failed (its innermost minor message), for an error that names the file. */
function hdf5Reason(e: unknown): string {
  const printed = (e as { diagnostics?: string }).diagnostics ?? '';
  const minors = [...printed.matchAll(/minor: (.+)/g)].map((m) => m[1]!.trim());
  const own = e instanceof Error ? e.message : String(e);
  // h5wasm's own message ("error - name not defined!") says less than HDF5's when HDF5 said something.
  return minors.length ? minors[minors.length - 1]!.toLowerCase() : own;
}

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

/** Layers a `.keras` file stores as sublayers, each with variables of its own, in the order of the layer's weights. */
const KERAS_SUBLAYERS: Readonly<Record<string, readonly string[]>> = {
  MultiHeadAttention: ['query_dense', 'key_dense', 'value_dense', 'output_dense'],
};

/** The groups of a `.keras` file holding the variables of a layer of `className` kept under `layers/<group>`, in weight order. */
export const kerasVarGroups = (className: string, group: string): string[] =>
  (KERAS_SUBLAYERS[className] ?? ['']).map((sub) => (sub ? `layers/${group}/${sub}/vars` : `layers/${group}/vars`));

/** Where each of a layer's `count` weights is kept in a `.keras` file: its vars group and its name there. */
export function kerasWeightSlots(className: string, group: string, count: number): (readonly [string, string])[] {
  const groups = kerasVarGroups(className, group);
  const per = Math.max(1, count / groups.length);
  return Array.from({ length: count }, (_, i) => [groups[Math.floor(i / per)]!, String(i % per)] as const);
}

/**
 * An HDF5 file's bytes opened with h5wasm (through a temporary file, which its Node build reads),
 * fenced so that nothing but that file is opened and HDF5 prints nothing. Any failure inside is a
 * LoadError naming `where` (the user's file), with HDF5's reason.
 */
export async function withH5File<R>(
  bytes: Uint8Array | undefined,
  mode: 'r' | 'w',
  where: string,
  use: (f: InstanceType<H5['File']>) => R,
) {
  const { lib, fs } = await loadH5();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tsano-h5-'));
  const file = path.join(dir, 'data.h5');
  try {
    if (bytes) await writeFile(file, bytes);
    const { result } = fenced(fs, file, () => {
      const f = new lib.File(file, mode);
      try {
        return use(f);
      } finally {
        f.close();
      }
    });
    return { result, bytes: mode === 'w' ? new Uint8Array(readFileSync(file)) : undefined };
  } catch (e) {
    if (e instanceof TsanoError) throw e;
    throw new LoadError(`${where}: not a readable HDF5 file (${hdf5Reason(e)})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    for (const w of warnings.splice(0)) console.warn(w);
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

/** A weight stored in an HDF5 file: its shape, known before anything is read, and how to read it. */
export interface StoredWeight {
  readonly shape: readonly number[];
  /** The values as an NDArray of floatx; call only after checking the shape. */
  read(): T.NDArray;
}

/**
 * The dataset `name` of `group` as a weight to read later, after checking what it declares: a dataset
 * (not a link out of the file), of floating point, a plain (not virtual) layout, and a size one array
 * may hold. Nothing is read yet, so a huge declared shape costs nothing until it is compared.
 */
export function storedWeight(group: H5Group, name: string, where: string): StoredWeight {
  const at = `${group.path === '/' ? '' : group.path}/${name}`;
  const entity = group.get(name) as { type?: string } | null;
  if (!entity) throw new LoadError(`${where}: no dataset '${name}' in group '${group.path}'`);
  const kind = entity.type ?? 'reference';
  if (kind === 'ExternalLink' || kind === 'BrokenSoftLink')
    throw new LoadError(`${where}: '${at}' is a link (${kind}); weights must be stored in the file itself`);
  if (kind !== 'Dataset') throw new LoadError(`${where}: '${at}' is a ${kind}, not a dataset`);
  const dataset = entity as H5Dataset;
  const meta = dataset.metadata;
  if (meta.virtual_sources?.length)
    throw new LoadError(
      `${where}: dataset '${at}' is virtual (it maps other files); weights must be stored in the file`,
    );
  // Floats, and integers (Keras keeps a Normalization's sample count as an int64).
  const integer = meta.type === 0 && [1, 2, 4, 8].includes(meta.size);
  if (!integer && (meta.type !== 1 || (meta.size !== 4 && meta.size !== 8)))
    throw new LoadError(
      `${where}: dataset '${at}' is not floating point (HDF5 type class ${meta.type}, ${meta.size} bytes)`,
    );
  const shape = meta.shape ?? [];
  try {
    checkedSize(shape, meta.size === 8 || integer ? 'float64' : 'float32', `dataset '${at}'`);
  } catch (e) {
    throw new LoadError(`${where}: ${(e as Error).message}`);
  }
  return {
    shape,
    read: () => {
      const stored = dataset.value as unknown;
      // A scalar dataset (a layer's single learned scale) reads as a number; integers become floats.
      const data =
        typeof stored === 'number' || typeof stored === 'bigint'
          ? Float64Array.of(Number(stored))
          : integer && ArrayBuffer.isView(stored)
            ? Float64Array.from(stored as unknown as ArrayLike<number | bigint>, Number)
            : stored;
      if (!(data instanceof Float32Array || data instanceof Float64Array))
        throw new LoadError(`${where}: dataset '${at}' is not floating point`);
      let bad = 0;
      for (const v of data) if (!Number.isFinite(v)) bad++;
      if (bad) warnings.push(`tsano: ${where}: weight '${at}' holds ${bad} value(s) that are NaN or infinite`);
      return T.array(data, { shape }).astype(T.floatx());
    },
  };
}

/** config.json and metadata.json are descriptions: anything near this size is not one. */
export const MAX_DESCRIPTION_BYTES = 64 * 2 ** 20;
/** Room for HDF5's own structures beside the weights' values: per dataset, and for the file. */
export const HDF5_BYTES_PER_DATASET = 64 * 1024;
export const HDF5_BYTES_PER_FILE = 1024 * 1024;

/**
 * Inflates only the archive entries `caps` names, each refused before inflating when the archive
 * declares it larger than its cap (the inflated output is bounded by the declared size).
 */
export function unzipEntries(bytes: Uint8Array, caps: Readonly<Record<string, number>>, where: string) {
  try {
    return unzipSync(bytes, {
      filter: (entry) => {
        const cap = Object.hasOwn(caps, entry.name) ? caps[entry.name]! : undefined;
        if (cap === undefined) return false;
        if (entry.originalSize > cap)
          throw new LoadError(
            `${where}: ${entry.name} declares ${entry.originalSize} bytes inflated, more than this model can need (${cap})`,
          );
        return true;
      },
    });
  } catch (e) {
    if (e instanceof LoadError) throw e;
    throw new LoadError(`${where}: not a readable zip archive (${(e as Error).message})`);
  }
}
