import { describe, expect, it } from 'vitest';
import * as T from 'tsano';

describe('one training step', () => {
  it('compiles and runs a small expression with a gradient', async () => {
    const x = T.matrix('x');
    const w = T.shared(T.array([[1], [2]]), 'w');
    const cost = T.sum(T.square(T.dot(x, w)));
    const g = T.grad(cost, w);
    const f = await T.compile([x], [cost, g], { updates: [[w, w.sub(g.mul(0.01))]] });
    const [c, gw] = f([[1, 1]]) as T.NDArray[];
    expect(c!.item()).toBe(9);
    expect(gw!.toArray()).toEqual([[6], [6]]);
    expect(w.get().toArray()).toEqual([[0.94], [1.94]].map((r) => r.map(Math.fround)));
    expect(T.debugprint(f, { file: 'str' })).toMatch(/update of w/);
    expect(() =>
      T.add(T.matrix('a'), T.tensor('b', { shape: [3, 4, 5] })).add(T.tensor('c', { shape: [2, 1] })),
    ).toThrow();
  });
});
