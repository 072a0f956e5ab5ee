/**
 * Tiered execution: a function whose module is not cached answers its first calls on the reference
 * kernels (the generic tier) instead of waiting for the code generator, then moves to its own fused
 * module; a process with a warm module cache never loads the code generator at all.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import * as T from 'tsano';

const work = mkdtempSync(path.join(os.tmpdir(), 'tsano-tiers-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A fresh process: imports tsano/keras, predicts at once, again after the generator could load; reports tiers and values. */
const CHILD = `
const started = performance.now();
const T = await import(process.env.TSANO_T);
const keras = await import(process.env.TSANO_KERAS);
const { loadedBinaryen } = await import(process.env.TSANO_BINARYEN);
const model = keras.sequential({ layers: [
  keras.layers.dense({ units: 16, activation: 'relu', inputShape: [6], kernelInitializer: 'ones' }),
  keras.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: 'ones' }),
] });
const x = T.array(Array.from({ length: 24 }, (_, i) => Math.sin(i) / 4), { shape: [4, 6] });
const first = model.predict(x);
const firstTier = model.predictFunction.stats.tier;
const firstMs = performance.now() - started;
const generatorAtFirst = loadedBinaryen() !== undefined;
// What a user's later call meets: the generator loaded in the background, the function moved up.
if (!process.env.WARM) await T.ready();
const later = model.predict(x);
process.stdout.write(JSON.stringify({
  firstTier, laterTier: model.predictFunction.stats.tier, firstMs, generatorAtFirst,
  generatorLoaded: loadedBinaryen() !== undefined, first: [...first.data], later: [...later.data],
}));
`;

function fresh(env: Record<string, string>) {
  writeFileSync(path.join(work, 'child.mjs'), CHILD);
  const tsx = pathToFileURL(path.resolve('node_modules/tsx/dist/loader.mjs')).href;
  const url = (p: string) => pathToFileURL(path.resolve(p)).href;
  return new Promise<{
    firstTier: string;
    laterTier: string;
    generatorAtFirst: boolean;
    generatorLoaded: boolean;
    first: number[];
    later: number[];
  }>((resolve, reject) =>
    execFile(
      process.execPath,
      ['--import', tsx, path.join(work, 'child.mjs')],
      {
        env: {
          ...process.env,
          TSANO_TIER: '',
          TSANO_T: url('src/index.ts'),
          TSANO_KERAS: url('src/keras/index.ts'),
          TSANO_BINARYEN: url('compiler/codegen/binaryen.js'),
          ...env,
        },
        timeout: 60_000,
      },
      (error, out, err) => (error ? reject(new Error(`${error.message}\n${err}`)) : resolve(JSON.parse(out))),
    ),
  );
}

describe('tiered execution', () => {
  it('a fresh process predicts before the code generator loads, then moves to the fused module; values agree', async () => {
    const cache = path.join(work, 'cache');
    const cold = await fresh({ TSANO_CACHE: cache });
    expect(cold.firstTier).toBe('generic');
    expect(cold.generatorAtFirst).toBe(false);
    expect(cold.laterTier).toBe('fused');
    expect(cold.generatorLoaded).toBe(true);
    cold.first.forEach((v, i) => expect(Math.abs(v - cold.later[i]!)).toBeLessThanOrEqual(2e-6 * Math.abs(v) + 1e-7));
    // The module the first process built is on disk: the next process runs fused from its first call,
    // and never loads the code generator.
    const warm = await fresh({ TSANO_CACHE: cache, WARM: '1' });
    expect(warm.firstTier).toBe('fused');
    expect(warm.generatorLoaded).toBe(false);
    expect(warm.later).toEqual(cold.later);
  }, 120_000);

  it('TSANO_TIER=generic stays on the reference kernels and gives the reference interpreter’s values, bit for bit', async () => {
    const saved = process.env['TSANO_TIER'];
    process.env['TSANO_TIER'] = 'generic';
    try {
      const x = T.matrix('x');
      const w = T.shared(T.randomNormal([5, 3], { seed: 2 }), 'w');
      const y = T.softmax(T.tanh(T.dot(x, w)).mul(3));
      const generic = T.compileSync([x], y);
      const reference = await T.compile([x], y, { mode: 'js' });
      const input = T.randomNormal([7, 5], { seed: 3 });
      const [a, b] = [generic(input), reference(input)];
      expect(generic.stats.tier).toBe('generic');
      expect(reference.stats.tier).toBe('reference');
      expect([...a.data]).toEqual([...b.data]);
    } finally {
      if (saved === undefined) delete process.env['TSANO_TIER'];
      else process.env['TSANO_TIER'] = saved;
    }
  });

  it('a function compiled after the generator loaded runs fused, and TSANO_TIER is checked', async () => {
    await T.ready();
    const x = T.vector('x');
    expect(T.compileSync([x], T.exp(x)).stats.tier).toBe('fused');
    process.env['TSANO_TIER'] = 'fastest';
    try {
      expect(() => T.tierPolicy()).toThrow(/TSANO_TIER must be 'fused', 'generic' or 'auto', got 'fastest'/);
    } finally {
      delete process.env['TSANO_TIER'];
    }
  });
});

describe('random draws and tiers', () => {
  it('a program with random draws started on the reference kernels stays there, its stream unbroken', async () => {
    const saved = process.env['TSANO_TIER'];
    process.env['TSANO_TIER'] = 'generic';
    try {
      const x = T.vector('x');
      const f = T.compileSync([x], T.dropout(x, 0.5, { seed: 3 }));
      const g = await T.compile([x], T.dropout(x, 0.5, { seed: 3 }), { mode: 'js' });
      const ones = new Float32Array(64).fill(1);
      for (let k = 0; k < 3; k++) expect(Array.from(f(ones).data)).toEqual(Array.from(g(ones).data));
      expect(f.stats.tier).toBe('generic');
    } finally {
      if (saved === undefined) delete process.env['TSANO_TIER'];
      else process.env['TSANO_TIER'] = saved;
    }
  });
});
