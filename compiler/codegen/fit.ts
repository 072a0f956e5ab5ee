/**
 * Constants the SIMD math derives rather than copies: polynomial approximations fitted at load time
 * to the reference interpreter's float64 functions (Chebyshev interpolation, so the fit is close to
 * minimax), and the bits of π/2 and 2/π that range reduction needs beyond float64's 53.
 */
import { splitHigh } from '../../runtime/reference/scalar-math.js';

/** A polynomial in t = (x - mid) / half on [lo, hi], coefficients highest degree first. */
export interface PolynomialPiece {
  readonly lo: number;
  readonly hi: number;
  readonly coeffs: readonly number[];
}

/**
 * Interpolates `f` at the Chebyshev nodes of [lo, hi] with a polynomial of `degree`. The Chebyshev
 * coefficients are sums of exact products (Dekker) with compensation, and the change to monomials is
 * exact (BigInt) with one rounding per coefficient: done plainly, the two cost 4e-15 of a float64
 * fit, more than the approximation itself.
 */
export function chebyshevFit(f: (x: number) => number, lo: number, hi: number, degree: number): PolynomialPiece {
  const n = degree + 1;
  const mid = (lo + hi) / 2;
  const half = (hi - lo) / 2;
  // cos(π·m/(2n)) with m = j(2k + 1) reduced mod 4n, so that Math.cos sees small angles.
  const cosine = (j: number, k: number) => Math.cos((Math.PI * ((j * (2 * k + 1)) % (4 * n))) / (2 * n));
  const values = Array.from({ length: n }, (_, k) => f(mid + half * cosine(1, k)));
  const cheb = Array.from(
    { length: n },
    (_, j) =>
      ((j === 0 ? 1 : 2) / n) *
      compensatedDot(
        values,
        values.map((_, k) => cosine(j, k)),
      ),
  );
  // Chebyshev basis to monomials in t: T[j+1] = 2t·T[j] − T[j−1], integer coefficients.
  const monomial = new Array<bigint>(n).fill(0n);
  let previous = [1n];
  let current = [0n, 1n];
  monomial[0] = exactBig(cheb[0]!);
  if (n > 1) monomial[1] = exactBig(cheb[1]!);
  for (let j = 2; j < n; j++) {
    const next = new Array<bigint>(j + 1).fill(0n);
    current.forEach((c, i) => (next[i + 1]! += 2n * c));
    previous.forEach((c, i) => (next[i]! -= c));
    const cj = exactBig(cheb[j]!);
    next.forEach((c, i) => (monomial[i]! += cj * c));
    [previous, current] = [current, next];
  }
  return { lo, hi, coeffs: monomial.map(fromExactBig).reverse() };
}

/** Σ a[k]·b[k] with every product's rounding error (Dekker's split) and every sum's (Neumaier) kept. */
function compensatedDot(a: readonly number[], b: readonly number[]): number {
  const split = (v: number) => {
    const high = splitHigh(v);
    return [high, v - high] as const;
  };
  let sum = 0;
  let error = 0;
  a.forEach((x, k) => {
    const y = b[k]!;
    const p = x * y;
    const [xh, xl] = split(x);
    const [yh, yl] = split(y);
    error += xh * yh - p + xh * yl + xl * yh + xl * yl;
    const t = sum + p;
    error += Math.abs(sum) >= Math.abs(p) ? sum - t + p : p - t + sum;
    sum = t;
  });
  return sum + error;
}

/** Every float64 is an integer multiple of 2^−1074: exact BigInt arithmetic in those units. */
const UNIT_BITS = 1074n;
function exactBig(v: number): bigint {
  const bits = new BigInt64Array(new Float64Array([v]).buffer)[0]!;
  const exponent = (bits >> 52n) & 0x7ffn;
  const fraction = bits & 0xfffffffffffffn;
  const magnitude = exponent === 0n ? fraction : (fraction | (1n << 52n)) << (exponent - 1n);
  return v < 0 ? -magnitude : magnitude;
}
/** The float64 nearest a BigInt in 2^−1074 units: the leading 64 bits with a sticky bit, rounded once by Number. */
function fromExactBig(v: bigint): number {
  const magnitude = v < 0n ? -v : v;
  const shift = BigInt(Math.max(0, magnitude.toString(2).length - 64));
  const sticky = (magnitude & ((1n << shift) - 1n)) !== 0n ? 1n : 0n;
  const top = Number((magnitude >> shift) | sticky);
  const scaled = top * 2 ** (Number(shift) - 537) * 2 ** (-Number(UNIT_BITS) + 537);
  return v < 0n ? -scaled : scaled;
}

