/** Scalar math the reference interpreter needs beyond `Math`, accurate to double precision. */

const TWO_OVER_SQRT_PI = 1.1283791670955126;
const SQRT_PI = 1.7724538509055159;

/** erfc(x) for x >= 0.5 by its continued fraction (modified Lentz), to full double precision. */
function erfcFraction(x: number): number {
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let n = 1; n < 5000; n++) {
    const a = n / 2;
    d = x + a * d;
    d = Math.abs(d) < tiny ? 1 / tiny : 1 / d;
    c = x + a / c;
    if (Math.abs(c) < tiny) c = tiny;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-x * x) / (SQRT_PI * f);
}

/** The error function: an all-positive series below 3 (no cancellation), the erfc continued fraction above. */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  // Past 6, erfc is below half an ulp of 1 (and the continued fraction would meet inf/inf).
  if (ax >= 6) return Math.sign(x);
  if (ax >= 3) return Math.sign(x) * (1 - erfcFraction(ax));
  // erf(x) = 2/sqrt(pi) e^{-x^2} sum_n 2^n x^{2n+1} / (1*3*...*(2n+1))
  let term = ax;
  let sum = ax;
  for (let n = 0; n < 200 && term > sum * 1e-17; n++) {
    term *= (2 * ax * ax) / (2 * n + 3);
    sum += term;
  }
  return Math.sign(x) * TWO_OVER_SQRT_PI * Math.exp(-ax * ax) * sum;
}

/** 1 − erf(x) without the cancellation: the continued fraction from 0.5 up, so tiny tails keep their digits. */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0.5) return 1 - erf(x);
  // Past 27, erfc is below the smallest float64.
  return x >= 27 ? 0 : erfcFraction(x);
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
/** Exact GELU, x * Phi(x), as Keras's default (approximate=False); Phi through erfc, so the negative tail keeps its digits. */
export const gelu = (x: number): number => (x === -Infinity ? 0 : 0.5 * x * erfc(-x / Math.SQRT2));
export const relu = (x: number): number => (x > 0 ? x : Number.isNaN(x) ? NaN : 0);
export const truthy = (x: number): boolean => x !== 0;
