import { Node } from '../ir/node.js';
import type { FusedInstr, FusedRef, Op, ReduceArgs } from '../ir/ops.js';
import { broadcastShapes, type Shape } from '../ir/type.js';
import { isFloat } from '../../runtime/dtype.js';
import { forDeclared } from '../../runtime/declared-ops.js';
import {
  broadcastPlan,
  type ElementType,
  type ElementwiseSpec,
  type KernelSpec,
  type Layout,
  type ReduceOp,
} from '../../runtime/kernel-abi.js';

const elementType = (d: string): ElementType | undefined =>
  d === 'float32' || d === 'float64' || d === 'bool' ? d : undefined;

const COMPARISONS = new Set<Op>(['eq', 'ne', 'lt', 'le', 'gt', 'ge']);
/** Below this, every int32 is exactly a float32. */
const FLOAT32_EXACT = 2 ** 24;

/**
 * Whether int32 input `k` of a fused kernel computes exactly as the reference does when read into
 * float lanes: every instruction reading it casts it to a float (rounded as a typed array store
 * rounds), or compares it, and its values are exact in the lanes (float64 lanes hold every int32;
 * float32 lanes the indices of an argmax or argmin over fewer than 2^24 elements).
 */
function int32Exact(input: Node, k: number, instrs: readonly FusedInstr[], lanes: 'float32' | 'float64'): boolean {
  const readers = instrs.filter((i) => i.inputs.some((r) => r.from === 'input' && r.index === k));
  const reduced = (n: Node) => {
    const x = n.inputs[0]!;
    const axes = (n.args as ReduceArgs).axes;
    const sizes = (axes.length ? axes : x.shape.map((_, a) => a)).map((a) => x.shape[a]);
    return sizes.every((d) => d !== null) ? sizes.reduce<number>((p, d) => p * d!, 1) : Infinity;
  };
  const exact =
    lanes === 'float64' || ((input.op === 'argmax' || input.op === 'argmin') && reduced(input) < FLOAT32_EXACT);
  return readers.every(
    (i) => (i.op === 'cast' && (i.dtype === 'float32' || i.dtype === 'float64')) || (exact && COMPARISONS.has(i.op)),
  );
}

export const kernelKey = (k: KernelSpec): string => JSON.stringify(k);

/** Ops and dtypes the SIMD lowering implements (the capability table lives with the lowering); `ints`: in int32 lanes. */
export type Supported = (op: FusedInstr['op'], dtype: FusedInstr['dtype'], ints?: boolean) => boolean;

/** The layout an operand of static shape `s` will have against output shape `out`, assuming unknown sizes match. */
export function predictLayout(s: Shape, out: Shape): Layout | undefined {
  const rank = out.length;
  const padded = [...new Array<number>(Math.max(0, rank - s.length)).fill(1), ...s];
  if (padded.length > rank) return undefined;
  if (padded.every((d) => d === 1)) return 'scalar';
  const same = (d: number | null, o: number | null) => d === o || d === null || (o === null && d !== 1);
  if (padded.every((d, i) => same(d, out[i]!))) return 'full';
  const lead = padded.slice(0, -1);
  const last = padded[rank - 1]!;
  if (lead.every((d) => d === 1) && same(last, out[rank - 1]!)) return 'row';
  if (last === 1 && lead.every((d, i) => same(d, out[i]!))) return 'column';
  return undefined;
}

/**
 * What the matmul kernel (also under conv2d) can apply to its accumulators: instructions the SIMD
 * lowering has, all in the product's float type (float32 or float64), reading operands of that type
 * that are a row (bias), a column (one value per output row or pixel) or a scalar against the product.
 */
export const epilogueSupport =
  (supported: Supported) =>
  (instrs: readonly FusedInstr[], others: readonly Node[], shape: Shape): boolean => {
    const dtype = instrs[0]?.dtype;
    return (
      shape.length >= 2 &&
      (dtype === 'float32' || dtype === 'float64') &&
      instrs.every((i) => i.dtype === dtype && supported(i.op, i.dtype)) &&
      others.every(
        (o) => o.dtype === dtype && ['row', 'column', 'scalar'].includes(predictLayout(o.shape, shape) ?? ''),
      )
    );
  };

