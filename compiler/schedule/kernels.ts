import { Node } from '../ir/node.js';
import type { FusedArgs, FusedInstr, FusedRef, OpArgs } from '../ir/ops.js';
import { isElementwise } from '../ir/ops.js';
import { broadcastShapes, type Shape } from '../ir/type.js';
import { broadcastPlan, type ElementType, type ElementwiseSpec, type KernelSpec, type Layout, type ReduceOp } from '../../runtime/kernel-abi.js';

const REDUCE_OPS: ReadonlySet<string> = new Set<ReduceOp>(['sum', 'mean', 'prod', 'max', 'min', 'logsumexp']);
const elementType = (d: string): ElementType | undefined => (d === 'float32' || d === 'float64' || d === 'bool' ? d : undefined);

export const kernelKey = (k: KernelSpec): string => JSON.stringify(k);

/** Ops and dtypes the SIMD lowering implements (the capability table lives with the lowering). */
export type Supported = (op: FusedInstr['op'], dtype: FusedInstr['dtype']) => boolean;

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
export const epilogueSupport = (supported: Supported) => (instrs: readonly FusedInstr[], others: readonly Node[], shape: Shape): boolean => {
  const dtype = instrs[0]?.dtype;
  return shape.length >= 2 && (dtype === 'float32' || dtype === 'float64') &&
    instrs.every((i) => i.dtype === dtype && supported(i.op, i.dtype)) &&
    others.every((o) => o.dtype === dtype && ['row', 'column', 'scalar'].includes(predictLayout(o.shape, shape) ?? ''));
};

/** Chooses a wasm kernel for a node, or undefined to leave it to the reference kernels. */
export function selectKernel(node: Node, supported: Supported): KernelSpec | undefined {
  // Reductions and softmax in float32 or float64, the same type in and out.
  const sameFloat = (n: Node) => (n.dtype === 'float32' || n.dtype === 'float64') && n.inputs[0]!.dtype === n.dtype;
  const width = (n: Node) => (n.dtype === 'float64' ? { dtype: 'float64' as const } : {});
  // sumLike (a broadcast's gradient) is a sum over the axes its operands' shapes imply at call time.
  if (node.op === 'sumLike') return sameFloat(node) ? { kind: 'reduce', op: 'sum', ...width(node) } : undefined;
  if (REDUCE_OPS.has(node.op)) return sameFloat(node) ? { kind: 'reduce', op: node.op as ReduceOp, ...width(node) } : undefined;
  if (node.op === 'argmax' || node.op === 'argmin') {
    const x = node.inputs[0]!;
    return x.dtype === 'float32' || x.dtype === 'float64' ? { kind: 'argReduce', op: node.op, ...width(x) } : undefined;
  }
  if (node.op === 'softmax' || node.op === 'logSoftmax') {
    return sameFloat(node) ? { kind: 'softmax', log: node.op === 'logSoftmax', ...width(node) } : undefined;
  }
  if (node.op === 'fused' && (node.args as FusedArgs).product) {
    const a = node.args as FusedArgs;
    const others = node.inputs.slice(2);
    if (!epilogueSupport(supported)(a.instrs, others, node.shape)) return undefined;
    const layouts = others.map((o) => predictLayout(o.shape, node.shape)!);
    return { kind: a.product!.op, epilogue: { instrs: a.instrs, output: a.outputs[0]!, layouts }, ...width(node) };
  }
  if (node.op === 'fused' && (node.args as FusedArgs).reduce) {
    const a = node.args as FusedArgs;
    const op = a.reduce!.op;
    if (!REDUCE_OPS.has(op) || a.outputs.length !== 1 || (node.dtype !== 'float32' && node.dtype !== 'float64')) return undefined;
    const map = elementwiseSpec(node, a.instrs, a.outputs, broadcastShapes(node.inputs.map((i) => i.shape)), supported, false);
    return map && map.outputTypes[0] === node.dtype ? { kind: 'reduce', op: op as ReduceOp, map, ...width(node) } : undefined;
  }
  if (node.op === 'matmul' || node.op === 'dot') {
    const [a, b] = node.inputs as [Node, Node];
    // Matrices, a matrix times a vector, or (matmul) batches of matrices broadcast over leading axes.
    const batched = node.op === 'matmul' && a.ndim >= 2 && b.ndim >= 2;
    const float = a.dtype === b.dtype && (a.dtype === 'float32' || a.dtype === 'float64');
    const ok = float && (batched || (a.ndim === 2 && (b.ndim === 2 || b.ndim === 1)));
    return ok ? (a.dtype === 'float64' ? { kind: 'matmul', dtype: 'float64' } : { kind: 'matmul' }) : undefined;
  }
  if (node.op === 'conv2d' || node.op === 'conv2dGradInput' || node.op === 'conv2dGradFilter') {
    const a = node.args as OpArgs['conv2d'];
    // channels-first operands are transposed around the channels-last kernels by the runtime.
    return sameFloat(node) && node.inputs.every((i) => i.dtype === node.dtype) ? { kind: node.op, ...width(node) } : undefined;
  }
  if (node.op === 'maxPool2d' || node.op === 'maxPool2dGrad' || node.op === 'avgPool2d' || node.op === 'avgPool2dGrad') {
    const x = node.inputs[0]!;
    const a = node.args as OpArgs['maxPool2d'];
    const channels = x.shape[a.dataFormat === 'channelsLast' ? 3 : 1];
    // A vector of channels at a time: four float32 or two float64 lanes.
    const lanes = x.dtype === 'float64' ? 2 : 4;
    return node.inputs.every((i) => i.dtype === x.dtype) && (x.dtype === 'float32' || x.dtype === 'float64') && channels !== null && channels !== undefined && channels % lanes === 0
      ? { kind: node.op, ...width(node) } : undefined;
  }
  if (node.op === 'fused') {
    const a = node.args as FusedArgs;
    return elementwiseSpec(node, a.instrs, a.outputs, node.shape, supported);
  }
  if (isElementwise(node.op)) {
    const inputs: FusedRef[] = node.inputs.map((_, index) => ({ from: 'input', index }));
    return elementwiseSpec(node, [{ op: node.op, args: node.args, inputs, dtype: node.dtype }], [0], node.shape, supported);
  }
  return undefined;
}

