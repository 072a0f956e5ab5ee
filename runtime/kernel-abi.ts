/**
 * The kernel IR and the calling convention between generated modules and the runtime: what a
 * compiled function's driver needs at run time. It imports no graph, optimizer or code generator,
 * so an exported function can carry it alone.
 */
import type { FusedInstr } from './program.js';
import { bytesPerElement } from './dtype.js';

/**
 * How an elementwise operand is laid out against the output, viewed as [outer, inner] (inner = last
 * axis): the whole array, one row repeated (a bias), one value per row (a column), or one value.
 */
export type Layout = 'full' | 'row' | 'column' | 'scalar';

export interface ElementwiseSpec {
  readonly kind: 'elementwise';
  /** Four float32 lanes or two float64 lanes (a kernel computes in one float type), or four int32 lanes for int32 and bool work. */
  readonly lanes: 'f32x4' | 'f64x2' | 'i32x4';
  readonly instrs: readonly FusedInstr[];
  readonly outputs: readonly number[];
  readonly layouts: readonly Layout[];
  /** Element types of the operands and outputs: the lanes' float type, or bool (one byte, read as a comparison mask). */
  readonly inputTypes: readonly ElementType[];
  readonly outputTypes: readonly ElementType[];
}

/**
 * Elementwise work inside the matmul kernel: region input 0 is the product, inputs 1… are read with
 * these layouts against it (a bias row, a value per row, a scalar), all in the product's float type.
 */
export interface MatmulEpilogue {
  readonly instrs: readonly FusedInstr[];
  readonly output: number;
  readonly layouts: readonly Layout[];
}

/** Reductions with a wasm kernel (float32 or float64, the same type in and out). */
export type ReduceOp = 'sum' | 'mean' | 'prod' | 'max' | 'min' | 'logsumexp';

/** Kernel IR: what the code generator sees. It names no graph node. */
export type KernelSpec =
  | ElementwiseSpec
  /** A reduction over the axes in the step's arguments; `map` first computes a fused elementwise producer. */
  | { readonly kind: 'reduce'; readonly op: ReduceOp; readonly map?: ElementwiseSpec; readonly dtype?: 'float64' }
  /** argmax / argmin over one run of neighbouring axes (int32 indices out). */
  | { readonly kind: 'argReduce'; readonly op: 'argmax' | 'argmin'; readonly dtype?: 'float64' }
  /** Dense factorizations and solves of one matrix per call, in float64 inside. */
  | { readonly kind: 'cholesky' | 'luSolve' | 'triangularSolve' | 'householderQr'; readonly dtype?: 'float64' }
  /** The indices of the k largest elements of each row (NaN largest, ties by position), as int32. */
  | { readonly kind: 'topk'; readonly dtype?: 'float64' }
  /** Elements taken along an axis at indices the program's argsort or topk made. */
  | { readonly kind: 'takeAlong' }
  /** The positions that sort each line, stably, as int32. */
  | { readonly kind: 'argsort'; readonly dtype?: 'float64' }
  /** Running sums or products along the middle axis of [outer, length, inner]. */
  | { readonly kind: 'cumulative'; readonly op: 'sum' | 'prod'; readonly dtype?: 'float64' }
  /** softmax or logSoftmax along the last axis. */
  | { readonly kind: 'softmax'; readonly log: boolean; readonly dtype?: 'float64' }
  /** C = A·B; an epilogue computes elementwise instructions on the accumulators before they are stored. */
  | { readonly kind: 'matmul'; readonly epilogue?: MatmulEpilogue; readonly dtype?: 'float64' }
  /** conv2d (with an optional epilogue) and its two gradients as im2col / col2im around the matmul kernel. */
  | {
      readonly kind: 'conv2d';
      readonly epilogue?: MatmulEpilogue;
      readonly dtype?: 'float64';
      /** The direct kernel max-pools 2x2 windows (stride 2) of the result before storing it. */
      readonly pool?: true;
    }
  | { readonly kind: 'conv2dGradInput' | 'conv2dGradFilter'; readonly dtype?: 'float64' }
  /** A strided copy of any dtype, behind transpose, slice, its gradient and pad. */
  | { readonly kind: 'stridedCopy' }
  /** Rows picked by int32 indices (any dtype). */
  | { readonly kind: 'gather' }
  /** gather's gradient: rows scatter-added in float64, rounded once. */
  | { readonly kind: 'gatherGrad'; readonly dtype?: 'float64' }
  /** One-hot rows from int32 indices, in `dtype`. */
  | { readonly kind: 'oneHot'; readonly dtype: 'float32' | 'float64' | 'int32' | 'bool' }
  /** Floats to int32 as JavaScript's ToInt32 (truncated, modulo 2^32, NaN and infinities 0). */
  | { readonly kind: 'toInt32'; readonly dtype?: 'float64' }
  /** Uniform numbers in [0, 1) from a seeded stream whose state the module keeps. */
  | { readonly kind: 'randomUniform'; readonly dtype?: 'float64' }
  /** Max and average pooling and their gradients, channels last, four channels at a time. */
  | { readonly kind: 'maxPool2d' | 'maxPool2dGrad' | 'avgPool2d' | 'avgPool2dGrad'; readonly dtype?: 'float64' };

