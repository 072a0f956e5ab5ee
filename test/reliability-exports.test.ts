/**
 * Reliability, third round: exports never delete what they did not write, the exported loader names
 * the damaged file, limits are checked before allocating, and fromFunction accepts exactly what it
 * says it reads. Each case here failed before its fix (data lost, a raw engine error, a hang, or a
 * formula read as something else).
 */
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import * as T from 'tsano';
import * as keras from 'tsano/keras';
import { ExportError, exportModel } from '../src/export/index.js';

const work = mkdtempSync(path.join(os.tmpdir(), 'tsano-reliability-exports-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let folders = 0;
const fresh = () => path.join(work, `case-${folders++}`);

const smallModel = () =>
  keras.sequential({ layers: [keras.layers.dense({ units: 2, activation: 'softmax', inputShape: [3] })] });

/** The names and contents of every file below `dir`, to see that nothing was touched. */
const snapshot = (dir: string) =>
  Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(path.join(dir, f), 'utf8')]));

describe('export never deletes or overwrites what it did not write', () => {
  it('a folder of user files is refused, and left as it was', async () => {
    const dir = fresh();
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'notes.txt'), 'my notes');
    writeFileSync(path.join(dir, 'data.csv'), '1,2,3');
    const before = snapshot(dir);
    await expect(exportModel(smallModel(), dir)).rejects.toThrow(
      /is not empty and is not a previous export \(it holds (notes\.txt, data\.csv|data\.csv, notes\.txt)\).*overwrite/,
    );
    expect(snapshot(dir)).toEqual(before);
  });

  it("with overwrite, the export's files are written beside the user files, which stay", async () => {
    const dir = fresh();
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'notes.txt'), 'my notes');
    await exportModel(smallModel(), dir, { overwrite: true });
    expect(readFileSync(path.join(dir, 'notes.txt'), 'utf8')).toBe('my notes');
    // The module without relaxed SIMD comes with an export built with it.
    const relaxed = (JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { relaxedSimd: boolean })
      .relaxedSimd;
    expect(readdirSync(dir).sort()).toEqual(
      [
        'manifest.json',
        'model.d.ts',
        'model.mjs',
        'model.wasm',
        ...(relaxed ? ['model.plain.wasm'] : []),
        'notes.txt',
        'weights.bin',
      ].sort(),
    );
  });

  it("a model's saved folder is never written into, even with overwrite", async () => {
    const dir = fresh();
    const model = smallModel();
    await model.save(dir);
    const before = snapshot(dir);
    for (const overwrite of [false, true])
      await expect(exportModel(model, dir, { overwrite })).rejects.toThrow(
        /holds a saved model \(model\.json\); an export never writes into a model's folder/,
      );
    expect(snapshot(dir)).toEqual(before);
  });

  it('a previous export is replaced, a new or empty folder is written, and no staging folder is left', async () => {
    const dir = fresh();
    await exportModel(smallModel(), dir);
    const first = readFileSync(path.join(dir, 'weights.bin'));
    await exportModel(smallModel(), dir);
    expect(readFileSync(path.join(dir, 'weights.bin')).equals(first)).toBe(false);
    const empty = fresh();
    mkdirSync(empty);
    await exportModel(smallModel(), empty);
    expect(existsSync(path.join(empty, 'model.wasm'))).toBe(true);
    expect(readdirSync(work).filter((f) => f.includes('tsano-export'))).toEqual([]);
  });

  it('a file where the folder should be is refused', async () => {
    const file = fresh();
    writeFileSync(file, 'a file');
    await expect(exportModel(smallModel(), file)).rejects.toThrow(ExportError);
    expect(readFileSync(file, 'utf8')).toBe('a file');
  });

  it('the CLI refuses the current folder and keeps its files', async () => {
    const dir = fresh();
    const model = smallModel();
    await model.save(path.join(dir, 'saved'));
    writeFileSync(path.join(dir, 'keep.txt'), 'keep');
    const cli = path.resolve('src/cli/main.ts');
    // tsx by its own path: the child runs in the user's folder, which has no node_modules.
    const tsx = pathToFileURL(path.resolve('node_modules/tsx/dist/loader.mjs')).href;
    const tsano = (...args: string[]) =>
      execFileSync(process.execPath, ['--import', tsx, cli, ...args], { cwd: dir, encoding: 'utf8', stdio: 'pipe' });
    let failed: { status: number; stderr: string } | undefined;
    try {
      tsano('export', 'saved', '.');
    } catch (e) {
      failed = e as { status: number; stderr: string };
    }
    expect(failed?.status).not.toBe(0);
    expect(failed?.stderr).toMatch(/is not empty and is not a previous export/);
    expect(readFileSync(path.join(dir, 'keep.txt'), 'utf8')).toBe('keep');
    expect(existsSync(path.join(dir, 'saved', 'model.json'))).toBe(true);
    // A fresh process exports into a new folder (it once needed the code generator loaded by someone else).
    expect(tsano('export', 'saved', 'out')).toMatch(/exported saved\/model\.json to out\//);
    expect(existsSync(path.join(dir, 'out', 'model.wasm'))).toBe(true);
  });
});

