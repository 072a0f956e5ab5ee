import { allocate, type DType } from '../dtype.js';
import { ShapeError } from '../errors.js';
import { NDArray } from '../ndarray.js';
import { offsetsOver } from './layout.js';

/** Output shape of reducing `axes` (already normalised) of `shape`. */
export function reducedShape(shape: readonly number[], axes: readonly number[], keepdims: boolean): number[] {
  const out: number[] = [];
  shape.forEach((d, i) => {
    if (!axes.includes(i)) out.push(d);
    else if (keepdims) out.push(1);
  });
  return out;
}

/** Folds the `axes` of x for every kept position: `fold` receives the values (float64) of one reduced slice. */
export function reduceWith(
  x: NDArray,
  axes: readonly number[],
  keepdims: boolean,
  dtype: DType,
  fold: (values: Float64Array) => number,
): NDArray {
  const kept = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const keptOffsets = offsetsOver(x.shape, kept);
  const reducedOffsets = offsetsOver(x.shape, axes);
  const outShape = reducedShape(x.shape, axes, keepdims);
  const out = allocate(dtype, keptOffsets.length);
  const values = new Float64Array(reducedOffsets.length);
  keptOffsets.forEach((base, k) => {
    for (let r = 0; r < reducedOffsets.length; r++) values[r] = x.data[base + reducedOffsets[r]!]!;
    out[k] = fold(values);
  });
  return new NDArray(out, outShape, dtype);
}

/** Sum with float64 accumulation (Neumaier-compensated, so the oracle is better than any kernel it checks). */
export function compensatedSum(values: Float64Array): number {
  let sum = 0;
  let c = 0;
  for (const v of values) {
    const t = sum + v;
    c += Math.abs(sum) >= Math.abs(v) ? sum - t + v : v - t + sum;
    sum = t;
  }
  const result = sum + c;
  // Compensation turns inf - inf into NaN where plain summation gives ±inf; keep the plain sum then.
  return Number.isFinite(sum) ? result : sum;
}

function requireNonEmpty(values: Float64Array, what: string): void {
  if (values.length === 0) throw new ShapeError(`${what} of an empty axis has no identity`);
}

export const REDUCERS = {
  sum: compensatedSum,
  prod: (v: Float64Array) => v.reduce((a, b) => a * b, 1),
  mean: (v: Float64Array) => compensatedSum(v) / v.length,
  max: (v: Float64Array) => (requireNonEmpty(v, 'max'), v.reduce((a, b) => Math.max(a, b), -Infinity)),
  min: (v: Float64Array) => (requireNonEmpty(v, 'min'), v.reduce((a, b) => Math.min(a, b), Infinity)),
  logsumexp: (v: Float64Array) => {
    const m = v.reduce((a, b) => Math.max(a, b), -Infinity);
    if (!Number.isFinite(m)) return m; // all -inf gives -inf; any +inf gives +inf; NaN stays NaN
    let s = 0;
    for (const x of v) s += Math.exp(x - m);
    return m + Math.log(s);
  },
  argmax: (v: Float64Array) => argBest(v, (a, b) => a > b),
  argmin: (v: Float64Array) => argBest(v, (a, b) => a < b),
} as const;

/** Index of the first best value; the first NaN wins, as in NumPy. */
function argBest(v: Float64Array, better: (a: number, b: number) => boolean): number {
  requireNonEmpty(v, 'argmax/argmin');
  let best = 0;
  for (let i = 0; i < v.length; i++) {
    if (Number.isNaN(v[i]!)) return i;
    if (better(v[i]!, v[best]!)) best = i;
  }
  return best;
}