/**
 * Operand layouts for an elementwise step: with every size known, the broadcast plan's (any pattern:
 * axes merged, the driver walking what two axes cannot hold); otherwise the layout each operand
 * will have against the last axis, assuming unknown sizes match.
 */
function elementwiseLayouts(node: Node, shape: Shape, anyPattern: boolean): (Layout | undefined)[] {
  const known = (s: Shape): s is number[] => s.every((d) => d !== null);
  if (anyPattern && known(shape) && node.inputs.every((i) => known(i.shape))) {
    const plan = broadcastPlan(node.inputs.map((i) => i.shape as number[]), shape);
    if (plan) return [...plan.layouts];
  }
  return node.inputs.map((i) => predictLayout(i.shape, shape));
}

/**
 * The elementwise kernel computing `instrs` over `node`'s inputs into arrays of shape `shape`, if
 * the lowering covers it. `anyPattern`: the step runs on its own (a fused reduction's producer
 * reads its operands against the last axis only).
 */
function elementwiseSpec(node: Node, instrs: readonly FusedInstr[], outputs: readonly number[], shape: Shape, supported: Supported, anyPattern = true): ElementwiseSpec | undefined {
  const inputTypes = node.inputs.map((i) => elementType(i.dtype));
  const outputTypes = outputs.map((k) => elementType(instrs[k]!.dtype));
  if (inputTypes.includes(undefined) || outputTypes.includes(undefined)) return undefined;
  // A kernel computes in one float type's lanes: bool values may pass through, a float type must be there.
  const floats = new Set([...inputTypes, ...instrs.map((i) => i.dtype)].filter((t) => t === 'float32' || t === 'float64'));
  if (floats.size !== 1) return undefined;
  if (!instrs.every((i) => supported(i.op, i.dtype))) return undefined;
  const layouts = elementwiseLayouts(node, shape, anyPattern);
  if (layouts.some((l) => l === undefined)) return undefined;
  const lanes = floats.has('float64') ? 'f64x2' : 'f32x4';
  return { kind: 'elementwise', lanes, instrs, outputs, layouts: layouts as Layout[], inputTypes: inputTypes as ElementType[], outputTypes: outputTypes as ElementType[] };
}
