/** Scalar math the reference interpreter needs beyond `Math`, accurate to double precision. */

const TWO_OVER_SQRT_PI = 1.1283791670955126;
const SQRT_PI = 1.7724538509055159;

/** Veltkamp's split: the leading 26 bits of v (|v| < 2^996), so that its square and products with another such part are exact. */
export function splitHigh(v: number): number {
  const c = v * 134217729;
  return c - (c - v);
}

/**
 * e^(−s·a²) for s = 1 or ½ without a²'s rounding error, which e^ would turn into a relative error of
 * s·a²·2^−53 (1e-13 where erfc nears the float64 underflow): a = h + l with h of 26 bits (Veltkamp's
 * split), so that s·h² is exact and s·(a − h)(a + h) small.
 */
export function expNegSquare(a: number, s: number): number {
  const ax = Math.abs(a);
  if (!(ax < 40)) return Number.isNaN(a) ? NaN : 0;
  const h = splitHigh(ax);
  return Math.exp(-s * h * h) * Math.exp(-s * (ax - h) * (ax + h));
}

/**
 * erfc(x)·e^(x²) for x >= 0.5 by erfc's continued fraction, evaluated backward from a depth that
 * converges at x (about 240/x² terms: 980 at 0.5, 47 at 3): backward evaluation stays within an ulp,
 * where the forward (Lentz) product gathered 4e-15 of rounding over the same terms.
 */
export function erfcScaled(x: number): number {
  let f = 0;
  for (let n = 20 + Math.ceil(240 / (x * x)); n >= 1; n--) f = n / 2 / (x + f);
  return 1 / (SQRT_PI * (x + f));
}

/** The error function: an all-positive series below 3 (no cancellation), the erfc continued fraction above. */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  // Past 6, erfc is below half an ulp of 1 (and the continued fraction would meet inf/inf).
  if (ax >= 6) return Math.sign(x);
  if (ax >= 3) return Math.sign(x) * (1 - expNegSquare(ax, 1) * erfcScaled(ax));
  // erf(x) = 2/sqrt(pi) e^{-x^2} sum_n 2^n x^{2n+1} / (1*3*...*(2n+1))
  let term = ax;
  let sum = ax;
  for (let n = 0; n < 200 && term > sum * 1e-17; n++) {
    term *= (2 * ax * ax) / (2 * n + 3);
    sum += term;
  }
  return Math.sign(x) * TWO_OVER_SQRT_PI * expNegSquare(ax, 1) * sum;
}

/** 1 − erf(x) without the cancellation: the continued fraction from 0.5 up, so tiny tails keep their digits. */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0.5) return 1 - erf(x);
  // Past 27, erfc is below the smallest float64.
  return x >= 27 ? 0 : expNegSquare(x, 1) * erfcScaled(x);
}

export function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/** log(1 + e^x) without overflow for large x or loss for very negative x. */
export function softplus(x: number): number {
  if (Number.isNaN(x)) return NaN;
  return Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
}

/** log(1 - e^x) for x <= 0 (Mächler's switch at -ln 2); NaN above 0. */
export function log1mexp(x: number): number {
  if (x > 0) return NaN;
  return x > -Math.LN2 ? Math.log(-Math.expm1(x)) : Math.log1p(-Math.exp(x));
}

export const SELU_ALPHA = 1.6732632423543772;
export const SELU_SCALE = 1.0507009873554805;

export const selu = (x: number): number => SELU_SCALE * (x > 0 ? x : SELU_ALPHA * Math.expm1(x));
export const elu = (x: number, alpha: number): number => (x > 0 ? x : alpha * Math.expm1(x));
/**
 * Exact GELU, x·Φ(x), as Keras's default (approximate=False); Φ(x) = ½·erfc(−x/√2) from the
 * continued fraction in the negative tail, with e^(−x²/2) from x itself: −x/√2 is rounded, and
 * squaring it would cost up to 1e-13 of a result near the underflow.
 */
export function gelu(x: number): number {
  if (x === -Infinity) return 0;
  const w = -x * Math.SQRT1_2;
  if (!(w >= 0.5)) return 0.5 * x * erfc(w);
  return w >= 27.5 ? 0 * x : 0.5 * x * expNegSquare(x, 0.5) * erfcScaled(w);
}
export const relu = (x: number): number => (x > 0 ? x : Number.isNaN(x) ? NaN : 0);
export const truthy = (x: number): boolean => x !== 0;

/** a mod b with the sign of b (Python's `%`): JavaScript's exact `%` (C's fmod), moved into b's half-line. */
export function pythonMod(a: number, b: number): number {
  const r = a % b;
  if (r !== 0) return r < 0 !== b < 0 ? r + b : r;
  return b < 0 ? -0 : 0;
}

/** Python's `a // b` for floats (CPython's float_floor_div): (a − mod) / b, rounded to the integer it nearly is. */
export function floorDivide(a: number, b: number): number {
  if (b === 0) return a / b; // ±Infinity or NaN, as NumPy's floor_divide
  const r = a % b;
  let q = (a - r) / b;
  if (r !== 0 && r < 0 !== b < 0) q -= 1;
  if (q === 0) return a / b < 0 || Object.is(a / b, -0) ? -0 : 0;
  const f = Math.floor(q);
  return q - f > 0.5 ? f + 1 : f;
}
