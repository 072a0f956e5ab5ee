/**
 * Keras's own files (`.keras`, `.h5`) as an attacker or a damaged disk would hand them over: nothing
 * outside the file is read, nothing is inflated or allocated before it is checked against what the
 * model needs, and every failure is a LoadError naming the file. Each case failed before its fix.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { strToU8, unzipSync, zipSync } from 'fflate';
import h5wasm from 'h5wasm/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as T from 'tsano';
import * as keras from 'tsano/keras';

const work = mkdtempSync(path.join(os.tmpdir(), 'tsano-hostile-keras-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let files = 0;
const fresh = (name: string) => path.join(work, `${files++}-${name}`);

beforeAll(async () => {
  await h5wasm.ready;
});

/** A Dense(3) on 4 features: the model every hostile file below claims to hold. */
const dense = () => keras.sequential({ layers: [keras.layers.dense({ units: 3, inputShape: [4] })] });

/** An HDF5 file written with h5wasm by `fill`, as bytes. */
function h5Bytes(fill: (f: InstanceType<typeof h5wasm.File>) => void): Uint8Array {
  const file = fresh('w.h5');
  const f = new h5wasm.File(file, 'w');
  try {
    fill(f);
  } finally {
    f.close();
  }
  return new Uint8Array(readFileSync(file));
}

/** A `.keras` archive of `dense()`'s config with `weights` as model.weights.h5 and `extra` entries beside. */
async function kerasArchive(weights: Uint8Array, extra: Record<string, Uint8Array> = {}) {
  const saved = fresh('base.keras');
  await dense().save(saved);
  const entries = unzipSync(new Uint8Array(readFileSync(saved)));
  const file = fresh('hostile.keras');
  writeFileSync(file, zipSync({ ...entries, 'model.weights.h5': weights, ...extra }, { level: 6 }));
  return file;
}

const weightsGroup = (f: InstanceType<typeof h5wasm.File>) => {
  f.create_group('layers');
  f.create_group('layers/dense');
  return f.create_group('layers/dense/vars');
};

/** Loads `file`, returning the error and the time it took (the model when it loaded). */
async function attempt(file: string) {
  const started = performance.now();
  const outcome = await keras.models.loadModel(file).then(
    (model) => ({ model, error: undefined }),
    (error: Error) => ({ model: undefined, error }),
  );
  return { ...outcome, ms: performance.now() - started };
}

describe('a .keras save writes every weight', () => {
  it('a model never called saves all its weights and loads back the same', async () => {
    const model = keras.sequential({
      layers: [keras.layers.dense({ units: 5, inputShape: [4] }), keras.layers.dense({ units: 2 })],
    });
    const file = fresh('uncalled.keras');
    await model.save(file);
    const loaded = await keras.models.loadModel(file);
    const [ours, theirs] = [model.getWeights(), loaded.getWeights()];
    expect(theirs.map((w) => w.shape)).toEqual([[4, 5], [5], [5, 2], [2]]);
    theirs.forEach((w, i) => expect([...w.data]).toEqual([...ours[i]!.data]));
  });
});

describe('nothing outside the file is read', () => {
  it('an HDF5 external link in the weights is refused; the linked file is never read', async () => {
    const secret = fresh('secret.h5');
    writeFileSync(
      secret,
      h5Bytes((f) => {
        f.create_group('vars');
        f.create_dataset({ name: 'vars/0', data: new Float32Array(12).fill(7), shape: [4, 3] });
        f.create_dataset({ name: 'vars/1', data: new Float32Array(3).fill(7), shape: [3] });
      }),
    );
    for (const link of ['layers/dense/vars', 'layers/dense/vars/0']) {
      const weights = h5Bytes((f) => {
        if (link.endsWith('vars')) {
          f.create_group('layers');
          f.create_group('layers/dense');
          f.create_external_link(secret, '/vars', link);
        } else {
          const vars = weightsGroup(f);
          vars.create_dataset({ name: '1', data: new Float32Array(3), shape: [3] });
          f.create_external_link(secret, '/vars/0', link);
        }
      });
      const { model, error } = await attempt(await kerasArchive(weights));
      expect(model, link).toBeUndefined();
      expect(error).toBeInstanceOf(T.LoadError);
      expect(error!.message).toMatch(/hostile\.keras/);
    }
  });

  it('a weights file that is a symbolic link out of the model folder is refused', async () => {
    const outside = fresh('outside');
    mkdirSync(outside);
    const model = dense();
    await model.save(outside);
    const dir = fresh('linked');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'model.json'), readFileSync(path.join(outside, 'model.json')));
    symlinkSync(path.join(outside, 'weights.bin'), path.join(dir, 'weights.bin'));
    const { error } = await attempt(path.join(dir, 'model.json'));
    expect(error).toBeInstanceOf(T.LoadError);
    expect(error!.message).toMatch(/weights\.bin: weights file listed in .* is a link to .*outside the model's folder/);
  });
});

