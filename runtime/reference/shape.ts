import { allocate, coerce, type DType } from '../dtype.js';
import type { DynamicSliceArgs } from '../program.js';
import { ShapeError } from '../errors.js';
import { checkedSize } from '../limits.js';
import { resolveSlice } from '../geometry.js';
import { NDArray, sizeOf, stridesOf } from '../ndarray.js';
import { broadcastConcrete, broadcastStrides, forEachIndex } from './layout.js';
import { reduceWith, compensatedSum } from './reduce.js';

const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;

/** Copies the elements of x visited with `strides` over `shape` into a new contiguous array. */
function gatherStrided(x: NDArray, shape: readonly number[], strides: readonly number[], base = 0): NDArray {
  const out = allocate(x.dtype, sizeOf(shape));
  forEachIndex(shape, [strides], (i, [o]) => (out[i] = x.data[base + o!]!));
  return new NDArray(out, shape, x.dtype);
}

export function reshape(x: NDArray, target: readonly number[]): NDArray {
  const known = target.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const shape = target.map((d) => (d === -1 ? (known === 0 ? 0 : x.size / known) : d));
  if (!shape.every(Number.isInteger) || sizeOf(shape) !== x.size) {
    throw new ShapeError(`cannot reshape an array of shape ${fmt(x.shape)} into ${fmt(target)}`);
  }
  return new NDArray(x.data, shape, x.dtype);
}

const sameShape = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((d, i) => d === b[i]);

/**
 * Input axes that stay neighbours, in the same order, in the output move as one (axes of size 1 do
 * not matter): the permutation over those groups, and each group's size in input order.
 */
function collapsedPermutation(shape: readonly number[], perm: readonly number[]): { sizes: number[]; perm: number[] } {
  const kept = perm.filter((a) => shape[a]! !== 1);
  const runs: number[][] = [];
  for (const a of kept) {
    const last = runs[runs.length - 1];
    // Neighbours in the input, apart from axes of size 1 between them.
    if (last && shape.slice(last[last.length - 1]! + 1, a).every((d) => d === 1) && a > last[last.length - 1]!)
      last.push(a);
    else runs.push([a]);
  }
  const byInput = [...runs].sort((p, q) => p[0]! - q[0]!);
  return { sizes: byInput.map((r) => r.reduce((n, a) => n * shape[a]!, 1)), perm: runs.map((r) => byInput.indexOf(r)) };
}

export function transpose(x: NDArray, perm: readonly number[]): NDArray {
  const outShape = perm.map((p) => x.shape[p]!);
  const { sizes, perm: groups } = collapsedPermutation(x.shape, perm);
  const k = groups.length;
  const out = allocate(x.dtype, x.size);
  if (groups.every((g, i) => g === i)) {
    out.set(x.data as never);
    return new NDArray(out, outShape, x.dtype);
  }
  if (groups[k - 1] === k - 1) {
    // The last axis stays last: whole rows move, each copied at once.
    const row = sizes[k - 1]!;
    const strides = stridesOf(sizes);
    forEachIndex(
      groups.slice(0, -1).map((g) => sizes[g]!),
      [groups.slice(0, -1).map((g) => strides[g]!)],
      (i, [o]) => out.set(x.data.subarray(o!, o! + row) as never, i * row),
    );
    return new NDArray(out, outShape, x.dtype);
  }
  if ((k === 2 && groups[0] === 1) || (k === 3 && groups[0] === 0 && groups[1] === 2)) {
    // Matrices transposed (a batch of them), as a blocked loop: 32x32 tiles stay in cache.
    const [batch, r, c] = (k === 2 ? [1, sizes[0]!, sizes[1]!] : sizes) as [number, number, number];
    for (let b = 0; b < batch; b++) {
      const base = b * r * c;
      for (let i0 = 0; i0 < r; i0 += 32) {
        for (let j0 = 0; j0 < c; j0 += 32) {
          for (let i = i0; i < Math.min(i0 + 32, r); i++) {
            for (let j = j0; j < Math.min(j0 + 32, c); j++) out[base + j * r + i] = x.data[base + i * c + j]!;
          }
        }
      }
    }
    return new NDArray(out, outShape, x.dtype);
  }
  const strides = stridesOf(x.shape);
  return gatherStrided(
    x,
    outShape,
    perm.map((p) => strides[p]!),
  );
}