describe('the exported loader checks each file and names it', () => {
  const loadFrom = async (dir: string) => {
    const { load } = (await import(`${pathToFileURL(path.join(dir, 'model.mjs')).href}?v=${folders++}`)) as {
      load: () => Promise<unknown>;
    };
    return load();
  };

  it('a truncated weights.bin', async () => {
    const dir = fresh();
    await exportModel(smallModel(), dir);
    const size = readFileSync(path.join(dir, 'weights.bin')).length;
    truncateSync(path.join(dir, 'weights.bin'), size / 2);
    await expect(loadFrom(dir)).rejects.toThrow(
      new RegExp(
        `tsano export: weights\\.bin holds ${size / 2} bytes, the manifest declares ${size} \\(truncated\\?\\)`,
      ),
    );
  });

  it("a web server's fallback page served as model.wasm or manifest.json", async () => {
    const page = '<!DOCTYPE html><html><body>Not found</body></html>';
    const wasm = fresh();
    await exportModel(smallModel(), wasm);
    writeFileSync(path.join(wasm, 'model.wasm'), page);
    await expect(loadFrom(wasm)).rejects.toThrow(
      /tsano export: model\.wasm is not a WebAssembly module \(it starts with 3c 21 44 4f, a web page\?\)/,
    );
    const manifest = fresh();
    await exportModel(smallModel(), manifest);
    writeFileSync(path.join(manifest, 'manifest.json'), page);
    await expect(loadFrom(manifest)).rejects.toThrow(
      /tsano export: manifest\.json is not JSON \(it starts with <, a web page\?\)/,
    );
  });

  it('a missing file, and bytes given directly', async () => {
    const dir = fresh();
    await exportModel(smallModel(), dir);
    const { load } = (await import(pathToFileURL(path.join(dir, 'model.mjs')).href)) as {
      load: (s?: object) => Promise<unknown>;
    };
    const bytes = {
      wasm: readFileSync(path.join(dir, 'model.wasm')),
      weights: readFileSync(path.join(dir, 'weights.bin')).subarray(0, 4),
      manifest: readFileSync(path.join(dir, 'manifest.json')),
    };
    await expect(load(bytes)).rejects.toThrow(/weights\.bin holds 4 bytes, the manifest declares \d+/);
    rmSync(path.join(dir, 'weights.bin'));
    await expect(load()).rejects.toThrow(/tsano export: cannot read weights\.bin \(ENOENT\)/);
  });
});

describe('limits are checked before anything is allocated', () => {
  it('T.arange beyond one array, at once', async () => {
    for (const n of [1e12, 2 ** 31]) {
      const started = performance.now();
      expect(() => T.arange(n)).toThrow(T.ShapeError);
      expect(() => T.arange(n)).toThrow(
        /arange\(0, \d+, 1\): shape \[\d+\] has [\d.e]+ elements of int32 .* more than one array may hold/,
      );
      expect(performance.now() - started).toBeLessThan(200);
    }
    expect(() => T.arange(0, Infinity)).toThrow(/arange: bounds must be finite/);
    const f = await T.compile([], T.arange(0, 2, 0.5), { mode: 'js' });
    expect([...f().data]).toEqual([0, 0.5, 1, 1.5]);
  });

  it('T.arange with bounds known at call time', async () => {
    const n = T.iscalar('n');
    const f = await T.compile([n], T.arange(n), { mode: 'js' });
    expect(() => f(2 ** 31 - 1)).toThrow(/arange\(0, 2147483647, 1\): shape \[2147483647\] has/);
    expect([...f(3).data]).toEqual([0, 1, 2]);
  });

  it('T.scan with a number of steps it cannot build or hold, at once', () => {
    const h0 = T.constant(0);
    const started = performance.now();
    // A long loop runs as a loop: its stacked output (a billion float32 scalars) is what cannot be held.
    expect(() => T.scan((h: T.Node) => h.add(1), { outputsInfo: h0, nSteps: 1e9 })).toThrow(
      /output 0 over 1000000000 steps: shape \[1000000000\] has 1e9 elements of float32/,
    );
    const wide = T.zeros([1000, 1000]);
    expect(() => T.scan((h: T.Node) => h.add(1), { outputsInfo: wide, nSteps: 1000 })).toThrow(
      /output 0 over 1000 steps: shape \[1000, 1000, 1000\] has 1e9 elements of float32/,
    );
    expect(performance.now() - started).toBeLessThan(2000);
  });
});

