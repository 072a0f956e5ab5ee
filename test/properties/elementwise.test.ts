import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import { broadcastingShapes, dataFor, anyValue } from '../helpers/arbitraries.js';
import { closeTo, naiveElementwise } from '../helpers/naive.js';
import { evaluate } from '../helpers/run.js';
import { erfc, gelu } from '../../runtime/reference/scalar-math.js';

/** erf by composite Simpson integration of 2/sqrt(pi) e^{-t^2}: slow, simple, and independent of the runtime's series. */
function erfBySimpson(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (Math.abs(x) > 6) return Math.sign(x);
  const n = 2000;
  const h = x / n;
  let s = 1 + Math.exp(-x * x);
  for (let i = 1; i < n; i++) s += (i % 2 ? 4 : 2) * Math.exp(-((i * h) ** 2));
  return ((s * h) / 3) * (2 / Math.sqrt(Math.PI));
}

const anyNaN = (...v: number[]) => v.some(Number.isNaN);
const SELU_ALPHA = 1.6732632423543772848170429916717;
const SELU_LAMBDA = 1.0507009873554804934193349852946;

interface Case {
  build: (xs: T.Node[]) => T.Node;
  naive: (...v: number[]) => number;
  arity: number;
  rel?: number;
  abs?: number;
}

const unary = (
  f: (x: T.Node) => T.Node,
  naive: (a: number) => number,
  tol: { rel?: number; abs?: number } = {},
): Case => ({ build: ([x]) => f(x!), naive, arity: 1, ...tol });
const binary = (f: (a: T.Node, b: T.Node) => T.Node, naive: (a: number, b: number) => number): Case => ({
  build: ([a, b]) => f(a!, b!),
  naive: naive as Case['naive'],
  arity: 2,
});
const truth = (v: number) => v !== 0;

const CASES: Record<string, Case> = {
  neg: unary(T.neg, (a) => -a),
  exp: unary(T.exp, Math.exp),
  log: unary(T.log, Math.log),
  log1p: unary(T.log1p, Math.log1p),
  expm1: unary(T.expm1, Math.expm1),
  sqrt: unary(T.sqrt, Math.sqrt),
  rsqrt: unary(T.rsqrt, (a) => 1 / Math.sqrt(a)),
  square: unary(T.square, (a) => a * a),
  abs: unary(T.abs, Math.abs),
  sign: unary(T.sign, (a) => (Number.isNaN(a) ? NaN : a > 0 ? 1 : a < 0 ? -1 : 0)),
  tanh: unary(T.tanh, Math.tanh),
  sigmoid: unary(T.sigmoid, (a) => 1 / (1 + Math.exp(-a)), { abs: 1e-300, rel: 1e-14 }),
  softplus: unary(T.softplus, (a) => (a > 30 ? a + Math.log1p(Math.exp(-a)) : Math.log1p(Math.exp(a))), { rel: 1e-14 }),
  relu: unary(T.relu, (a) => Math.max(a, 0)),
  elu: unary(
    (x) => T.elu(x, 1.3),
    (a) => (a > 0 ? a : 1.3 * (Math.exp(a) - 1)),
    { abs: 1e-15 },
  ),
  selu: unary(T.selu, (a) => SELU_LAMBDA * (a > 0 ? a : SELU_ALPHA * (Math.exp(a) - 1)), { abs: 1e-15 }),
  gelu: unary(T.gelu, (a) => (a === -Infinity ? 0 : 0.5 * a * (1 + erfBySimpson(a / Math.SQRT2))), {
    abs: 1e-12,
    rel: 1e-12,
  }),
  erf: unary(T.erf, erfBySimpson, { abs: 1e-13 }),
  sin: unary(T.sin, Math.sin),
  cos: unary(T.cos, Math.cos),
  not: unary(T.not, (a) => (truth(a) ? 0 : 1)),
  reciprocal: unary(T.reciprocal, (a) => 1 / a),
  log1mexp: unary(T.log1mexp, (a) => Math.log(-Math.expm1(a)), { abs: 1e-15 }),
  add: binary(T.add, (a, b) => a + b),
  sub: binary(T.sub, (a, b) => a - b),
  mul: binary(T.mul, (a, b) => a * b),
  div: binary(T.div, (a, b) => a / b),
  pow: binary(T.pow, (a, b) => a ** b),
  maximum: binary(T.maximum, (a, b) => (anyNaN(a, b) ? NaN : a > b ? a : b)),
  minimum: binary(T.minimum, (a, b) => (anyNaN(a, b) ? NaN : a < b ? a : b)),
  eq: binary(T.eq, (a, b) => +(a === b)),
  ne: binary(T.ne, (a, b) => +(a !== b)),
  lt: binary(T.lt, (a, b) => +(a < b)),
  le: binary(T.le, (a, b) => +(a <= b)),
  gt: binary(T.gt, (a, b) => +(a > b)),
  ge: binary(T.ge, (a, b) => +(a >= b)),
  and: binary(T.and, (a, b) => +(truth(a) && truth(b))),
  or: binary(T.or, (a, b) => +(truth(a) || truth(b))),
  where: { build: ([c, a, b]) => T.where(c!, a!, b!), naive: (c, a, b) => (truth(c!) ? a! : b!), arity: 3 },
  clip: {
    build: ([x, lo, hi]) => T.clip(x!, lo!, hi!),
    naive: (x, lo, hi) => (anyNaN(x!, lo!, hi!) ? NaN : Math.min(hi!, x! < lo! ? lo! : x!)),
    arity: 3,
  },
};