export function expandDims(x: NDArray, axis: number): NDArray {
  const shape = [...x.shape];
  shape.splice(axis, 0, 1);
  return new NDArray(x.data, shape, x.dtype);
}

export function squeeze(x: NDArray, axes: readonly number[]): NDArray {
  for (const a of axes) {
    if (x.shape[a] !== 1) throw new ShapeError(`cannot squeeze axis ${a} of an array of shape ${fmt(x.shape)}`);
  }
  return new NDArray(
    x.data,
    x.shape.filter((_, i) => !axes.includes(i)),
    x.dtype,
  );
}

export function concat(xs: readonly NDArray[], axis: number, dtype: DType): NDArray {
  const first = xs[0]!;
  xs.forEach((x) => {
    if (x.ndim !== first.ndim || x.shape.some((d, i) => i !== axis && d !== first.shape[i])) {
      throw new ShapeError(`cannot concatenate shapes ${xs.map((x) => fmt(x.shape)).join(', ')} on axis ${axis}`);
    }
  });
  const shape = [...first.shape];
  shape[axis] = xs.reduce((s, x) => s + x.shape[axis]!, 0);
  const outer = sizeOf(shape.slice(0, axis));
  const inner = sizeOf(shape.slice(axis + 1));
  const out = allocate(dtype, sizeOf(shape));
  let pos = 0;
  // Each operand's part of an outer index is one contiguous run, copied at once (converted to dtype
  // as an element-by-element assignment would).
  for (let o = 0; o < outer; o++) {
    for (const x of xs) {
      const chunk = x.shape[axis]! * inner;
      out.set(x.data.subarray(o * chunk, (o + 1) * chunk) as never, pos);
      pos += chunk;
    }
  }
  return new NDArray(out, shape, dtype);
}

export interface SliceArgs {
  readonly starts: readonly (number | null)[];
  readonly stops: readonly (number | null)[];
  readonly steps: readonly number[];
}

/** Each axis's start, step and length under a slice (negative and missing bounds resolved as NumPy does). */
export function resolveAll(shape: readonly number[], s: SliceArgs) {
  return shape.map((n, i) => resolveSlice(n, s.starts[i]!, s.stops[i]!, s.steps[i]!));
}

export function slice(x: NDArray, s: SliceArgs): NDArray {
  const parts = resolveAll(x.shape, s);
  const strides = stridesOf(x.shape);
  const base = parts.reduce((o, p, i) => o + (p.length > 0 ? p.start * strides[i]! : 0), 0);
  const shape = parts.map((p) => p.length);
  // Trailing axes taken whole, and the axis before them in steps of 1, are contiguous runs in x:
  // copied a run at a time.
  let first = parts.length;
  while (first > 0 && parts[first - 1]!.step === 1 && parts[first - 1]!.length === x.shape[first - 1]) first--;
  if (first > 0 && parts[first - 1]!.step === 1) first--;
  const run = sizeOf(shape.slice(first));
  if (run < 8 || sizeOf(shape) === 0)
    return gatherStrided(
      x,
      shape,
      parts.map((p, i) => p.step * strides[i]!),
      base,
    );
  const out = allocate(x.dtype, sizeOf(shape));
  forEachIndex(shape.slice(0, first), [parts.slice(0, first).map((p, i) => p.step * strides[i]!)], (i, [o]) =>
    out.set(x.data.subarray(base + o!, base + o! + run) as never, i * run),
  );
  return new NDArray(out, shape, x.dtype);
}

/** The adjoint of slice: g written into zeros shaped like ref. */
export function sliceGrad(g: NDArray, ref: NDArray, s: SliceArgs): NDArray {
  const parts = resolveAll(ref.shape, s);
  const strides = stridesOf(ref.shape);
  const out = allocate(g.dtype, ref.size);
  const base = parts.reduce((o, p, i) => o + (p.length > 0 ? p.start * strides[i]! : 0), 0);
  forEachIndex(g.shape, [parts.map((p, i) => p.step * strides[i]!)], (i, [o]) => (out[base + o!] = g.data[i]!));
  return new NDArray(out, ref.shape, g.dtype);
}

