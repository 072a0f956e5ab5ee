import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import * as tf from 'tsano/tf';
import { declaration, DECLARED_OP_NAMES, tfName, type DeclaredOp } from '../../runtime/declared-ops.js';
import { anyValue, broadcastingShapes, dataFor, inRange } from '../helpers/arbitraries.js';
import { checkGradient } from '../helpers/gradcheck.js';

/**
 * One suite for every op of runtime/declared-ops.ts: a declaration added without an oracle here fails
 * the first test. Each op runs as a wasm kernel against the reference interpreter (random shapes and
 * broadcasting, extremes, NaN and ±Inf, ties and exact halves, both float dtypes), the reference runs
 * against an independent float64 evaluation, and gradients against finite differences.
 */

type Scalar = (...v: number[]) => number;
interface Oracle {
  /** The value computed another way than the reference does (a different formula, never the same `Math` call). */
  readonly value: Scalar;
  /** Where that formula holds to `tolerance` (relative, or absolute below 1). */
  readonly values: fc.Arbitrary<number[]>;
  readonly tolerance: number;
  /** Operands where the gradient is smooth (away from jumps), for finite differences. */
  readonly smooth?: fc.Arbitrary<number[]>;
}

const one = (lo: number, hi: number) => fc.tuple(inRange(lo, hi));
const two = (lo: number, hi: number) => fc.tuple(inRange(lo, hi), inRange(lo, hi));
/** Integers: quotients and remainders of small integers are exact in float64, whatever the formula. */
const intPair = fc.tuple(
  fc.integer({ min: -50, max: 50 }),
  fc.integer({ min: -9, max: 9 }).filter((b) => b !== 0),
);
/** Pairs with a/b well away from an integer, where mod's and fmod's gradients are smooth. */
const offGrid = two(-20, 20).filter(([a, b]) => Math.abs(b!) > 0.2 && Math.abs(a! / b! - Math.round(a! / b!)) > 0.05);
const fraction = (v: number) => v - (v % 1);
const floorOf = (v: number) => (v >= 0 || v === fraction(v) ? fraction(v) : fraction(v) - 1);

/** Values away from a kink or pole at 0, where finite differences straddle it. */
const offZero = one(-5, 5).filter(([v]) => Math.abs(v!) > 0.05);

/** erf by composite Simpson integration of 2/√π·e^(−t²): slow, simple, and independent of the runtime's series. */
function erfBySimpson(x: number): number {
  const n = 2000;
  const h = x / n;
  let s = 1 + Math.exp(-x * x);
  for (let i = 1; i < n; i++) s += (i % 2 ? 4 : 2) * Math.exp(-((i * h) ** 2));
  return ((s * h) / 3) * (2 / Math.sqrt(Math.PI));
}
const SELU = { alpha: 1.6732632423543772848170429916717, scale: 1.0507009873554804934193349852946 };

/** Pairs away from a tie, where maximum's and minimum's gradients jump. */
const apart = two(-5, 5).filter(([a, b]) => Math.abs(a! - b!) > 0.05);
/** Integer pairs in ±1000: sums, differences, products and extremes are exact in float64 by any formula. */
const integers = fc.tuple(fc.integer({ min: -1000, max: 1000 }), fc.integer({ min: -1000, max: 1000 }));

/** Small integer pairs: ties, zeros and signs every way (comparisons and logic). */
const smallPairs = fc.tuple(fc.integer({ min: -3, max: 3 }), fc.integer({ min: -3, max: 3 }));

