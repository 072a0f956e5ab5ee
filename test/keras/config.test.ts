import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadKerasConfig } from '../../src/keras/config.js';
import { ConfigError } from 'tsano';

const saved = { home: process.env['KERAS_HOME'], backend: process.env['KERAS_BACKEND'] };
afterEach(() => {
  for (const [k, v] of [
    ['KERAS_HOME', saved.home],
    ['KERAS_BACKEND', saved.backend],
  ] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

const freshHome = () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tsano-keras-'));
  process.env['KERAS_HOME'] = dir;
  delete process.env['KERAS_BACKEND'];
  return dir;
};
const writeConfig = (dir: string, value: unknown) =>
  writeFileSync(path.join(dir, 'keras.json'), typeof value === 'string' ? value : JSON.stringify(value));

describe('keras.json', () => {
  it('is created with the defaults when missing', () => {
    const dir = freshHome();
    const c = loadKerasConfig();
    expect(c).toMatchObject({ floatx: 'float32', epsilon: 1e-7, backend: 'wasm', imageDataFormat: 'channels_last' });
    expect(JSON.parse(readFileSync(path.join(dir, 'keras.json'), 'utf8'))).toEqual({
      floatx: 'float32',
      epsilon: 1e-7,
      backend: 'wasm',
      image_data_format: 'channels_last',
    });
  });

  it('applies an existing file, keeps unknown keys, and never rewrites it', () => {
    const dir = freshHome();
    const text = JSON.stringify({
      floatx: 'float64',
      epsilon: 1e-5,
      backend: 'js',
      image_data_format: 'channels_first',
      extra: [1, 2],
    });
    writeConfig(dir, text);
    const before = statSync(path.join(dir, 'keras.json')).mtimeMs;
    expect(loadKerasConfig()).toMatchObject({
      floatx: 'float64',
      epsilon: 1e-5,
      backend: 'js',
      imageDataFormat: 'channels_first',
    });
    expect(readFileSync(path.join(dir, 'keras.json'), 'utf8')).toBe(text);
    expect(statSync(path.join(dir, 'keras.json')).mtimeMs).toBe(before);
  });

  it('KERAS_BACKEND overrides the file; Python backend names run on wasm with a warning', () => {
    const dir = freshHome();
    writeConfig(dir, { backend: 'wasm' });
    process.env['KERAS_BACKEND'] = 'js';
    expect(loadKerasConfig().backend).toBe('js');
    process.env['KERAS_BACKEND'] = 'tensorflow';
    const c = loadKerasConfig();
    expect(c.backend).toBe('wasm');
    expect(c.warnings.join('\n')).toMatch(/'tensorflow'.*running on wasm/);
    process.env['KERAS_BACKEND'] = 'cuda';
    expect(() => loadKerasConfig()).toThrow(/KERAS_BACKEND: unknown backend "cuda"/);
  });

  it.each([
    ['{ not json', /invalid JSON/],
    [{ floatx: 'float8' }, /invalid "floatx": "float8" \(expected one of float16, float32, float64\)/],
    [{ epsilon: 0 }, /invalid "epsilon": 0/],
    [{ epsilon: '1e-7' }, /invalid "epsilon": "1e-7"/],
    [
      { image_data_format: 'NHWC' },
      /invalid "image_data_format": "NHWC" \(expected one of channels_last, channels_first\)/,
    ],
    [{ backend: 'gpu' }, /"backend": unknown backend "gpu"/],
    [[1, 2], /invalid JSON \(not a JSON object\)/],
  ])('rejects %j naming the file and the key, and leaves the file alone', (content, message) => {
    const dir = freshHome();
    writeConfig(dir, content);
    const text = readFileSync(path.join(dir, 'keras.json'), 'utf8');
    let error: unknown;
    try {
      loadKerasConfig();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(String(error)).toMatch(message);
    expect(String(error)).toContain(path.join(dir, 'keras.json'));
    expect(readFileSync(path.join(dir, 'keras.json'), 'utf8')).toBe(text);
  });

  it('an unwritable location gives the defaults silently', () => {
    // A folder below a regular file can never be created, whatever the user's rights.
    const dir = freshHome();
    writeFileSync(path.join(dir, 'file'), '');
    process.env['KERAS_HOME'] = path.join(dir, 'file', 'keras');
    expect(loadKerasConfig()).toMatchObject({ floatx: 'float32', epsilon: 1e-7, backend: 'wasm' });
  });
});

describe('import message', () => {
  it("prints 'Using wasm backend.' once to stderr, however often tsano/keras is imported", async () => {
    const { spawnSync } = await import('node:child_process');
    const dir = freshHome();
    const script = "await import('./src/keras/index.ts'); await import('./src/keras/index.ts'); console.log('ok');";
    const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: path.resolve(import.meta.dirname, '../..'),
      env: { ...process.env, KERAS_HOME: dir },
      encoding: 'utf8',
    });
    expect(result.status).toBe(0);
    expect(result.stdout.trim()).toBe('ok');
    expect(
      result.stderr
        .split('\n')
        .filter((l) => l.includes('Using'))
        .join('\n'),
    ).toBe('Using wasm backend.');
  });
});

describe('one configuration for both namespaces', () => {
  it('tsano alone reads keras.json; tsano/keras reports the same, and setFloatx changes both', async () => {
    const { spawnSync } = await import('node:child_process');
    const dir = freshHome();
    writeFileSync(
      path.join(dir, 'keras.json'),
      JSON.stringify({ floatx: 'float64', epsilon: 1e-5, image_data_format: 'channels_first', backend: 'js' }),
    );
    const script = [
      "const T = await import('./src/index.ts');",
      'const before = [T.floatx(), T.epsilon(), T.imageDataFormat(), T.zeros([1]).dtype, T.vector("v").dtype];',
      "const keras = await import('./src/keras/index.ts');",
      'const K = keras.backend;',
      'const same = [K.floatx(), K.epsilon(), K.imageDataFormat()];',
      "K.setFloatx('float32');",
      'console.log(JSON.stringify({ before, same, after: [T.floatx(), K.floatx(), T.zeros([1]).dtype] }));',
    ].join('\n');
    const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: path.resolve(import.meta.dirname, '../..'),
      env: { ...process.env, KERAS_HOME: dir },
      encoding: 'utf8',
    });
    expect(result.status, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      before: ['float64', 1e-5, 'channelsFirst', 'float64', 'float64'],
      same: ['float64', 1e-5, 'channels_first'],
      after: ['float32', 'float32', 'float32'],
    });
  });
});

