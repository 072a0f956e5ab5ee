import { isFloat, promote, type DType } from '../../runtime/dtype.js';
import { floatx } from '../../runtime/config.js';
import { declaration, forDeclared } from '../../runtime/declared-ops.js';
import type { NDArray } from '../../runtime/ndarray.js';
import {
  broadcastShapes,
  formatShape,
  normalizeAxes,
  TypeRuleError,
  type Dim,
  type Shape,
  type TensorType,
} from './type.js';
import { convOutputShape, poolOutputShape } from './conv-shape.js';
import { dotShape, matmulShape } from './linalg-shape.js';
import {
  concatShape,
  expandDimsShape,
  gatherShape,
  padShape,
  reduceShape,
  reshapeShape,
  sliceShape,
  squeezeShape,
  transposeShape,
} from './shape-rules.js';

import type {
  ConvArgs,
  FusableReduce,
  FusedArgs,
  FusedInstr,
  FusedProduct,
  FusedRef,
  MatmulArgs,
  Op,
  OpArgs,
  PoolArgs,
  ReduceArgs,
  SharedContainer,
  SliceSpec,
  DynamicSliceArgs,
} from '../../runtime/program.js';

// The op vocabulary is declared with the program the runtime runs; the compiler's code names it from here.
export type * from '../../runtime/program.js';

/**
 * matmul may read an operand with its last two axes swapped, instead of through a transpose node
 * (TensorFlow's transpose_a / transpose_b); the optimizer sets these, so kernels skip the copy.
 */
/** A shape with its last two axes swapped (a matrix transposed, batch axes kept). */
export const swapLastTwo = <D>(s: readonly D[]): D[] =>
  s.length < 2 ? [...s] : [...s.slice(0, -2), s[s.length - 1]!, s[s.length - 2]!];

export type OpKind =
  | 'leaf'
  | 'random'
  | 'elementwise'
  | 'reduce'
  | 'cumulative'
  | 'sort'
  | 'linalg'
  | 'shape'
  | 'nn'
  | 'gradient'
  | 'fused'
  | 'loop';

/** Metadata of one op: passes ask this table, never hand-list ops. */
export interface OpInfo<K extends Op> {
  readonly kind: OpKind;
  /** Number of operands; -1 for variadic (at least one). */
  readonly arity: number;
  readonly commutative?: boolean;
  /** Output type from operand types; throws TypeRuleError. */
  type(inputs: readonly TensorType[], args: OpArgs[K]): TensorType;
  /** Arguments as printed by debugprint, e.g. `axes=[1]`. */
  format?(args: OpArgs[K]): string;
}

const floatOf = (d: DType): DType => (isFloat(d) ? d : floatx());
const promoteAll = (ts: readonly TensorType[]): DType => ts.map((t) => t.dtype).reduce(promote);
const shapesOf = (ts: readonly TensorType[]): Dim[] => broadcastShapes(ts.map((t) => t.shape));

/** How an elementwise op's output dtype follows its operands. */
type ElementwiseDType = 'float' | 'promote' | 'bool';
function elementwise(arity: number, rule: ElementwiseDType, commutative = false): OpInfo<any> {
  return {
    kind: 'elementwise',
    arity,
    commutative,
    type: (ins) => ({
      dtype: rule === 'bool' ? 'bool' : rule === 'promote' ? promoteAll(ins) : floatOf(promoteAll(ins)),
      shape: shapesOf(ins),
    }),
  };
}

function requireFloat(t: TensorType, what: string): void {
  if (!isFloat(t.dtype)) throw new TypeRuleError(`${what} needs a float operand, got ${t.dtype}`, 'dtype');
}

const formatReduce = (a: ReduceArgs) => `axes=[${a.axes.join(',')}]${a.keepdims ? ', keepdims' : ''}`;
/** `identityless` reductions (max, min, argmax, argmin) have no value for an empty axis. */
function reduction(dtype: (t: TensorType) => DType, identityless = false): OpInfo<any> {
  return {
    kind: 'reduce',
    arity: 1,
    type: ([x], a: ReduceArgs) => {
      if (identityless && a.axes.some((axis) => x!.shape[axis] === 0)) {
        throw new TypeRuleError(`reduction over an empty axis has no identity (axes [${a.axes.join(', ')}])`);
      }
      return { dtype: dtype(x!), shape: reduceShape(x!.shape, a.axes, a.keepdims) };
    },
    format: formatReduce,
  };
}

