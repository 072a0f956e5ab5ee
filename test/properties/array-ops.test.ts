import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import { inRange } from '../helpers/arbitraries.js';
import { checkGradient } from '../helpers/gradcheck.js';
import { ravel, size, unravel } from '../helpers/naive.js';

/**
 * einsum, tensordot, norm and NumPy's array construction (eye, diag, diagonal, trace, tril, triu, tile,
 * repeat, flip, roll, meshgrid), each against a plain loop over indices, in both modes.
 */

interface Dense {
  shape: number[];
  data: number[];
}
const MODES = ['js', 'wasm'] as const;

/** Runs `build` on the arrays in one mode; float64 so that the loops below compare closely. */
async function run(
  mode: (typeof MODES)[number],
  arrays: readonly Dense[],
  build: (xs: T.Node[]) => T.Node | T.Node[],
  unknownSizes = false,
) {
  const inputs = arrays.map((a, i) =>
    T.tensor(`x${i}`, { dtype: 'float64', shape: unknownSizes ? a.shape.map(() => null) : a.shape }),
  );
  const f = await T.compile(inputs, build(inputs) as T.Node, { mode });
  const out = f(...arrays.map((a) => T.array(Float64Array.from(a.data), { shape: a.shape, dtype: 'float64' })));
  return { shape: [...out.shape], data: Array.from(out.data as ArrayLike<number>) };
}

function expectClose(got: Dense, want: Dense, tolerance = 1e-12): void {
  expect(got.shape).toEqual(want.shape);
  want.data.forEach((w, i) => {
    const g = got.data[i]!;
    if (!(Object.is(g, w) || Math.abs(g - w) <= tolerance * Math.max(1, Math.abs(w))))
      throw new Error(`at ${i} (${unravel(i, want.shape).join(', ')}): got ${g}, want ${w}`);
  });
}

const denseOf = (shape: number[]) =>
  fc.array(inRange(-3, 3), { minLength: size(shape), maxLength: size(shape) }).map((data) => ({ shape, data }));
const at = (x: Dense, idx: readonly number[]) => x.data[ravel(idx, x.shape)]!;

// ---- einsum against the loop over every assignment of its letters ----

interface EinsumCase {
  subscripts: string;
  operands: Dense[];
}

/** The sum over every assignment of the letters of the product of the operands' elements: Einstein summation by definition. */
function naiveEinsum(subscripts: string, operands: readonly Dense[]): Dense {
  const [lhs, rhs] = subscripts.split('->') as [string, string | undefined];
  const terms = lhs.split(',');
  const sizes = new Map<string, number>();
  terms.forEach((t, k) => [...t].forEach((l, a) => sizes.set(l, operands[k]!.shape[a]!)));
  const counts = new Map<string, number>();
  for (const l of terms.join('')) counts.set(l, (counts.get(l) ?? 0) + 1);
  const out =
    rhs ??
    [...counts]
      .filter(([, c]) => c === 1)
      .map(([l]) => l)
      .sort()
      .join('');
  const letters = [...sizes.keys()];
  const outShape = [...out].map((l) => sizes.get(l)!);
  const data = new Array<number>(size(outShape)).fill(0);
  const all = letters.map((l) => sizes.get(l)!);
  for (let i = 0; i < size(all); i++) {
    const value = new Map(letters.map((l, k) => [l, unravel(i, all)[k]!]));
    const product = terms.reduce(
      (p, t, k) =>
        p *
        at(
          operands[k]!,
          [...t].map((l) => value.get(l)!),
        ),
      1,
    );
    const k = ravel(
      [...out].map((l) => value.get(l)!),
      outShape,
    );
    data[k] = data[k]! + product;
  }
  return { shape: outShape, data };
}

