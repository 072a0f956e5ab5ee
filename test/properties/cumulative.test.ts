import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import { anyValue, inRange, nonEmptyShape } from '../helpers/arbitraries.js';
import { checkGradient } from '../helpers/gradcheck.js';
import { ravel, size, unravel } from '../helpers/naive.js';

/** cumsum and cumprod (every axis, exclusive, reverse) against a loop, in both modes and both float dtypes. */

/** The running total by the definition: element i sums (multiplies) x[j] for j ≤ i (j < i exclusive; ≥, > reversed). */
function naive(
  op: 'cumsum' | 'cumprod',
  data: readonly number[],
  shape: readonly number[],
  axis: number,
  exclusive: boolean,
  reverse: boolean,
) {
  return data.map((_, flat) => {
    const idx = unravel(flat, shape);
    let acc = op === 'cumsum' ? 0 : 1;
    // In the order the total accumulates (last to first when reversed): products of 0, tiny and infinite values depend on it.
    for (let step = 0; step < shape[axis]!; step++) {
      const j = reverse ? shape[axis]! - 1 - step : step;
      const inside = reverse
        ? exclusive
          ? j > idx[axis]!
          : j >= idx[axis]!
        : exclusive
          ? j < idx[axis]!
          : j <= idx[axis]!;
      if (!inside) continue;
      const v =
        data[
          ravel(
            idx.map((d, a) => (a === axis ? j : d)),
            shape,
          )
        ]!;
      acc = op === 'cumsum' ? acc + v : acc * v;
    }
    return acc;
  });
}
/** Σ|x| (Π|x|) over the same elements: the scale a float64 running total's rounding is relative to. */
const scaleOf: typeof naive = (op, data, ...rest) => naive(op, data.map(Math.abs), ...rest);

const cases = fc
  .tuple(nonEmptyShape(1, 3), fc.constantFrom('cumsum' as const, 'cumprod' as const), fc.boolean(), fc.boolean())
  .chain(([shape, op, exclusive, reverse]) =>
    fc.tuple(
      fc.constant(shape),
      fc.constant(op),
      fc.integer({ min: -shape.length, max: shape.length - 1 }),
      fc.constant(exclusive),
      fc.constant(reverse),
      fc.array(fc.oneof({ weight: 5, arbitrary: inRange(-2, 2) }, { weight: 1, arbitrary: anyValue }), {
        minLength: size(shape),
        maxLength: size(shape),
      }),
    ),
  );

describe('cumsum and cumprod', () => {
  for (const mode of ['js', 'wasm'] as const)
    for (const dtype of ['float32', 'float64'] as const)
      it(`agree with the loop over every axis, exclusive and reversed, extremes included (${mode}, ${dtype})`, async () => {
        await fc.assert(
          fc.asyncProperty(cases, async ([shape, op, axis, exclusive, reverse, data]) => {
            const x = T.tensor('x', { shape, dtype });
            const f = await T.compile([x], T[op](x, axis, { exclusive, reverse }), { mode });
            const got = f(T.array(data, { shape, dtype })).data;
            const stored = Array.from(T.array(data, { shape, dtype }).data);
            const ax = axis < 0 ? axis + shape.length : axis;
            const want = naive(op, stored, shape, ax, exclusive, reverse);
            const scale = scaleOf(op, stored, shape, ax, exclusive, reverse);
            const rel = dtype === 'float32' ? 2 ** -23 : 1e-14;
            // float32: the total rounded once, as stored (a product may underflow there).
            const stores = dtype === 'float32' ? Math.fround : (v: number) => v;
            want.forEach((exact, i) => {
              const [g, w] = [got[i]!, stores(exact)];
              // A product of an infinity and factors whose partial products underflow is NaN or ±Infinity depending
              // on the order of the multiplications (the wasm kernel pairs them): any non-finite value is right there.
              const orderDependent = op === 'cumprod' && !Number.isFinite(w) && !Number.isFinite(g);
              const ok =
                orderDependent ||
                Object.is(g, w) ||
                (Number.isNaN(g) && Number.isNaN(w)) ||
                Math.abs(g - w) <= rel * (Math.abs(w) + scale[i]!) + (dtype === 'float32' ? 1e-45 : 0);
              if (!ok)
                throw new Error(
                  `${op} axis ${axis}${exclusive ? ' exclusive' : ''}${reverse ? ' reverse' : ''} at ${i}: got ${g}, want ${w}`,
                );
            });
            if (mode === 'wasm') expect(f.stats.referenceSteps).toBe(0);
          }),
          { numRuns: 40 },
        );
      });

  it('without an axis run over the flattened array (NumPy, Theano); a bool mask counts as int32', async () => {
    const x = T.matrix('x');
    const f = await T.compile([x], T.cumsum(x));
    expect(
      Array.from(
        f(
          T.array([
            [1, 2],
            [3, 4],
          ]),
        ).data,
      ),
    ).toEqual([1, 3, 6, 10]);
    const g = await T.compile([x], T.cumsum(T.gt(x, 1), 1));
    const counted = g(
      T.array([
        [1, 2],
        [3, 4],
      ]),
    );
    expect(counted.dtype).toBe('int32');
    expect(Array.from(counted.data)).toEqual([0, 1, 1, 2]);
  });

  it('gradients by finite differences, cumprod exact where elements are zero (one, two, or none in a line)', async () => {
    const rows = [
      [0.5, -1.2, 2, 0.7],
      [1.5, 0, 0.8, -2],
      [0, 1.1, 0, 0.9],
    ];
    const data = rows.flat();
    for (const op of ['cumsum', 'cumprod'] as const)
      for (const exclusive of [false, true])
        for (const reverse of [false, true])
          await checkGradient([{ shape: [3, 4], data }], ([x]) => T[op](x!, 1, { exclusive, reverse }));
    // The exact gradient at a zero: d/dx1 of x0·x1·x2 summed in the last total is x0·x2.
    const v = T.vector('v', 'float64');
    const grad = await T.compile([v], T.grad(T.sum(T.cumprod(v)), v));
    const at = Array.from(grad(T.array([2, 0, 3], { dtype: 'float64' })).data);
    expect(at).toEqual([1, 2 + 2 * 3, 0]);
  });

  it('names the op and the axis when the axis is out of range, and unknown options', () => {
    expect(() => T.cumsum(T.matrix('m'), 2)).toThrow(/cumsum\(m\): axis 2 is out of range for rank 2/);
    expect(() => T.cumprod(T.vector('v'), 0, { exclusiv: true } as never)).toThrow(/exclusiv/);
  });
});