/** Running totals keep the operand's shape and dtype; bools count as int32 (NumPy's cumsum of a mask). */
function cumulative(): OpInfo<'cumsum' | 'cumprod'> {
  return {
    kind: 'cumulative',
    arity: 1,
    type: ([x], a) => {
      normalizeAxes([a.axis], x!.shape.length);
      return { dtype: x!.dtype === 'bool' ? 'int32' : x!.dtype, shape: x!.shape };
    },
    format: (a) => `axis=${a.axis}`,
  };
}

/** The batch axes and the two matrix sizes of a [..., m, n] operand. */
function matrixDims(a: TensorType, op: string): [Dim[], Dim, Dim] {
  if (a.shape.length < 2) throw new TypeRuleError(`${op} needs a matrix (rank ≥ 2), got rank ${a.shape.length}`);
  return [a.shape.slice(0, -2), a.shape[a.shape.length - 2]!, a.shape[a.shape.length - 1]!];
}
/** A batch of square float matrices ([..., n, n]). */
function square(a: TensorType, op: string): TensorType {
  if (a.shape.length < 2) throw new TypeRuleError(`${op} needs a matrix (rank ≥ 2), got rank ${a.shape.length}`);
  const [r, c] = a.shape.slice(-2);
  if (r !== null && c !== null && r !== c) throw new TypeRuleError(`${op} needs square matrices, got ${r}×${c}`);
  return { dtype: floatOf(a.dtype), shape: a.shape };
}
/** A solve's result: [...broadcast batch, n, k] from a square [..., n, n] and a right-hand side [..., n, k]. */
function solveType(a: TensorType, b: TensorType): TensorType {
  square(a, 'solve');
  if (b.shape.length < 2) throw new TypeRuleError(`the right-hand side needs rank ≥ 2, got rank ${b.shape.length}`);
  const n = a.shape[a.shape.length - 1]!;
  const rows = b.shape[b.shape.length - 2]!;
  if (n !== null && rows !== null && n !== rows)
    throw new TypeRuleError(`a ${n}×${n} matrix against a right-hand side of ${rows} rows`);
  return {
    dtype: floatOf(promote(a.dtype, b.dtype)),
    shape: [...broadcastShapes([a.shape.slice(0, -2), b.shape.slice(0, -2)]), n ?? rows, b.shape[b.shape.length - 1]!],
  };
}

const sameType = (t: TensorType): TensorType => t;
function softmaxType(x: TensorType, axis: number): TensorType {
  normalizeAxes([axis], x.shape.length);
  return { dtype: floatOf(x.dtype), shape: x.shape };
}
const like = (t: TensorType, ref: TensorType): TensorType => ({ dtype: t.dtype, shape: ref.shape });
const formatConv = (a: ConvArgs) =>
  `strides=[${a.strides}], padding=${a.padding}, dilation=[${a.dilation}], ${a.dataFormat}`;
const formatPool = (a: PoolArgs) =>
  `pool=[${a.poolSize}], strides=[${a.strides}], padding=${a.padding}, ${a.dataFormat}`;
const formatSlice = (s: SliceSpec) =>
  s.starts.map((st, i) => `${st ?? ''}:${s.stops[i] ?? ''}${s.steps[i] === 1 ? '' : ':' + s.steps[i]}`).join(',');

const formatDynamicSlice = (a: DynamicSliceArgs) => `axis=${a.axis}${a.drop ? ', index' : `, step=${a.step}`}`;