describe('sizes are checked before anything is inflated or read', () => {
  it('an archive entry the model does not need is never inflated', async () => {
    const saved = fresh('bomb-base.keras');
    const model = dense();
    await model.save(saved);
    const entries = unzipSync(new Uint8Array(readFileSync(saved)));
    const file = fresh('bomb.keras');
    // 256 MiB of zeros deflate to about 250 KB.
    writeFileSync(file, zipSync({ ...entries, 'assets/bomb.bin': new Uint8Array(256 * 2 ** 20) }, { level: 9 }));
    const before = process.memoryUsage().arrayBuffers;
    const { model: loaded, error } = await attempt(file);
    expect(error).toBeUndefined();
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 2 ** 20);
    expect([...loaded!.getWeights()[0]!.data]).toEqual([...model.getWeights()[0]!.data]);
  });

  it('a weights entry declared larger than the model can need is refused before inflating', async () => {
    const file = await kerasArchive(new Uint8Array(64 * 2 ** 20));
    const { error, ms } = await attempt(file);
    expect(error).toBeInstanceOf(T.LoadError);
    expect(error!.message).toMatch(
      /model\.weights\.h5 declares 67108864 bytes inflated, more than this model can need/,
    );
    expect(ms).toBeLessThan(2000);
  });

  it('a dataset declaring 16384x16384 where the layer needs [4, 3] is refused before it is read', async () => {
    const weights = h5Bytes((f) => {
      const vars = weightsGroup(f);
      vars.create_dataset({
        name: '0',
        data: new Float32Array(12),
        shape: [4, 3],
        maxshape: [null, null],
        chunks: [4, 3],
      });
      (vars.get('0') as InstanceType<typeof h5wasm.Dataset>).resize([16384, 16384]);
      vars.create_dataset({ name: '1', data: new Float32Array(3), shape: [3] });
    });
    expect(weights.length).toBeLessThan(64 * 1024);
    const before = process.memoryUsage().arrayBuffers;
    const { error, ms } = await attempt(await kerasArchive(weights));
    expect(error).toBeInstanceOf(T.LoadError);
    expect(error!.message).toMatch(
      /weight 1 of layer 'dense(_\d+)?' is \[16384,16384\] in the file, the layer builds \[4,3\]/,
    );
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 2 ** 20);
    expect(ms).toBeLessThan(2000);
  });
});

describe('damaged HDF5 is a LoadError naming the file', () => {
  const fixture = path.resolve('test/fixtures/keras3/mlp/model.h5');

  it('truncated, or random bytes after the signature', async () => {
    const bytes = readFileSync(fixture);
    const cases = {
      truncated: bytes.subarray(0, bytes.length / 3),
      random: Buffer.concat([
        bytes.subarray(0, 8),
        Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251)),
      ]),
    };
    for (const [name, content] of Object.entries(cases)) {
      const file = fresh(`${name}.h5`);
      writeFileSync(file, content);
      const { error } = await attempt(file);
      expect(error, name).toBeInstanceOf(T.LoadError);
      expect(error!.message).toContain(file);
      expect(error!.message).toMatch(/not a readable HDF5 file|model_config/);
      expect(error!.message).not.toMatch(/name not defined/);
    }
  });

  it('a truncated weights file inside a .keras', async () => {
    const weights = new Uint8Array(readFileSync(path.resolve('test/fixtures/keras3/mlp/model.weights.h5')));
    const { error } = await attempt(await kerasArchive(weights.subarray(0, 2000)));
    expect(error).toBeInstanceOf(T.LoadError);
    expect(error!.message).toMatch(/hostile\.keras \(model\.weights\.h5\): not a readable HDF5 file/);
    expect(existsSync(work)).toBe(true);
  });

  it('config.json that is not JSON, and an archive with none', async () => {
    const saved = fresh('json.keras');
    await dense().save(saved);
    const entries = unzipSync(new Uint8Array(readFileSync(saved)));
    const broken = fresh('broken.keras');
    writeFileSync(broken, zipSync({ ...entries, 'config.json': strToU8('{"class_name": ') }));
    expect((await attempt(broken)).error?.message).toMatch(/broken\.keras: config\.json is not JSON/);
    const { 'config.json': _, ...rest } = entries;
    const none = fresh('none.keras');
    writeFileSync(none, zipSync(rest));
    expect((await attempt(none)).error?.message).toMatch(/none\.keras: the archive has no config\.json/);
  });
});

