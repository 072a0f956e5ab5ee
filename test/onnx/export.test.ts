/**
 * exportOnnx: Keras models and compiled functions run in ONNX Runtime (the oracle) and give what
 * tsano's predict gives; the export reads back through importOnnx; random graphs agree (property).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as T from 'tsano';
import * as keras from 'tsano/keras';
import { exportOnnx, importOnnx, OnnxError } from 'tsano/onnx';
import { anyValue, dataFor } from '../helpers/arbitraries.js';
import { closestComparison, randomGraph } from '../helpers/random-graph.js';
import { toposort } from '../../compiler/ir/graph.js';
import { exportStatus } from '../../src/onnx/export-ops.js';
import { IMPORTERS } from '../../src/onnx/import-ops.js';
import { decodeModel } from '../../src/onnx/schema.js';

const work = mkdtempSync(path.join(os.tmpdir(), 'tsano-onnx-export-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
beforeAll(() => T.ready());
let files = 0;
const fresh = (name: string) => path.join(work, `${files++}-${name}.onnx`);

/** Any float32 value but ±Infinity (their differences are those of overflowing values below); huge, tiny and NaN inputs stay in. */
const finiteOrNaN = anyValue.filter((v) => Number.isFinite(v) || Number.isNaN(v));

const ORT_TYPES = { float32: 'float32', float64: 'float64', int32: 'int32', bool: 'bool' } as const;

/** The outputs ONNX Runtime computes for `inputs`, by the exported names. */
async function runtime(
  file: string,
  names: readonly string[],
  inputs: readonly T.NDArray[],
  options: ort.InferenceSession.SessionOptions = {},
): Promise<T.NDArray[]> {
  const session = await ort.InferenceSession.create(file, options);
  const feeds = Object.fromEntries(
    inputs.map((x, k) => [
      names[k]!,
      new ort.Tensor(ORT_TYPES[x.dtype], x.dtype === 'bool' ? Array.from(x.data, Boolean) : x.data, [...x.shape]),
    ]),
  );
  const out = await session.run(feeds);
  return session.outputNames.map((n) => {
    const t = out[n]!;
    const data = t.data as Float32Array | Float64Array | Int32Array | Uint8Array;
    return new T.NDArray(t.type === 'bool' ? Uint8Array.from(data) : data, t.dims as number[]);
  });
}

const FLOAT32_MAX = 3.4028234663852886e38;
const FLOAT32_TINY = 1.1754943508222875e-38;

/**
 * What the graph computes on the way to `output`, as built and as exportOnnx writes it (canonicalized
 * and stabilized, not fused): whether a value leaves float32's normal range (infinite; subnormal, which
 * ONNX Runtime flushes to zero and tsano keeps; a product inside a matmul that overflows while the sum
 * does not), where ONNX Runtime's kernels and tsano's part (docs/onnx.md); and the largest magnitude,
 * the scale of what rounding in another summation order can move.
 */
async function intermediates(output: T.Node, inputs: readonly T.Node[], values: readonly T.NDArray[]) {
  const written = await T.compile([...inputs], output, { mode: 'js', exclude: ['specialize', 'fusion'] });
  let abnormal = false;
  let largest = 0;
  for (const root of [output, written.graph.outputs[0]!]) {
    const steps = toposort([root]).filter((n) => !['input', 'constant', 'shared'].includes(n.op));
    const magnitude = (n: T.Node) => (n.ndim === 0 ? T.abs(n) : T.max(T.abs(n)));
    const products = steps
      .filter((n) => (n.op === 'matmul' || n.op === 'dot') && n.inputs.every((i) => !i.shape.includes(0)))
      .map((n) => T.mul(T.cast(magnitude(n.inputs[0]!), 'float64'), T.cast(magnitude(n.inputs[1]!), 'float64')));
    const f = await T.compile([...inputs], [...steps, ...products], { mode: 'js', optimizer: 'none' });
    const out = f(...values) as T.NDArray[];
    for (const a of out.slice(0, steps.length))
      for (const v of a.data) {
        if (v === Infinity || v === -Infinity || (v !== 0 && Math.abs(v) < FLOAT32_TINY)) abnormal = true;
        if (Number.isFinite(v)) largest = Math.max(largest, Math.abs(v));
      }
    if (out.slice(steps.length).some((a) => a.data[0]! > FLOAT32_MAX)) abnormal = true;
    // gelu below −5 is 0 in ONNX's x·½(1 + erf(x/√2)) where 1 + erf cancels (docs/onnx.md): only its absolute error is small.
    const valueOf = (n: T.Node) => (steps.includes(n) ? out[steps.indexOf(n)] : values[inputs.indexOf(n)]);
    if (steps.some((n) => n.op === 'gelu' && Array.from(valueOf(n.inputs[0]!)?.data ?? []).some((v) => v < -5)))
      abnormal = true;
  }
  return { abnormal, largest };
}

