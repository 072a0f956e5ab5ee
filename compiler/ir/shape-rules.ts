import { resolveSlice } from '../../runtime/geometry.js';
import type { SliceSpec } from '../../runtime/program.js';
import { normalizeAxes, TypeRuleError, type Dim, type Shape } from './type.js';

export type { SliceSpec };

export function reduceShape(shape: Shape, axes: readonly number[], keepdims: boolean): Dim[] {
  const set = new Set(normalizeAxes(axes, shape.length));
  const out: Dim[] = [];
  shape.forEach((d, i) => {
    if (!set.has(i)) out.push(d);
    else if (keepdims) out.push(1);
  });
  return out;
}

const known = (s: Shape): s is readonly number[] => s.every((d) => d !== null);
const product = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

export function reshapeShape(shape: Shape, target: readonly number[]): Dim[] {
  const inferred = target.filter((d) => d === -1).length;
  if (inferred > 1) throw new TypeRuleError(`at most one -1 in the new shape [${target.join(', ')}]`);
  if (target.some((d) => !Number.isInteger(d) || d < -1))
    throw new TypeRuleError(`invalid new shape [${target.join(', ')}]`);
  if (!known(shape)) return target.map((d) => (d === -1 ? null : d));
  const total = product(shape);
  const rest = product(target.filter((d) => d !== -1));
  if (inferred === 0) {
    if (rest !== total) throw new TypeRuleError(`cannot reshape ${total} elements into [${target.join(', ')}]`);
    return [...target];
  }
  if (rest === 0 ? total !== 0 : total % rest !== 0) {
    throw new TypeRuleError(`cannot reshape ${total} elements into [${target.join(', ')}]`);
  }
  return target.map((d) => (d === -1 ? (rest === 0 ? 0 : total / rest) : d));
}

export function transposeShape(shape: Shape, perm: readonly number[]): Dim[] {
  const sorted = [...perm].sort((a, b) => a - b);
  if (perm.length !== shape.length || sorted.some((p, i) => p !== i)) {
    throw new TypeRuleError(`perm [${perm.join(', ')}] is not a permutation of the ${shape.length} axes`);
  }
  return perm.map((p) => shape[p]!);
}

export function expandDimsShape(shape: Shape, axis: number): Dim[] {
  const rank = shape.length + 1;
  const [a] = normalizeAxes([axis], rank);
  const out = [...shape];
  out.splice(a!, 0, 1);
  return out;
}

export function squeezeShape(shape: Shape, axes: readonly number[]): Dim[] {
  const set = new Set(normalizeAxes(axes, shape.length));
  for (const a of set) {
    if (shape[a] !== 1 && shape[a] !== null) throw new TypeRuleError(`cannot squeeze axis ${a} of size ${shape[a]}`);
  }
  return shape.filter((_, i) => !set.has(i));
}

export function concatShape(shapes: readonly Shape[], axis: number): Dim[] {
  const rank = shapes[0]!.length;
  if (rank === 0) throw new TypeRuleError('cannot concatenate scalars (use stack)');
  const [a] = normalizeAxes([axis], rank);
  const out: Dim[] = [...shapes[0]!];
  shapes.forEach((s, k) => {
    if (s.length !== rank) throw new TypeRuleError(`operand ${k} has rank ${s.length}, operand 0 has rank ${rank}`);
    if (k === 0) return;
    s.forEach((d, i) => {
      if (i === a) out[i] = out[i] === null || d === null ? null : out[i]! + d;
      else if (out[i] === null) out[i] = d;
      else if (d !== null && d !== out[i])
        throw new TypeRuleError(`operand ${k} has size ${d} on axis ${i}, expected ${out[i]}`);
    });
  });
  return out;
}

export function sliceShape(shape: Shape, spec: SliceSpec): Dim[] {
  if (spec.starts.length !== shape.length || spec.stops.length !== shape.length || spec.steps.length !== shape.length) {
    throw new TypeRuleError(`slice has ${spec.starts.length} axes, the operand has ${shape.length}`);
  }
  return shape.map((d, i) => {
    const step = spec.steps[i]!;
    if (!Number.isInteger(step) || step === 0)
      throw new TypeRuleError(`slice step must be a non-zero integer, got ${step}`);
    return d === null ? null : resolveSlice(d, spec.starts[i]!, spec.stops[i]!, step).length;
  });
}

export function gatherShape(shape: Shape, indices: Shape, axis: number): Dim[] {
  if (shape.length === 0) throw new TypeRuleError('cannot gather from a scalar');
  const [a] = normalizeAxes([axis], shape.length);
  return [...shape.slice(0, a), ...indices, ...shape.slice(a! + 1)];
}

export function padShape(shape: Shape, paddings: readonly (readonly [number, number])[]): Dim[] {
  if (paddings.length !== shape.length) throw new TypeRuleError(`${paddings.length} paddings for rank ${shape.length}`);
  return shape.map((d, i) => {
    const [before, after] = paddings[i]!;
    if (!Number.isInteger(before) || !Number.isInteger(after) || before < 0 || after < 0) {
      throw new TypeRuleError(`paddings must be non-negative integers, got [${before}, ${after}] on axis ${i}`);
    }
    return d === null ? null : d + before + after;
  });
}