/** Element types of elementwise kernels' operands and outputs; int32 in float kernels only as an operand (read into the float lanes). */
export type ElementType = 'float32' | 'float64' | 'bool' | 'int32';

const POOL_WINDOW = ['n', 'h', 'w', 'c', 'oh', 'ow', 'kh', 'kw', 'sh', 'sw', 'ph', 'pw'] as const;

/**
 * Every kernel function's parameters (all i32: sizes and byte addresses), by name, in the order the
 * module declares them: the one place they are written. The code generator reads them by name
 * (`FunctionEmitter.named`), the driver passes them by name (`kernelArgs`); neither writes a position
 * or a count. Some functions take a tail of operand addresses after these (see `tail` below).
 */
export const KERNEL_PARAMS = {
  /** Rows `outer` of `inner` elements; then one address per operand and per output. */
  elementwise: ['outer', 'inner'],
  /** C = A·B for `n` rows of A, depth `k`, `cols` columns, with row and depth strides in elements; then one address per epilogue operand. */
  matmul: ['a', 'b', 'c', 'n', 'k', 'cols', 'scratch', 'aRow', 'aDepth', 'bDepth', 'bCol'],
  /**
   * A channels-last convolution as an implicit matmul: output rows (pixels) `row0`…`row1` of images
   * at `x`, into C at `c` (rows padded as matmul's), with the kernel `b` as [kh·kw·cin, cout]; then
   * one address per epilogue operand.
   */
  convDirect: [
    'x',
    'b',
    'c',
    'row0',
    'row1',
    'h',
    'w',
    'cin',
    'oh',
    'ow',
    'kh',
    'kw',
    'sh',
    'sw',
    'dh',
    'dw',
    'ph',
    'pw',
    'cout',
    'scratch',
  ],
  /** Patches of `n` channels-last images to rows of `cols` (col2im: back, summed), with strides, dilations and padding. */
  im2col: ['x', 'cols', 'n', 'h', 'w', 'c', 'oh', 'ow', 'kh', 'kw', 'sh', 'sw', 'dh', 'dw', 'ph', 'pw'],
  /** `batch` [rows, cols] matrices transposed. */
  transpose: ['src', 'dst', 'batch', 'rows', 'cols'],
  /** [outer, reduced, inner] reduced over the middle axis, with a scratch row. */
  reduce: ['outer', 'reduced', 'inner', 'x', 'out', 'scratch'],
  /** Rows of `reduced` elements. */
  softmax: ['outer', 'reduced', 'x', 'out'],
  /** One n×n matrix's lower Cholesky factor, through a float64 scratch of n² elements. */
  cholesky: ['n', 'a', 'out', 'scratch'],
  /** One n×n system with k right-hand sides by LU with partial pivoting, through a float64 scratch of n² + n·k elements. */
  luSolve: ['n', 'k', 'a', 'b', 'out', 'scratch'],
  /** One m×n matrix's QR factor (`part` 0: R, 1: Q; `complete` 0 or 1), through a float64 scratch of m·n + min(m, n) + m elements. */
  householderQr: ['m', 'n', 'a', 'out', 'scratch', 'part', 'complete'],
  /** One triangular n×n system with k right-hand sides (flags 0 or 1), through a float64 scratch of n² + n·k elements. */
  triangularSolve: ['n', 'k', 't', 'b', 'out', 'scratch', 'lower', 'transpose', 'unit'],
  /** Running totals along the middle axis of [outer, length, inner]. */
  cumulative: ['outer', 'length', 'inner', 'x', 'out'],
  /** out[o, j, i] = x[o, indices[o, j, i], i] over [lines / inner, m, inner], elements of 4 bytes or (`wide` 1) 8. */
  takeAlong: ['lines', 'n', 'm', 'inner', 'x', 'indices', 'out', 'wide'],
  /** Each of `lines` lines of `n` elements (stride `inner`) sorted: its positions into `out` (int32), through a scratch of n float64 and 2n int32. */
  argsort: ['lines', 'n', 'inner', 'x', 'out', 'scratch', 'descending'],
  /** `rows` rows of `n` elements: the k largest's indices into `out` (int32), `scratch` k values. */
  topk: ['rows', 'n', 'k', 'x', 'out', 'scratch'],
  /** Indices of the extremum along the middle axis of [outer, reduced, inner], as int32. */
  argReduce: ['outer', 'reduced', 'inner', 'x', 'out'],
  /** `rank` axes copied from src to dst by the sizes and byte strides at `shape`, `srcStrides`, `dstStrides` (`index`: scratch), `bytes` an element. */
  stridedCopy: ['src', 'dst', 'rank', 'shape', 'srcStrides', 'dstStrides', 'index', 'bytes'],
  /** out[o, k] = x[o, indices[k]] for `outer` × `count` rows of `rowBytes`; `status` gets a bad index. */
  gather: ['x', 'indices', 'out', 'outer', 'count', 'n', 'rowBytes', 'status'],
  /** g's rows added at their indices into zeros ([outer, n, inner]), through a float64 `acc`; `status` gets a bad index. */
  gatherGrad: ['g', 'indices', 'out', 'acc', 'outer', 'count', 'n', 'inner', 'status'],
  /** `count` rows of `depth`, one-hot at each index. */
  oneHot: ['indices', 'out', 'count', 'depth'],
  /** `count` floats at `x` to int32 at `out`. */
  toInt32: ['x', 'out', 'count'],
  /** `count` uniform values from the stream state at `state` (advanced). */
  randomUniform: ['state', 'out', 'count'],
  /** Pooling forward: input, output, then the window geometry. */
  pool: ['x', 'out', ...POOL_WINDOW],
  /** Pooling gradient: input (max pooling), output gradient, input gradient, then the window geometry. */
  poolGrad: ['x', 'g', 'dx', ...POOL_WINDOW],
} as const;