/** A lowering: the wasm kernel for a node of op K, or undefined where its dtypes or shapes do not fit one (the reference kernel runs it). */
type Lowering<K extends Op> = (node: Node<K>, supported: Supported) => KernelSpec | undefined;
/**
 * An op with no wasm kernel, and why: views and leaves, which move no data, and the ops whose sizes
 * or bounds are values known only at call time; a lowering that declines a node (dtypes or shapes it does not cover) leaves it to the reference
 * kernels, and `f.stats.referenceSteps` counts those steps.
 */
interface OnReference {
  readonly reference: string;
  readonly noWork?: true;
}
const noWork = (why: string): OnReference => ({ reference: why, noWork: true });

// Reductions and softmax in float32 or float64, the same type in and out.
const sameFloat = (n: Node) => (n.dtype === 'float32' || n.dtype === 'float64') && n.inputs[0]!.dtype === n.dtype;
const width = (n: Node) => (n.dtype === 'float64' ? { dtype: 'float64' as const } : {});

const elementwise: Lowering<Op> = (node, supported) => {
  const inputs: FusedRef[] = node.inputs.map((_, index) => ({ from: 'input', index }));
  return elementwiseSpec(
    node,
    [{ op: node.op, args: node.args, inputs, dtype: node.dtype }],
    [0],
    node.shape,
    supported,
  );
};
const reduction: Lowering<ReduceOp> = (node) =>
  sameFloat(node) ? { kind: 'reduce', op: node.op, ...width(node) } : undefined;
const argReduction: Lowering<'argmax' | 'argmin'> = (node) => {
  const x = node.inputs[0]!;
  return x.dtype === 'float32' || x.dtype === 'float64' ? { kind: 'argReduce', op: node.op, ...width(x) } : undefined;
};
/** A solve whose operands and result share one float type. */
const denseFloat = (n: Node) =>
  (n.dtype === 'float32' || n.dtype === 'float64') && n.inputs.every((i) => i.dtype === n.dtype);
const isFloatOf = (n: Node) => n.dtype === 'float32' || n.dtype === 'float64';
const cumulative: Lowering<'cumsum' | 'cumprod'> = (node) =>
  sameFloat(node) ? { kind: 'cumulative', op: node.op === 'cumsum' ? 'sum' : 'prod', ...width(node) } : undefined;
const softmax: Lowering<'softmax' | 'logSoftmax'> = (node) =>
  sameFloat(node) ? { kind: 'softmax', log: node.op === 'logSoftmax', ...width(node) } : undefined;
const product: Lowering<'matmul' | 'dot'> = (node) => {
  const [a, b] = node.inputs as [Node, Node];
  // Matrices, a matrix times a vector, or (matmul) batches of matrices broadcast over leading axes.
  const batched = node.op === 'matmul' && a.ndim >= 2 && b.ndim >= 2;
  const float = a.dtype === b.dtype && (a.dtype === 'float32' || a.dtype === 'float64');
  const ok = float && (batched || (a.ndim === 2 && (b.ndim === 2 || b.ndim === 1)));
  return ok ? (a.dtype === 'float64' ? { kind: 'matmul', dtype: 'float64' } : { kind: 'matmul' }) : undefined;
};
// channels-first operands are transposed around the channels-last kernels by the runtime.
const convolution: Lowering<'conv2d' | 'conv2dGradInput' | 'conv2dGradFilter'> = (node) =>
  sameFloat(node) && node.inputs.every((i) => i.dtype === node.dtype) ? { kind: node.op, ...width(node) } : undefined;
