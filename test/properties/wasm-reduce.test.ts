import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import { agreeF32 } from '../helpers/agree.js';
import { dataFor, inRange, SPECIAL_VALUES } from '../helpers/arbitraries.js';

/** Mostly ordinary values, sometimes a special one (NaN, ±Inf, huge, tiny). */
const values = fc.oneof(
  { weight: 12, arbitrary: inRange(-50, 50) },
  { weight: 1, arbitrary: fc.constantFrom(...SPECIAL_VALUES) },
);
/** Sums are compared without ±1e30 terms: their cancellation is where the compensated reference and any kernel part ways. */
const summable = fc.oneof(
  { weight: 12, arbitrary: inRange(-50, 50) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(...SPECIAL_VALUES.filter((v) => !(Math.abs(v) > 1e3 && Number.isFinite(v)))),
  },
);
const shapeAndAxes = fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 4 }).chain((shape) =>
  fc.tuple(
    fc.constant(shape),
    fc.subarray(
      shape.map((_, i) => i),
      { minLength: 1 },
    ),
    fc.boolean(),
  ),
);
const f32 = (d: number[], shape: number[]) => T.array(Float32Array.from(d), { shape });

/** Factors of either sign around 1 (products of thousands stay in range), sometimes 0, ±Inf or NaN. */
const factors = fc.oneof(
  { weight: 12, arbitrary: fc.tuple(inRange(0.5, 2), fc.boolean()).map(([v, negative]) => (negative ? -v : v)) },
  { weight: 1, arbitrary: fc.constantFrom(0, -0, NaN, Infinity, -Infinity) },
);
const REDUCTIONS = { sum: T.sum, mean: T.mean, prod: T.prod, max: T.max, min: T.min, logsumexp: T.logsumexp } as const;
const valuesFor = (name: string) => (name === 'sum' || name === 'mean' ? summable : name === 'prod' ? factors : values);

