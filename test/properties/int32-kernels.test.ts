import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import { broadcastingShapes } from '../helpers/arbitraries.js';
import { size } from '../helpers/naive.js';

/**
 * int32 programs run in int32 lanes: random expressions of the int ops against the reference, and the
 * reference's int32 semantics against BigInt arithmetic wrapped to 32 bits (NumPy's int32).
 */

const EXTREMES = [0, 1, -1, 2, -2, 3, 7, -7, 46341, -46341, 65536, 2 ** 31 - 1, -(2 ** 31)];
const ints = fc.oneof(
  fc.constantFrom(...EXTREMES),
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  fc.integer({ min: -9, max: 9 }),
);

type Build = (a: T.Node, b: T.Node) => T.Node;
const BINARY: [string, Build][] = [
  ['add', T.add],
  ['sub', T.sub],
  ['mul', T.mul],
  ['maximum', T.maximum],
  ['minimum', T.minimum],
  ['floorDiv', T.floorDiv],
  ['mod', T.mod],
  ['fmod', T.fmod],
  ['where(a < b)', (a, b) => T.where(T.lt(a, b), a, b)],
  ['eq as int', (a, b) => T.cast(T.eq(a, b), 'int32')],
];
const UNARY: [string, (a: T.Node) => T.Node][] = [
  ['neg', T.neg],
  ['abs', T.abs],
  ['square', T.square],
  ['sign', T.sign],
  ['relu', T.relu],
  ['floor', T.floor],
];

/** A random expression over two int32 operands, two or three ops deep. */
const expression: fc.Arbitrary<{ text: string; build: Build }> = fc
  .tuple(fc.constantFrom(...BINARY), fc.constantFrom(...UNARY), fc.constantFrom(...BINARY), fc.nat(2))
  .map(([[n1, f1], [n2, f2], [n3, f3], shape]) =>
    shape === 0
      ? { text: `${n1}(a, b)`, build: f1 }
      : shape === 1
        ? { text: `${n2}(${n1}(a, b))`, build: (a, b) => f2(f1(a, b)) }
        : { text: `${n3}(${n1}(a, b), ${n2}(b))`, build: (a, b) => f3(f1(a, b), f2(b)) },
  );

describe('int32 kernels', () => {
  it('random int32 expressions run in wasm (no reference step) and agree with the reference exactly', async () => {
    await fc.assert(
      fc.asyncProperty(
        expression,
        broadcastingShapes(2).chain((shapes) =>
          fc.tuple(
            fc.constant(shapes),
            ...shapes.map((s) => fc.array(ints, { minLength: size(s), maxLength: size(s) })),
          ),
        ),
        async ({ text, build }, [shapes, ...data]) => {
          const [a, b] = shapes.map((s, k) => T.tensor(`x${k}`, { shape: s, dtype: 'int32' })) as [T.Node, T.Node];
          const wasm = await T.compile([a, b], build(a, b), { mode: 'wasm' });
          const js = await T.compile([a, b], build(a, b), { mode: 'js' });
          const arrays = data.map((d, k) => T.array(d, { shape: shapes[k]!, dtype: 'int32' }));
          const [got, want] = [wasm(...arrays), js(...arrays)];
          expect(got.dtype, text).toBe('int32');
          expect(Array.from(got.data), text).toEqual(Array.from(want.data));
          expect(wasm.stats.referenceSteps, text).toBe(0);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('the reference wraps as NumPy int32 does: products exactly, floor division and remainders with 0 for a zero divisor', async () => {
    const wrap = (v: bigint) => Number(BigInt.asIntN(32, v));
    const floorDiv = (a: number, b: number) => {
      if (b === 0) return 0;
      const [x, y] = [BigInt(a), BigInt(b)];
      const q = x / y;
      return wrap(q * y !== x && x < 0n !== y < 0n ? q - 1n : q);
    };
    const ORACLES: [string, Build, (a: number, b: number) => number][] = [
      ['add', T.add, (a, b) => wrap(BigInt(a) + BigInt(b))],
      ['mul', T.mul, (a, b) => wrap(BigInt(a) * BigInt(b))],
      ['floorDiv', T.floorDiv, floorDiv],
      ['mod', T.mod, (a, b) => (b === 0 ? 0 : wrap(BigInt(a) - BigInt(floorDiv(a, b)) * BigInt(b)))],
    ];
    for (const mode of ['js', 'wasm'] as const)
      for (const [name, build, oracle] of ORACLES) {
        const [a, b] = [T.ivector('a'), T.ivector('b')];
        const f = await T.compile([a, b], build(a, b), { mode });
        await fc.assert(
          fc.property(fc.array(fc.tuple(ints, ints), { minLength: 1, maxLength: 20 }), (pairs) => {
            const got = f(
              T.array(
                pairs.map((p) => p[0]),
                { dtype: 'int32' },
              ),
              T.array(
                pairs.map((p) => p[1]),
                { dtype: 'int32' },
              ),
            );
            pairs.forEach(([x, y], i) => expect(got.data[i], `${name}(${x}, ${y}) in ${mode}`).toBe(oracle(x, y)));
          }),
          { numRuns: 50 },
        );
      }
  });

  it('a bool-only program (and, or, not of comparisons) runs in wasm too', async () => {
    const [a, b] = [T.ivector('a'), T.ivector('b')];
    const f = await T.compile([a, b], T.or(T.not(T.gt(a, b)), T.and(T.eq(a, 0), T.ne(b, 0))), { mode: 'wasm' });
    const out = f(T.array([1, 0, 3], { dtype: 'int32' }), T.array([0, 2, 3], { dtype: 'int32' }));
    expect(Array.from(out.data)).toEqual([0, 1, 1]);
    expect(f.stats.referenceSteps).toBe(0);
  });
});