export const ORACLES: { readonly [K in DeclaredOp]: Oracle } = {
  eq: { value: (a, b) => +!(a! < b! || a! > b!), values: smallPairs, tolerance: 0 },
  ne: { value: (a, b) => +(a! < b! || a! > b!), values: smallPairs, tolerance: 0 },
  lt: { value: (a, b) => +(b! - a! > 0), values: smallPairs, tolerance: 0 },
  le: { value: (a, b) => +!(a! - b! > 0), values: smallPairs, tolerance: 0 },
  gt: { value: (a, b) => +(a! - b! > 0), values: smallPairs, tolerance: 0 },
  ge: { value: (a, b) => +!(b! - a! > 0), values: smallPairs, tolerance: 0 },
  and: { value: (a, b) => +(Boolean(a) && Boolean(b)), values: smallPairs, tolerance: 0 },
  or: { value: (a, b) => +(Boolean(a) || Boolean(b)), values: smallPairs, tolerance: 0 },
  not: { value: (a) => +!a, values: one(-2, 2).map(([v]) => [Math.round(v!)]), tolerance: 0 },
  add: { value: (a, b) => -(-a! - b!), values: integers, tolerance: 0 },
  sub: { value: (a, b) => a! + -b!, values: integers, tolerance: 0 },
  mul: { value: (a, b) => ((a! + b!) ** 2 - (a! - b!) ** 2) / 4, values: integers, tolerance: 0 },
  div: {
    value: (a, b) => a! * (1 / b!),
    values: two(-100, 100).filter(([, b]) => Math.abs(b!) > 1e-3),
    tolerance: 1e-15,
    smooth: two(-5, 5).filter(([, b]) => Math.abs(b!) > 0.1),
  },
  maximum: { value: (a, b) => (a! + b! + Math.abs(a! - b!)) / 2, values: integers, tolerance: 0, smooth: apart },
  minimum: { value: (a, b) => (a! + b! - Math.abs(a! - b!)) / 2, values: integers, tolerance: 0, smooth: apart },
  neg: { value: (v) => 0 - v, values: one(-1e6, 1e6), tolerance: 0 },
  exp: { value: (v) => 2 ** (v * Math.LOG2E), values: one(-50, 50), tolerance: 1e-13 },
  log: { value: (v) => Math.log2(v) * Math.LN2, values: one(1e-3, 1e6), tolerance: 1e-13, smooth: one(0.1, 50) },
  log1p: { value: (v) => Math.log(1 + v), values: one(0.5, 100), tolerance: 1e-13, smooth: one(-0.9, 20) },
  expm1: { value: (v) => Math.exp(v) - 1, values: one(1, 30), tolerance: 1e-13 },
  sqrt: { value: (v) => Math.exp(0.5 * Math.log(v)), values: one(1e-3, 1e6), tolerance: 1e-13, smooth: one(0.1, 50) },
  rsqrt: { value: (v) => v ** -0.5, values: one(1e-3, 1e6), tolerance: 1e-13, smooth: one(0.1, 50) },
  square: { value: (v) => v ** 2, values: one(-1e3, 1e3), tolerance: 1e-15 },
  abs: { value: (v) => Math.sqrt(v * v), values: one(-1e3, 1e3), tolerance: 1e-15, smooth: offZero },
  sign: { value: (v) => (v > 0 ? 1 : v < 0 ? -1 : v), values: one(-5, 5), tolerance: 0 },
  tanh: { value: (v) => (Math.exp(2 * v) - 1) / (Math.exp(2 * v) + 1), values: one(-5, 5), tolerance: 1e-13 },
  sigmoid: { value: (v) => 1 / (1 + Math.exp(-v)), values: one(-30, 30), tolerance: 1e-13 },
  softplus: { value: (v) => Math.log(1 + Math.exp(v)), values: one(-30, 30), tolerance: 1e-13 },
  relu: { value: (v) => (v > 0 ? v : 0), values: one(-5, 5), tolerance: 0, smooth: offZero },
  selu: {
    value: (v) => SELU.scale * (v > 0 ? v : SELU.alpha * (Math.exp(v) - 1)),
    values: one(-5, 5),
    tolerance: 1e-13,
    smooth: offZero,
  },
  gelu: { value: (v) => 0.5 * v * (1 + erfBySimpson(v / Math.SQRT2)), values: one(-5, 5), tolerance: 1e-10 },
  erf: { value: erfBySimpson, values: one(-5, 5), tolerance: 1e-10 },
  sin: { value: (v) => Math.cos(v - Math.PI / 2), values: one(-10, 10), tolerance: 1e-13 },
  cos: { value: (v) => Math.sin(v + Math.PI / 2), values: one(-10, 10), tolerance: 1e-13 },
  reciprocal: { value: (v) => v ** -1, values: one(-1e3, 1e3), tolerance: 1e-15, smooth: offZero },
  log1mexp: {
    value: (v) => Math.log(1 - Math.exp(v)),
    values: one(-30, -0.1),
    tolerance: 1e-12,
    smooth: one(-5, -0.1),
  },
  floor: { value: floorOf, values: one(-1e6, 1e6), tolerance: 0 },
  ceil: { value: (v) => -floorOf(-v), values: one(-1e6, 1e6), tolerance: 0 },
  round: {
    value: (v) => {
      const f = floorOf(v);
      const d = v - f;
      return d > 0.5 ? f + 1 : d < 0.5 ? f : f % 2 === 0 ? f : f + 1;
    },
    values: fc.oneof(one(-1e3, 1e3), fc.tuple(fc.integer({ min: -40, max: 40 }).map((k) => k + 0.5))),
    tolerance: 0,
  },
  trunc: { value: fraction, values: one(-1e6, 1e6), tolerance: 0 },
  isnan: { value: (v) => (v !== v ? 1 : 0), values: fc.tuple(anyValue), tolerance: 0 },
  isinf: { value: (v) => (v - v !== 0 && v === v ? 1 : 0), values: fc.tuple(anyValue), tolerance: 0 },
  isfinite: { value: (v) => (v - v === 0 ? 1 : 0), values: fc.tuple(anyValue), tolerance: 0 },
  tan: { value: (v) => Math.sin(v) / Math.cos(v), values: one(-1.5, 1.5), tolerance: 1e-13, smooth: one(-1.4, 1.4) },
  atan: { value: (v) => Math.asin(v / Math.sqrt(1 + v * v)), values: one(-100, 100), tolerance: 1e-13 },
  asin: {
    value: (v) => Math.atan2(v, Math.sqrt(1 - v * v)),
    values: one(-1, 1),
    tolerance: 1e-13,
    smooth: one(-0.95, 0.95),
  },
  acos: {
    value: (v) => Math.PI / 2 - Math.atan2(v, Math.sqrt(1 - v * v)),
    values: one(-1, 1),
    tolerance: 1e-13,
    smooth: one(-0.95, 0.95),
  },
  atan2: {
    value: (y, x) =>
      x! > 0 ? Math.atan(y! / x!) : Math.atan(y! / x!) + (y! < 0 || Object.is(y, -0) ? -Math.PI : Math.PI),
    values: two(-10, 10).filter(([, x]) => x !== 0),
    tolerance: 1e-13,
    smooth: two(-5, 5).filter(([y, x]) => Math.hypot(y!, x!) > 0.3 && !(x! < 0 && Math.abs(y!) < 0.05)),
  },
  sinh: { value: (v) => (Math.exp(v) - Math.exp(-v)) / 2, values: one(0.5, 30), tolerance: 1e-13 },
  cosh: { value: (v) => (Math.exp(v) + Math.exp(-v)) / 2, values: one(-30, 30), tolerance: 1e-13 },
  asinh: { value: (v) => Math.log(v + Math.sqrt(v * v + 1)), values: one(0.5, 1e3), tolerance: 1e-13 },
  acosh: {
    value: (v) => Math.log(v + Math.sqrt(v * v - 1)),
    values: one(1, 1e3),
    tolerance: 1e-13,
    smooth: one(1.1, 50),
  },
  atanh: { value: (v) => 0.5 * Math.log((1 + v) / (1 - v)), values: one(-0.9, 0.9), tolerance: 1e-13 },
  exp2: { value: (v) => Math.exp(v * Math.LN2), values: one(-30, 30), tolerance: 1e-13 },
  log2: { value: (v) => Math.log(v) / Math.LN2, values: one(1e-3, 1e6), tolerance: 1e-13, smooth: one(0.1, 50) },
  log10: { value: (v) => Math.log(v) / Math.LN10, values: one(1e-3, 1e6), tolerance: 1e-13, smooth: one(0.1, 50) },
  mod: { value: (a, b) => a! - b! * Math.floor(a! / b!), values: intPair, tolerance: 0, smooth: offGrid },
  fmod: { value: (a, b) => a! - b! * Math.trunc(a! / b!), values: intPair, tolerance: 0, smooth: offGrid },
  floorDiv: { value: (a, b) => Math.floor(a! / b!), values: intPair, tolerance: 0 },
};

