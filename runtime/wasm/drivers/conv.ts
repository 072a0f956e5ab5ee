/** Convolutions, their gradients and pooling, channels last (channels-first steps transposed around them). */
import type { FusedArgs } from '../../program.js';
import type { Step } from '../../program.js';
import { convDirectScratchBytes, kernelArgs, type KernelSpec, tileCols, TILE_ROWS } from '../../kernel-abi.js';
import { bytesPerElement } from '../../dtype.js';
import { NDArray } from '../../ndarray.js';
import type { ConvParams, PoolParams } from '../../reference/nn.js';
import { windowGeometry } from '../../geometry.js';
import { type KernelCalls, PARALLEL_ELEMENTS, PARALLEL_FLOPS, roundUp } from '../kernel-calls.js';
import { compactColumns, epilogueFits, gemm } from './linalg.js';

const NCHW_TO_NHWC = [0, 2, 3, 1];
/** Which operands of a convolution or pooling step are activations (transposed for channels first), only lend a shape, or are kernels. */
export const ACTIVATIONS = {
  conv2d: ['data', 'kernel'],
  conv2dGradInput: ['data', 'kernel', 'shape'],
  conv2dGradFilter: ['data', 'data', 'kernel'],
  maxPool2d: ['data'],
  maxPool2dGrad: ['data', 'data'],
  avgPool2d: ['data'],
  avgPool2dGrad: ['data', 'shape'],
} as const;

/** An array standing for another shape only (its values are never read). */
const shapeOnly = (x: NDArray, perm: readonly number[]) =>
  new NDArray(
    x.data,
    perm.map((p) => x.shape[p]!),
    x.dtype,
  );

/**
 * A channels-first (NCHW) convolution or pooling step on the channels-last kernels: activations are
 * transposed to NHWC on the way in and the result back on the way out (kernels are HWIO either way).
 */
export function channelsFirst(
  ctx: KernelCalls,
  step: Step,
  spec: KernelSpec,
  operands: readonly NDArray[],
): NDArray | undefined {
  const roles: readonly string[] = ACTIVATIONS[spec.kind as keyof typeof ACTIVATIONS];
  if (operands.some((o, k) => roles[k] !== 'kernel' && o.ndim !== 4)) return undefined;
  const last = { ...step, args: { ...(step.args as ConvParams), dataFormat: 'channelsLast' } } as Step;
  const converted = operands.map((o, k) =>
    roles[k] === 'data' ? transposed(ctx, step, o, true) : roles[k] === 'shape' ? shapeOnly(o, NCHW_TO_NHWC) : o,
  );
  const result = ctx.run(last, converted);
  converted.forEach((o, k) => roles[k] === 'data' && ctx.arena.free(o.data.byteOffset));
  if (!result || spec.kind === 'conv2dGradFilter') return result;
  const back = transposed(ctx, step, result, false);
  ctx.arena.free(result.data.byteOffset);
  return back;
}

/**
 * NCHW to NHWC or back (`toChannelsLast`), in a new arena block: per image a [C, H·W] matrix
 * transposed or the other way, by the step's transpose kernel, images split across threads.
 */
export function transposed(ctx: KernelCalls, step: Step, x: NDArray, toChannelsLast: boolean): NDArray {
  const [n, ...rest] = x.shape as [number, number, number, number];
  const [rows, cols] = toChannelsLast ? [rest[0], rest[1] * rest[2]] : [rest[0] * rest[1], rest[2]];
  const shape = toChannelsLast ? [n, rest[1], rest[2], rest[0]] : [n, rest[2], rest[0], rest[1]];
  return transposedMatrices(ctx, step, x, n, rows, cols, shape);
}

/** Each of `batch` [rows, cols] matrices of `x` transposed by the step's transpose kernel, in a new block shaped `shape`, batches split across threads. */
export function transposedMatrices(
  ctx: KernelCalls,
  step: Step,
  x: NDArray,
  batch: number,
  rows: number,
  cols: number,
  shape: readonly number[],
): NDArray {
  const E = bytesPerElement(x.dtype);
  const out = ctx.arena.alloc(x.size * E);
  const src = ctx.place(x);
  const matrix = rows * cols * E;
  ctx.dispatch(
    ctx
      .parts(batch, 1, x.size >= PARALLEL_ELEMENTS)
      .map(([a, b]) => [
        ctx.fnIndex.get(`k${step.kernel}_transpose`)!,
        kernelArgs('transpose', { src: src + a * matrix, dst: out + a * matrix, batch: b - a, rows, cols }),
      ]),
  );
  return new NDArray(ctx.arena.view(x.dtype, out, x.size), [...shape], x.dtype);
}