const pooling: Lowering<'maxPool2d' | 'maxPool2dGrad' | 'avgPool2d' | 'avgPool2dGrad'> = (node) => {
  const x = node.inputs[0]!;
  const channels = x.shape[node.args.dataFormat === 'channelsLast' ? 3 : 1];
  // A vector of channels at a time: four float32 or two float64 lanes.
  const lanes = x.dtype === 'float64' ? 2 : 4;
  return node.inputs.every((i) => i.dtype === x.dtype) &&
    (x.dtype === 'float32' || x.dtype === 'float64') &&
    channels !== null &&
    channels !== undefined &&
    channels % lanes === 0
    ? { kind: node.op, ...width(node) }
    : undefined;
};
const fused: Lowering<'fused'> = (node, supported) => {
  const a = node.args;
  if (a.product) {
    const others = node.inputs.slice(2);
    if (!epilogueSupport(supported)(a.instrs, others, node.shape)) return undefined;
    const layouts = others.map((o) => predictLayout(o.shape, node.shape)!);
    const epilogue = { instrs: a.instrs, output: a.outputs[0]!, layouts };
    if (a.pool) return a.product.op === 'conv2d' ? { kind: 'conv2d', epilogue, pool: true, ...width(node) } : undefined;
    return { kind: a.product.op, epilogue, ...width(node) };
  }
  if (a.reduce) {
    const op = a.reduce.op;
    if (a.outputs.length !== 1 || (node.dtype !== 'float32' && node.dtype !== 'float64')) return undefined;
    const map = elementwiseSpec(
      node,
      a.instrs,
      a.outputs,
      broadcastShapes(node.inputs.map((i) => i.shape)),
      supported,
      false,
    );
    return map && map.outputTypes[0] === node.dtype ? { kind: 'reduce', op, ...width(node), map } : undefined;
  }
  return elementwiseSpec(node, a.instrs, a.outputs, node.shape, supported);
};

// transpose, slice, concat, their gradients and pad move bytes between strided views: one kernel for every dtype.
const stridedCopy: Lowering<'transpose' | 'slice' | 'sliceGrad' | 'pad' | 'concatPart'> = () => ({
  kind: 'stridedCopy',
});
// Operands of another dtype are converted on the way: the reference kernel does that.
const concat: Lowering<'concat'> = (node) =>
  node.inputs.every((i) => i.dtype === node.dtype) ? { kind: 'stridedCopy' } : undefined;

const VIEW = noWork('a view of its operand: no data moves');

/**
 * How every op runs in wasm: its lowering, or why it has none yet. A new op without an entry is a
 * compile error; one on the reference kernels is visible here and counted in `f.stats` (kernels - wasmKernels).
 */
