/**
 * The program a compiled function runs: steps over numbered slots, each an op with its arguments.
 * The compiler builds it and the runtime runs it; both import these declarations downward from here,
 * so the runtime (and an exported function) needs nothing from the compiler. Types only.
 */
import type { DType } from './dtype.js';
import type { Padding } from './geometry.js';
import type { KernelSpec } from './kernel-abi.js';
import type { NDArray } from './ndarray.js';
import type { SharedValue } from './shared-value.js';
import type { DrawSource } from './random.js';
import type { DeclaredOp } from './declared-ops.js';

/** A dimension size, or null when it is only known at call time. */
export type Dim = number | null;
export type Shape = readonly Dim[];

/** What a node is known to produce: element dtype and static shape (rank is always known). */
export interface TensorType {
  readonly dtype: DType;
  readonly shape: Shape;
}

export type DataFormat = 'channelsLast' | 'channelsFirst';

/** conv2d arguments; the kernel is [kh, kw, inChannels, outChannels] in both data formats, as in Keras. */
export interface ConvArgs {
  readonly strides: readonly [number, number];
  readonly padding: Padding;
  readonly dilation: readonly [number, number];
  readonly dataFormat: DataFormat;
}

export interface PoolArgs {
  readonly poolSize: readonly [number, number];
  readonly strides: readonly [number, number];
  readonly padding: Padding;
  readonly dataFormat: DataFormat;
}

/** Per-axis slice bounds (Python semantics), one entry per axis of the operand. */
export interface SliceSpec {
  readonly starts: readonly (number | null)[];
  readonly stops: readonly (number | null)[];
  readonly steps: readonly number[];
}

/** Holder of a shared variable's current value; the node refers to it, compiled functions read and update it. */
export type SharedContainer = SharedValue;

/**
 * A loop built out only once its number of steps is known (`T.scan` over sequences of unknown length).
 * Graph nodes refer to it; a compiled function builds it out for each number of steps it is called with,
 * so no program ever contains one. Typed loosely here (graph nodes are the compiler's).
 */
export interface DeferredLoop {
  readonly id: number;
  /** Each output's dtype and static shape. */
  readonly types: readonly TensorType[];
  /** The gradient contributions of output `output`'s cotangent `g` to each of a node's operands (null where none). */
  vjp(output: number, g: unknown, operands: readonly unknown[]): readonly unknown[];
  /** Graph nodes compare their arguments as JSON: each loop is its own. */
  toJSON(): string;
}

/** A slice of one axis with bounds from operands; `step` is known when the graph is built. */
export interface DynamicSliceArgs {
  readonly axis: number;
  readonly step: number;
  readonly drop: boolean;
}

export interface MatmulArgs {
  readonly transposeA?: true;
  readonly transposeB?: true;
}

export interface ReduceArgs {
  readonly axes: readonly number[];
  readonly keepdims: boolean;
}

type None = Record<string, never>;

/** The ops of runtime/declared-ops.ts: elementwise, without arguments. */
type DeclaredArgs = { readonly [K in DeclaredOp]: None };

