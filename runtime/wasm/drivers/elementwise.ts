/** Elementwise kernels: broadcasting by layout, walks over leading axes, parts across threads with copies overlapped. */
import {
  actualLayout,
  broadcastPlan,
  type BroadcastPlan,
  type ElementwiseSpec,
  kernelArgs,
  type Layout,
  layoutFits,
} from '../../kernel-abi.js';
import { allocateForOverwrite, bytesPerElement } from '../../dtype.js';
import { NDArray, sizeOf } from '../../ndarray.js';
import { MultiOutput } from '../../reference/kernels.js';
import { broadcastConcrete } from '../../reference/layout.js';
import { broadcastTo } from '../../reference/shape.js';
import { MAX_CHUNKS } from '../threads.js';
import { type Job, type KernelCalls, PARALLEL_ELEMENTS, roundUp } from '../kernel-calls.js';

/**
 * An elementwise kernel's arguments for part [a, b) of an [outer, inner] slab: pieces of one long
 * row when there is one row (whole arrays and rows move by elements), else whole rows (whole arrays
 * move by rows, columns by one value per row; rows and scalars stay).
 */
function elementwiseArgs(
  spec: ElementwiseSpec,
  outer: number,
  inner: number,
  inPtrs: readonly number[],
  outPtrs: readonly number[],
  [a, b]: readonly [number, number],
): number[] {
  const inSize = (i: number) => bytesPerElement(spec.inputTypes[i]!);
  const outSize = (q: number) => bytesPerElement(spec.outputTypes[q]!);
  return outer === 1
    ? kernelArgs('elementwise', { outer: 1, inner: b - a }, [
        ...inPtrs.map((p, i) => (spec.layouts[i] === 'full' || spec.layouts[i] === 'row' ? p + a * inSize(i) : p)),
        ...outPtrs.map((p, q) => p + a * outSize(q)),
      ])
    : kernelArgs('elementwise', { outer: b - a, inner }, [
        ...inPtrs.map((p, i) =>
          spec.layouts[i] === 'full' ? p + a * inner * inSize(i) : spec.layouts[i] === 'column' ? p + a * inSize(i) : p,
        ),
        ...outPtrs.map((p, q) => p + a * inner * outSize(q)),
      ]);
}

/** Chunks of an elementwise step shared with copies: enough that the last one's wait is short. */
const SHARED_CHUNKS = 24;

/**
 * An elementwise kernel over the broadcast shape, split across threads. Full-size operands from
 * JavaScript are copied in part by part, and a result that goes back to the caller is copied out
 * part by part: the helpers' parts first copied in and started, then the calling thread copies and
 * computes its own (smaller) part, so copies overlap the helpers' work.
 */