export const LOWERINGS: { readonly [K in Op]: Lowering<K> | OnReference } = {
  input: noWork('a leaf'),
  constant: noWork('a leaf'),
  shared: noWork('a leaf'),
  // Its type rule makes it float32 or float64 always.
  randomUniformLike: (node) => ({ kind: 'randomUniform', ...width(node) }),
  elu: elementwise,
  // Composites are expanded before scheduling, except over ints, which the reference kernels compute.
  ...forDeclared(() => elementwise),
  // To int32 (class labels, embedding ids): a conversion kernel, as JavaScript's ToInt32 does it.
  cast: (node, supported) =>
    node.dtype !== 'int32'
      ? elementwise(node, supported)
      : node.inputs[0]!.dtype === 'float32' || node.inputs[0]!.dtype === 'float64'
        ? { kind: 'toInt32', ...width(node.inputs[0]!) }
        : undefined,
  pow: elementwise,
  where: elementwise,
  clip: elementwise,
  sum: reduction,
  prod: reduction,
  mean: reduction,
  max: reduction,
  min: reduction,
  logsumexp: reduction,
  argmax: argReduction,
  argmin: argReduction,
  dot: product,
  matmul: product,
  identity: VIEW,
  stopGradient: VIEW,
  reshape: VIEW,
  expandDims: VIEW,
  squeeze: VIEW,
  reshapeLike: VIEW,
  transpose: stridedCopy,
  concat,
  slice: stridedCopy,
  gather: (node) => (node.inputs[1]!.dtype === 'int32' ? { kind: 'gather' } : undefined),
  oneHot: (node) => (node.inputs[0]!.dtype === 'int32' ? { kind: 'oneHot', dtype: node.dtype } : undefined),
  pad: stridedCopy,
  // Sizes and bounds read from values at call time: the reference kernels run them (and count them).
  dimOf: { reference: 'a size read from its operand at call time' },
  arange: { reference: 'its length comes from its operands’ values' },
  dynamicSlice: { reference: 'its bounds come from its operands’ values' },
  dynamicSliceGrad: { reference: 'its bounds come from its operands’ values' },
  // The first operand spread over the second's shape: an elementwise copy (the second only lends its shape).
  broadcastLike: (node, supported) =>
    elementwiseSpec(
      node,
      [{ op: 'cast', args: { dtype: node.dtype }, inputs: [{ from: 'input', index: 0 }], dtype: node.dtype }],
      [0],
      node.shape,
      supported,
    ),
  sliceGrad: stridedCopy,
  gatherGrad: (node) =>
    node.inputs[1]!.dtype === 'int32' && node.inputs[0]!.dtype === node.dtype && isFloat(node.dtype)
      ? { kind: 'gatherGrad', ...width(node) }
      : undefined,
  concatPart: stridedCopy,
  softmax,
  logSoftmax: softmax,
  cumsum: cumulative,
  cumprod: cumulative,
  cholesky: (node) => (sameFloat(node) ? { kind: 'cholesky', ...width(node) } : undefined),
  solveTriangular: (node) => (denseFloat(node) ? { kind: 'triangularSolve', ...width(node) } : undefined),
  solve: (node) => (denseFloat(node) ? { kind: 'luSolve', ...width(node) } : undefined),
  slogdet: { reference: 'dense factorization (no wasm kernel yet)' },
  qr: (node) => (sameFloat(node) ? { kind: 'householderQr', ...width(node) } : undefined),
  checkFinite: { reference: 'a scan that throws: an error is the point' },
  eigh: { reference: 'Jacobi eigenvalues (no wasm kernel yet)' },
  svd: { reference: 'one-sided Jacobi SVD (no wasm kernel yet)' },
  argsort: (node) => (isFloatOf(node.inputs[0]!) ? { kind: 'argsort', ...width(node.inputs[0]!) } : undefined),
  topkIndices: (node) => (isFloatOf(node.inputs[0]!) ? { kind: 'topk', ...width(node.inputs[0]!) } : undefined),
  // In wasm only for indices the program's own argsort or topk made (always in range): others are checked by the reference.
  takeAlongAxis: (node) =>
    (node.inputs[1]!.op === 'argsort' || node.inputs[1]!.op === 'topkIndices') && node.dtype !== 'bool'
      ? { kind: 'takeAlong' }
      : undefined,
  takeAlongAxisGrad: { reference: 'a scatter-add by per-line indices (no wasm kernel yet)' },
  conv2d: convolution,
  conv2dGradInput: convolution,
  conv2dGradFilter: convolution,
  maxPool2d: pooling,
  avgPool2d: pooling,
  maxPool2dGrad: pooling,
  avgPool2dGrad: pooling,
  // sumLike (a broadcast's gradient) is a sum over the axes its operands' shapes imply at call time.
  sumLike: (node) => (sameFloat(node) ? { kind: 'reduce', op: 'sum', ...width(node) } : undefined),
  fused,
  fusedOutput: noWork('an output of a fused kernel: the kernel writes it'),
  loop: noWork('built out before scheduling: programs contain no loop'),
  ifelse: noWork('run between programs: programs contain no ifelse'),
};

/** Whether a step of `op` without a wasm kernel does work on the reference kernels (not a view or a leaf). */
export function runsOnReference(op: Op): boolean {
  const lowering = LOWERINGS[op] as Lowering<Op> | OnReference;
  return typeof lowering === 'function' || lowering.noWork !== true;
}

/** The wasm kernel for a node, or undefined to leave it to the reference kernels (its op has none, or its dtypes or shapes do not fit). */
export function selectKernel(node: Node, supported: Supported): KernelSpec | undefined {
  const lowering = LOWERINGS[node.op] as Lowering<Op> | OnReference;
  return typeof lowering === 'function' ? lowering(node, supported) : undefined;
}