/** π as a fixed-point BigInt with `bits` fractional bits (Machin: π = 16·atan(1/5) − 4·atan(1/239)). */
function piFixed(bits: number): bigint {
  const one = 1n << BigInt(bits + 32);
  const atanInverse = (q: bigint) => {
    let sum = 0n;
    let power = one / q;
    for (let k = 0n; power !== 0n; k++) {
      sum += (k % 2n === 0n ? 1n : -1n) * (power / (2n * k + 1n));
      power /= q * q;
    }
    return sum;
  };
  return (16n * atanInverse(5n) - 4n * atanInverse(239n)) >> 32n;
}

const BITS = 256;
const PI = piFixed(BITS);

/**
 * π/2 as a sum of float64 parts, the first ones with `partBits` significant bits so that n·part is
 * exact for integers n below 2^(53 − partBits): Cody–Waite reduction x − n·p1 − n·p2 − n·p3.
 */
export function halfPiParts(partBits: number, count: number): number[] {
  // π/2 is π's fixed-point bits read one place lower: rest · 2^-(BITS + 1).
  let rest = PI;
  const exponent = BITS + 1;
  const parts: number[] = [];
  for (let i = 0; i < count; i++) {
    const length = rest.toString(2).length;
    const keep = i === count - 1 ? 53 : partBits;
    const shift = BigInt(Math.max(0, length - keep));
    const head = (rest >> shift) << shift;
    parts.push(Number(head >> shift) * 2 ** (Number(shift) - exponent));
    rest -= head;
    if (rest === 0n) break;
  }
  return parts;
}

/** 2/π in chunks of 24 bits: 2/π = Σ chunk[k] · 2^(−24(k+1)), each chunk an integer below 2^24. */
export function twoOverPiChunks(count: number): number[] {
  // 2/π with 24·count fractional bits: 2^(24·count + 1) / π, computed from π's fixed-point value.
  const scaled = (1n << BigInt(24 * count + 1 + BITS)) / PI;
  return Array.from({ length: count }, (_, k) => Number((scaled >> BigInt(24 * (count - 1 - k))) & 0xffffffn));
}

/**
 * 2/π as 64-bit words after `zeroWords` words of zeros: word k holds bits 64(k − zeroWords) + 1 …
 * 64(k − zeroWords + 1) of 2/π's binary fraction. The zeros let a reduction read 2/π from a bit
 * position before its point (arguments below 2^53 need bits "before" the first one).
 */
export function twoOverPiWords(count: number, zeroWords: number): bigint[] {
  const fractionWords = count - zeroWords;
  const bits = 64 * fractionWords + 64;
  const scaled = (1n << BigInt(64 * fractionWords + 1 + bits)) / piFixed(bits);
  const mask = (1n << 64n) - 1n;
  return Array.from({ length: count }, (_, k) =>
    k < zeroWords ? 0n : (scaled >> BigInt(64 * (count - 1 - k))) & mask,
  );
}

/** log(numerator / denominator) as a float64 pair high + low (about 2^−106 relative), by the atanh series in BigInt fixed point. */
export function logTwoParts(numerator: number, denominator: number): [number, number] {
  const bits = 200n;
  const one = 1n << bits;
  // log q = 2·atanh(s), s = (q − 1)/(q + 1) = (n − d)/(n + d).
  const [n, d] = [BigInt(numerator), BigInt(denominator)];
  // The series on |s| (a negative power would shift down to −1, never 0), the sign applied after.
  const negative = n < d;
  const s = ((negative ? d - n : n - d) * one) / (n + d);
  const s2 = (s * s) >> bits;
  let sum = 0n;
  let power = s;
  for (let k = 1n; power !== 0n; k += 2n) {
    sum += power / k;
    power = (power * s2) >> bits;
  }
  const value = (negative ? -2n : 2n) * sum;
  const scale = 2 ** Number(bits);
  const high = Number(value) / scale;
  return [high, Number(value - BigInt(high * scale)) / scale];
}
