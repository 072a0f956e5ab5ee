import { NanError } from './errors.js';
import type { NDArray } from './ndarray.js';

const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;

/** The index of the first NaN or infinite element of a float array, or -1 (integer and bool arrays have none). */
export function firstNonFinite(a: NDArray): number {
  if (a.dtype !== 'float32' && a.dtype !== 'float64') return -1;
  const d = a.data;
  for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i]!)) return i;
  return -1;
}

/** "float32 [2, 3], min -1, max 2" (over the finite elements, with a count of the others). */
export function summarize(a: NDArray): string {
  let lo = Infinity;
  let hi = -Infinity;
  let bad = 0;
  for (const v of a.data) {
    if (!Number.isFinite(v)) bad++;
    else {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  }
  const range = lo <= hi ? `, min ${lo}, max ${hi}` : '';
  return `${a.dtype} ${fmt(a.shape)}${range}${bad ? `, ${bad} NaN or infinite` : ''}`;
}

/** Throws a NanError when `a` holds a NaN or an infinity: `what` names the value, `context` adds its operands and origin. */
export function guardFinite(a: NDArray, what: string, context: () => string = () => ''): void {
  const i = firstNonFinite(a);
  if (i < 0) return;
  const count = Array.prototype.filter.call(a.data, (v: number) => !Number.isFinite(v)).length;
  throw new NanError(
    `nanGuard: ${what} ${a.data[i]} at element ${i} (${count} of ${a.size} elements not finite)${context()}`,
  );
}