/** Per-op arguments, typed by op. Every op of the closed set appears here (or in runtime/declared-ops.ts) exactly once. */
export interface OpArgs extends DeclaredArgs {
  // leaves
  input: { readonly name: string; readonly uid: number };
  constant: { readonly value: NDArray };
  shared: { readonly container: SharedContainer; readonly uid: number };
  // random: uniform [0, 1) with its operand's shape, a fresh draw per call
  randomUniformLike: DrawSource;
  // elementwise unary
  elu: { readonly alpha: number };
  cast: { readonly dtype: DType };
  // elementwise binary
  pow: None;
  // elementwise ternary
  where: None;
  clip: None;
  // reductions
  sum: ReduceArgs;
  mean: ReduceArgs;
  max: ReduceArgs;
  min: ReduceArgs;
  prod: ReduceArgs;
  logsumexp: ReduceArgs;
  argmax: ReduceArgs;
  argmin: ReduceArgs;
  // running totals along one axis (inclusive, first to last; exclusive and reversed forms are built around them)
  cumsum: { readonly axis: number };
  cumprod: { readonly axis: number };
  // sorting: the order of each line (stable; NaN last ascending, first descending), the k largest of each row
  argsort: { readonly axis: number; readonly descending: boolean };
  topkIndices: { readonly k: number };
  /** (x, indices): x's elements at int32 indices along `axis` (NumPy's take_along_axis). */
  takeAlongAxis: { readonly axis: number };
  // linear algebra
  dot: None;
  matmul: MatmulArgs;
  // dense linear algebra on the last two axes, batched over the others
  cholesky: None;
  solveTriangular: { readonly lower: boolean; readonly transpose: boolean; readonly unitDiagonal: boolean };
  solve: None;
  slogdet: { readonly part: 'logAbs' | 'sign' };
  // the factors of one decomposition are one op each, by `part` (computed once per part)
  qr: { readonly complete: boolean; readonly part: 'q' | 'r' };
  /** The value itself, or a LinalgError naming `what` and the first matrix (the last two axes) with a NaN or infinity. */
  checkFinite: { readonly what: string };
  eigh: { readonly part: 'values' | 'vectors' };
  svd: { readonly part: 'u' | 's' | 'vt' };
  // shape
  /** The value itself, as a node of its own: what a Keras layer that passes its input through returns (its label names the call). */
  identity: { readonly label: string };
  /** The value itself, through which no gradient flows (Theano's zero_grad / disconnected_grad, TF's stop_gradient). */
  stopGradient: None;
  reshape: { readonly shape: readonly number[] };
  transpose: { readonly perm: readonly number[] };
  expandDims: { readonly axis: number };
  squeeze: { readonly axes: readonly number[] };
  concat: { readonly axis: number };
  slice: SliceSpec;
  gather: { readonly axis: number };
  oneHot: { readonly depth: number; readonly dtype: DType };
  pad: { readonly paddings: readonly (readonly [number, number])[]; readonly value: number };
  // shapes and bounds known only from values at call time
  /** The size of one axis of its operand, as an int32 scalar (Theano's `x.shape[i]`). */
  dimOf: { readonly axis: number };
  /** (start, stop, step) scalars: the values start, start + step, ... before stop (NumPy's arange). */
  arange: { readonly dtype: DType };
  /** One axis sliced by int32 scalar operands: (x, start, stop), or (x, index) when `drop` (the axis goes). */
  dynamicSlice: DynamicSliceArgs;
  // loops whose number of steps is known only at call time: built out for that number before scheduling
  /** Output `output` of a loop (its stacked per-step values, or a shared variable's final value). */
  loop: { readonly loop: DeferredLoop; readonly output: number };
  // Theano's lazy ifelse: inputs [cond, ...then, ...else]; a compiled function runs only the chosen branch
  ifelse: { readonly branches: number; readonly output: number; readonly id: number };
  // neural
  softmax: { readonly axis: number };
  logSoftmax: { readonly axis: number };
  conv2d: ConvArgs;
  maxPool2d: PoolArgs;
  avgPool2d: PoolArgs;
  // helpers that gradients emit: they take a reference operand for shapes only known at call time
  broadcastLike: None; // (x, ref): x broadcast to ref's shape
  sumLike: None; // (x, ref): x summed down to ref's shape (reverse of broadcasting)
  reshapeLike: None; // (x, ref): x reshaped to ref's shape
  sliceGrad: SliceSpec; // (g, ref): g placed into zeros shaped like ref
  dynamicSliceGrad: DynamicSliceArgs; // (g, ref, ...bounds): g placed into zeros shaped like ref
  gatherGrad: { readonly axis: number }; // (g, indices, ref): g scatter-added into zeros shaped like ref
  takeAlongAxisGrad: { readonly axis: number }; // (g, indices, ref): g added at indices along axis into zeros like ref
  concatPart: { readonly axis: number; readonly index: number }; // (g, ...operands): the part of g for operand `index`
  conv2dGradInput: ConvArgs; // (g, w, xRef)
  conv2dGradFilter: ConvArgs; // (x, g, wRef)
  maxPool2dGrad: PoolArgs; // (x, g)
  avgPool2dGrad: PoolArgs; // (g, xRef)
  // fusion: one loop nest for a convex region of elementwise ops (Theano's Composite)
  fused: FusedArgs; // (...regionInputs): the value of output 0
  fusedOutput: { readonly index: number; readonly type: TensorType }; // (fused): its output `index`
}

