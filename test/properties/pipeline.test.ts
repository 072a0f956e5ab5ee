import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import { toposort } from '../../compiler/ir/graph.js';
import { optimize } from '../../compiler/rewrite/pipeline.js';
import { anyValue, dataFor } from '../helpers/arbitraries.js';
import { bothWays, optimizerAgrees, passesThroughSubnormals } from '../helpers/optimizer.js';
import { randomGraph } from '../helpers/random-graph.js';

const options = { level: 'fast_run' as const, exclude: [], epsilon: 1e-7, verify: true };
const valuesFor = (shapes: number[][]) => fc.tuple(...shapes.map((s) => dataFor(s, anyValue)));

describe('the whole pipeline on random graphs', () => {
  it('optimized and unoptimized graphs agree under the interpreter (float64, extreme values included)', async () => {
    await fc.assert(
      fc.asyncProperty(
        randomGraph().chain((g) => fc.tuple(fc.constant(g), valuesFor(g.shapes))),
        async ([g, data]) => {
          const values = data.map((d, i) => T.array(Float64Array.from(d), { shape: g.shapes[i]! }));
          // The interpreter on both sides: wasm kernels are compared with it separately (wasm-differential).
          const { naive, optimized } = await bothWays(g.inputs, [g.output], values, { mode: 'js' });
          expect(optimized[0]!.shape).toEqual(naive[0]!.shape);
          const verdict = optimizerAgrees(optimized[0]!.data, naive[0]!.data);
          if (verdict === undefined || (await passesThroughSubnormals(g.inputs, g.output, values))) return;
          // A stability rewrite may legitimately change a value the graph as written only got by rounding
          // (log(1 + 1e-30) is 0, so sqrt of it is 0, where the exact log1p is negative and sqrt is NaN;
          // or a NaN hidden by a comparison). Those rules are checked one by one against exact formulas
          // (rewrites.test.ts); here every other phase must still agree exactly.
          const unstabilized = (await T.compile(g.inputs, g.output, { exclude: ['stabilize'], mode: 'js' }))(...values);
          expect(optimizerAgrees(unstabilized.data, naive[0]!.data)).toBeUndefined();
        },
      ),
      { numRuns: 200 },
    );
  });

  it('terminates and is idempotent: optimizing the optimized graph changes nothing', () => {
    fc.assert(
      fc.property(randomGraph(), (g) => {
        const once = optimize([g.output], options).roots;
        const twice = optimize(once, options).roots;
        expect(twice[0]).toBe(once[0]);
      }),
      { numRuns: 200 },
    );
  });

  it('never grows the graph by more than the fused regions it adds', () => {
    fc.assert(
      fc.property(randomGraph(), (g) => {
        const before = toposort([g.output]).length;
        const after = toposort(optimize([g.output], options).roots).length;
        expect(after).toBeLessThanOrEqual(before + 2);
      }),
      { numRuns: 100 },
    );
  });
});
