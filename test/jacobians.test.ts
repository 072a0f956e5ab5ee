import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import * as keras from 'tsano/keras';
import { inRange } from './helpers/arbitraries.js';

/** Theano's derivative helpers against finite differences of the compiled function (float64). */

const f64 = (values: number[]) => T.array(Float64Array.from(values), { dtype: 'float64' });

/** y(x) = exp(x) * sum(x^2) + sin(x[0]) * x: every element depends on every other. */
const build = (x: T.Node) => T.add(T.mul(T.exp(x), T.sum(T.square(x))), T.mul(T.sin(T.index(x, 0)), x));

/** d y_i / d x_j by central differences of the compiled y. */
async function numericJacobian(values: number[]): Promise<number[][]> {
  const x = T.tensor('x', { shape: [values.length], dtype: 'float64' });
  const y = await T.compile([x], build(x));
  return values.map((_, j) => {
    const at = (delta: number) => Array.from(y(f64(values.map((v, k) => (k === j ? v + delta : v)))).data);
    const [up, down] = [at(1e-6), at(-1e-6)];
    return up.map((u, i) => (u - down[i]!) / 2e-6);
  });
}

const close = (a: number, b: number) => expect(Math.abs(a - b)).toBeLessThan(1e-5 * (1 + Math.abs(b)));

describe('jacobian, hessian, Rop, Lop, stopGradient, considerConstant', () => {
  it('the Jacobian, and its products with vectors on either side, match finite differences', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(inRange(-1.5, 1.5), { minLength: 1, maxLength: 4 }), async (values) => {
        const n = values.length;
        const x = T.tensor('x', { shape: [n], dtype: 'float64' });
        const v = T.tensor('v', { shape: [n], dtype: 'float64' });
        const y = build(x);
        const f = await T.compile([x, v], [T.jacobian(y, x), T.Rop(y, x, v), T.Lop(y, x, v)]);
        const direction = values.map((_, k) => Math.cos(k + 1));
        const [J, jv, vj] = f(f64(values), f64(direction));
        const columns = await numericJacobian(values); // columns[j][i] = d y_i / d x_j
        for (let i = 0; i < n; i++) {
          for (let j = 0; j < n; j++) close(J!.data[i * n + j]!, columns[j]![i]!);
          close(
            jv!.data[i]!,
            direction.reduce((s, d, j) => s + columns[j]![i]! * d, 0),
          );
          close(
            vj!.data[i]!,
            direction.reduce((s, d, k) => s + columns[i]![k]! * d, 0),
          );
        }
      }),
      { numRuns: 15 },
    );
  });

  it("the Hessian is the Jacobian of the gradient: symmetric, and matches the gradient's finite differences", async () => {
    const x = T.tensor('x', { shape: [3], dtype: 'float64' });
    const cost = T.add(T.sum(T.mul(T.exp(x), T.index(x, [0, 1]).sum())), T.prod(x));
    const g = await T.compile([x], T.grad(cost, x));
    const h = await T.compile([x], T.hessian(cost, x));
    const at = [0.3, -0.7, 1.1];
    const H = h(f64(at));
    expect(H.shape).toEqual([3, 3]);
    for (let j = 0; j < 3; j++) {
      const up = g(f64(at.map((v, k) => (k === j ? v + 1e-6 : v)))).data;
      const down = g(f64(at.map((v, k) => (k === j ? v - 1e-6 : v)))).data;
      for (let i = 0; i < 3; i++) {
        close(H.data[i * 3 + j]!, (up[i]! - down[i]!) / 2e-6);
        close(H.data[i * 3 + j]!, H.data[j * 3 + i]!);
      }
    }
  });

  it('no gradient flows through stopGradient (zeroGrad, disconnectedGrad) or considerConstant', async () => {
    const x = T.tensor('x', { shape: [3], dtype: 'float64' });
    const values = f64([1, -2, 3]);
    const stopped = await T.compile([x], T.grad(T.sum(T.mul(x, T.zeroGrad(x))), x));
    expect(Array.from(stopped(values).data)).toEqual([1, -2, 3]); // d/dx (x * const x) = x
    const scaled = T.mul(x, 2);
    const constant = await T.compile(
      [x],
      T.grad(T.add(T.sum(T.square(scaled)), T.sum(x)), x, { considerConstant: [scaled] }),
    );
    expect(Array.from(constant(values).data)).toEqual([1, 1, 1]);
    // The forward value is the same with or without the markers.
    const forward = await T.compile([x], T.sum(T.mul(x, T.disconnectedGrad(x))));
    expect(forward(values).item()).toBe(14);
  });

  it('a Jacobian of an array of more than one axis needs its shape known when the graph is built', () => {
    const open = T.tensor('open', { shape: [null, 2], dtype: 'float64' });
    expect(() => T.jacobian(T.exp(open), open)).toThrow(
      /jacobian: .* \[\?, 2\] has sizes known only at call time; flatten it/,
    );
  });
});

