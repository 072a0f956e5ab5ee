import { ShapeError } from '../errors.js';
import { sizeOf, stridesOf } from '../ndarray.js';

/** NumPy broadcasting of concrete shapes. */
export function broadcastConcrete(shapes: readonly (readonly number[])[]): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    let dim = 1;
    for (const s of shapes) {
      const d = s[s.length - rank + i] ?? 1;
      if (d === 1) continue;
      if (dim !== 1 && dim !== d) {
        throw new ShapeError(`shapes ${shapes.map((s) => `[${s.join(', ')}]`).join(' and ')} cannot be broadcast`);
      }
      dim = d;
    }
    out.push(dim);
  }
  return out;
}

/**
 * For operands with batch shapes `shapes` (their matrix axes left out), the broadcast batch shape and,
 * per operand, the index of its matrix for every flat index of that batch.
 */
export function batchIndices(shapes: readonly (readonly number[])[]): { batch: number[]; indices: number[][] } {
  const batch = broadcastConcrete(shapes);
  const count = batch.reduce((p, d) => p * d, 1);
  const indices = shapes.map((s) => {
    const strides = broadcastStrides(s, batch);
    return Array.from({ length: count }, (_, flat) => {
      let [rest, index] = [flat, 0];
      for (let a = batch.length - 1; a >= 0; a--) {
        index += (rest % batch[a]!) * strides[a]!;
        rest = Math.floor(rest / batch[a]!);
      }
      return index;
    });
  });
  return { batch, indices };
}

/** Strides of `shape` read as if broadcast to `target` (0 on broadcast axes). */
export function broadcastStrides(shape: readonly number[], target: readonly number[]): number[] {
  const own = stridesOf(shape);
  const offset = target.length - shape.length;
  return target.map((_, i) => (i < offset || shape[i - offset] === 1 ? 0 : own[i - offset]!));
}

/**
 * Calls `visit(outIndex, offsets)` for every element of `shape` in row-major order, with the
 * matching element offset into each operand given its strides.
 */
export function forEachIndex(
  shape: readonly number[],
  strides: readonly (readonly number[])[],
  visit: (i: number, offsets: number[]) => void,
): void {
  const total = sizeOf(shape);
  if (total === 0) return;
  const rank = shape.length;
  const counter = new Array<number>(rank).fill(0);
  const offsets = strides.map(() => 0);
  for (let i = 0; i < total; i++) {
    visit(i, offsets);
    for (let axis = rank - 1; axis >= 0; axis--) {
      counter[axis]!++;
      for (let k = 0; k < strides.length; k++) offsets[k]! += strides[k]![axis]!;
      if (counter[axis]! < shape[axis]!) break;
      for (let k = 0; k < strides.length; k++) offsets[k]! -= strides[k]![axis]! * shape[axis]!;
      counter[axis] = 0;
    }
  }
}

/** Element offsets of every position of the sub-array spanned by `axes` (row-major over those axes). */
export function offsetsOver(shape: readonly number[], axes: readonly number[]): number[] {
  const strides = stridesOf(shape);
  const subShape = axes.map((a) => shape[a]!);
  const subStrides = [axes.map((a) => strides[a]!)];
  const out: number[] = [];
  forEachIndex(subShape, subStrides, (_, [o]) => out.push(o!));
  return out;
}
