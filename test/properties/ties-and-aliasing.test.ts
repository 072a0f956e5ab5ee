import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from 'tsano';

/**
 * What a careful reviewer's planted bugs slipped past before: gradients at ties (maximum/minimum and
 * max/min reductions), and in-place writes over a buffer a reshape view of it still reads.
 */
describe('gradients at ties', () => {
  it('maximum and minimum give half the gradient to each operand on a tie (PyTorch), the full gradient to the chosen one otherwise', async () => {
    const [x, y] = [T.vector('x', 'float64'), T.vector('y', 'float64')];
    for (const op of [T.maximum, T.minimum]) {
      const f = await T.compile(
        [x, y],
        T.grad(T.sum(T.mul(op(x, y), T.constant(T.array([1, 2, 3], { dtype: 'float64' })))), [x, y]),
      );
      const [gx, gy] = f(T.array([1, 5, 2], { dtype: 'float64' }), T.array([1, 3, 4], { dtype: 'float64' }));
      const chosen = op === T.maximum ? [false, true, false] : [false, false, true];
      // Element 0 ties: 0.5 of weight 1 to each; elsewhere the whole weight to the chosen operand.
      expect(Array.from(gx!.data)).toEqual([0.5, chosen[1] ? 2 : 0, chosen[2] ? 3 : 0]);
      expect(Array.from(gy!.data)).toEqual([0.5, chosen[1] ? 0 : 2, chosen[2] ? 0 : 3]);
    }
  });

  it('max and min over axes share the gradient equally among the tied extreme elements', async () => {
    const m = T.matrix('m', 'float64');
    for (const [op, rows, want] of [
      [
        T.max,
        [
          [3, 1, 3],
          [2, 2, 2],
        ],
        [
          [0.5, 0, 0.5],
          [1 / 3, 1 / 3, 1 / 3],
        ],
      ],
      [
        T.min,
        [
          [3, 1, 1],
          [0, 5, 4],
        ],
        [
          [0, 0.5, 0.5],
          [1, 0, 0],
        ],
      ],
    ] as const) {
      for (const mode of ['js', 'wasm'] as const) {
        const f = await T.compile([m], T.grad(T.sum(op(m, 1)), m), { mode });
        const got = f(T.array(rows as unknown as number[][], { dtype: 'float64' }));
        expect(Array.from(got.data)).toEqual((want as unknown as number[][]).flat());
      }
    }
  });
});

describe('in-place writes and views', () => {
  it('a kernel never writes over a buffer that a live reshape or transpose view still reads (random graphs, against the reference)', async () => {
    type Make = (y: T.Node) => T.Node;
    const views: Make[] = [(y) => T.reshape(y, [6, 2]), (y) => T.expandDims(y, 0), (y) => T.reshape(y, [12])];
    const consumers: Make[] = [T.exp, (y) => T.mul(y, 3), T.neg, (y) => T.add(y, y)];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...views),
        fc.constantFrom(...consumers),
        fc.constantFrom(...consumers),
        fc.boolean(),
        async (view, first, second, viewFirst) => {
          const x = T.tensor('x', { shape: [3, 4], dtype: 'float64' });
          // y comes from a kernel of its own (a softmax), so it is a buffer of its own, not fused into its readers.
          const y = T.softmax(x, 1);
          const seen = view(y);
          // y's last direct reader may run in place over it while the view of y is read later (or earlier).
          const direct = first(y);
          const outputs = viewFirst ? [second(seen), direct] : [direct, second(seen)];
          const values = T.array(
            Array.from({ length: 12 }, (_, i) => i / 3 - 1),
            { shape: [3, 4], dtype: 'float64' },
          );
          const wasm = await T.compile([x], outputs, { mode: 'wasm' });
          const js = await T.compile([x], outputs, { mode: 'js' });
          const [a, b] = [wasm(values), js(values)];
          // Equal to float64 rounding (softmax's kernel sums in another order); an overwritten view is off by far more.
          a.forEach((v, i) =>
            Array.from(v.data).forEach((got, k) => expect(Math.abs(got - b[i]!.data[k]!)).toBeLessThan(1e-13)),
          );
        },
      ),
      { numRuns: 40 },
    );
  });
});
