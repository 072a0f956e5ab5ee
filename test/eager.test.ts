import { beforeAll, describe, expect, it } from 'vitest';
import * as theirs from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as ours from 'tsano/tf';

beforeAll(async () => {
  await theirs.setBackend('cpu');
});

/**
 * TensorFlow.js data-preparation code, written once against TF.js's API and run on both namespaces:
 * the only difference a user sees is the import line. (Function forms here: tfjs-core alone, as
 * installed for these tests, does not attach TF.js's chained methods; the method forms are checked
 * against the function forms below.)
 */
function prepare(tf: typeof ours) {
  const x = tf.tensor2d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [4, 3]);
  const normalized = tf.tidy(() => tf.div(tf.sub(x, tf.mean(x, 0)), tf.max(x)));
  const labels = tf.oneHot(tf.tensor1d([0, 2, 1, 2], 'int32'), 3);
  const joined = tf.concat([normalized, labels], 1);
  const predicted = tf.argMax(joined, -1);
  const grid = tf.linspace(-1, 1, 5);
  const scaled = tf.exp(tf.mul(tf.matMul(joined, tf.ones([6, 2])), 0.5));
  return {
    joined: Array.from(joined.dataSync()),
    predicted: Array.from(predicted.dataSync()),
    grid: Array.from(grid.dataSync()),
    scaled: Array.from(scaled.dataSync()),
    rows: normalized.arraySync() as number[][],
    shape: [...joined.shape],
    maxOverRows: Array.from(tf.max(x, 1).dataSync()),
    sum: tf.sum(x).arraySync() as number,
  };
}

describe("tsano/tf: TensorFlow.js's eager functions over NDArray", () => {
  it('the same data code gives what TF.js gives', () => {
    const a = prepare(ours);
    const b = prepare(theirs as unknown as typeof ours); // the same code, typed once
    expect(a.shape).toEqual(b.shape);
    expect(a.predicted).toEqual(b.predicted);
    expect(a.sum).toBe(b.sum);
    for (const key of ['joined', 'grid', 'scaled', 'maxOverRows'] as const)
      a[key].forEach((v, i) => expect(v).toBeCloseTo(b[key][i]!, 5));
    a.rows.forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(b.rows[i]![j]!, 6)));
  });

  it('methods on arrays (x.sub(...).argMax(-1), .max(), .dataSync(), .array()) equal the function forms', async () => {
    const x = ours.tensor2d([3, 1, 2, 9, 7, 8], [2, 3]);
    expect(Array.from(x.sub(x.mean(0)).div(x.max()).dataSync())).toEqual(
      Array.from(ours.div(ours.sub(x, ours.mean(x, 0)), ours.max(x)).dataSync()),
    );
    expect(Array.from(x.argMax(-1).dataSync())).toEqual([0, 0]);
    expect(await x.max(1).array()).toEqual([3, 9]);
    expect(x.transpose().shape).toEqual([3, 2]);
    expect(Array.from(x.matMul(x, false, true).dataSync())).toEqual(
      Array.from(ours.matMul(x, ours.transpose(x)).dataSync()),
    );
  });

  it('a shape that does not fit the values is an error, as in TF.js; arrays are usable by tsano graphs', async () => {
    expect(() => ours.tensor2d([1, 2, 3], [2, 2])).toThrow(/needs 4 elements, data has 3/);
    expect(() => ours.tensor2d([1, 2, 3])).toThrow(/tensor2d: expected rank 2/);
    const v = ours.tensor1d([1, 2, 3]);
    expect(v.rank).toBe(1);
    expect(await v.array()).toEqual([1, 2, 3]);
  });
});

