import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import { optimize } from '../../compiler/rewrite/pipeline.js';
import { stabilize } from '../../compiler/rewrite/rules/stabilize.js';
import { anyValue, dataFor } from '../helpers/arbitraries.js';
import { eps, EXAMPLES, type Example } from '../helpers/rule-examples.js';
import { bothWays, optimizerAgrees, passesThroughSubnormals } from '../helpers/optimizer.js';

const inputsOf = (ex: Example, dtype: T.DType = 'float64') =>
  ex.inputs.map(([name, shape, dt]) => T.tensor(name, { dtype: dt ?? dtype, shape }));

describe('rewrite rules, one by one', () => {
  it('every rule has an example (and every example names a rule)', () => {
    expect(Object.keys(EXAMPLES).sort()).toEqual([...T.RULE_NAMES].sort());
  });

  it('every stability rule has a gradient property (stable-gradients.test.ts), and only they do', () => {
    const withGradient = Object.entries(EXAMPLES)
      .filter(([, ex]) => ex.gradient)
      .map(([name]) => name);
    expect(withGradient.sort()).toEqual(stabilize.map((r) => r.name).sort());
  });

  for (const [name, ex] of Object.entries(EXAMPLES)) {
    it(`${name}: fires, and agrees with the unoptimized graph on random inputs`, async () => {
      const inputs = inputsOf(ex);
      const out = ex.build(inputs);
      const probe = await T.compile(inputs, out);
      expect(probe.stats.rewrites[name] ?? 0).toBeGreaterThan(0);
      await fc.assert(
        fc.asyncProperty(
          fc.tuple(...ex.inputs.map(([, shape]) => dataFor(shape, ex.domain ?? anyValue))),
          async (data) => {
            const values = data.map((d, i) =>
              T.array(Float64Array.from(d), { shape: ex.inputs[i]![1] }).astype(ex.inputs[i]![2] ?? 'float64'),
            );
            const { naive, optimized } = await bothWays(inputs, [out], values);
            // Keras's epsilon guards move results by about epsilon, by design.
            const tolerance = name.startsWith('keras') || name.endsWith('epsilon') ? 1e-5 : 1e-9;
            const verdict = optimizerAgrees(optimized[0]!.data, naive[0]!.data, tolerance, tolerance);
            if (verdict !== undefined && (await passesThroughSubnormals(inputs, out, values))) return;
            expect(verdict).toBeUndefined();
          },
        ),
        { numRuns: 30 },
      );
    });

    if (ex.expected) {
      it(`${name}: rewrites to the expected graph`, () => {
        const inputs = inputsOf(ex);
        const [after] = optimize([ex.build(inputs)], {
          level: 'fast_run',
          exclude: ['fusion'],
          epsilon: eps,
          verify: true,
        }).roots;
        expect(after).toBe(ex.expected!(inputs));
      });
    }

    if (ex.exact && ex.hard) {
      it(`${name}: in float32, hard inputs match the exact value within 1e-5 relative`, async () => {
        const x = T.tensor('x', { dtype: 'float32', shape: [ex.hard!.length] });
        const f = await T.compile([x], ex.build([x]));
        const inputs = ex.hard!.map(Math.fround);
        const got = f(inputs);
        inputs.forEach((v, i) => {
          const exact = ex.exact!(v);
          expect(Math.abs(got.data[i]! - exact)).toBeLessThanOrEqual(1e-5 * Math.abs(exact) + 1e-38);
        });
      });
    }
  }

  it('exclude removes a rule, and stats count every firing', async () => {
    const x = T.vector('x');
    const out = T.log(T.add(1, x));
    const on = await T.compile([x], out);
    const off = await T.compile([x], out, { exclude: ['log1p'] });
    expect(on.stats.rewrites['log1p']).toBe(1);
    expect(off.stats.rewrites['log1p']).toBeUndefined();
    expect(T.debugprint(off, { file: 'str' })).not.toMatch(/log1p/);
    await expect(T.compile([x], out, { exclude: ['log1p_typo'] })).rejects.toThrow(/unknown rewrite 'log1p_typo'/);
  });

  it("fast_compile runs only canonicalization (and the expansion of composite ops); 'none' runs nothing else", async () => {
    const x = T.vector('x');
    const out = T.log(T.add(1, T.mul(x, 1)));
    const compileOnly = await T.compile([x], out, { optimizer: 'fast_compile' });
    expect(compileOnly.stats.rewrites['mul_one']).toBe(1);
    expect(compileOnly.stats.rewrites['log1p']).toBeUndefined();
    expect(compileOnly.stats.phases.map((p) => p.phase)).toEqual(['canonicalize', 'decompose']);
    const none = await T.compile([x], out, { optimizer: 'none' });
    expect(none.stats.rewrites).toEqual({});
    expect(none.graph.outputs[0]).toBe(out);
  });

  it('constants larger than the folding limit stay lazy', async () => {
    const x = T.vector('x');
    const big = T.add(T.constant(T.zeros([100, 100])), 1);
    const small = T.add(T.constant(T.zeros([10])), 1);
    const f = await T.compile([x], [T.add(T.sum(big), T.sum(x)), T.add(small, x)]);
    expect(f.stats.rewrites['constant_folding']).toBe(1);
  });

  it('rewritten nodes keep the user line of the expression they replace', async () => {
    const x = T.vector('x');
    const out = T.log(T.add(1, x));
    const f = await T.compile([x], out, { exclude: ['fusion'] });
    expect(f.graph.outputs[0]!.op).toBe('log1p');
    expect(f.graph.outputs[0]!.origin).toEqual(out.origin);
  });
});