/**
 * Operand layouts for an elementwise step: with every size known, the broadcast plan's (any pattern:
 * axes merged, the driver walking what two axes cannot hold); otherwise the layout each operand
 * will have against the last axis, assuming unknown sizes match.
 */
function elementwiseLayouts(node: Node, shape: Shape, anyPattern: boolean): (Layout | undefined)[] {
  if (anyPattern) {
    // Sizes known only at call time (a batch) are taken to be equal and above 1, as the layouts below
    // assume: a per-channel bias against [?, C, H, W] is then a column walked along the batch.
    const sized = (s: Shape) => s.map((d) => d ?? SOME_SIZE);
    const plan = broadcastPlan(
      node.inputs.map((i) => sized(i.shape)),
      sized(shape),
    );
    if (plan) return [...plan.layouts];
  }
  return node.inputs.map((i) => predictLayout(i.shape, shape));
}
/** A stand-in for a size known only at call time. */
const SOME_SIZE = 3;

/**
 * The elementwise kernel computing `instrs` over `node`'s inputs into arrays of shape `shape`, if
 * the lowering covers it. `anyPattern`: the step runs on its own (a fused reduction's producer
 * reads its operands against the last axis only).
 */
function elementwiseSpec(
  node: Node,
  instrs: readonly FusedInstr[],
  outputs: readonly number[],
  shape: Shape,
  supported: Supported,
  anyPattern = true,
): ElementwiseSpec | undefined {
  // In int32 lanes when every value is int32 or bool; else in one float type's lanes (bool values may pass through).
  const types = [...node.inputs.map((i) => i.dtype), ...instrs.map((i) => i.dtype)];
  if (types.every((t) => t === 'int32' || t === 'bool'))
    return intSpec(node, instrs, outputs, shape, supported, anyPattern);
  const outputTypes = outputs.map((k) => elementType(instrs[k]!.dtype));
  if (outputTypes.includes(undefined)) return undefined;
  const lanesFloat = [...node.inputs.map((i) => i.dtype), ...instrs.map((i) => i.dtype)].includes('float64')
    ? 'float64'
    : 'float32';
  const inputTypes = node.inputs.map((i, k) =>
    i.dtype === 'int32' ? (int32Exact(i, k, instrs, lanesFloat) ? 'int32' : undefined) : elementType(i.dtype),
  );
  if (inputTypes.includes(undefined)) return undefined;
  const floats = new Set(
    [...inputTypes, ...instrs.map((i) => i.dtype)].filter((t) => t === 'float32' || t === 'float64'),
  );
  if (floats.size !== 1) return undefined;
  if (!instrs.every((i) => supported(i.op, i.dtype))) return undefined;
  const layouts = elementwiseLayouts(node, shape, anyPattern);
  if (layouts.some((l) => l === undefined)) return undefined;
  const lanes = floats.has('float64') ? 'f64x2' : 'f32x4';
  return {
    kind: 'elementwise',
    lanes,
    instrs,
    outputs,
    layouts: layouts as Layout[],
    inputTypes: inputTypes as ElementType[],
    outputTypes: outputTypes as ElementType[],
  };
}

/** An elementwise kernel over int32 and bool values, in int32 lanes (wrapping as NumPy's int32). */
function intSpec(
  node: Node,
  instrs: readonly FusedInstr[],
  outputs: readonly number[],
  shape: Shape,
  supported: Supported,
  anyPattern: boolean,
): ElementwiseSpec | undefined {
  if (!instrs.every((i) => supported(i.op, i.dtype, true))) return undefined;
  const layouts = elementwiseLayouts(node, shape, anyPattern);
  if (layouts.some((l) => l === undefined)) return undefined;
  return {
    kind: 'elementwise',
    lanes: 'i32x4',
    instrs,
    outputs,
    layouts: layouts as Layout[],
    inputTypes: node.inputs.map((i) => i.dtype as ElementType),
    outputTypes: outputs.map((k) => instrs[k]!.dtype as ElementType),
  };
}
