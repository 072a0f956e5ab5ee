import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import { toposort } from '../compiler/ir/graph.js';
import type { Node } from '../compiler/ir/node.js';
import { hoistInvariants } from '../src/graph/loop-invariants.js';

/** Whether `n` reads `leaf` anywhere below it. */
const reads = (n: Node, leaf: Node) => toposort([n]).includes(leaf);

/** Bodies of a step: h varies from step to step, w and b are the same at every step. */
const BODIES: Record<string, (h: T.Node, w: T.Node, b: T.Node) => T.Node> = {
  'tanh(h·wᵀ + b)': (h, w, b) => T.tanh(T.add(T.dot(h, T.transpose(w)), b)),
  'h·(2w) - exp(b)': (h, w, b) => T.sub(T.dot(h, T.mul(w, 2)), T.exp(b)),
  'sum(h) · w·w + b': (h, w, b) => T.add(T.mul(T.sum(h), T.dot(w, w)), b),
  'h·sigmoid(b) only': (h, _w, b) => T.mul(h, T.sigmoid(b)),
  'h + 1 (nothing to hoist)': (h) => T.add(h, 1),
};

describe('loop-invariant code motion for loop bodies', () => {
  it('hoists the work that reads only invariant inputs, never a node that reads the step', () => {
    for (const [name, body] of Object.entries(BODIES)) {
      const [h, w, b] = [T.matrix('h'), T.matrix('w'), T.vector('b')];
      const out = body(h, w, b);
      const hoisted = hoistInvariants([out], new Set([w, b]));
      if (name.includes('nothing')) {
        expect(hoisted, name).toBeUndefined();
        continue;
      }
      expect(hoisted, name).toBeDefined();
      for (const n of hoisted!.invariants) {
        expect(reads(n, h), name).toBe(false);
        expect(reads(n, w) || reads(n, b), name).toBe(true);
      }
      // The body left reads the step's input and the placeholders, not the invariant work itself.
      const left = toposort([...hoisted!.outputs]);
      expect(left.includes(h), name).toBe(true);
      for (const n of hoisted!.invariants) expect(left.includes(n), name).toBe(false);
    }
  });

  it('the body reading the hoisted values equals the body as written, on random values, in both modes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...Object.keys(BODIES)),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 1000 }),
        fc.constantFrom<T.Mode>('js', 'wasm'),
        async (name, rows, seed, mode) => {
          const [h, w, b] = [T.matrix('h'), T.matrix('w'), T.vector('b')];
          const out = BODIES[name]!(h, w, b);
          const values = [
            T.randomNormal([rows, 3], { seed }),
            T.randomNormal([3, 3], { seed: seed + 1 }),
            T.randomNormal([3], { seed: seed + 2 }),
          ] as const;
          const expected = (await T.compile([h, w, b], out, { mode }))(...values);
          const hoisted = hoistInvariants([out], new Set([w, b]));
          if (!hoisted) return;
          const prologue = await T.compile([w, b], [...hoisted.invariants], { mode });
          const body = await T.compile([h, w, b, ...hoisted.placeholders], hoisted.outputs[0]!, { mode });
          const got = body(...values, ...prologue(values[1], values[2]));
          expect(got.shape).toEqual(expected.shape);
          Array.from(expected.data).forEach((v, i) => expect(got.data[i]).toBeCloseTo(v, 5));
        },
      ),
      { numRuns: 30 },
    );
  });
});
