/** Reductions, arg-reductions and softmax along any axes (moved last by the transpose companion where needed). */
import type { FusedArgs, ReduceArgs } from '../../program.js';
import type { Step } from '../../program.js';
import { kernelArgs, type KernelSpec } from '../../kernel-abi.js';
import { bytesPerElement } from '../../dtype.js';
import { NDArray, sizeOf } from '../../ndarray.js';
import { reducedShape } from '../../reference/reduce.js';
import { type KernelCalls, PARALLEL_ELEMENTS } from '../kernel-calls.js';
import { elementwise } from './elementwise.js';
import { copyInto } from './linalg.js';
import { transposedMatrices } from './conv.js';

/** A reduction's axes, each once, ascending (negative ones counted from the end). */
const sortedAxes = (axes: readonly number[], rank: number) =>
  [...new Set(axes.map((a) => (a + rank) % rank))].sort((p, q) => p - q);

/**
 * A reduction over any axis set: the axes form runs of neighbours, each reduced as an
 * [outer, reduced, inner] view, the last run first (so earlier axes keep their positions). Rows
 * are split across threads; sums accumulate in float64.
 */
export function reduce(
  ctx: KernelCalls,
  step: Step,
  spec: Extract<KernelSpec, { kind: 'reduce' }>,
  operands: readonly NDArray[],
): NDArray | undefined {
  const x = spec.map ? elementwise(ctx, ctx.fnIndex.get(`k${step.kernel}_map`)!, spec.map, operands) : operands[0]!;
  const discard = () => (spec.map && x ? (ctx.arena.free(x.data.byteOffset), undefined) : undefined);
  if (!x || x.size === 0) return discard(); // empty axes: the reference knows the identities and the errors
  const rank = x.ndim;
  let axes: number[];
  let outShape: number[];
  if (step.op === 'sumLike') {
    // Down to the reference operand's shape: its missing leading axes and its 1s where x is wider.
    const target = operands[1]!.shape;
    const lead = rank - target.length;
    if (lead < 0 || target.some((d, i) => d !== 1 && d !== x.shape[lead + i])) return discard();
    axes = x.shape.flatMap((d, i) => (i < lead || (target[i - lead] === 1 && d !== 1) ? [i] : []));
    outShape = [...target];
  } else {
    const args = spec.map ? (step.args as FusedArgs).reduce! : (step.args as ReduceArgs);
    axes = sortedAxes(args.axes, rank);
    outShape = reducedShape(x.shape, axes, args.keepdims);
  }
  // Nothing to reduce (a broadcast's gradient where nothing was broadcast): the values, reshaped.
  if (axes.length === 0) return spec.map ? new NDArray(x.data, outShape, x.dtype) : copyInto(ctx, x, outShape);
  const runs: [number, number][] = [];
  for (const a of axes) {
    const last = runs[runs.length - 1];
    if (last && last[1] === a - 1) last[1] = a;
    else runs.push([a, a]);
  }
  const dtype = spec.dtype ?? 'float32';
  const E = bytesPerElement(dtype);
  let shape = [...x.shape];
  let ptr = ctx.place(x);
  // Blocks this step made for itself (the fused producer's values, earlier runs' partial results).
  const own = spec.map ? [ptr] : [];
  for (const [start, end] of runs.reverse()) {
    let outer = sizeOf(shape.slice(0, start));
    const reduced = sizeOf(shape.slice(start, end + 1));
    let inner = sizeOf(shape.slice(end + 1));
    if (spec.op === 'logsumexp' && inner > 1) {
      // logsumexp's kernel reduces whole rows: [outer, reduced, inner] moved to [outer·inner, reduced] first.
      const current = new NDArray(ctx.arena.view(dtype, ptr, outer * reduced * inner), [outer, reduced, inner], dtype);
      ptr = transposedMatrices(ctx, step, current, outer, reduced, inner, [outer, inner, reduced]).data.byteOffset;
      own.push(ptr);
      [outer, inner] = [outer * inner, 1];
    }
    const out = ctx.arena.alloc(outer * inner * E);
    const parts = ctx.parts(outer, 1, outer * reduced * inner >= PARALLEL_ELEMENTS);
    const scratch = parts.map(() =>
      inner > 1 && (spec.op === 'sum' || spec.op === 'mean' || spec.op === 'prod') ? ctx.arena.alloc(inner * 8) : 0,
    );
    ctx.dispatch(
      parts.map(([o0, o1], t) => [
        step.kernel!,
        kernelArgs('reduce', {
          outer: o1 - o0,
          reduced,
          inner,
          x: ptr + o0 * reduced * inner * E,
          out: out + o0 * inner * E,
          scratch: scratch[t]!,
        }),
      ]),
    );
    scratch.forEach((p) => p && ctx.arena.free(p));
    shape = [...shape.slice(0, start), ...shape.slice(end + 1)];
    ptr = out;
    own.push(out);
  }
  own.slice(0, -1).forEach((p) => ctx.arena.free(p));
  return new NDArray(ctx.arena.view(dtype, ptr, sizeOf(outShape)), outShape, dtype);
}

