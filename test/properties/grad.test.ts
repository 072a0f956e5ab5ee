import fc from 'fast-check';
import { describe, it } from 'vitest';
import * as T from 'tsano';
import { broadcastingShapes, dataFor, inRange, nonEmptyShape } from '../helpers/arbitraries.js';
import { checkGradient } from '../helpers/gradcheck.js';
import { size } from '../helpers/naive.js';
import type { Operand } from '../helpers/run.js';

type Domain = fc.Arbitrary<number>;
const anywhere = inRange(-3, 3);
const positive = inRange(0.2, 3);
const awayFromZero = fc.tuple(inRange(0.1, 3), fc.boolean()).map(([v, s]) => (s ? v : -v));
/** Values on a lattice offset from `offset`: operands drawn with different offsets never tie. */
const lattice = (offset: number) => fc.integer({ min: -12, max: 12 }).map((k) => k * 0.25 + offset);

const operand = (shape: number[], domain: Domain, unknown = false) =>
  fc.record({
    shape: fc.constant(shape),
    data: dataFor(shape, domain),
    unknown: fc.constant(shape.map(() => unknown)),
  });
const operandOf = (shapes: fc.Arbitrary<number[]>, domain: Domain) => shapes.chain((s) => operand(s, domain));
/** Distinct values (no ties for max/min/pooling). */
const distinctOperand = (shapes: fc.Arbitrary<number[]>) =>
  shapes.chain((shape) =>
    fc
      .uniqueArray(fc.integer({ min: -60, max: 60 }), { minLength: size(shape), maxLength: size(shape) })
      .map((ks) => ({ shape, data: ks.map((k) => k * 0.05) })),
  );

const RUNS = { numRuns: 15 };
const prop = (arb: fc.Arbitrary<Operand[]>, build: (xs: T.Node[]) => T.Node, wrt?: number[]) =>
  fc.assert(
    fc.asyncProperty(arb, (ops) => checkGradient(ops, build, wrt)),
    RUNS,
  );

const UNARY: Record<string, [(x: T.Node) => T.Node, Domain]> = {
  neg: [T.neg, anywhere],
  exp: [T.exp, anywhere],
  log: [T.log, positive],
  log1p: [T.log1p, positive],
  expm1: [T.expm1, anywhere],
  sqrt: [T.sqrt, positive],
  rsqrt: [T.rsqrt, positive],
  square: [T.square, anywhere],
  abs: [T.abs, awayFromZero],
  tanh: [T.tanh, anywhere],
  sigmoid: [T.sigmoid, anywhere],
  softplus: [T.softplus, anywhere],
  relu: [T.relu, awayFromZero],
  elu: [(x) => T.elu(x, 0.7), awayFromZero],
  selu: [T.selu, awayFromZero],
  gelu: [T.gelu, anywhere],
  erf: [T.erf, anywhere],
  sin: [T.sin, anywhere],
  cos: [T.cos, anywhere],
  reciprocal: [T.reciprocal, awayFromZero],
  log1mexp: [T.log1mexp, inRange(-3, -0.1)],
};

const BINARY: Record<string, [(a: T.Node, b: T.Node) => T.Node, Domain, Domain]> = {
  add: [T.add, anywhere, anywhere],
  sub: [T.sub, anywhere, anywhere],
  mul: [T.mul, anywhere, anywhere],
  div: [T.div, anywhere, awayFromZero],
  pow: [T.pow, inRange(0.5, 2), inRange(-2, 2)],
  maximum: [T.maximum, lattice(0.1), lattice(0)],
  minimum: [T.minimum, lattice(0.1), lattice(0)],
};

const broadcastPair = (da: Domain, db: Domain) =>
  broadcastingShapes(2).chain(([a, b]) => fc.tuple(operand(a!, da), operand(b!, db, true)));