describe('floatx float16 and the home fallback', () => {
  it('float16 rounding matches IEEE half precision (published values)', async () => {
    const { roundToHalf } = await import('../../runtime/dtype.js');
    expect(roundToHalf(0.1)).toBe(0.0999755859375);
    expect(roundToHalf(65504)).toBe(65504);
    expect(roundToHalf(65520)).toBe(Infinity);
    expect(roundToHalf(2 ** -24)).toBe(2 ** -24);
    expect(roundToHalf(2 ** -26)).toBe(0);
    expect(roundToHalf(1 + 2 ** -11)).toBe(1); // a tie rounds to even
    expect(roundToHalf(1 + 3 * 2 ** -11)).toBe(1 + 2 ** -9);
    expect(roundToHalf(-3.14159)).toBe(-3.140625);
  });

  it('with floatx float16, weights are stored rounded to half precision and computed in float32', async () => {
    const keras = await import('tsano/keras');
    const T = await import('tsano');
    keras.backend.setFloatx('float16');
    try {
      expect(keras.backend.floatx()).toBe('float16');
      const w = T.shared(T.array([0.1, 1 / 3]), 'w');
      expect(w.dtype).toBe('float32');
      expect(Array.from(w.get().data)).toEqual([0.0999755859375, 0.333251953125]);
      // A model's outputs are float16 values too, as Keras gives float16 tensors.
      const { roundToHalf } = await import('../../runtime/dtype.js');
      const model = keras.sequential({ layers: [keras.layers.dense({ units: 3, inputShape: [4] })] });
      for (const batchSize of [undefined, 2]) {
        const y = await model.predict(T.randomNormal([5, 4], { seed: 3 }), batchSize ? { batchSize } : {});
        expect(y.dtype).toBe('float32');
        expect(Array.from(y.data).every((v) => v === roundToHalf(v))).toBe(true);
      }
    } finally {
      keras.backend.setFloatx('float32');
    }
  });

  it('an unwritable or missing home falls back to /tmp/.keras', async () => {
    const { kerasDir } = await import('../../src/keras/config.js');
    const savedHome = process.env['HOME'];
    delete process.env['KERAS_HOME'];
    process.env['HOME'] = '/nonexistent-home-for-tsano-tests';
    try {
      expect(kerasDir()).toBe(path.join(os.tmpdir(), '.keras'));
    } finally {
      process.env['HOME'] = savedHome;
    }
  });
});