/** argmax / argmin over axes that are neighbours (one [outer, reduced, inner] view), rows split across threads. */
export function argReduce(ctx: KernelCalls, step: Step, x: NDArray): NDArray | undefined {
  const args = step.args as ReduceArgs;
  const axes = sortedAxes(args.axes, x.ndim);
  if (x.size === 0 || axes.length === 0 || axes[axes.length - 1]! - axes[0]! !== axes.length - 1) return undefined; // empty: the reference's error
  const outer = sizeOf(x.shape.slice(0, axes[0]!));
  const reduced = sizeOf(x.shape.slice(axes[0]!, axes[axes.length - 1]! + 1));
  const inner = sizeOf(x.shape.slice(axes[axes.length - 1]! + 1));
  const input = ctx.place(x);
  const out = ctx.arena.alloc(outer * inner * 4);
  const E = bytesPerElement(x.dtype);
  ctx.dispatch(
    ctx.parts(outer, 1, x.size >= PARALLEL_ELEMENTS).map(([o0, o1]) => [
      step.kernel!,
      kernelArgs('argReduce', {
        outer: o1 - o0,
        reduced,
        inner,
        x: input + o0 * reduced * inner * E,
        out: out + o0 * inner * 4,
      }),
    ]),
  );
  return new NDArray(ctx.arena.view('int32', out, outer * inner), reducedShape(x.shape, axes, args.keepdims), 'int32');
}

/** softmax / logSoftmax along any axis (another than the last moved last and back), rows split across threads. */
export function softmax(
  ctx: KernelCalls,
  step: Step,
  spec: Extract<KernelSpec, { kind: 'softmax' }>,
  x: NDArray,
): NDArray | undefined {
  const axis = ((step.args as { axis: number }).axis + x.ndim) % x.ndim;
  if (x.size === 0) return undefined;
  if (axis !== x.ndim - 1) {
    // [outer, reduced, inner] → [outer, inner, reduced], softmax along the last axis, and back.
    const [outer, reduced, inner] = [sizeOf(x.shape.slice(0, axis)), x.shape[axis]!, sizeOf(x.shape.slice(axis + 1))];
    const moved = transposedMatrices(ctx, step, x, outer, reduced, inner, [outer, inner, reduced]);
    const last = softmax(ctx, { ...step, args: { ...(step.args as object), axis: -1 } } as Step, spec, moved);
    ctx.arena.free(moved.data.byteOffset);
    if (!last) return undefined;
    const back = transposedMatrices(ctx, step, last, outer, inner, reduced, x.shape);
    ctx.arena.free(last.data.byteOffset);
    return back;
  }
  const dtype = spec.dtype ?? 'float32';
  const E = bytesPerElement(dtype);
  const reduced = x.shape[x.ndim - 1]!;
  const outer = x.size / reduced;
  const input = ctx.place(x);
  const out = ctx.arena.alloc(x.size * E);
  ctx.dispatch(
    ctx
      .parts(outer, 1, x.size >= PARALLEL_ELEMENTS)
      .map(([o0, o1]) => [
        step.kernel!,
        kernelArgs('softmax', { outer: o1 - o0, reduced, x: input + o0 * reduced * E, out: out + o0 * reduced * E }),
      ]),
  );
  return new NDArray(ctx.arena.view(dtype, out, x.size), [...x.shape], dtype);
}

/** Running sums or products along one axis, viewed as [outer, length, inner]; lines split across threads. */
export function cumulative(
  ctx: KernelCalls,
  step: Step,
  spec: Extract<KernelSpec, { kind: 'cumulative' }>,
  x: NDArray,
): NDArray | undefined {
  if (x.size === 0) return undefined;
  const axis = (step.args as { axis: number }).axis;
  const dtype = spec.dtype ?? 'float32';
  const E = bytesPerElement(dtype);
  const [outer, length, inner] = [sizeOf(x.shape.slice(0, axis)), x.shape[axis]!, sizeOf(x.shape.slice(axis + 1))];
  const input = ctx.place(x);
  const out = ctx.arena.alloc(x.size * E);
  const line = length * inner * E;
  ctx.dispatch(
    ctx
      .parts(outer, 1, x.size >= PARALLEL_ELEMENTS)
      .map(([o0, o1]) => [
        step.kernel!,
        kernelArgs('cumulative', { outer: o1 - o0, length, inner, x: input + o0 * line, out: out + o0 * line }),
      ]),
  );
  return new NDArray(ctx.arena.view(dtype, out, x.size), [...x.shape], dtype);
}

