/**
 * Fuzzing Keras's own files: mutations of the real Keras 3 fixtures (truncations, bit flips, runs of
 * bytes overwritten, zip sizes inflated) are loaded in a child process, one after another. Each must
 * end, within 5 s, in a model whose predictions are finite (or non-finite only where the file's own
 * weights are), or in a LoadError; the child must not crash, must stay within 256 MB of memory beyond
 * what loading a good file takes, and HDF5 must print nothing.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const work = mkdtempSync(path.join(os.tmpdir(), 'tsano-keras-fuzz-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const FIXTURES = ['mlp/model.keras', 'mlp/model.h5', 'cnn/model.keras', 'cnn/model.h5'];
/** Mutations per fixture; TSANO_FUZZ_CASES raises it for a longer run by hand. */
const PER_FIXTURE = Number(process.env.TSANO_FUZZ_CASES ?? 24);

/** A small deterministic generator (mulberry32), so a failing case can be made again from its name. */
function generator(seed: number) {
  let a = seed >>> 0;
  return (n: number) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

/** Sets every zip size field (local headers and central directory) of entries to `size`. */
function inflateZipSizes(bytes: Uint8Array, size: number): Uint8Array {
  const out = bytes.slice();
  const view = new DataView(out.buffer);
  for (let i = 0; i + 46 < out.length; i++) {
    const signature = view.getUint32(i, true);
    if (signature === 0x04034b50) view.setUint32(i + 22, size, true);
    if (signature === 0x02014b50) view.setUint32(i + 24, size, true);
  }
  return out;
}

type Mutation = (bytes: Uint8Array, random: (n: number) => number) => Uint8Array;
const MUTATIONS: Record<string, Mutation> = {
  truncated: (b, r) => b.slice(0, r(b.length)),
  bitFlips: (b, r) => {
    const out = b.slice();
    for (let k = 1 + r(8); k > 0; k--) {
      const i = r(out.length);
      out[i] = out[i]! ^ (1 << r(8));
    }
    return out;
  },
  overwritten: (b, r) => {
    const out = b.slice();
    const at = r(out.length);
    out.fill(r(2) ? 0xff : 0, at, Math.min(out.length, at + 1 + r(64)));
    return out;
  },
  zipSizes: (b, r) => (b[0] === 0x50 ? inflateZipSizes(b, [0xfffffff0, 1, 2 ** 30][r(3)]!) : b.slice(0, r(b.length))),
};

const CHILD = `
const [keras, T] = await Promise.all([import(process.env.TSANO_KERAS), import(process.env.TSANO_T)]);
const files = JSON.parse(process.env.FUZZ_FILES);
const finite = (data) => data.every((v) => Number.isFinite(v));
const outcomes = [];
const load = async (file) => {
  const started = performance.now();
  try {
    const model = await keras.models.loadModel(file);
    const shape = model.inputs[0].shape.map((d) => d ?? 2);
    const y = model.predict(T.randomNormal(shape, { seed: 1 }));
    const weightsFinite = model.getWeights().every((w) => finite(w.data));
    return { file, outcome: finite(y.data) ? 'finite' : weightsFinite ? 'not finite' : 'not finite, from the file', ms: performance.now() - started };
  } catch (e) {
    return { file, outcome: e instanceof T.LoadError ? 'LoadError' : 'other ' + e?.constructor?.name + ': ' + String(e?.message).slice(0, 300), ms: performance.now() - started };
  }
};
console.warn = () => {};
const good = await load(process.env.FUZZ_GOOD);
const baseline = process.resourceUsage().maxRSS;
for (const file of files) outcomes.push(await load(file));
process.stdout.write(JSON.stringify({ good, outcomes, baselineKB: baseline, peakKB: process.resourceUsage().maxRSS }));
`;

describe('mutated Keras 3 files', () => {
  it(`${FIXTURES.length * PER_FIXTURE} mutations load or fail with a LoadError, in bounded time and memory, silently`, async () => {
    const files: string[] = [];
    FIXTURES.forEach((fixture, f) => {
      const bytes = new Uint8Array(readFileSync(path.resolve('test/fixtures/keras3', fixture)));
      const names = Object.keys(MUTATIONS);
      for (let k = 0; k < PER_FIXTURE; k++) {
        const random = generator(1000 * f + k);
        const name = names[k % names.length]!;
        const file = path.join(work, `${fixture.replace('/', '-')}-${name}-${k}${path.extname(fixture)}`);
        writeFileSync(file, MUTATIONS[name]!(bytes, random));
        files.push(file);
      }
    });
    writeFileSync(path.join(work, 'child.mjs'), CHILD);
    const tsx = pathToFileURL(path.resolve('node_modules/tsx/dist/loader.mjs')).href;
    const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) =>
      execFile(
        process.execPath,
        ['--import', tsx, path.join(work, 'child.mjs')],
        {
          cwd: path.resolve('.'),
          timeout: 180_000,
          maxBuffer: 16 * 2 ** 20,
          env: {
            ...process.env,
            TSANO_KERAS: pathToFileURL(path.resolve('src/keras/index.ts')).href,
            TSANO_T: pathToFileURL(path.resolve('src/index.ts')).href,
            FUZZ_FILES: JSON.stringify(files),
            FUZZ_GOOD: path.resolve('test/fixtures/keras3/mlp/model.keras'),
          },
        },
        (error, out, err) =>
          error ? reject(new Error(`${error.message}\n${err}`)) : resolve({ stdout: out, stderr: err }),
      ),
    );
    const report = JSON.parse(stdout) as {
      good: { outcome: string };
      outcomes: { file: string; outcome: string; ms: number }[];
      baselineKB: number;
      peakKB: number;
    };
    expect(report.good.outcome).toBe('finite');
    expect(report.outcomes).toHaveLength(files.length);
    const allowed = ['finite', 'LoadError', 'not finite, from the file'];
    const bad = report.outcomes.filter((o) => !allowed.includes(o.outcome) || o.ms >= 5000);
    expect(bad.map((o) => `${path.basename(o.file)}: ${o.outcome} (${o.ms.toFixed(0)} ms)`)).toEqual([]);
    // Both kinds of ending happen: the mutations reach the readers, not only the first check.
    expect(report.outcomes.some((o) => o.outcome === 'LoadError')).toBe(true);
    expect(report.outcomes.some((o) => o.outcome !== 'LoadError')).toBe(true);
    expect((report.peakKB - report.baselineKB) / 1024).toBeLessThan(256);
    expect(stderr).not.toMatch(/HDF5|#\d{3}:|Aborted/);
  }, 200_000);
});
