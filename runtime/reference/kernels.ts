import type { FusedArgs, Op, OpArgs, ReduceArgs } from '../program.js';
import { allocate, type DType } from '../dtype.js';
import { NDArray } from '../ndarray.js';
import type { DrawSource, Random } from '../random.js';
import { mapBroadcast } from './elementwise.js';
import { declaration, forDeclared } from '../declared-ops.js';
import { dot, matmul } from './linalg.js';
import { conv2d, conv2dGradFilter, conv2dGradInput, pool2d, pool2dGrad, softmax } from './nn.js';
import { REDUCERS, reduceWith } from './reduce.js';
import { cumulative } from './cumulative.js';
import * as decompositions from './decompositions.js';
import { argsort, takeAlongAxis, takeAlongAxisGrad, topkIndices } from './sorting.js';
import * as S from './scalar-math.js';
import * as shape from './shape.js';

/** An array with its last two axes swapped (matmul's transposed operands); vectors stay as they are. */
const swapLastAxes = (x: NDArray): NDArray => {
  if (x.ndim < 2) return x;
  const perm = x.shape.map((_, i) => i);
  [perm[x.ndim - 2], perm[x.ndim - 1]] = [perm[x.ndim - 1]!, perm[x.ndim - 2]!];
  return shape.transpose(x, perm);
};

/** What a kernel knows besides its operands: the output dtype and, for random ops, a generator. */
export interface KernelContext {
  readonly dtype: DType;
  random(source: DrawSource): Random;
}

export type Kernel<K extends Op> = (inputs: readonly NDArray[], args: OpArgs[K], ctx: KernelContext) => NDArray;

const leaf = (): never => {
  throw new Error('leaves are bound by the executor, not computed');
};
const unary =
  (fn: (a: number) => number): Kernel<any> =>
  (xs, _a, ctx) =>
    mapBroadcast(xs, ctx.dtype, fn);
const binary =
  (fn: (a: number, b: number) => number): Kernel<any> =>
  (xs, _a, ctx) =>
    mapBroadcast(xs, ctx.dtype, fn);
const compare = (fn: (a: number, b: number) => boolean): Kernel<any> => binary((a, b) => (fn(a, b) ? 1 : 0));
const reduce =
  (name: keyof typeof REDUCERS) =>
  ([x]: readonly NDArray[], a: ReduceArgs, ctx: KernelContext) =>
    reduceWith(x!, a.axes, a.keepdims, ctx.dtype, REDUCERS[name]);

