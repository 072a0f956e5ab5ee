import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from 'tsano';

/** Theano's lazy ifelse: only the chosen branch runs; values, tuples, gradients, inside loops, errors. */
describe('T.ifelse', () => {
  for (const mode of ['js', 'wasm'] as const) {
    it(`chooses as a JavaScript ?: does, tuples of outputs too (${mode})`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.double({ min: -5, max: 5, noNaN: true }),
          fc.array(fc.double({ min: -3, max: 3, noNaN: true }), { minLength: 1, maxLength: 6 }),
          async (a, xs) => {
            const [c, x] = [T.dscalar('c'), T.dvector('x')];
            const [p, q] = T.ifelse(T.gt(c, 0), [T.sum(T.exp(x)), T.mul(x, 2)], [T.max(x), T.neg(x)]);
            const f = await T.compile([c, x], [p!, q!], { mode });
            const [got, gotVector] = f(a, Float64Array.from(xs));
            const expected = a > 0 ? xs.reduce((s, v) => s + Math.exp(v), 0) : Math.max(...xs);
            expect(got!.item()).toBeCloseTo(expected, 9);
            expect(Array.from(gotVector!.data)).toEqual(
              xs.map((v) => (a > 0 ? v * 2 : -v)).map((v) => expect.closeTo(v, 12)),
            );
          },
        ),
        { numRuns: 30 },
      );
    });

    it(`is lazy: the branch not chosen is not computed (${mode})`, async () => {
      const [i, v] = [T.iscalar('i'), T.dvector('v')];
      // The then-branch reads v[i]: out of range it would be an error, if it ran.
      const f = await T.compile([i, v], T.ifelse(T.lt(i, 3), v.index(i), T.constant(-1, 'float64')), { mode });
      expect(f(1, [5, 6, 7]).item()).toBe(6);
      expect(f(10, [5, 6, 7]).item()).toBe(-1);
      const g = await T.compile([i, v], v.index(i), { mode });
      expect(() => g(10, [5, 6, 7])).toThrow(/index 10 is out of range/);
    });

    it(`differentiates through the chosen branch, zeros for the other (${mode})`, async () => {
      const [c, x] = [T.dscalar('c'), T.dvector('x')];
      const cost = T.ifelse(T.gt(c, 0), T.sum(T.square(x)), T.sum(T.sin(x)));
      const f = await T.compile([c, x], T.grad(cost, x), { mode });
      const xs = [0.3, -1.2, 2];
      expect(Array.from(f(1, xs).data)).toEqual(xs.map((v) => expect.closeTo(2 * v, 12)));
      expect(Array.from(f(-1, xs).data)).toEqual(xs.map((v) => expect.closeTo(Math.cos(v), 12)));
    });
  }

  it('inside a loop run as a loop, against a JavaScript loop', async () => {
    const xs = T.dvector('xs');
    const [hs] = T.scan((x: T.Node, h: T.Node) => T.ifelse(T.gt(h, 1), T.mul(h, 0.5), T.add(h, x)), {
      sequences: xs,
      outputsInfo: T.constant(0, 'float64'),
    });
    const f = await T.compile([xs], hs as T.Node);
    const values = [0.4, 0.9, 0.3, 1.5, 0.2];
    let h = 0;
    const expected = values.map((x) => (h = h > 1 ? h * 0.5 : h + x));
    expect(Array.from(f(values).data)).toEqual(expected.map((v) => expect.closeTo(v, 12)));
  });

  it('refuses branches that disagree and conditions that are not scalars', () => {
    const [a, b] = [T.vector('a'), T.matrix('b')];
    expect(() => T.ifelse(T.scalar('c'), [a, a], [a])).toThrow(/both branches must give as many outputs/);
    expect(() => T.ifelse(T.scalar('c'), a, b)).toThrow(
      /output 0 is float32 \[\?\] in one branch and float32 \[\?, \?\] in the other/,
    );
    expect(() => T.ifelse(a, a, a)).toThrow(/the condition must be a scalar/);
  });
});
