import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import { anyValue, broadcastingShapes, dataFor } from '../helpers/arbitraries.js';
import { withThreads } from '../helpers/run.js';

/**
 * Each elementwise op alone, as a wasm kernel, against the reference on extreme values (±0, ±Inf,
 * NaN, 1e±30, the exp overflow and underflow edges) with operands broadcast every way: one op at a
 * time, so a difference can only come from that op's lowering, never from a graph amplifying the
 * last place of an earlier one.
 */
const UNARY: [string, (x: T.Node) => T.Node][] = [
  ['neg', T.neg],
  ['exp', T.exp],
  ['log', T.log],
  ['log1p', T.log1p],
  ['expm1', T.expm1],
  ['sqrt', T.sqrt],
  ['rsqrt', T.rsqrt],
  ['square', T.square],
  ['abs', T.abs],
  ['sign', T.sign],
  ['tanh', T.tanh],
  ['sigmoid', T.sigmoid],
  ['softplus', T.softplus],
  ['relu', T.relu],
  ['elu', (x) => T.elu(x)],
  ['selu', T.selu],
  ['gelu', T.gelu],
  ['erf', T.erf],
  ['sin', T.sin],
  ['cos', T.cos],
  ['reciprocal', T.reciprocal],
  ['log1mexp', T.log1mexp],
];
const BINARY: [string, (a: T.Node, b: T.Node) => T.Node][] = [
  ['add', T.add],
  ['sub', T.sub],
  ['mul', T.mul],
  ['div', T.div],
  ['pow', T.pow],
  ['maximum', T.maximum],
  ['minimum', T.minimum],
  ['eq', T.eq],
  ['ne', T.ne],
  ['lt', T.lt],
  ['le', T.le],
  ['gt', T.gt],
  ['ge', T.ge],
];
const TERNARY: [string, (a: T.Node, b: T.Node, c: T.Node) => T.Node][] = [
  ['where', (c, a, b) => T.where(T.gt(c, 0), a, b)],
  ['clip', (x, lo, hi) => T.clip(x, lo, hi)],
];
const OPS = [
  ...UNARY.map(([n, f]) => [n, 1, f] as const),
  ...BINARY.map(([n, f]) => [n, 2, f] as const),
  ...TERNARY.map(([n, f]) => [n, 3, f] as const),
];

/** Same NaN positions, the same infinities, finite values within `rtol` (absolute `atol` near zero, where subnormals have fewer digits). */
function differ(wasm: ArrayLike<number>, js: ArrayLike<number>, rtol: number, atol: number): string | undefined {
  for (let i = 0; i < js.length; i++) {
    const [a, b] = [wasm[i]!, js[i]!];
    if (a === b || (Number.isNaN(a) && Number.isNaN(b))) continue;
    if (!Number.isFinite(a) || !Number.isFinite(b) || Math.abs(a - b) > rtol * Math.abs(b) + atol)
      return `at ${i}: wasm ${a}, js ${b}`;
  }
  return undefined;
}

describe('each elementwise op as a wasm kernel agrees with the reference on extreme values and broadcasting', () => {
  for (const dtype of ['float32', 'float64'] as const) {
    const [rtol, atol] = dtype === 'float32' ? [1e-6, 1e-44] : [1e-13, 1e-300];
    for (const [name, arity, op] of OPS) {
      it(`${name} (${dtype})`, async () => {
        await fc.assert(
          fc.asyncProperty(
            broadcastingShapes(arity).chain((shapes) =>
              fc.tuple(fc.constant(shapes), fc.tuple(...shapes.map((s) => dataFor(s, anyValue)))),
            ),
            async ([shapes, data]) => {
              const inputs = shapes.map((s, i) => T.tensor(`x${i}`, { dtype, shape: s }));
              const build = () => (op as (...xs: T.Node[]) => T.Node)(...inputs);
              const wasm = await T.compile(inputs, build(), { mode: 'wasm' });
              const js = await T.compile(inputs, build(), { mode: 'js' });
              expect(wasm.stats.wasmKernels).toBeGreaterThanOrEqual(1);
              const values = data.map((d, i) => T.array(d, { shape: shapes[i]!, dtype }));
              const [a, b] = [wasm(...values), js(...values)];
              expect(a.shape).toEqual(b.shape);
              expect(a.dtype).toBe(b.dtype);
              // The kernel ran (an empty result is made without calling it: there is nothing to compute).
              expect(wasm.stats.referenceFallbacks).toBe(0);
              expect(differ(a.data, b.data, rtol, atol)).toBeUndefined();
            },
          ),
          { numRuns: 25 },
        );
      });
    }
  }
});