describe('TensorFlow.js spellings', () => {
  it('T.array(values, shape, dtype) as tf.tensor(values, shape, dtype); a shape that does not fit is an error', () => {
    const a = T.array([1, 2, 3, 4, 5, 6], [2, 3]);
    expect(a.shape).toEqual([2, 3]);
    expect(Array.from(T.array([1, 2, 3, 4, 5, 6], [3, 2], 'int32').data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(T.array([1, 2, 3, 4, 5, 6], [3, 2], 'int32').dtype).toBe('int32');
    expect(() => T.array([1, 2, 3, 4, 5], [2, 3])).toThrow(/shape \[2, 3\] needs 6 elements, data has 5/);
  });

  it('a layer built with trainable: false is frozen, and stays frozen through save and load', async () => {
    const frozen = keras.layers.dense({ units: 2, trainable: false, name: 'frozen' });
    const model = keras.sequential({ layers: [keras.layers.dense({ units: 3, inputShape: [4] }), frozen] });
    model.compile({ optimizer: 'sgd', loss: 'mse' });
    void model.weights; // builds the layers
    const before = frozen.getWeights().map((w) => Array.from(w.data));
    await model.fit(T.randomNormal([8, 4], { seed: 1 }), T.ones([8, 2]), { verbose: 0 });
    expect(frozen.getWeights().map((w) => Array.from(w.data))).toEqual(before);
    expect(model.summary(() => {})).toMatch(/Non-trainable params: 8/);
    const copy = keras.models.modelFromJSON(model.toJSON());
    expect(copy.getLayer('frozen').trainable).toBe(false);
    expect(() => keras.layers.dense({ units: 2, trainable: 'no' as never })).toThrow(/trainable must be true or false/);
  });

  it('inputDim, regularizers.l2(...), the varianceScaling initializer and getWeights()[i].dataSync()', () => {
    const dense = keras.layers.dense({
      units: 50,
      inputDim: 400,
      kernelInitializer: 'varianceScaling',
      kernelRegularizer: keras.regularizers.l2({ l2: 0.5 }),
    });
    const model = keras.sequential({ layers: [dense] });
    model.compile({ optimizer: 'sgd', loss: 'mse' });
    const kernel = Array.from(model.getWeights()[0]!.dataSync());
    expect(kernel.length).toBe(400 * 50);
    const std = Math.sqrt(kernel.reduce((s, v) => s + v * v, 0) / kernel.length);
    expect(std).toBeGreaterThan(0.04); // sqrt(1 / 400) = 0.05, truncated at two deviations
    expect(std).toBeLessThan(0.055);
    // The loss with the penalty is the mse plus 0.5 * sum(kernel^2).
    const x = T.zeros([2, 400]);
    const y = T.zeros([2, 50]);
    const penalty = 0.5 * kernel.reduce((s, v) => s + v * v, 0);
    expect(model.evaluate(x, y)[0]).toBeCloseTo(penalty, 3);
    expect(keras.regularizers.l2(0.1)).toEqual({ l2: 0.1 });
    expect(() => keras.regularizers.l1(-1)).toThrow(/expected a non-negative number/);
  });
});

describe('jacobian and hessian of vectors whose length is known only at call time', () => {
  it("Theano's own example (T.dvector): a loop over the elements, compiled once for every length; hessian too", async () => {
    const x = T.dvector('x');
    const jac = await T.compile([x], T.jacobian(build(x), x));
    const hess = await T.compile([x], T.hessian(T.sum(T.mul(T.exp(x), T.square(x))), x));
    const programs = jac.stats.programs;
    for (const values of [
      [0.3, -0.2, 0.5],
      [1, 2],
      [0.1, 0.2, 0.3, 0.4, 0.5],
    ]) {
      const got = jac(f64(values));
      expect(got.shape).toEqual([values.length, values.length]);
      const columns = await numericJacobian(values); // columns[j][i] = d y_i / d x_j
      const n = values.length;
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) close(got.data[i * n + j]!, columns[j]![i]!);
      // d²/dx_i² of e^x·x² is e^x·(x² + 4x + 2), and the Hessian is diagonal.
      const h = Array.from(hess(f64(values)).data);
      values.forEach((v, i) =>
        values.forEach((_, j) =>
          expect(Math.abs(h[i * values.length + j]! - (i === j ? Math.exp(v) * (v * v + 4 * v + 2) : 0))).toBeLessThan(
            1e-9,
          ),
        ),
      );
    }
    expect(jac.stats.programs).toBe(programs);
    expect(() => T.jacobian(T.matrix('m'), T.matrix('m'))).toThrow(/flatten it to a vector first/);
  });
});
