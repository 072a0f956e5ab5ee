import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import { checkGradient } from '../helpers/gradcheck.js';
import { inRange } from '../helpers/arbitraries.js';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { exportFunction } from '../../src/export/index.js';

/** Loop bodies (x_t, h, W) => new h, mixing elementwise work, a product with a non-sequence and reductions. */
const BODIES: Record<string, (x: T.Node, h: T.Node, w: T.Node) => T.Node> = {
  'tanh(x + h·W)': (x, h, w) => T.tanh(T.add(x, T.dot(h, w))),
  'tanh(x·W + h)': (x, h, w) => T.tanh(T.add(T.dot(x, w), h)),
  'h·sigmoid(x) + x': (x, h) => T.add(T.mul(h, T.sigmoid(x)), x),
  'h - mean(h)·x': (x, h) => T.sub(h, T.mul(T.mean(h, -1, true), x)),
  'max(h, x)·W / (1 + sum|h|)': (x, h, w) => T.div(T.dot(T.maximum(h, x), w), T.add(1, T.sum(T.abs(h), -1, true))),
};

/** The same loop, run here one step at a time with a compiled body: what scan must equal. */
async function stepByStep(
  body: (x: T.Node, h: T.Node, w: T.Node) => T.Node,
  x: T.NDArray,
  h0: T.NDArray,
  w: T.NDArray,
  mode: T.Mode,
  backwards: boolean,
): Promise<number[][]> {
  const [xt, h, wn] = [
    T.tensor('xt', { shape: x.shape.slice(1), dtype: x.dtype }),
    T.tensor('h', { shape: h0.shape, dtype: h0.dtype }),
    T.tensor('w', { shape: w.shape, dtype: w.dtype }),
  ];
  const step = await T.compile([xt, h, wn], body(xt, h, wn), { mode });
  const rows = x.shape[0]!;
  const width = x.size / rows;
  let state = h0;
  const out: number[][] = [];
  for (let t = 0; t < rows; t++) {
    const r = backwards ? rows - 1 - t : t;
    const slice = T.array(x.data.slice(r * width, (r + 1) * width) as Float32Array, { shape: x.shape.slice(1) });
    state = step(slice.astype(x.dtype), state, w);
    out.push(Array.from(state.data));
  }
  return out;
}

const close = (a: ArrayLike<number>, b: ArrayLike<number>, rel: number) => {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThanOrEqual(rel * (1 + Math.abs(b[i]!)));
};

