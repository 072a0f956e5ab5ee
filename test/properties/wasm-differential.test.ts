import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import { dataFor, inRange } from '../helpers/arbitraries.js';
import { closestComparison, randomGraph } from '../helpers/random-graph.js';
import { agreeF32 } from '../helpers/agree.js';
import { KC } from '../../compiler/codegen/matmul.js';
import { withEnv, withThreads } from '../helpers/run.js';

describe('wasm and js modes agree', () => {
  it('on random float32 graphs (moderate inputs)', async () => {
    await fc.assert(
      fc.asyncProperty(
        randomGraph('float32').chain((g) =>
          fc.tuple(fc.constant(g), fc.tuple(...g.shapes.map((s) => dataFor(s, inRange(-3, 3))))),
        ),
        async ([g, data]) => {
          const values = data.map((d, i) => T.array(Float32Array.from(d), { shape: g.shapes[i]! }));
          const js = await T.compile(g.inputs, g.output, { mode: 'js' });
          const wasm = await T.compile(g.inputs, g.output, { mode: 'wasm' });
          const [a, b] = [wasm(...values), js(...values)];
          expect(a.shape).toEqual(b.shape);
          expect(wasm.stats.referenceFallbacks ?? 0).toBe(0);
          // A comparison this close may go either way in either mode.
          if ((await closestComparison(g, values)) < 1e-5) return;
          // Ill-conditioned random graphs amplify last-place differences; compare only well-scaled outputs.
          expect(agreeF32(a.data, b.data)).toBeUndefined();
        },
      ),
      { numRuns: 120 },
    );
  });

  it('on random float64 graphs (moderate inputs), within 1e-9 relative', async () => {
    await fc.assert(
      fc.asyncProperty(
        randomGraph('float64').chain((g) =>
          fc.tuple(fc.constant(g), fc.tuple(...g.shapes.map((s) => dataFor(s, inRange(-3, 3))))),
        ),
        async ([g, data]) => {
          const values = data.map((d, i) => T.array(Float64Array.from(d), { shape: g.shapes[i]!, dtype: 'float64' }));
          const js = await T.compile(g.inputs, g.output, { mode: 'js' });
          const wasm = await T.compile(g.inputs, g.output, { mode: 'wasm' });
          const [a, b] = [wasm(...values), js(...values)];
          expect(a.shape).toEqual(b.shape);
          expect(a.dtype).toBe(b.dtype);
          expect(wasm.stats.referenceFallbacks ?? 0).toBe(0);
          if ((await closestComparison(g, values)) < 1e-12) return;
          expect(agreeF32(a.data, b.data, 1e-9, 1e-12)).toBeUndefined();
        },
      ),
      { numRuns: 120 },
    );
  });

  it('matmul with an empty side (no rows, no columns, no depth) gives the empty or zero product, float32 and float64', async () => {
    for (const dtype of ['float32', 'float64'] as const) {
      const a = T.matrix('a', dtype);
      const b = T.matrix('b', dtype);
      const mm = await T.compile([a, b], T.dot(a, b), { mode: 'wasm' });
      for (const [n, k, m] of [
        [0, 3, 5],
        [4, 3, 0],
        [4, 0, 5],
        [0, 0, 0],
      ] as const) {
        const got = mm(T.ones([n, k], dtype), T.ones([k, m], dtype));
        expect(got.shape).toEqual([n, m]);
        expect(Array.from(got.data)).toEqual(new Array(n * m).fill(0).map(() => k));
      }
    }
  });

  it('matmul over odd sizes (1, 3, 7, 17, 63, 65, 129) and vector right operands', async () => {
    const sizes = [1, 3, 7, 17, 63, 65, 129];
    const a = T.matrix('a');
    const b = T.matrix('b');
    const v = T.vector('v');
    const mm = await T.compile([a, b], T.dot(a, b), { mode: 'wasm' });
    const mv = await T.compile([a, v], T.dot(a, v), { mode: 'wasm' });
    expect(mm.stats.wasmKernels).toBe(1);
    for (const n of sizes) {
      // 2·KC + 3: three cache blocks along k, each adding into the product.
      for (const k of [1, 7, 65, 2 * KC + 3]) {
        const m = sizes[(n + k) % sizes.length]!;
        const A = T.randomUniform([n, k], { seed: n, minval: -1, maxval: 1 });
        const B = T.randomUniform([k, m], { seed: m + 100, minval: -1, maxval: 1 });
        const got = mm(A, B);
        const want = new Float64Array(n * m);
        for (let i = 0; i < n; i++)
          for (let j = 0; j < m; j++)
            for (let l = 0; l < k; l++) want[i * m + j]! += A.data[i * k + l]! * B.data[l * m + j]!;
        expect(got.shape).toEqual([n, m]);
        expect(agreeF32(got.data, want)).toBeUndefined();
        const V = T.randomUniform([k], { seed: 7 });
        const gv = mv(A, V);
        const wv = Array.from({ length: n }, (_, i) =>
          Array.from({ length: k }, (_, l) => A.data[i * k + l]! * V.data[l]!).reduce((s, x) => s + x, 0),
        );
        expect(agreeF32(gv.data, wv)).toBeUndefined();
      }
    }
  });

  it('float64 matmul (two-lane kernel) over odd sizes, transposed and batched, within 1e-12', async () => {
    for (const [ta, tb, batch] of [
      [false, false, []],
      [true, false, []],
      [false, true, [2]],
      [true, true, [3]],
    ] as const) {
      const a = T.tensor('a', { dtype: 'float64', shape: [...batch.map(() => null), null, null] });
      const b = T.tensor('b', { dtype: 'float64', shape: [...batch.map(() => null), null, null] });
      const f = await T.compile([a, b], T.matmul(a, b, { transposeA: ta, transposeB: tb }), { mode: 'wasm' });
      expect(f.stats.wasmKernels).toBe(1);
      // 37 columns: two groups of four whole two-lane panels packed at once, then two more one by one.
      for (const [n, k, m] of [
        [1, 1, 1],
        [3, 7, 5],
        [17, 65, 9],
        [66, 31, 13],
        [5, 9, 37],
      ] as const) {
        const A = T.randomUniform([...batch, ...(ta ? [k, n] : [n, k])], {
          seed: n + k,
          minval: -1,
          maxval: 1,
          dtype: 'float64',
        });
        const B = T.randomUniform([...batch, ...(tb ? [m, k] : [k, m])], {
          seed: m * 3,
          minval: -1,
          maxval: 1,
          dtype: 'float64',
        });
        const count = batch.reduce((p, d) => p * d, 1);
        const want = new Float64Array(count * n * m);
        for (let q = 0; q < count; q++) {
          const at = (i: number, l: number) => A.data[q * n * k + (ta ? l * n + i : i * k + l)]!;
          const bt = (l: number, j: number) => B.data[q * k * m + (tb ? j * k + l : l * m + j)]!;
          for (let i = 0; i < n; i++)
            for (let j = 0; j < m; j++) for (let l = 0; l < k; l++) want[q * n * m + i * m + j]! += at(i, l) * bt(l, j);
        }
        const got = f(A, B);
        expect(got.dtype).toBe('float64');
        expect(got.shape).toEqual([...batch, n, m]);
        expect(agreeF32(got.data, want, 1e-12, 1e-14), `${n}x${k}x${m} ${ta} ${tb} [${batch}]`).toBeUndefined();
      }
    }
  });

  it('matmul reads transposed operands in place (transposeA, transposeB, both) over odd sizes', async () => {
    const a = T.matrix('a');
    const b = T.matrix('b');
    const variants = [
      [false, true],
      [true, false],
      [true, true],
    ] as const;
    for (const [ta, tb] of variants) {
      const f = await T.compile([a, b], T.matmul(a, b, { transposeA: ta, transposeB: tb }), { mode: 'wasm' });
      expect(f.stats.wasmKernels).toBe(1);
      for (const [n, k, m] of [
        [1, 1, 1],
        [3, 7, 17],
        [65, 63, 9],
        [129, 17, 65],
      ] as const) {
        const A = T.randomUniform(ta ? [k, n] : [n, k], { seed: n + k, minval: -1, maxval: 1 });
        const B = T.randomUniform(tb ? [m, k] : [k, m], { seed: m * 3, minval: -1, maxval: 1 });
        const at = (i: number, l: number) => A.data[ta ? l * n + i : i * k + l]!;
        const bt = (l: number, j: number) => B.data[tb ? j * k + l : l * m + j]!;
        const want = new Float64Array(n * m);
        for (let i = 0; i < n; i++)
          for (let j = 0; j < m; j++) for (let l = 0; l < k; l++) want[i * m + j]! += at(i, l) * bt(l, j);
        const got = f(A, B);
        expect(got.shape).toEqual([n, m]);
        expect(agreeF32(got.data, want), `${n}x${k}x${m} transposeA=${ta} transposeB=${tb}`).toBeUndefined();
      }
    }
  });

  it('batched matmul with broadcast leading axes and transposed operands agrees with the reference', async () => {
    const arb = fc.record({
      n: fc.integer({ min: 1, max: 9 }),
      k: fc.integer({ min: 1, max: 9 }),
      m: fc.integer({ min: 1, max: 11 }),
      batchA: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }),
      broadcastB: fc.boolean(),
      ta: fc.boolean(),
      tb: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(arb, async (p) => {
        const batchB = p.broadcastB ? p.batchA.map(() => 1) : p.batchA;
        const aShape = [...p.batchA, ...(p.ta ? [p.k, p.n] : [p.n, p.k])];
        const bShape = [...batchB, ...(p.tb ? [p.m, p.k] : [p.k, p.m])];
        const a = T.tensor('a', { shape: aShape.map(() => null) });
        const b = T.tensor('b', { shape: bShape.map(() => null) });
        const build = () => T.matmul(a, b, { transposeA: p.ta, transposeB: p.tb });
        const wasm = await T.compile([a, b], build(), { mode: 'wasm' });
        const js = await T.compile([a, b], build(), { mode: 'js' });
        expect(wasm.stats.wasmKernels).toBe(1);
        const A = T.randomUniform(aShape, { seed: p.n * 7 + p.k, minval: -1, maxval: 1 });
        const B = T.randomUniform(bShape, { seed: p.m, minval: -1, maxval: 1 });
        const [x, y] = [wasm(A, B), js(A, B)];
        expect(x.shape).toEqual(y.shape);
        expect(agreeF32(x.data, y.data)).toBeUndefined();
      }),
      { numRuns: 50 },
    );
  });

  it('matmul epilogues (bias row, per-row value, scalar, then an activation) run inside the kernel and agree with the reference, float32 and float64', async () => {
    const activations = [T.relu, T.tanh, T.gelu, T.sigmoid, T.softplus, (v: T.Node) => T.elu(v), T.sin] as const;
    const arb = fc.record({
      // Depths past one cache block too: the epilogue applies once, after the last block.
      n: fc.integer({ min: 1, max: 37 }),
      k: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.integer({ min: KC + 1, max: 2 * KC + 9 })),
      m: fc.integer({ min: 1, max: 29 }),
      act: fc.integer({ min: 0, max: activations.length - 1 }),
      operand: fc.constantFrom('row', 'column', 'scalar'),
      ta: fc.boolean(),
      dtype: fc.constantFrom('float32' as const, 'float64' as const),
    });
    await fc.assert(
      fc.asyncProperty(arb, async (p) => {
        const x = T.matrix('x', p.dtype);
        const w = T.matrix('w', p.dtype);
        const shape = p.operand === 'row' ? [p.m] : p.operand === 'column' ? [p.n, 1] : [];
        const c = T.tensor('c', { shape: p.operand === 'column' ? [null, 1] : shape.map(() => null), dtype: p.dtype });
        const product = p.ta ? T.matmul(T.transpose(x), w) : T.dot(x, w);
        const build = () => activations[p.act]!(T.mul(T.add(product, c), 1.5));
        const wasm = await T.compile([x, w, c], build(), { mode: 'wasm' });
        const js = await T.compile([x, w, c], build(), { mode: 'js' });
        expect(wasm.stats.rewrites['matmul_epilogue_fusion']).toBe(1);
        expect(wasm.program.steps.map((s) => s.op)).toEqual(['fused']);
        // Entries of X scaled by 1/√k keep the product near 1 however deep it is: a sum of hundreds of float32
        // products is otherwise large enough that its rounding, not the kernel, decides sin near a zero.
        const X = T.randomUniform(p.ta ? [p.k, p.n] : [p.n, p.k], {
          seed: p.n,
          minval: -1 / Math.sqrt(p.k),
          maxval: 1 / Math.sqrt(p.k),
          dtype: p.dtype,
        });
        const W = T.randomUniform([p.k, p.m], { seed: p.m + 1, minval: -1, maxval: 1, dtype: p.dtype });
        const C = T.randomUniform(shape, { seed: 5, minval: -1, maxval: 1, dtype: p.dtype });
        const [tolerance, floor] = p.dtype === 'float64' ? [1e-12, 1e-13] : [1e-4, 1e-5];
        expect(agreeF32(wasm(X, W, C).data, js(X, W, C).data, tolerance, floor)).toBeUndefined();
        expect(wasm.stats.referenceFallbacks ?? 0).toBe(0);
      }),
      { numRuns: 60 },
    );
  });

  it('reuses the memory of dead values: a chain of 12 unfused kernels needs a few buffers, not 12', async () => {
    const x = T.vector('x');
    let y: T.Node = x;
    // Alternating ops that fusion would merge; fast_compile keeps them apart.
    for (let i = 0; i < 12; i++) y = i % 2 ? T.exp(T.neg(y)) : T.tanh(y);
    const n = 1 << 16;
    const data = T.randomUniform([n], { seed: 3, minval: -2, maxval: 2 });
    for (const [optimizer, maxBuffers] of [
      ['fast_compile', 4],
      ['fast_run', 4],
    ] as const) {
      const f = await T.compile([x], y, { mode: 'wasm', optimizer });
      const js = await T.compile([x], y, { mode: 'js', optimizer });
      expect(agreeF32(f(data).data, js(data).data)).toBeUndefined();
      expect(f.stats.wasmMemoryPeak!).toBeGreaterThan(n * 4);
      expect(f.stats.wasmMemoryPeak!, `${optimizer}: ${f.stats.kernels} steps`).toBeLessThanOrEqual(
        maxBuffers * (n * 4 + 16),
      );
    }
  });

  it('falls back to the reference kernels when operands do not fit the compiled layout', async () => {
    const x = T.tensor('x', { shape: [null, null] });
    const y = T.tensor('y', { shape: [null, null] });
    const f = await T.compile([x, y], T.add(x, y), { mode: 'wasm' });
    // compiled for equal shapes; a [3, 1] + [1, 4] call broadcasts both ways
    const out = f(T.array([[1], [2], [3]]), T.array([[10, 20, 30, 40]]));
    expect(out.toArray()).toEqual([
      [11, 21, 31, 41],
      [12, 22, 32, 42],
      [13, 23, 33, 43],
    ]);
  });
});

