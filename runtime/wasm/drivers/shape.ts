/** Shape ops as strided copies in wasm memory: transpose, slice and its gradient, pad (with zeros), concat and its gradient. */
import type { Step } from '../../program.js';
import { bytesPerElement, refuseOversize } from '../../dtype.js';
import { NDArray, sizeOf, stridesOf } from '../../ndarray.js';
import { resolveAll, type SliceArgs } from '../../reference/shape.js';
import { kernelArgs } from '../../kernel-abi.js';
import type { KernelCalls } from '../kernel-calls.js';

/** A copy of `shape` elements between two strided views (element strides), as the step's kernel runs it. */
interface CopyPlan {
  readonly shape: readonly number[];
  readonly srcOffset: number;
  readonly srcStrides: readonly number[];
  readonly dstOffset: number;
  readonly dstStrides: readonly number[];
}

/** Runs the strided copy kernel: sizes, strides and counters go in a scratch block beside the data. */
function copy(ctx: KernelCalls, step: Step, src: number, dst: number, bytes: number, plan: CopyPlan): void {
  if (sizeOf(plan.shape) === 0) return;
  // A scalar is a copy of one element along one axis.
  const shape = plan.shape.length ? plan.shape : [1];
  const rank = shape.length;
  const words = [
    ...shape,
    ...(plan.srcStrides.length ? plan.srcStrides : [1]),
    ...(plan.dstStrides.length ? plan.dstStrides : [1]),
  ];
  const table = ctx.arena.alloc(4 * 4 * rank);
  ctx.storeWords(
    table,
    words.map((w, i) => (i < rank ? w : w * bytes)),
  );
  ctx.dispatch([
    [
      step.kernel!,
      kernelArgs('stridedCopy', {
        src: src + plan.srcOffset * bytes,
        dst: dst + plan.dstOffset * bytes,
        rank,
        shape: table,
        srcStrides: table + 4 * rank,
        dstStrides: table + 8 * rank,
        index: table + 12 * rank,
        bytes,
      }),
    ],
  ]);
  ctx.arena.free(table);
}

/** transpose, slice, sliceGrad, pad (zeros), concat and concatPart of `operands` in wasm memory; undefined for what the kernel does not cover. */
export function shapeOp(ctx: KernelCalls, step: Step, operands: readonly NDArray[]): NDArray | undefined {
  const x = operands[0]!;
  const bytes = bytesPerElement(x.dtype);
  // A new block of `shape` (zeros first where `fill`) that `plans` copy their sources into (x by default).
  const result = (shape: readonly number[], fill: boolean, ...plans: (CopyPlan & { from?: NDArray })[]) => {
    const size = sizeOf(shape);
    refuseOversize(x.dtype, size);
    const out = ctx.arena.alloc(size * bytes);
    if (fill) ctx.zero(out, size * bytes);
    for (const plan of plans) copy(ctx, step, ctx.place(plan.from ?? x), out, bytes, plan);
    return new NDArray(ctx.arena.view(x.dtype, out, size), [...shape], x.dtype);
  };
  const strides = stridesOf(x.shape);
  switch (step.op) {
    case 'transpose': {
      const perm = (step.args as { perm: readonly number[] }).perm;
      const shape = perm.map((p) => x.shape[p]!);
      return result(shape, false, {
        shape,
        srcOffset: 0,
        srcStrides: perm.map((p) => strides[p]!),
        dstOffset: 0,
        dstStrides: stridesOf(shape),
      });
    }
    case 'slice': {
      const parts = resolveAll(x.shape, step.args as SliceArgs);
      const shape = parts.map((p) => p.length);
      const srcOffset = parts.reduce((o, p, i) => o + (p.length > 0 ? p.start * strides[i]! : 0), 0);
      return result(shape, false, {
        shape,
        srcOffset,
        srcStrides: parts.map((p, i) => p.step * strides[i]!),
        dstOffset: 0,
        dstStrides: stridesOf(shape),
      });
    }
    case 'sliceGrad': {
      // g written into zeros shaped like the sliced operand.
      const ref = operands[1]!;
      const parts = resolveAll(ref.shape, step.args as SliceArgs);
      if (parts.some((p, i) => p.length !== x.shape[i])) return undefined;
      const refStrides = stridesOf(ref.shape);
      const dstOffset = parts.reduce((o, p, i) => o + (p.length > 0 ? p.start * refStrides[i]! : 0), 0);
      return result(ref.shape, true, {
        shape: x.shape,
        srcOffset: 0,
        srcStrides: strides,
        dstOffset,
        dstStrides: parts.map((p, i) => p.step * refStrides[i]!),
      });
    }
    case 'pad': {
      const a = step.args as { paddings: readonly (readonly [number, number])[]; value: number };
      if (a.value !== 0) return undefined;
      const shape = x.shape.map((d, i) => d + a.paddings[i]![0] + a.paddings[i]![1]);
      const outStrides = stridesOf(shape);
      const dstOffset = a.paddings.reduce((o, p, i) => o + p[0] * outStrides[i]!, 0);
      return result(shape, true, {
        shape: x.shape,
        srcOffset: 0,
        srcStrides: strides,
        dstOffset,
        dstStrides: outStrides,
      });
    }
    case 'concat': {
      const axis = ((step.args as { axis: number }).axis + x.ndim) % x.ndim;
      const fits = (o: NDArray) =>
        o.dtype === step.dtype && o.ndim === x.ndim && o.shape.every((d, i) => i === axis || d === x.shape[i]);
      if (!operands.every(fits)) return undefined; // the reference kernel converts dtypes or reports the shapes
      const shape = [...x.shape];
      shape[axis] = operands.reduce((n, o) => n + o.shape[axis]!, 0);
      const outStrides = stridesOf(shape);
      const starts = operands.map((_, k) => operands.slice(0, k).reduce((n, o) => n + o.shape[axis]!, 0));
      return result(
        shape,
        false,
        ...operands.map((o, k) => ({
          from: o,
          shape: o.shape,
          srcOffset: 0,
          srcStrides: stridesOf(o.shape),
          dstOffset: starts[k]! * outStrides[axis]!,
          dstStrides: outStrides,
        })),
      );
    }
    case 'concatPart': {
      // The part of g (operand 0) that concatenating the other operands gave operand `index`.
      const a = step.args as { axis: number; index: number };
      const refs = operands.slice(1);
      const axis = (a.axis + x.ndim) % x.ndim;
      const start = refs.slice(0, a.index).reduce((n, o) => n + o.shape[axis]!, 0);
      const shape = [...x.shape];
      shape[axis] = refs[a.index]!.shape[axis]!;
      if (start + shape[axis]! > x.shape[axis]!) return undefined;
      return result(shape, false, {
        shape,
        srcOffset: start * strides[axis]!,
        srcStrides: strides,
        dstOffset: 0,
        dstStrides: stridesOf(shape),
      });
    }
    default:
      return undefined;
  }
}
