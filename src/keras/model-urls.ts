/**
 * Where a model is saved or loaded, as TensorFlow.js spells it: a path (or file://), or http(s)://
 * (loading by fetch, saving by a multipart POST of model.json and model.weights.bin, as TF.js's http
 * handler does). TF.js's browser storages (indexeddb://, localstorage://, downloads://) name no
 * place in Node: an error naming the scheme, never a folder called 'indexeddb:'.
 */
import { LoadError, SaveError } from '../../runtime/errors.js';

export type ModelLocation =
  { readonly kind: 'path'; readonly path: string } | { readonly kind: 'http'; readonly url: URL };

const BROWSER_STORAGE = new Set(['indexeddb', 'localstorage', 'downloads']);

/** Where `target` points, or a SaveError / LoadError naming a scheme that points nowhere here. */
export function locate(target: string, verb: 'save' | 'load'): ModelLocation {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(target)?.[1]?.toLowerCase();
  const Failure = verb === 'save' ? SaveError : LoadError;
  if (scheme === undefined) return { kind: 'path', path: target };
  if (scheme === 'file') return { kind: 'path', path: decodeURIComponent(target.slice('file://'.length)) };
  if (scheme === 'http' || scheme === 'https') return { kind: 'http', url: new URL(target) };
  if (BROWSER_STORAGE.has(scheme))
    throw new Failure(
      `${target}: ${scheme}:// is a browser's storage (TensorFlow.js's ${scheme} handler), which Node does not have: ${verb} ${verb === 'save' ? 'to' : 'from'} a folder, a .keras or .h5 file, or an http(s):// URL`,
    );
  throw new Failure(
    `${target}: the scheme ${scheme}:// is not one tsano ${verb}s models with (paths, file://, http://, https://)`,
  );
}

/** The model as TF.js's http handler sends it: a multipart POST of model.json and model.weights.bin. */
export async function postModel(url: URL, modelJson: object, weights: Uint8Array): Promise<void> {
  const form = new FormData();
  form.append('model.json', new Blob([JSON.stringify(modelJson)], { type: 'application/json' }), 'model.json');
  form.append('model.weights.bin', new Blob([weights], { type: 'application/octet-stream' }), 'model.weights.bin');
  let response: Response;
  try {
    response = await fetch(url, { method: 'POST', body: form });
  } catch (e) {
    throw new SaveError(`${url.href}: the model could not be sent (${(e as Error).message})`);
  }
  if (!response.ok) throw new SaveError(`${url.href}: the server answered ${response.status} ${response.statusText}`);
}

/** The bytes at `url`, or a LoadError naming it and the server's answer. */
export async function fetchBytes(url: URL, what: string): Promise<Uint8Array> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw new LoadError(`${url.href}: ${what} could not be fetched (${(e as Error).message})`);
  }
  if (!response.ok)
    throw new LoadError(`${url.href}: ${what}: the server answered ${response.status} ${response.statusText}`);
  return new Uint8Array(await response.arrayBuffer());
}
