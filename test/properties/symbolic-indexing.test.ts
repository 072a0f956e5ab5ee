/**
 * Indexing with bounds known only at call time, integer arrays, subtensor updates and symbolic sizes,
 * against plain loops that follow Python's and NumPy's rules (written here, independent of tsano), in
 * both modes, with gradients by finite differences.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import { anyValue, dataFor } from '../helpers/arbitraries.js';
import { checkGradient } from '../helpers/gradcheck.js';

const MODES = ['js', 'wasm'] as const;

/** The indices range(n)[start:stop:step] visits (Python's slice.indices). */
function pySlice(n: number, start: number | null, stop: number | null, step: number): number[] {
  const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
  const norm = (v: number | null, open: number, lo: number, hi: number) =>
    v === null ? open : clamp(v < 0 ? v + n : v, lo, hi);
  const out: number[] = [];
  if (step > 0) {
    const a = norm(start, 0, 0, n);
    const b = norm(stop, n, 0, n);
    for (let i = a; i < b; i += step) out.push(i);
  } else {
    const a = norm(start, n - 1, -1, n - 1);
    const b = norm(stop, -1, -1, n - 1);
    for (let i = a; i > b; i += step) out.push(i);
  }
  return out;
}

const strides = (shape: readonly number[]) => shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
/** Every index tuple of a shape, in row-major order. */
function* indices(shape: readonly number[]): Generator<number[]> {
  const size = shape.reduce((a, b) => a * b, 1);
  const st = strides(shape);
  for (let k = 0; k < size; k++) yield shape.map((d, i) => Math.floor(k / st[i]!) % d);
}

const bound = (n: number) => fc.option(fc.integer({ min: -n - 2, max: n + 2 }), { nil: null });
const caseArb = fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 3 }).chain((shape) =>
  fc.record({
    shape: fc.constant(shape),
    data: dataFor(shape, anyValue),
    axis: fc.integer({ min: 0, max: shape.length - 1 }),
    start: bound(5),
    stop: bound(5),
    step: fc.constantFrom(1, 2, 3, -1, -2),
    index: fc.integer({ min: -5, max: 4 }),
  }),
);

/** x[..., start:stop:step on axis, ...] by loops. */
function plainSlice(c: { shape: number[]; data: number[]; axis: number }, picked: number[]) {
  const shape = c.shape.map((d, i) => (i === c.axis ? picked.length : d));
  const st = strides(c.shape);
  const data = [...indices(shape)].map((ix) => ix.reduce((o, v, i) => o + (i === c.axis ? picked[v]! : v) * st[i]!, 0));
  return { shape, data: data.map((o) => c.data[o]!) };
}

const sameValues = (got: T.NDArray, want: { shape: number[]; data: number[] }) => {
  expect(got.shape).toEqual(want.shape);
  expect(Array.from(got.data)).toEqual(want.data.map((v) => Math.fround(v)));
};

describe('indexing with bounds known at call time', () => {
  it('x[start:stop:step] on any axis with int32 scalar bounds, open ends included, as Python slices', async () => {
    const compiled = new Map<string, (...a: unknown[]) => unknown>();
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        const x = T.tensor('x', { shape: c.shape.map(() => null) });
        const start = T.iscalar('start');
        const stop = T.iscalar('stop');
        for (const mode of MODES) {
          const key = `${mode} ${c.shape.length} ${c.axis} ${c.step} ${c.start === null} ${c.stop === null}`;
          let f = compiled.get(key);
          if (!f) {
            const spec: T.IndexSpec[] = c.shape.map(() => null);
            spec[c.axis] = [c.start === null ? null : start, c.stop === null ? null : stop, c.step];
            const xs = T.tensor('x', { shape: c.shape.map(() => null) });
            f = (await T.compile([xs, start, stop], xs.index(...spec), { mode })) as never;
            compiled.set(key, f!);
          }
          const out = f!(T.array(c.data, c.shape), c.start ?? 0, c.stop ?? 0) as T.NDArray;
          sameValues(out, plainSlice(c, pySlice(c.shape[c.axis]!, c.start, c.stop, c.step)));
        }
        expect(x.ndim).toBe(c.shape.length);
      }),
      { numRuns: 60 },
    );
  });

  it('x[i] with an int32 scalar drops the axis; out of range is an error naming the index and size', async () => {
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        const x = T.tensor('x', { shape: c.shape });
        const i = T.iscalar('i');
        const spec: T.IndexSpec[] = c.shape.map(() => null);
        spec[c.axis] = i;
        const n = c.shape[c.axis]!;
        for (const mode of MODES) {
          const f = await T.compile([x, i], x.index(...spec), { mode });
          if (c.index >= n || c.index < -n) {
            expect(() => f(T.array(c.data, c.shape), c.index)).toThrow(
              new RegExp(`index ${c.index} is out of range for an axis of size ${n}`),
            );
            continue;
          }
          const want = plainSlice(c, [c.index < 0 ? c.index + n : c.index]);
          sameValues(f(T.array(c.data, c.shape), c.index), {
            shape: want.shape.filter((_, a) => a !== c.axis),
            data: want.data,
          });
        }
      }),
      { numRuns: 25 },
    );
  });

  it('gradients through dynamic slices and indices match finite differences', async () => {
    const start = T.constant(1, 'int32');
    await checkGradient([{ shape: [4, 3], data: [1, -2, 3, 0.5, 4, -1, 2, 2, 7, -3, 1, 0] }], ([x]) =>
      T.sin(x!.index([start, null, 2], start)).mul(3),
    );
  });
});

