/** Kernels driven by indices: gather, its gradient and oneHot; indices from floats (toInt32); and uniform random numbers from a stream the module keeps. */
import type { Step } from '../../program.js';
import { bytesPerElement, refuseOversize } from '../../dtype.js';
import { ShapeError } from '../../errors.js';
import { kernelArgs } from '../../kernel-abi.js';
import { NDArray, sizeOf } from '../../ndarray.js';
import type { KernelCalls } from '../kernel-calls.js';
import type { DrawSource } from '../../random.js';

/** The sizes around a gather's axis: [outer, n, inner]. */
function around(shape: readonly number[], axis: number): [number, number, number] {
  return [sizeOf(shape.slice(0, axis)), shape[axis]!, sizeOf(shape.slice(axis + 1))];
}

const outOfRange = (n: number) => (raw: number) =>
  new ShapeError(`gather: index ${raw} is out of range for an axis of size ${n}`);

/** x's rows along `axis` picked by int32 indices, any dtype; undefined for empty work (the reference gives the empty result). */
export function gather(ctx: KernelCalls, step: Step, [x, indices]: readonly NDArray[]): NDArray | undefined {
  const { axis } = step.args as { axis: number };
  const [outer, n, inner] = around(x!.shape, axis);
  const shape = [...x!.shape.slice(0, axis), ...indices!.shape, ...x!.shape.slice(axis + 1)];
  const size = sizeOf(shape);
  if (size === 0) return undefined;
  refuseOversize(x!.dtype, size);
  const bytes = bytesPerElement(x!.dtype);
  const [src, idx] = [ctx.place(x!), ctx.place(indices!)];
  const out = ctx.arena.alloc(size * bytes);
  const status = ctx.statusOf(step);
  ctx.call(
    step.kernel!,
    kernelArgs('gather', {
      x: src,
      indices: idx,
      out,
      outer,
      count: indices!.size,
      n,
      rowBytes: inner * bytes,
      status,
    }),
  );
  ctx.check(step, status, outOfRange(n));
  return new NDArray(ctx.arena.view(x!.dtype, out, size), shape, x!.dtype);
}

/** g's rows scatter-added at their indices into zeros shaped like ref (float64 accumulation, as the reference). */
export function gatherGrad(ctx: KernelCalls, step: Step, [g, indices, ref]: readonly NDArray[]): NDArray | undefined {
  const { axis } = step.args as { axis: number };
  const [outer, n, inner] = around(ref!.shape, axis);
  const size = ref!.size;
  if (size === 0 || g!.size === 0) return undefined;
  const dtype = g!.dtype;
  const [gPtr, idx] = [ctx.place(g!), ctx.place(indices!)];
  const out = ctx.arena.alloc(size * bytesPerElement(dtype));
  const acc = ctx.arena.alloc(size * 8);
  const status = ctx.statusOf(step);
  ctx.call(
    step.kernel!,
    kernelArgs('gatherGrad', { g: gPtr, indices: idx, out, acc, outer, count: indices!.size, n, inner, status }),
  );
  ctx.arena.free(acc);
  ctx.check(step, status, outOfRange(n));
  return new NDArray(ctx.arena.view(dtype, out, size), [...ref!.shape], dtype);
}

/** One-hot rows of int32 indices. */
export function oneHot(ctx: KernelCalls, step: Step, [indices]: readonly NDArray[]): NDArray | undefined {
  const { depth } = step.args as { depth: number };
  const size = indices!.size * depth;
  if (size === 0) return undefined;
  refuseOversize(step.dtype, size);
  const idx = ctx.place(indices!);
  const out = ctx.arena.alloc(size * bytesPerElement(step.dtype));
  ctx.call(step.kernel!, kernelArgs('oneHot', { indices: idx, out, count: indices!.size, depth }));
  return new NDArray(ctx.arena.view(step.dtype, out, size), [...indices!.shape, depth], step.dtype);
}

/** Uniform numbers shaped like x from the step's seeded stream (kept in the module's memory across calls). */
export function randomUniform(ctx: KernelCalls, step: Step, [x]: readonly NDArray[]): NDArray | undefined {
  if (x!.size === 0) return undefined;
  const out = ctx.arena.alloc(x!.size * bytesPerElement(step.dtype));
  ctx.call(
    step.kernel!,
    kernelArgs('randomUniform', { state: ctx.randomState(step.args as DrawSource), out, count: x!.size }),
  );
  return new NDArray(ctx.arena.view(step.dtype, out, x!.size), [...x!.shape], step.dtype);
}

/** Floats converted to int32 as the reference casts them (class labels, embedding ids). */
export function toInt32(ctx: KernelCalls, step: Step, [x]: readonly NDArray[]): NDArray | undefined {
  if (x!.size === 0) return undefined;
  const src = ctx.place(x!);
  const out = ctx.arena.alloc(x!.size * 4);
  ctx.call(step.kernel!, kernelArgs('toInt32', { x: src, out, count: x!.size }));
  return new NDArray(ctx.arena.view('int32', out, x!.size), [...x!.shape], 'int32');
}
