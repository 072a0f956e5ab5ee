import { describe, expect, it } from 'vitest';
import * as T from 'tsano';

/** Evaluates `build` on float32 `value` with and without the optimizer. */
async function both(build: (x: T.Node) => T.Node, value: T.ArrayValue) {
  const x = T.tensor('x', { dtype: 'float32', shape: T.array(value).shape as number[] });
  const out = build(x);
  const naive = (await T.compile([x], out, { optimizer: 'none' }))(value);
  const optimized = (await T.compile([x], out))(value);
  return { naive: naive.item(), optimized: optimized.item() };
}
const relErr = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

describe('the numerical anchors of PERFORMANCE.md, in float32', () => {
  it('log(1 + exp(100)) is 100, not Infinity', async () => {
    const { naive, optimized } = await both((x) => T.log(T.add(1, T.exp(x))), 100);
    expect(naive).toBe(Infinity);
    expect(relErr(optimized, 100)).toBeLessThan(1e-5);
  });

  it('log(1 + 1e-10) is 1e-10, not 0', async () => {
    const { naive, optimized } = await both((x) => T.log(T.add(1, x)), 1e-10);
    expect(naive).toBe(0);
    expect(relErr(optimized, Math.fround(1e-10))).toBeLessThan(1e-5);
  });

  it('log(sigmoid(-100)) is -100 (TF.js gives -Infinity; float32 sigmoid(-100) is a subnormal)', async () => {
    const { naive, optimized } = await both((x) => T.log(T.sigmoid(x)), -100);
    expect(relErr(naive, -100)).toBeGreaterThan(1e-5);
    expect(relErr(optimized, -100)).toBeLessThan(1e-5);
  });

  it('categorical crossentropy of softmax([1000, 0, -1000]) against class 1, written as Keras writes it, is 1000, not -log(epsilon)', async () => {
    const eps = T.epsilon();
    const y = T.constant(T.array([0, 1, 0]));
    const loss = (z: T.Node) => {
      const p = T.softmax(z);
      const normalized = T.div(p, T.sum(p, -1, true));
      return T.neg(T.sum(T.mul(y, T.log(T.clip(normalized, eps, 1 - eps))), -1));
    };
    const { naive, optimized } = await both(loss, [1000, 0, -1000]);
    expect(naive).toBeCloseTo(-Math.log(eps), 3); // 16.118..., the cap the clip imposes
    expect(relErr(optimized, 1000)).toBeLessThan(1e-5);
  });

  it('binary crossentropy of sigmoid(z), clipped as Keras does, is exact for confident wrong predictions', async () => {
    const eps = T.epsilon();
    const bce = (z: T.Node) => {
      const p = T.clip(T.sigmoid(z), eps, 1 - eps);
      // target 1: -log(p); the exact value for z = -50 is 50 (Keras gives -log(eps) = 16.1)
      return T.neg(T.log(T.add(p, eps)));
    };
    const { naive, optimized } = await both(bce, -50);
    expect(naive).toBeLessThan(16);
    expect(relErr(optimized, 50)).toBeLessThan(1e-5);
  });
});

const sigmoid = (v: number) => (v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v)));
const softmax = (z: number[]) => {
  const e = z.map((v) => Math.exp(v - Math.max(...z)));
  return e.map((v) => v / e.reduce((a, b) => a + b));
};

describe('gradients of the same expressions belong to the exact value (float32, both modes)', () => {
  const eps = 1e-7;
  const y = (hot: number) =>
    T.constant(
      T.array(
        [0, 1, 2].map((i) => (i === hot ? 1 : 0)),
        { dtype: 'float32' },
      ),
    );
  // expression, input, the exact gradient from the calculus
  const CASES: [string, (x: T.Node) => T.Node, number[], (x: number[]) => number[]][] = [
    ['log(1 + exp(x)) at 100', (x) => T.sum(T.log(T.add(1, T.exp(x)))), [100], ([v]) => [sigmoid(v!)]],
    ['log(sigmoid(x)) at -100', (x) => T.sum(T.log(T.sigmoid(x))), [-100], ([v]) => [sigmoid(-v!)]],
    ['log(1 - sigmoid(x)) at 100', (x) => T.sum(T.log(T.sub(1, T.sigmoid(x)))), [100], ([v]) => [-sigmoid(v!)]],
    [
      '-sum(y * log(softmax(z))) at [0, -200, 1000]',
      (z) => T.neg(T.sum(T.mul(y(0), T.log(T.softmax(z))))),
      [0, -200, 1000],
      (z) => softmax(z).map((s, i) => s - (i === 0 ? 1 : 0)),
    ],
    [
      "Keras's clipped crossentropy at [1000, 0, -1000]",
      (z) => T.neg(T.sum(T.mul(y(1), T.log(T.clip(T.softmax(z), eps, 1 - eps))))),
      [1000, 0, -1000],
      (z) => softmax(z).map((s, i) => s - (i === 1 ? 1 : 0)),
    ],
  ];
  for (const [name, build, value, exact] of CASES) {
    for (const mode of ['js', 'wasm'] as const) {
      it(`${name} (${mode})`, async () => {
        const x = T.tensor('x', { dtype: 'float32', shape: [value.length] });
        const f = await T.compile([x], T.grad(build(x), x), { mode });
        const got = Array.from((f(value) as T.NDArray).data);
        exact(value).forEach((e, i) => expect(Math.abs(got[i]! - e)).toBeLessThanOrEqual(1e-6 * Math.abs(e) + 1e-30));
      });
    }
  }

  it('keras.backend.gradients differentiates the exact form too', async () => {
    const keras = await import('tsano/keras');
    const z = keras.backend.placeholder({ shape: [3], name: 'z', dtype: 'float32' });
    const loss = CASES[4]![1](z);
    const [g] = keras.backend.gradients(loss, [z]);
    const f = await keras.backend.function([z], [loss, g!]);
    const [value, gradient] = f([[1000, 0, -1000]]) as T.NDArray[];
    expect(value!.item()).toBeCloseTo(1000, 2);
    expect(Array.from(gradient!.data)).toEqual([1, -1, 0]);
  });
});
