import * as theirs from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
// TF.js registers its gradients in a module of their own (its union package imports it).
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from 'tsano/tf';
import * as T from 'tsano';

/**
 * TF.js's define-by-run training under tsano/tf: the same programs run on TF.js (cpu backend) and on
 * tsano/tf, compared value for value.
 */
beforeAll(async () => {
  await theirs.setBackend('cpu');
});

/** TF.js's "fitting a curve" example: a·x² + b·x + c fitted by SGD's minimize, written once for either library. */
function fitCurve(
  lib: typeof theirs | typeof tf,
  steps: number,
  optimizerOf: (t: typeof theirs) => theirs.Optimizer = (t) => t.train.sgd(0.3),
): { losses: number[]; coefficients: number[] } {
  const t = lib as typeof theirs;
  const xs = t.tensor1d(Array.from({ length: 20 }, (_, i) => i / 10 - 1));
  const ys = t.tensor1d(Array.from({ length: 20 }, (_, i) => 0.5 * (i / 10 - 1) ** 2 - 0.3 * (i / 10 - 1) + 0.2));
  const [a, b, c] = [0.1, -0.2, 0.3].map((v) => t.variable(t.scalar(v)));
  const optimizer = optimizerOf(t);
  const predict = (x: theirs.Tensor) => t.add(t.add(t.mul(a!, t.square(x)), t.mul(b!, x)), c!);
  const loss = () => t.mean(t.square(t.sub(predict(xs), ys))) as theirs.Scalar;
  const losses = Array.from({ length: steps }, () => (optimizer.minimize(loss, true) as theirs.Scalar).dataSync()[0]!);
  return { losses, coefficients: [a!, b!, c!].map((v) => v.dataSync()[0]!) };
}

