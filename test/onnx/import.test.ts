/**
 * importOnnx against what PyTorch computed (the fixtures' io.json) and against ONNX Runtime on other
 * batches; the imported graph differentiated, exported as a standalone artifact, and fine-tuned.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as T from 'tsano';
import { exportFunction } from 'tsano/export';
import { importOnnx, OnnxError } from 'tsano/onnx';
import { bitsOf, runExported, toWire, type Wire } from '../helpers/exported.js';

const work = mkdtempSync(path.join(os.tmpdir(), 'tsano-onnx-import-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
beforeAll(() => T.ready());

const fixture = (name: string, file = 'model.onnx') => path.resolve('test/fixtures/onnx', name, file);
interface IoTensor {
  name: string;
  shape: number[];
  values: number[];
}
const io = (name: string) =>
  JSON.parse(readFileSync(fixture(name, 'io.json'), 'utf8')) as { inputs: IoTensor[]; outputs: IoTensor[] };

/** |a − b| ≤ atol + rtol·|b| everywhere (numpy.allclose's rule). */
function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol = 1e-4, atol = 1e-5) {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const excess = Math.abs(actual[i]! - expected[i]!) - (atol + rtol * Math.abs(expected[i]!));
    worst = Math.max(worst, excess);
  }
  expect(worst).toBeLessThanOrEqual(0);
}

async function runtime(file: string, feeds: Record<string, T.NDArray>): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(file);
  const inputs = Object.fromEntries(
    Object.entries(feeds).map(([k, v]) => [k, new ort.Tensor('float32', v.data as Float32Array, [...v.shape])]),
  );
  const out = await session.run(inputs);
  return out[session.outputNames[0]!]!.data as Float32Array;
}

describe('importOnnx: models exported by PyTorch', () => {
  for (const name of ['mlp', 'cnn', 'mlp_dynamo']) {
    it(`${name}: predicts what PyTorch computed, and what ONNX Runtime computes on another batch`, async () => {
      const model = await importOnnx(fixture(name));
      const { inputs, outputs } = io(name);
      expect(model.inputs.map((i) => i.name)).toEqual(['x']);
      expect(model.inputs[0]!.shape[0]).toBeNull();
      expect(model.inputs[0]!.params[0]).toBe('batch');
      const y = (await model.predict({
        data: Float32Array.from(inputs[0]!.values),
        shape: inputs[0]!.shape,
      })) as T.NDArray;
      expect([...y.shape]).toEqual(outputs[0]!.shape);
      expectClose(y.data, outputs[0]!.values);
      const other = T.randomNormal([3, ...inputs[0]!.shape.slice(1)], { seed: 7, dtype: 'float32' });
      const mine = (await model.predict(other)) as T.NDArray;
      expectClose(mine.data, await runtime(fixture(name), { x: other }));
    });
  }

  it('external data: found beside a model read by path; a model given as bytes names the file it needs', async () => {
    const bytes = readFileSync(fixture('mlp_dynamo'));
    await expect(importOnnx(bytes)).rejects.toThrow(/its data is in 'model\.onnx\.data'.*externalData/);
    const data = readFileSync(fixture('mlp_dynamo', 'model.onnx.data'));
    const fromBytes = await importOnnx(bytes, { externalData: { 'model.onnx.data': new Uint8Array(data) } });
    const byPath = await importOnnx(fixture('mlp'));
    const x = T.randomNormal([4, 8], { seed: 3, dtype: 'float32' });
    expect(bitsOf(toWire((await fromBytes.predict(x)) as T.NDArray))).toBe(
      bitsOf(toWire((await byPath.predict(x)) as T.NDArray)),
    );
  });

  it('the imported graph exports as a standalone artifact that predicts the same bits as the library', async () => {
    const model = await importOnnx(fixture('cnn'));
    const f = await model.toFunction();
    const dir = path.join(work, 'cnn-export');
    await exportFunction(f, dir, { shapes: [[[4, 3, 12, 12]]], inputNames: ['x'] });
    const x = T.randomNormal([4, 3, 12, 12], { seed: 11, dtype: 'float32' });
    const { answers } = runExported(dir, [[x]]);
    const [library] = f(x);
    expect(bitsOf((answers[0] as Wire[])[0]!)).toBe(bitsOf(toWire(library!)));
  });

  it('T.grad through an imported MLP matches finite differences, and trains its weights', async () => {
    const model = await importOnnx(fixture('mlp'), { trainable: true });
    expect(model.graph.weights.map((w) => w.name)).toEqual(['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']);
    const [x] = model.graph.inputs;
    const [p] = model.graph.outputs;
    const target = T.ivector('target');
    const loss = T.neg(T.mean(T.log(T.index(p!, T.arange(T.shape(p!, 0)), target))));
    const weights = model.graph.weights;
    const grads = T.grad(loss, [...weights]);
    const f = await T.compile([x!, target], [loss, ...grads]);
    const xs = T.randomNormal([5, 8], { seed: 5, dtype: 'float32' });
    const ys = T.array([0, 1, 2, 3, 1], [5], 'int32');
    const [, ...analytic] = f(xs, ys);
    // Central differences in float64 arithmetic on the float32 loss: a few entries of each weight.
    const lossOf = await T.compile([x!, target], loss);
    for (const [k, w] of weights.entries()) {
      const value = w.get();
      for (const i of [0, Math.floor(value.size / 2), value.size - 1]) {
        const h = 1e-2;
        const at = (delta: number) => {
          const v = new Float32Array(value.data as Float32Array);
          v[i]! += delta;
          w.set(new T.NDArray(v, value.shape, 'float32'));
          return lossOf(xs, ys).data[0]!;
        };
        const numeric = (at(h) - at(-h)) / (2 * h);
        w.set(value);
        expect(Math.abs(analytic[k]!.data[i]! - numeric)).toBeLessThan(2e-3 + 1e-2 * Math.abs(numeric));
      }
    }
    // A few steps of gradient descent on the imported weights lower the loss.
    const step = await T.compile([x!, target], loss, {
      updates: weights.map((w, k) => [w, T.sub(w, T.mul(grads[k]!, 0.5))] as [T.Node, T.Node]),
    });
    const before = lossOf(xs, ys).data[0]!;
    for (let s = 0; s < 20; s++) step(xs, ys);
    expect(lossOf(xs, ys).data[0]!).toBeLessThan(before * 0.5);
  });

  it('errors name the file, the node, the op type and the opset', async () => {
    await expect(importOnnx(path.join(work, 'missing.onnx'))).rejects.toThrow(
      /missing\.onnx: cannot be read \(ENOENT\)/,
    );
    await expect(importOnnx(new Uint8Array([1, 2, 3]))).rejects.toThrow(OnnxError);
    const model = await importOnnx(fixture('mlp'));
    await expect(model.predict()).rejects.toThrow(/takes 1 inputs \(x\), got 0/);
    await expect(model.predict(T.zeros([2, 7]))).rejects.toThrow(/x/);
  });
});
