import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import { dataFor } from '../helpers/arbitraries.js';
import { EXAMPLES, type GradientExample } from '../helpers/rule-examples.js';

const MODES = ['js', 'wasm'] as const;
/** Fixed, non-symmetric weights, so every element of the output matters to the cost. */
const weightsFor = (count: number) => Array.from({ length: count }, (_, i) => Math.fround(Math.cos(1.3 * i + 0.7)));
/** Shapes of the example's rank: vectors of 1 to 5, matrices of up to 3 rows of 1 to 4. */
const shapeOfRank = (rank: number) =>
  rank === 1
    ? fc.tuple(fc.integer({ min: 1, max: 5 }))
    : fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 }));
const FLOAT32_MAX = 3.4028234663852886e38;

/** sum(w * naive(x)) and its gradient, compiled once for any shape (the sizes are symbolic). */
async function gradientOfNaiveForm(
  build: (xs: T.Node[]) => T.Node,
  rank: number,
  mode: (typeof MODES)[number],
  dtype: 'float32' | 'float64' = 'float32',
) {
  const x = T.tensor('x', { dtype, shape: Array.from({ length: rank }, () => null) });
  const out = build([x]);
  const w = T.tensor('w', { dtype, shape: out.shape.map(() => null) });
  const cost = T.sum(T.mul(out, w));
  const g = T.grad(cost, x);
  return { f: await T.compile([x, w], g, { mode }), cost, g, x, w, outRank: out.ndim };
}

/** The first element where tsano's float32 gradient is not finite or not within 1e-4 of the terms' size from the exact one. */
function disagreement(
  got: ArrayLike<number>,
  x: readonly number[],
  w: readonly number[],
  shape: number[],
  spec: GradientExample,
): string | undefined {
  const exact = spec.exact(x, w, shape);
  const scale = spec.scale?.(x, w, shape) ?? exact.map(Math.abs);
  for (let i = 0; i < exact.length; i++) {
    if (!(Math.abs(exact[i]!) < FLOAT32_MAX))
      return `the exact gradient ${exact[i]} at x = ${x[i]} is outside float32: the domain is wrong`;
    const error = Math.abs(got[i]! - exact[i]!);
    if (!Number.isFinite(got[i]!) || !(error <= 1e-4 * scale[i]! + 1e-30))
      return `at ${i} (x = ${x[i]}): tsano ${got[i]}, exact ${exact[i]}`;
  }
  return undefined;
}

describe('T.grad of the naive forms is the stable forms’ gradient (float32, random and extreme inputs)', () => {
  for (const [name, ex] of Object.entries(EXAMPLES)) {
    const spec = ex.gradient;
    if (!spec) continue;
    const rank = ex.inputs[0]![1].length;
    for (const mode of MODES) {
      it(`${name} (${mode})`, async () => {
        const { f, outRank } = await gradientOfNaiveForm(ex.build, rank, mode);
        await fc.assert(
          fc.asyncProperty(
            shapeOfRank(rank).chain((shape) => fc.tuple(fc.constant(shape), dataFor(shape, spec.domain))),
            async ([shape, data]) => {
              const x = data.map(Math.fround);
              const w = weightsFor(shape.slice(0, outRank).reduce((a, b) => a * b, 1));
              const got = f(
                T.array(Float32Array.from(x), { shape }),
                T.array(Float32Array.from(w), { shape: shape.slice(0, outRank) }),
              ) as T.NDArray;
              expect(disagreement(got.data, x, w, shape, spec)).toBeUndefined();
            },
          ),
          { numRuns: 40 },
        );
        if (mode === 'wasm') expect(f.stats.referenceFallbacks ?? 0).toBe(0);
      });
    }
  }
});

