/** Matmul and dot (with epilogues, batched, transposed operands): row bands or depth chunks across threads. */
import type { FusedArgs, MatmulArgs } from '../../program.js';
import type { Step } from '../../program.js';
import {
  actualLayout,
  kernelArgs,
  type KernelSpec,
  type Layout,
  layoutFits,
  matmulScratchBytes,
  tileCols,
  TILE_ROWS,
} from '../../kernel-abi.js';
import { bytesPerElement } from '../../dtype.js';
import { NDArray, sizeOf } from '../../ndarray.js';
import { broadcastConcrete, broadcastStrides, forEachIndex } from '../../reference/layout.js';
import { type KernelCalls, PARALLEL_FLOPS, roundUp } from '../kernel-calls.js';

/** Element strides of the matmul kernel's operands: A[i, l] at i·aRow + l·aDepth, B[l, j] at l·bDepth + j·bCol. */
export interface GemmStrides {
  readonly aRow: number;
  readonly aDepth: number;
  readonly bDepth: number;
  readonly bCol: number;
}

/** Products with at most this many rows and at least two depth chunks are split along the depth. */
const SKINNY_ROWS = 64;
const DEPTH_CHUNK = 16384;

export function matmul(
  ctx: KernelCalls,
  step: Step,
  spec: Extract<KernelSpec, { kind: 'matmul' }>,
  [a, b, ...rest]: readonly NDArray[],
): NDArray | undefined {
  const fused = step.op === 'fused';
  if (!fused && (a!.ndim > 2 || b!.ndim > 2)) return batchedMatmul(ctx, step, a!, b!);
  if (fused && (a!.ndim !== 2 || b!.ndim !== 2)) return undefined;
  // Transposed operands (matmul's flags; dot has none) are read in place through strides.
  const f =
    step.op === 'matmul'
      ? (step.args as MatmulArgs)
      : fused
        ? ((step.args as FusedArgs).product!.args as MatmulArgs)
        : {};
  const vector = b!.ndim === 1;
  const transA = !!f.transposeA;
  const transB = !!f.transposeB && !vector;
  const [n, k] = (transA ? [a!.shape[1], a!.shape[0]] : a!.shape) as [number, number];
  const [kb, m] = (vector ? [b!.shape[0], 1] : transB ? [b!.shape[1], b!.shape[0]] : b!.shape) as [number, number];
  if (kb !== k) return undefined;
  const strides: GemmStrides = {
    aRow: transA ? 1 : k,
    aDepth: transA ? n : 1,
    bDepth: transB ? 1 : m,
    bCol: transB ? k : 1,
  };
  // The epilogue's operands must have the layouts the kernel was built for.
  const layouts = spec.epilogue?.layouts ?? [];
  if (!epilogueFits(ctx, rest, layouts, [n, m], n, m)) return undefined;
  const epilogue = rest.map((o, t) => ({ ptr: ctx.place(o), perRow: layouts[t] === 'column' }));
  return gemm(ctx, step.kernel!, ctx.place(a!), ctx.place(b!), n, k, m, vector ? [n] : [n, m], strides, epilogue);
}

/** A copy of `x`'s values in this call's memory, with `shape` (of the same size). */
export function copyInto(ctx: KernelCalls, x: NDArray, shape: readonly number[]): NDArray {
  const from = ctx.place(x);
  const ptr = ctx.arena.alloc(x.data.byteLength);
  ctx.copy(ptr, from, x.data.byteLength);
  return new NDArray(ctx.arena.view(x.dtype, ptr, x.size), [...shape], x.dtype);
}

/** Whether the epilogue's operands can be read as the kernel was built to, against a product of `rows` x `cols` (shaped `shape`). */
export function epilogueFits(
  ctx: KernelCalls,
  operands: readonly NDArray[],
  layouts: readonly Layout[],
  shape: readonly number[],
  rows: number,
  cols: number,
): boolean {
  return operands.every((o, t) => {
    const actual = actualLayout(o.shape, shape);
    return actual !== undefined && layoutFits(layouts[t]!, actual, rows, cols);
  });
}

/** matmul over batches of matrices (leading axes broadcast): one product per batch, each split across threads. */
export function batchedMatmul(ctx: KernelCalls, step: Step, a: NDArray, b: NDArray): NDArray | undefined {
  if (a.ndim < 2 || b.ndim < 2) return undefined;
  const f = step.args as MatmulArgs;
  const matrix = (x: NDArray, transposed: boolean) => {
    const [r, c] = x.shape.slice(-2) as [number, number];
    return transposed
      ? { rows: c, cols: r, stride: { row: 1, col: c } }
      : { rows: r, cols: c, stride: { row: c, col: 1 } };
  };
  const A = matrix(a, !!f.transposeA);
  const B = matrix(b, !!f.transposeB);
  if (A.cols !== B.rows) return undefined;
  let batch: number[];
  try {
    batch = broadcastConcrete([a.shape.slice(0, -2), b.shape.slice(0, -2)]);
  } catch {
    return undefined;
  }
  const [n, k, m] = [A.rows, A.cols, B.cols];
  const E = bytesPerElement(a.dtype);
  const aBatch = broadcastStrides(a.shape.slice(0, -2), batch).map((s) => s * n * k * E);
  const bBatch = broadcastStrides(b.shape.slice(0, -2), batch).map((s) => s * k * m * E);
  const [aPtr, bPtr] = [ctx.place(a), ctx.place(b)];
  const count = sizeOf(batch);
  const out = ctx.arena.alloc(count * n * m * E);
  const strides: GemmStrides = { aRow: A.stride.row, aDepth: A.stride.col, bDepth: B.stride.row, bCol: B.stride.col };
  forEachIndex(batch, [aBatch, bBatch], (i, [ao, bo]) => {
    const c = gemm(ctx, step.kernel!, aPtr + ao!, bPtr + bo!, n, k, m, [n, m], strides);
    ctx.copy(out + i * n * m * E, c.data.byteOffset, c.data.byteLength);
    ctx.arena.free(c.data.byteOffset);
  });
  return new NDArray(ctx.arena.view(a.dtype, out, count * n * m), [...batch, n, m], a.dtype);
}