/** The reference implementation of every op, in plain TypeScript: the oracle for every other backend. */
export const REFERENCE_KERNELS: { readonly [K in Op]: Kernel<K> } = {
  input: leaf,
  constant: leaf,
  shared: leaf,
  randomUniformLike: ([x], a, ctx) => {
    const rng = ctx.random(a);
    const data = allocate(ctx.dtype, x!.size);
    for (let i = 0; i < data.length; i++) data[i] = rng.uniform();
    return new NDArray(data, x!.shape, ctx.dtype);
  },

  elu: (xs, a, ctx) => mapBroadcast(xs, ctx.dtype, (x) => S.elu(x, a.alpha)),
  cast: unary((a) => a),

  pow: binary(Math.pow),
  where: (xs, _a, ctx) => mapBroadcast(xs, ctx.dtype, (c, a, b) => (S.truthy(c) ? a : b)),
  clip: (xs, _a, ctx) => mapBroadcast(xs, ctx.dtype, (x, lo, hi) => Math.min(Math.max(x, lo), hi)),
  ...forDeclared((op) => {
    const { reference, int32 } = declaration(op);
    return (xs: readonly NDArray[], _a: unknown, ctx: KernelContext) =>
      mapBroadcast(xs, ctx.dtype, ctx.dtype === 'int32' && int32 ? int32 : reference);
  }),

  sum: reduce('sum'),
  mean: reduce('mean'),
  max: reduce('max'),
  min: reduce('min'),
  prod: reduce('prod'),
  logsumexp: reduce('logsumexp'),
  argmax: reduce('argmax'),
  argmin: reduce('argmin'),
  cumsum: ([x], a, ctx) => cumulative(x!, a.axis, 'sum', ctx.dtype),
  cumprod: ([x], a, ctx) => cumulative(x!, a.axis, 'prod', ctx.dtype),
  argsort: ([x], a) => argsort(x!, a.axis, a.descending),
  topkIndices: ([x], a) => topkIndices(x!, a.k),
  takeAlongAxis: ([x, idx], a, ctx) => takeAlongAxis(x!, idx!, a.axis, ctx.dtype),
  takeAlongAxisGrad: ([g, idx, ref], a, ctx) => takeAlongAxisGrad(g!, idx!, ref!, a.axis, ctx.dtype),

  dot: ([a, b], _a, ctx) => dot(a!, b!, ctx.dtype),
  cholesky: ([a], _a, ctx) => decompositions.cholesky(a!, ctx.dtype),
  solveTriangular: ([t, b], a, ctx) => decompositions.solveTriangular(t!, b!, a, ctx.dtype),
  solve: ([a, b], _a, ctx) => decompositions.solve(a!, b!, ctx.dtype),
  slogdet: ([a], args, ctx) => decompositions.slogdet(a!, args.part, ctx.dtype),
  qr: ([a], args, ctx) => decompositions.qr(a!, args.part, args.complete, ctx.dtype),
  checkFinite: ([x], args) => decompositions.checkFinite(x!, args.what),
  eigh: ([a], args, ctx) => decompositions.eigh(a!, args.part, ctx.dtype),
  svd: ([a], args, ctx) => decompositions.svd(a!, args.part, ctx.dtype),
  matmul: ([a, b], f, ctx) =>
    matmul(f.transposeA ? swapLastAxes(a!) : a!, f.transposeB ? swapLastAxes(b!) : b!, ctx.dtype),

  identity: ([x]) => x!,
  stopGradient: ([x]) => x!,
  reshape: ([x], a) => shape.reshape(x!, a.shape),
  transpose: ([x], a) => shape.transpose(x!, a.perm),
  expandDims: ([x], a) => shape.expandDims(x!, a.axis),
  squeeze: ([x], a) => shape.squeeze(x!, a.axes),
  concat: (xs, a, ctx) =>
    shape.concat(
      xs.map((x) => (x.dtype === ctx.dtype ? x : x.astype(ctx.dtype))),
      a.axis,
      ctx.dtype,
    ),
  slice: ([x], a) => shape.slice(x!, a),
  gather: ([x, idx], a) => shape.gather(x!, idx!, a.axis),
  oneHot: ([idx], a) => shape.oneHot(idx!, a.depth, a.dtype),
  pad: ([x], a) => shape.pad(x!, a.paddings, a.value),
  dimOf: ([x], a) => new NDArray(Int32Array.of(x!.shape[a.axis]!), [], 'int32'),
  arange: ([start, stop, step], a) => shape.arange(start!.data[0]!, stop!.data[0]!, step!.data[0]!, a.dtype),
  dynamicSlice: ([x, ...bounds], a) => shape.dynamicSlice(x!, bounds, a),

  softmax: ([x], a, ctx) => softmax(x!, a.axis, ctx.dtype, false),
  logSoftmax: ([x], a, ctx) => softmax(x!, a.axis, ctx.dtype, true),
  conv2d: ([x, w], a, ctx) => conv2d(x!, w!, a, ctx.dtype),
  maxPool2d: ([x], a, ctx) => pool2d(x!, a, 'max', ctx.dtype),
  avgPool2d: ([x], a, ctx) => pool2d(x!, a, 'avg', ctx.dtype),

  broadcastLike: ([x, ref]) => shape.broadcastTo(x!, ref!.shape),
  sumLike: ([x, ref]) => shape.sumTo(x!, ref!.shape),
  reshapeLike: ([x, ref]) => shape.reshape(x!, ref!.shape),
  sliceGrad: ([g, ref], a) => shape.sliceGrad(g!, ref!, a),
  dynamicSliceGrad: ([g, ref, ...bounds], a) => shape.dynamicSliceGrad(g!, ref!, bounds, a),
  gatherGrad: ([g, idx, ref], a) => shape.gatherGrad(g!, idx!, ref!, a.axis),
  concatPart: ([g, ...refs], a) => shape.concatPart(g!, refs, a.axis, a.index),
  conv2dGradInput: ([g, w, x], a) => conv2dGradInput(g!, w!, x!, a),
  conv2dGradFilter: ([x, g, w], a) => conv2dGradFilter(x!, g!, w!, a),
  maxPool2dGrad: ([x, g], a) => pool2dGrad(x!, g!, a, 'max'),
  avgPool2dGrad: ([g, x], a) => pool2dGrad(x!, g!, a, 'avg'),
  fused: (xs, a, ctx) => runFused(xs, a, ctx),
  loop: () => {
    throw new Error('internal: a deferred loop reached the executor (compile builds loops out first)');
  },
  // Both branches computed, one returned: what a program holding an ifelse would do (compile runs only the chosen one).
  ifelse: ([cond, ...branches], a) => branches[cond!.data[0] ? a.output : a.branches + a.output]!,
  fusedOutput: ([f], a) => (a.index === 0 ? f! : (f as MultiOutput).outputs[a.index]!),
};

/** The value of a fused node: output 0, carrying the region's other outputs for fusedOutput. */
export class MultiOutput extends NDArray {
  constructor(
    first: NDArray,
    readonly outputs: readonly NDArray[],
  ) {
    super(first.data, first.shape, first.dtype);
  }
}

/**
 * Reference semantics of a fused region: exactly the unfused ops, instruction by instruction, so
 * fusion cannot change a result; backends that build one loop nest are checked against this.
 */
function runFused(operands: readonly NDArray[], a: FusedArgs, ctx: KernelContext): NDArray {
  // An epilogue: the product of the first two operands is the region's input 0.
  const product =
    a.product &&
    (REFERENCE_KERNELS[a.product.op] as Kernel<Op>)(operands.slice(0, 2), a.product.args as OpArgs[Op], ctx);
  const inputs = product ? [product, ...operands.slice(2)] : operands;
  const values: NDArray[] = [];
  for (const instr of a.instrs) {
    const operands = instr.inputs.map((r) => (r.from === 'input' ? inputs[r.index]! : values[r.index]!));
    values.push(
      (REFERENCE_KERNELS[instr.op] as Kernel<Op>)(operands, instr.args as OpArgs[Op], { ...ctx, dtype: instr.dtype }),
    );
  }
  const outputs = a.outputs.map((i) => values[i]!);
  if (a.pool) outputs[0] = REFERENCE_KERNELS.maxPool2d([outputs[0]!], a.pool.args, ctx);
  if (a.reduce)
    outputs[0] = reduceWith(outputs[0]!, a.reduce.axes, a.reduce.keepdims, ctx.dtype, REDUCERS[a.reduce.op]);
  return new MultiOutput(outputs[0]!, outputs);
}
