import { constantNode } from '../../ir/convert.js';
import { Node } from '../../ir/node.js';
import type { OpArgs } from '../../ir/ops.js';
import type { Shape } from '../../ir/type.js';
import type { NDArray } from '../../../runtime/ndarray.js';

export const valueOf = (n: Node): NDArray => (n as Node<'constant'>).args.value;

/** A constant whose shape cannot widen `x` by broadcasting (every axis 1, rank not above x's). */
export const cannotWiden = (c: Node, x: Node): boolean => c.ndim <= x.ndim && c.shape.every((d) => d === 1);

/** Static shapes provably equal (every size known and the same). */
export const sameKnownShape = (a: Shape, b: Shape): boolean =>
  a.length === b.length && a.every((d, i) => d !== null && d === b[i]);

/** Shapes that are the same array of sizes, unknown sizes included, i.e. the same dims by construction. */
export const sameShapeSpelling = (a: Shape, b: Shape): boolean =>
  a.length === b.length && a.every((d, i) => d === b[i]);

/** The one value of a constant whose elements are all equal, else undefined. */
export function uniformValue(c: Node): number | undefined {
  if (c.op !== 'constant') return undefined;
  const v = valueOf(c);
  if (v.size === 0) return undefined;
  const first = v.data[0]!;
  for (const x of v.data) if (!Object.is(x, first)) return undefined;
  return first;
}

/** A scalar constant of `dtype`. */
export const scalarConst = (value: number, dtype: Node['dtype']): Node => constantNode(value, dtype);

/** Relative closeness used for matching user-written constants such as 1 - epsilon. */
export const isClose = (a: number, b: number, rel = 1e-6): boolean =>
  Math.abs(a - b) <= rel * Math.max(Math.abs(a), Math.abs(b), 1e-30);

export type { OpArgs };
