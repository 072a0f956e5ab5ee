import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import * as keras from 'tsano/keras';

const { ops } = keras;

/** Each op against the JavaScript it stands for, on values in its domain. */
const UNARY: [keyof typeof ops, (v: number) => number, [number, number]][] = [
  ['abs', Math.abs, [-5, 5]],
  ['negative', (v) => -v, [-5, 5]],
  ['square', (v) => v * v, [-5, 5]],
  ['sqrt', Math.sqrt, [0, 9]],
  ['exp', Math.exp, [-5, 5]],
  ['expm1', Math.expm1, [-5, 5]],
  ['log', Math.log, [0.01, 9]],
  ['log1p', Math.log1p, [-0.9, 9]],
  ['tanh', Math.tanh, [-5, 5]],
  ['arctan', Math.atan, [-5, 5]],
  ['floor', Math.floor, [-5, 5]],
  ['relu', (v) => Math.max(v, 0), [-5, 5]],
  ['relu6', (v) => Math.min(Math.max(v, 0), 6), [-9, 9]],
  ['sigmoid', (v) => 1 / (1 + Math.exp(-v)), [-5, 5]],
  ['silu', (v) => v / (1 + Math.exp(-v)), [-5, 5]],
  ['softplus', (v) => Math.log1p(Math.exp(v)), [-5, 5]],
  ['hardSigmoid', (v) => Math.min(1, Math.max(0, v / 6 + 0.5)), [-5, 5]],
  ['leakyRelu', (v) => (v > 0 ? v : 0.2 * v), [-5, 5]],
  // Keras's ops.gelu approximates with tanh unless told not to.
  ['gelu', (v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))), [-5, 5]],
];

const compile1 = async (f: (x: T.Node) => T.Node, mode: T.Mode) => {
  const x = T.dvector('x');
  return T.compile([x], f(x), { mode });
};

describe('keras.ops: Keras 3 names and arguments on tsano ops', () => {
  it('elementwise ops equal the JavaScript they stand for, both modes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...UNARY),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 8 }),
        fc.constantFrom<T.Mode>('js', 'wasm'),
        async ([name, reference, [lo, hi]], unit, mode) => {
          const values = unit.map((u) => lo + u * (hi - lo));
          const f = await compile1((x) => (ops[name] as (x: T.Node) => T.Node)(x), mode);
          const got = f(Float64Array.from(values));
          values.forEach((v, i) => expect(got.data[i]).toBeCloseTo(reference(v), 10));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('reductions take (x, axis = all, keepdims = false); softmax and products as Keras defines them', async () => {
    const m = T.dmatrix('m');
    const value = T.array([1, 5, 2, 4, 0, 3], { shape: [2, 3], dtype: 'float64' });
    const f = await T.compile(
      [m],
      [
        ops.sum(m),
        ops.mean(m, 1),
        ops.max(m, 0, true),
        ops.var(m, null),
        ops.softmax(m),
        ops.matmul(m, ops.transpose(m)),
        ops.any(ops.greater(m, 4)),
        ops.all(ops.greater(m, 0), 1),
        ops.argmax(m, 1),
      ],
    );
    const [sum, mean, max, variance, softmax, gram, any, all, argmax] = f(value);
    expect(sum!.item()).toBe(15);
    expect(Array.from(mean!.data)).toEqual([8 / 3, 7 / 3]);
    expect(max!.shape).toEqual([1, 3]);
    expect(Array.from(max!.data)).toEqual([4, 5, 3]);
    expect(variance!.item()).toBeCloseTo(17.5 / 6, 12);
    const row = [1, 5, 2].map(Math.exp);
    expect(softmax!.data[1]).toBeCloseTo(row[1]! / (row[0]! + row[1]! + row[2]!), 12);
    expect(Array.from(gram!.data)).toEqual([30, 10, 10, 25]);
    expect(any!.item()).toBe(1);
    expect(Array.from(all!.data)).toEqual([1, 0]);
    expect(Array.from(argmax!.data)).toEqual([1, 0]);
  });

  it('arrays: concatenate, stack, take, oneHot, topK, where, shape, and snake_case names', async () => {
    const x = T.tensor('x', { shape: [null, 3], dtype: 'float64' });
    const [values, indices] = ops.topK(x, 2);
    const shape = ops.shape(x);
    expect(shape[1]).toBe(3);
    expect(shape[0]).toBeInstanceOf(T.Node);
    const f = await T.compile(
      [x],
      [
        ops.concatenate([x, x], 1),
        ops.stack([x, x]),
        ops.take(x, T.constant(T.array([1, 0], { dtype: 'int32' })), 0),
        ops.where(ops.greater(x, 1), x, 0),
        values,
        indices,
        shape[0] as T.Node,
      ],
    );
    const [concatenated, stacked, taken, chosen, top, at, rows] = f(
      T.array([1, 3, 2, 0, -1, 4], { shape: [2, 3], dtype: 'float64' }),
    );
    expect(concatenated!.shape).toEqual([2, 6]);
    expect(stacked!.shape).toEqual([2, 2, 3]);
    expect(Array.from(taken!.data)).toEqual([0, -1, 4, 1, 3, 2]);
    expect(Array.from(chosen!.data)).toEqual([0, 3, 2, 0, 0, 4]);
    expect(Array.from(top!.data)).toEqual([3, 2, 4, 0]);
    expect(Array.from(at!.data)).toEqual([1, 2, 2, 0]);
    expect(rows!.item()).toBe(2);
    const classes = await T.compile([], ops.oneHot(T.constant(T.array([2, 0], { dtype: 'int32' })), 3));
    expect(Array.from(classes().data)).toEqual([0, 0, 1, 1, 0, 0]);
    expect(keras.opByKerasName('log_softmax')).toBe(ops.logSoftmax);
    expect(() => keras.opByKerasName('no_such_op')).toThrow(/keras.ops: no op 'no_such_op'/);
  });

  it('a layer written with keras.ops (an RMS norm) trains in a model', async () => {
    const x = keras.input({ shape: [4], name: 'x' });
    const rms = keras.layers.lambda({
      fn: (v) => {
        const t = v as T.Node;
        return ops.divide(t, ops.sqrt(ops.add(ops.mean(ops.square(t), -1, true), 1e-6)));
      },
    });
    const model = keras.model({ inputs: x, outputs: keras.layers.dense({ units: 1 }).apply(rms.apply(x)) });
    model.compile({ optimizer: keras.optimizers.sgd({ learningRate: 0.1 }), loss: 'mse' });
    const xs = T.randomNormal([32, 4], { seed: 3 });
    const ys = T.array(
      Array.from({ length: 32 }, (_, i) => (xs.data[i * 4]! > 0 ? 1 : -1)),
      { shape: [32, 1] },
    );
    const history = await model.fit(xs, ys, { epochs: 20, batchSize: 32, verbose: 0 });
    const losses = history.history['loss']!;
    expect(losses[losses.length - 1]!).toBeLessThan(losses[0]! * 0.7);
  });
});