describe('integer-array indexing (NumPy advanced indexing)', () => {
  const advancedArb = fc
    .tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }))
    .chain(([a, b, c]) =>
      fc.record({
        shape: fc.constant([a, b, c]),
        data: dataFor([a, b, c], anyValue),
        axes: fc.constantFrom([0], [1], [2], [0, 1], [1, 2], [0, 2]),
        length: fc.integer({ min: 0, max: 4 }),
        seed: fc.integer({ min: 0, max: 1000 }),
      }),
    );

  it('x[i0, i1] over adjacent or separated axes: result axes in place or first, negative indices wrap', async () => {
    await fc.assert(
      fc.asyncProperty(advancedArb, async (c) => {
        const picks = c.axes.map((axis, k) =>
          Array.from(
            { length: c.length },
            (_, j) => ((c.seed * (j + 3) * (k + 7)) % (2 * c.shape[axis]!)) - c.shape[axis]!,
          ),
        );
        const x = T.tensor('x', { shape: c.shape });
        const spec: T.IndexSpec[] = [null, null, null];
        c.axes.forEach((axis, k) => (spec[axis] = T.array(picks[k]!, [c.length], 'int32')));
        // NumPy: the picked elements' axis replaces adjacent indexed axes, else comes first.
        const adjacent = c.axes.length === 1 || c.axes[1] === c.axes[0]! + 1;
        const others = [0, 1, 2].filter((a) => !(c.axes as readonly number[]).includes(a));
        const position = adjacent ? c.axes[0]! : 0;
        const outShape: number[] = others.map((a) => c.shape[a]!);
        outShape.splice(position, 0, c.length);
        const st = strides(c.shape);
        const want = [...indices(outShape)].map((ix) => {
          const j = ix[position]!;
          const rest = ix.filter((_, a) => a !== position);
          const full = [0, 0, 0];
          others.forEach((a, k) => (full[a] = rest[k]!));
          c.axes.forEach((a, k) => {
            const v = picks[k]![j]!;
            full[a] = v < 0 ? v + c.shape[a]! : v;
          });
          return c.data[full.reduce((o, v, a) => o + v * st[a]!, 0)]!;
        });
        for (const mode of MODES) {
          const f = await T.compile([x], x.index(...spec), { mode });
          sameValues(f(T.array(c.data, c.shape)), { shape: outShape, data: want });
        }
      }),
      { numRuns: 40 },
    );
  });

  it('an index out of range on any indexed axis is an error, not another row', async () => {
    const x = T.tensor('x', { shape: [3, 4] });
    const i = T.ivector('i');
    const j = T.ivector('j');
    for (const mode of MODES) {
      const f = await T.compile([x, i, j], x.index(i, j), { mode });
      expect(() => f(T.zeros([3, 4]), T.array([0], [1], 'int32'), T.array([4], [1], 'int32'))).toThrow(/out of range/);
    }
  });

  it("Theano's NLL, -mean(log(p)[arange(y.shape[0]), y]), and its gradient", async () => {
    const p = T.matrix('p');
    const y = T.ivector('y');
    const nll = T.mean(T.log(p).index(T.arange(T.shape(y)[0]!), y)).neg();
    const probabilities = [
      [0.2, 0.5, 0.3],
      [0.6, 0.1, 0.3],
    ];
    for (const mode of MODES) {
      const f = await T.compile([p, y], [nll, T.grad(nll, p)], { mode });
      const [value, gradient] = f(T.array(probabilities), T.array([1, 2], [2], 'int32'));
      expect(value!.item()).toBeCloseTo(-(Math.log(0.5) + Math.log(0.3)) / 2, 6);
      expect(gradient!.toArray()).toEqual([
        [0, Math.fround(-1 / (2 * 0.5)), 0],
        [0, 0, Math.fround(-1 / (2 * 0.3))],
      ]);
    }
  });

  it('gradients through integer-array indexing match finite differences', async () => {
    const rows = T.constant(T.array([2, 0, 2], [3], 'int32'));
    const cols = T.constant(T.array([1, 1, 0], [3], 'int32'));
    await checkGradient([{ shape: [3, 2], data: [1, -2, 3, 0.5, 4, -1] }], ([x]) => T.exp(x!.index(rows, cols)));
  });
});