export function elementwise(
  ctx: KernelCalls,
  fn: number,
  spec: ElementwiseSpec,
  operands: readonly NDArray[],
  dying: readonly boolean[] = [],
  leaves = false,
): NDArray | undefined {
  let shape: number[];
  try {
    shape = broadcastConcrete(operands.map((o) => o.shape));
  } catch {
    return undefined; // the reference kernel reports the mismatch with its usual message
  }
  const size = sizeOf(shape);
  // Nothing to compute: empty results (no memory is read or written at an address of an empty block).
  if (size === 0)
    return elementwiseResults(
      ctx,
      spec,
      spec.outputTypes.map(() => 0),
      shape,
    );
  // The merged view first, else the last axis against the rest (where a kernel built for a row
  // meets a last axis of one element, say).
  const fits = (p: BroadcastPlan, i: number) => layoutFits(spec.layouts[i]!, p.layouts[i]!, p.outer, p.inner);
  const fitting = (xs: readonly NDArray[]): BroadcastPlan | undefined => {
    const merged = broadcastPlan(
      xs.map((o) => o.shape),
      shape,
    );
    if (merged && xs.every((_, i) => fits(merged, i))) return merged;
    const inner = shape.length ? shape[shape.length - 1]! : 1;
    const layouts = xs.map((o) => actualLayout(o.shape, shape));
    const lastAxis = {
      layouts: layouts as Layout[],
      outer: size / inner,
      inner,
      leading: [],
      strides: xs.map(() => []),
      outStrides: [],
    };
    return layouts.every((l) => l !== undefined) && xs.every((_, i) => fits(lastAxis, i)) ? lastAxis : undefined;
  };
  let plan = fitting(operands);
  if (!plan) {
    // Broadcast at call time otherwise than the kernel was built for (sizes unknown when it was
    // compiled): operands are expanded to what the kernel reads, the output's shape for a whole
    // array, its last axis for a row, one value per row for a column (a scalar cannot be).
    const target = (layout: Layout) =>
      layout === 'full'
        ? shape
        : layout === 'row'
          ? shape.slice(-1)
          : layout === 'column'
            ? [...shape.slice(0, -1), 1]
            : undefined;
    try {
      operands = operands.map((o, i) => {
        const to = target(spec.layouts[i]!);
        return to ? broadcastTo(o, to) : o;
      });
    } catch {
      return undefined;
    }
    dying = [];
    plan = fitting(operands);
    if (!plan) return undefined;
  }
  const { outer, inner } = plan;
  if (plan.leading.length) return elementwiseWalk(ctx, fn, spec, operands, plan, shape);
  const streamedIn: boolean[] = [];
  const inPtrs = operands.map((o, i) => {
    const streamed =
      !ctx.recording && spec.layouts[i] === 'full' && !ctx.arena.holds(o.data) && !ctx.copies.has(o.data);
    streamedIn.push(streamed);
    return streamed ? ctx.reserve(o) : ctx.place(o);
  });
  // In place: the first output may take the memory of a full-size operand that dies at this step
  // (each element is read before it is written, in the same iteration).
  const taken = operands.findIndex(
    (o, k) => dying[k] && spec.layouts[k] === 'full' && spec.inputTypes[k] === spec.outputTypes[0] && ctx.solelyHeld(o),
  );
  const outPtrs = spec.outputTypes.map((t, q) =>
    q === 0 && taken >= 0 ? inPtrs[taken]! : ctx.arena.alloc(size * bytesPerElement(t)),
  );
  const worth = size >= PARALLEL_ELEMENTS;
  const inSize = spec.inputTypes.map(bytesPerElement);
  const outSize = spec.outputTypes.map(bytesPerElement);
  // Parts are rows of `inner` elements, or pieces of one long row.
  const [count, align, unit] = outer === 1 ? [inner, 4, 1] : [outer, 1, inner];
  const copies = leaves || streamedIn.some(Boolean);
  const parts = ctx.parts(count, align, worth);
  const job = (part: readonly [number, number]): Job => [
    fn,
    elementwiseArgs(spec, outer, inner, inPtrs, outPtrs, part),
  ];
  const returned =
    leaves && !ctx.recording && spec.outputTypes.length === 1
      ? allocateForOverwrite(spec.outputTypes[0]!, size)
      : undefined;
  const copyIn = ([a, b]: readonly [number, number]) =>
    operands.forEach((o, i) => {
      if (streamedIn[i]) ctx.arena.write(inPtrs[i]! + a * unit * inSize[i]!, o.data.subarray(a * unit, b * unit));
    });
  const copyOut = ([a, b]: readonly [number, number]) =>
    returned?.set(
      ctx.arena.view(spec.outputTypes[0]!, outPtrs[0]! + a * unit * outSize[0]!, (b - a) * unit) as never,
      a * unit,
    );
  const run = (part: readonly [number, number]) => {
    const [index, args] = job(part);
    ctx.call(index, args);
  };
  if (!ctx.pool || parts.length === 1) {
    parts.forEach((part) => (copyIn(part), run(part), copyOut(part)));
  } else if (!copies) {
    ctx.dispatch(parts.map(job));
  } else {
    shareWithCopies(ctx, job, count, align, copyIn, run, copyOut);
  }
  if (returned) {
    if (taken < 0) ctx.arena.free(outPtrs[0]!);
    return new NDArray(returned, shape, spec.outputTypes[0]!);
  }
  return elementwiseResults(ctx, spec, outPtrs, shape);
}

/** An elementwise step's outputs where the kernel left them: one array, or a MultiOutput. */
export function elementwiseResults(
  ctx: KernelCalls,
  spec: ElementwiseSpec,
  outPtrs: readonly number[],
  shape: number[],
): NDArray {
  const size = sizeOf(shape);
  const results = outPtrs.map(
    (p, q) => new NDArray(ctx.arena.view(spec.outputTypes[q]!, p, size), shape, spec.outputTypes[q]!),
  );
  return results.length === 1 ? results[0]! : new MultiOutput(results[0]!, results);
}