/** The indices of the k largest of each last-axis row (int32), rows split across threads, each part with its own k-value buffer. */
export function topk(
  ctx: KernelCalls,
  step: Step,
  spec: Extract<KernelSpec, { kind: 'topk' }>,
  x: NDArray,
): NDArray | undefined {
  const k = (step.args as { k: number }).k;
  const n = x.shape[x.ndim - 1]!;
  if (k > n || x.size === 0) return undefined; // the reference's error, or nothing to find
  const rows = x.size / n;
  const E = bytesPerElement(spec.dtype ?? 'float32');
  const input = ctx.place(x);
  const out = ctx.arena.alloc(Math.max(1, rows * k) * 4);
  const parts = ctx.parts(rows, 1, x.size >= PARALLEL_ELEMENTS);
  const scratch = ctx.arena.alloc(Math.max(1, parts.length * k) * E);
  ctx.dispatch(
    parts.map(([r0, r1], part) => [
      step.kernel!,
      kernelArgs('topk', {
        rows: r1 - r0,
        n,
        k,
        x: input + r0 * n * E,
        out: out + r0 * k * 4,
        scratch: scratch + part * k * E,
      }),
    ]),
  );
  ctx.arena.free(scratch);
  return new NDArray(ctx.arena.view('int32', out, rows * k), [...x.shape.slice(0, -1), k], 'int32');
}

/** The positions that sort each line along the step's axis (int32), split across threads by the axes before it. */
export function argsort(
  ctx: KernelCalls,
  step: Step,
  spec: Extract<KernelSpec, { kind: 'argsort' }>,
  x: NDArray,
): NDArray | undefined {
  if (x.size === 0) return undefined;
  const { axis, descending } = step.args as { axis: number; descending: boolean };
  const E = bytesPerElement(spec.dtype ?? 'float32');
  const [outer, n, inner] = [sizeOf(x.shape.slice(0, axis)), x.shape[axis]!, sizeOf(x.shape.slice(axis + 1))];
  const input = ctx.place(x);
  const out = ctx.arena.alloc(x.size * 4);
  const parts = ctx.parts(outer, 1, x.size >= PARALLEL_ELEMENTS);
  const scratch = parts.map(() => ctx.arena.alloc(n * 16));
  ctx.dispatch(
    parts.map(([o0, o1], p) => [
      step.kernel!,
      kernelArgs('argsort', {
        lines: (o1 - o0) * inner,
        n,
        inner,
        x: input + o0 * n * inner * E,
        out: out + o0 * n * inner * 4,
        scratch: scratch[p]!,
        descending: descending ? 1 : 0,
      }),
    ]),
  );
  scratch.forEach((s) => ctx.arena.free(s));
  return new NDArray(ctx.arena.view('int32', out, x.size), [...x.shape], 'int32');
}

/** Elements taken along the step's axis at int32 indices of the same rank (the program's own argsort or topk made them). */
export function takeAlong(ctx: KernelCalls, step: Step, x: NDArray, indices: NDArray): NDArray | undefined {
  const axis = (step.args as { axis: number }).axis;
  if (indices.size === 0 || x.shape.some((d, a) => a !== axis && d !== indices.shape[a])) return undefined;
  const E = bytesPerElement(x.dtype);
  const [outer, n, inner] = [sizeOf(x.shape.slice(0, axis)), x.shape[axis]!, sizeOf(x.shape.slice(axis + 1))];
  const count = indices.shape[axis]!;
  const [input, at] = [ctx.place(x), ctx.place(indices)];
  const out = ctx.arena.alloc(indices.size * E);
  ctx.dispatch(
    ctx.parts(outer, 1, indices.size >= PARALLEL_ELEMENTS).map(([o0, o1]) => [
      step.kernel!,
      kernelArgs('takeAlong', {
        lines: (o1 - o0) * inner,
        n,
        m: count,
        inner,
        x: input + o0 * n * inner * E,
        indices: at + o0 * count * inner * 4,
        out: out + o0 * count * inner * E,
        wide: E === 8 ? 1 : 0,
      }),
    ]),
  );
  return new NDArray(ctx.arena.view(x.dtype, out, indices.size), [...indices.shape], x.dtype);
}
