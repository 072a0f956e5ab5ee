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

  it("categorical crossentropy of softmax([1000, 0, -1000]) against class 1, written as Keras writes it, is 1000, not -log(epsilon)", async () => {
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