describe('threads', () => {
  it('splitting kernels across threads gives bit-identical elementwise results and the same matmul', async () => {
    const x = T.matrix('x');
    const w = T.matrix('w');
    const build = () => [T.tanh(T.add(T.mul(x, 1.5), 0.5)).mul(T.sigmoid(x)), T.dot(x, w)];
    const one = await withThreads(1, () => T.compile([x, w], build(), { mode: 'wasm' }));
    const two = await withThreads(2, () => T.compile([x, w], build(), { mode: 'wasm' }));
    for (const [n, k, m] of [
      [300, 270, 33],
      [1, 70000, 1],
      [257, 64, 65],
    ] as const) {
      const X = T.randomNormal([n, k], { seed: n });
      const W = T.randomNormal([k, m], { seed: m });
      const [a1, b1] = one(X, W);
      const [a2, b2] = two(X, W);
      expect(Array.from(a2!.data)).toEqual(Array.from(a1!.data));
      expect(Array.from(b2!.data)).toEqual(Array.from(b1!.data));
    }
  });
});

describe('copies that overlap the helpers', () => {
  it('big elementwise steps on JavaScript operands (every broadcast layout, float and bool results) agree across thread counts and calls, and with the reference', async () => {
    const x = T.matrix('x');
    const row = T.vector('row');
    const col = T.matrix('col');
    // Either output alone goes straight back to the caller (copied out part by part); both together
    // come from one two-output kernel.
    const outputsOf = [(): T.Node[] => [T.tanh(x.mul(row)).add(T.sigmoid(col)).mul(2)], (): T.Node[] => [T.gt(x, row)]];
    const build = (which: number) => async (mode: 'wasm' | 'js') => {
      const fs = await Promise.all(outputsOf.map((o) => T.compile([x, row, col], o(), { mode })));
      const both = await T.compile(
        [x, row, col],
        outputsOf.flatMap((o) => o()),
        { mode },
      );
      return (...a: T.NDArray[]) => (which === 2 ? both(...a) : [fs[0]!(...a)[0]!, fs[1]!(...a)[0]!]);
    };
    for (const which of [1, 2]) {
      const one = await withThreads(1, () => build(which)('wasm'));
      const two = await withThreads(2, () => build(which)('wasm'));
      const js = await build(which)('js');
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 700 }),
          fc.integer({ min: 1, max: 700 }),
          fc.integer({ min: 0, max: 1000 }),
          async (n, k, seed) => {
            fc.pre(n * k >= 1 << 16);
            const X = T.randomNormal([n, k], { seed, stddev: 3 });
            const R = T.randomNormal([k], { seed: seed + 1 });
            const C = T.randomNormal([n, 1], { seed: seed + 2 });
            const [a1, m1] = one(X, R, C);
            const [r1, r2] = [js(X, R, C), two(X, R, C)];
            // Several calls: which thread takes which chunk changes between them; results must not.
            for (let call = 0; call < 3; call++) {
              const [a2, m2] = two(X, R, C);
              expect(Array.from(a2!.data)).toEqual(Array.from(a1!.data));
              expect(Array.from(m2!.data)).toEqual(Array.from(m1!.data));
            }
            expect(agreeF32(r2[0]!.data, r1[0]!.data)).toBeUndefined();
            expect(Array.from(m1!.data)).toEqual(Array.from(r1[1]!.data));
          },
        ),
        { numRuns: 4 },
      );
    }
  });
});

