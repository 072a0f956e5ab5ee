import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import { anyValue, dataFor, shapeArb } from '../helpers/arbitraries.js';

const DTYPES = ['float32', 'float64', 'int32', 'bool'] as const;
type DType = (typeof DTYPES)[number];

/** A random array of `shape` as `dtype` (extremes included for floats). */
const arrayOf = (shape: number[], dtype: DType, data: number[]) =>
  T.array(Float64Array.from(data), { shape }).astype(dtype);

/** A slice spec per axis: start, stop (either may be left out, or negative) and a step of ±1 to ±3. */
const sliceOf = (shape: number[]) =>
  fc.tuple(
    ...shape.map((n) =>
      fc.tuple(
        fc.option(fc.integer({ min: -n - 1, max: n + 1 })),
        fc.option(fc.integer({ min: -n - 1, max: n + 1 })),
        fc.integer({ min: 1, max: 3 }).chain((s) => fc.constantFrom(s, -s)),
      ),
    ),
  );
const spec = ([start, stop, step]: [number | null, number | null, number]) => `${start ?? ''}:${stop ?? ''}:${step}`;

/** Compiles `build` in both modes and requires the wasm result, bit for bit, from a wasm kernel. */
async function sameInBothModes(shape: number[], dtype: DType, data: number[], build: (x: T.Node) => T.Node) {
  const x = T.tensor('x', { dtype, shape: shape.map(() => null) });
  const out = build(x);
  const value = arrayOf(shape, dtype, data);
  const js = (await T.compile([x], out, { mode: 'js' }))(value);
  const f = await T.compile([x], out, { mode: 'wasm', exclude: ['fusion'] });
  const wasm = f(value);
  expect(wasm.shape).toEqual(js.shape);
  expect(wasm.dtype).toBe(js.dtype);
  expect(Array.from(wasm.data).every((v, i) => Object.is(v, js.data[i]))).toBe(true);
  expect(f.stats.referenceFallbacks ?? 0).toBe(0);
  expect(f.program.steps.filter((s) => s.op === out.op).every((s) => s.kernel !== undefined)).toBe(true);
}

/** A random array (shape of rank `minRank` to 4, dtype, values) and what `more` draws for its shape. */
const arraysWith = <A>(more: (shape: number[]) => fc.Arbitrary<A>, minRank = 0) =>
  shapeArb(4)
    .filter((shape) => shape.length >= minRank)
    .chain((shape) => fc.tuple(fc.constant(shape), fc.constantFrom(...DTYPES), dataFor(shape, anyValue), more(shape)));

describe('shape ops run in wasm as strided copies, bit for bit as the reference, every dtype', () => {
  it('transpose by any permutation', () =>
    fc.assert(
      fc.asyncProperty(
        arraysWith((shape) =>
          fc.shuffledSubarray(
            shape.map((_, i) => i),
            { minLength: shape.length, maxLength: shape.length },
          ),
        ),
        ([shape, dtype, data, perm]) => sameInBothModes(shape, dtype, data, (x) => T.transpose(x, perm)),
      ),
      { numRuns: 60 },
    ));

  it('slices with any bounds and steps, negative ones included', () =>
    fc.assert(
      fc.asyncProperty(arraysWith(sliceOf, 1), ([shape, dtype, data, slices]) =>
        sameInBothModes(shape, dtype, data, (x) => T.index(x, ...slices.map(spec))),
      ),
      { numRuns: 60 },
    ));

  it('pad with zeros', () =>
    fc.assert(
      fc.asyncProperty(
        arraysWith((shape) => fc.tuple(...shape.map(() => fc.tuple(fc.nat(3), fc.nat(3))))),
        ([shape, dtype, data, paddings]) => sameInBothModes(shape, dtype, data, (x) => T.pad(x, paddings)),
      ),
      { numRuns: 60 },
    ));

  it('concat of two to three arrays along any axis, and its gradient', () =>
    fc.assert(
      fc.asyncProperty(
        arraysWith(
          (shape) =>
            fc.tuple(
              fc.integer({ min: 0, max: shape.length - 1 }),
              fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 2 }),
            ),
          1,
        ),
        async ([shape, dtype, data, [axis, sizes]]) => {
          // The other operands: the same shape but for the axis, values from the first one's.
          const others = sizes.map((n, k) => {
            const s = shape.map((d, i) => (i === axis ? n : d));
            return {
              s,
              x: T.constant(
                arrayOf(
                  s,
                  dtype,
                  Array.from(
                    { length: s.reduce((a, b) => a * b, 1) },
                    (_, i) => data[(i + k) % Math.max(1, data.length)] ?? k,
                  ),
                ),
              ),
            };
          });
          await sameInBothModes(shape, dtype, data, (x) => T.concat([x, ...others.map((o) => o.x)], axis));
          if (dtype !== 'float64') return;
          const x = T.tensor('x', { dtype, shape });
          const g = T.grad(
            T.sum(
              T.mul(T.concat([others[0]!.x, x, ...others.slice(1).map((o) => o.x)], axis), T.constant(1.5, 'float64')),
            ),
            x,
          );
          const value = arrayOf(
            shape,
            dtype,
            data.map((v) => (Number.isFinite(v) ? v : 1)),
          );
          const f = await T.compile([x], g, { mode: 'wasm' });
          expect(Array.from(f(value).data)).toEqual(Array.from((await T.compile([x], g, { mode: 'js' }))(value).data));
          expect(f.stats.referenceFallbacks ?? 0).toBe(0);
        },
      ),
      { numRuns: 50 },
    ));

  it("a slice's gradient (its operand's shape, zeros where the slice did not read)", () =>
    fc.assert(
      fc.asyncProperty(arraysWith(sliceOf, 1), async ([shape, , data, slices]) => {
        const x = T.tensor('x', { dtype: 'float64', shape });
        const g = T.grad(T.sum(T.mul(T.index(x, ...slices.map(spec)), T.constant(2.5, 'float64'))), x);
        const value = arrayOf(
          shape,
          'float64',
          data.map((v) => (Number.isFinite(v) ? v : 1)),
        );
        const js = (await T.compile([x], g, { mode: 'js' }))(value);
        const f = await T.compile([x], g, { mode: 'wasm' });
        expect(Array.from(f(value).data)).toEqual(Array.from(js.data));
        expect(f.stats.referenceFallbacks ?? 0).toBe(0);
        expect(f.program.steps.filter((s) => s.op === 'sliceGrad').every((s) => s.kernel !== undefined)).toBe(true);
      }),
      { numRuns: 40 },
    ));
});