describe('T.scan', () => {
  it('equals the loop run one step at a time, for random bodies, sizes and directions, in both modes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...Object.keys(BODIES)),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 4 }),
        fc.boolean(),
        fc.constantFrom<T.Mode>('js', 'wasm'),
        fc.constantFrom<T.DType>('float32', 'float64'),
        fc.integer({ min: 1, max: 1000 }),
        async (name, steps, batch, width, backwards, mode, dtype, seed) => {
          const body = BODIES[name]!;
          const x = T.randomNormal([steps, batch, width], { seed, dtype });
          const h0 = T.randomNormal([batch, width], { seed: seed + 1, dtype });
          const w = T.randomNormal([width, width], { seed: seed + 2, dtype });
          const [xs, hs, ws] = [
            T.tensor('x', { shape: [steps, batch, width], dtype }),
            T.tensor('h0', { shape: [batch, width], dtype }),
            T.tensor('W', { shape: [width, width], dtype }),
          ];
          const [outputs] = T.scan((xt, h, wn) => body(xt!, h!, wn!), {
            sequences: xs,
            outputsInfo: hs,
            nonSequences: ws,
            goBackwards: backwards,
          });
          const f = await T.compile([xs, hs, ws], outputs as T.Node, { mode });
          const got = f(x, h0, w);
          expect(got.shape).toEqual([steps, batch, width]);
          const expected = await stepByStep(body, x, h0, w, mode, backwards);
          close(got.data, expected.flat(), dtype === 'float64' ? 1e-12 : 1e-5);
          if (mode === 'wasm') expect(f.stats.referenceSteps).toBe(0);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('gradients through the loop match finite differences for sequences, initial states and non-sequences', async () => {
    const data = (shape: number[], seed: number) => ({
      shape,
      data: Array.from(T.randomNormal(shape, { seed, dtype: 'float64' }).data, (v) => 0.5 * v),
    });
    for (const [name, body] of Object.entries(BODIES))
      await checkGradient(
        [data([4, 2, 3], 1), data([2, 3], 2), data([3, 3], 3)],
        ([x, h, w]) => {
          const [out] = T.scan((xt, ht, wt) => body(xt!, ht!, wt!), {
            sequences: x!,
            outputsInfo: h!,
            nonSequences: w!,
          });
          return out as T.Node; // every step's output counts, not only the last
        },
        name.includes('W') ? [0, 1, 2] : [0, 1],
      );
  });

  it('nested loops: gradients through a scan inside the body', async () => {
    await checkGradient(
      [
        { shape: [3, 4], data: Array.from({ length: 12 }, (_, i) => Math.sin(i)) },
        { shape: [4], data: [0.1, -0.2, 0.3, 0.05] },
      ],
      ([x, h0]) => {
        const [outer] = T.scan(
          (row: T.Node, h: T.Node) => {
            // the inner loop runs over the row's elements: a running product with the state
            const [inner] = T.scan((v: T.Node, acc: T.Node) => T.tanh(T.add(T.mul(acc, 0.9), T.mul(v, h))), {
              sequences: row,
              outputsInfo: T.zerosLike(h),
            });
            return T.add(h, T.index(inner as T.Node, -1));
          },
          { sequences: x!, outputsInfo: h0! },
        );
        return outer as T.Node;
      },
    );
  });

  it('taps: outputs read several steps back, sequences read around the step (Theano semantics)', async () => {
    const init = T.tensor('init', { shape: [2] });
    const [fib] = T.scan((a, b) => T.add(a!, b!), { outputsInfo: { initial: init, taps: [-2, -1] }, nSteps: 10 });
    const f = await T.compile([init], fib as T.Node);
    const expected = [0, 1];
    for (let i = 0; i < 10; i++) expected.push(expected[i]! + expected[i + 1]!);
    expect(Array.from(f(T.array([0, 1])).data)).toEqual(expected.slice(2));

    await fc.assert(
      fc.asyncProperty(fc.array(inRange(-10, 10), { minLength: 3, maxLength: 9 }), async (values) => {
        const x = T.tensor('x', { shape: [values.length], dtype: 'float64' });
        // a centred difference: x[t+1] - x[t-1], for t = 1 .. n-2
        const [d] = T.scan((prev, _now, next) => T.sub(next!, prev!), { sequences: { input: x, taps: [-1, 0, 1] } });
        const got = (await T.compile([x], d as T.Node))(T.array(Float64Array.from(values)));
        expect(Array.from(got.data)).toEqual(values.slice(2).map((v, i) => v - values[i]!));
      }),
      { numRuns: 20 },
    );
  });

  it('outputs that are not fed back, several outputs, and updates of shared variables step by step', async () => {
    const x = T.tensor('x', { shape: [5] });
    const counter = T.shared(T.array([10]), 'counter');
    const [outs, updates] = T.scan(
      (xt, total) => [[T.add(total!, xt!), T.mul(xt!, counter)], new Map([[counter, T.add(counter, 1)]])],
      { sequences: x, outputsInfo: [T.zeros([]), null] },
    );
    const [totals, scaled] = outs as T.Node[];
    const f = await T.compile([x], [totals!, scaled!], { updates });
    const [t, s] = f(T.array([1, 2, 3, 4, 5]));
    expect(Array.from(t!.data)).toEqual([1, 3, 6, 10, 15]);
    // step k reads the counter the step before it left: 10, 11, ...
    expect(Array.from(s!.data)).toEqual([10, 22, 36, 52, 70]);
    expect(Array.from(counter.get().data)).toEqual([15]);
  });

  it("a product of each step's slice with the same matrix is one product for the whole sequence", () => {
    const x = T.tensor('x', { shape: [7, 2, 3] });
    const w = T.tensor('W', { shape: [3, 3] });
    const u = T.tensor('U', { shape: [3, 3] });
    const h0 = T.tensor('h0', { shape: [2, 3] });
    const [hs] = T.scan((xt, h) => T.tanh(T.add(T.dot(xt!, w), T.dot(h!, u))), { sequences: x, outputsInfo: h0 });
    const products = (root: T.Node) => {
      const seen = new Set<T.Node>();
      const visit = (n: T.Node): void => {
        if (seen.has(n)) return;
        seen.add(n);
        n.inputs.forEach(visit);
      };
      visit(root);
      return [...seen].filter((n) => n.op === 'dot');
    };
    const dots = products(hs as T.Node);
    // 7 recurrent products h·U, and x·W once for all 7 steps (not 7 times)
    expect(dots.filter((d) => d.inputs[1] === u)).toHaveLength(7);
    expect(dots.filter((d) => d.inputs[1] === w).map((d) => d.inputs[0])).toEqual([x]);
  });

  it('a compiled loop makes one call into wasm per call, whatever the number of steps', async () => {
    const x = T.tensor('x', { shape: [32, 4, 8] });
    const h0 = T.tensor('h0', { shape: [4, 8] });
    const w = T.shared(T.randomNormal([8, 8], { seed: 4 }), 'W');
    const [hs] = T.scan((xt, h) => T.tanh(T.add(xt!, T.dot(h!, w))), { sequences: x, outputsInfo: h0 });
    const f = await T.compile([x, h0], hs as T.Node);
    const args = [T.randomNormal([32, 4, 8], { seed: 5 }), T.zeros([4, 8])] as const;
    f(...args);
    const before = f.stats.wasmEntries!;
    f(...args);
    f(...args);
    expect(f.stats.wasmEntries! - before).toBe(2);
    expect(f.stats.referenceSteps).toBe(0);
  });

  it('bad loops are errors that name the body and what disagrees', () => {
    const x = T.tensor('x', { shape: [4, 3] });
    const h0 = T.tensor('h0', { shape: [3] });
    function step(xt: T.Node, h: T.Node) {
      return [T.add(xt, h), xt];
    }
    expect(() => T.scan(step as never, { sequences: x, outputsInfo: h0 })).toThrow(
      /scan\(step\): the body returned 2 outputs, outputsInfo lists 1/,
    );
    const wide = T.tensor('wide', { shape: [4, 2, 3] });
    expect(() => T.scan((xt, h) => T.add(xt!, h!), { sequences: wide, outputsInfo: h0 })).toThrow(
      /output 0 has shape \[2, 3\] at step 0, its initial value \[3\]; a fed-back output must keep its shape/,
    );
    expect(() => T.scan((xt, h) => T.add(xt!, h!), { sequences: x, outputsInfo: h0, nSteps: 6 })).toThrow(
      /sequences\[0\] \(x \[4, 3\]\) is shorter than nSteps 6/,
    );
    const open = T.tensor('open', { shape: [null, 2, 3] });
    expect(() => T.scan((xt, h) => T.add(xt!, h!), { sequences: open, outputsInfo: h0 })).toThrow(
      /output 0 has shape \[2, 3\], its initial value \[3\]; a fed-back output must keep its shape/,
    );
    const h64 = T.tensor('h64', { shape: [3], dtype: 'float64' });
    expect(() => T.scan((xt, h) => T.cast(T.add(xt!, h!), 'float32'), { sequences: x, outputsInfo: h64 })).toThrow(
      /output 0 is float32 at step 0, its initial value float64/,
    );
    expect(() => T.scan((xt) => xt!, { sequences: x, outputsInfo: null, nStep: 3 } as never)).toThrow(
      /scan: unknown option 'nStep'/,
    );
  });
});

/**
 * `loopOver` compiled over sequences of unknown length, and for each length in `lengths` over the same
 * steps known when built (with `extra` rows more than steps): each call gives the same outputs.
 */
async function againstBuiltOut(
  loopOver: (x: T.Node) => T.Node[],
  h0: T.Node,
  [batch, width]: readonly [number, number],
  lengths: readonly number[],
  extra: number,
  mode: T.Mode,
  seed: number,
) {
  const open = T.tensor('x', { shape: [null, batch, width] });
  const deferred = await T.compile([open, h0], loopOver(open), { mode });
  for (const steps of lengths) {
    const x = T.randomNormal([steps + extra, batch, width], { seed: seed + steps });
    const h = T.randomNormal(h0.shape as number[], { seed: seed + 7 });
    const known = T.tensor('x', { shape: [steps + extra, batch, width] });
    const expected = (await T.compile([known, h0], loopOver(known), { mode }))(x, h);
    deferred(x, h).forEach((g, i) => {
      expect(g.shape).toEqual(expected[i]!.shape);
      close(g.data, Array.from(expected[i]!.data), 1e-5);
    });
  }
  return deferred;
}

describe('T.scan over a number of steps known only at call time', () => {
  it('equals the loop over the same steps known when built: values and gradients, any length, both modes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...Object.keys(BODIES)),
        fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 3 }),
        fc.boolean(),
        fc.constantFrom<T.Mode>('js', 'wasm'),
        fc.integer({ min: 1, max: 1000 }),
        async (name, lengths, backwards, mode, seed) => {
          const body = BODIES[name]!;
          const [batch, width] = [2, 3];
          const w = T.shared(T.randomNormal([width, width], { seed, stddev: 0.5 }), 'W');
          const h0 = T.tensor('h0', { shape: [batch, width] });
          const loopOver = (x: T.Node) => {
            const [hs] = T.scan((xt, h) => body(xt!, h!, w), { sequences: x, outputsInfo: h0, goBackwards: backwards });
            const cost = T.sum(T.square(hs as T.Node));
            return [hs as T.Node, ...T.grad(cost, [w, h0], { disconnected: 'zero' })];
          };
          const deferred = await againstBuiltOut(loopOver, h0, [batch, width], lengths, 0, mode, seed);
          // The gradient too runs as a loop: the body's vector-Jacobian product, steps backwards; in wasm
          // each loop is one call into its body's module (the forward loop, then the reverse one).
          expect(deferred.stats.loops).toBe('run');
          expect(deferred.stats.loopsInWasm).toBe(mode === 'wasm' ? 2 : 0);
        },
      ),
      { numRuns: 20 },
    );
  });

  it('runs as a loop, its gradient as a reverse loop (each body compiled once): equals the built-out loop, taps and all', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...Object.keys(BODIES)),
        fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 3 }),
        fc.boolean(),
        fc.constantFrom<T.Mode>('js', 'wasm'),
        fc.integer({ min: 1, max: 1000 }),
        async (name, lengths, backwards, mode, seed) => {
          const body = BODIES[name]!;
          const [batch, width] = [2, 3];
          const w = T.shared(T.randomNormal([width, width], { seed, stddev: 0.5 }), 'W');
          const h0 = T.tensor('h0', { shape: [2, batch, width] });
          // Two steps back and the step itself, a second sequence read one step ahead, an output not fed back.
          const loopOver = (x: T.Node) => {
            const [[hs, extra]] = T.scan(
              (xt, xNext, hBack2, hBack1) => {
                const h = body(T.add(xt!, T.mul(xNext!, 0.5)), T.add(hBack1!, T.mul(hBack2!, 0.25)), w);
                return [h, T.sum(h, -1)];
              },
              {
                sequences: [{ input: x, taps: [0, 1] }],
                outputsInfo: [{ initial: h0, taps: [-2, -1] }, null],
                goBackwards: backwards,
              },
            ) as [[T.Node, T.Node], unknown];
            const cost = T.add(T.sum(T.square(hs)), T.sum(T.mul(extra, extra)));
            return [hs, extra, ...T.grad(cost, [w, h0, x], { disconnected: 'zero' })];
          };
          // One step more than the loop runs: the last step reads one ahead.
          const deferred = await againstBuiltOut(loopOver, h0, [batch, width], lengths, 1, mode, seed);
          expect(deferred.stats.loops).toBe('run');
          // The forward loop, and one reverse loop per output the cost reads.
          expect(deferred.stats.loopsInWasm).toBe(mode === 'wasm' ? 3 : 0);
          // Each program (the operands of the loop and of its gradients, the body and its vector-Jacobian
          // product with their loop-invariant prologues, the rest) is compiled once: a new length adds none.
          const programs = deferred.stats.programs;
          deferred(T.randomNormal([9, batch, width], { seed }), T.randomNormal([2, batch, width], { seed }));
          expect(deferred.stats.programs).toBe(programs);
        },
      ),
      { numRuns: 20 },
    );
  });

  it('gradients through a variable the body updates at each step, run as a reverse loop, equal the built-out ones', async () => {
    for (const mode of ['js', 'wasm'] as const)
      for (const steps of [1, 2, 5]) {
        const w = T.shared(T.array([0.7, -0.4, 0.9]), 'w');
        const acc = T.shared(T.array([0.1, 0.2, 0.3]), 'acc');
        const loopOver = (x: T.Node) => {
          const [hs, updates] = T.scan(
            (xt: T.Node, h: T.Node) => {
              const next = T.tanh(T.add(T.mul(xt, w), T.mul(h, acc)));
              return [next, new Map([[acc, T.add(T.mul(acc, 0.5), next)]])] as const;
            },
            { sequences: x, outputsInfo: T.constant(T.zeros([3])) },
          );
          const final = (updates as Map<unknown, T.Node>).get(acc)!;
          const cost = T.add(T.sum(hs as T.Node), T.sum(T.square(final)));
          return T.grad(cost, [w, x]);
        };
        const x = T.randomNormal([steps, 3], { seed: steps });
        const open = T.tensor('x', { shape: [null, 3] });
        const deferred = await T.compile([open], loopOver(open), { mode });
        const known = T.tensor('x', { shape: [steps, 3] });
        const expected = (await T.compile([known], loopOver(known), { mode }))(x);
        const got = deferred(x);
        expect(deferred.stats.loops).toBe('run');
        expect(deferred.stats.loopsInWasm).toBe(mode === 'wasm' ? 3 : 0);
        got.forEach((g, i) => close(g.data, Array.from(expected[i]!.data), 1e-5));
        // The values against the same loop in plain JavaScript: each step reads acc as the step before left it
        // (the built-out loop read later values inside earlier steps from three steps on).
        const [hs, updates] = T.scan(
          (xt: T.Node, h: T.Node) => {
            const next = T.tanh(T.add(T.mul(xt, w), T.mul(h, acc)));
            return [next, new Map([[acc, T.add(T.mul(acc, 0.5), next)]])] as const;
          },
          { sequences: known, outputsInfo: T.constant(T.zeros([3])) },
        );
        const values = await T.compile([known], [hs as T.Node, (updates as Map<unknown, T.Node>).get(acc)!], { mode });
        const [h, a] = values(x);
        let [state, last] = [
          [0.1, 0.2, 0.3],
          [0, 0, 0],
        ];
        const rows: number[] = [];
        for (let t = 0; t < steps; t++) {
          last = last.map((v, i) => Math.tanh(x.data[t * 3 + i]! * [0.7, -0.4, 0.9][i]! + v * state[i]!));
          state = state.map((v, i) => 0.5 * v + last[i]!);
          rows.push(...last);
        }
        close(h!.data, rows, 1e-5);
        close(a!.data, state, 1e-5);
      }
  });

  it('a symbolic nSteps, shared-variable updates, and a loop that runs as a loop: compiled once for every length', async () => {
    const n = T.iscalar('n');
    const counter = T.shared(T.zeros([2]), 'counter');
    const [powers, updates] = T.scan(
      (previous: T.Node) => [T.mul(previous, 2), new Map([[counter, T.add(counter, previous)]])] as const,
      { outputsInfo: T.constant(T.ones([2])), nSteps: n },
    );
    const f = await T.compile([n], powers as T.Node, { updates });
    expect(Array.from(f(3).data)).toEqual([2, 2, 4, 4, 8, 8]);
    expect(Array.from(counter.get().data)).toEqual([7, 7]); // 1 + 2 + 4
    expect(f.stats.loops).toBe('run');
    const programs = f.stats.programs;
    // Ten lengths, one compile: the counter adds 2^n - 1 each call.
    for (let steps = 1; steps <= 10; steps++) {
      const before = counter.get().data[0]!;
      const out = f(steps);
      expect(out.shape).toEqual([steps, 2]);
      expect(out.data[2 * steps - 1]).toBe(2 ** steps);
      expect(counter.get().data[0]! - before).toBe(2 ** steps - 1);
    }
    expect(f.stats.programs).toBe(programs);
    expect(f(5).shape).toEqual([5, 2]);
    expect(() => f(0)).toThrow(/no step to run/);
    await expect(exportFunction(f, mkdtempSync(path.join(os.tmpdir(), 'deferred-')))).rejects.toThrow(
      /a number of steps known only at call time/,
    );
  });

  it('nested loops of unknown lengths, and a loop over a minibatch given by a symbolic slice', async () => {
    const m = T.matrix('m');
    const [outer] = T.scan(
      (row: T.Node, h: T.Node) => {
        const [inner] = T.scan((v: T.Node, a: T.Node) => T.add(T.mul(a, 0.5), v), {
          sequences: row,
          outputsInfo: T.constant(0),
        });
        return T.add(h, T.index(inner as T.Node, -1));
      },
      { sequences: m, outputsInfo: T.constant(0) },
    );
    const g = await T.compile([m], [outer as T.Node, T.grad(T.sum(outer as T.Node), m)]);
    for (const [rows, cols] of [
      [2, 3],
      [3, 2],
    ] as const) {
      const values = Array.from({ length: rows * cols }, (_, i) => i + 1);
      // h_r = h_{r-1} + sum_j 0.5^(cols-1-j) m[r][j]; d sum(h) / d m[r][j] = (rows - r) 0.5^(cols-1-j)
      const expected: number[] = [];
      let h = 0;
      for (let r = 0; r < rows; r++) {
        for (let j = 0; j < cols; j++) h += 0.5 ** (cols - 1 - j) * values[r * cols + j]!;
        expected.push(h);
      }
      const [hs, grad] = g(T.array(values, [rows, cols]));
      expect(Array.from(hs!.data)).toEqual(expected);
      expect(Array.from(grad!.data)).toEqual(
        values.map((_, k) => (rows - Math.floor(k / cols)) * 0.5 ** (cols - 1 - (k % cols))),
      );
    }

    const data = T.shared(
      T.array(
        Array.from({ length: 20 }, (_, i) => i),
        [10, 2],
      ),
      'data',
    );
    const [start, count] = [T.iscalar('start'), T.iscalar('count')];
    const x = T.matrix('x');
    const [sums] = T.scan((row: T.Node, acc: T.Node) => T.add(acc, row), {
      sequences: x,
      outputsInfo: T.constant(T.zeros([2])),
    });
    const f = await T.compile([start, count], T.index(sums as T.Node, -1), {
      givens: [[x, data.index([start, start.add(count)])]],
    });
    expect(Array.from(f(1, 3).data)).toEqual([2 + 4 + 6, 3 + 5 + 7]);
    expect(Array.from(f(5, 2).data)).toEqual([10 + 12, 11 + 13]);
  });

  it('gradients of gradients (a Hessian-vector product) through a loop of unknown length', async () => {
    const x = T.vector('x');
    const w = T.scalar('w');
    const [ys] = T.scan((xt: T.Node, h: T.Node) => T.tanh(T.add(T.mul(xt, w), h)), {
      sequences: x,
      outputsInfo: T.constant(0),
    });
    const cost = T.sum(T.square(ys as T.Node));
    const dw = T.grad(cost, w);
    const d2w = T.grad(dw, w);
    const f = await T.compile([x, w], [cost, dw, d2w], { mode: 'js' });
    const at = (v: number) => f(T.array([0.3, -0.5, 0.8]), v).map((a) => a.item());
    const [, g1, h1] = at(0.7);
    const eps = 1e-3;
    expect(g1).toBeCloseTo((at(0.7 + eps)[0]! - at(0.7 - eps)[0]!) / (2 * eps), 3);
    expect(h1).toBeCloseTo((at(0.7 + eps)[1]! - at(0.7 - eps)[1]!) / (2 * eps), 2);
  });
});