describe('fromFunction reads exactly what it accepts', () => {
  it("Math's inherited members are not functions or constants", () => {
    for (const [source, why] of [
      ['(x) => Math.constructor(x)', /Math\.constructor has no tsano op/],
      ['(x) => Math.hasOwnProperty(2) * x', /Math\.hasOwnProperty has no tsano op/],
      ['(x) => Math.valueOf(x)', /Math\.valueOf has no tsano op/],
      ['(x) => Math.toString + x', /Math\.toString is not a constant tsano knows/],
      ['(x) => Math.__proto__ * x', /Math\.__proto__ is not a constant tsano knows/],
    ] as const)
      expect(() => T.fromFunction(source)(T.vector('x')), source).toThrow(why);
  });

  it('text after the function is refused, naming where it starts', () => {
    expect(() => T.fromFunction('(x) => x); process.exit(7); (0')).toThrow(
      /text follows the function \(the source must be one function and nothing else\) at line 1, column 12/,
    );
    expect(() => T.fromFunction('(x) => x)\n;(1')).toThrow(/text follows the function/);
    expect(T.fromFunction('(x) => Math.exp(x)')(T.vector('x')).op).toBe('exp');
  });
});

describe('graphs of any size', () => {
  it('a chain of 800 tanh compiles to wasm (several kernels, none past V8’s locals) and agrees with the reference', async () => {
    const x = T.vector('x');
    let y: T.Node = x;
    for (let i = 0; i < 800; i++) y = T.tanh(y);
    const [wasm, js] = [await T.compile([x], y), await T.compile([x], y, { mode: 'js' })];
    expect(wasm.stats.referenceSteps).toBe(0);
    expect(wasm.stats.kernels).toBeGreaterThan(1);
    const input = [0.5, -3, 40, 1e-4];
    const [a, b] = [wasm(input).data, js(input).data];
    a.forEach((v, i) => expect(Math.abs(v - b[i]!)).toBeLessThanOrEqual(1e-6 * Math.abs(b[i]!) + 1e-9));
  }, 60_000);
});

describe('option values are checked, in every spelling users type', () => {
  it("Keras's 'channels_last' / 'channels_first' mean the same in both modes as tsano's spelling", async () => {
    const x = T.tensor('x', { shape: [1, 5, 5, 5] });
    const w = T.tensor('w', { shape: [3, 3, 5, 2] });
    const image = T.randomNormal([1, 5, 5, 5], { seed: 3 });
    const kernel = T.randomNormal([3, 3, 5, 2], { seed: 4 });
    for (const [keras, ours] of [
      ['channels_last', 'channelsLast'],
      ['channels_first', 'channelsFirst'],
    ] as const)
      for (const mode of ['js', 'wasm'] as const) {
        const [a, b] = await Promise.all(
          [keras, ours].map((dataFormat) => T.compile([x, w], T.conv2d(x, w, { dataFormat }), { mode })),
        );
        const [ya, yb] = [a!(image, kernel), b!(image, kernel)];
        expect(ya.shape, `${keras} ${mode}`).toEqual(yb.shape);
        expect([...ya.data]).toEqual([...yb.data]);
        const pooled = T.maxPool2d(x, { dataFormat: keras });
        expect(pooled.shape).toEqual(T.maxPool2d(x, { dataFormat: ours }).shape);
      }
  });

  it('an unknown data format or window size is an error naming the accepted values', () => {
    const x = T.tensor('x', { shape: [1, 4, 4, 2] });
    const w = T.tensor('w', { shape: [3, 3, 2, 2] });
    expect(() => T.conv2d(x, w, { dataFormat: 'NHWC' as never })).toThrow(
      /conv2d: dataFormat must be one of 'channelsLast', 'channelsFirst', 'channels_last', 'channels_first', got "NHWC"/,
    );
    expect(() => T.maxPool2d(x, { dataFormat: 'last' as never })).toThrow(/maxPool2d: dataFormat must be one of/);
    expect(() => T.conv2d(x, w, { strides: 0 })).toThrow(
      /conv2d: strides must be a positive integer or a pair of them, got 0/,
    );
    expect(() => T.avgPool2d(x, { poolSize: [2, 1.5] })).toThrow(/poolSize must be a positive integer/);
  });
});

describe('loops whose number of steps is a value', () => {
  it('a symbolic nSteps too large to hold is refused at the first step, not run', async () => {
    const n = T.iscalar('n');
    const [out] = T.scan((h: T.Node) => T.add(h, 1), { outputsInfo: T.zeros([1000]), nSteps: n });
    const f = await T.compile([n], out as T.Node, { mode: 'js' });
    const started = performance.now();
    expect(() => f(1e9)).toThrow(
      /output 0 over 1000000000 steps: shape \[1000000000, 1000\] has 1e12 elements of float32/,
    );
    expect(performance.now() - started).toBeLessThan(2000);
    expect(f(3).shape).toEqual([3, 1000]);
  });
});

describe('slice bounds are checked when the graph is built', () => {
  it('begin and size list integers, one per axis at most', () => {
    const z = T.matrix('z');
    expect(() => T.slice(z, [null as never, [0, 4] as never])).toThrow(
      /slice\(z\): begin must list at most 2 integers \(one per axis\), got \[null,\[0,4\]\]/,
    );
    expect(() => T.slice(z, [0, 0], [1, 2, 3])).toThrow(/size must list at most 2 integers/);
    expect(T.slice(z, [0, 1], [-1, 2]).ndim).toBe(2);
  });
});
