/**
 * Independent plain-loop implementations used as expected values. They share no code with the
 * runtime: broadcasting here recomputes every multi-index with div/mod instead of walking strides.
 */
export interface Dense {
  shape: number[];
  data: number[];
}

export const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Multi-index of flat position i in a row-major shape. */
export function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let a = shape.length - 1; a >= 0; a--) {
    idx[a] = i % shape[a]!;
    i = Math.floor(i / shape[a]!);
  }
  return idx;
}

export function ravel(idx: readonly number[], shape: readonly number[]): number {
  let flat = 0;
  for (let a = 0; a < shape.length; a++) flat = flat * shape[a]! + idx[a]!;
  return flat;
}

export function broadcastShape(shapes: readonly (readonly number[])[]): number[] | undefined {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let k = 0; k < rank; k++) {
    const dims = shapes.map((s) => (k < rank - s.length ? 1 : s[k - (rank - s.length)]!)).filter((d) => d !== 1);
    if (new Set(dims).size > 1) return undefined;
    out.push(dims[0] ?? 1);
  }
  return out;
}

/** Element of `x` that broadcasting maps to output multi-index `idx`. */
function pick(x: Dense, idx: readonly number[]): number {
  const off = idx.length - x.shape.length;
  return x.data[
    ravel(
      x.shape.map((d, a) => (d === 1 ? 0 : idx[a + off]!)),
      x.shape,
    )
  ]!;
}

export function naiveElementwise(xs: readonly Dense[], fn: (...v: number[]) => number): Dense {
  const shape = broadcastShape(xs.map((x) => x.shape))!;
  const data = Array.from({ length: size(shape) }, (_, i) => {
    const idx = unravel(i, shape);
    return fn(...xs.map((x) => pick(x, idx)));
  });
  return { shape, data };
}

/** Reduces `axes` with fn over the list of values, optionally keeping reduced axes as size 1. */
export function naiveReduce(
  x: Dense,
  axes: readonly number[],
  keepdims: boolean,
  fn: (values: number[]) => number,
): Dense {
  const outShapeKeep = x.shape.map((d, a) => (axes.includes(a) ? 1 : d));
  const groups = new Map<number, number[]>();
  for (let i = 0; i < x.data.length; i++) {
    const idx = unravel(i, x.shape).map((v, a) => (axes.includes(a) ? 0 : v));
    const key = ravel(idx, outShapeKeep);
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)!.push(x.data[i]!);
  }
  const data = Array.from({ length: size(outShapeKeep) }, (_, k) => fn(groups.get(k) ?? []));
  return { shape: keepdims ? outShapeKeep : x.shape.filter((_, a) => !axes.includes(a)), data };
}

export function naiveMatmul2d(a: Dense, b: Dense): Dense {
  const [n, k] = a.shape as [number, number];
  const m = b.shape[1]!;
  const data: number[] = [];
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      let s = 0;
      for (let l = 0; l < k; l++) s += a.data[i * k + l]! * b.data[l * m + j]!;
      data.push(s);
    }
  }
  return { shape: [n, m], data };
}

/** Values agree: same NaN positions, same infinities, finite values within rel/abs tolerance. */
export function closeTo(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  rel = 1e-12,
  abs = 1e-300,
): string | undefined {
  if (actual.length !== expected.length) return `length ${actual.length} vs ${expected.length}`;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(e) || Number.isNaN(a)) {
      if (Number.isNaN(e) !== Number.isNaN(a)) return `at ${i}: got ${a}, expected ${e}`;
      continue;
    }
    if (!Number.isFinite(e) || !Number.isFinite(a)) {
      if (a !== e) return `at ${i}: got ${a}, expected ${e}`;
      continue;
    }
    if (Math.abs(a - e) > abs + rel * Math.abs(e)) return `at ${i}: got ${a}, expected ${e}`;
  }
  return undefined;
}