/** |a − b| ≤ atol + rtol·|b| everywhere; NaN matches NaN. */
function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol = 1e-4, atol = 1e-5) {
  expect(actual.length).toBe(expected.length);
  const bad: string[] = [];
  for (let i = 0; i < expected.length; i++) {
    const [a, b] = [actual[i]!, expected[i]!];
    if (Number.isNaN(a) && Number.isNaN(b)) continue;
    if (a === b) continue;
    if (!(Math.abs(a - b) <= atol + rtol * Math.abs(b))) bad.push(`[${i}] ${a} vs ${b}`);
  }
  expect(bad.slice(0, 5)).toEqual([]);
}

const argmaxRows = (a: T.NDArray) => {
  const cols = a.shape[a.shape.length - 1]!;
  return Array.from({ length: a.size / cols }, (_, r) => {
    let best = 0;
    for (let c = 1; c < cols; c++) if (a.data[r * cols + c]! > a.data[r * cols + best]!) best = c;
    return best;
  });
};

/** Exports `model`, runs it in ONNX Runtime on `inputs`, and compares with tsano's predict. */
async function expectModelAgrees(model: keras.LayersModel<T.NDArray>, inputs: T.NDArray[], opset?: number) {
  const file = fresh('model');
  const summary = await exportOnnx(model, file, opset ? { opset } : {});
  const [theirs] = await runtime(file, summary.inputs, inputs);
  const mine = model.predict(inputs.length === 1 ? inputs[0]! : inputs) as T.NDArray;
  expect([...theirs!.shape]).toEqual([...mine.shape]);
  expectClose(theirs!.data, mine.data);
  if (mine.shape[mine.shape.length - 1]! > 1) expect(argmaxRows(theirs!)).toEqual(argmaxRows(mine));
  return { file, summary };
}

const seeded = (shape: number[], seed: number) => T.randomNormal(shape, { seed, dtype: 'float32' });

