import { allocate, type DType } from '../dtype.js';
import { NDArray } from '../ndarray.js';

/**
 * Running sums or products along `axis`, first to last, accumulated in float64 and rounded once per
 * element (so a float32 result is the correctly rounded value of its float64 running total).
 */
export function cumulative(x: NDArray, axis: number, op: 'sum' | 'prod', dtype: DType): NDArray {
  const n = x.shape[axis]!;
  const inner = x.shape.slice(axis + 1).reduce((p, d) => p * d, 1);
  const outer = n === 0 || inner === 0 ? 0 : x.size / (n * inner);
  const out = allocate(dtype, x.size);
  const data = x.data;
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) {
      let acc = op === 'sum' ? 0 : 1;
      for (let r = 0; r < n; r++) {
        const at = (o * n + r) * inner + i;
        acc = op === 'sum' ? acc + data[at]! : acc * data[at]!;
        out[at] = acc;
      }
    }
  return new NDArray(out, [...x.shape], dtype);
}
