import type { Dim, Shape, TensorType } from '../../runtime/program.js';

export type { Dim, Shape, TensorType };

export const formatShape = (shape: readonly (number | null)[]): string =>
  `[${shape.map((d) => (d === null ? '?' : String(d))).join(', ')}]`;

/** Thrown by a type rule; the node factory turns it into a ShapeError/DTypeError naming operands and origin. */
export class TypeRuleError extends Error {
  constructor(
    message: string,
    readonly kind: 'shape' | 'dtype' = 'shape',
  ) {
    super(message);
  }
}

/** NumPy broadcasting of static shapes; null broadcasts against 1 and defers to a known size otherwise. */
export function broadcastShapes(shapes: readonly Shape[]): Dim[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    let dim: Dim = 1;
    for (const s of shapes) {
      const d = s.length - rank + i < 0 ? 1 : s[s.length - rank + i]!;
      if (d === 1) continue;
      if (dim === 1) dim = d;
      else if (d === null) continue;
      else if (dim === null) dim = d;
      else if (dim !== d) {
        throw new TypeRuleError(`shapes cannot be broadcast (axis ${i - rank} has sizes ${dim} and ${d})`);
      }
    }
    out.push(dim);
  }
  return out;
}

/** Normalises possibly negative axes against `rank`, rejecting duplicates and out-of-range values. */
export function normalizeAxes(axes: readonly number[], rank: number): number[] {
  const out = axes.map((a) => {
    if (!Number.isInteger(a) || a < -rank || a >= rank) {
      throw new TypeRuleError(`axis ${a} is out of range for rank ${rank}`);
    }
    return a < 0 ? a + rank : a;
  });
  if (new Set(out).size !== out.length) throw new TypeRuleError(`repeated axis in [${axes.join(', ')}]`);
  return out.sort((a, b) => a - b);
}