export type KernelFunction = keyof typeof KERNEL_PARAMS;
export type ParamName<F extends KernelFunction> = (typeof KERNEL_PARAMS)[F][number];
/** A kernel function's arguments by name. */
export type KernelArgs<F extends KernelFunction> = { readonly [P in ParamName<F>]: number };

/** The arguments of kernel function `fn` in declaration order, then its tail of operand addresses. */
export function kernelArgs<F extends KernelFunction>(
  fn: F,
  args: KernelArgs<F>,
  tail: readonly number[] = [],
): number[] {
  const names: readonly ParamName<F>[] = KERNEL_PARAMS[fn];
  return [...names.map((name) => args[name]), ...tail];
}

/** Operand addresses after the named parameters: elementwise operands and outputs, matmul epilogue operands. */
export function tailLength(spec: KernelSpec): number {
  if (spec.kind === 'elementwise') return spec.layouts.length + spec.outputs.length;
  if (spec.kind === 'matmul' || spec.kind === 'conv2d') return spec.epilogue?.layouts.length ?? 0;
  return 0;
}

/**
 * Matmul register tile: 4 rows of A times 8 float32 (or 4 float64) columns of B, two vectors per row
 * (the padding of C and of the packed operands).
 */
export const TILE_ROWS = 4;
export const tileCols = (dtype: 'float32' | 'float64'): number => (dtype === 'float64' ? 4 : 8);

