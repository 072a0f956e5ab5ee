import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import { randomGraph } from '../helpers/random-graph.js';

describe('shape and dtype inference', () => {
  it('with every size known, the inferred shape and dtype equal what the interpreter computes (random graphs)', async () => {
    await fc.assert(
      fc.asyncProperty(randomGraph(), async (g) => {
        const f = await T.compile(g.inputs, g.output);
        const out = f(...g.shapes.map((s, i) => T.randomNormal(s, { seed: i + 1, dtype: 'float64' })));
        expect(out.dtype).toBe(g.output.dtype);
        expect([...out.shape]).toEqual([...g.output.shape]);
      }),
      { numRuns: 150 },
    );
  });

  it('with sizes unknown at build time, every size that is inferred is the one computed', async () => {
    await fc.assert(
      fc.asyncProperty(randomGraph(), async (g) => {
        const f = await T.compile(g.looseInputs, g.output, {
          givens: g.inputs.map((x, i) => [x, g.looseInputs[i]!] as const),
        });
        const node = f.graph.outputs[0]!;
        const out = f(...g.shapes.map((s, i) => T.randomNormal(s, { seed: i + 1, dtype: 'float64' })));
        expect(out.ndim).toBe(node.ndim);
        node.shape.forEach((d, i) => {
          if (d !== null) expect(out.shape[i]).toBe(d);
        });
      }),
      { numRuns: 150 },
    );
  });

  it('dtype promotion: int32 with float32 is float32, anything with float64 is float64, comparisons are bool', () => {
    const i = T.vector('i', 'int32');
    const f = T.vector('f', 'float32');
    const d = T.vector('d', 'float64');
    expect(T.add(i, f).dtype).toBe('float32');
    expect(T.add(f, d).dtype).toBe('float64');
    expect(T.add(i, i).dtype).toBe('int32');
    expect(T.div(i, i).dtype).toBe('float32');
    expect(T.lt(f, d).dtype).toBe('bool');
    expect(T.sum(T.lt(f, 1)).dtype).toBe('int32');
    // a bare number follows the symbolic operand (Theano's autocast), never widening float32 to float64
    expect(T.mul(f, 0.1).dtype).toBe('float32');
    expect(T.add(i, 2).dtype).toBe('int32');
    expect(T.add(i, 2.5).dtype).toBe('float32');
  });
});