describe('exportOnnx: Keras models in ONNX Runtime', () => {
  for (const name of ['mlp', 'cnn', 'functional', 'siamese', 'transformer']) {
    it(`Keras 3's ${name} fixture gives Keras's outputs in ONNX Runtime`, async () => {
      const model = (await keras.loadModel(
        path.resolve('test/fixtures/keras3', name, 'model.keras'),
      )) as keras.LayersModel<T.NDArray>;
      const io = JSON.parse(readFileSync(path.resolve('test/fixtures/keras3', name, 'io.json'), 'utf8')) as {
        inputs: { shape: number[]; values: number[] }[];
        outputs: { shape: number[]; values: number[] }[];
      };
      const inputs = io.inputs.map((x, k) =>
        T.array(x.values, x.shape, model.inputs[k]!.dtype === 'int32' ? 'int32' : 'float32'),
      );
      const { file } = await expectModelAgrees(model, inputs);
      const [theirs] = await runtime(
        file,
        (await importOnnx(file)).inputs.map((i) => i.name),
        inputs,
      );
      expectClose(theirs!.data, io.outputs[0]!.values);
    });
  }

  const built: Record<string, () => { model: keras.LayersModel<T.NDArray>; inputs: T.NDArray[] }> = {
    'an MLP (dropout, softmax)': () => ({
      model: keras.sequential({
        layers: [
          keras.layers.dense({ units: 16, activation: 'relu', inputShape: [10] }),
          keras.layers.dropout({ rate: 0.5 }),
          keras.layers.dense({ units: 4, activation: 'softmax' }),
        ],
      }),
      inputs: [seeded([7, 10], 1)],
    }),
    'a CNN (same padding, strides, average pooling, batch normalization, depthwise and transposed convolutions)':
      () => ({
        model: keras.sequential({
          layers: [
            keras.layers.conv2d({
              filters: 4,
              kernelSize: 3,
              padding: 'same',
              inputShape: [9, 9, 3],
              activation: 'elu',
            }),
            keras.layers.batchNormalization(),
            keras.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', depthMultiplier: 2 }),
            keras.layers.conv2dTranspose({ filters: 3, kernelSize: 3, strides: 2, padding: 'same' }),
            keras.layers.averagePooling2d({ poolSize: 2, padding: 'same' }),
            keras.layers.conv2d({ filters: 5, kernelSize: 2, strides: 2 }),
            keras.layers.globalMaxPooling2d(),
            keras.layers.dense({ units: 3, activation: 'softmax' }),
          ],
        }),
        inputs: [seeded([2, 9, 9, 3], 2)],
      }),
    'a functional model with branches (concatenate, add, layer normalization)': () => {
      const input = keras.input({ shape: [6] });
      const a = keras.layers.dense({ units: 5, activation: 'tanh' }).apply(input) as T.Node;
      const b = keras.layers.dense({ units: 5, activation: 'gelu' }).apply(input) as T.Node;
      const joined = keras.layers.concatenate().apply([a, b]) as T.Node;
      const normed = keras.layers.layerNormalization().apply(joined) as T.Node;
      const skip = keras.layers.dense({ units: 10, activation: 'softplus' }).apply(input) as T.Node;
      const sum = keras.layers.add().apply([normed, skip]) as T.Node;
      const out = keras.layers.dense({ units: 2 }).apply(sum) as T.Node;
      return { model: keras.model({ inputs: input, outputs: out }), inputs: [seeded([5, 6], 3)] };
    },
    'an LSTM over 40 steps (a loop in the library, written out for ONNX)': () => ({
      model: keras.sequential({
        layers: [keras.layers.lstm({ units: 5, inputShape: [40, 3] }), keras.layers.dense({ units: 2 })],
      }),
      inputs: [seeded([2, 40, 3], 5)],
    }),
    'an LSTM and a GRU over 12 steps': () => ({
      model: keras.sequential({
        layers: [
          keras.layers.lstm({ units: 8, returnSequences: true, inputShape: [12, 4] }),
          keras.layers.gru({ units: 6 }),
          keras.layers.dense({ units: 3 }),
        ],
      }),
      inputs: [seeded([3, 12, 4], 4)],
    }),
  };
  for (const [name, make] of Object.entries(built)) {
    it(`${name} gives tsano's predictions`, async () => {
      const { model, inputs } = make();
      await expectModelAgrees(model, inputs);
    });
  }

  it('opsets 18 to 21 (reductions take their axes as operands, Gelu is an op from 20)', async () => {
    const { model, inputs } = built['a functional model with branches (concatenate, add, layer normalization)']!();
    for (const opset of [18, 19, 20, 21]) {
      const { summary } = await expectModelAgrees(model, inputs, opset);
      expect(summary.opset).toBe(opset);
      expect('Gelu' in summary.ops).toBe(opset >= 20);
    }
  });

  it('round trip: tsano → ONNX → tsano predicts the same; weights in an external data file on request', async () => {
    const { model, inputs } =
      built[
        'a CNN (same padding, strides, average pooling, batch normalization, depthwise and transposed convolutions)'
      ]!();
    const file = fresh('external');
    const summary = await exportOnnx(model, file, { externalData: true });
    expect(summary.externalData?.file).toBe(`${file}.data`);
    expect(existsSync(`${file}.data`)).toBe(true);
    const back = await importOnnx(file);
    expect(back.inputs[0]!.params[0]).toBe('batch');
    // The depthwise convolution goes as a grouped Conv (4 groups), its kernel [8, 1, 3, 3].
    const written = decodeModel(readFileSync(file), file);
    const groups = written.graph!.node.flatMap((n) => n.attribute.filter((a) => a.name === 'group').map((a) => a.i));
    expect(groups).toEqual([4]);
    const mine = model.predict(inputs[0]!) as T.NDArray;
    const again = (await back.predict(inputs[0]!)) as T.NDArray;
    expectClose(again.data, mine.data, 1e-5, 1e-6);
    const [theirs] = await runtime(file, summary.inputs, inputs);
    expectClose(theirs!.data, mine.data);
  });
});