/** Bytes of scratch the matmul kernel needs for operands of these sizes (packed A and packed B). */
export const matmulScratchBytes = (n: number, k: number, m: number, dtype: 'float32' | 'float64' = 'float32'): number =>
  (Math.ceil(n / TILE_ROWS) * TILE_ROWS + Math.ceil(m / tileCols(dtype)) * tileCols(dtype)) *
  k *
  bytesPerElement(dtype);

/** Rows (output pixels) of one block of the direct convolution: its indirection table is built per block. */
export const CONV_BLOCK_ROWS = 64;

/**
 * Input channels from which the direct convolution reads each tap's channels through the four
 * pixels' addresses; below, it gathers a block of rows into the matmul's packed layout first.
 */
export const CONV_DIRECT_CHANNELS = 4;

/**
 * Bytes of scratch the direct convolution needs: the packed kernel, a zeroed row of channels for
 * taps in the padding, and one block of rows' indirection table or packed rows.
 */
export const convDirectScratchBytes = (
  depth: number,
  cout: number,
  cin: number,
  taps: number,
  dtype: 'float32' | 'float64' = 'float32',
): number =>
  Math.ceil(cout / tileCols(dtype)) * tileCols(dtype) * depth * bytesPerElement(dtype) +
  Math.ceil((cin * bytesPerElement(dtype)) / 16) * 16 +
  CONV_BLOCK_ROWS * taps * (cin < CONV_DIRECT_CHANNELS ? cin * bytesPerElement(dtype) : 4);

/** The layout an operand actually has at call time, or undefined when none of the four fits. */
export function actualLayout(s: readonly number[], out: readonly number[]): Layout | undefined {
  const rank = out.length;
  if (s.length > rank) return undefined;
  const padded = [...new Array<number>(rank - s.length).fill(1), ...s];
  if (padded.every((d, i) => d === out[i])) return 'full';
  if (padded.every((d) => d === 1)) return 'scalar';
  if (padded.slice(0, -1).every((d) => d === 1) && padded[rank - 1] === out[rank - 1]) return 'row';
  if (padded[rank - 1] === 1 && padded.slice(0, -1).every((d, i) => d === out[i])) return 'column';
  return undefined;
}

/**
 * How an elementwise step covers operands broadcast any way: output axes of size 1 dropped,
 * neighbouring axes where every operand is broadcast alike merged, the last two merged axes as the
 * kernel's [outer, inner] view with each operand's layout there, and the axes before them (when the
 * pattern needs more than two) walked by the driver, one kernel call per index, with each operand's
 * stride (elements; 0 where broadcast) and the output's along them.
 */
export interface BroadcastPlan {
  readonly layouts: readonly Layout[];
  readonly outer: number;
  readonly inner: number;
  readonly leading: readonly number[];
  readonly strides: readonly (readonly number[])[];
  readonly outStrides: readonly number[];
}