/**
 * An elementwise step whose broadcasting needs more than two axes: the kernel runs over the last
 * two merged axes once per index of the axes before them, each operand's pointer moved by its
 * strides (0 where it is broadcast).
 */
export function elementwiseWalk(
  ctx: KernelCalls,
  fn: number,
  spec: ElementwiseSpec,
  operands: readonly NDArray[],
  plan: BroadcastPlan,
  shape: number[],
): NDArray {
  const size = sizeOf(shape);
  const { outer, inner } = plan;
  const inPtrs = operands.map((o) => ctx.place(o));
  const outPtrs = spec.outputTypes.map((t) => ctx.arena.alloc(size * bytesPerElement(t)));
  const inSize = spec.inputTypes.map(bytesPerElement);
  const outSize = spec.outputTypes.map(bytesPerElement);
  // Each call's [outer, inner] slab is split across threads like a whole step, when it is big enough.
  const parts =
    outer === 1
      ? ctx.parts(inner, 4, inner >= PARALLEL_ELEMENTS)
      : ctx.parts(outer, 1, outer * inner >= PARALLEL_ELEMENTS);
  const index = plan.leading.map(() => 0);
  const count = plan.leading.reduce((a, b) => a * b, 1);
  for (let call = 0; call < count; call++) {
    const offset = (strides: readonly number[]) => strides.reduce((sum, st, g) => sum + st * index[g]!, 0);
    const outOffset = offset(plan.outStrides);
    const ins = inPtrs.map((p, i) => p + offset(plan.strides[i]!) * inSize[i]!);
    const outs = outPtrs.map((p, q) => p + outOffset * outSize[q]!);
    ctx.dispatch(parts.map((part) => [fn, elementwiseArgs(spec, outer, inner, ins, outs, part)]));
    for (let g = index.length - 1; g >= 0 && ++index[g]! === plan.leading[g]; g--) index[g] = 0;
  }
  return elementwiseResults(ctx, spec, outPtrs, shape);
}

/**
 * A big elementwise step with copies to make: cut into chunks that the helpers and this thread take
 * as they become free. This thread first copies every chunk's operands in (the helpers start on
 * the first while it copies the next), then between chunks of its own copies out whatever is
 * finished, so the copies, which only it can make, never leave a helper idle or waiting for it.
 */
export function shareWithCopies(
  ctx: KernelCalls,
  job: (part: readonly [number, number]) => Job,
  total: number,
  align: number,
  copyIn: (part: readonly [number, number]) => void,
  run: (part: readonly [number, number]) => void,
  copyOut: (part: readonly [number, number]) => void,
): void {
  const chunkUnits = roundUp(Math.ceil(total / Math.min(MAX_CHUNKS, SHARED_CHUNKS)), align);
  const chunk = (k: number): [number, number] => [k * chunkUnits, Math.min(total, (k + 1) * chunkUnits)];
  const chunkCount = Math.ceil(total / chunkUnits);
  // Each argument is linear in the start of the part: base + a·step, the part's length aside.
  const [fn, base] = job([0, 0]);
  const step = job([1, 1])[1].map((v, i) => v - base[i]!);
  const length = job([0, 1])[1].findIndex((v, i) => v !== base[i]);
  const work = ctx.pool!.share(
    ctx.registerWithHelpers(),
    { fn, base, step, length },
    chunkUnits,
    total,
    ctx.threads - 1,
  );
  let released = 0;
  try {
    for (; released < chunkCount; released++) {
      copyIn(chunk(released));
      work.release(released + 1);
    }
    const mine = new Set<number>();
    let copied = 0;
    for (let k = work.take(); k !== undefined; k = work.take()) {
      for (; copied < chunkCount && (mine.has(copied) || work.doneByHelper(copied)); copied++) copyOut(chunk(copied));
      run(chunk(k));
      mine.add(k);
    }
    for (; copied < chunkCount; copied++) {
      if (!mine.has(copied)) work.waitForHelper(copied);
      copyOut(chunk(copied));
    }
  } finally {
    // Helpers waiting for chunks that were never released (an error here) must still get to the end.
    if (released < chunkCount) work.release(chunkCount);
    work.finish();
  }
}