/** A static slice of `x`'s shape that takes `axis` from start to stop by step, and every other axis whole. */
function oneAxis(rank: number, axis: number, start: number | null, stop: number | null, step: number): SliceArgs {
  const whole = (v: number | null) => Array.from({ length: rank }, (_, i) => (i === axis ? v : null));
  return { starts: whole(start), stops: whole(stop), steps: whole(step).map((v) => v ?? 1) };
}

/** The static slice a dynamic slice's bound values make; an index out of range is an error, as in NumPy. */
function resolveDynamic(shape: readonly number[], bounds: readonly NDArray[], a: DynamicSliceArgs): SliceArgs {
  const value = (k: number) => bounds[k]!.data[0]!;
  if (!a.drop) return oneAxis(shape.length, a.axis, value(0), value(1), a.step);
  const i = checkIndex(value(0), shape[a.axis]!, 'index');
  return oneAxis(shape.length, a.axis, i, i + 1, 1);
}

export function dynamicSlice(x: NDArray, bounds: readonly NDArray[], a: DynamicSliceArgs): NDArray {
  const out = slice(x, resolveDynamic(x.shape, bounds, a));
  return a.drop
    ? reshape(
        out,
        out.shape.filter((_, i) => i !== a.axis),
      )
    : out;
}

/** The adjoint of dynamicSlice: g written into zeros shaped like ref. */
export function dynamicSliceGrad(g: NDArray, ref: NDArray, bounds: readonly NDArray[], a: DynamicSliceArgs): NDArray {
  const spec = resolveDynamic(ref.shape, bounds, a);
  const placed = a.drop ? reshape(g, [...g.shape.slice(0, a.axis), 1, ...g.shape.slice(a.axis)]) : g;
  return sliceGrad(placed, ref, spec);
}

/** NumPy's arange: start, start + step, ... while before stop. */
export function arange(start: number, stop: number, step: number, dtype: DType): NDArray {
  if (!(step !== 0 && Number.isFinite(step)))
    throw new ShapeError(`arange: step must be finite and non-zero, got ${step}`);
  if (!Number.isFinite(start) || !Number.isFinite(stop))
    throw new ShapeError(`arange: bounds must be finite, got start ${start} and stop ${stop}`);
  const n = Math.max(0, Math.ceil((stop - start) / step));
  const out = allocate(dtype, checkedSize([n], dtype, `arange(${start}, ${stop}, ${step})`));
  for (let i = 0; i < n; i++) out[i] = start + i * step;
  return new NDArray(out, [n], dtype);
}

function checkIndex(i: number, n: number, what: string): number {
  const j = i < 0 ? i + n : i;
  if (!(j >= 0 && j < n)) throw new ShapeError(`${what}: index ${i} is out of range for an axis of size ${n}`);
  return j;
}

export function gather(x: NDArray, indices: NDArray, axis: number): NDArray {
  const outer = sizeOf(x.shape.slice(0, axis));
  const n = x.shape[axis]!;
  const inner = sizeOf(x.shape.slice(axis + 1));
  const shape = [...x.shape.slice(0, axis), ...indices.shape, ...x.shape.slice(axis + 1)];
  const out = allocate(x.dtype, sizeOf(shape));
  let pos = 0;
  for (let o = 0; o < outer; o++) {
    for (const raw of indices.data) {
      const j = checkIndex(raw, n, 'gather');
      for (let i = 0; i < inner; i++) out[pos++] = x.data[(o * n + j) * inner + i]!;
    }
  }
  return new NDArray(out, shape, x.dtype);
}

/** The adjoint of gather: g scatter-added into zeros shaped like ref (repeated indices accumulate). */
export function gatherGrad(g: NDArray, indices: NDArray, ref: NDArray, axis: number): NDArray {
  const outer = sizeOf(ref.shape.slice(0, axis));
  const n = ref.shape[axis]!;
  const inner = sizeOf(ref.shape.slice(axis + 1));
  const acc = new Float64Array(ref.size);
  let pos = 0;
  for (let o = 0; o < outer; o++) {
    for (const raw of indices.data) {
      const j = checkIndex(raw, n, 'gather');
      for (let i = 0; i < inner; i++) acc[(o * n + j) * inner + i]! += g.data[pos++]!;
    }
  }
  const out = allocate(g.dtype, ref.size);
  out.set(acc);
  return new NDArray(out, ref.shape, g.dtype);
}