/** Output geometry of a channels-last convolution of `x` by a kernel of shape `w`. */
export function convGeometry(ctx: KernelCalls, a: ConvParams, x: readonly number[], w: readonly number[]) {
  const [n, h, wd, c] = x as [number, number, number, number];
  const [kh, kw, , cout] = w as [number, number, number, number];
  const gh = windowGeometry(h, kh, a.strides[0], a.dilation[0], a.padding);
  const gw = windowGeometry(wd, kw, a.strides[1], a.dilation[1], a.padding);
  return { n, h, wd, c, kh, kw, cout, gh, gw, rows: n * gh.out * gw.out, depth: kh * kw * c };
}

/** The window geometry both convolution kernels take (im2col's and convDirect's parameters of those names). */
function windowArgs(a: ConvParams, g: ReturnType<typeof convGeometry>) {
  return {
    h: g.h,
    w: g.wd,
    oh: g.gh.out,
    ow: g.gw.out,
    kh: g.kh,
    kw: g.kw,
    sh: a.strides[0],
    sw: a.strides[1],
    dh: a.dilation[0],
    dw: a.dilation[1],
    ph: g.gh.padBefore,
    pw: g.gw.padBefore,
  };
}

/** Runs a convolution's companion walk (`im2col` gathers x into cols, `col2im` scatters cols back into x). */
export function walk(
  ctx: KernelCalls,
  step: Step,
  direction: 'im2col' | 'col2im',
  a: ConvParams,
  g: NonNullable<ReturnType<typeof convGeometry>>,
  x: number,
  cols: number,
): boolean {
  const index = ctx.fnIndex.get(`k${step.kernel}_${direction}`);
  if (index === undefined || !ctx.fns[index]) return false;
  // Images are independent (in both directions): whole images per thread.
  const E = bytesPerElement(ctx.floatType(step.kernel!));
  const [image, patches] = [g.h * g.wd * g.c * E, g.gh.out * g.gw.out * g.depth * E];
  ctx.dispatch(
    ctx.parts(g.n, 1, g.rows * g.depth >= PARALLEL_ELEMENTS).map(([b0, b1]) => [
      index,
      kernelArgs('im2col', {
        x: x + b0 * image,
        cols: cols + b0 * patches,
        n: b1 - b0,
        c: g.c,
        ...windowArgs(a, g),
      }),
    ]),
  );
  return true;
}

/**
 * conv2d (channels last) as one matmul: each output pixel's receptive field, gathered into a row
 * (im2col), times the kernel viewed as [kh*kw*in, out]; the product is already NHWC.
 */
export function conv2d(
  ctx: KernelCalls,
  step: Step,
  spec: Extract<KernelSpec, { kind: 'conv2d' }>,
  [x, w, ...rest]: readonly NDArray[],
): NDArray | undefined {
  const a = (step.op === 'fused' ? (step.args as FusedArgs).product!.args : step.args) as ConvParams;
  if (x!.ndim !== 4 || w!.ndim !== 4) return undefined;
  const g = convGeometry(ctx, a, x!.shape, w!.shape);
  if (w!.shape[2] !== g.c) return undefined;
  const shape = [g.n, g.gh.out, g.gw.out, g.cout];
  const layouts = spec.epilogue?.layouts ?? [];
  if (!epilogueFits(ctx, rest, layouts, shape, g.rows, g.cout)) return undefined;
  const epilogue = rest.map((o, t) => ({ ptr: ctx.place(o), perRow: layouts[t] === 'column' }));
  const direct = ctx.fnIndex.get(`k${step.kernel}_direct`);
  const run = (pooled: boolean) =>
    convDirect(ctx, direct!, ctx.floatType(step.kernel!), a, g, ctx.place(x!), ctx.place(w!), epilogue, pooled);
  const available = direct !== undefined && !!ctx.fns[direct];
  // Only the direct kernel pools (its tiles are the 2x2 windows); a window needs two rows and columns.
  if (spec.pool) return available && g.gh.out >= 2 && g.gw.out >= 2 ? run(true) : undefined;
  if (available && convPath() === 'direct') return run(false);
  const cols = ctx.arena.alloc(g.rows * g.depth * bytesPerElement(x!.dtype));
  if (!walk(ctx, step, 'im2col', a, g, ctx.place(x!), cols)) return (ctx.arena.free(cols), undefined);
  const out = gemm(ctx, step.kernel!, cols, ctx.place(w!), g.rows, g.depth, g.cout, shape, undefined, epilogue);
  ctx.arena.free(cols);
  return out;
}

