import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import { anyValue, dataFor, nonEmptyShape } from '../helpers/arbitraries.js';

/**
 * gather, its gradient, oneHot and the seeded uniform stream run in wasm kernels: each compared with
 * the reference bit for bit, over several calls (the first records the call plan, the others run it),
 * with the wasm kernel required to have run.
 */

const DTYPES = ['float32', 'float64', 'int32', 'bool'] as const;
const sameBits = (a: T.NDArray, b: T.NDArray) =>
  a.dtype === b.dtype &&
  a.shape.join() === b.shape.join() &&
  Array.from(a.data).every((v, i) => Object.is(v, b.data[i]));

/** Compiles `outputs` of `inputs` both ways and requires equal bits on every call, with no step of `ops` left to the reference. */
async function sameInBothModes(
  inputs: T.Node[],
  outputs: T.Node[],
  calls: T.NDArray[][],
  ops: readonly string[],
): Promise<void> {
  const js = await T.compile(inputs, outputs, { mode: 'js' });
  const wasm = await T.compile(inputs, outputs, { mode: 'wasm' });
  for (const values of calls) {
    const [a, b] = [js(...values) as T.NDArray[], wasm(...values) as T.NDArray[]];
    a.forEach((v, k) => expect(sameBits(b[k]!, v), `output ${k}`).toBe(true));
  }
  expect(wasm.stats.referenceFallbacks ?? 0).toBe(0);
  expect(wasm.program.steps.filter((s) => ops.includes(s.op)).every((s) => s.kernel !== undefined)).toBe(true);
}

/** An array of `shape`, any dtype, with extreme values for floats. */
const arrayOf = (shape: number[], dtype: (typeof DTYPES)[number], data: number[]) =>
  T.array(Float64Array.from(data), { shape }).astype(dtype);

const int32 = (values: number[], shape = [values.length]) => T.array(Int32Array.from(values), { shape });