describe('files written by Keras 3 predict what Keras predicted', () => {
  const cases: [string, string][] = [
    ...['mlp', 'cnn', 'siamese', 'transformer'].flatMap((name) =>
      ['model.keras', 'model.h5'].map((f): [string, string] => [name, f]),
    ),
    ['functional', 'model.keras'],
  ];
  for (const [name, format] of cases)
    it(`${name}/${format}`, async () => {
      const dir = path.resolve('test/fixtures/keras3', name);
      const io = JSON.parse(readFileSync(path.join(dir, 'io.json'), 'utf8')) as {
        inputs: { shape: number[]; dtype?: string; values: number[] }[];
        outputs: { shape: number[]; values: number[] }[];
      };
      const model = await keras.models.loadModel(path.join(dir, format));
      const xs = io.inputs.map((i) =>
        T.array(i.values.flat(Infinity) as number[], {
          shape: i.shape,
          dtype: i.dtype === 'int32' ? 'int32' : 'float32',
        }),
      );
      const y = model.predict(xs.length === 1 ? xs[0]! : xs) as T.NDArray;
      expect(y.shape).toEqual(io.outputs[0]!.shape);
      const expected = io.outputs[0]!.values.flat(Infinity) as number[];
      y.data.forEach((v, i) => expect(Math.abs(v - expected[i]!)).toBeLessThan(1e-5));
    });
});

describe('layer options a model cannot compute with are refused', () => {
  it('a negative or infinite normalization epsilon, a momentum outside [0, 1]', () => {
    expect(() => keras.layers.batchNormalization({ epsilon: -1e300 })).toThrow(
      /batchNormalization: epsilon must be a number >= 0 and <= 1\.79\d*e\+308, got -1e\+300/,
    );
    expect(() => keras.layers.layerNormalization({ epsilon: Infinity })).toThrow(/layerNormalization: epsilon must be/);
    expect(() => keras.layers.batchNormalization({ momentum: 2 })).toThrow(/momentum must be a number >= 0 and <= 1/);
    expect(keras.layers.batchNormalization({ epsilon: 1e-5, momentum: 0.9 })).toBeDefined();
  });
});

describe('weights a layer cannot compute with are refused when loaded', () => {
  it('a negative moving variance in a saved batch normalization', async () => {
    const model = keras.sequential({
      layers: [keras.layers.dense({ units: 3, inputShape: [4] }), keras.layers.batchNormalization()],
    });
    const dir = fresh('negative-variance');
    await model.save(dir);
    const manifest = JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8')) as {
      weightsManifest: { weights: { name: string; shape: number[] }[] }[];
    };
    // The weights are float32 in manifest order: the moving variance is the last three.
    const weights = readFileSync(path.join(dir, 'weights.bin'));
    const sizes = manifest.weightsManifest[0]!.weights.map((w) => w.shape.reduce((a, b) => a * b, 1));
    expect(manifest.weightsManifest[0]!.weights.at(-1)!.name).toMatch(/moving_variance/);
    weights.writeFloatLE(-0.5, 4 * (sizes.reduce((a, b) => a + b, 0) - 1));
    writeFileSync(path.join(dir, 'weights.bin'), weights);
    const { error } = await attempt(path.join(dir, 'model.json'));
    expect(error).toBeInstanceOf(T.LoadError);
    expect(error!.message).toMatch(/moving_variance holds -0\.5; a variance cannot be negative/);
  });
});
