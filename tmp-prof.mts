import * as T from './src/index.ts';
import { importOnnx } from './src/onnx/index.ts';
await T.ready();
const m = await importOnnx('test/fixtures/onnx/cnn/model.onnx');
const f = await m.toFunction();
const x = T.randomNormal([64, 3, 12, 12], { seed: 1, dtype: 'float32' });
f(x);
T.printProfile(f.profile(x, { repeats: 200 }));
console.log(T.debugprint(f.graph.outputs[0]!));
