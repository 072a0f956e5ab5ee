import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import { anyValue, dataFor, nonEmptyShape, shapeArb } from '../helpers/arbitraries.js';
import { closeTo, ravel, size, unravel, type Dense } from '../helpers/naive.js';
import { evaluate } from '../helpers/run.js';

const withData = (shapes: fc.Arbitrary<number[]>) =>
  shapes.chain((shape) => fc.record({ shape: fc.constant(shape), data: dataFor(shape, anyValue) }));
const sameValues = (actual: T.NDArray, expected: Dense) => {
  expect(actual.shape).toEqual(expected.shape);
  expect(closeTo(actual.data, expected.data, 0, 0)).toBeUndefined();
};
/** Builds an array of `shape` whose element at each multi-index is `f(index)`. */
const tabulate = (shape: number[], f: (idx: number[]) => number): Dense => ({
  shape,
  data: Array.from({ length: size(shape) }, (_, i) => f(unravel(i, shape))),
});

/** Python's range(start, stop, step) for a slice of an axis of size n, computed by walking. */
function pythonSliceIndices(n: number, start: number | null, stop: number | null, step: number): number[] {
  const norm = (v: number) => (v < 0 ? v + n : v);
  const out: number[] = [];
  if (step > 0) {
    const s = Math.max(0, Math.min(n, start === null ? 0 : norm(start)));
    const e = Math.max(0, Math.min(n, stop === null ? n : norm(stop)));
    for (let i = s; i < e; i += step) out.push(i);
  } else {
    const s = Math.max(-1, Math.min(n - 1, start === null ? n - 1 : norm(start)));
    const e = stop === null ? -1 : Math.max(-1, Math.min(n - 1, norm(stop)));
    for (let i = s; i > e; i += step) out.push(i);
  }
  return out;
}

