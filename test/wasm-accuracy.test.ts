import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import { erf, gelu, log1mexp } from '../runtime/reference/scalar-math.js';

/** Distance in float32 units in the last place between two float32 values. */
function ulps(a: number, b: number): number {
  if (Object.is(a, b) || a === b) return 0;
  if (Number.isNaN(a) || Number.isNaN(b) || !Number.isFinite(a) || !Number.isFinite(b)) return Infinity;
  const toOrdered = (x: number) => {
    const i = new Int32Array(new Float32Array([x]).buffer)[0]!;
    return i < 0 ? -2147483648 - i : i;
  };
  return Math.abs(toOrdered(a) - toOrdered(b));
}

/** A sweep of float32 inputs over the whole range: dense near 0 and 1, logarithmic out to the overflow limits, plus specials. */
function sweep(lo: number, hi: number): Float32Array {
  const values = new Set<number>();
  for (let i = 0; i <= 4000; i++) values.add(Math.fround(lo + ((hi - lo) * i) / 4000));
  for (let e = -45; e <= 38; e += 0.05) {
    for (const s of [1, -1]) {
      const v = Math.fround(s * 10 ** e);
      if (v >= lo && v <= hi) values.add(v);
    }
  }
  return Float32Array.from(values);
}
/** Where the interesting structure of erf, gelu, sin and cos is: a dense sweep of [-30, 30] within the range. */
function denseNearZero(lo: number, hi: number): number[] {
  return Array.from({ length: 6001 }, (_, i) => Math.fround(-30 + i / 100)).filter((v) => v >= lo && v <= hi);
}
/** Float32 values next to multiples of π/2, where sin and cos lose the most digits to range reduction. */
function nearHalfPiMultiples(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let k = 1; k < 1e30; k = k < 200 ? k + 1 : k * 7.3) {
    const v = Math.fround((k * Math.PI) / 2);
    const bits = new Int32Array(new Float32Array([v]).buffer)[0]!;
    for (const d of [-1, 0, 1])
      out.push(
        new Float32Array(new Int32Array([bits + d]).buffer)[0]!,
        -new Float32Array(new Int32Array([bits + d]).buffer)[0]!,
      );
  }
  return out.filter((v) => v >= lo && v <= hi);
}
const SPECIALS = [0, -0, Infinity, -Infinity, NaN, 1.4e-45, -1.4e-45, 1.17549435e-38, 3.4028234e38, -3.4028234e38];

const softplus = (x: number) => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x)));
const sigmoid = (x: number) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

/** Each SIMD function against the float64 library value rounded to float32; limits are this suite's contract. */
const CASES: [string, (x: T.Node) => T.Node, (x: number) => number, number, number, number][] = [
  // name, op, reference, lo, hi, max ulps
  ['exp', T.exp, Math.exp, -110, 90, 2],
  ['log', T.log, Math.log, -1, 3.4e38, 2],
  ['log1p', T.log1p, Math.log1p, -1, 3.4e38, 3],
  ['expm1', T.expm1, Math.expm1, -110, 90, 3],
  ['tanh', T.tanh, Math.tanh, -20, 20, 3],
  ['sigmoid', T.sigmoid, sigmoid, -110, 110, 3],
  ['softplus', T.softplus, softplus, -110, 3.4e38, 3],
  ['erf', T.erf, erf, -3.4e38, 3.4e38, 4],
  ['gelu', T.gelu, gelu, -3.4e38, 3.4e38, 4],
  ['sin', T.sin, Math.sin, -3.4e38, 3.4e38, 4],
  ['cos', T.cos, Math.cos, -3.4e38, 3.4e38, 4],
  ['log1mexp', T.log1mexp, log1mexp, -110, 3.4e38, 4],
  // The declared ops (runtime/declared-ops.ts): tan as sin/cos in float32 lanes, the rest in widened float64 lanes.
  ['tan', T.tan, Math.tan, -3.4e38, 3.4e38, 3],
  ['atan', T.atan, Math.atan, -3.4e38, 3.4e38, 1],
  ['asin', T.asin, Math.asin, -1, 1, 1],
  ['acos', T.acos, Math.acos, -1, 1, 1],
  ['sinh', T.sinh, Math.sinh, -100, 100, 1],
  ['cosh', T.cosh, Math.cosh, -100, 100, 1],
  ['asinh', T.asinh, Math.asinh, -3.4e38, 3.4e38, 1],
  ['acosh', T.acosh, Math.acosh, -1, 3.4e38, 1],
  ['atanh', T.atanh, Math.atanh, -1, 1, 1],
  ['exp2', T.exp2, (x) => 2 ** x, -160, 130, 1],
  ['log2', T.log2, Math.log2, -1, 3.4e38, 1],
  ['log10', T.log10, Math.log10, -1, 3.4e38, 1],
];