const operandsArb = (arity: number) =>
  broadcastingShapes(arity).chain((shapes) =>
    fc.tuple(
      ...shapes.map((shape) =>
        fc.record({
          shape: fc.constant(shape),
          data: dataFor(shape, anyValue),
          unknown: fc.array(fc.boolean(), { minLength: shape.length, maxLength: shape.length }),
        }),
      ),
    ),
  );

describe('elementwise ops against plain loops (broadcasting, size-0 and size-1 axes, extreme values)', () => {
  for (const [name, c] of Object.entries(CASES)) {
    it(`${name} float64`, async () => {
      await fc.assert(
        fc.asyncProperty(operandsArb(c.arity), async (operands) => {
          const { out } = await evaluate(operands, c.build);
          const expected = naiveElementwise(operands, c.naive);
          expect(out.shape).toEqual(expected.shape);
          expect(closeTo(out.data, expected.data, c.rel ?? 1e-15, c.abs ?? 1e-300)).toBeUndefined();
        }),
        { numRuns: 60 },
      );
    });
    it(`${name} float32 rounds once per op`, async () => {
      await fc.assert(
        fc.asyncProperty(operandsArb(c.arity), async (operands) => {
          const f32 = operands.map((o) => ({ ...o, data: o.data.map(Math.fround), dtype: 'float32' as const }));
          const { out } = await evaluate(f32, c.build);
          const expected = naiveElementwise(f32, c.naive);
          expect(out.dtype).toBe(name.match(/^(eq|ne|lt|le|gt|ge|and|or|not)$/) ? 'bool' : 'float32');
          expect(closeTo(out.data, expected.data.map(Math.fround), 1e-6, Math.max(c.abs ?? 0, 1e-37))).toBeUndefined();
        }),
        { numRuns: 25 },
      );
    });
  }

  it('erf matches published values to double precision', async () => {
    // Reference values from Abramowitz & Stegun table 7.1 and standard tables (not from this code).
    const table: [number, number][] = [
      [0.5, 0.5204998778130465],
      [1, 0.8427007929497149],
      [2, 0.9953222650189527],
      [3.5, 0.9999992569016276],
    ];
    const { out } = await evaluate([{ shape: [4], data: table.map(([x]) => x) }], ([x]) => T.erf(x!));
    expect(
      closeTo(
        out.data,
        table.map(([, v]) => v),
        1e-15,
      ),
    ).toBeUndefined();
  });

  it('erfc and gelu keep their digits down to the float64 underflow', () => {
    // Evaluated at 80 digits from the float64 inputs' exact values (erfc's continued fraction run
    // backward 4000 terms deep), independently of this code. Squaring x or −x/√2 in float64 alone
    // would cost up to 2e-14 here.
    const erfcTable: [number, number][] = [
      [4.1, 6.70002765408491828435e-9],
      [13.37, 9.79381736412246811425e-80],
      [20.7, 2.20854811024888849426e-188],
      [25.9, 1.02028331847326673057e-293],
      [26.3, 8.5902490587940487801e-303],
    ];
    const geluTable: [number, number][] = [
      [-3.3, -1.59529966986646579152e-3],
      [-10.5, -4.53495663369969193728e-25],
      [-25.3, -4.04070127951276553103e-140],
      [-33.7, -9.74043655289046772141e-248],
      [-37.1, -5.21148139501240848076e-300],
    ];
    expect(
      closeTo(
        erfcTable.map(([x]) => erfc(x)),
        erfcTable.map(([, v]) => v),
        1e-15,
      ),
    ).toBeUndefined();
    expect(
      closeTo(
        geluTable.map(([x]) => gelu(x)),
        geluTable.map(([, v]) => v),
        1e-15,
      ),
    ).toBeUndefined();
  });
});

describe('cast', () => {
  it('float to int32 truncates toward zero, to bool is "not zero" (NaN is true), int to float is exact', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(fc.double({ min: -1e6, max: 1e6, noNaN: true }), fc.constant(NaN)), { maxLength: 8 }),
        async (values) => {
          const data = values.map((v) => (Number.isNaN(v) ? 0.5 : v));
          const { out: ints } = await evaluate([{ shape: [data.length], data }], ([x]) => T.cast(x!, 'int32'));
          expect(Array.from(ints.data)).toEqual(data.map((v) => Math.trunc(v) + 0));
          const { out: bools } = await evaluate([{ shape: [values.length], data: values }], ([x]) =>
            T.cast(x!, 'bool'),
          );
          expect(Array.from(bools.data)).toEqual(values.map((v) => (v === 0 ? 0 : 1)));
          const { out: back } = await evaluate(
            [{ shape: [data.length], data: data.map(Math.trunc), dtype: 'int32' }],
            ([x]) => T.cast(x!, 'float64'),
          );
          expect(Array.from(back.data)).toEqual(data.map((v) => Math.trunc(v) + 0));
        },
      ),
      { numRuns: 50 },
    );
  });
});