/** Random subscripts over a, b, c, d: 1 to 3 operands of rank 0 to 3 (letters may repeat within one), explicit or implicit output. */
const einsumCase: fc.Arbitrary<EinsumCase> = fc
  .record({
    sizes: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 4, maxLength: 4 }),
    terms: fc.array(fc.array(fc.constantFrom('a', 'b', 'c', 'd'), { maxLength: 3 }), { minLength: 1, maxLength: 3 }),
    explicit: fc.boolean(),
    order: fc.array(fc.nat(), { minLength: 4, maxLength: 4 }),
    keep: fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
  })
  .chain(({ sizes, terms, explicit, order, keep }) => {
    const used = [...new Set(terms.flat())];
    const output = used.filter((_, i) => keep[i]).sort((p, q) => order['abcd'.indexOf(p)]! - order['abcd'.indexOf(q)]!);
    const subscripts = `${terms.map((t) => t.join('')).join(',')}${explicit ? `->${output.join('')}` : ''}`;
    const shapes = terms.map((t) => t.map((l) => sizes['abcd'.indexOf(l)]!));
    return fc.tuple(...shapes.map(denseOf)).map((operands) => ({ subscripts, operands }));
  });

describe('einsum', () => {
  for (const mode of MODES) {
    it(`agrees with the loop over its letters on random subscripts (${mode})`, async () => {
      await fc.assert(
        fc.asyncProperty(einsumCase, fc.boolean(), async ({ subscripts, operands }, unknownSizes) => {
          // Sizes known only at call time: free axes become batch axes of the matmul instead of merged ones.
          let got;
          try {
            got = await run(mode, operands, (xs) => T.einsum(subscripts, ...xs), unknownSizes);
          } catch (e) {
            // Two contracted axes of unknown sizes cannot be merged: the one refusal allowed.
            if (unknownSizes && /size known only at call time/.test((e as Error).message)) return;
            throw e;
          }
          expectClose(got, naiveEinsum(subscripts, operands));
        }),
        { numRuns: 100 },
      );
    });
  }

  it('differentiates through its matmuls, diagonals and sums', async () => {
    await fc.assert(
      fc.asyncProperty(
        einsumCase.filter((c) => c.operands.every((o) => o.data.length > 0)),
        async ({ subscripts, operands }) => {
          await checkGradient(operands, (xs) => T.einsum(subscripts, ...xs));
        },
      ),
      { numRuns: 15 },
    );
  });

  it("takes '...' for broadcast axes, and batched products run as one matmul", async () => {
    const a = { shape: [2, 3, 4], data: Array.from({ length: 24 }, (_, i) => Math.sin(i)) };
    const b = { shape: [2, 4, 5], data: Array.from({ length: 40 }, (_, i) => Math.cos(i)) };
    for (const mode of MODES) {
      const got = await run(mode, [a, b], ([x, y]) => T.einsum('...ij,...jk->...ik', x!, y!));
      expectClose(got, naiveEinsum('zij,zjk->zik', [a, b]));
    }
    const x = T.tensor('x', { shape: [null, 3, 4] });
    const y = T.tensor('y', { shape: [null, 4, 5] });
    const f = await T.compile([x, y], T.einsum('bij,bjk->bik', x, y));
    expect(f.program.steps.filter((s) => s.op === 'matmul')).toHaveLength(1);
  });

  it('names the subscripts and the operand when they do not fit', () => {
    const x = T.matrix('x');
    expect(() => T.einsum('ij,jk->ik', x)).toThrow(/2 operand subscripts for 1 operands/);
    expect(() => T.einsum('ijk->i', x)).toThrow(/names 3 axes of an operand of rank 2/);
    expect(() => T.einsum('ij->q', x)).toThrow(/output index 'q'/);
    expect(() => T.einsum('i1->i', T.vector('v'))).toThrow(/'1' is not a letter/);
    const a = T.tensor('a', { shape: [2, 3] });
    const b = T.tensor('b', { shape: [4, 5] });
    expect(() => T.einsum('ij,jk->ik', a, b)).toThrow(/index 'j' has size 3 in one operand and 4 in operand 1/);
  });
});