describe('wasm SIMD float32 math against the float64 library, in ulps', () => {
  for (const [name, op, reference, lo, hi, limit] of CASES) {
    it(`${name}: at most ${limit} ulp over [${lo}, ${hi}], specials exact`, async () => {
      const inputs = Float32Array.from([
        ...sweep(lo, hi),
        ...denseNearZero(lo, hi),
        ...nearHalfPiMultiples(lo, hi),
        ...SPECIALS,
      ]);
      const x = T.vector('x');
      const f = await T.compile([x], op(x), { mode: 'wasm' });
      expect(f.stats.wasmKernels).toBe(1);
      const got = f(inputs);
      let worst = 0;
      let worstAt = 0;
      inputs.forEach((v, i) => {
        const want = Math.fround(reference(v));
        const err = Number.isNaN(want) ? (Number.isNaN(got.data[i]!) ? 0 : Infinity) : ulps(got.data[i]!, want);
        // Results below the smallest normal float32 count by absolute error (subnormals have fewer digits).
        const tolerated =
          Math.abs(want) < 1.17549435e-38
            ? Math.abs(got.data[i]! - want) <= 1.17549435e-38 * 2 ** -20
              ? 0
              : err
            : err;
        if (tolerated > worst) {
          worst = tolerated;
          worstAt = v;
        }
      });
      // At ±0 and ±Inf the result is exact, down to the sign of a zero (1/x tells them apart).
      for (const v of [0, -0, Infinity, -Infinity]) {
        const want = Math.fround(reference(v));
        const at = f([v]).data[0]!;
        expect(
          Object.is(at, want) || (Number.isNaN(want) && Number.isNaN(at)),
          `${name}(${Object.is(v, -0) ? '-0' : v}): got ${Object.is(at, -0) ? '-0' : at}, want ${Object.is(want, -0) ? '-0' : want}`,
        ).toBe(true);
      }
      if (process.env['TSANO_REPORT_ULPS']) console.log(`${name}: worst ${worst} ulp at x = ${worstAt}`);
      expect(
        worst,
        `${name} worst at x = ${worstAt}: got ${f([worstAt]).data[0]}, want ${Math.fround(reference(worstAt))}`,
      ).toBeLessThanOrEqual(limit);
    });
  }
});

describe('wasm SIMD float32 pow against Math.pow, in ulps', () => {
  it('at most 2 ulp over bases and exponents of every magnitude and sign, specials as Math.pow', async () => {
    const bases = [
      ...SPECIALS,
      -1,
      1,
      -2,
      0.5,
      ...Array.from({ length: 60 }, (_, i) => Math.fround((i % 2 ? -1 : 1) * 10 ** (-40 + (i * 78) / 59))),
    ];
    const exponents = [
      ...SPECIALS,
      1,
      -1,
      2,
      3,
      -3,
      0.5,
      -0.5,
      1 / 3,
      7,
      2 ** 24,
      2 ** 24 + 2,
      ...Array.from({ length: 60 }, (_, i) => Math.fround((i % 2 ? -1 : 1) * 10 ** (-6 + (i * 10) / 59))),
    ];
    const xs: number[] = [];
    const ys: number[] = [];
    for (const b of bases) for (const e of exponents) (xs.push(b), ys.push(e));
    const x = T.vector('x');
    const y = T.vector('y');
    const f = await T.compile([x, y], T.pow(x, y), { mode: 'wasm' });
    expect(f.stats.wasmKernels).toBe(1);
    const got = f(Float32Array.from(xs), Float32Array.from(ys)).data;
    let worst = 0;
    let worstAt = '';
    xs.forEach((b, i) => {
      const want = Math.fround(Math.pow(Math.fround(b), Math.fround(ys[i]!)));
      const g = got[i]!;
      const err = Number.isNaN(want)
        ? Number.isNaN(g)
          ? 0
          : Infinity
        : Math.abs(want) < 1.17549435e-38
          ? Math.abs(g - want) <= 2 ** -146
            ? 0
            : Infinity
          : ulps(g, want);
      if (err > worst) [worst, worstAt] = [err, `${Math.fround(b)} ** ${Math.fround(ys[i]!)}: got ${g}, want ${want}`];
    });
    if (process.env['TSANO_REPORT_ULPS']) console.log(`pow: worst ${worst} ulp at ${worstAt}`);
    expect(worst, worstAt).toBeLessThanOrEqual(2);
  });
});