/** Convolution geometries: strides, dilations, paddings, both data formats; 'valid' only where the dilated kernel fits. */
const convCases = (maxChannelsOut: number) =>
  fc
    .record({
      n: fc.integer({ min: 1, max: 2 }),
      h: fc.integer({ min: 3, max: 9 }),
      w: fc.integer({ min: 3, max: 9 }),
      c: fc.integer({ min: 1, max: 9 }),
      o: fc.integer({ min: 1, max: maxChannelsOut }),
      k: fc.integer({ min: 1, max: 3 }),
      stride: fc.integer({ min: 1, max: 2 }),
      dilation: fc.integer({ min: 1, max: 2 }),
      padding: fc.constantFrom('same' as const, 'valid' as const),
      dataFormat: fc.constantFrom('channelsLast' as const, 'channelsFirst' as const),
    })
    .filter((p) => p.padding === 'same' || (p.k - 1) * p.dilation + 1 <= Math.min(p.h, p.w));
const inputShape = (p: { n: number; h: number; w: number; c: number; dataFormat: string }) =>
  p.dataFormat === 'channelsLast' ? [p.n, p.h, p.w, p.c] : [p.n, p.c, p.h, p.w];

describe('conv2d on the wasm matmul kernel', () => {
  it('agrees with the reference over strides, dilations, paddings and both data formats', async () => {
    await fc.assert(
      fc.asyncProperty(convCases(11), async (p) => {
        const xShape = inputShape(p);
        const x = T.tensor('x', { shape: [null, ...xShape.slice(1)] });
        const k = T.tensor('k', { shape: [p.k, p.k, p.c, p.o] });
        const out = T.conv2d(x, k, {
          strides: p.stride,
          dilation: p.dilation,
          padding: p.padding,
          dataFormat: p.dataFormat,
        });
        const wasm = await T.compile([x, k], out, { mode: 'wasm' });
        const js = await T.compile([x, k], out, { mode: 'js' });
        expect(wasm.stats.wasmKernels).toBe(1);
        const X = T.randomUniform(xShape, { seed: p.h * 7 + p.c, minval: -1, maxval: 1 });
        const K = T.randomUniform([p.k, p.k, p.c, p.o], { seed: p.o, minval: -1, maxval: 1 });
        const [a, b] = [wasm(X, K), js(X, K)];
        expect(a.shape).toEqual(b.shape);
        expect(agreeF32(a.data, b.data)).toBeUndefined();
      }),
      { numRuns: 40 },
    );
  });

  it('in float64, with both gradients, agrees with the reference within 1e-12', async () => {
    await fc.assert(
      fc.asyncProperty(convCases(7), async (p) => {
        const xShape = inputShape(p);
        const x = T.tensor('x', { shape: [null, ...xShape.slice(1)], dtype: 'float64' });
        const k = T.tensor('k', { shape: [p.k, p.k, p.c, p.o], dtype: 'float64' });
        const out = T.conv2d(x, k, {
          strides: p.stride,
          dilation: p.dilation,
          padding: p.padding,
          dataFormat: p.dataFormat,
        });
        const outs = [out, ...T.grad(T.sum(T.mul(out, out)), [x, k])];
        const wasm = await T.compile([x, k], outs, { mode: 'wasm' });
        const js = await T.compile([x, k], outs, { mode: 'js' });
        expect(
          wasm.program.steps
            .filter((s) => s.op.startsWith('conv2d') && s.kernel !== undefined)
            .map((s) => s.op)
            .sort(),
        ).toEqual(['conv2d', 'conv2dGradFilter', 'conv2dGradInput']);
        const X = T.randomUniform(xShape, { seed: p.h * 7 + p.c, minval: -1, maxval: 1, dtype: 'float64' });
        const K = T.randomUniform([p.k, p.k, p.c, p.o], { seed: p.o, minval: -1, maxval: 1, dtype: 'float64' });
        const [a, b] = [wasm(X, K), js(X, K)];
        a.forEach((v, i) => {
          expect(v.dtype).toBe('float64');
          expect(v.shape).toEqual(b[i]!.shape);
          expect(agreeF32(v.data, b[i]!.data, 1e-12, 1e-12)).toBeUndefined();
        });
      }),
      { numRuns: 40 },
    );
  });
});