describe('tensordot', () => {
  it('is the einsum of its axes pairs', async () => {
    const a = { shape: [2, 3, 4], data: Array.from({ length: 24 }, (_, i) => i / 7) };
    const b = { shape: [4, 3, 2], data: Array.from({ length: 24 }, (_, i) => 1 - i / 5) };
    for (const mode of MODES) {
      expectClose(
        await run(mode, [a, b], ([x, y]) =>
          T.tensordot(x!, y!, [
            [1, 2],
            [1, 0],
          ]),
        ),
        naiveEinsum('ijk,kjl->il', [a, b]),
      );
      expectClose(await run(mode, [a, a], ([x, y]) => T.tensordot(x!, y!, 0)), naiveEinsum('ijk,lmn->ijklmn', [a, a]));
      const c = { shape: [4, 5], data: Array.from({ length: 20 }, (_, i) => i % 3) };
      expectClose(await run(mode, [a, c], ([x, y]) => T.tensordot(x!, y!, 1)), naiveEinsum('ijk,kl->ijl', [a, c]));
    }
  });
});

// ---- norms ----

describe('norm', () => {
  const vectorOrds: [number | 'euclidean', (v: number[]) => number][] = [
    ['euclidean', (v) => Math.hypot(...v)],
    [1, (v) => v.reduce((s, x) => s + Math.abs(x), 0)],
    [Infinity, (v) => Math.max(...v.map(Math.abs))],
    [-Infinity, (v) => Math.min(...v.map(Math.abs))],
    [0, (v) => v.filter((x) => x !== 0).length],
    [3, (v) => v.reduce((s, x) => s + Math.abs(x) ** 3, 0) ** (1 / 3)],
  ];
  for (const mode of MODES) {
    it(`vector norms along an axis agree with the loop, and the 2-norm stays finite where Σx² overflows (${mode})`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc
            .tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.constantFrom(1, 1e200, 1e-200))
            .chain(([r, c, scale]) =>
              fc.tuple(
                denseOf([r, c]).map((d) => ({ ...d, data: d.data.map((v) => v * scale) })),
                fc.constantFrom(0, 1),
              ),
            ),
          async ([x, axis]) => {
            for (const [ord, want] of vectorOrds) {
              const got = await run(mode, [x], ([n]) => T.norm(n!, ord, axis));
              const lines = axis === 0 ? x.shape[1]! : x.shape[0]!;
              const expected = Array.from({ length: lines }, (_, k) =>
                want(Array.from({ length: x.shape[axis]! }, (_, i) => at(x, axis === 0 ? [i, k] : [k, i]))),
              );
              expectClose(got, { shape: [lines], data: expected }, 1e-12);
            }
          },
        ),
        { numRuns: 20 },
      );
    });
  }

  it("matrix norms: 'fro', ±1 and ±Infinity as NumPy's; spectral and nuclear are refused", async () => {
    const x = { shape: [3, 4], data: Array.from({ length: 12 }, (_, i) => Math.sin(3 * i) * 4) };
    const cols = (k: number) => [0, 1, 2].reduce((s, i) => s + Math.abs(at(x, [i, k])), 0);
    const rows = (k: number) => [0, 1, 2, 3].reduce((s, j) => s + Math.abs(at(x, [k, j])), 0);
    const want: [number | 'fro', number][] = [
      ['fro', Math.hypot(...x.data)],
      [1, Math.max(...[0, 1, 2, 3].map(cols))],
      [-1, Math.min(...[0, 1, 2, 3].map(cols))],
      [Infinity, Math.max(...[0, 1, 2].map(rows))],
      [-Infinity, Math.min(...[0, 1, 2].map(rows))],
    ];
    for (const mode of MODES)
      for (const [ord, value] of want)
        expectClose(await run(mode, [x], ([n]) => T.norm(n!, ord)), { shape: [], data: [value] });
    expect(() => T.norm(T.matrix('m'), 2)).toThrow(/needs singular values/);
    expect(() => T.norm(T.matrix('m'), 'nuc')).toThrow(/needs singular values/);
    expect(() => T.norm(T.matrix('m'), 'l2' as never)).toThrow(/ord "l2" is not a norm \(use a number/);
  });

  it('the 2-norm has the gradient x / |x|, also for huge values', async () => {
    await checkGradient([{ shape: [4], data: [3, -4, 1e-3, 2] }], ([x]) => T.norm(x!));
    const x = T.vector('x', 'float64');
    const g = await T.compile([x], T.grad(T.norm(x), x));
    expectClose(
      { shape: [2], data: Array.from(g(T.array([3e200, 4e200], { dtype: 'float64' })).data) },
      { shape: [2], data: [0.6, 0.8] },
    );
  });
});

