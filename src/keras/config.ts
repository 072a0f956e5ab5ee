import { accessSync, constants, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  setDefaultBackend,
  setEpsilonValue,
  setHalfStorage,
  setFloatxDType,
  setImageDataFormatValue,
} from '../../runtime/config.js';
import { ConfigError } from '../../runtime/errors.js';

/** The backends tsano runs on, and the Python Keras names it accepts in their place. */
export type BackendName = 'wasm' | 'js';
const PYTHON_BACKENDS = ['tensorflow', 'theano', 'jax', 'torch', 'cntk', 'numpy'];
const FLOATX = ['float16', 'float32', 'float64'] as const;
const FORMATS = ['channels_last', 'channels_first'] as const;

export const DEFAULTS = {
  floatx: 'float32',
  epsilon: 1e-7,
  backend: 'wasm',
  image_data_format: 'channels_last',
} as const;

/** The directory Keras uses: $KERAS_HOME, else ~/.keras, or /tmp/.keras when the home folder is not writable. */
export function kerasDir(): string {
  const env = process.env['KERAS_HOME'];
  if (env) return env;
  const home = os.homedir();
  try {
    accessSync(home, constants.W_OK);
    return path.join(home, '.keras');
  } catch {
    return path.join(os.tmpdir(), '.keras');
  }
}

export interface KerasConfig {
  floatx: 'float16' | 'float32' | 'float64';
  epsilon: number;
  backend: BackendName;
  imageDataFormat: 'channels_last' | 'channels_first';
  /** The file the values came from (or would be written to). */
  file: string;
  /** One-line warnings to print (e.g. a Python backend name). */
  warnings: string[];
}

function resolveBackend(name: unknown, where: string, warnings: string[]): BackendName {
  if (name === 'wasm' || name === 'js') return name;
  if (typeof name === 'string' && PYTHON_BACKENDS.includes(name)) {
    warnings.push(`tsano: backend '${name}' (${where}) is a Python Keras backend; running on wasm.`);
    return 'wasm';
  }
  throw new ConfigError(
    `${where}: unknown backend ${JSON.stringify(name)} (use 'wasm' or 'js'; ${PYTHON_BACKENDS.join(', ')} run on wasm)`,
  );
}

/**
 * Reads keras.json as Keras does: missing file → created with the defaults when the folder is
 * writable; an existing file is never rewritten. Unlike Keras, bad JSON or a bad value is an error
 * naming the file, the key and the allowed values (Keras silently ignores bad JSON). Unknown keys are
 * kept in the file and ignored. KERAS_BACKEND overrides the file's backend.
 */
export function loadKerasConfig(): KerasConfig {
  const dir = kerasDir();
  const file = path.join(dir, 'keras.json');
  const warnings: string[] = [];
  let raw: Record<string, unknown> = {};
  if (existsSync(file)) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new ConfigError(`${file}: cannot be read (${(e as Error).message})`);
    }
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
      raw = parsed as Record<string, unknown>;
    } catch (e) {
      throw new ConfigError(
        `${file}: invalid JSON (${(e as Error).message}); fix or delete the file (tsano never rewrites it)`,
      );
    }
  } else {
    try {
      mkdirSync(dir, { recursive: true });
      writeFileSync(file, JSON.stringify(DEFAULTS, null, 4) + '\n');
    } catch {
      // not writable: the defaults apply silently, as in Keras
    }
  }
  const floatx = raw['floatx'] ?? DEFAULTS.floatx;
  if (!(FLOATX as readonly unknown[]).includes(floatx)) {
    throw new ConfigError(
      `${file}: invalid "floatx": ${JSON.stringify(floatx)} (expected one of ${FLOATX.join(', ')})`,
    );
  }
  const epsilon = raw['epsilon'] ?? DEFAULTS.epsilon;
  if (typeof epsilon !== 'number' || !Number.isFinite(epsilon) || epsilon <= 0) {
    throw new ConfigError(
      `${file}: invalid "epsilon": ${JSON.stringify(epsilon)} (expected a positive number such as 1e-07)`,
    );
  }
  const format = raw['image_data_format'] ?? DEFAULTS.image_data_format;
  if (!(FORMATS as readonly unknown[]).includes(format)) {
    throw new ConfigError(
      `${file}: invalid "image_data_format": ${JSON.stringify(format)} (expected one of ${FORMATS.join(', ')})`,
    );
  }
  let backend = resolveBackend(raw['backend'] ?? DEFAULTS.backend, `${file} "backend"`, warnings);
  const envBackend = process.env['KERAS_BACKEND'];
  if (envBackend) backend = resolveBackend(envBackend, 'KERAS_BACKEND', warnings);
  return {
    floatx: floatx as KerasConfig['floatx'],
    epsilon,
    backend,
    imageDataFormat: format as KerasConfig['imageDataFormat'],
    file,
    warnings,
  };
}

/** Applies a configuration to the values the core uses (float16 is stored as float32 arithmetic). */
export function applyKerasConfig(c: KerasConfig): void {
  setFloatxDType(c.floatx === 'float64' ? 'float64' : 'float32');
  setHalfStorage(c.floatx === 'float16');
  setEpsilonValue(c.epsilon);
  setImageDataFormatValue(c.imageDataFormat === 'channels_last' ? 'channelsLast' : 'channelsFirst');
  setDefaultBackend(c.backend);
}

let inForce: KerasConfig | undefined;
/**
 * The configuration in force: keras.json read and applied once per process, the first time either
 * `tsano` or `tsano/keras` is imported, so both namespaces report one configuration (warnings about
 * the file are printed then).
 */
export function configInForce(): KerasConfig {
  if (inForce) return inForce;
  inForce = loadKerasConfig();
  applyKerasConfig(inForce);
  for (const w of inForce.warnings) console.error(w);
  return inForce;
}
