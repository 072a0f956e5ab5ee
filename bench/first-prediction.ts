/**
 * What a user waits for: from process start to the first prediction of a small MLP (32-64-64-10, 8
 * rows), each run a fresh `node` process, tsano with its module cache cold and warm against TF.js's
 * wasm backend (imports, backend set-up, the model, the first predict and its values read).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.resolve(here, '..');

const TSANO = `
const T = await import(${JSON.stringify(pathToFileURL(path.join(dist, 'src/index.js')).href)});
const keras = await import(${JSON.stringify(pathToFileURL(path.join(dist, 'src/keras/index.js')).href)});
const model = keras.sequential({ layers: [
  keras.layers.dense({ units: 64, activation: 'relu', inputShape: [32] }),
  keras.layers.dense({ units: 64, activation: 'relu' }),
  keras.layers.dense({ units: 10, activation: 'softmax' }),
] });
const y = model.predict(T.randomNormal([8, 32], { seed: 1 }));
void y.data[0];
process.stdout.write(JSON.stringify({ ms: performance.now(), tier: model.predictFunction.stats.tier }));
`;

function tfjs(): string {
  const require = createRequire(import.meta.url);
  const url = (p: string) => JSON.stringify(pathToFileURL(require.resolve(p)).href);
  const wasmDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')) + '/dist/';
  return `
const tf = await import(${url('@tensorflow/tfjs-core')});
const wasm = await import(${url('@tensorflow/tfjs-backend-wasm')});
const tfl = await import(${url('@tensorflow/tfjs-layers')});
wasm.setWasmPaths(${JSON.stringify(wasmDir)});
await tf.setBackend('wasm');
await tf.ready();
const model = tfl.sequential({ layers: [
  tfl.layers.dense({ units: 64, activation: 'relu', inputShape: [32] }),
  tfl.layers.dense({ units: 64, activation: 'relu' }),
  tfl.layers.dense({ units: 10, activation: 'softmax' }),
] });
const y = model.predict(tf.randomNormal([8, 32]));
y.dataSync();
process.stdout.write(JSON.stringify({ ms: performance.now(), tier: 'tfjs' }));
`;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function firstPredictionBench(runs = 5): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tsano-first-prediction-'));
  try {
    writeFileSync(path.join(dir, 'tsano.mjs'), TSANO);
    writeFileSync(path.join(dir, 'tfjs.mjs'), tfjs());
    const time = (script: string, env: Record<string, string>) =>
      JSON.parse(
        execFileSync(process.execPath, [path.join(dir, script)], {
          env: { ...process.env, ...env },
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'ignore'],
        }),
      ) as { ms: number; tier: string };
    const cold: number[] = [];
    const warm: number[] = [];
    const theirs: number[] = [];
    const tiers = new Set<string>();
    for (let r = 0; r < runs; r++) {
      const cache = path.join(dir, `cache-${r}`);
      const c = time('tsano.mjs', { TSANO_CACHE: cache });
      const w = time('tsano.mjs', { TSANO_CACHE: cache });
      cold.push(c.ms);
      warm.push(w.ms);
      tiers.add(`cold ${c.tier}, warm ${w.tier}`);
      theirs.push(time('tfjs.mjs', {}).ms);
    }
    const tf = median(theirs);
    console.log('\nfrom process start to the first prediction (MLP 32-64-64-10, 8 rows), median of fresh processes');
    console.log(`tsano, cache cold: ${median(cold).toFixed(0)} ms (${(median(cold) / tf).toFixed(2)} of TF.js)`);
    console.log(`tsano, cache warm: ${median(warm).toFixed(0)} ms (${(median(warm) / tf).toFixed(2)} of TF.js)`);
    console.log(`TF.js wasm 4.22:   ${tf.toFixed(0)} ms; tsano's first calls ran: ${[...tiers].join('; ')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await firstPredictionBench();