// ---- construction and rearrangement ----

type Case = [string, number[], (x: T.Node) => T.Node, (x: Dense) => Dense];
const mapIndex = (shape: number[], value: (idx: number[]) => number): Dense => ({
  shape,
  data: Array.from({ length: size(shape) }, (_, i) => value(unravel(i, shape))),
});
const CASES: Case[] = [
  ['tril', [3, 4], (x) => T.tril(x), (x) => mapIndex(x.shape, ([i, j]) => (j! <= i! ? at(x, [i!, j!]) : 0))],
  [
    'tril k=1',
    [2, 3, 4],
    (x) => T.tril(x, 1),
    (x) => mapIndex(x.shape, ([b, i, j]) => (j! - i! <= 1 ? at(x, [b!, i!, j!]) : 0)),
  ],
  [
    'triu k=-1',
    [4, 3],
    (x) => T.triu(x, -1),
    (x) => mapIndex(x.shape, ([i, j]) => (j! - i! >= -1 ? at(x, [i!, j!]) : 0)),
  ],
  ['diagonal', [3, 4], (x) => T.diagonal(x), (x) => mapIndex([3], ([i]) => at(x, [i!, i!]))],
  [
    'diagonal offset 1, axes 2, 0',
    [4, 2, 3],
    (x) => T.diagonal(x, 1, 2, 0),
    (x) => mapIndex([2, 3], ([b, i]) => at(x, [i! + 1, b!, i!])),
  ],
  ['diagonal offset -2', [4, 3], (x) => T.diagonal(x, -2), (x) => mapIndex([2], ([i]) => at(x, [i! + 2, i!]))],
  [
    'diag of a vector, k=1',
    [3],
    (x) => T.diag(x, 1),
    (x) => mapIndex([4, 4], ([i, j]) => (j === i! + 1 ? at(x, [i!]) : 0)),
  ],
  [
    'diag of a vector, k=-2',
    [2],
    (x) => T.diag(x, -2),
    (x) => mapIndex([4, 4], ([i, j]) => (i === j! + 2 ? at(x, [j!]) : 0)),
  ],
  ['trace', [3, 3], (x) => T.trace(x), (x) => ({ shape: [], data: [at(x, [0, 0]) + at(x, [1, 1]) + at(x, [2, 2])] })],
  ['tile', [2, 3], (x) => T.tile(x, [2, 3]), (x) => mapIndex([4, 9], ([i, j]) => at(x, [i! % 2, j! % 3]))],
  ['tile with more reps than axes', [3], (x) => T.tile(x, [2, 2]), (x) => mapIndex([2, 6], ([, j]) => at(x, [j! % 3]))],
  [
    'repeat along an axis',
    [2, 3],
    (x) => T.repeat(x, 2, 1),
    (x) => mapIndex([2, 6], ([i, j]) => at(x, [i!, Math.floor(j! / 2)])),
  ],
  [
    'repeat counts, flattened',
    [2, 2],
    (x) => T.repeat(x, [1, 0, 2, 1]),
    (x) => ({ shape: [4], data: [x.data[0]!, x.data[2]!, x.data[2]!, x.data[3]!] }),
  ],
  ['flip', [2, 3], (x) => T.flip(x, 1), (x) => mapIndex(x.shape, ([i, j]) => at(x, [i!, 2 - j!]))],
  ['flip all axes', [2, 3], (x) => T.flip(x), (x) => mapIndex(x.shape, ([i, j]) => at(x, [1 - i!, 2 - j!]))],
  ['roll', [2, 5], (x) => T.roll(x, 2, 1), (x) => mapIndex(x.shape, ([i, j]) => at(x, [i!, (j! - 2 + 5) % 5]))],
  [
    'roll back, flattened',
    [2, 3],
    (x) => T.roll(x, -1),
    (x) => mapIndex(x.shape, (idx) => x.data[(ravel(idx, x.shape) + 1) % 6]!),
  ],
];