/** Extra operands each op must meet: exact halves and integers, ties of the rounding rules, signed zeros, quotients near integers. */
const EDGES = [0.5, -0.5, 1.5, -2.5, 2.5, 3, -3, 0.1, 1e-40, 2 ** 24 + 1, 1e300, 0.9999999, 1.0000001, 1000];

const ulp32 = 2 ** -23;
/** Same NaN positions and infinities; finite values within `rel` of the reference (absolute `abs` near the subnormals). */
function disagreement(got: ArrayLike<number>, want: ArrayLike<number>, rel: number, abs: number): string | undefined {
  for (let i = 0; i < want.length; i++) {
    const [a, b] = [got[i]!, want[i]!];
    if (Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b))) continue;
    if (a === b && a !== 0) continue;
    if (!Number.isFinite(a) || !Number.isFinite(b) || Math.abs(a - b) > rel * Math.abs(b) + abs)
      return `at ${i}: got ${a}, reference ${b}`;
  }
  return undefined;
}

describe('the declared ops', () => {
  it('each has an oracle here, a builder T.op, a method x.op() and a tsano/tf function', () => {
    expect(Object.keys(ORACLES).sort()).toEqual([...DECLARED_OP_NAMES].sort());
    const x = T.vector('x');
    for (const op of DECLARED_OP_NAMES) {
      const arity = declaration(op).arity;
      expect(typeof (T as unknown as Record<string, unknown>)[op], `T.${op}`).toBe('function');
      expect(typeof (tf as unknown as Record<string, unknown>)[tfName(op)], `tf.${tfName(op)}`).toBe('function');
      const viaMethod = (x as unknown as Record<string, (...a: unknown[]) => T.Node>)[op]!(...(arity === 2 ? [x] : []));
      const viaBuilder = (T as unknown as Record<string, (...a: unknown[]) => T.Node>)[op]!(
        x,
        ...(arity === 2 ? [x] : []),
      );
      expect(viaMethod).toBe(viaBuilder);
    }
  });

  for (const op of DECLARED_OP_NAMES) {
    const { arity, dtype: rule } = declaration(op);
    const build = (T as unknown as Record<string, (...xs: T.Node[]) => T.Node>)[op]!;
    const oracle = ORACLES[op];

    for (const dtype of ['float32', 'float64'] as const) {
      it(`${op} (${dtype}): the wasm kernel agrees with the reference on extremes, edges and broadcasting`, async () => {
        // float32: 3 ulps; float64: the float64 math's limit (docs/accuracy.md).
        const [rel, abs] = dtype === 'float32' ? [(declaration(op).ulps ?? 3) * ulp32, 1e-44] : [1e-14, 1e-300];
        const values = fc.oneof(
          anyValue,
          fc.constantFrom(...EDGES),
          oracle.values.map((v) => v[0]!),
        );
        await fc.assert(
          fc.asyncProperty(
            broadcastingShapes(arity).chain((shapes) =>
              fc.tuple(fc.constant(shapes), fc.tuple(...shapes.map((s) => dataFor(s, values)))),
            ),
            async ([shapes, data]) => {
              const inputs = shapes.map((s, i) => T.tensor(`x${i}`, { dtype, shape: s }));
              const wasm = await T.compile(inputs, build(...inputs), { mode: 'wasm' });
              const js = await T.compile(inputs, build(...inputs), { mode: 'js' });
              const arrays = data.map((d, i) => T.array(d, { shape: shapes[i]!, dtype }));
              const [a, b] = [wasm(...arrays), js(...arrays)];
              expect(a.dtype).toBe(rule === 'bool' ? 'bool' : dtype);
              expect(a.shape).toEqual(b.shape);
              expect(wasm.stats.referenceSteps).toBe(0);
              expect(disagreement(a.data, b.data, rel, abs)).toBeUndefined();
            },
          ),
          { numRuns: 20 },
        );
      });
    }

    it(`${op}: the reference agrees with an independent float64 evaluation`, async () => {
      const inputs = Array.from({ length: arity }, (_, i) => T.tensor(`x${i}`, { dtype: 'float64', shape: [null] }));
      const f = await T.compile(inputs, build(...inputs), { mode: 'js' });
      await fc.assert(
        fc.asyncProperty(fc.array(oracle.values, { minLength: 1, maxLength: 16 }), async (rows) => {
          const columns = inputs.map((_, k) =>
            T.array(
              rows.map((r) => r[k]!),
              { dtype: 'float64' },
            ),
          );
          const got = f(...columns).data;
          rows.forEach((r, i) => {
            const want = oracle.value(...r);
            const scale = Math.max(1, Math.abs(want));
            if (!(Object.is(got[i], want) || Math.abs(got[i]! - want) <= oracle.tolerance * scale))
              throw new Error(`${op}(${r.join(', ')}): reference ${got[i]}, independently ${want}`);
          });
        }),
        { numRuns: 30 },
      );
    });

    const { gradient } = declaration(op);
    if (gradient === 'none') continue;
    it(`${op}: the gradient agrees with finite differences in float64${gradient === 'constant' ? ' (zero: the op is piecewise constant)' : ''}`, async () => {
      const [lo, hi] = declaration(op).domain ?? [-5, 5];
      const inside = (v: number) => Math.min(Math.max(v, lo + 0.05 * (hi - lo > 10 ? 1 : hi - lo)), hi - 0.05);
      const smooth =
        oracle.smooth ??
        fc.tuple(...Array.from({ length: arity }, () => inRange(Math.max(lo, -5), Math.min(hi, 5)).map(inside)));
      // Piecewise-constant ops: points off their jumps (integers and, for floorDiv, integer quotients).
      const points =
        gradient === 'constant'
          ? smooth.filter((r) =>
              r.every((v) => Math.abs(v - Math.round(v)) > 0.05 && Math.abs(v - Math.round(v)) < 0.45),
            )
          : smooth;
      await fc.assert(
        fc.asyncProperty(fc.array(points, { minLength: 1, maxLength: 5 }), async (rows) => {
          const operands = Array.from({ length: arity }, (_, k) => ({
            shape: [rows.length],
            data: rows.map((r) => r[k]!),
          }));
          await checkGradient(operands, (xs) => build(...xs));
        }),
        { numRuns: 10 },
      );
    });
  }
});
