import { rebuild, toposort } from '../ir/graph.js';
import { Node } from '../ir/node.js';
import { isElementwise, type FusedArgs, type FusedInstr, type FusedProduct, type FusedRef } from '../ir/ops.js';
import { withOrigin } from '../ir/origin.js';
import type { RuleCounts } from './engine.js';
import { recordRewrite } from './provenance.js';

export const EPILOGUE_RULE = 'matmul_epilogue_fusion';
export const POOL_RULE = 'conv_pool_fusion';

/**
 * Whether a backend computes `instrs` on a matmul's product inside the matmul kernel, reading the
 * region's other inputs `others` (input 0 is the product, of shape `shape`).
 */
export type EpilogueSupport = (instrs: readonly FusedInstr[], others: readonly Node[], shape: Node['shape']) => boolean;

/** A single elementwise op as a one-instruction region. */
function asRegion(node: Node): FusedArgs | undefined {
  if (node.op === 'fused') return node.args as FusedArgs;
  if (!isElementwise(node.op)) return undefined;
  const inputs: FusedRef[] = node.inputs.map((_, index) => ({ from: 'input', index }));
  return {
    instrs: [{ op: node.op, args: node.args, inputs, dtype: node.dtype }],
    outputs: [0],
    outputTypes: [node.type],
  };
}

/** A float product a kernel can end with: a matrix product (dot of two matrices is matmul) or a channels-last convolution. */
function productOf(p: Node): FusedProduct | undefined {
  if (p.dtype !== 'float32' && p.dtype !== 'float64') return undefined;
  if (p.op === 'conv2d') {
    const args = (p as Node<'conv2d'>).args;
    return args.dataFormat === 'channelsLast' ? { op: 'conv2d', args } : undefined;
  }
  if (p.ndim !== 2 || p.inputs.some((i) => i.ndim !== 2)) return undefined;
  if (p.op === 'matmul') return { op: 'matmul', args: (p as Node<'matmul'>).args };
  return p.op === 'dot' ? { op: 'matmul', args: {} } : undefined;
}

/**
 * Moves the elementwise work that follows a matrix product or a convolution (bias, scale, activation)
 * into its kernel, which applies it to its accumulators before they are stored: one pass over the
 * product instead of two. Only where the product has no other reader and `supports` says the backend can.
 */
export function fuseMatmulEpilogues(roots: readonly Node[], counts: RuleCounts, supports: EpilogueSupport): Node[] {
  const { order, readOnce } = readers(roots);
  // Decide first, then rebuild bottom-up, so a fused node's inputs are the rebuilt ones.
  const plans: FusedPlans = new Map();
  const absorbed = new Set<Node>();
  for (const node of order) {
    const region = asRegion(node);
    if (!region || region.reduce || region.product || region.outputs.length !== 1) continue;
    // The epilogue computes in the product's float type, from its accumulators to the stored result.
    const j = node.inputs.findIndex(
      (p) =>
        productOf(p) !== undefined &&
        p.dtype === node.dtype &&
        readOnce(p) &&
        !absorbed.has(p) &&
        p.shape.every((d, a) => d === node.shape[a]) &&
        node.inputs.indexOf(p) === node.inputs.lastIndexOf(p),
    );
    if (j < 0) continue;
    const product = node.inputs[j]!;
    const others = node.inputs.filter((_, i) => i !== j);
    // Region input j becomes input 0 (the product); the others keep their order after it.
    const renumber = (i: number) => (i === j ? 0 : 1 + (i < j ? i : i - 1));
    const instrs = region.instrs.map((instr) => ({
      ...instr,
      inputs: instr.inputs.map((r) => (r.from === 'input' ? { from: 'input' as const, index: renumber(r.index) } : r)),
    }));
    if (!supports(instrs, others, node.shape)) continue;
    absorbed.add(product);
    plans.set(node, {
      inputs: [product.inputs[0]!, product.inputs[1]!, ...others],
      args: { ...region, instrs, product: productOf(product)! },
    });
    counts[EPILOGUE_RULE] = (counts[EPILOGUE_RULE] ?? 0) + 1;
  }
  return rebuildFused(roots, plans, EPILOGUE_RULE);
}

/** Where a fusion puts fused nodes: the node each replaces, with the new node's inputs and arguments. */
type FusedPlans = Map<Node, { inputs: readonly Node[]; args: FusedArgs }>;

/** The graph with each planned node replaced by its fused node, built bottom-up so its inputs are the rebuilt ones. */
function rebuildFused(roots: readonly Node[], plans: FusedPlans, rule: string): Node[] {
  if (plans.size === 0) return [...roots];
  return rebuild(roots, (node, rebuilt) => {
    const plan = plans.get(node);
    return (
      plan &&
      recordRewrite(
        withOrigin(node.origin, () => Node.make('fused', plan.inputs.map(rebuilt), plan.args)),
        rule,
      )
    );
  });
}

/** The graph in dependency order, and whether a node has exactly one reader (and is not an output) and so may be absorbed by it. */
function readers(roots: readonly Node[]): { order: Node[]; readOnce: (n: Node) => boolean } {
  const order = toposort(roots);
  const count = new Map<Node, number>();
  for (const n of order) for (const i of new Set(n.inputs)) count.set(i, (count.get(i) ?? 0) + 1);
  const isRoot = new Set(roots);
  return { order, readOnce: (n) => count.get(n) === 1 && !isRoot.has(n) };
}

/** Whether an epilogue operand is the same for every pixel: a scalar, or a row of channels (a bias). */
const samePerPixel = (o: Node, out: Node['shape']): boolean =>
  o.shape.every((d, a) => d === 1 || (a === o.ndim - 1 && d === out[out.length - 1]));

/**
 * Moves a 2x2 max pooling of stride 2 into the convolution before it (channels last, 'valid', the
 * convolution already fused with its epilogue and read by nothing else): the direct convolution
 * computes the four pixels of each window as one tile and stores their maximum, so the
 * convolution's full-size result is neither written nor read back. Operands of the epilogue must be
 * the same for every pixel (a bias, a scale), since a tile's rows are no longer consecutive pixels.
 */
export function fuseConvPooling(roots: readonly Node[], counts: RuleCounts): Node[] {
  const { order, readOnce } = readers(roots);
  const plans: FusedPlans = new Map();
  for (const node of order) {
    if (node.op !== 'maxPool2d') continue;
    const pool = (node as Node<'maxPool2d'>).args;
    const conv = node.inputs[0]!;
    const region = conv.op === 'fused' ? (conv.args as FusedArgs) : undefined;
    if (
      !region ||
      region.product?.op !== 'conv2d' ||
      region.pool ||
      region.reduce ||
      region.outputs.length !== 1 ||
      !readOnce(conv) ||
      conv.dtype !== node.dtype ||
      pool.dataFormat !== 'channelsLast' ||
      pool.padding !== 'valid' ||
      [...pool.poolSize, ...pool.strides].some((d) => d !== 2) ||
      !conv.inputs.slice(2).every((o) => samePerPixel(o, conv.shape))
    )
      continue;
    plans.set(node, {
      inputs: conv.inputs,
      args: { ...region, outputTypes: [node.type], pool: { op: 'maxPool2d', args: pool } },
    });
    counts[POOL_RULE] = (counts[POOL_RULE] ?? 0) + 1;
  }
  return rebuildFused(roots, plans, POOL_RULE);
}