describe('array construction and rearrangement', () => {
  for (const [name, shape, build, want] of CASES) {
    it(`${name} agrees with the loop over indices in both modes, and differentiates`, async () => {
      await fc.assert(
        fc.asyncProperty(denseOf(shape), async (x) => {
          for (const mode of MODES) expectClose(await run(mode, [x], ([n]) => build(n!)), want(x), 0);
        }),
        { numRuns: 5 },
      );
      await checkGradient([{ shape, data: Array.from({ length: size(shape) }, (_, i) => Math.sin(i + 1)) }], ([n]) =>
        build(n!),
      );
    });
  }

  it("eye, and meshgrid in 'xy' and 'ij' indexing", async () => {
    const e = await T.compile([], T.eye(2, 3, 1));
    expect(Array.from(e().data)).toEqual([0, 1, 0, 0, 0, 1]);
    const a = { shape: [2], data: [1, 2] };
    const b = { shape: [3], data: [10, 20, 30] };
    for (const mode of MODES) {
      const [gx, gy] = await Promise.all([0, 1].map((k) => run(mode, [a, b], ([x, y]) => T.meshgrid(x!, y!)[k]!)));
      expectClose(
        gx!,
        mapIndex([3, 2], ([, j]) => a.data[j!]!),
      );
      expectClose(
        gy!,
        mapIndex([3, 2], ([i]) => b.data[i!]!),
      );
      const ij = await run(mode, [a, b], ([x, y]) => T.meshgrid(x!, y!, { indexing: 'ij' })[1]!);
      expectClose(
        ij,
        mapIndex([2, 3], ([, j]) => b.data[j!]!),
      );
    }
  });

  it('refuses what it cannot build, naming the op and the shape', () => {
    expect(() => T.tril(T.vector('v'))).toThrow(/tril\(v \[\?\]\): needs at least two axes/);
    expect(() => T.tril(T.matrix('m'))).toThrow(/must have a size known when the graph is built/);
    expect(() => T.repeat(T.tensor('x', { shape: [3] }), [1, 2])).toThrow(/2 repetition counts for 3 elements/);
    expect(() => T.tile(T.tensor('x', { shape: [3] }), [-1])).toThrow(/non-negative integer/);
    expect(() => T.diagonal(T.tensor('x', { shape: [3, 3] }), 0, 1, 1)).toThrow(/axis1 and axis2 are both 1/);
    expect(() => T.meshgrid(T.matrix('m'))).toThrow(/is not a vector/);
  });
});

describe('tsano/tf spellings', () => {
  it('tf.eye (batched), tf.tile, tf.reverse, tf.einsum and tf.norm compute what T does, each order of norm its own', async () => {
    const tf = await import('tsano/tf');
    expect(Array.from(tf.eye(2, 2, [2]).data)).toEqual([1, 0, 0, 1, 1, 0, 0, 1]);
    expect(tf.eye(2, 3, [2, 3]).shape).toEqual([2, 3, 2, 3]);
    const x = tf.tensor([1, -2, 3, -4], [2, 2]);
    expect(Array.from(tf.tile(x, [1, 2]).data)).toEqual([1, -2, 1, -2, 3, -4, 3, -4]);
    expect(Array.from(tf.reverse(x, 0).data)).toEqual([3, -4, 1, -2]);
    expect(Array.from(tf.einsum('ij,jk->ik', x, x).data)).toEqual([-5, 6, -9, 10]);
    expect(tf.norm(x, Infinity, 1).arraySync()).toEqual([2, 4]);
    expect(tf.norm(x, -Infinity, 1).arraySync()).toEqual([1, 3]);
  });
});