describe('indexing kernels and the random stream in wasm, bit for bit as the reference', () => {
  it('gather along any axis, indices of any shape (negative ones count from the end), every dtype', () =>
    fc.assert(
      fc.asyncProperty(
        nonEmptyShape(1, 3)
          .filter((s) => s.every((d) => d > 0))
          .chain((shape) =>
            fc.tuple(
              fc.constant(shape),
              fc.constantFrom(...DTYPES),
              dataFor(shape, anyValue),
              fc.integer({ min: 0, max: shape.length - 1 }).chain((axis) =>
                fc.tuple(
                  fc.constant(axis),
                  fc.array(
                    fc.array(fc.integer({ min: -shape[axis]!, max: shape[axis]! - 1 }), { minLength: 2, maxLength: 2 }),
                    {
                      minLength: 1,
                      maxLength: 3,
                    },
                  ),
                ),
              ),
            ),
          ),
        async ([shape, dtype, data, [axis, rows]]) => {
          const x = T.tensor('x', { dtype, shape: shape.map(() => null) });
          const i = T.tensor('i', { dtype: 'int32', shape: [null, 2] });
          const value = arrayOf(shape, dtype, data);
          await sameInBothModes(
            [x, i],
            [T.gather(x, i, axis)],
            [
              [value, int32(rows.flat(), [rows.length, 2])],
              [value, int32(rows.flat().reverse(), [rows.length, 2])],
            ],
            ['gather'],
          );
        },
      ),
      { numRuns: 60 },
    ));

  it("gather's gradient: rows added back at their indices, repeated ones accumulating (float32 and float64)", () =>
    fc.assert(
      fc.asyncProperty(
        fc.constantFrom('float32' as const, 'float64' as const),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 12 }),
        fc.integer(),
        async (dtype, rows, cols, picks, seed) => {
          const x = T.tensor('x', { dtype, shape: [null, null] });
          const i = T.tensor('i', { dtype: 'int32', shape: [null] });
          const w = T.randomNormal([picks.length, cols], { seed, dtype });
          const cost = T.sum(T.mul(T.gather(x, i), T.constant(w)));
          const value = T.randomNormal([rows, cols], { seed: seed + 1, dtype });
          const indices = picks.map((p) => (p % (2 * rows)) - rows);
          await sameInBothModes(
            [x, i],
            [T.grad(cost, x)],
            [
              [value, int32(indices)],
              [value, int32(indices.reverse())],
            ],
            ['gatherGrad'],
          );
        },
      ),
      { numRuns: 40 },
    ));

  it('oneHot of int32 indices, out-of-range ones giving a row of zeros, every dtype', () =>
    fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: -3, max: 9 }), { minLength: 1, maxLength: 20 }),
        fc.integer({ min: 1, max: 7 }),
        fc.constantFrom(...DTYPES),
        async (indices, depth, dtype) => {
          const i = T.tensor('i', { dtype: 'int32', shape: [null] });
          await sameInBothModes(
            [i],
            [T.oneHot(i, depth, dtype)],
            [[int32(indices)], [int32(indices.reverse())]],
            ['oneHot'],
          );
        },
      ),
      { numRuns: 40 },
    ));

  it('randomUniformLike draws the same stream as the reference, call after call, float32 and float64', () =>
    fc.assert(
      fc.asyncProperty(
        nonEmptyShape(0, 3),
        fc.integer(),
        fc.constantFrom('float32' as const, 'float64' as const),
        async (shape, seed, dtype) => {
          const x = T.tensor('x', { dtype, shape: shape.map(() => null) });
          const r = T.randomUniformLike(x, seed);
          // Two draws of one stream in one call, and a mask as dropout makes it.
          const mask = T.lt(T.randomUniformLike(T.mul(x, 2), seed), 0.5);
          const value = T.zeros(shape, dtype);
          await sameInBothModes([x], [r, mask], [[value], [value], [value]], ['randomUniformLike']);
        },
      ),
      { numRuns: 40 },
    ));

  it('floats to int32 as the reference casts them (truncated, modulo 2^32; NaN and infinities 0)', () =>
    fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            anyValue,
            fc.double({ min: -1e12, max: 1e12, noNaN: true }),
            fc.constantFrom(2 ** 31, -(2 ** 31) - 1, 2 ** 32 + 0.5, -1.5, 2 ** 60, -(2 ** 80) + 2 ** 40),
          ),
          { minLength: 1, maxLength: 30 },
        ),
        fc.constantFrom('float32' as const, 'float64' as const),
        async (values, dtype) => {
          const x = T.tensor('x', { dtype, shape: [null] });
          const value = T.array(Float64Array.from(values)).astype(dtype);
          await sameInBothModes([x], [T.cast(x, 'int32')], [[value]], ['cast']);
        },
      ),
      { numRuns: 60 },
    ));

  it('int32 operands of fused kernels: converted to floats, and argmax indices compared', () =>
    fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { minLength: 1, maxLength: 20 }),
        fc.constantFrom('float32' as const, 'float64' as const),
        fc.integer(),
        async (ints, dtype, seed) => {
          const i = T.tensor('i', { dtype: 'int32', shape: [null] });
          const p = T.tensor('p', { dtype, shape: [null, 5] });
          const q = T.tensor('q', { dtype, shape: [null, 5] });
          const converted = T.mul(T.cast(i, dtype), 0.5);
          const agree = T.mean(T.cast(T.eq(T.argmax(p, -1), T.argmax(q, -1)), dtype));
          const [pv, qv] = [seed, seed + 1].map((s) => T.randomNormal([ints.length, 5], { seed: s, dtype }));
          await sameInBothModes([i, p, q], [converted, agree], [[int32(ints), pv!, qv!]], []);
          const f = await T.compile([i, p, q], [converted, agree]);
          expect(f.stats.referenceSteps).toBe(0);
        },
      ),
      { numRuns: 40 },
    ));

  it('a bad index is the same ShapeError in every call, naming the expression and its shapes', async () => {
    const x = T.matrix('x');
    const i = T.tensor('i', { dtype: 'int32', shape: [null] });
    const f = await T.compile([x, i], T.gather(x, i));
    const value = T.zeros([3, 2]);
    f(value, int32([0, 2]));
    for (let k = 0; k < 2; k++)
      expect(() => f(value, int32([1, 3]))).toThrowError(
        /gather\(x, i\): gather: index 3 is out of range for an axis of size 3 \(at call time: x is \[3, 2\], i is \[2\]\)/,
      );
    expect(Array.from((f(value, int32([-1, 0])) as T.NDArray).data)).toEqual([0, 0, 0, 0]);
  });
});
