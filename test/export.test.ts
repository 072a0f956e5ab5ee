import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as T from 'tsano';
import * as keras from 'tsano/keras';
import { exportFunction, exportModel } from '../src/export/index.js';
import { checkGeneratedModule } from '../src/export/check.js';
import { LOADER_SOURCE } from '../src/export/loader.js';
import { bitsOf, runExported, toWire, type Wire } from './helpers/exported.js';

/**
 * Exported functions and models run in a plain `node` process, from a folder holding nothing but the
 * export, and give the library's results bit for bit.
 */

const work = mkdtempSync(path.join(os.tmpdir(), 'tsano-export-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const cnn = (dataFormat: 'channelsLast' | 'channelsFirst', inputShape: number[]) =>
  keras.sequential({
    layers: [
      keras.layers.conv2d({ filters: 4, kernelSize: 3, activation: 'relu', inputShape, dataFormat }),
      keras.layers.maxPooling2d({ poolSize: 2, dataFormat }),
      keras.layers.flatten(),
      keras.layers.dense({ units: 3 }),
    ],
  });

const MODELS: Record<string, () => keras.Sequential> = {
  MLP: () =>
    keras.sequential({
      layers: [
        keras.layers.dense({ units: 24, activation: 'relu', inputShape: [12] }),
        keras.layers.dropout({ rate: 0.3 }),
        keras.layers.dense({ units: 5, activation: 'softmax' }),
      ],
    }),
  'CNN, channels last': () => cnn('channelsLast', [10, 10, 2]),
  'CNN, channels first': () => cnn('channelsFirst', [2, 10, 10]),
  'batch normalization': () =>
    keras.sequential({
      layers: [
        keras.layers.dense({ units: 8, inputShape: [6] }),
        keras.layers.batchNormalization(),
        keras.layers.activation({ activation: 'tanh' }),
        keras.layers.dense({ units: 2, activation: 'sigmoid' }),
      ],
    }),
  'LSTM and bidirectional GRU': () =>
    keras.sequential({
      layers: [
        keras.layers.lstm({ units: 4, returnSequences: true, inputShape: [6, 3] }),
        keras.layers.bidirectional({ layer: keras.layers.gru({ units: 3 }) }),
        keras.layers.dense({ units: 2 }),
      ],
    }),
};

describe('exported models and functions run without the library, bit for bit', () => {
  // The export is the fused tier's program: the library's calls are compared once that tier runs them.
  beforeAll(() => T.ready());
  for (const [name, make] of Object.entries(MODELS)) {
    it(`${name}: predict on batches other than the exported one`, async () => {
      const model = make();
      const inputShape = (await model.makePredictFunction()).graph.inputs[0]!.shape.slice(1) as number[];
      const xs = [37, 8, 1].map((rows, i) => T.randomNormal([rows, ...inputShape], { seed: i + 1 }));
      const expected = await Promise.all(xs.map((x) => model.predict(x)));
      const dir = path.join(work, name.replace(/\W+/g, '-'));
      const summary = await exportModel(model, dir, { batchSize: 16 });
      expect(summary.bytes.loader).toBeLessThan(10 * 1024);
      const { answers } = runExported(
        dir,
        xs.map((x) => [x]),
        true,
      );
      answers.forEach((a, k) => {
        expect(Array.isArray(a), JSON.stringify(a)).toBe(true);
        const [y] = a as Wire[];
        expect(y!.shape).toEqual([...expected[k]!.shape]);
        expect(bitsOf(y!)).toBe(toWire(expected[k]!).data);
      });
    });
  }

  it('a model whose loop runs as a loop in the library (40 known steps) exports built out, with the same values', async () => {
    const model = keras.sequential({
      layers: [keras.layers.lstm({ units: 5, inputShape: [40, 3] }), keras.layers.dense({ units: 2 })],
    });
    expect(model.makePredictFunction().stats.loops).toBe('run');
    const x = T.randomNormal([3, 40, 3], { seed: 11 });
    const expected = model.predict(x) as T.NDArray;
    const dir = path.join(work, 'lstm-40-steps');
    await exportModel(model, dir, { batchSize: 3 });
    const [answer] = runExported(dir, [[x]], true).answers;
    const [y] = answer as Wire[];
    expect(y!.shape).toEqual([3, 2]);
    const got = new Float32Array(Uint8Array.from(Buffer.from(y!.data, 'base64')).buffer);
    Array.from(expected.data).forEach((v, i) => expect(got[i]).toBeCloseTo(v, 5));
  });

  it('a function with two inputs, two outputs and updates: outputs and state after each call as in the library', async () => {
    const w = T.shared(T.randomNormal([4, 3], { seed: 7 }), 'w');
    const steps = T.shared(T.array([0]), 'steps');
    const x = T.matrix('x');
    const target = T.matrix('target');
    const prediction = T.tanh(T.dot(x, w));
    const loss = T.mean(T.square(T.sub(prediction, target)));
    const f = await T.compile([x, target], [loss, prediction], {
      updates: [
        [w, T.sub(w, T.mul(T.grad(loss, w), 0.1))],
        [steps, T.add(steps, 1)],
      ],
    });
    const dir = path.join(work, 'function');
    await exportFunction(f, dir, {
      shapes: [
        [
          [5, 4],
          [5, 3],
        ],
      ],
    });
    const calls = [1, 2, 3].map((s) => [T.randomNormal([5, 4], { seed: s }), T.randomNormal([5, 3], { seed: s + 10 })]);
    const expected = calls.map((c) => f(...c) as T.NDArray[]);
    const { answers, state } = runExported(dir, calls);
    answers.forEach((a, k) => {
      expect(Array.isArray(a), JSON.stringify(a)).toBe(true);
      (a as Wire[]).forEach((out, q) => expect(bitsOf(out)).toBe(toWire(expected[k]![q]!).data));
    });
    expect(state['w']!.data).toBe(toWire(w.get()).data);
    expect(Array.from(new Float32Array(Uint8Array.from(Buffer.from(state['steps']!.data, 'base64')).buffer))).toEqual([
      3,
    ]);
  });

  it('the exported loader checks its inputs: count, dtype, shape, and shapes it has no plan for', async () => {
    const x = T.matrix('x');
    const f = await T.compile([x], T.exp(x));
    const dir = path.join(work, 'checked');
    await exportFunction(f, dir, { shapes: [[[2, 3]], [[4, 3]]], inputNames: ['x'] });
    const { answers } = runExported(dir, [
      [T.zeros([2, 3]), T.zeros([2, 3])],
      [T.zeros([2, 3]).astype('float64')],
      [T.zeros([6])],
      [T.zeros([3, 3])],
      [T.zeros([4, 3])],
    ]);
    const errors = answers.map((a) => ('error' in a ? a.error : 'ok'));
    expect(errors[0]).toMatch(/expected 1 inputs \(x\), got 2/);
    expect(errors[1]).toMatch(/input 0 \(x\): expected a Float32Array of float32/);
    expect(errors[2]).toMatch(/input 0 \(x\): expected shape \[\?, \?\], got \[6\]/);
    expect(errors[3]).toMatch(/no plan for input shapes \[3, 3\]; this export runs \[2, 3\] or \[4, 3\]/);
    expect(errors[4]).toBe('ok');
  });

  it('a bad index in an exported gather is the library’s error', async () => {
    const table = T.shared(T.randomNormal([5, 2], { seed: 3 }), 'table');
    const ids = T.tensor('ids', { dtype: 'int32', shape: [null] });
    const f = await T.compile([ids], T.gather(table, ids));
    const dir = path.join(work, 'gather');
    await exportFunction(f, dir, { shapes: [[[3]]] });
    const good = T.array(Int32Array.from([4, 0, -1]));
    const { answers } = runExported(dir, [[good], [T.array(Int32Array.from([1, 9, 0]))]]);
    expect(bitsOf((answers[0] as Wire[])[0]!)).toBe(toWire(f(good) as T.NDArray).data);
    expect((answers[1] as { error: string }).error).toMatch(
      /gather\(table, ids\): gather: index 9 is out of range for an axis of size 5/,
    );
  });

  it('a function with a step on the reference kernels cannot be exported, and says which', async () => {
    const x = T.matrix('x');
    const f = await T.compile(
      [x],
      T.pad(
        x,
        [
          [1, 1],
          [0, 0],
        ],
        2,
      ),
    );
    await expect(exportFunction(f, path.join(work, 'refused'), { shapes: [[[2, 2]]] })).rejects.toThrow(
      /pad\(x.*runs on the reference kernels/,
    );
  });
});

describe('the exported loader on Node 20: by URL, from bytes, with and without relaxed SIMD', () => {
  /** Runs `body` (an ES module's code, with `load` imported from the export and `fs` at hand) in a fresh node process. */
  function inChild(dir: string, body: string): unknown {
    const script = path.join(work, `child-${Math.random().toString(36).slice(2)}.mjs`);
    writeFileSync(
      script,
      `import { readFileSync } from 'node:fs';\nimport { load } from ${JSON.stringify(pathToFileURL(path.join(dir, 'model.mjs')).href)};\n` +
        `const dir = ${JSON.stringify(dir)};\nconst x = new Float32Array(Array.from({ length: 20 }, (_, i) => Math.sin(i)));\n` +
        `const bits = (y) => Buffer.from(y.data.buffer, y.data.byteOffset, y.data.byteLength).toString('base64');\n${body}`,
    );
    return JSON.parse(execFileSync(process.execPath, [script], { encoding: 'utf8', env: {} })) as unknown;
  }

  it('loads by URL and from bytes in a fresh Node process, giving the library’s bits; the plain module where asked', async () => {
    const model = keras.sequential({
      layers: [
        keras.layers.dense({ units: 16, activation: 'tanh', inputShape: [4] }),
        keras.layers.dense({ units: 3, activation: 'softmax' }),
      ],
    });
    const dir = path.join(work, 'by-url');
    await exportModel(model, dir, { batchSize: 5 });
    const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { relaxedSimd: boolean };
    const x = T.array(
      Float32Array.from({ length: 20 }, (_, i) => Math.sin(i)),
      [5, 4],
    );
    const library = toWire(model.predict(x) as T.NDArray).data;
    const answers = inChild(
      dir,
      `const url = new URL('model.mjs', 'file://' + dir + '/');
const byUrl = await load({ url: url.href });
const files = { wasm: readFileSync(dir + '/model.wasm'), weights: readFileSync(dir + '/weights.bin'), manifest: readFileSync(dir + '/manifest.json') };
const fromBytes = await load(files);
const plain = await load(undefined, { simd: 'plain' });
let refused = '';
try { await load(files, { simd: 'plain' }); } catch (e) { refused = e.message; }
process.stdout.write(JSON.stringify({
  url: [byUrl.simd, bits(byUrl.predict(x, [5, 4]))],
  bytes: [fromBytes.simd, bits(fromBytes.predict(x, [5, 4]))],
  plain: [plain.simd, Array.from(plain.predict(x, [5, 4]).data)],
  refused,
}));`,
    ) as Record<string, [string, string | number[]]> & { refused: string };
    const mode = manifest.relaxedSimd ? 'relaxed' : 'plain';
    expect(answers.url).toEqual([mode, library]);
    expect(answers.bytes).toEqual([mode, library]);
    expect(answers.plain![0]).toBe('plain');
    const want = (model.predict(x) as T.NDArray).data;
    (answers.plain![1] as number[]).forEach((v, i) => expect(Math.abs(v - want[i]!)).toBeLessThan(1e-6));
    if (manifest.relaxedSimd) {
      expect(existsSync(path.join(dir, 'model.plain.wasm'))).toBe(true);
      expect(answers.refused).toMatch(/no relaxed SIMD: pass model\.plain\.wasm as plainWasm/);
    }
  });
});

describe('the generated loader is checked with acorn before it is written', () => {
  it('the template passes', () => expect(() => checkGeneratedModule(LOADER_SOURCE, 'model.mjs')).not.toThrow());
  it('a global outside the allow-list is refused, naming it and its line', () =>
    expect(() =>
      checkGeneratedModule(LOADER_SOURCE.replace('const NAMES', 'process.exit(1);\nconst NAMES'), 'model.mjs'),
    ).toThrow(/refers to the global 'process' \(line 2\)/));
  it('a static import, or import() of anything but the Node path, is refused', () => {
    expect(() => checkGeneratedModule(`import fs from 'node:fs';\n${LOADER_SOURCE}`, 'model.mjs')).toThrow(
      /static import of 'node:fs'/,
    );
    expect(() =>
      checkGeneratedModule(LOADER_SOURCE.replace("import('node:v8')", "import('node:child_process')"), 'model.mjs'),
    ).toThrow(/import\(\) of 'node:child_process'/);
  });
  it('source that does not parse as an ES2020 module is refused', () =>
    expect(() =>
      checkGeneratedModule(
        LOADER_SOURCE.replace('export async function load', 'export async functio load'),
        'model.mjs',
      ),
    ).toThrow(/does not parse as an ES2020 module/));
  it('what the loader declares itself is not a global', () =>
    expect(() =>
      checkGeneratedModule('const a = 1; export function f(b) { return a + b + Math.PI; }', 'x.mjs'),
    ).not.toThrow());
});
