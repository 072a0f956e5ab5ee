import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import * as T from 'tsano';
import * as keras from 'tsano/keras';
import { main } from '../src/cli/main.js';

/** The command line, called in-process: exit codes, usage on wrong arguments, and `export` of a saved model. */

const work = mkdtempSync(path.join(os.tmpdir(), 'tsano-cli-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Runs the CLI with `args`, capturing what it prints. */
async function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const spies = [
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true)),
    vi.spyOn(process.stderr, 'write').mockImplementation((s) => (err.push(String(s)), true)),
    vi.spyOn(console, 'log').mockImplementation((...s) => void out.push(s.join(' '))),
    vi.spyOn(console, 'error').mockImplementation((...s) => void err.push(s.join(' '))),
  ];
  try {
    const code = await main(args);
    return { code, out: out.join(''), err: err.join('') };
  } finally {
    spies.forEach((s) => s.mockRestore());
  }
}

describe('tsano command line', () => {
  it('help lists every command; each command has its own help', async () => {
    const { code, out } = await run('--help');
    expect(code).toBe(0);
    for (const c of ['demo', 'graph-demo', 'info', 'export', 'import-onnx', 'studio', 'bench'])
      expect(out).toContain(c);
    const exportHelp = await run('export', '--help');
    expect(exportHelp.code).toBe(0);
    expect(exportHelp.out).toMatch(/Usage: tsano export \[options\] <model> <outdir>/);
  });

  it('a wrong command or argument prints the usage and exits with 2', async () => {
    for (const args of [['bogus'], ['export'], ['export', 'a', 'b', '--batch-size', 'x'], ['demo', '--epochs', '0']]) {
      const { code, err } = await run(...args);
      expect(code, args.join(' ')).toBe(2);
      expect(err, args.join(' ')).toMatch(/error: .*\n[\s\S]*Usage: tsano/);
    }
  });

  it('demo --rnn trains an LSTM on the digits read row by row', async () => {
    const { code, out } = await run('demo', '--rnn', '--epochs', '1');
    expect(code).toBe(0);
    const accuracy = Number(/test accuracy ([\d.]+)%/.exec(out)?.[1]);
    expect(accuracy).toBeGreaterThan(70);
  }, 120_000);

  it('demo --transformer trains a character-level transformer on the docs and writes a sample', async () => {
    const { code, out } = await run('demo', '--transformer', '--steps', '40');
    expect(code).toBe(0);
    const losses = [...out.matchAll(/loss ([\d.]+)/g)].map((m) => Number(m[1]));
    expect(losses.length).toBeGreaterThan(3);
    // From about ln(number of characters) down: the model learns the characters' frequencies at least.
    expect(losses[losses.length - 1]!).toBeLessThan(losses[0]! - 0.3);
    const sample = JSON.parse(/sample: (".*")/.exec(out)![1]!) as string;
    expect(sample.startsWith('The loop ')).toBe(true);
    expect(sample.length).toBe('The loop '.length + 200);
  }, 120_000);

  it('info prints the configuration in force as JSON', async () => {
    const { code, out } = await run('info');
    expect(code).toBe(0);
    const info = JSON.parse(out) as Record<string, unknown>;
    expect(Object.keys(info)).toEqual(
      expect.arrayContaining([
        'kerasJson',
        'floatx',
        'epsilon',
        'backend',
        'wasmSimd',
        'relaxedSimd',
        'threads',
        'moduleCache',
      ]),
    );
    expect(info['wasmSimd']).toBe(true);
  });

  it('export writes a standalone copy of a saved model; a missing model is an error naming it, exit 1', async () => {
    const model = keras.sequential({
      layers: [keras.layers.dense({ units: 3, activation: 'softmax', inputShape: [4] })],
    });
    await model.predict(T.zeros([1, 4]));
    const saved = path.join(work, 'saved');
    await model.save(saved);
    const out = path.join(work, 'exported');
    const { code, out: printed } = await run('export', saved, out, '--batch-size', '4');
    expect(code).toBe(0);
    expect(printed).toContain('model.wasm');
    for (const f of ['model.wasm', 'weights.bin', 'model.mjs', 'model.d.ts', 'manifest.json'])
      expect(existsSync(path.join(out, f)), f).toBe(true);
    expect((JSON.parse(readFileSync(path.join(out, 'manifest.json'), 'utf8')) as { batchSize: number }).batchSize).toBe(
      4,
    );
    const missing = await run('export', path.join(work, 'nothing-here'), out);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('nothing-here');
  });

  it('export --format onnx writes an ONNX file; import-onnx exports an ONNX model standalone; info describes one', async () => {
    const model = keras.sequential({
      layers: [keras.layers.dense({ units: 3, activation: 'softmax', inputShape: [4] })],
    });
    const saved = path.join(work, 'saved.keras');
    await model.save(saved);
    const onnxFile = path.join(work, 'model.onnx');
    const exported = await run('export', saved, onnxFile, '--format', 'onnx', '--opset', '18');
    expect(exported.code, exported.err).toBe(0);
    expect(exported.out).toMatch(/opset 18\): .*MatMul 1.*Softmax 1/);
    const { importOnnx } = await import('tsano/onnx');
    const back = await importOnnx(onnxFile);
    const x = T.randomNormal([2, 4], { seed: 1 });
    expect(Array.from(((await back.predict(x)) as T.NDArray).data)).toEqual(
      Array.from((model.predict(x) as T.NDArray).data),
    );
    const described = await run('info', path.resolve('test/fixtures/onnx/cnn/model.onnx'));
    expect(described.code).toBe(0);
    expect(described.out).toMatch(/opset ai\.onnx 17, made by pytorch/);
    expect(described.out).toMatch(/ops: Conv 2, Relu 1, MaxPool 1, GlobalAveragePool 1, Flatten 1, Gemm 1/);
    expect(described.out).toContain('inputs: x: float32 [batch, 3, 12, 12]');
    const out = path.join(work, 'from-onnx');
    const imported = await run(
      'import-onnx',
      path.resolve('test/fixtures/onnx/cnn/model.onnx'),
      out,
      '--batch-size',
      '4',
    );
    expect(imported.code, imported.err).toBe(0);
    expect(imported.out).toContain('[4, 3, 12, 12]');
    for (const f of ['model.wasm', 'weights.bin', 'model.mjs', 'manifest.json'])
      expect(existsSync(path.join(out, f)), f).toBe(true);
    const wrong = await run('export', saved, onnxFile, '--format', 'tflite');
    expect(wrong.code).toBe(2);
    expect(wrong.err).toMatch(/Allowed choices are wasm, onnx/);
  });

  it("studio serves a model's pages on 127.0.0.1: layers, the graph as built and optimized, the profile", async () => {
    const { studio } = await import('../src/cli/studio.js');
    const model = keras.sequential({
      layers: [
        keras.layers.dense({ units: 8, activation: 'relu', inputShape: [4] }),
        keras.layers.dense({ units: 3, activation: 'softmax' }),
      ],
    });
    const saved = path.join(work, 'studio.keras');
    await model.save(saved);
    for (const target of [saved, path.resolve('test/fixtures/onnx/cnn/model.onnx')]) {
      const served = await studio(target);
      try {
        expect(served.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
        const index = await (await fetch(served.url)).text();
        for (const page of served.pages) {
          expect(index).toContain(`href="${page}"`);
          const html = await (await fetch(served.url + page)).text();
          expect(html, page).toMatch(/<svg[\s\S]*<\/svg>/);
        }
        expect(served.pages).toEqual([
          ...(target.endsWith('.keras') ? ['layers.html'] : []),
          'built.html',
          'optimized.html',
          'profile.html',
        ]);
        expect(await (await fetch(served.url + 'profile.html')).text()).toMatch(/\d+\.\d{3} ms \(\d+\.\d%\)/);
        expect((await fetch(served.url + 'secret.txt')).status).toBe(404);
      } finally {
        await served.close();
      }
    }
  });
});
