import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import { anyValue, dataFor, shapeArb } from '../helpers/arbitraries.js';
import { closeTo, naiveReduce, size } from '../helpers/naive.js';
import { evaluate } from '../helpers/run.js';

const anyNaN = (v: number[]) => v.some(Number.isNaN);
const plainSum = (v: number[]) => v.reduce((a, b) => a + b, 0);

/** Expected value of each reduction over one slice, written out directly. */
const REDUCTIONS = {
  sum: plainSum,
  mean: (v: number[]) => plainSum(v) / v.length,
  prod: (v: number[]) => v.reduce((a, b) => a * b, 1),
  max: (v: number[]) => (anyNaN(v) ? NaN : v.reduce((a, b) => (b > a ? b : a), -Infinity)),
  min: (v: number[]) => (anyNaN(v) ? NaN : v.reduce((a, b) => (b < a ? b : a), Infinity)),
  logsumexp: (v: number[]) => {
    if (anyNaN(v)) return NaN;
    const m = Math.max(...v);
    if (m === Infinity || m === -Infinity) return m;
    return m + Math.log(plainSum(v.map((x) => Math.exp(x - m))));
  },
  argmax: (v: number[]) => {
    const nan = v.findIndex(Number.isNaN);
    return nan >= 0 ? nan : v.indexOf(Math.max(...v));
  },
  argmin: (v: number[]) => {
    const nan = v.findIndex(Number.isNaN);
    return nan >= 0 ? nan : v.indexOf(Math.min(...v));
  },
} as const;

/** A shape, its data, and an axis subset (possibly with negative spellings). */
const reductionCase = (values: fc.Arbitrary<number>, nonEmptyAxes: boolean) =>
  shapeArb().chain((shape) =>
    fc.record({
      shape: fc.constant(shape),
      data: dataFor(shape, values),
      axes: fc.subarray(shape.map((_, i) => i)).filter((axes) => !nonEmptyAxes || axes.every((a) => shape[a]! > 0)),
      negative: fc.boolean(),
      keepdims: fc.boolean(),
    }),
  );

// Sums of moderate values: float64 summation order may differ, so allow rounding-level differences.
const moderate = fc.double({ min: -100, max: 100, noNaN: true });

describe('reductions against plain loops over every axis subset', () => {
  for (const [name, expectedOf] of Object.entries(REDUCTIONS)) {
    const op = name as keyof typeof REDUCTIONS;
    const needsNonEmpty = ['max', 'min', 'argmax', 'argmin'].includes(op);
    it(`${name}`, async () => {
      await fc.assert(
        fc.asyncProperty(
          reductionCase(op === 'sum' || op === 'mean' || op === 'prod' ? moderate : anyValue, needsNonEmpty),
          async (c) => {
            if (op.startsWith('arg') && c.axes.length !== 1) c.axes = c.axes.slice(0, 1);
            if (op.startsWith('arg') && c.axes.length === 0) return;
            const axes = c.negative ? c.axes.map((a) => a - c.shape.length) : c.axes;
            const build = ([x]: T.Node[]) =>
              op === 'argmax'
                ? T.argmax(x!, axes[0], c.keepdims)
                : op === 'argmin'
                  ? T.argmin(x!, axes[0], c.keepdims)
                  : T[op](x!, axes, c.keepdims);
            const { out, node } = await evaluate([c], build);
            const expected = naiveReduce(c, c.axes, c.keepdims, expectedOf);
            expect(out.shape).toEqual(expected.shape);
            expect(node.shape).toEqual(expected.shape);
            expect(closeTo(out.data, expected.data, 1e-12, 1e-9)).toBeUndefined();
          },
        ),
        { numRuns: 80 },
      );
    });
  }

  it('max/min over an empty axis is an error naming the op, not a silent -Infinity', async () => {
    const x = T.tensor('emptyRows', { dtype: 'float64', shape: [2, null] });
    const f = await T.compile([x], T.max(x, 1));
    expect(() => f(T.array(new Float64Array(0), { shape: [2, 0] }))).toThrow(/max.*empty axis/);
  });

  it('argmax with no axis indexes the flattened array (NumPy)', async () => {
    await fc.assert(
      fc.asyncProperty(
        shapeArb()
          .filter((s) => size(s) > 0)
          .chain((shape) => fc.record({ shape: fc.constant(shape), data: dataFor(shape, moderate) })),
        async (c) => {
          const { out } = await evaluate([c], ([x]) => T.argmax(x!));
          expect(out.item()).toBe(c.data.indexOf(Math.max(...c.data)));
        },
      ),
      { numRuns: 40 },
    );
  });

  it('variance and std are the population statistics (ddof 0)', async () => {
    await fc.assert(
      fc.asyncProperty(
        shapeArb(3)
          .filter((s) => s.length > 0 && s[0]! > 0)
          .chain((shape) => fc.record({ shape: fc.constant(shape), data: dataFor(shape, moderate) })),
        async (c) => {
          const { out: v } = await evaluate([c], ([x]) => T.variance(x!, 0));
          const { out: s } = await evaluate([c], ([x]) => T.std(x!, 0));
          const expected = naiveReduce(c, [0], false, (vals) => {
            const m = plainSum(vals) / vals.length;
            return plainSum(vals.map((x) => (x - m) ** 2)) / vals.length;
          });
          expect(closeTo(v.data, expected.data, 1e-10, 1e-10)).toBeUndefined();
          expect(closeTo(s.data, expected.data.map(Math.sqrt), 1e-10, 1e-10)).toBeUndefined();
        },
      ),
      { numRuns: 40 },
    );
  });
});