/** A conv2d with a bias and relu (the epilogue), compiled and called with the convolution path forced (TSANO_CONV, read when a call is planned). */
async function convThrough(
  path: 'im2col' | 'direct',
  threads: number,
  p: { xShape: number[]; kShape: number[]; stride: number; dilation: number; padding: 'same' | 'valid' },
  dtype: 'float32' | 'float64',
  inputs: T.NDArray[],
  mode: 'wasm' | 'js' = 'wasm',
) {
  return withEnv({ TSANO_CONV: path, TSANO_THREADS: String(threads) }, async () => {
    const x = T.tensor('x', { shape: p.xShape, dtype });
    const k = T.tensor('k', { shape: p.kShape, dtype });
    const b = T.tensor('b', { shape: [p.kShape[3]!], dtype });
    const y = T.relu(
      T.add(
        T.conv2d(x, k, { strides: p.stride, dilation: p.dilation, padding: p.padding, dataFormat: 'channelsLast' }),
        b,
      ),
    );
    const f = await T.compile([x, k, b], y, { mode });
    const out = f(...inputs);
    return { out, f };
  });
}

describe('the direct convolution (an implicit matmul over the image, no im2col matrix)', () => {
  const operands = (xShape: number[], kShape: number[], dtype: 'float32' | 'float64', seed: number) => [
    T.randomUniform(xShape, { seed, minval: -1, maxval: 1, dtype }),
    T.randomUniform(kShape, { seed: seed + 1, minval: -1, maxval: 1, dtype }),
    T.randomUniform([kShape[3]!], { seed: seed + 2, minval: -1, maxval: 1, dtype }),
  ];

  it('gives the im2col product bit for bit, with its epilogue (odd sizes, strides, dilations, padding, float32 and float64)', async () => {
    const arb = fc
      .record({
        n: fc.integer({ min: 1, max: 3 }),
        h: fc.integer({ min: 3, max: 12 }),
        w: fc.integer({ min: 3, max: 12 }),
        c: fc.integer({ min: 1, max: 9 }),
        o: fc.integer({ min: 1, max: 19 }),
        kh: fc.integer({ min: 1, max: 3 }),
        kw: fc.integer({ min: 1, max: 3 }),
        stride: fc.integer({ min: 1, max: 2 }),
        dilation: fc.integer({ min: 1, max: 2 }),
        padding: fc.constantFrom('same' as const, 'valid' as const),
        dtype: fc.constantFrom('float32' as const, 'float64' as const),
      })
      .filter((p) => p.padding === 'same' || ((p.kh - 1) * p.dilation < p.h && (p.kw - 1) * p.dilation < p.w));
    await fc.assert(
      fc.asyncProperty(arb, async (p) => {
        const geometry = { ...p, xShape: [p.n, p.h, p.w, p.c], kShape: [p.kh, p.kw, p.c, p.o] };
        const inputs = operands(geometry.xShape, geometry.kShape, p.dtype, p.h * 31 + p.o);
        const im2col = await convThrough('im2col', 1, geometry, p.dtype, inputs);
        const direct = await convThrough('direct', 1, geometry, p.dtype, inputs);
        expect(direct.f.stats.referenceSteps).toBe(0);
        expect(direct.f.stats.referenceFallbacks ?? 0).toBe(0);
        expect(direct.out.shape).toEqual(im2col.out.shape);
        expect(Array.from(direct.out.data)).toEqual(Array.from(im2col.out.data));
        const reference = await convThrough('direct', 1, geometry, p.dtype, inputs, 'js');
        const [tolerance, floor] = p.dtype === 'float64' ? [1e-12, 1e-13] : [1e-4, 1e-5];
        expect(agreeF32(direct.out.data, reference.out.data, tolerance, floor)).toBeUndefined();
      }),
      { numRuns: 40 },
    );
  });

  it('is bit-identical on one thread and on two, and needs less memory than the im2col product', async () => {
    const geometry = {
      xShape: [4, 20, 21, 16],
      kShape: [3, 3, 16, 24],
      stride: 1,
      dilation: 1,
      padding: 'same' as const,
    };
    const inputs = operands(geometry.xShape, geometry.kShape, 'float32', 5);
    const one = await convThrough('direct', 1, geometry, 'float32', inputs);
    const two = await convThrough('direct', 2, geometry, 'float32', inputs);
    const im2col = await convThrough('im2col', 2, geometry, 'float32', inputs);
    expect(two.f.stats.threads).toBe(2);
    expect(Array.from(two.out.data)).toEqual(Array.from(one.out.data));
    expect(Array.from(im2col.out.data)).toEqual(Array.from(one.out.data));
    // The im2col matrix alone is 1680 rows x 144 floats (968 KB).
    expect(im2col.f.stats.wasmMemoryPeak! - two.f.stats.wasmMemoryPeak!).toBeGreaterThan(900_000);

    // Pooled in the same kernel, split across two threads: the same bits as on one.
    const pooledOn = (threads: number) =>
      withThreads(threads, async () => {
        const x = T.tensor('x', { shape: geometry.xShape });
        const k = T.tensor('k', { shape: geometry.kShape });
        const b = T.tensor('b', { shape: [geometry.kShape[3]!] });
        const y = T.relu(T.add(T.conv2d(x, k, { padding: 'same', dataFormat: 'channelsLast' }), b));
        const f = await T.compile([x, k, b], T.maxPool2d(y, { poolSize: 2, dataFormat: 'channelsLast' }));
        expect(f.stats.rewrites['conv_pool_fusion']).toBe(1);
        return Array.from(f(...inputs).data);
      });
    expect(await pooledOn(2)).toEqual(await pooledOn(1));
  });
});