/**
 * The convolution's path: direct (an implicit matmul over the image) unless TSANO_CONV=im2col asks
 * for the im2col product, which the direct path must match bit for bit (tests compare them).
 */
function convPath(): 'direct' | 'im2col' {
  return process.env['TSANO_CONV'] === 'im2col' ? 'im2col' : 'direct';
}

/** The direct (implicit matmul) convolution: bands of output pixels across threads, each packing its own copy of the kernel. */
function convDirect(
  ctx: KernelCalls,
  index: number,
  dtype: 'float32' | 'float64',
  a: ConvParams,
  g: ReturnType<typeof convGeometry>,
  xPtr: number,
  wPtr: number,
  epilogue: readonly { ptr: number; perRow: boolean }[],
  pooled: boolean,
): NDArray {
  const E = bytesPerElement(dtype);
  const cols = roundUp(g.cout, tileCols(dtype));
  // Pooled, the product's rows are the four pixels of each 2x2 window, one stored row per window.
  const [ph, pw] = [g.gh.out >> 1, g.gw.out >> 1];
  const rows = pooled ? g.n * ph * pw * 4 : g.rows;
  const stored = pooled ? rows / 4 : rows;
  const shape = pooled ? [g.n, ph, pw, g.cout] : [g.n, g.gh.out, g.gw.out, g.cout];
  const cPtr = ctx.arena.alloc(roundUp(stored, TILE_ROWS) * cols * E);
  // Few channels make a pixel's gather, not its products, the work: count it too when deciding on threads.
  const work = 2 * rows * g.depth * g.cout >= PARALLEL_FLOPS || rows * g.depth >= PARALLEL_ELEMENTS;
  const bands = ctx.parts(rows, TILE_ROWS, work && rows >= 2 * TILE_ROWS);
  const scratch = bands.map(() => ctx.arena.alloc(convDirectScratchBytes(g.depth, g.cout, g.c, g.kh * g.kw, dtype)));
  ctx.dispatch(
    bands.map(([r0, r1], t) => [
      index,
      kernelArgs(
        'convDirect',
        {
          x: xPtr,
          b: wPtr,
          c: cPtr + (pooled ? r0 / 4 : r0) * cols * E,
          row0: r0,
          row1: r1,
          cin: g.c,
          ...windowArgs(a, g),
          cout: g.cout,
          scratch: scratch[t]!,
        },
        epilogue.map((o) => (o.perRow ? o.ptr + r0 * E : o.ptr)),
      ),
    ]),
  );
  scratch.forEach((p) => ctx.arena.free(p));
  return compactColumns(ctx, cPtr, stored, g.cout, cols, shape, dtype);
}

/** The kernel's gradient: im2col(x)ᵀ · g (the gathered rows read transposed), a [kh*kw*in, out] product in the kernel's own layout. */
export function conv2dGradFilter(ctx: KernelCalls, step: Step, [x, gy, wRef]: readonly NDArray[]): NDArray | undefined {
  const a = step.args as ConvParams;
  const g = convGeometry(ctx, a, x!.shape, wRef!.shape);
  const cols = ctx.arena.alloc(g.rows * g.depth * bytesPerElement(x!.dtype));
  if (!walk(ctx, step, 'im2col', a, g, ctx.place(x!), cols)) return (ctx.arena.free(cols), undefined);
  const out = gemm(ctx, step.kernel!, cols, ctx.place(gy!), g.depth, g.rows, g.cout, [...wRef!.shape], {
    aRow: 1,
    aDepth: g.depth,
    bDepth: g.cout,
    bCol: 1,
  });
  ctx.arena.free(cols);
  return out;
}