describe('more of TF.js, Keras and Theano as they are spelled', () => {
  it('tf.where, unstack, split, moments, gather with plain indices; the methods slice, gather, asType, unstack, split, cumsum and reshape with -1', async () => {
    const tf = await import('tsano/tf');
    const x = tf.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    expect(Array.from(tf.where(tf.greater(x, 3), x, tf.neg(x)).data)).toEqual([-1, -2, -3, 4, 5, 6]);
    expect(tf.unstack(x).map((t) => Array.from(t.data))).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(x.unstack(1).map((t) => Array.from(t.data))).toEqual([
      [1, 4],
      [2, 5],
      [3, 6],
    ]);
    expect(tf.split(x, [1, -1], 1).map((t) => t.shape)).toEqual([
      [2, 1],
      [2, 2],
    ]);
    expect(x.split(3, 1).map((t) => Array.from(t.data))).toEqual([
      [1, 4],
      [2, 5],
      [3, 6],
    ]);
    expect(() => tf.split(x, 2, 1)).toThrow(/2 equal parts do not divide an axis of 3/);
    const { mean, variance } = tf.moments(x, 1);
    expect(Array.from(mean.data)).toEqual([2, 5]);
    expect(Array.from(variance.data).map((v) => +v.toFixed(6))).toEqual([0.666667, 0.666667]);
    expect(Array.from(tf.gather(x, [2, 0], 1).data)).toEqual([3, 1, 6, 4]);
    expect(Array.from(x.gather([1]).data)).toEqual([4, 5, 6]);
    expect(Array.from(x.slice([0, 1], [2, 1]).data)).toEqual([2, 5]);
    expect(x.asType('int32').dtype).toBe('int32');
    expect(Array.from(x.cumsum(1).data)).toEqual([1, 3, 6, 4, 9, 15]);
    expect(x.reshape([-1]).shape).toEqual([6]);
    expect(x.reshape([3, -1]).shape).toEqual([3, 2]);
    expect(() => x.reshape([4, -1])).toThrow(/an array of 6 elements \[2, 3\] cannot take the shape \[4, -1\]/);
  });

  it("Keras's own spellings of the backend's configuration, Theano's plural constructors and pp", async () => {
    const keras = await import('tsano/keras');
    const T = await import('tsano');
    expect(keras.backend.image_data_format()).toBe(keras.backend.imageDataFormat());
    expect(keras.backend.set_epsilon).toBe(keras.backend.setEpsilon);
    expect(keras.backend.set_floatx).toBe(keras.backend.setFloatx);
    const [x, y] = T.dscalars('x', 'y');
    expect([x!.dtype, x!.name, y!.name]).toEqual(['float64', 'x', 'y']);
    expect(T.fmatrices('a', 'b', 'c').map((m) => [m.dtype, m.ndim])).toEqual([
      ['float32', 2],
      ['float32', 2],
      ['float32', 2],
    ]);
    expect(T.pp(T.add(T.mul(x!, y!), T.exp(x!)))).toBe('((x * y) + exp(x))');
    expect(T.pp(T.neg(T.sub(x!, 2)))).toBe('-(x - 2)');
  });
});

describe('TF.js ranked spellings and small ops', () => {
  it('tensor5d and tensor6d, concat1d … concat4d, divNoNan (function and method) and prelu', async () => {
    const tf = await import('tsano/tf');
    expect(tf.tensor5d([1, 2], [1, 1, 1, 1, 2]).rank).toBe(5);
    expect(tf.tensor6d([1, 2], [1, 1, 1, 1, 1, 2]).shape).toEqual([1, 1, 1, 1, 1, 2]);
    expect(Array.from(tf.concat1d([tf.tensor([1]), tf.tensor([2, 3])]).data)).toEqual([1, 2, 3]);
    expect(tf.concat2d([tf.tensor([[1]]), tf.tensor([[2]])], 1).shape).toEqual([1, 2]);
    expect(Array.from(tf.divNoNan(tf.tensor([1, 2, 0]), tf.tensor([2, 0, 0])).data)).toEqual([0.5, 0, 0]);
    expect(Array.from(tf.tensor([3, 4]).divNoNan(tf.tensor([0, 2])).data)).toEqual([0, 2]);
    expect(Array.from(tf.prelu(tf.tensor([-2, 3]), tf.tensor(0.5)).data)).toEqual([-1, 3]);
  });
});