/** A dynamic slice's result shape; its bounds must be int32 scalars, one (an index) or two (start, stop). */
function dynamicSliceShape(shape: Shape, bounds: readonly TensorType[], a: DynamicSliceArgs): Dim[] {
  const [axis] = normalizeAxes([a.axis], shape.length);
  if (bounds.length !== (a.drop ? 1 : 2))
    throw new TypeRuleError(`${bounds.length} bounds for a ${a.drop ? 'index' : 'slice'}`);
  for (const b of bounds) {
    if (b.dtype !== 'int32' || b.shape.length !== 0)
      throw new TypeRuleError(`slice bounds must be int32 scalars, got ${b.dtype} [${b.shape}]`, 'dtype');
  }
  if (!Number.isInteger(a.step) || a.step === 0)
    throw new TypeRuleError(`slice step must be a non-zero integer, got ${a.step}`);
  return a.drop ? shape.filter((_, i) => i !== axis) : shape.map((d, i) => (i === axis ? null : d));
}

function checkConvOperands(x: TensorType, w: TensorType): void {
  if (x.shape.length !== 4) throw new TypeRuleError(`input must be rank 4, got rank ${x.shape.length}`);
  if (w.shape.length !== 4)
    throw new TypeRuleError(`kernel must be rank 4 [kh, kw, in, out], got rank ${w.shape.length}`);
  requireFloat(x, 'conv2d');
}

