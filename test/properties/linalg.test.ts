import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import { dataFor, inRange } from '../helpers/arbitraries.js';
import { broadcastShape, closeTo, naiveElementwise, ravel, size, unravel, type Dense } from '../helpers/naive.js';
import { evaluate } from '../helpers/run.js';

const at = (x: Dense, idx: number[]) => x.data[ravel(idx, x.shape)]!;

/** NumPy dot from its definition. */
function naiveDot(a: Dense, b: Dense): Dense {
  if (a.shape.length === 0 || b.shape.length === 0) return naiveElementwise([a, b], (x, y) => x! * y!);
  const k = a.shape[a.shape.length - 1]!;
  const aLead = a.shape.slice(0, -1);
  const bLead = b.shape.length === 1 ? [] : b.shape.slice(0, -2);
  const m = b.shape.length === 1 ? [] : [b.shape[b.shape.length - 1]!];
  const shape = [...aLead, ...bLead, ...m];
  const data = Array.from({ length: size(shape) }, (_, i) => {
    const idx = unravel(i, shape);
    const ai = idx.slice(0, aLead.length);
    const bi = idx.slice(aLead.length, aLead.length + bLead.length);
    const mi = idx.slice(aLead.length + bLead.length);
    let s = 0;
    for (let l = 0; l < k; l++) s += at(a, [...ai, l]) * at(b, b.shape.length === 1 ? [l] : [...bi, l, ...mi]);
    return s;
  });
  return { shape, data };
}

/** NumPy matmul from its definition: promote 1-D operands, broadcast batch axes, drop the promoted axes. */
function naiveMatmul(a: Dense, b: Dense): Dense {
  const as = a.shape.length === 1 ? [1, a.shape[0]!] : a.shape;
  const bs = b.shape.length === 1 ? [b.shape[0]!, 1] : b.shape;
  const batch = broadcastShape([as.slice(0, -2), bs.slice(0, -2)])!;
  const [n, k] = as.slice(-2) as [number, number];
  const mm = bs[bs.length - 1]!;
  const full = [...batch, n, mm];
  const pickBatch = (shape: number[], bIdx: number[]) => {
    const lead = shape.slice(0, -2);
    const off = bIdx.length - lead.length;
    return lead.map((d, i) => (d === 1 ? 0 : bIdx[i + off]!));
  };
  const data = Array.from({ length: size(full) }, (_, i) => {
    const idx = unravel(i, full);
    const bIdx = idx.slice(0, batch.length);
    const [r, c] = idx.slice(-2) as [number, number];
    let s = 0;
    for (let l = 0; l < k; l++) {
      s += a.data[ravel([...pickBatch(as, bIdx), r, l], as)]! * b.data[ravel([...pickBatch(bs, bIdx), l, c], bs)]!;
    }
    return s;
  });
  const shape = [...batch, ...(a.shape.length > 1 ? [n] : []), ...(b.shape.length > 1 ? [mm] : [])];
  return { shape, data };
}

const value = inRange(-5, 5);
const dimArb = fc.integer({ min: 0, max: 4 });

const dotShapes = fc
  .tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 }), dimArb)
  .chain(([ra, rb, k]) =>
    fc
      .tuple(
        fc.array(dimArb, { minLength: Math.max(ra - 1, 0), maxLength: Math.max(ra - 1, 0) }),
        fc.array(dimArb, { minLength: Math.max(rb - 1, 0), maxLength: Math.max(rb - 1, 0) }),
      )
      .map(([aRest, bRest]) => {
        const a = ra === 0 ? [] : [...aRest, k];
        const b = rb === 0 ? [] : rb === 1 ? [k] : [...bRest.slice(0, -1), k, bRest[bRest.length - 1]!];
        return [a, b] as const;
      }),
  );

const matmulShapes = fc
  .tuple(
    fc.integer({ min: 1, max: 4 }),
    fc.integer({ min: 1, max: 4 }),
    dimArb,
    dimArb,
    dimArb,
    fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }),
  )
  .chain(([ra, rb, n, k, m, batch]) =>
    fc.tuple(fc.array(fc.boolean(), { minLength: 2, maxLength: 2 })).map(([[dropA, dropB]]) => {
      const lead = (r: number, ones: boolean) =>
        batch.slice(batch.length - Math.max(r - 2, 0)).map((d) => (ones ? 1 : d));
      const a = ra === 1 ? [k] : [...lead(ra, !!dropA), n, k];
      const b = rb === 1 ? [k] : [...lead(rb, !!dropB), k, m];
      return [a, b] as const;
    }),
  );

const operandPair = (shapes: fc.Arbitrary<readonly [number[], number[]]>) =>
  shapes.chain(([a, b]) =>
    fc.tuple(
      fc.record({ shape: fc.constant(a), data: dataFor(a, value) }),
      fc.record({ shape: fc.constant(b), data: dataFor(b, value) }),
    ),
  );

describe('linear algebra against plain loops', () => {
  it('dot follows NumPy for every rank combination up to 3', async () => {
    await fc.assert(
      fc.asyncProperty(operandPair(dotShapes), async ([a, b]) => {
        const { out, node } = await evaluate([a, b], ([x, y]) => T.dot(x!, y!));
        const expected = naiveDot(a, b);
        expect(out.shape).toEqual(expected.shape);
        expect(node.shape).toEqual(expected.shape);
        expect(closeTo(out.data, expected.data, 1e-12, 1e-12)).toBeUndefined();
      }),
      { numRuns: 150 },
    );
  });

  it('matmul broadcasts batch axes and handles 1-D operands', async () => {
    await fc.assert(
      fc.asyncProperty(operandPair(matmulShapes), async ([a, b]) => {
        const { out } = await evaluate([a, b], ([x, y]) => T.matmul(x!, y!));
        const expected = naiveMatmul(a, b);
        expect(out.shape).toEqual(expected.shape);
        expect(closeTo(out.data, expected.data, 1e-12, 1e-12)).toBeUndefined();
      }),
      { numRuns: 150 },
    );
  });

  it('outer flattens its operands', async () => {
    await fc.assert(
      fc.asyncProperty(
        operandPair(fc.tuple(fc.array(dimArb, { maxLength: 2 }), fc.array(dimArb, { maxLength: 2 }))),
        async ([a, b]) => {
          const { out } = await evaluate([a, b], ([x, y]) => T.outer(x!, y!));
          expect(out.shape).toEqual([size(a.shape), size(b.shape)]);
          const expected = a.data.flatMap((u) => b.data.map((v) => u * v));
          expect(closeTo(out.data, expected)).toBeUndefined();
        },
      ),
      { numRuns: 50 },
    );
  });

  it('inner dimension mismatch is a build-time ShapeError naming both operands', () => {
    const a = T.tensor('alpha', { shape: [2, 3] });
    const b = T.tensor('beta', { shape: [4, 5] });
    expect(() => T.dot(a, b)).toThrow(T.ShapeError);
    expect(() => T.dot(a, b)).toThrow(
      /dot\(alpha, beta\): inner dimensions differ.*alpha is float32 \[2, 3\], beta is float32 \[4, 5\]/s,
    );
    expect(() => T.matmul(a, b)).toThrow(/matmul\(alpha, beta\)/);
  });
});
