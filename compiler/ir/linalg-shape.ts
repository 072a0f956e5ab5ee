import { broadcastShapes, TypeRuleError, type Dim, type Shape } from './type.js';

function checkInner(k1: Dim, k2: Dim): void {
  if (k1 !== null && k2 !== null && k1 !== k2) throw new TypeRuleError(`inner dimensions differ (${k1} vs ${k2})`);
}

/** NumPy `dot`: inner product over the last axis of a and the second-to-last of b (the only axis of a 1-D b). */
export function dotShape(a: Shape, b: Shape): Dim[] {
  if (a.length === 0 || b.length === 0) return broadcastShapes([a, b]);
  if (b.length === 1) {
    checkInner(a[a.length - 1]!, b[0]!);
    return a.slice(0, -1);
  }
  checkInner(a[a.length - 1]!, b[b.length - 2]!);
  return [...a.slice(0, -1), ...b.slice(0, -2), b[b.length - 1]!];
}

/** NumPy `matmul`: batched over broadcast leading axes; a 1-D operand is promoted and the added axis dropped. */
export function matmulShape(a: Shape, b: Shape): Dim[] {
  if (a.length === 0 || b.length === 0) throw new TypeRuleError('matmul does not take scalars (use mul)');
  const a2 = a.length === 1 ? [1, a[0]!] : a;
  const b2 = b.length === 1 ? [b[0]!, 1] : b;
  checkInner(a2[a2.length - 1]!, b2[b2.length - 2]!);
  const batch = broadcastShapes([a2.slice(0, -2), b2.slice(0, -2)]);
  const out: Dim[] = [...batch];
  if (a.length > 1) out.push(a2[a2.length - 2]!);
  if (b.length > 1) out.push(b2[b2.length - 1]!);
  return out;
}