describe('setSubtensor and incSubtensor', () => {
  const updateArb = fc.record({
    rows: fc.integer({ min: 1, max: 4 }),
    cols: fc.integer({ min: 1, max: 4 }),
    start: fc.integer({ min: -4, max: 4 }),
    stop: fc.option(fc.integer({ min: -4, max: 5 }), { nil: null }),
    picks: fc.array(fc.nat(100), { minLength: 1, maxLength: 4 }),
    seed: fc.integer({ min: 1, max: 1000 }),
  });

  it('x[a:b] and x[rows] replaced or increased by y (broadcast), as loops do; repeated rows add up', async () => {
    await fc.assert(
      fc.asyncProperty(updateArb, async (c) => {
        const data = Array.from({ length: c.rows * c.cols }, (_, i) => ((i * c.seed) % 17) - 8);
        const x = T.matrix('x');
        const y = T.vector('y');
        const start = T.iscalar('start');
        const rows = T.ivector('rows');
        const row = Array.from({ length: c.cols }, (_, j) => j * 10 + 1);
        const picked = pySlice(c.rows, c.start, c.stop, 1);
        const chosen = c.picks.map((p) => p % c.rows);
        const at = (r: number, j: number) => r * c.cols + j;
        const setWant = [...data];
        const incWant = [...data];
        for (const r of picked)
          for (let j = 0; j < c.cols; j++) ((setWant[at(r, j)] = row[j]!), (incWant[at(r, j)]! += row[j]!));
        const incRows = [...data];
        for (const r of chosen) for (let j = 0; j < c.cols; j++) incRows[at(r, j)]! += row[j]!;
        const setRows = [...data];
        for (const r of chosen) for (let j = 0; j < c.cols; j++) setRows[at(r, j)] = row[j]!;
        for (const mode of MODES) {
          const sub = x.index([start, c.stop]);
          const f = await T.compile(
            [x, y, start, rows],
            [
              T.setSubtensor(sub, y),
              T.incSubtensor(sub, y),
              T.incSubtensor(x.index(rows), y),
              T.setSubtensor(x.index(rows), y),
            ],
            { mode },
          );
          const out = f(
            T.array(data, [c.rows, c.cols]),
            T.array(row),
            c.start,
            T.array(chosen, [chosen.length], 'int32'),
          );
          expect(out.map((o) => Array.from(o.data))).toEqual([setWant, incWant, incRows, setRows]);
        }
      }),
      { numRuns: 30 },
    );
  });

  it('gradients with respect to x and y match finite differences', async () => {
    const rows = T.constant(T.array([0, 2, 0], [3], 'int32'));
    const operands = [
      { shape: [3, 2], data: [1, -2, 3, 0.5, 4, -1] },
      { shape: [2], data: [0.3, -0.7] },
    ];
    await checkGradient(operands, ([x, y]) => T.tanh(T.setSubtensor(x!.index('1:'), y!)));
    await checkGradient(operands, ([x, y]) => T.tanh(T.incSubtensor(x!.index(rows), y!)));
  });

  it('errors: not an index result, a value that does not broadcast, floats into ints', () => {
    const x = T.matrix('x');
    expect(() => T.setSubtensor(x.add(1), 2)).toThrow(/is not the result of index\(\)/);
    const fixed = T.tensor('w', { shape: [4, 3] });
    expect(() => T.incSubtensor(fixed.index('0:2'), T.tensor('v', { shape: [5] }))).toThrow(
      /v \[5\] does not broadcast to the indexed part \[2, 3\] of w \[4, 3\]/,
    );
    expect(() => T.setSubtensor(T.imatrix('k').index(0), 0.5)).toThrow(/cast one of them/);
  });
});

describe('symbolic sizes and ranges', () => {
  it('T.shape of a tensor whose batch is unknown, and arange over it, in both modes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 7 }), fc.integer({ min: 1, max: 3 }), async (n, step) => {
        const x = T.matrix('x');
        const [rows, cols] = T.shape(x);
        for (const mode of MODES) {
          const f = await T.compile(
            [x],
            [T.arange(rows!), T.arange(1, rows!.add(cols!), step), T.stack([rows!, cols!])],
            {
              mode,
            },
          );
          const [a, b, s] = f(T.zeros([n, 3]));
          expect(Array.from(a!.data)).toEqual(Array.from({ length: n }, (_, i) => i));
          expect(Array.from(b!.data)).toEqual(pySlice(n + 3, 1, null, step));
          expect(Array.from(s!.data)).toEqual([n, 3]);
          expect(a!.dtype).toBe('int32');
        }
      }),
      { numRuns: 10 },
    );
  });

  it('indices must be integers; boolean masks are refused with what to use instead', () => {
    const x = T.vector('x');
    expect(() => x.index(T.scalar('f'))).toThrow(/indices must be integers/);
    expect(() => x.index(x.gt(0))).toThrow(/use T.where/);
    expect(() => T.arange(0, 5, 0)).toThrow(/step must be finite and non-zero/);
  });
});