describe('a convolution with its 2x2 max pooling, in one kernel', () => {
  it('gives what the convolution and the pooling kernel give apart, bit for bit, and the reference closely (NaN included, float32 and float64, one and two threads)', async () => {
    const arb = fc
      .record({
        n: fc.integer({ min: 1, max: 3 }),
        h: fc.integer({ min: 3, max: 13 }),
        w: fc.integer({ min: 3, max: 13 }),
        c: fc.integer({ min: 1, max: 9 }),
        o: fc.integer({ min: 1, max: 19 }),
        kh: fc.integer({ min: 1, max: 3 }),
        kw: fc.integer({ min: 1, max: 3 }),
        stride: fc.integer({ min: 1, max: 2 }),
        padding: fc.constantFrom('same' as const, 'valid' as const),
        dtype: fc.constantFrom('float32' as const, 'float64' as const),
        threads: fc.constantFrom(1, 2),
        nan: fc.boolean(),
      })
      // the convolution's output must hold one 2x2 window at least
      .filter((p) => {
        const out = (size: number, k: number) =>
          p.padding === 'same' ? Math.ceil(size / p.stride) : Math.floor((size - k) / p.stride) + 1;
        return out(p.h, p.kh) >= 2 && out(p.w, p.kw) >= 2;
      });
    await fc.assert(
      fc.asyncProperty(arb, async (p) => {
        const x = T.tensor('x', { shape: [null, p.h, p.w, p.c], dtype: p.dtype });
        const k = T.tensor('k', { shape: [p.kh, p.kw, p.c, p.o], dtype: p.dtype });
        const b = T.tensor('b', { shape: [p.o], dtype: p.dtype });
        const conv = T.relu(
          T.add(T.conv2d(x, k, { strides: p.stride, padding: p.padding, dataFormat: 'channelsLast' }), b),
        );
        const pooled = T.maxPool2d(conv, { poolSize: 2, strides: 2, padding: 'valid', dataFormat: 'channelsLast' });
        const [fused, apart] = await withThreads(p.threads, async () => [
          await T.compile([x, k, b], pooled, { mode: 'wasm' }),
          // the convolution's own value is an output too: it is stored, and pooled by the pooling kernel
          await T.compile([x, k, b], [pooled, conv], { mode: 'wasm' }),
        ]);
        const js = await T.compile([x, k, b], pooled, { mode: 'js' });
        expect(fused.stats.rewrites['conv_pool_fusion']).toBe(1);
        expect(apart.stats.rewrites['conv_pool_fusion'] ?? 0).toBe(0);
        const X = T.randomUniform([p.n, p.h, p.w, p.c], { seed: p.h * 7 + p.o, minval: -1, maxval: 1, dtype: p.dtype });
        if (p.nan) X.data[(p.h * 5) % X.size] = NaN;
        const K = T.randomUniform([p.kh, p.kw, p.c, p.o], { seed: p.o, minval: -1, maxval: 1, dtype: p.dtype });
        const B = T.randomUniform([p.o], { seed: 3, minval: -1, maxval: 1, dtype: p.dtype });
        const a = fused(X, K, B);
        expect(fused.stats.referenceSteps).toBe(0);
        expect(fused.stats.referenceFallbacks ?? 0).toBe(0);
        expect(Array.from(a.data)).toEqual(Array.from(apart(X, K, B)[0]!.data));
        const [tolerance, floor] = p.dtype === 'float64' ? [1e-12, 1e-13] : [1e-4, 1e-5];
        expect(agreeF32(a.data, js(X, K, B).data, tolerance, floor)).toBeUndefined();
      }),
      { numRuns: 40 },
    );
  });
});

