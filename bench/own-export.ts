/**
 * The library's Keras predict against the same model exported (bench rows of the hot-path issue):
 * both run the same wasm kernels, so the ratio is what the library's call adds to the kernels' work.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as T from '../src/index.js';
import { exportModel } from '../src/export/index.js';
import { data, SMALL } from './peers.js';
import { smallModel } from './tsano.js';

type Exported = { predict(data: Float32Array, shape: number[]): { data: Float32Array } };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Median µs per call of each runner, alternating, after a warm-up of thousands of calls. */
function race(runners: (() => void)[], inner: number): number[] {
  runners.forEach((r) => {
    for (let k = 0; k < 20 * inner; k++) r();
  });
  const times = runners.map(() => [] as number[]);
  for (let rep = 0; rep < 11; rep++)
    runners.forEach((r, i) => {
      const t = performance.now();
      for (let k = 0; k < inner; k++) r();
      times[i]!.push(((performance.now() - t) * 1000) / inner);
    });
  return times.map(median);
}

export async function ownExportBench(): Promise<void> {
  console.log('\nKeras predict against the same model exported (one thread, µs per call)');
  console.log('model | rows | library | export | library / export');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tsano-bench-export-'));
  const saved = process.env['TSANO_THREADS'];
  process.env['TSANO_THREADS'] = '1';
  try {
    for (const depth of [2, 20]) {
      const model = smallModel(depth);
      const folder = path.join(dir, `depth-${depth}`);
      for (const rows of [SMALL.rows, 256]) {
        await exportModel(model, folder, { batchSize: rows });
        const url = `${pathToFileURL(path.join(folder, 'model.mjs')).href}?rows=${rows}`;
        const exported = await ((await import(url)) as { load(): Promise<Exported> }).load();
        const values = data.seeded(rows * SMALL.features, 41);
        const x = T.array(values, { shape: [rows, SMALL.features] });
        const [library, standalone] = race(
          [() => void model.predict(x), () => void exported.predict(values, [rows, SMALL.features])],
          rows === 256 ? 50 : 500,
        );
        console.log(
          `${depth} hidden layers of 64 | ${rows} | ${library!.toFixed(1)} | ${standalone!.toFixed(1)} | ${(library! / standalone!).toFixed(2)}`,
        );
      }
    }
  } finally {
    if (saved === undefined) delete process.env['TSANO_THREADS'];
    else process.env['TSANO_THREADS'] = saved;
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await ownExportBench();