describe('wasm SIMD float64 math against the float64 library', () => {
  /** |a − b| relative to |b| (absolute below 1e-300, where the library itself is subnormal). */
  const relative = (a: number, b: number) =>
    Object.is(a, b) || a === b
      ? 0
      : Number.isNaN(a) && Number.isNaN(b)
        ? 0
        : !Number.isFinite(a) || !Number.isFinite(b)
          ? Infinity
          : Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);
  const CASES64: [string, (x: T.Node) => T.Node, (x: number) => number, number, number][] = [
    ['exp', T.exp, Math.exp, -745, 709],
    ['log', T.log, Math.log, -1, 1.7e308],
    ['log1p', T.log1p, Math.log1p, -1, 1.7e308],
    ['expm1', T.expm1, Math.expm1, -745, 709],
    ['tanh', T.tanh, Math.tanh, -30, 30],
    ['sigmoid', T.sigmoid, sigmoid, -745, 745],
    ['softplus', T.softplus, softplus, -745, 1.7e308],
    ['log1mexp', T.log1mexp, log1mexp, -745, 1e300],
    ['sin', T.sin, Math.sin, -1.7976931348623157e308, 1.7976931348623157e308],
    ['cos', T.cos, Math.cos, -1.7976931348623157e308, 1.7976931348623157e308],
    ['erf', T.erf, erf, -1.7976931348623157e308, 1.7976931348623157e308],
    ['gelu', T.gelu, gelu, -1.7976931348623157e308, 1.7976931348623157e308],
    ['tan', T.tan, Math.tan, -1.7976931348623157e308, 1.7976931348623157e308],
    ['atan', T.atan, Math.atan, -1.7976931348623157e308, 1.7976931348623157e308],
    ['asin', T.asin, Math.asin, -1, 1],
    ['acos', T.acos, Math.acos, -1, 1],
    ['sinh', T.sinh, Math.sinh, -711, 711],
    ['cosh', T.cosh, Math.cosh, -711, 711],
    ['asinh', T.asinh, Math.asinh, -1.7976931348623157e308, 1.7976931348623157e308],
    ['acosh', T.acosh, Math.acosh, -1, 1.7976931348623157e308],
    ['atanh', T.atanh, Math.atanh, -1, 1],
    ['exp2', T.exp2, (x) => 2 ** x, -1075, 1024],
    ['log2', T.log2, Math.log2, -1, 1.7976931348623157e308],
    ['log10', T.log10, Math.log10, -1, 1.7976931348623157e308],
  ];
  /**
   * Float64 values within two units in the last place of multiples of π/2, up to 1e300, and the
   * double closest to one (6381956970095103·2^797, Kahan and McDonald's worst case): where sin and
   * cos lose the most digits to range reduction.
   */
  const nearHalfPiMultiples64 = (): number[] => {
    const out = [6381956970095103 * 2 ** 797, -6381956970095103 * 2 ** 797];
    for (let k = 1; k < 1e300; k = k < 200 ? k + 1 : k * 7.3) {
      const bits = new BigInt64Array(new Float64Array([(k * Math.PI) / 2]).buffer)[0]!;
      for (const d of [-2n, -1n, 0n, 1n, 2n]) out.push(new Float64Array(new BigInt64Array([bits + d]).buffer)[0]!);
    }
    return out;
  };
  for (const [name, op, reference, lo, hi] of CASES64) {
    it(`${name}: within 1e-14 relative over [${lo}, ${hi}], specials exact`, async () => {
      const inputs = new Set<number>([
        0,
        -0,
        Infinity,
        -Infinity,
        NaN,
        5e-324,
        -5e-324,
        2.2250738585072014e-308,
        1.7976931348623157e308,
      ]);
      for (let i = 0; i <= 4000; i++) inputs.add(lo + ((hi - lo) * i) / 4000);
      for (let i = 0; i <= 6000; i++) inputs.add(-30 + i / 100);
      for (let e = -320; e <= 308; e += 0.1) (inputs.add(10 ** e), inputs.add(-(10 ** e)));
      if (name === 'sin' || name === 'cos') for (const v of nearHalfPiMultiples64()) (inputs.add(v), inputs.add(-v));
      const xs = Float64Array.from(
        [...inputs].filter((v) => Number.isNaN(v) || !Number.isFinite(v) || (v >= lo && v <= hi)),
      );
      const x = T.vector('x', 'float64');
      const f = await T.compile([x], op(x), { mode: 'wasm' });
      expect(f.stats.wasmKernels).toBe(1);
      const got = f(T.array(xs, { dtype: 'float64' })).data;
      let worst = 0;
      let worstAt = 0;
      xs.forEach((v, i) => {
        const want = reference(v);
        const err = Math.abs(want) < 1e-300 && Math.abs(got[i]! - want) < 1e-310 ? 0 : relative(got[i]!, want);
        if (err > worst) [worst, worstAt] = [err, v];
      });
      for (const v of [0, -0, Infinity, -Infinity]) {
        const [at, want] = [f(T.array([v], { dtype: 'float64' })).data[0]!, reference(v)];
        expect(
          Object.is(at, want) || (Number.isNaN(want) && Number.isNaN(at)),
          `${name}(${Object.is(v, -0) ? '-0' : v}): got ${Object.is(at, -0) ? '-0' : at}, want ${Object.is(want, -0) ? '-0' : want}`,
        ).toBe(true);
      }
      if (process.env['TSANO_REPORT_ULPS'])
        console.log(`float64 ${name}: worst ${worst.toExponential(2)} at x = ${worstAt}`);
      expect(
        worst,
        `${name} at x = ${worstAt}: got ${f(T.array([worstAt], { dtype: 'float64' })).data[0]}, want ${reference(worstAt)}`,
      ).toBeLessThanOrEqual(1e-14);
    });
  }

  it('pow: within 1e-14 relative over bases and exponents of every magnitude and sign, and where y·log x nears ±745; specials as Math.pow', async () => {
    const specials = [
      0,
      -0,
      Infinity,
      -Infinity,
      NaN,
      5e-324,
      -5e-324,
      2.2250738585072014e-308,
      1.7976931348623157e308,
      -1.7976931348623157e308,
    ];
    const bases = [
      ...specials,
      -1,
      1,
      -2,
      0.5,
      1 + 2 ** -52,
      1 - 2 ** -53,
      -(1 + 2 ** -52),
      ...Array.from({ length: 120 }, (_, i) => (i % 2 ? -1 : 1) * 10 ** (-320 + (i * 628) / 119)),
    ];
    const exponents = [
      ...specials,
      1,
      -1,
      2,
      3,
      -3,
      0.5,
      -0.5,
      1 / 3,
      7,
      2 ** 53,
      2 ** 53 + 2,
      2 ** 52 + 1,
      1e20,
      -1e20,
      ...Array.from({ length: 120 }, (_, i) => (i % 2 ? -1 : 1) * 10 ** (-6 + (i * 12) / 119)),
    ];
    const xs: number[] = [];
    const ys: number[] = [];
    for (const b of bases) for (const e of exponents) (xs.push(b), ys.push(e));
    // Bases over the whole range with exponents that put y·log x anywhere in [−700, 700], where one
    // rounding of y·log x alone would cost up to 1.1e-13.
    for (let i = 0; i < 20000; i++) {
      const [u, v] = [(i * 0.6180339887498949) % 1, (i * 0.7548776662466927) % 1];
      const b = Math.exp((u - 0.5) * 1400);
      (xs.push(b), ys.push(((v - 0.5) * 1400) / Math.max(Math.abs(Math.log(b)), 1e-3)));
    }
    const x = T.vector('x', 'float64');
    const y = T.vector('y', 'float64');
    const f = await T.compile([x, y], T.pow(x, y), { mode: 'wasm' });
    expect(f.stats.wasmKernels).toBe(1);
    const got = f(T.array(xs, { dtype: 'float64' }), T.array(ys, { dtype: 'float64' })).data;
    let worst = 0;
    let worstAt = '';
    xs.forEach((b, i) => {
      const want = Math.pow(b, ys[i]!);
      const err = Math.abs(want) < 1e-300 && Math.abs(got[i]! - want) < 1e-310 ? 0 : relative(got[i]!, want);
      if (err > worst) [worst, worstAt] = [err, `${b} ** ${ys[i]}: got ${got[i]}, want ${want}`];
    });
    if (process.env['TSANO_REPORT_ULPS']) console.log(`float64 pow: worst ${worst.toExponential(2)} at ${worstAt}`);
    expect(worst, worstAt).toBeLessThanOrEqual(1e-14);
  });
});