describe('gradients match central finite differences (float64)', () => {
  for (const [name, [f, domain]] of Object.entries(UNARY)) {
    it(name, () =>
      prop(
        operandOf(nonEmptyShape(0, 3), domain).map((o) => [o]),
        ([x]) => f(x!),
      ),
    );
  }
  for (const [name, [f, da, db]] of Object.entries(BINARY)) {
    it(`${name} with broadcasting`, () => prop(broadcastPair(da, db), ([a, b]) => f(a!, b!)));
  }

  it('where', () =>
    prop(
      broadcastingShapes(3).chain(([c, a, b]) =>
        fc.tuple(
          operand(c!, fc.constantFrom(0, 1)).map((o) => ({ ...o, dtype: 'bool' as const })),
          operand(a!, anywhere),
          operand(b!, anywhere),
        ),
      ),
      ([c, a, b]) => T.where(c!, a!, b!),
      [1, 2],
    ));
  it('clip (value and bounds)', () =>
    prop(
      broadcastingShapes(3).chain(([x, lo, hi]) =>
        fc.tuple(operand(x!, lattice(0.1)), operand(lo!, lattice(-1)), operand(hi!, lattice(1.13))),
      ),
      ([x, lo, hi]) => T.clip(x!, lo!, hi!),
    ));

  const reductionArb = (values: (s: fc.Arbitrary<number[]>) => fc.Arbitrary<Operand>) =>
    nonEmptyShape(1, 3).chain((shape) =>
      fc.tuple(
        values(fc.constant(shape)),
        fc.subarray(
          shape.map((_, i) => i),
          { minLength: 1 },
        ),
        fc.boolean(),
      ),
    );
  for (const name of ['sum', 'mean', 'logsumexp'] as const) {
    it(`${name} over axis subsets`, () =>
      fc.assert(
        fc.asyncProperty(
          reductionArb((s) => operandOf(s, anywhere)),
          ([x, axes, keep]) => checkGradient([x], ([a]) => T[name](a!, axes, keep)),
        ),
        RUNS,
      ));
  }
  for (const name of ['max', 'min'] as const) {
    it(`${name} (distinct values)`, () =>
      fc.assert(
        fc.asyncProperty(reductionArb(distinctOperand), ([x, axes, keep]) =>
          checkGradient([x], ([a]) => T[name](a!, axes, keep)),
        ),
        RUNS,
      ));
  }
  it('prod, including slices with zeros', () =>
    fc.assert(
      fc.asyncProperty(
        reductionArb((s) => operandOf(s, fc.oneof(fc.constant(0), awayFromZero))),
        ([x, axes, keep]) => checkGradient([x], ([a]) => T.prod(a!, axes, keep)),
      ),
      RUNS,
    ));
  it('variance and std (distinct values)', () =>
    fc.assert(
      fc.asyncProperty(distinctOperand(nonEmptyShape(1, 2).filter((s) => s[0]! > 1)), (x) =>
        checkGradient([x], ([a]) => T.add(T.variance(a!, 0), T.std(a!, 0))),
      ),
      RUNS,
    ));

  it('dot, every rank combination with a second operand of rank <= 2', () =>
    prop(
      fc
        .tuple(
          fc.integer({ min: 0, max: 3 }),
          fc.integer({ min: 0, max: 2 }),
          fc.integer({ min: 1, max: 3 }),
          fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 3, maxLength: 3 }),
        )
        .chain(([ra, rb, k, dims]) =>
          fc.tuple(
            operand(ra === 0 ? [] : [...dims.slice(0, ra - 1), k], anywhere),
            operand(rb === 0 ? [] : rb === 1 ? [k] : [k, dims[2]!], anywhere),
          ),
        ),
      ([a, b]) => T.dot(a!, b!),
    ));
  it('matmul with batch broadcasting and 1-D operands', () =>
    prop(
      fc
        .tuple(
          fc.integer({ min: 1, max: 4 }),
          fc.integer({ min: 1, max: 4 }),
          fc.integer({ min: 1, max: 3 }),
          fc.integer({ min: 1, max: 3 }),
          fc.integer({ min: 1, max: 3 }),
          fc.boolean(),
        )
        .chain(([ra, rb, n, k, m, ones]) =>
          fc.tuple(
            operand(ra === 1 ? [k] : [...[2, 2].slice(0, ra - 2), n, k], anywhere),
            operand(rb === 1 ? [k] : [...[ones ? 1 : 2, 2].slice(0, rb - 2), k, m], anywhere),
          ),
        ),
      ([a, b]) => T.matmul(a!, b!),
    ));

  it('reshape, transpose, expandDims, squeeze, flatten', () =>
    prop(
      operandOf(nonEmptyShape(1, 3), anywhere).map((o) => [o]),
      ([x]) => T.add(T.mul(T.flatten(T.transpose(x!)), 2), T.sum(T.squeeze(T.expandDims(T.reshape(x!, [-1]), 0), 0))),
    ));
  it('concat and stack', () =>
    prop(fc.tuple(operand([2, 3], anywhere), operand([1, 3], anywhere), operand([2, 3], anywhere)), ([a, b, c]) =>
      T.add(T.sum(T.concat([a!, b!, c!], 0), 1), T.sum(T.stack([a!, c!], 1), [1, 2]).sum()),
    ));
  it('slices with negative steps, and integer indexing', () =>
    prop(
      operandOf(fc.constant([4, 5]), anywhere).map((o) => [o]),
      ([x]) => T.add(T.index(x!, '::-2', '1:4'), T.index(x!, 1, '::2').sum()),
    ));
  it('gather with repeated indices accumulates', () =>
    prop(
      fc.tuple(
        operand([4, 3], anywhere),
        fc
          .array(fc.integer({ min: -4, max: 3 }), { minLength: 1, maxLength: 6 })
          .map((ids) => ({ shape: [ids.length], data: ids, dtype: 'int32' as const })),
      ),
      ([x, ids]) => T.gather(x!, ids!, 0),
      [0],
    ));
  it('pad', () =>
    prop(
      operandOf(fc.constant([2, 3]), anywhere).map((o) => [o]),
      ([x]) =>
        T.pad(
          x!,
          [
            [1, 0],
            [2, 1],
          ],
          3,
        ),
    ));
  it('softmax and logSoftmax', () =>
    prop(
      operandOf(nonEmptyShape(1, 3), anywhere).map((o) => [o]),
      ([x]) => T.add(T.softmax(x!, 0), T.logSoftmax(x!, -1).mul(0.5)),
    ));

  const convArb = fc
    .tuple(
      fc.constantFrom('same' as const, 'valid' as const),
      fc.integer({ min: 1, max: 2 }),
      fc.integer({ min: 1, max: 2 }),
      fc.boolean(),
    )
    .chain(([padding, stride, dilation, cf]) =>
      fc.tuple(
        fc.constant({
          padding,
          strides: stride,
          dilation,
          dataFormat: cf ? ('channelsFirst' as const) : ('channelsLast' as const),
        }),
        operand(cf ? [2, 2, 5, 4] : [2, 5, 4, 2], anywhere),
        operand([2, 2, 2, 3], anywhere),
      ),
    );
  it('conv2d (input and kernel)', () =>
    fc.assert(
      fc.asyncProperty(convArb, ([opts, x, w]) => checkGradient([x, w], ([a, k]) => T.conv2d(a!, k!, opts))),
      { numRuns: 8 },
    ));
  it('max and average pooling', () =>
    fc.assert(
      fc.asyncProperty(
        fc.tuple(
          distinctOperand(fc.constant([1, 5, 4, 2])),
          fc.constantFrom('same' as const, 'valid' as const),
          fc.integer({ min: 1, max: 2 }),
        ),
        ([x, padding, s]) =>
          checkGradient([x], ([a]) =>
            T.add(
              T.sum(T.maxPool2d(a!, { poolSize: 2, strides: s, padding })),
              T.sum(T.avgPool2d(a!, { poolSize: [2, 3], strides: s, padding })),
            ),
          ),
      ),
      { numRuns: 8 },
    ));

  it('second derivatives through the gradient helpers (broadcast, slice, gather, concat, matmul, conv, pooling)', async () => {
    // d/dx of <grad f(x), v> checks the VJPs of the ops that gradients themselves emit.
    const hvp =
      (f: (x: T.Node) => T.Node) =>
      ([x]: T.Node[]) => {
        const g = T.grad(T.sum(f(x!)), x!);
        return T.sum(T.mul(g, T.sin(g)));
      };
    const x = { shape: [2, 3], data: [0.3, -0.7, 1.1, 0.2, -1.3, 0.9] };
    await checkGradient(
      [x],
      hvp((a) => T.tanh(T.add(a, T.constant(T.array([[0.5], [1]], { dtype: 'float64' }))))),
    );
    await checkGradient(
      [x],
      hvp((a) => T.exp(T.index(a, '::-1', '1:')).mul(T.concat([a, a], 0).sum())),
    );
    await checkGradient(
      [x],
      hvp((a) => T.square(T.gather(a, [1, 1, 0], 0))),
    );
    await checkGradient(
      [x],
      hvp((a) => T.sin(T.matmul(a, T.transpose(a)))),
    );
    const img = { shape: [1, 4, 4, 1], data: Array.from({ length: 16 }, (_, i) => Math.sin(i)) };
    const kernel = T.constant(
      T.array(
        Float64Array.from({ length: 4 }, (_, i) => 0.3 * i - 0.4),
        { shape: [2, 2, 1, 1] },
      ),
    );
    await checkGradient(
      [img],
      hvp((a) => T.tanh(T.conv2d(a, kernel, { padding: 'same' }))),
    );
    await checkGradient(
      [img],
      hvp((a) => T.square(T.avgPool2d(a, { poolSize: 2, padding: 'same' }))),
    );
  });
});