export const OP_INFO: { readonly [K in Op]: OpInfo<K> } = {
  input: {
    kind: 'leaf',
    arity: 0,
    type: () => {
      throw new TypeRuleError('inputs are created with T.tensor');
    },
  },
  constant: {
    kind: 'leaf',
    arity: 0,
    type: () => {
      throw new TypeRuleError('constants are created with T.constant');
    },
  },
  shared: {
    kind: 'leaf',
    arity: 0,
    type: () => {
      throw new TypeRuleError('shared variables are created with T.shared');
    },
  },
  randomUniformLike: {
    kind: 'random',
    arity: 1,
    type: ([x]) => ({ dtype: floatOf(x!.dtype), shape: x!.shape }),
    format: (a) => `seed=${a.seed}`,
  },

  elu: { ...elementwise(1, 'float'), format: (a) => `alpha=${a.alpha}` },
  ...forDeclared((op) => elementwise(declaration(op).arity, declaration(op).dtype, declaration(op).commutative)),
  cast: {
    kind: 'elementwise',
    arity: 1,
    type: ([x], a) => ({ dtype: a.dtype, shape: x!.shape }),
    format: (a) => a.dtype,
  },

  pow: elementwise(2, 'float'),

  where: {
    kind: 'elementwise',
    arity: 3,
    type: ([c, a, b]) => ({ dtype: promote(a!.dtype, b!.dtype), shape: shapesOf([c!, a!, b!]) }),
  },
  clip: elementwise(3, 'promote'),

  sum: reduction((t) => (t.dtype === 'bool' ? 'int32' : t.dtype)),
  prod: reduction((t) => (t.dtype === 'bool' ? 'int32' : t.dtype)),
  mean: reduction((t) => floatOf(t.dtype)),
  max: reduction((t) => t.dtype, true),
  min: reduction((t) => t.dtype, true),
  logsumexp: reduction((t) => floatOf(t.dtype)),
  argmax: reduction(() => 'int32', true),
  argmin: reduction(() => 'int32', true),
  cumsum: cumulative(),
  cumprod: cumulative(),
  argsort: {
    kind: 'sort',
    arity: 1,
    type: ([x], a) => {
      normalizeAxes([a.axis], x!.shape.length);
      return { dtype: 'int32', shape: x!.shape };
    },
    format: (a) => `axis=${a.axis}${a.descending ? ', descending' : ''}`,
  },
  topkIndices: {
    kind: 'sort',
    arity: 1,
    type: ([x], a) => {
      if (x!.shape.length === 0) throw new TypeRuleError('topk needs at least one axis');
      const n = x!.shape[x!.shape.length - 1];
      if (!Number.isInteger(a.k) || a.k < 0 || (n !== null && n !== undefined && a.k > n))
        throw new TypeRuleError(`k = ${a.k} for rows of ${n ?? 'unknown'} elements`);
      return { dtype: 'int32', shape: [...x!.shape.slice(0, -1), a.k] };
    },
    format: (a) => `k=${a.k}`,
  },
  takeAlongAxis: {
    kind: 'shape',
    arity: 2,
    type: ([x, idx], a) => {
      normalizeAxes([a.axis], x!.shape.length);
      if (idx!.dtype !== 'int32') throw new TypeRuleError(`indices must be int32, got ${idx!.dtype}`, 'dtype');
      if (idx!.shape.length !== x!.shape.length)
        throw new TypeRuleError(`indices of rank ${idx!.shape.length} for an operand of rank ${x!.shape.length}`);
      return { dtype: x!.dtype, shape: idx!.shape };
    },
    format: (a) => `axis=${a.axis}`,
  },

  cholesky: { kind: 'linalg', arity: 1, type: ([a]) => square(a!, 'cholesky') },
  solveTriangular: {
    kind: 'linalg',
    arity: 2,
    type: ([t, b]) => solveType(t!, b!),
    format: (a) =>
      `${a.lower ? 'lower' : 'upper'}${a.transpose ? ', transposed' : ''}${a.unitDiagonal ? ', unit diagonal' : ''}`,
  },
  solve: { kind: 'linalg', arity: 2, type: ([a, b]) => solveType(a!, b!) },
  qr: {
    kind: 'linalg',
    arity: 1,
    type: ([a], args) => {
      const [batch, m, n] = matrixDims(a!, 'qr');
      const k = m === null || n === null ? null : Math.min(m, n);
      const shape = args.part === 'q' ? [m, args.complete ? m : k] : [args.complete ? m : k, n];
      return { dtype: floatOf(a!.dtype), shape: [...batch, ...shape] };
    },
    format: (a) => `${a.part}${a.complete ? ', complete' : ''}`,
  },
  checkFinite: { kind: 'linalg', arity: 1, type: ([x]) => sameType(x!), format: (a) => a.what },
  eigh: {
    kind: 'linalg',
    arity: 1,
    type: ([a], args) => {
      const t = square(a!, 'eigh');
      return args.part === 'values' ? { ...t, shape: t.shape.slice(0, -1) } : t;
    },
    format: (a) => a.part,
  },
  svd: {
    kind: 'linalg',
    arity: 1,
    type: ([a], args) => {
      const [batch, m, n] = matrixDims(a!, 'svd');
      const k = m === null || n === null ? null : Math.min(m, n);
      const shape = args.part === 's' ? [k] : args.part === 'u' ? [m, k] : [k, n];
      return { dtype: floatOf(a!.dtype), shape: [...batch, ...shape] };
    },
    format: (a) => a.part,
  },
  slogdet: {
    kind: 'linalg',
    arity: 1,
    type: ([a]) => ({ ...square(a!, 'slogdet'), shape: a!.shape.slice(0, -2) }),
    format: (a) => a.part,
  },
  dot: {
    kind: 'linalg',
    arity: 2,
    type: ([a, b]) => ({ dtype: promote(a!.dtype, b!.dtype), shape: dotShape(a!.shape, b!.shape) }),
  },
  matmul: {
    kind: 'linalg',
    arity: 2,
    type: ([a, b], f) => ({
      dtype: promote(a!.dtype, b!.dtype),
      shape: matmulShape(
        f.transposeA ? swapLastTwo(a!.shape) : a!.shape,
        f.transposeB ? swapLastTwo(b!.shape) : b!.shape,
      ),
    }),
    format: (f) => [f.transposeA ? 'transposeA' : '', f.transposeB ? 'transposeB' : ''].filter(Boolean).join(', '),
  },

  identity: { kind: 'shape', arity: 1, type: ([x]) => x!, format: (a) => a.label },
  stopGradient: { kind: 'shape', arity: 1, type: ([x]) => x! },
  reshape: {
    kind: 'shape',
    arity: 1,
    type: ([x], a) => ({ dtype: x!.dtype, shape: reshapeShape(x!.shape, a.shape) }),
    format: (a) => `[${a.shape.join(',')}]`,
  },
  transpose: {
    kind: 'shape',
    arity: 1,
    type: ([x], a) => ({ dtype: x!.dtype, shape: transposeShape(x!.shape, a.perm) }),
    format: (a) => `perm=[${a.perm.join(',')}]`,
  },
  expandDims: {
    kind: 'shape',
    arity: 1,
    type: ([x], a) => ({ dtype: x!.dtype, shape: expandDimsShape(x!.shape, a.axis) }),
    format: (a) => `axis=${a.axis}`,
  },
  squeeze: {
    kind: 'shape',
    arity: 1,
    type: ([x], a) => ({ dtype: x!.dtype, shape: squeezeShape(x!.shape, a.axes) }),
    format: (a) => `axes=[${a.axes.join(',')}]`,
  },
  concat: {
    kind: 'shape',
    arity: -1,
    type: (xs, a) => ({
      dtype: promoteAll(xs),
      shape: concatShape(
        xs.map((x) => x.shape),
        a.axis,
      ),
    }),
    format: (a) => `axis=${a.axis}`,
  },
  slice: {
    kind: 'shape',
    arity: 1,
    type: ([x], s) => ({ dtype: x!.dtype, shape: sliceShape(x!.shape, s) }),
    format: formatSlice,
  },
  gather: {
    kind: 'shape',
    arity: 2,
    type: ([x, idx], a) => {
      if (idx!.dtype !== 'int32') throw new TypeRuleError(`indices must be int32, got ${idx!.dtype}`, 'dtype');
      return { dtype: x!.dtype, shape: gatherShape(x!.shape, idx!.shape, a.axis) };
    },
    format: (a) => `axis=${a.axis}`,
  },
  oneHot: {
    kind: 'shape',
    arity: 1,
    type: ([idx], a) => {
      if (idx!.dtype !== 'int32') throw new TypeRuleError(`indices must be int32, got ${idx!.dtype}`, 'dtype');
      if (!Number.isInteger(a.depth) || a.depth < 1)
        throw new TypeRuleError(`depth must be a positive integer, got ${a.depth}`);
      return { dtype: a.dtype, shape: [...idx!.shape, a.depth] };
    },
    format: (a) => `depth=${a.depth}`,
  },
  pad: {
    kind: 'shape',
    arity: 1,
    type: ([x], a) => ({ dtype: x!.dtype, shape: padShape(x!.shape, a.paddings) }),
    format: (a) => `[${a.paddings.map((p) => p.join(':')).join(',')}], value=${a.value}`,
  },
  dimOf: {
    kind: 'shape',
    arity: 1,
    type: ([x], a) => {
      normalizeAxes([a.axis], x!.shape.length);
      return { dtype: 'int32', shape: [] };
    },
    format: (a) => `axis=${a.axis}`,
  },
  arange: {
    kind: 'shape',
    arity: 3,
    type: (bounds, a) => {
      const names = ['start', 'stop', 'step'];
      bounds.forEach((b, i) => {
        if (b.shape.length !== 0) throw new TypeRuleError(`${names[i]} must be a scalar, got shape [${b.shape}]`);
      });
      return { dtype: a.dtype, shape: [null] };
    },
    format: (a) => a.dtype,
  },
  dynamicSlice: {
    kind: 'shape',
    arity: -1,
    type: ([x, ...bounds], a) => ({ dtype: x!.dtype, shape: dynamicSliceShape(x!.shape, bounds, a) }),
    format: formatDynamicSlice,
  },
  loop: {
    kind: 'loop',
    arity: -1,
    type: (_ins, a) => a.loop.types[a.output]!,
    format: (a) => `loop ${a.loop.id}, output ${a.output}`,
  },
  ifelse: {
    kind: 'loop',
    arity: -1,
    type: ([cond, ...branches], a) => {
      if (cond!.dtype !== 'bool' || cond!.shape.some((d) => d !== 1))
        throw new TypeRuleError(`the condition must be a bool scalar, got ${cond!.dtype} ${formatShape(cond!.shape)}`);
      const [then, otherwise] = [branches[a.output]!, branches[a.branches + a.output]!];
      if (then.dtype !== otherwise.dtype || then.shape.length !== otherwise.shape.length)
        throw new TypeRuleError(
          `output ${a.output} is ${then.dtype} ${formatShape(then.shape)} in one branch and ${otherwise.dtype} ${formatShape(otherwise.shape)} in the other`,
        );
      return { dtype: then.dtype, shape: then.shape.map((d, i) => (d === otherwise.shape[i] ? d : null)) };
    },
    format: (a) => `ifelse ${a.id}, output ${a.output} of ${a.branches}`,
  },

  softmax: {
    kind: 'nn',
    arity: 1,
    type: ([x], a) => softmaxType(x!, a.axis),
    format: (a) => `axis=${a.axis}`,
  },
  logSoftmax: {
    kind: 'nn',
    arity: 1,
    type: ([x], a) => softmaxType(x!, a.axis),
    format: (a) => `axis=${a.axis}`,
  },
  conv2d: {
    kind: 'nn',
    arity: 2,
    type: ([x, w], a) => {
      checkConvOperands(x!, w!);
      return { dtype: promote(x!.dtype, w!.dtype), shape: convOutputShape(x!.shape, w!.shape, a) };
    },
    format: formatConv,
  },
  maxPool2d: {
    kind: 'nn',
    arity: 1,
    type: ([x], a) => ({ dtype: x!.dtype, shape: poolOutputShape(x!.shape, a) }),
    format: formatPool,
  },
  avgPool2d: {
    kind: 'nn',
    arity: 1,
    type: ([x], a) => ({ dtype: floatOf(x!.dtype), shape: poolOutputShape(x!.shape, a) }),
    format: formatPool,
  },

  broadcastLike: { kind: 'gradient', arity: 2, type: ([x, ref]) => like(x!, ref!) },
  sumLike: { kind: 'gradient', arity: 2, type: ([x, ref]) => like(x!, ref!) },
  reshapeLike: { kind: 'gradient', arity: 2, type: ([x, ref]) => like(x!, ref!) },
  sliceGrad: { kind: 'gradient', arity: 2, type: ([g, ref]) => like(g!, ref!), format: formatSlice },
  dynamicSliceGrad: {
    kind: 'gradient',
    arity: -1,
    type: ([g, ref, ...bounds], a) => {
      dynamicSliceShape(ref!.shape, bounds, a);
      return like(g!, ref!);
    },
    format: formatDynamicSlice,
  },
  gatherGrad: { kind: 'gradient', arity: 3, type: ([g, , ref]) => like(g!, ref!), format: (a) => `axis=${a.axis}` },
  takeAlongAxisGrad: {
    kind: 'gradient',
    arity: 3,
    type: ([g, , ref]) => like(g!, ref!),
    format: (a) => `axis=${a.axis}`,
  },
  concatPart: {
    kind: 'gradient',
    arity: -1,
    type: ([g, ...refs], a) => like(g!, refs[a.index]!),
    format: (a) => `axis=${a.axis}, part=${a.index}`,
  },
  conv2dGradInput: { kind: 'gradient', arity: 3, type: ([g, , x]) => like(g!, x!), format: formatConv },
  conv2dGradFilter: { kind: 'gradient', arity: 3, type: ([, g, w]) => like(g!, w!), format: formatConv },
  maxPool2dGrad: { kind: 'gradient', arity: 2, type: ([x]) => sameType(x!), format: formatPool },
  avgPool2dGrad: { kind: 'gradient', arity: 2, type: ([g, x]) => like(g!, x!), format: formatPool },

  fused: {
    kind: 'fused',
    arity: -1,
    type: (_xs, a) => a.outputTypes[0]!,
    format: (a) =>
      `${a.product ? `${a.product.op} -> ` : ''}${a.instrs.map((i) => i.op).join(',')}${a.pool ? ' -> maxPool2d[2x2]' : ''}${a.reduce ? ` -> ${a.reduce.op}[${a.reduce.axes}]` : ''}${a.outputs.length > 1 ? `; ${a.outputs.length} outputs` : ''}`,
  },
  fusedOutput: { kind: 'fused', arity: 1, type: (_xs, a) => a.type, format: (a) => `${a.index}` },
};

export const ALL_OPS = Object.keys(OP_INFO) as Op[];
export const isElementwise = (op: Op): boolean => OP_INFO[op].kind === 'elementwise';
export const isLeaf = (op: Op): boolean => OP_INFO[op].kind === 'leaf';
export const isRandom = (op: Op): boolean => OP_INFO[op].kind === 'random';

export type { Shape };
