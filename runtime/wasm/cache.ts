import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const CODEGEN_VERSION = 'tsano-codegen-5';

let fingerprint: string | undefined;
/**
 * What the generated code depends on: the code generator's own source files, hashed once per
 * process, so a module cached by another version of the generator is never reused (a source-less
 * install falls back to the version string).
 */
function codegenFingerprint(): string {
  if (fingerprint !== undefined) return fingerprint;
  const hash = createHash('sha256').update(CODEGEN_VERSION);
  try {
    const dir = new URL('../../compiler/codegen/', import.meta.url);
    for (const name of readdirSync(dir).sort()) {
      if (/\.(ts|js)$/.test(name)) hash.update(name).update(readFileSync(new URL(name, dir)));
    }
  } catch {
    // no sources to read: the version string alone
  }
  return (fingerprint = hash.digest('hex'));
}

/** Where compiled modules are kept: $TSANO_CACHE, else ~/.cache/tsano; TSANO_CACHE=off disables the disk cache. */
function cacheDir(): string | undefined {
  const env = process.env['TSANO_CACHE'];
  if (env === 'off') return undefined;
  return env || path.join(os.homedir(), '.cache', 'tsano');
}

const memory = new Map<string, WebAssembly.Module>();

/** A stable key for a module's content: its kernel IR and the features it was built with. */
export function moduleKey(kernels: unknown, features: string): string {
  return createHash('sha256')
    .update(codegenFingerprint())
    .update(features)
    .update(JSON.stringify(kernels))
    .digest('hex')
    .slice(0, 32);
}

/**
 * The compiled module for `key`: from memory, else from the disk cache, else built by `build` and
 * stored in both. A cache that cannot be read or written is skipped, never an error.
 */
export type CacheSource = 'memory' | 'disk' | 'built';

export function cachedModule(
  key: string,
  build: () => Uint8Array,
): { module: WebAssembly.Module; source: CacheSource } {
  const hit = memory.get(key);
  if (hit) return { module: hit, source: 'memory' };
  const dir = cacheDir();
  const file = dir && path.join(dir, `${key}.wasm`);
  let module: WebAssembly.Module | undefined;
  let source: CacheSource = 'disk';
  if (file) {
    try {
      module = new WebAssembly.Module(readFileSync(file));
    } catch {
      module = undefined;
    }
  }
  if (!module) {
    source = 'built';
    const bytes = build();
    module = new WebAssembly.Module(bytes);
    if (file) {
      try {
        mkdirSync(dir!, { recursive: true });
        // Write then rename, so a concurrent reader never sees half a file.
        const tmp = `${file}.${process.pid}.tmp`;
        writeFileSync(tmp, bytes);
        renameSync(tmp, file);
      } catch {
        // a read-only or missing home only costs the next process a rebuild
      }
    }
  }
  memory.set(key, module);
  return { module, source };
}
