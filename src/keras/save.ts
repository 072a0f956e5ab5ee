import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { SaveError, TsanoError } from '../../runtime/errors.js';
import type { AnyLayersModel } from './model.js';

type Config = Record<string, unknown>;

/** A path without its optional `file://` scheme (TensorFlow.js's spelling). */
export const localPath = (p: string) => (p.startsWith('file://') ? p.slice('file://'.length) : p);
/** A file-system error's code and message, for wrapping it in tsano's error with the path. */
export const reason = (e: unknown) =>
  (e as NodeJS.ErrnoException).code
    ? `${(e as NodeJS.ErrnoException).code}: ${(e as Error).message}`
    : (e as Error).message;

/** Writes `data` to `file` through a temporary file beside it, so a failed write leaves the old file whole. */
export async function writeBeside(file: string, data: string | Uint8Array): Promise<string> {
  const temporary = `${file}.${process.pid}-${Date.now().toString(36)}.tmp`;
  try {
    await writeFile(temporary, data);
  } catch (e) {
    await rm(temporary, { force: true });
    throw new SaveError(`${file}: cannot write (${reason(e)})`);
  }
  return temporary;
}

/** The weights files the model.json already in `dir` lists (none when there is none, or it is not ours to read). */
async function currentWeightFiles(dir: string): Promise<string[]> {
  try {
    const json = JSON.parse(await readFile(path.join(dir, 'model.json'), 'utf8')) as Config;
    const groups = (Array.isArray(json['weightsManifest']) ? json['weightsManifest'] : []) as Config[];
    return groups.flatMap((g) =>
      Array.isArray(g['paths'])
        ? g['paths'].filter((p): p is string => typeof p === 'string' && /^[\w.-]+$/.test(p) && !/^\.+$/.test(p))
        : [],
    );
  } catch {
    return [];
  }
}

/** The model in TensorFlow.js's layers format: model.json's content (its weights in `weightsName`) and the weights' bytes. */
export function layersArtifacts(model: AnyLayersModel, weightsName: string): { json: object; bytes: Uint8Array } {
  const weights = model.weights;
  const bytes = new Uint8Array(weights.reduce((s, w) => s + w.get().size * 4, 0));
  let offset = 0;
  for (const w of weights) {
    const v = w.get().dtype === 'float32' ? w.get() : w.get().astype('float32');
    bytes.set(new Uint8Array(v.data.buffer, v.data.byteOffset, v.data.byteLength), offset);
    offset += v.data.byteLength;
  }
  const json = {
    format: 'layers-model',
    generatedBy: 'tsano',
    convertedBy: null,
    modelTopology: model.topology(),
    weightsManifest: [
      { paths: [weightsName], weights: weights.map((w) => ({ name: w.name, shape: w.get().shape, dtype: 'float32' })) },
    ],
  };
  return { json, bytes };
}

/**
 * Writes `dir/model.json` (TensorFlow.js layers-model format) and its weights file. Replacing a model is
 * atomic: the new weights go to a file the old model.json does not list (weights.bin, or weights-2.bin when
 * weights.bin is in use), model.json is replaced by a rename, and only then is the old weights file removed;
 * if anything fails before, the previous model is left as it was.
 */
export async function saveModel(model: AnyLayersModel, target: string): Promise<void> {
  const dir = localPath(target);
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    throw new SaveError(`${dir}: cannot create the model's folder (${reason(e)})`);
  }
  const previous = await currentWeightFiles(dir);
  const weightsName = previous.includes('weights.bin') ? 'weights-2.bin' : 'weights.bin';
  const artifacts = layersArtifacts(model, weightsName);
  const { bytes } = artifacts;
  const json = JSON.stringify(artifacts.json);
  const files = [path.join(dir, weightsName), path.join(dir, 'model.json')];
  const written: string[] = [];
  let renamed = 0;
  try {
    written.push(await writeBeside(files[0]!, bytes));
    written.push(await writeBeside(files[1]!, json));
    // Read back before anything is replaced: what is on disk must be what was meant.
    const contents = [bytes, new TextEncoder().encode(json)];
    for (let k = 0; k < written.length; k++)
      if (!(await readFile(written[k]!)).equals(contents[k]!))
        throw new SaveError(`${files[k]}: the file written reads back different; nothing was replaced`);
    for (; renamed < files.length; renamed++) await rename(written[renamed]!, files[renamed]!);
  } catch (e) {
    await Promise.all(written.slice(renamed).map((t) => rm(t, { force: true })));
    // A new weights file nobody lists yet is removed too; the old model.json and its weights are untouched.
    if (renamed === 1) await rm(files[0]!, { force: true });
    if (e instanceof TsanoError) throw e;
    throw new SaveError(`${dir}: cannot save the model (${reason(e)})`);
  }
  await Promise.all(previous.filter((p) => p !== weightsName).map((p) => rm(path.join(dir, p), { force: true })));
}