describe('pooling on wasm', () => {
  it('max pooling agrees exactly, average pooling and the gradients closely, with the reference (float32 and float64, both data formats, windows cut by the border)', async () => {
    const arb = fc
      .record({
        n: fc.integer({ min: 1, max: 2 }),
        h: fc.integer({ min: 1, max: 9 }),
        w: fc.integer({ min: 1, max: 9 }),
        c: fc.constantFrom(2, 4, 6, 8),
        k: fc.integer({ min: 1, max: 3 }),
        s: fc.integer({ min: 1, max: 3 }),
        padding: fc.constantFrom('same' as const, 'valid' as const),
        dataFormat: fc.constantFrom('channelsLast' as const, 'channelsFirst' as const),
        dtype: fc.constantFrom('float32' as const, 'float64' as const),
      })
      .filter(
        (p) => (p.padding === 'same' || p.k <= Math.min(p.h, p.w)) && p.c % (p.dtype === 'float64' ? 2 : 4) === 0,
      ); // a vector of channels
    await fc.assert(
      fc.asyncProperty(arb, async (p) => {
        const xShape = p.dataFormat === 'channelsLast' ? [p.n, p.h, p.w, p.c] : [p.n, p.c, p.h, p.w];
        const x = T.tensor('x', { shape: [null, ...xShape.slice(1)], dtype: p.dtype });
        const options = { poolSize: p.k, strides: p.s, padding: p.padding, dataFormat: p.dataFormat };
        const [maxed, pooled] = [T.maxPool2d(x, options), T.avgPool2d(x, options)];
        const outs = [
          maxed,
          pooled,
          T.grad(T.sum(T.mul(pooled, T.sin(pooled))), x),
          T.grad(T.sum(T.mul(maxed, T.cos(maxed))), x),
        ];
        const wasm = await T.compile([x], outs, { mode: 'wasm' });
        const js = await T.compile([x], outs, { mode: 'js' });
        expect(wasm.program.steps.filter((s) => /^(max|avg)Pool2d/.test(s.op) && s.kernel !== undefined)).toHaveLength(
          4,
        );
        const X = T.randomNormal(xShape, { seed: p.h * 13 + p.w, dtype: p.dtype });
        const [a, b] = [wasm(X), js(X)];
        expect(a.map((v) => v.dtype)).toEqual(outs.map(() => p.dtype));
        expect(Array.from(a[0]!.data)).toEqual(Array.from(b[0]!.data));
        a.slice(1).forEach((v, i) => expect(agreeF32(v.data, b[i + 1]!.data, 1e-5, 1e-6)).toBeUndefined());
      }),
      { numRuns: 60 },
    );
  });
});