export function broadcastPlan(
  shapes: readonly (readonly number[])[],
  out: readonly number[],
): BroadcastPlan | undefined {
  // The common case, cheaply (a tiny call pays for every step of the general one): no broadcasting.
  if (shapes.every((s) => s.length === out.length && s.every((d, a) => d === out[a]))) {
    const size = out.reduce((n, d) => n * d, 1);
    return {
      layouts: shapes.map(() => 'full'),
      outer: 1,
      inner: size,
      leading: [],
      strides: shapes.map(() => []),
      outStrides: [],
    };
  }
  if (shapes.some((s) => s.length > out.length)) return undefined;
  const padded = shapes.map((s) => [...new Array<number>(out.length - s.length).fill(1), ...s]);
  if (padded.some((s) => s.some((d, a) => d !== out[a] && d !== 1))) return undefined;
  // Merged axes, outermost first: size and, per operand, whether it is broadcast along them.
  const groups: { size: number; broadcast: boolean[] }[] = [];
  out.forEach((size, a) => {
    if (size === 1) return;
    const broadcast = padded.map((s) => s[a] === 1);
    const last = groups[groups.length - 1];
    if (last && last.broadcast.every((b, k) => b === broadcast[k])) last.size *= size;
    else groups.push({ size, broadcast });
  });
  const innerGroup = groups[groups.length - 1];
  const outerGroup = groups[groups.length - 2];
  const layouts = shapes.map((_, k): Layout => {
    const innerBroadcast = innerGroup?.broadcast[k] ?? true;
    const outerBroadcast = outerGroup?.broadcast[k] ?? innerBroadcast;
    return outerBroadcast ? (innerBroadcast ? 'scalar' : 'row') : innerBroadcast ? 'column' : 'full';
  });
  const leadingGroups = groups.slice(0, Math.max(0, groups.length - 2));
  // Elements one step along a leading group spans: the product of the later groups an operand has.
  const stride = (k: number | undefined, g: number) =>
    groups.slice(g + 1).reduce((n, later) => n * (k !== undefined && later.broadcast[k] ? 1 : later.size), 1);
  return {
    layouts,
    outer: outerGroup?.size ?? 1,
    inner: innerGroup?.size ?? 1,
    leading: leadingGroups.map((g) => g.size),
    strides: shapes.map((_, k) => leadingGroups.map((g, i) => (g.broadcast[k] ? 0 : stride(k, i)))),
    outStrides: leadingGroups.map((_, i) => stride(undefined, i)),
  };
}

/**
 * Whether a kernel built for layout `built` reads an operand of layout `actual` correctly in an
 * [outer, inner] view: they must agree on moving along each axis, except along an axis of one
 * element (with one row, a row is the whole array and a column one value; with one column, the
 * other way round).
 */
export function layoutFits(built: Layout, actual: Layout, outer: number, inner: number): boolean {
  const alongOuter = (l: Layout) => l === 'full' || l === 'column';
  const alongInner = (l: Layout) => l === 'full' || l === 'row';
  return (
    (outer === 1 || alongOuter(built) === alongOuter(actual)) &&
    (inner === 1 || alongInner(built) === alongInner(actual))
  );
}

/** Helper functions a kernel kind comes with: a convolution's gather and its transpose. */
const COMPANIONS: Partial<Record<KernelSpec['kind'], readonly string[]>> = {
  conv2d: ['im2col', 'transpose', 'direct'],
  conv2dGradFilter: ['im2col', 'transpose'],
  conv2dGradInput: ['col2im', 'transpose'],
  maxPool2d: ['transpose'],
  avgPool2d: ['transpose'],
  maxPool2dGrad: ['transpose'],
  avgPool2dGrad: ['transpose'],
  softmax: ['transpose'],
};

/**
 * Export names of a module's functions in the order the runtime calls them by index: the kernels
 * k0, k1, … and then each kernel's companions (conv2d's im2col, a fused reduction's elementwise map,
 * the channels-first transposes of convolution and pooling, softmax's and logsumexp's transpose for
 * other axes).
 */
export function kernelExports(kernels: readonly KernelSpec[]): string[] {
  const reduceCompanions = (k: KernelSpec) =>
    k.kind === 'reduce' ? [...(k.map ? ['map'] : []), ...(k.op === 'logsumexp' ? ['transpose'] : [])] : [];
  const companions = kernels.flatMap((k, i) => (COMPANIONS[k.kind] ?? reduceCompanions(k)).map((c) => `k${i}_${c}`));
  return [...kernels.map((_, i) => `k${i}`), ...companions];
}