/** The input's gradient: g · Wᵀ (W read transposed) gives each output pixel's share of its receptive field, added back by col2im. */
export function conv2dGradInput(ctx: KernelCalls, step: Step, [gy, w, xRef]: readonly NDArray[]): NDArray | undefined {
  const a = step.args as ConvParams;
  const g = convGeometry(ctx, a, xRef!.shape, w!.shape);
  const dcols = gemm(ctx, step.kernel!, ctx.place(gy!), ctx.place(w!), g.rows, g.cout, g.depth, [g.rows, g.depth], {
    aRow: g.cout,
    aDepth: 1,
    bDepth: 1,
    bCol: g.cout,
  });
  const dx = ctx.arena.alloc(xRef!.size * bytesPerElement(gy!.dtype));
  const dcolsPtr = dcols.data.byteOffset;
  const ok = walk(ctx, step, 'col2im', a, g, dx, dcolsPtr);
  ctx.arena.free(dcolsPtr);
  if (!ok) return (ctx.arena.free(dx), undefined);
  return new NDArray(ctx.arena.view(gy!.dtype, dx, xRef!.size), [...xRef!.shape], gy!.dtype);
}

/** Max or average pooling, whole images per thread. */
export function pooling(ctx: KernelCalls, step: Step, x: NDArray): NDArray | undefined {
  const g = poolGeometry(ctx, step, x);
  if (!g) return undefined;
  const out = ctx.arena.alloc(g.pooledSize * g.E);
  const input = ctx.place(x);
  ctx.dispatch(
    ctx
      .parts(g.n, 1, x.size >= PARALLEL_ELEMENTS)
      .map(([b0, b1]) => [
        step.kernel!,
        kernelArgs('pool', { x: input + b0 * g.image, out: out + b0 * g.pooled, n: b1 - b0, ...g.window }),
      ]),
  );
  return new NDArray(ctx.arena.view(x.dtype, out, g.pooledSize), g.pooledShape, x.dtype);
}

/**
 * A pooling gradient (`x` the pooled input, or only its shape for average pooling; `g` the pooled
 * gradient): max sends each window's gradient to the first position of its maximum, average
 * spreads it evenly; whole images per thread.
 */
export function poolGrad(
  ctx: KernelCalls,
  step: Step,
  shapeOf: NDArray,
  g: NDArray,
  x: NDArray | undefined,
): NDArray | undefined {
  const geo = poolGeometry(ctx, step, shapeOf);
  if (!geo || g.ndim !== 4 || g.shape.some((d, i) => d !== geo.pooledShape[i])) return undefined;
  const [xPtr, gPtr] = [x ? ctx.place(x) : 0, ctx.place(g)];
  const dx = ctx.arena.alloc(shapeOf.size * geo.E);
  ctx.dispatch(
    ctx.parts(geo.n, 1, shapeOf.size >= PARALLEL_ELEMENTS).map(([b0, b1]) => [
      step.kernel!,
      kernelArgs('poolGrad', {
        x: x ? xPtr + b0 * geo.image : 0,
        g: gPtr + b0 * geo.pooled,
        dx: dx + b0 * geo.image,
        n: b1 - b0,
        ...geo.window,
      }),
    ]),
  );
  return new NDArray(ctx.arena.view(g.dtype, dx, shapeOf.size), [...shapeOf.shape], g.dtype);
}

/** Window geometry of a channels-last pooling step over `x`, or undefined where the kernels do not apply. */
export function poolGeometry(ctx: KernelCalls, step: Step, x: NDArray) {
  const a = step.args as PoolParams;
  if (x.ndim !== 4) return undefined;
  const [n, h, w, c] = x.shape as [number, number, number, number];
  const E = bytesPerElement(x.dtype);
  // A vector of channels at a time: four float32 or two float64 lanes.
  if (c % (16 / E) !== 0 || x.size === 0) return undefined;
  const gh = windowGeometry(h, a.poolSize[0], a.strides[0], 1, a.padding);
  const gw = windowGeometry(w, a.poolSize[1], a.strides[1], 1, a.padding);
  const pooledShape = [n, gh.out, gw.out, c];
  return {
    n,
    E,
    image: h * w * c * E,
    pooled: gh.out * gw.out * c * E,
    pooledShape,
    pooledSize: n * gh.out * gw.out * c,
    window: {
      h,
      w,
      c,
      oh: gh.out,
      ow: gw.out,
      kh: a.poolSize[0],
      kw: a.poolSize[1],
      sh: a.strides[0],
      sw: a.strides[1],
      ph: gh.padBefore,
      pw: gw.padBefore,
    },
  };
}
