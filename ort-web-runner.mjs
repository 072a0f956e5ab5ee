
import * as ort from 'onnxruntime-web';
import { readFileSync } from 'node:fs';
const [threads, request] = [Number(process.argv[2]), JSON.parse(process.argv[3])];
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