describe('second derivatives of the stable forms stay finite and exact', () => {
  // d/dx sum(grad) for an elementwise form is w * f''(x); the exact f'' is a central difference of the exact f' in float64.
  const ELEMENTWISE = Object.entries(EXAMPLES).filter(
    ([, ex]) => ex.gradient && ex.inputs[0]![1].length === 1 && !ex.gradient.scale,
  );
  for (const [name, ex] of ELEMENTWISE) {
    const spec = ex.gradient!;
    for (const mode of MODES) {
      it(`${name} (${mode})`, async () => {
        const { g, x, w } = await gradientOfNaiveForm(ex.build, 1, mode);
        const second = await T.compile([x, w], T.grad(T.sum(g), x), { mode });
        await fc.assert(
          fc.asyncProperty(
            fc.integer({ min: 1, max: 5 }).chain((n) => dataFor([n], spec.domain)),
            async (data) => {
              const xs = data.map(Math.fround);
              const ws = weightsFor(xs.length);
              const got = (second(Float32Array.from(xs), Float32Array.from(ws)) as T.NDArray).data;
              xs.forEach((v, i) => {
                const h =
                  1e-4 *
                  Math.min(Math.max(Math.abs(v), 1), spec.edge === undefined ? Infinity : Math.abs(v - spec.edge));
                const at = (u: number) => spec.exact([u], [ws[i]!], [1])[0]!;
                const exact = (at(v + h) - at(v - h)) / (2 * h);
                // Where f'' itself leaves float32 (log1mexp next to 0) there is nothing finite to agree with.
                if (!(Math.abs(exact) < 1e37)) return;
                const scale = Math.max(Math.abs(exact), Math.abs(at(v)) / Math.max(Math.abs(v), 1));
                expect(Number.isFinite(got[i]!), `${name}'' at ${v}: ${got[i]}`).toBe(true);
                expect(
                  Math.abs(got[i]! - exact),
                  `${name}'' at ${v}: tsano ${got[i]}, exact ${exact}`,
                ).toBeLessThanOrEqual(1e-3 * scale + 1e-30);
              });
            },
          ),
          { numRuns: 25 },
        );
      });
    }
  }

  // Forms over rows (softmax, normalization): a cost built from the gradient differentiates to finite values at extreme
  // inputs, in both modes as in float64, within float32's rounding of the terms: the first gradient's (times cos x) and their
  // square's (1/s and 1/s^2 for the normalizations; both cancel to nearly nothing for two-element rows).
  const elementwise = new Set(ELEMENTWISE.map(([name]) => name));
  const ROWWISE = Object.entries(EXAMPLES).filter(([name, ex]) => ex.gradient && !elementwise.has(name));
  for (const [name, ex] of ROWWISE) {
    const spec = ex.gradient!;
    const rank = ex.inputs[0]![1].length;
    it(`${name}: finite, and float32 in both modes agrees with float64`, async () => {
      const secondOf = async (mode: (typeof MODES)[number], dtype: 'float32' | 'float64') => {
        const { g, x, w } = await gradientOfNaiveForm(ex.build, rank, mode, dtype);
        return T.compile([x, w], [g, T.grad(T.sum(T.mul(g, T.sin(x))), x)], { mode });
      };
      const [js, wasm, reference] = await Promise.all([
        secondOf('js', 'float32'),
        secondOf('wasm', 'float32'),
        secondOf('js', 'float64'),
      ]);
      await fc.assert(
        fc.asyncProperty(
          shapeOfRank(rank).chain((shape) => fc.tuple(fc.constant(shape), dataFor(shape, spec.domain))),
          async ([shape, data]) => {
            const x = T.array(Float32Array.from(data), { shape });
            const outShape = ex.build([T.tensor('probe', { dtype: 'float32', shape })]).shape as number[];
            const w = T.array(Float32Array.from(weightsFor(outShape.reduce((a, b) => a * b, 1))), { shape: outShape });
            const exact = Array.from((reference!(x.astype('float64'), w.astype('float64')) as T.NDArray[])[1]!.data);
            const terms = Math.max(
              ...(spec.scale ?? spec.exact)(Array.from(x.data), Array.from(w.data), shape).map(Math.abs),
            );
            const tolerance = 1e-3 * Math.max(...exact.map(Math.abs)) + 1e-5 * (terms + terms ** 2) + 1e-30;
            for (const f of [js!, wasm!]) {
              const got = (f(x, w) as T.NDArray[])[1]!.data;
              exact.forEach((v, i) => {
                expect(Number.isFinite(got[i]!), `${f.stats.mode} at ${data[i]}: ${got[i]}`).toBe(true);
                expect(Math.abs(got[i]! - v), `${f.stats.mode} ${got[i]}, float64 ${v}`).toBeLessThanOrEqual(tolerance);
              });
            }
          },
        ),
        { numRuns: 25 },
      );
    });
  }
});