describe('conv2d epilogues on wasm', () => {
  it('bias, per-pixel value or scalar, then an activation, inside the convolution kernel, agree with the reference, float32 and float64', async () => {
    const arb = fc
      .record({
        h: fc.integer({ min: 3, max: 9 }),
        c: fc.integer({ min: 1, max: 5 }),
        o: fc.integer({ min: 1, max: 11 }),
        k: fc.integer({ min: 1, max: 3 }),
        stride: fc.integer({ min: 1, max: 2 }),
        padding: fc.constantFrom('same' as const, 'valid' as const),
        operand: fc.constantFrom('row', 'column', 'scalar'),
        act: fc.constantFrom('relu', 'tanh', 'gelu'),
        dtype: fc.constantFrom('float32' as const, 'float64' as const),
      })
      .filter((p) => (p.padding === 'same' || p.k <= p.h) && (p.operand !== 'column' || p.o > 1)); // one output channel: a column is the whole array
    await fc.assert(
      fc.asyncProperty(arb, async (p) => {
        const x = T.tensor('x', { shape: [2, p.h, p.h, p.c], dtype: p.dtype });
        const k = T.tensor('k', { shape: [p.k, p.k, p.c, p.o], dtype: p.dtype });
        const y = T.conv2d(x, k, { strides: p.stride, padding: p.padding, dataFormat: 'channelsLast' });
        const outShape = y.shape as number[];
        const cShape = p.operand === 'row' ? [p.o] : p.operand === 'column' ? [...outShape.slice(0, 3), 1] : [];
        const c = T.tensor('c', { shape: cShape, dtype: p.dtype });
        const out = T[p.act](T.add(y, c));
        const wasm = await T.compile([x, k, c], out, { mode: 'wasm' });
        const js = await T.compile([x, k, c], out, { mode: 'js' });
        expect(wasm.stats.rewrites['matmul_epilogue_fusion']).toBe(1);
        expect(wasm.program.steps.map((s) => [s.op, s.kernel !== undefined])).toEqual([['fused', true]]);
        const X = T.randomUniform([2, p.h, p.h, p.c], { seed: p.h + p.c, minval: -1, maxval: 1, dtype: p.dtype });
        const K = T.randomUniform([p.k, p.k, p.c, p.o], { seed: p.o, minval: -1, maxval: 1, dtype: p.dtype });
        const C = T.randomUniform(cShape, { seed: 9, minval: -1, maxval: 1, dtype: p.dtype });
        const [tolerance, floor] = p.dtype === 'float64' ? [1e-12, 1e-13] : [1e-4, 1e-5];
        expect(agreeF32(wasm(X, K, C).data, js(X, K, C).data, tolerance, floor)).toBeUndefined();
        expect(wasm.stats.referenceFallbacks ?? 0).toBe(0);
      }),
      { numRuns: 40 },
    );
  });
});