describe('exportOnnx: compiled functions', () => {
  it('random graphs of the exportable ops agree with tsano in ONNX Runtime (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        randomGraph('float32').chain((g) =>
          fc.tuple(fc.constant(g), fc.tuple(...g.shapes.map((s) => dataFor(s, finiteOrNaN)))),
        ),
        async ([g, data]) => {
          const values = data.map((d, k) => T.array(d, g.shapes[k]!, 'float32'));
          const f = await T.compile(g.inputs, g.output);
          const file = fresh('random');
          const summary = await exportOnnx(f, file);
          // The graph's own meaning: ONNX Runtime's rewrites reassociate (MatMul(x·0, y) as MatMul(x, y)·0 is NaN at x·y = inf).
          const [theirs] = await runtime(file, summary.inputs, values, { graphOptimizationLevel: 'disabled' });
          const mine = f(...values);
          expect([...theirs!.shape]).toEqual([...mine.shape]);
          // Near a comparison's tie the two may branch differently, both correctly.
          if ((await closestComparison(g, values)) < 1e-4) return;
          // Where a value leaves float32's normal range on the way, ONNX Runtime's kernels and tsano's part.
          const { abnormal, largest } = await intermediates(g.output, g.inputs, values);
          if (abnormal) return;
          // Sums cancel differently in another order: an absolute error on the scale of the largest value.
          expectClose(theirs!.data, mine.data, 2e-3, 1e-4 + 1e-6 * largest);
        },
      ),
      // A fixed seed keeps CI's runs the same; raise numRuns and drop the seed to search further.
      { numRuns: 150, seed: 20261208 },
    );
  });

  it('elementwise ops with no ONNX operator keep their accuracy through their decompositions', async () => {
    const x = T.tensor('x', { shape: [null], dtype: 'float64' });
    const ops = {
      log1p: T.log1p,
      expm1: T.expm1,
      softplus: T.softplus,
      log1mexp: (v: T.Node) => T.log1mexp(T.neg(T.abs(v))),
    };
    const values = T.array(
      [-1e-300, -1e-20, -1e-8, -0.3, -1e-3, 0, 1e-20, 1e-10, 1e-5, 0.5, 3, 30, 700, 1e300, -50, -700, -1e300],
      [17],
      'float64',
    );
    for (const [name, op] of Object.entries(ops)) {
      const f = await T.compile([x], op(x), { mode: 'js' });
      const file = fresh(name);
      const summary = await exportOnnx(f, file);
      const [theirs] = await runtime(file, summary.inputs, [values]);
      const mine = f(values);
      // Within 4 ulps of float64 (docs/onnx.md): where log(1 + x) written plainly loses every digit.
      for (let i = 0; i < values.size; i++) {
        const [a, b] = [theirs!.data[i]!, mine.data[i]!];
        if (Number.isNaN(b) || !Number.isFinite(b)) expect(a, `${name}(${values.data[i]})`).toBe(b);
        else expect(Math.abs(a - b), `${name}(${values.data[i]})`).toBeLessThanOrEqual(4 * 2 ** -52 * Math.abs(b));
      }
    }
  });

  it('shape, index and sorting ops: topk, takeAlongAxis, oneHot, pad, cumsum, argmax, gather, slices, sizes known at call time', async () => {
    const x = T.tensor('x', { shape: [null, 6] });
    const labels = T.tensor('labels', { shape: [null], dtype: 'int32' });
    const top = T.topk(x, 3);
    const outputs = [
      T.cast(top.indices, 'float32'),
      top.values,
      T.takeAlongAxis(x, T.argsort(x, -1).index(null, '0:2'), -1),
      T.oneHot(labels, 4),
      T.pad(
        x,
        [
          [1, 0],
          [0, 2],
        ],
        -1,
      ),
      T.cumsum(x, 1),
      T.cast(T.argmax(x, 1), 'float32'),
      T.gather(x, T.array([4, 0, 5], [3], 'int32'), 1),
      T.index(x, '::-1', '1:5:2'),
      T.mul(T.sum(x), T.cast(T.dimOf(x, 0), 'float32')),
      T.concat([x, T.square(x)], 1),
    ];
    const f = await T.compile([x, labels], outputs);
    const values = [T.randomNormal([5, 6], { seed: 12, dtype: 'float32' }), T.array([0, 3, 1, 2, 3], [5], 'int32')];
    const file = fresh('structural');
    const summary = await exportOnnx(f, file);
    const theirs = await runtime(file, summary.inputs, values);
    const mine = f(...values);
    mine.forEach((m, k) => {
      expect([...theirs[k]!.shape], `output ${k}`).toEqual([...m.shape]);
      expectClose(theirs[k]!.data, m.data);
    });
  });

  it('docs/onnx.md names every op type importOnnx reads and every tsano op exportOnnx writes or refuses', () => {
    const doc = readFileSync('docs/onnx.md', 'utf8');
    const words = new Set(doc.split(/[^A-Za-z0-9]+/));
    const internal = new Set(['input', 'constant', 'shared', 'fused', 'fusedOutput']);
    const missing = [
      ...Object.keys(IMPORTERS).filter((op) => !words.has(op)),
      ...Object.entries(exportStatus())
        .filter(([op, status]) => !internal.has(op) && !status.startsWith('it is a gradient helper') && !words.has(op))
        .map(([op]) => op),
    ];
    expect(missing).toEqual([]);
  });

  it('refuses what ONNX cannot carry, naming the op: random draws, state updates, linear algebra', async () => {
    const x = T.matrix('x');
    const dropped = await T.compile([x], T.dropout(x, 0.5));
    await expect(exportOnnx(dropped, fresh('dropout'))).rejects.toThrow(
      /'randomUniformLike' cannot be exported: .*training-only/,
    );
    const w = T.shared(T.zeros([2, 2]), 'w');
    const stateful = await T.compile([x], T.sum(x), { updates: [[w, T.add(w, 1)]] });
    await expect(exportOnnx(stateful, fresh('state'))).rejects.toThrow(/updates 1 shared variable/);
    const factor = await T.compile([x], T.linalg.cholesky(x));
    await expect(exportOnnx(factor, fresh('cholesky'))).rejects.toThrow(OnnxError);
    await expect(exportOnnx(factor, fresh('cholesky'))).rejects.toThrow(
      /'cholesky' cannot be exported: ONNX has no Cholesky/,
    );
    const f = await T.compile([x], T.exp(x));
    await expect(exportOnnx(f, fresh('opset'), { opset: 12 })).rejects.toThrow(
      /opset must be an integer from 17 to 21/,
    );
    await expect(exportOnnx(f, work)).rejects.toThrow(/is a folder/);
  });
});