describe('broadcasting that needs more than two axes', () => {
  it('a fused step over operands broadcast along alternating axes (the driver walking the leading ones) agrees exactly with the reference', async () => {
    // Sizes of at least 2, so no axis drops out; each operand keeps or broadcasts each axis at random.
    const arb = fc.array(fc.integer({ min: 2, max: 4 }), { minLength: 3, maxLength: 6 }).chain((out) =>
      fc.tuple(
        fc.constant(out),
        fc.array(fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length }), {
          minLength: 3,
          maxLength: 3,
        }),
      ),
    );
    await fc.assert(
      fc.asyncProperty(arb, async ([out, keeps]) => {
        // One operand is full, so the output has the whole shape.
        const shapes = [out, ...keeps.slice(1).map((keep) => out.map((d, a) => (keep[a] ? d : 1)))];
        const [a, b, c] = shapes.map((s, i) => T.tensor(`x${i}`, { shape: s })) as [T.Node, T.Node, T.Node];
        const build = () => T.sub(T.mul(T.add(a, b), c), b);
        const wasm = await T.compile([a, b, c], build(), { mode: 'wasm' });
        const js = await T.compile([a, b, c], build(), { mode: 'js' });
        expect(wasm.program.steps.map((s) => `${s.op}${s.kernel === undefined ? '' : ' [wasm]'}`)).toEqual([
          'fused [wasm]',
        ]);
        const values = shapes.map((s, i) => T.randomUniform(s, { seed: i + 1, minval: -2, maxval: 2 }));
        const [x, y] = [wasm(...values), js(...values)];
        expect(wasm.stats.referenceFallbacks).toBe(0);
        expect(x.shape).toEqual(y.shape);
        // The same float32 operations in the same order: equal to the last bit.
        expect(Array.from(x.data)).toEqual(Array.from(y.data));
      }),
      { numRuns: 60 },
    );
  });
});

describe('broadcasting that needs more than two axes, on big arrays', () => {
  it('slabs big enough are split across threads, bit-identical to one thread and the reference', async () => {
    const build = (a: T.Node, b: T.Node) => T.mul(T.add(a, b), b);
    const run = async (threads: number, mode: 'wasm' | 'js') => {
      const a = T.tensor('a', { shape: [3, 2, 256, 256] });
      const b = T.tensor('b', { shape: [3, 1, 256, 256] });
      const f = await withThreads(threads, () => T.compile([a, b], build(a, b), { mode }));
      const A = T.randomUniform([3, 2, 256, 256], { seed: 1, minval: -2, maxval: 2 });
      const B = T.randomUniform([3, 1, 256, 256], { seed: 2, minval: -2, maxval: 2 });
      const out = f(A, B);
      if (mode === 'wasm') expect(f.stats.referenceFallbacks).toBe(0);
      return Array.from(out.data);
    };
    const [one, two, reference] = [await run(1, 'wasm'), await run(2, 'wasm'), await run(1, 'js')];
    expect(two).toEqual(one);
    expect(one).toEqual(reference);
  });
});

describe('shapes known only at call time', () => {
  it('an operand broadcast at call time where the kernel was built for whole arrays is expanded and still runs in wasm', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 4 }),
        fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
        async (out, keep) => {
          const x = T.tensor('x', { shape: out.map(() => null), dtype: 'float64' });
          const y = T.tensor('y', { shape: out.map(() => null), dtype: 'float64' });
          const build = () => T.pow(T.abs(x), T.sub(y, 0.5));
          const wasm = await T.compile([x, y], build(), { mode: 'wasm' });
          const js = await T.compile([x, y], build(), { mode: 'js' });
          const X = T.randomUniform(out, { seed: 1, minval: -3, maxval: 3, dtype: 'float64' });
          const Y = T.randomUniform(
            out.map((d, a) => (keep[a] ? d : 1)),
            { seed: 2, minval: -3, maxval: 3, dtype: 'float64' },
          );
          const [a, b] = [wasm(X, Y), js(X, Y)];
          expect(wasm.stats.referenceFallbacks).toBe(0);
          expect(differ(a.data, b.data, 1e-13, 1e-300)).toBeUndefined();
        },
      ),
      { numRuns: 40 },
    );
  });

  it('a kernel built for a row (a vector against a matrix) takes a vector of one element, and whole-array operands any broadcast, still in wasm', async () => {
    const x = T.matrix('x');
    const b = T.vector('b');
    const c = T.matrix('c');
    const build = () => T.mul(T.add(x, b), c);
    const wasm = await T.compile([x, b, c], build(), { mode: 'wasm' });
    const js = await T.compile([x, b, c], build(), { mode: 'js' });
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 9 }),
        fc.boolean(),
        fc.constantFrom('full', 'row', 'column', 'scalar'),
        async (n, m, rowOfOne, cLayout) => {
          const X = T.randomUniform([n, m], { seed: n, minval: -2, maxval: 2 });
          const B = T.randomUniform([rowOfOne ? 1 : m], { seed: m, minval: -2, maxval: 2 });
          const C = T.randomUniform(
            cLayout === 'full' ? [n, m] : cLayout === 'row' ? [1, m] : cLayout === 'column' ? [n, 1] : [1, 1],
            { seed: 3, minval: -2, maxval: 2 },
          );
          const before = wasm.stats.referenceFallbacks;
          const [a, r] = [wasm(X, B, C), js(X, B, C)];
          expect(wasm.stats.referenceFallbacks).toBe(before);
          expect(Array.from(a.data)).toEqual(Array.from(r.data));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('the gradient of a broadcast that did not broadcast at call time (sumLike over no axes) runs in wasm and agrees', async () => {
    const x = T.matrix('x');
    const b = T.matrix('b');
    const grads = T.grad(T.sum(T.square(T.add(x, b))), [x, b]);
    const wasm = await T.compile([x, b], grads, { mode: 'wasm' });
    const js = await T.compile([x, b], grads, { mode: 'js' });
    const X = T.randomUniform([5, 3], { seed: 1 });
    const B = T.randomUniform([5, 3], { seed: 2 });
    const [got, want] = [wasm(X, B), js(X, B)];
    expect(wasm.stats.referenceFallbacks).toBe(0);
    got.forEach((g, i) => expect(Array.from(g.data)).toEqual(Array.from(want[i]!.data)));
  });
});