describe('max pooling gradient on wasm', () => {
  it('sends the gradient of each window to the first position of its maximum, as the reference (ties, NaN, overlapping windows)', async () => {
    const arb = fc
      .record({
        h: fc.integer({ min: 1, max: 9 }),
        w: fc.integer({ min: 1, max: 9 }),
        c: fc.constantFrom(4, 8, 12),
        n: fc.integer({ min: 1, max: 3 }),
        pool: fc.integer({ min: 1, max: 3 }),
        stride: fc.integer({ min: 1, max: 3 }),
        padding: fc.constantFrom('same' as const, 'valid' as const),
        seed: fc.integer({ min: 0, max: 1000 }),
        dataFormat: fc.constantFrom('channelsLast' as const, 'channelsFirst' as const),
      })
      .filter((p) => p.padding === 'same' || (p.pool <= p.h && p.pool <= p.w));
    await fc.assert(
      fc.asyncProperty(arb, async (p) => {
        const xShape = p.dataFormat === 'channelsLast' ? [p.n, p.h, p.w, p.c] : [p.n, p.c, p.h, p.w];
        const x = T.tensor('x', {
          shape: p.dataFormat === 'channelsLast' ? [null, null, null, p.c] : [null, p.c, null, null],
        });
        const pooled = T.maxPool2d(x, {
          poolSize: p.pool,
          strides: p.stride,
          padding: p.padding,
          dataFormat: p.dataFormat,
        });
        const grad = T.grad(T.sum(T.mul(pooled, T.sin(pooled))), x);
        const wasm = await T.compile([x], grad, { mode: 'wasm' });
        const js = await T.compile([x], grad, { mode: 'js' });
        expect(wasm.program.steps.some((s) => s.op === 'maxPool2dGrad' && s.kernel !== undefined)).toBe(true);
        // Small integers make ties common; one NaN now and then.
        const data = Array.from({ length: p.n * p.h * p.w * p.c }, (_, i) =>
          (i * 7919 + p.seed) % 13 === 0 && p.seed % 3 === 0 ? NaN : ((i * 31 + p.seed) % 5) - 2,
        );
        const X = T.array(Float32Array.from(data), { shape: xShape });
        expect(agreeF32(wasm(X).data, js(X).data)).toBeUndefined();
      }),
      { numRuns: 60 },
    );
  });
});

describe('conv2d gradients on wasm', () => {
  it('agree with the reference kernels', async () => {
    const arb = fc
      .record({
        h: fc.integer({ min: 3, max: 8 }),
        c: fc.integer({ min: 1, max: 4 }),
        o: fc.integer({ min: 1, max: 9 }),
        k: fc.integer({ min: 1, max: 3 }),
        stride: fc.integer({ min: 1, max: 2 }),
        dilation: fc.integer({ min: 1, max: 2 }),
        padding: fc.constantFrom('same' as const, 'valid' as const),
        dataFormat: fc.constantFrom('channelsLast' as const, 'channelsFirst' as const),
      })
      .filter(
        (p) => (p.stride === 1 || p.dilation === 1) && (p.padding === 'same' || (p.k - 1) * p.dilation + 1 <= p.h),
      );
    await fc.assert(
      fc.asyncProperty(arb, async (p) => {
        const xShape = p.dataFormat === 'channelsLast' ? [2, p.h, p.h, p.c] : [2, p.c, p.h, p.h];
        const x = T.tensor('x', { shape: xShape });
        const k = T.tensor('k', { shape: [p.k, p.k, p.c, p.o] });
        const y = T.conv2d(x, k, {
          strides: p.stride,
          dilation: p.dilation,
          padding: p.padding,
          dataFormat: p.dataFormat,
        });
        const cost = T.sum(T.mul(y, T.sin(y)));
        const grads = T.grad(cost, [x, k]);
        const wasm = await T.compile([x, k], grads, { mode: 'wasm' });
        expect(wasm.program.steps.filter((s) => s.op.startsWith('conv2dGrad') && s.kernel !== undefined)).toHaveLength(
          2,
        );
        const js = await T.compile([x, k], grads, { mode: 'js' });
        const X = T.randomUniform(xShape, { seed: p.h + p.c, minval: -1, maxval: 1 });
        const K = T.randomUniform([p.k, p.k, p.c, p.o], { seed: p.o, minval: -1, maxval: 1 });
        const [a, b] = [wasm(X, K), js(X, K)];
        a.forEach((g, i) => expect(agreeF32(g.data, b[i]!.data)).toBeUndefined());
      }),
      { numRuns: 30 },
    );
  });
});

describe('bool values in wasm kernels', () => {
  it('bool inputs and outputs (masks) agree with the reference, including odd lengths and NaN', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 23 }), fc.integer({ min: 1, max: 3 }), async (n, rows) => {
        const x = T.matrix('x');
        const y = T.matrix('y');
        const keep = T.tensor('keep', { dtype: 'bool', shape: [null, null] });
        const m1 = T.gt(x, y);
        const outs = [
          m1,
          T.where(keep, T.mul(x, 2), y),
          T.cast(T.and(keep, T.le(x, 0)), 'float32'),
          T.cast(x, 'bool'),
          T.eq(m1, keep),
          T.lt(m1, keep),
          T.ge(keep, m1),
          T.cast(T.maximum(T.cast(m1, 'float32'), T.cast(keep, 'float32')), 'float32'),
        ];
        const wasm = await T.compile([x, y, keep], outs, { mode: 'wasm' });
        const js = await T.compile([x, y, keep], outs, { mode: 'js' });
        expect(wasm.stats.wasmKernels).toBeGreaterThan(0);
        const X = T.randomNormal([rows, n], { seed: n });
        X.data[0] = NaN;
        const Y = T.randomNormal([rows, n], { seed: n + 1 });
        const K = T.array(
          Array.from({ length: rows }, (_, r) => Array.from({ length: n }, (_, i) => (i * 7 + r) % 3 === 0)),
        );
        const [a, b] = [wasm(X, Y, K), js(X, Y, K)];
        a.forEach((v, i) => {
          expect(v.dtype).toBe(b[i]!.dtype);
          expect(Array.from(v.data)).toEqual(Array.from(b[i]!.data));
        });
      }),
      { numRuns: 30 },
    );
  });
});