describe('checkpointed loop gradients', () => {
  it('agree bit for bit with stored ones, keep less, at every segment size, with taps and backwards, both modes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...Object.keys(BODIES)),
        fc.integer({ min: 1, max: 16 }),
        fc.integer({ min: 1, max: 5 }),
        fc.boolean(),
        fc.constantFrom<T.Mode>('js', 'wasm'),
        async (name, steps, segment, backwards, mode) => {
          const body = BODIES[name]!;
          const w = T.shared(T.randomNormal([3, 3], { seed: steps, stddev: 0.5 }), 'W');
          const h0 = T.tensor('h0', { shape: [2, 2, 3] });
          const x = T.tensor('x', { shape: [null, 2, 3] });
          const gradients = (checkpoint?: number) => {
            const [hs] = T.scan(
              (xt: T.Node, back2: T.Node, back1: T.Node) => body(xt, T.add(back1, T.mul(back2, 0.5)), w),
              {
                sequences: x,
                outputsInfo: { initial: h0, taps: [-2, -1] },
                goBackwards: backwards,
                ...(checkpoint ? { checkpoint } : {}),
              },
            );
            return T.compile([x, h0], T.grad(T.sum(T.square(hs as T.Node)), [w, x, h0], { disconnected: 'zero' }), {
              mode,
            });
          };
          const [stored, checkpointed] = await Promise.all([gradients(), gradients(segment)]);
          const xs = T.randomNormal([steps, 2, 3], { seed: steps + 1 });
          const hs0 = T.randomNormal([2, 2, 3], { seed: steps + 2 });
          const [a, b] = [stored(xs, hs0), checkpointed(xs, hs0)];
          a.forEach((g, i) => expect(Array.from(b[i]!.data)).toEqual(Array.from(g.data)));
          // A kept state is two rows here (taps -2 and -1), and a segment run again keeps two rows a step.
          // Stored steps keep two rows a step from JavaScript, and each output row once (initial rows
          // first) from a loop in wasm: checkpoints keep less once they take fewer rows.
          const storedRows = mode === 'wasm' ? steps + 2 : 2 * steps;
          if (steps >= 8 && segment >= 2 && 2 * (Math.ceil(steps / segment) + segment) < storedRows)
            expect(checkpointed.stats.loopStoredBytes!).toBeLessThan(stored.stats.loopStoredBytes!);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('a known number of steps runs as a loop once checkpointed; the option is checked', async () => {
    const x = T.tensor('x', { shape: [6, 3] });
    const [hs] = T.scan((xt: T.Node, h: T.Node) => T.tanh(T.add(xt, h)), {
      sequences: x,
      outputsInfo: T.zeros([3]),
      checkpoint: 2,
    });
    const f = await T.compile([x], T.grad(T.sum(hs as T.Node), x));
    expect(f.stats.loops).toBe('run');
    expect(() => T.scan((h: T.Node) => h, { outputsInfo: T.zeros([3]), nSteps: 3, checkpoint: 0 })).toThrow(
      /checkpoint must be a positive integer/,
    );
  });
});

describe('T.until: a loop that stops after the step where its condition holds', () => {
  it('runs the steps a JavaScript loop runs, values and gradients (by finite differences), both modes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.double({ min: -2, max: 3, noNaN: true }), { minLength: 1, maxLength: 8 }),
        fc.double({ min: 0.2, max: 1.6, noNaN: true }),
        fc.double({ min: 1, max: 12, noNaN: true }),
        fc.constantFrom<T.Mode>('js', 'wasm'),
        async (xs, w0, limit, mode) => {
          const x = T.dvector('x');
          const w = T.dscalar('w');
          const [hs] = T.scan(
            (xt: T.Node, h: T.Node) => {
              const next = T.add(T.mul(h, w), xt);
              return [next, T.until(T.gt(next, limit))];
            },
            { sequences: x, outputsInfo: T.constant(0, 'float64') },
          );
          const f = await T.compile([x, w], [hs as T.Node, T.grad(T.sum(hs as T.Node), w)], { mode });
          const reference = (wv: number) => {
            const out: number[] = [];
            let h = 0;
            for (const v of xs) {
              h = h * wv + v;
              out.push(h);
              if (h > limit) break;
            }
            return out;
          };
          const [values, gw] = f(Float64Array.from(xs), w0);
          expect(Array.from(values!.data)).toEqual(reference(w0).map((v) => expect.closeTo(v, 9)));
          // Away from a step where the condition flips, the derivative is that of the steps that ran.
          const e = 1e-6;
          const [up, down] = [reference(w0 + e), reference(w0 - e)];
          if (up.length === down.length && up.length === values!.size) {
            const sum = (a: number[]) => a.reduce((s, v) => s + v, 0);
            expect(gw!.item()).toBeCloseTo((sum(up) - sum(down)) / (2 * e), 4);
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('a known number of steps is the most it runs; until must come last', async () => {
    const limit = T.fscalar('limit');
    const [powers] = T.scan((p: T.Node) => [T.mul(p, 2), T.until(T.gt(T.mul(p, 2), limit))], {
      outputsInfo: T.constant(1),
      nSteps: 5,
    });
    const f = await T.compile([limit], powers as T.Node);
    expect(Array.from(f(40).data)).toEqual([2, 4, 8, 16, 32]);
    expect(Array.from(f(5).data)).toEqual([2, 4, 8]);
    expect(f.stats.loops).toBe('run');
    expect(() =>
      T.scan((p: T.Node) => [T.until(T.gt(p, 1)), p] as never, { outputsInfo: T.constant(1), nSteps: 3 }),
    ).toThrow(/T.until must be the last element/);
    expect(() => T.until(T.vector('v'))).toThrow(/until: the condition must be a scalar/);
    // A bound far beyond what a loop is built out to: a loop that stops runs as a loop, so it is no limit.
    const [doubling] = T.scan((p: T.Node) => [T.mul(p, 2), T.until(T.gt(T.mul(p, 2), 100))], {
      outputsInfo: T.constant(1),
      nSteps: 1e6,
    });
    expect(Array.from((await T.compile([], doubling as T.Node))().data)).toEqual([2, 4, 8, 16, 32, 64, 128]);
  });
});

describe("Theano's rule for the number of steps", () => {
  it('sequences of different lengths run as many steps as the shortest; a symbolic nSteps longer than a sequence is an error', async () => {
    const [a, b] = [T.dvector('a'), T.dvector('b')];
    const [sums] = T.scan((x: T.Node, y: T.Node) => T.add(x, y), { sequences: [a, b] });
    const f = await T.compile([a, b], sums as T.Node);
    expect(Array.from(f([1, 2, 3, 4], [10, 20]).data)).toEqual([11, 22]);
    const n = T.iscalar('n');
    const [prefix] = T.scan((x: T.Node) => T.mul(x, 2), { sequences: a, nSteps: n });
    const g = await T.compile([a, n], prefix as T.Node);
    expect(Array.from(g([1, 2, 3], 2).data)).toEqual([2, 4]);
    expect(() => g([1, 2, 3], 5)).toThrow(/sequences\[0\] has 3 steps, the loop needs 5 for 5 steps/);
  });
});
