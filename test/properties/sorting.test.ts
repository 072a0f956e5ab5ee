import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import { checkGradient } from '../helpers/gradcheck.js';
import { nonEmptyShape } from '../helpers/arbitraries.js';
import { ravel, size, unravel } from '../helpers/naive.js';

/** sort, argsort and topk against JavaScript's (stable) Array sort, in both modes and both float dtypes. */

/** The positions of a line in sorted order by JavaScript's stable sort, NaN placed after (ascending) or before (descending) the numbers. */
function order(line: readonly number[], descending: boolean): number[] {
  const positions = line.map((_, j) => j);
  const nan = positions.filter((j) => Number.isNaN(line[j]));
  const numbers = positions
    .filter((j) => !Number.isNaN(line[j]))
    .sort((p, q) => (descending ? line[q]! - line[p]! : line[p]! - line[q]!));
  return descending ? [...nan, ...numbers] : [...numbers, ...nan];
}

/** Values with ties (small integers), NaN and infinities, and ordinary ones. */
const values = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: -3, max: 3 }) },
  { weight: 3, arbitrary: fc.double({ min: -100, max: 100, noNaN: true }) },
  { weight: 1, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity, -0) },
);
const arrays = nonEmptyShape(1, 3).chain((shape) =>
  fc.tuple(fc.constant(shape), fc.array(values, { minLength: size(shape), maxLength: size(shape) })),
);

describe('sorting', () => {
  for (const mode of ['js', 'wasm'] as const)
    for (const dtype of ['float32', 'float64'] as const) {
      it(`argsort and sort along any axis, ascending and descending, stable with NaN placed as NumPy (${mode}, ${dtype})`, async () => {
        await fc.assert(
          fc.asyncProperty(arrays, fc.integer(), fc.boolean(), async ([shape, data], axisSeed, descending) => {
            const axis = (Math.abs(axisSeed) % shape.length) - (axisSeed < 0 ? shape.length : 0);
            const ax = axis < 0 ? axis + shape.length : axis;
            const x = T.tensor('x', { shape, dtype });
            const f = await T.compile([x], [T.argsort(x, axis, { descending }), T.sort(x, axis, { descending })], {
              mode,
            });
            // The sort and the gather of its values are wasm kernels.
            if (mode === 'wasm') expect(f.stats.referenceSteps).toBe(0);
            const input = T.array(data, { shape, dtype });
            const stored = Array.from(input.data);
            const [indices, sorted] = f(input);
            for (let flat = 0; flat < stored.length; flat++) {
              const idx = unravel(flat, shape);
              if (idx[ax] !== 0) continue;
              const at = (j: number) =>
                ravel(
                  idx.map((d, a) => (a === ax ? j : d)),
                  shape,
                );
              const line = Array.from({ length: shape[ax]! }, (_, j) => stored[at(j)]!);
              const want = order(line, descending);
              want.forEach((j, rank) => {
                expect(indices!.data[at(rank)]).toBe(j);
                expect(Object.is(sorted!.data[at(rank)], line[j]) || sorted!.data[at(rank)] === line[j]).toBe(true);
              });
            }
          }),
          { numRuns: 40 },
        );
      });

      it(`topk: the k first of the descending order, values and indices (${mode}, ${dtype})`, async () => {
        await fc.assert(
          fc.asyncProperty(arrays, fc.nat(), async ([shape, data], kSeed) => {
            const n = shape[shape.length - 1]!;
            const k = kSeed % (n + 1);
            const x = T.tensor('x', { shape, dtype });
            const { values: v, indices: i } = T.topk(x, k);
            const f = await T.compile([x], [v, i], { mode });
            const input = T.array(data, { shape, dtype });
            const stored = Array.from(input.data);
            const [got, at] = f(input);
            expect(at!.shape).toEqual([...shape.slice(0, -1), k]);
            for (let r = 0; r < stored.length / n; r++) {
              const line = stored.slice(r * n, (r + 1) * n);
              const want = order(line, true).slice(0, k);
              expect(Array.from(at!.data.slice(r * k, (r + 1) * k))).toEqual(want);
              want.forEach((j, q) =>
                expect(Object.is(got!.data[r * k + q], line[j]) || got!.data[r * k + q] === line[j]).toBe(true),
              );
            }
            if (mode === 'wasm' && k > 0) expect(f.stats.referenceSteps).toBe(0);
          }),
          { numRuns: 40 },
        );
      });
    }

  it('gradients of sorted values and of topk values go back to where each value came from', async () => {
    const data = [0.3, -1.2, 2.5, 0.9, -0.4, 1.7, 3.1, -2.2];
    await checkGradient([{ shape: [2, 4], data }], ([x]) => T.sort(x!, 1));
    await checkGradient([{ shape: [2, 4], data }], ([x]) => T.sort(x!, 0, { descending: true }));
    await checkGradient([{ shape: [2, 4], data }], ([x]) => T.topk(x!, 2).values);
  });

  it('refuses k above the row length, naming it, and unknown options', () => {
    expect(() => T.topk(T.tensor('x', { shape: [2, 3] }), 4)).toThrow(/k = 4 for rows of 3 elements/);
    expect(() => T.argsort(T.matrix('m'), 2)).toThrow(/argsort\(m \[\?, \?\]\): axis 2 is out of range/);
    expect(() => T.sort(T.vector('v'), 0, { descend: true } as never)).toThrow(/descend/);
  });
});
