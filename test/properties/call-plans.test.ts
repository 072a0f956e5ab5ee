import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import { agreeF32 } from '../helpers/agree.js';
import { withThreads } from '../helpers/run.js';

/**
 * Calls after the first of each input shape run the call plan the first one recorded: one call into
 * wasm. These properties draw random programs mixing shape ops, elementwise work, reductions and
 * products, and require the planned calls to give, bit for bit, what a function running its first
 * call step by step gives on the same data (at any thread count), and the reference's values.
 */

type Shape = readonly [number, number];
/** One stage of a program over a matrix: the expression and the shape it leaves. */
interface Stage {
  readonly name: string;
  readonly apply: (x: T.Node, shape: Shape) => [T.Node, Shape];
}

const STAGES: readonly Stage[] = [
  { name: 'tanh', apply: (x, s) => [T.tanh(T.add(T.mul(x, 0.5), 0.25)), s] },
  { name: 'transpose', apply: (x, [r, c]) => [T.transpose(x), [c, r]] },
  { name: 'slice', apply: (x, [r, c]) => [T.index(x, '::2', '1:'), [Math.ceil(r / 2), Math.max(0, c - 1)]] },
  { name: 'concat', apply: (x, [r, c]) => [T.concat([x, T.exp(T.neg(T.abs(x)))], 1), [r, 2 * c]] },
  {
    name: 'pad',
    apply: (x, [r, c]) => [
      T.pad(x, [
        [1, 0],
        [0, 2],
      ]),
      [r + 1, c + 2],
    ],
  },
  { name: 'center', apply: (x, s) => [T.sub(x, T.mean(x, 1, true)), s] },
  { name: 'max', apply: (x, [, c]) => [T.max(x, 0, true), [1, c]] },
  { name: 'softmax', apply: (x, s) => [T.softmax(x, -1), s] },
  { name: 'gram', apply: (x, [r]) => [T.mul(T.dot(x, T.transpose(x)), 0.1), [r, r]] },
  { name: 'reshape', apply: (x, [r, c]) => [T.reshape(x, [c, r]), [c, r]] },
];

const program = (small: boolean) =>
  fc.record({
    dtype: fc.constantFrom('float32' as const, 'float64' as const),
    rows: small ? fc.integer({ min: 1, max: 24 }) : fc.integer({ min: 200, max: 320 }),
    cols: small ? fc.integer({ min: 1, max: 24 }) : fc.integer({ min: 240, max: 320 }),
    stages: fc.array(fc.constantFrom(...STAGES), { minLength: 1, maxLength: 6 }),
    seeds: fc.tuple(fc.integer(), fc.integer()),
  });

/** The program's graph; its output is also summed, so a product of two outputs leaves the module. */
function build(stages: readonly Stage[], dtype: 'float32' | 'float64', rows: number, cols: number) {
  const x = T.tensor('x', { dtype, shape: [null, cols] });
  let shape: Shape = [rows, cols];
  let out: T.Node = x;
  const along: T.Node[] = [];
  for (const s of stages) {
    if (shape[0] === 0 || shape[1] === 0) break;
    along.push(out);
    [out, shape] = s.apply(out, shape);
  }
  return { x, outputs: [out, T.sum(out)], along };
}

const valuesOf = (seed: number, rows: number, cols: number, dtype: 'float32' | 'float64') =>
  T.randomUniform([rows, cols], { seed, minval: -2, maxval: 2, dtype });

const sameBits = (a: T.NDArray, b: T.NDArray) =>
  a.shape.join() === b.shape.join() && Array.from(a.data).every((v, i) => Object.is(v, b.data[i]));

interface Drawn {
  dtype: 'float32' | 'float64';
  rows: number;
  cols: number;
  stages: Stage[];
  seeds: [number, number];
}

async function check({ dtype, rows, cols, stages, seeds }: Drawn) {
  const [first, second] = seeds.map((s) => valuesOf(s, rows, cols, dtype)) as [T.NDArray, T.NDArray];
  const { x, outputs, along } = build(stages, dtype, rows, cols);
  const reference = (await T.compile([x], outputs, { mode: 'js' }))(second);
  // Every value the program computed on the way: a stage that cancels (x - mean(x) of nearly equal
  // values) keeps only the rounding of what it read, so that is what tolerances scale with.
  const intermediate = along.length ? (await T.compile([x], along, { mode: 'js' }))(second) : [];
  const results: T.NDArray[][] = [];
  for (const threads of [1, 2, 3]) {
    const planned = await withThreads(threads, () => T.compile([x], outputs));
    const stepByStep = await withThreads(threads, () => T.compile([x], outputs));
    const entries = () => planned.stats.wasmEntries ?? 0;
    planned(first);
    const before = entries();
    const replayed = [planned(second), planned(second)];
    // Each planned call is one call into wasm (two programs of pure shape work need none at all).
    expect(entries() - before).toBeLessThanOrEqual(2);
    const direct = stepByStep(second);
    for (const r of replayed) direct.forEach((d, k) => expect(sameBits(r[k]!, d), `output ${k}`).toBe(true));
    expect(planned.stats.referenceFallbacks ?? 0).toBe(0);
    results.push(direct);
  }
  for (const r of results.slice(1)) r.forEach((v, k) => expect(sameBits(v, results[0]![k]!)).toBe(true));
  // Against the reference, within rounding: of the matrix's largest value, and for its sum, of the
  // sum of its magnitudes (a sum near zero keeps only the rounding of its terms, in either order).
  const largest = [reference[0]!, ...intermediate].reduce(
    (m, a) => Array.from(a.data).reduce((n, v) => Math.max(n, Math.abs(v)), m),
    1,
  );
  const sum = (a: T.NDArray) => Array.from(a.data).reduce((s, v) => s + Math.abs(v), 0);
  const spread = Math.max(sum(reference[0]!), ...intermediate.map((a) => (a.size === reference[0]!.size ? sum(a) : 0)));
  const tolerance = [largest * 1e-5, (spread + 1) * 1e-6];
  results[0]!.forEach((v, k) => expect(agreeF32(v.data, reference[k]!.data, 1e-4, tolerance[k])).toBeUndefined());
}

describe('planned calls (one call into wasm) equal step-by-step calls', () => {
  it('random programs of shape ops, elementwise work, reductions and products, float32 and float64', () =>
    fc.assert(fc.asyncProperty(program(true), check), { numRuns: 60 }));

  it('the same, big enough that kernels split across threads', () =>
    fc.assert(fc.asyncProperty(program(false), check), { numRuns: 6 }));
});