describe('wasm reduction kernels agree with the reference', () => {
  for (const dtype of ['float32', 'float64'] as const) {
    for (const [name, op] of Object.entries(REDUCTIONS)) {
      it(`${name} in ${dtype} over every kind of axis subset, keepdims or not, with specials`, async () => {
        await fc.assert(
          fc.asyncProperty(
            shapeAndAxes.chain(([shape, axes, keepdims]) =>
              fc.tuple(fc.constant(shape), fc.constant(axes), fc.constant(keepdims), dataFor(shape, valuesFor(name))),
            ),
            async ([shape, axes, keepdims, data]) => {
              const x = T.tensor('x', { dtype, shape: shape.map(() => null) });
              const build = () => op(x, axes, keepdims);
              const wasm = await T.compile([x], build(), { mode: 'wasm' });
              const js = await T.compile([x], build(), { mode: 'js' });
              expect(wasm.stats.wasmKernels).toBe(1);
              const input = T.array(dtype === 'float32' ? Float32Array.from(data) : Float64Array.from(data), {
                shape,
                dtype,
              });
              const [a, b] = [wasm(input), js(input)];
              expect(a.shape).toEqual(b.shape);
              expect(a.dtype).toBe(dtype);
              // All in wasm (logsumexp moves axes with kept ones after them last first).
              expect(wasm.stats.referenceFallbacks).toBe(0);
              expect(
                dtype === 'float32' ? agreeF32(a.data, b.data) : agreeF32(a.data, b.data, 1e-12, 1e-12),
              ).toBeUndefined();
            },
          ),
          { numRuns: 40 },
        );
      });
    }
  }

  for (const [name, op, dtype] of [
    ['argmax', T.argmax, 'float32'],
    ['argmin', T.argmin, 'float32'],
    ['argmax', T.argmax, 'float64'],
    ['argmin', T.argmin, 'float64'],
  ] as const) {
    it(`${name} in ${dtype} along each axis and over the whole array: first best index, first NaN wins, ties common`, async () => {
      const ties = fc.oneof(
        { weight: 8, arbitrary: fc.integer({ min: -3, max: 3 }) },
        { weight: 1, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity) },
      );
      await fc.assert(
        fc.asyncProperty(
          fc
            .array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 4 })
            .chain((shape) =>
              fc.tuple(
                fc.constant(shape),
                fc.option(fc.integer({ min: 0, max: shape.length - 1 }), { nil: undefined }),
                fc.boolean(),
                dataFor(shape, ties),
              ),
            ),
          async ([shape, axis, keepdims, data]) => {
            const x = T.tensor('x', { shape: shape.map(() => null), dtype });
            const build = () => op(x, axis, keepdims);
            const wasm = await T.compile([x], build(), { mode: 'wasm' });
            const js = await T.compile([x], build(), { mode: 'js' });
            expect(wasm.stats.wasmKernels).toBe(1);
            const input = T.array(data, { shape, dtype });
            const [a, b] = [wasm(input), js(input)];
            expect(a.dtype).toBe('int32');
            expect(a.shape).toEqual(b.shape);
            expect(Array.from(a.data)).toEqual(Array.from(b.data));
          },
        ),
        { numRuns: 60 },
      );
    });
  }

  it('a fused elementwise producer followed by a reduction (mean squared error over axes), float32 and float64', async () => {
    await fc.assert(
      fc.asyncProperty(
        shapeAndAxes.chain(([shape, axes]) =>
          fc.tuple(
            fc.constant(shape),
            fc.constant(axes),
            dataFor(shape, summable),
            dataFor(shape, summable),
            fc.constantFrom('float32' as const, 'float64' as const),
          ),
        ),
        async ([shape, axes, p, q, dtype]) => {
          const x = T.tensor('x', { dtype, shape: shape.map(() => null) });
          const y = T.tensor('y', { dtype, shape: shape.map(() => null) });
          const build = () => T.mean(T.square(T.sub(x, y)), axes);
          const wasm = await T.compile([x, y], build(), { mode: 'wasm' });
          const js = await T.compile([x, y], build(), { mode: 'js' });
          expect(wasm.stats.wasmKernels).toBe(1);
          const arr = (d: number[]) =>
            T.array(dtype === 'float32' ? Float32Array.from(d) : Float64Array.from(d), { shape, dtype });
          expect(agreeF32(wasm(arr(p), arr(q)).data, js(arr(p), arr(q)).data)).toBeUndefined();
        },
      ),
      { numRuns: 60 },
    );
  });

  it("a broadcast's gradient (sumLike) down to every broadcastable shape", async () => {
    const shapes = fc
      .array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 4 })
      .chain((shape) =>
        fc.tuple(
          fc.constant(shape),
          fc.integer({ min: 0, max: shape.length - 1 }),
          fc.array(fc.boolean(), { minLength: shape.length, maxLength: shape.length }),
        ),
      );
    await fc.assert(
      fc.asyncProperty(
        shapes.chain(([shape, drop, ones]) =>
          fc.tuple(
            fc.constant(shape),
            fc.constant(shape.slice(drop).map((d, i) => (ones[i] ? 1 : d))),
            dataFor(shape, summable),
          ),
        ),
        async ([shape, bShape, data]) => {
          const x = T.tensor('x', { shape: shape.map(() => null) });
          const b = T.tensor('b', { shape: bShape.map(() => null) });
          const build = () => T.grad(T.sum(T.mul(T.tanh(x), b)), b);
          const wasm = await T.compile([x, b], build(), { mode: 'wasm' });
          const js = await T.compile([x, b], build(), { mode: 'js' });
          const B = T.ones(bShape, 'float32');
          const [p, q] = [wasm(f32(data, shape), B), js(f32(data, shape), B)];
          expect(p.shape).toEqual(q.shape);
          expect(agreeF32(p.data, q.data)).toBeUndefined();
        },
      ),
      { numRuns: 60 },
    );
  });

  it('a big sum keeps float32 digits (float64 accumulation), split across threads the same', async () => {
    const n = 1 << 20;
    const x = T.matrix('x');
    const f = await T.compile([x], T.sum(x, 1), { mode: 'wasm' });
    const data = new Float32Array(4 * n).map((_, i) => (i % 2 ? 1 : 1e-4) * (1 + (i % 7)));
    const got = f(T.array(data, { shape: [4, n] })).data;
    for (let r = 0; r < 4; r++) {
      let want = 0;
      for (let i = 0; i < n; i++) want += data[r * n + i]!;
      expect(Math.abs(got[r]! - want) / want).toBeLessThan(2 ** -23);
    }
  });
});

describe('wasm softmax kernels agree with the reference', () => {
  for (const [log, dtype] of [
    [false, 'float32'],
    [true, 'float32'],
    [false, 'float64'],
    [true, 'float64'],
  ] as const) {
    it(`${log ? 'logSoftmax' : 'softmax'} in ${dtype} along each axis (all in wasm), rows with NaN, ±Inf and huge values`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc
            .array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 3 })
            .chain((shape) =>
              fc.tuple(fc.constant(shape), fc.integer({ min: 0, max: shape.length - 1 }), dataFor(shape, values)),
            ),
          async ([shape, axis, data]) => {
            const x = T.tensor('x', { dtype, shape: shape.map(() => null) });
            const build = () => (log ? T.logSoftmax(x, axis) : T.softmax(x, axis));
            const wasm = await T.compile([x], build(), { mode: 'wasm', optimizer: 'fast_compile' });
            const js = await T.compile([x], build(), { mode: 'js', optimizer: 'fast_compile' });
            const input = T.array(dtype === 'float32' ? Float32Array.from(data) : Float64Array.from(data), {
              shape,
              dtype,
            });
            const [a, b] = [wasm(input), js(input)];
            expect(a.dtype).toBe(dtype);
            // Every axis runs in wasm (one other than the last moved last and back by the transpose kernel).
            expect(wasm.stats.referenceFallbacks).toBe(0);
            expect(
              dtype === 'float32' ? agreeF32(a.data, b.data, 1e-5, 1e-6) : agreeF32(a.data, b.data, 1e-13, 1e-15),
            ).toBeUndefined();
          },
        ),
        { numRuns: 80 },
      );
    });
  }
});