describe('shape ops against plain loops', () => {
  it('reshape keeps row-major order, including -1', async () => {
    await fc.assert(
      fc.asyncProperty(
        withData(shapeArb()),
        fc.integer({ min: 0, max: 3 }),
        fc.boolean(),
        async (x, splitAt, infer) => {
          const n = size(x.shape);
          const target = n === 0 ? [0] : [n];
          if (n > 0 && splitAt > 0 && n % (splitAt + 1) === 0) target.splice(0, 1, splitAt + 1, n / (splitAt + 1));
          const spelled = infer && n > 0 ? target.map((d, i) => (i === 0 ? -1 : d)) : target;
          const { out } = await evaluate([x], ([a]) => T.reshape(a!, spelled));
          sameValues(out, { shape: target, data: x.data });
        },
      ),
      { numRuns: 60 },
    );
  });

  it('transpose permutes axes', async () => {
    await fc.assert(
      fc.asyncProperty(
        withData(shapeArb()).chain((x) =>
          fc.tuple(
            fc.constant(x),
            fc.shuffledSubarray(
              x.shape.map((_, i) => i),
              { minLength: x.shape.length, maxLength: x.shape.length },
            ),
          ),
        ),
        async ([x, perm]) => {
          const { out } = await evaluate([x], ([a]) => T.transpose(a!, perm));
          sameValues(
            out,
            tabulate(
              perm.map((p) => x.shape[p]!),
              (idx) => {
                const src = new Array<number>(perm.length);
                perm.forEach((p, i) => (src[p] = idx[i]!));
                return x.data[ravel(src, x.shape)]!;
              },
            ),
          );
        },
      ),
      { numRuns: 60 },
    );
  });

  it('expandDims, squeeze and flatten only change the shape', async () => {
    await fc.assert(
      fc.asyncProperty(withData(shapeArb(3)), fc.nat(), async (x, pick) => {
        const axis = pick % (x.shape.length + 1);
        const expanded = [...x.shape];
        expanded.splice(axis, 0, 1);
        sameValues((await evaluate([x], ([a]) => T.expandDims(a!, axis))).out, { shape: expanded, data: x.data });
        sameValues((await evaluate([x], ([a]) => T.squeeze(T.expandDims(a!, axis), axis))).out, {
          shape: x.shape,
          data: x.data,
        });
        sameValues((await evaluate([x], ([a]) => T.flatten(a!))).out, { shape: [size(x.shape)], data: x.data });
      }),
      { numRuns: 40 },
    );
  });

  it('concat and stack join along an axis', async () => {
    const arb = fc
      .tuple(nonEmptyShape(1, 3), fc.nat(), fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 3 }))
      .chain(([base, pick, sizes]) => {
        const axis = pick % base.length;
        return fc.tuple(
          fc.constant(axis),
          fc.tuple(...sizes.map((s) => withData(fc.constant(base.map((d, i) => (i === axis ? s : d)))))),
        );
      });
    await fc.assert(
      fc.asyncProperty(arb, async ([axis, parts]) => {
        const { out } = await evaluate(parts, (xs) => T.concat(xs, axis));
        const shape = [...parts[0]!.shape];
        shape[axis] = parts.reduce((s, p) => s + p.shape[axis]!, 0);
        sameValues(
          out,
          tabulate(shape, (idx) => {
            let i = idx[axis]!;
            for (const p of parts) {
              if (i < p.shape[axis]!)
                return p.data[
                  ravel(
                    idx.map((v, a) => (a === axis ? i : v)),
                    p.shape,
                  )
                ]!;
              i -= p.shape[axis]!;
            }
            throw new Error('unreachable');
          }),
        );
        if (parts.every((p) => p.shape[axis] === parts[0]!.shape[axis])) {
          const stacked = (await evaluate(parts, (xs) => T.stack(xs, 0))).out;
          sameValues(stacked, { shape: [parts.length, ...parts[0]!.shape], data: parts.flatMap((p) => p.data) });
        }
      }),
      { numRuns: 60 },
    );
  });

  it('index/slice follow Python slicing, including negative bounds and steps', async () => {
    const bound = fc.option(fc.integer({ min: -6, max: 6 }), { nil: null });
    const spec = fc.tuple(bound, bound, fc.constantFrom(1, 2, 3, -1, -2));
    const arb = withData(shapeArb(3)).chain((x) => fc.tuple(fc.constant(x), fc.tuple(...x.shape.map(() => spec))));
    await fc.assert(
      fc.asyncProperty(arb, async ([x, specs]) => {
        const { out, node } = await evaluate([x], ([a]) => T.index(a!, ...specs));
        const picks = specs.map(([s, e, st], i) => pythonSliceIndices(x.shape[i]!, s, e, st));
        const expected = tabulate(
          picks.map((p) => p.length),
          (idx) =>
            x.data[
              ravel(
                idx.map((v, a) => picks[a]![v]!),
                x.shape,
              )
            ]!,
        );
        sameValues(out, expected);
        expect(node.shape).toEqual(expected.shape);
      }),
      { numRuns: 100 },
    );
  });

  it('slices of bigger arrays, mostly in steps of 1 with whole trailing axes (copied as contiguous runs), follow Python slicing', async () => {
    const bound = fc.option(fc.integer({ min: -7, max: 7 }), { nil: null });
    const spec = fc.oneof(
      { weight: 3, arbitrary: fc.constant([null, null, 1] as const) },
      { weight: 3, arbitrary: fc.tuple(bound, bound, fc.constant(1)) },
      { weight: 1, arbitrary: fc.tuple(bound, bound, fc.constantFrom(2, -1)) },
    );
    const arb = withData(fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 4 })).chain((x) =>
      fc.tuple(fc.constant(x), fc.tuple(...x.shape.map(() => spec))),
    );
    await fc.assert(
      fc.asyncProperty(arb, async ([x, specs]) => {
        const { out } = await evaluate([x], ([a]) => T.index(a!, ...specs));
        const picks = specs.map(([s, e, st], i) => pythonSliceIndices(x.shape[i]!, s, e, st));
        sameValues(
          out,
          tabulate(
            picks.map((p) => p.length),
            (idx) =>
              x.data[
                ravel(
                  idx.map((v, a) => picks[a]![v]!),
                  x.shape,
                )
              ]!,
          ),
        );
      }),
      { numRuns: 100 },
    );
  });

  it('an integer index drops the axis; string slices read like Python', async () => {
    const x = { shape: [3, 4], data: Array.from({ length: 12 }, (_, i) => i) };
    sameValues((await evaluate([x], ([a]) => T.index(a!, -1))).out, { shape: [4], data: [8, 9, 10, 11] });
    sameValues((await evaluate([x], ([a]) => T.index(a!, '::2', 1))).out, { shape: [2], data: [1, 9] });
    sameValues((await evaluate([x], ([a]) => a!.slice([1, 1], [2, -1]))).out, {
      shape: [2, 3],
      data: [5, 6, 7, 9, 10, 11],
    });
    expect(() => T.index(T.tensor('m', { shape: [3, 4] }), 3)).toThrow(
      /index\(m \[3, 4\]\): index 3 is out of range for axis 0 of size 3/,
    );
  });

  it('gather picks slices by (possibly negative) int32 indices', async () => {
    const arb = withData(nonEmptyShape(1, 3)).chain((x) =>
      fc
        .tuple(
          fc.constant(x),
          fc.nat().map((p) => p % x.shape.length),
        )
        .chain(([x, axis]) =>
          fc.tuple(
            fc.constant(x),
            fc.constant(axis),
            fc.array(fc.integer({ min: -x.shape[axis]!, max: x.shape[axis]! - 1 }), { maxLength: 5 }),
          ),
        ),
    );
    await fc.assert(
      fc.asyncProperty(arb, async ([x, axis, indices]) => {
        const { out } = await evaluate([x, { shape: [indices.length], data: indices, dtype: 'int32' }], ([a, i]) =>
          T.gather(a!, i!, axis),
        );
        const shape = [...x.shape.slice(0, axis), indices.length, ...x.shape.slice(axis + 1)];
        sameValues(
          out,
          tabulate(shape, (idx) => {
            const j = indices[idx[axis]!]!;
            return x.data[
              ravel(
                idx.map((v, a) => (a === axis ? (j < 0 ? j + x.shape[axis]! : j) : v)),
                x.shape,
              )
            ]!;
          }),
        );
      }),
      { numRuns: 60 },
    );
  });

  it('gather with an out-of-range index is an error at call time naming the op', async () => {
    const x = T.tensor('table', { dtype: 'float64', shape: [3, 2] });
    const i = T.tensor('ids', { dtype: 'int32', shape: [null] });
    const f = await T.compile([x, i], T.gather(x, i));
    expect(() => f(T.zeros([3, 2], 'float64'), T.array([0, 3], { dtype: 'int32' }))).toThrow(
      /gather\(table, ids\): gather: index 3 is out of range/,
    );
  });

  it('oneHot and pad', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: -1, max: 5 }), { maxLength: 6 }),
        fc.integer({ min: 1, max: 5 }),
        async (ids, depth) => {
          const { out } = await evaluate([{ shape: [ids.length], data: ids, dtype: 'int32' }], ([i]) =>
            T.oneHot(i!, depth, 'float64'),
          );
          sameValues(
            out,
            tabulate([ids.length, depth], ([r, c]) => (ids[r!] === c ? 1 : 0)),
          );
        },
      ),
      { numRuns: 40 },
    );
    await fc.assert(
      fc.asyncProperty(
        withData(shapeArb(3)).chain((x) =>
          fc.tuple(fc.constant(x), fc.tuple(...x.shape.map(() => fc.tuple(fc.nat(2), fc.nat(2))))),
        ),
        async ([x, pads]) => {
          const { out } = await evaluate([x], ([a]) => T.pad(a!, pads, 7));
          sameValues(
            out,
            tabulate(
              x.shape.map((d, i) => d + pads[i]![0] + pads[i]![1]),
              (idx) => {
                const src = idx.map((v, i) => v - pads[i]![0]);
                return src.every((v, i) => v >= 0 && v < x.shape[i]!) ? x.data[ravel(src, x.shape)]! : 7;
              },
            ),
          );
        },
      ),
      { numRuns: 40 },
    );
  });
});