/** C = A · B on the matmul kernel (row bands across threads), returned as an array of `shape`. */
export function gemm(
  ctx: KernelCalls,
  kernel: number,
  aPtr: number,
  bPtr: number,
  n: number,
  k: number,
  m: number,
  shape: number[],
  s: GemmStrides = { aRow: k, aDepth: 1, bDepth: m, bCol: 1 },
  epilogue: readonly { ptr: number; perRow: boolean }[] = [],
): NDArray {
  const dtype = ctx.floatType(kernel);
  const E = bytesPerElement(dtype);
  const rows = roundUp(n, TILE_ROWS);
  const cols = roundUp(m, tileCols(dtype));
  const cPtr = ctx.arena.alloc(rows * cols * E);
  if (n <= SKINNY_ROWS && k >= 2 * DEPTH_CHUNK && epilogue.length === 0)
    gemmByDepth(ctx, kernel, aPtr, bPtr, cPtr, n, k, m, s, dtype);
  else gemmByRows(ctx, kernel, aPtr, bPtr, cPtr, n, k, m, s, dtype, epilogue);
  return compactColumns(ctx, cPtr, n, m, cols, shape, dtype);
}

/** The n x m product in a C whose rows are `cols` wide (padded to whole tiles), as an array of `shape`. */
export function compactColumns(
  ctx: KernelCalls,
  cPtr: number,
  n: number,
  m: number,
  cols: number,
  shape: number[],
  dtype: 'float32' | 'float64',
): NDArray {
  const E = bytesPerElement(dtype);
  if (cols === m) return new NDArray(ctx.arena.view(dtype, cPtr, n * m), shape, dtype);
  // Compact the padded rows in place (row i moves left, never over a row not yet moved).
  for (let i = 1; i < n; i++) ctx.copy(cPtr + i * m * E, cPtr + i * cols * E, m * E);
  return new NDArray(ctx.arena.view(dtype, cPtr, n * m), shape, dtype);
}

/** Each thread takes a band of rows (a multiple of the tile) and packs its own copy of B. */
export function gemmByRows(
  ctx: KernelCalls,
  kernel: number,
  aPtr: number,
  bPtr: number,
  cPtr: number,
  n: number,
  k: number,
  m: number,
  s: GemmStrides,
  dtype: 'float32' | 'float64',
  epilogue: readonly { ptr: number; perRow: boolean }[],
): void {
  const E = bytesPerElement(dtype);
  const cols = roundUp(m, tileCols(dtype));
  const bands = ctx.parts(n, TILE_ROWS, 2 * n * k * m >= PARALLEL_FLOPS && n >= 2 * TILE_ROWS);
  const scratch = bands.map(([r0, r1]) => ctx.arena.alloc(matmulScratchBytes(r1 - r0, k, m, dtype)));
  ctx.dispatch(
    bands.map(([r0, r1], t) => [
      kernel,
      kernelArgs(
        'matmul',
        {
          a: aPtr + r0 * s.aRow * E,
          b: bPtr,
          c: cPtr + r0 * cols * E,
          n: r1 - r0,
          k,
          cols: m,
          scratch: scratch[t]!,
          ...s,
        },
        epilogue.map((x) => (x.perRow ? x.ptr + r0 * E : x.ptr)),
      ),
    ]),
  );
  scratch.forEach((p) => ctx.arena.free(p));
}

/**
 * A product with few rows and a long depth (a weight gradient: im2colᵀ · dy): row bands would leave
 * threads idle and each would pack all of B. The depth is cut into fixed chunks instead, each
 * chunk's partial product computed by whichever thread, then added in chunk order, so the result
 * does not depend on the number of threads.
 */
export function gemmByDepth(
  ctx: KernelCalls,
  kernel: number,
  aPtr: number,
  bPtr: number,
  cPtr: number,
  n: number,
  k: number,
  m: number,
  s: GemmStrides,
  dtype: 'float32' | 'float64',
): void {
  const E = bytesPerElement(dtype);
  const size = roundUp(n, TILE_ROWS) * roundUp(m, tileCols(dtype));
  const chunks = Array.from(
    { length: Math.ceil(k / DEPTH_CHUNK) },
    (_, c) => [c * DEPTH_CHUNK, Math.min(k, (c + 1) * DEPTH_CHUNK)] as const,
  );
  const partials = chunks.map((_, c) => (c === 0 ? cPtr : ctx.arena.alloc(size * E)));
  for (let first = 0; first < chunks.length; first += ctx.threads) {
    const round = chunks.slice(first, first + ctx.threads);
    const scratch = round.map(([l0, l1]) => ctx.arena.alloc(matmulScratchBytes(n, l1 - l0, m, dtype)));
    ctx.dispatch(
      round.map(([l0, l1], t) => [
        kernel,
        kernelArgs('matmul', {
          a: aPtr + l0 * s.aDepth * E,
          b: bPtr + l0 * s.bDepth * E,
          c: partials[first + t]!,
          n,
          k: l1 - l0,
          cols: m,
          scratch: scratch[t]!,
          ...s,
        }),
      ]),
    );
    scratch.forEach((p) => ctx.arena.free(p));
  }
  for (const p of partials.slice(1)) {
    ctx.addInto(dtype, cPtr, p, size);
    ctx.arena.free(p);
  }
}