describe('tf.grad, tf.valueAndGrads, tf.variableGrads and minimize, traced and compiled', () => {
  it('the polynomial fit runs as TF.js runs it: the same losses and coefficients within 1e-5', () => {
    const mine = fitCurve(tf, 60);
    const reference = fitCurve(theirs, 60);
    mine.losses.forEach((l, i) =>
      expect(Math.abs(l - reference.losses[i]!)).toBeLessThan(1e-5 * Math.max(1, reference.losses[i]!)),
    );
    mine.coefficients.forEach((c, i) => expect(Math.abs(c - reference.coefficients[i]!)).toBeLessThan(1e-5));
    expect(mine.losses[59]).toBeLessThan(mine.losses[0]! / 100);
  });

  it("tf.train.adam steps as TF.js's Adam does (ε after the bias correction): the same losses within 1e-5", () => {
    // A large ε, so that where it is added shows in the losses.
    const adam = (t: typeof theirs) => t.train.adam(0.05, 0.9, 0.999, 0.1);
    const mine = fitCurve(tf, 40, adam);
    const reference = fitCurve(theirs, 40, adam);
    mine.losses.forEach((l, i) =>
      expect(Math.abs(l - reference.losses[i]!)).toBeLessThan(1e-5 * Math.max(1, reference.losses[i]!)),
    );
  });

  it("TF.js's defaults under tsano/tf: LSTM and GRU gate with hardSigmoid; leCunNormal is Keras's lecun_normal", () => {
    const config = (layer: { getConfig(): Record<string, unknown> }) => layer.getConfig()['recurrent_activation'];
    expect(config(tf.layers.lstm({ units: 2 }) as never)).toBe('hardSigmoid');
    expect(config(tf.layers.gru({ units: 2 }) as never)).toBe('hardSigmoid');
    expect(config(tf.layers.lstm({ units: 2, recurrentActivation: 'sigmoid' }) as never)).toBe('sigmoid');
    const model = tf.sequential({
      layers: [tf.layers.dense({ units: 3, inputShape: [4], kernelInitializer: 'leCunNormal' })],
    });
    expect((model.predict(tf.ones([1, 4])) as tf.Tensor).shape).toEqual([1, 3]);
  });

  it('tf.grad, tf.grads and valueAndGrads agree with TF.js, with and without dy', () => {
    const f = (x: theirs.Tensor) => theirs.sum(theirs.mul(theirs.square(x), theirs.sin(x)));
    const g = (x: tf.Tensor) => tf.sum(tf.mul(tf.square(x), tf.sin(x)));
    const x = [0.5, -1.2, 2];
    const want = Array.from(theirs.grad(f)(theirs.tensor1d(x)).dataSync());
    Array.from(tf.grad(g)(tf.tensor(x)).data).forEach((v, i) => expect(Math.abs(v - want[i]!)).toBeLessThan(1e-6));
    const h = (a: tf.Tensor, b: tf.Tensor) => tf.mul(a, tf.exp(b));
    const { value, grads } = tf.valueAndGrads(h)([tf.tensor([1, 2]), tf.tensor([0, 1])], tf.tensor([1, -1]));
    const theirsVG = theirs.valueAndGrads((a: theirs.Tensor, b: theirs.Tensor) => theirs.mul(a, theirs.exp(b)))(
      [theirs.tensor1d([1, 2]), theirs.tensor1d([0, 1])],
      theirs.tensor1d([1, -1]),
    );
    expect(Array.from(value.data)).toEqual(Array.from(theirsVG.value.dataSync()));
    grads.forEach((gr, i) =>
      Array.from(gr.data).forEach((v, k) => expect(Math.abs(v - theirsVG.grads[i]!.dataSync()[k]!)).toBeLessThan(1e-6)),
    );
    expect(
      tf
        .grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(a, b)))([tf.tensor([1, 2]), tf.tensor([3, 4])])
        .map((t) => Array.from(t.data)),
    ).toEqual([
      [3, 4],
      [1, 2],
    ]);
  });

  it('variableGrads names each trainable variable the cost reads; a frozen one is left out; applyGradients steps', () => {
    const w = tf.variable(tf.tensor([1, -2]), true, 'w');
    const frozen = tf.variable(tf.tensor([3, 3]), false, 'frozen');
    const cost = () => tf.sum(tf.mul(tf.square(w as unknown as tf.Tensor), frozen as unknown as tf.Tensor));
    const { value, grads } = tf.variableGrads(cost);
    expect(value.dataSync()[0]).toBe(15);
    expect(Object.keys(grads)).toEqual(['w']);
    expect(Array.from(grads['w']!.data)).toEqual([6, -12]);
    const sgd = tf.train.sgd(0.1);
    sgd.applyGradients(grads);
    expect(Array.from(w.dataSync()).map((v) => +v.toFixed(5))).toEqual([0.4, -0.8]);
  });

  it('a traced function that reads values is a TracingError saying why', () => {
    expect(() =>
      tf.grad((x: tf.Tensor) => {
        if (x.dataSync()[0]! > 0) return x;
        return tf.neg(x);
      })(tf.tensor([1])),
    ).toThrow(/control flow cannot depend on tensor values/);
  });
});

describe('T.jit and tf.jit', () => {
  it('compile a function of tensors once per input signature', async () => {
    let traces = 0;
    const f = T.jit((x: T.Node, y: T.Node) => {
      traces++;
      return [T.add(T.mul(x, y), 1), T.sum(x)] as const;
    });
    const [a, s] = f(T.array([1, 2]), T.array([3, 4]));
    expect([Array.from(a!.data), s!.item()]).toEqual([[4, 9], 3]);
    f(T.array([5, 6]), T.array([7, 8]));
    expect(traces).toBe(1);
    f(T.array([1, 2, 3]), T.array([1, 1, 1]));
    expect(traces).toBe(2);
    const g = tf.jit((x: tf.Tensor) => tf.mean(tf.square(x)));
    expect((g(tf.tensor([1, 2, 3])) as tf.Tensor).dataSync()[0]).toBeCloseTo(14 / 3, 6);
  });
});