/** One-hot rows; an index outside [0, depth) gives a row of zeros, as in TensorFlow. */
export function oneHot(indices: NDArray, depth: number, dtype: DType): NDArray {
  const out = allocate(dtype, indices.size * depth);
  indices.data.forEach((v, i) => {
    if (v >= 0 && v < depth) out[i * depth + v] = 1;
  });
  return new NDArray(out, [...indices.shape, depth], dtype);
}

export function pad(x: NDArray, paddings: readonly (readonly [number, number])[], value: number): NDArray {
  const shape = x.shape.map((d, i) => d + paddings[i]![0] + paddings[i]![1]);
  const out = allocate(x.dtype, sizeOf(shape));
  out.fill(coerce(value, x.dtype));
  const outStrides = stridesOf(shape);
  const base = paddings.reduce((o, p, i) => o + p[0] * outStrides[i]!, 0);
  forEachIndex(x.shape, [outStrides], (i, [o]) => (out[base + o!] = x.data[i]!));
  return new NDArray(out, shape, x.dtype);
}

/** Whether `inner` is `outer` with leading axes dropped (a bias against a batch). */
const isSuffix = (inner: readonly number[], outer: readonly number[]) =>
  inner.length <= outer.length && inner.every((d, i) => d === outer[outer.length - inner.length + i]);

export function broadcastTo(x: NDArray, shape: readonly number[]): NDArray {
  if (sameShape(x.shape, shape)) return x;
  if (isSuffix(x.shape, shape)) {
    // Repeat the whole array: copies of contiguous blocks.
    const out = allocate(x.dtype, sizeOf(shape));
    for (let o = 0; o < out.length; o += x.size) out.set(x.data, o);
    return new NDArray(out, shape, x.dtype);
  }
  const target = broadcastConcrete([x.shape, shape]);
  if (target.length !== shape.length || target.some((d, i) => d !== shape[i])) {
    throw new ShapeError(`cannot broadcast shape ${fmt(x.shape)} to ${fmt(shape)}`);
  }
  return gatherStrided(x, shape, broadcastStrides(x.shape, shape));
}

/** Sums x down to `shape`, undoing NumPy broadcasting (the gradient of a broadcast). */
export function sumTo(x: NDArray, shape: readonly number[]): NDArray {
  if (sameShape(x.shape, shape)) return x;
  if (isSuffix(shape, x.shape) && sizeOf(shape) > 0) {
    // Sum of contiguous blocks (the gradient of a bias), accumulated in float64.
    const n = sizeOf(shape);
    const acc = new Float64Array(n);
    for (let o = 0; o < x.size; o += n) for (let i = 0; i < n; i++) acc[i]! += x.data[o + i]!;
    const out = allocate(x.dtype, n);
    out.set(acc);
    return new NDArray(out, shape, x.dtype);
  }
  const lead = x.ndim - shape.length;
  const axes: number[] = [];
  x.shape.forEach((d, i) => {
    if (i < lead || (shape[i - lead] === 1 && d !== 1)) axes.push(i);
    else if (shape[i - lead] !== d) throw new ShapeError(`cannot sum shape ${fmt(x.shape)} down to ${fmt(shape)}`);
  });
  if (lead < 0) throw new ShapeError(`cannot sum shape ${fmt(x.shape)} down to ${fmt(shape)}`);
  return reshape(reduceWith(x, axes, false, x.dtype, compensatedSum), shape);
}

/** The part of g (a concatenation along `axis`) that came from operand `index`. */
export function concatPart(g: NDArray, operands: readonly NDArray[], axis: number, index: number): NDArray {
  const start = operands.slice(0, index).reduce((s, x) => s + x.shape[axis]!, 0);
  const len = operands[index]!.shape[axis]!;
  const starts = g.shape.map((_, i) => (i === axis ? start : null));
  const stops = g.shape.map((_, i) => (i === axis ? start + len : null));
  return slice(g, { starts, stops, steps: g.shape.map(() => 1) });
}