/** Where an instruction of a fused region reads an operand: a region input or an earlier instruction. */
export interface FusedRef {
  readonly from: 'input' | 'instr';
  readonly index: number;
}

/** One elementwise op inside a fused region. */
export interface FusedInstr {
  readonly op: Op;
  readonly args: object;
  readonly inputs: readonly FusedRef[];
  readonly dtype: DType;
}

/** Reductions a fused region may end with (an elementwise producer feeding a reduction). */
export type FusableReduce = 'sum' | 'mean' | 'max' | 'min' | 'prod';

export interface FusedArgs {
  /** Elementwise instructions in dependency order. */
  readonly instrs: readonly FusedInstr[];
  /** Instructions whose values leave the region; output 0 is the fused node's own value. */
  readonly outputs: readonly number[];
  readonly outputTypes: readonly TensorType[];
  /** A reduction applied to output 0 inside the same kernel. */
  readonly reduce?: { readonly op: FusableReduce; readonly axes: readonly number[]; readonly keepdims: boolean };
  /**
   * An epilogue: the node's first two inputs go through this product (a matmul with its flags, or a
   * convolution), whose result is the region's input 0; the region's input i > 0 is the node's input i + 1.
   */
  readonly product?: FusedProduct;
  /**
   * With a convolution product: a 2x2 max pooling of stride 2 ('valid', channels last) applied to
   * output 0 inside the same kernel, so the convolution's full-size result is never stored.
   */
  readonly pool?: { readonly op: 'maxPool2d'; readonly args: PoolArgs };
}

/** The products a fused region may follow inside one kernel. */
export type FusedProduct =
  { readonly op: 'matmul'; readonly args: MatmulArgs } | { readonly op: 'conv2d'; readonly args: ConvArgs };

/** The closed set of operations. */
export type Op = keyof OpArgs;

/** One operation of a program: read slots, compute, write one slot. Carries what error messages need. */
export interface Step {
  readonly op: Op;
  readonly args: OpArgs[Op];
  readonly inputs: readonly number[];
  readonly out: number;
  readonly dtype: DType;
  readonly shape: Shape;
  /** "add(x, w)" and where the user built it, for call-time errors. */
  readonly label: string;
  readonly operandLabels: readonly string[];
  readonly where: string;
  /** Slots whose value is dead after this step (so the executor can drop them). */
  readonly release: readonly number[];
  /** An operand slot, dead after this step, whose buffer the result may take over (in-place). */
  readonly reuses: number | undefined;
  /** Index into Program.kernels of the compiled kernel for this step; undefined runs the reference kernel. */
  readonly kernel: number | undefined;
}

/**
 * A straight-line program over numbered value slots: what the executors run. It refers to no graph
 * node, so backends and exported artifacts need nothing from the compiler.
 */
export interface Program {
  readonly slotCount: number;
  readonly inputSlots: readonly number[];
  /** Constants, with how error messages name them (a folded constant keeps the user's expression and line). */
  readonly constants: readonly {
    readonly slot: number;
    readonly value: NDArray;
    readonly label: string;
    readonly where: string;
  }[];
  readonly shared: readonly { readonly slot: number; readonly container: SharedContainer }[];
  readonly steps: readonly Step[];
  readonly outputSlots: readonly number[];
  readonly updates: readonly { readonly container: SharedContainer; readonly slot: number; readonly label: string }[];
  /** Distinct compiled kernels (kernel IR for the code generator). */
  readonly kernels: readonly KernelSpec[];
  /** Whether results may overwrite operands that die at their step (the optimizer's memory phase). */
  readonly inPlace: boolean;
}
