import * as ort from 'onnxruntime-web';
import { readFileSync } from 'node:fs';
const threads = Number(process.argv[2] ?? 1);
ort.env.wasm.numThreads = threads;
const file = process.argv[3];
const shape = JSON.parse(process.argv[4]);
const s = await ort.InferenceSession.create(new Uint8Array(readFileSync(file)), { executionProviders: ['wasm'] });
const n = shape.reduce((a, b) => a * b, 1);
const x = new ort.Tensor('float32', Float32Array.from({ length: n }, (_, i) => Math.sin(i)), shape);
const feeds = { [s.inputNames[0]]: x };
await s.run(feeds);
const times = [];
for (let r = 0; r < 20; r++) { const t = performance.now(); await s.run(feeds); times.push(performance.now() - t); }
times.sort((a, b) => a - b);
console.log(JSON.stringify({ threads, ms: times[10] }));
