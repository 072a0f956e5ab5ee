/**
 * tsano ops as ONNX nodes: a table over every op (the compiler checks it covers the op set), each
 * entry writing the op's ONNX form through an `OnnxWriter`, or a refusal that says why the op has none.
 * Declared elementwise ops name their ONNX operator, or are written through their stable
 * decomposition (docs/onnx.md lists the accuracy of each).
 */
import type { Node } from '../../compiler/ir/node.js';
import type { Op, OpArgs } from '../../compiler/ir/ops.js';
import { declaration, type DeclaredOp, type OpAlgebra, type Operand } from '../../runtime/declared-ops.js';
import { isFloat, promote, type DType } from '../../runtime/dtype.js';
import { NDArray } from '../../runtime/ndarray.js';
import { OnnxError } from './schema.js';
import { ONNX_OF_DTYPE } from './tensors.js';

/** An attribute value with its ONNX type. */
export type Attribute =
  | { readonly i: number }
  | { readonly f: number }
  | { readonly ints: readonly number[] }
  | { readonly s: string }
  | { readonly t: NDArray };

/** The element types of written values: tsano's dtypes, and the int64 that ONNX's index ops give. */
export type OnnxValueType = DType | 'int64';

/** What an op's exporter writes with: ONNX nodes, initializers and constants, each value with its type. */
export interface OnnxWriter {
  readonly opset: number;
  /** One ONNX node; its output named and typed `type`. */
  emit(
    opType: string,
    inputs: readonly string[],
    type: OnnxValueType,
    attrs?: Readonly<Record<string, Attribute>>,
  ): string;
  /** A node with several outputs, typed `types`. */
  emitOutputs(
    opType: string,
    inputs: readonly string[],
    types: readonly OnnxValueType[],
    attrs?: Readonly<Record<string, Attribute>>,
  ): string[];
  /** A tensor as an initializer. */
  constant(value: NDArray): string;
  /** An int64 vector (shapes, axes, bounds), or an int64 scalar. */
  int64s(values: readonly number[], scalar?: boolean): string;
  /** A scalar of `dtype`. */
  scalar(value: number, dtype: DType): string;
  /** The value `name` as `dtype` (a Cast unless it is already). */
  cast(name: string, dtype: DType): string;
  dtypeOf(name: string): OnnxValueType;
  /** The value of a leaf (constant or shared variable) known at export time, to fold into weights. */
  valueOf(node: Node): NDArray | undefined;
}

/** How one op is exported: from its node and its operands' names, the name of its value. */
type Exporter<K extends Op> = (w: OnnxWriter, n: Node<K>, ins: readonly string[]) => string;
/** An op with no ONNX form: the reason, for the error. */
type Refusal = { readonly refuse: string };

const int = (i: number): Attribute => ({ i });
const float = (f: number): Attribute => ({ f });
const ints = (v: readonly number[]): Attribute => ({ ints: v });

/** The operands cast to one dtype (ONNX's elementwise ops take equal types; tsano promotes). */
const castAll = (w: OnnxWriter, ins: readonly string[], dtype: DType) => ins.map((x) => w.cast(x, dtype));
const tsanoType = (t: OnnxValueType): DType => (t === 'int64' ? 'int32' : t);
const promoted = (w: OnnxWriter, ins: readonly string[]): DType =>
  ins.map((x) => tsanoType(w.dtypeOf(x))).reduce(promote);

/** The ONNX algebra of a decomposition: numbers become scalars of the value's dtype. */
function algebra(w: OnnxWriter, dtype: DType): OpAlgebra<string> {
  const v = (x: Operand<string>) => (typeof x === 'number' ? w.scalar(x, dtype) : x);
  const bin = (op: string) => (a: Operand<string>, b: Operand<string>) => w.emit(op, [v(a), v(b)], dtype);
  const cmp = (op: string) => (a: Operand<string>, b: Operand<string>) => w.emit(op, [v(a), v(b)], 'bool');
  return {
    add: bin('Add'),
    sub: bin('Sub'),
    mul: bin('Mul'),
    div: bin('Div'),
    lt: cmp('Less'),
    gt: cmp('Greater'),
    eq: cmp('Equal'),
    ne: (a, b) => w.emit('Not', [cmp('Equal')(a, b)], 'bool'),
    and: (a, b) => w.emit('And', [a, b], 'bool'),
    where: (c, a, b) => w.emit('Where', [c, v(a), v(b)], dtype),
    neg: (a) => w.emit('Neg', [a], dtype),
    abs: (a) => w.emit('Abs', [a], dtype),
    sqrt: (a) => w.emit('Sqrt', [a], dtype),
    square: (a) => w.emit('Mul', [a, a], dtype),
    sin: (a) => w.emit('Sin', [a], dtype),
    cos: (a) => w.emit('Cos', [a], dtype),
    op: (name, ...xs) => {
      if (!(name in ELEMENTWISE)) throw new OnnxError(`exportOnnx: no ONNX form for '${name}'`);
      return elementwise(w, name as DeclaredOp, xs, dtype);
    },
  };
}

/** log(1 + x) to within a few ulps from Log alone (Goldberg's correction: log(u)·x / (u − 1) with u = 1 + x). */
function log1p(w: OnnxWriter, x: string, dtype: DType): string {
  const d = algebra(w, dtype);
  const u = d.add(x, 1);
  const corrected = d.div(d.mul(w.emit('Log', [u], dtype), x), d.sub(u, 1));
  return d.where(d.eq(u, 1), x, d.where(w.emit('IsInf', [u], 'bool'), u, corrected));
}

/** e^x − 1 to within a few ulps from Exp alone (Kahan's correction: (u − 1)·x / log(u) with u = e^x). */
function expm1(w: OnnxWriter, x: string, dtype: DType): string {
  const d = algebra(w, dtype);
  const u = w.emit('Exp', [x], dtype);
  const um1 = d.sub(u, 1);
  const corrected = d.div(d.mul(um1, x), w.emit('Log', [u], dtype));
  const finite = d.where(d.eq(um1, -1), -1, corrected);
  return d.where(d.eq(u, 1), x, d.where(w.emit('IsInf', [u], 'bool'), u, finite));
}

/** The ONNX form of a declared elementwise op. */
type ElementwiseForm =
  string | { readonly decompose: true } | ((w: OnnxWriter, xs: readonly string[], dtype: DType) => string);

const viaDecomposition = { decompose: true } as const;
const scaledLog =
  (factor: number) =>
  (w: OnnxWriter, [x]: readonly string[], dtype: DType) =>
    w.emit('Mul', [w.emit('Log', [x!], dtype), w.scalar(factor, dtype)], dtype);

/** Every declared op's ONNX form. */
const ELEMENTWISE: { readonly [K in DeclaredOp]: ElementwiseForm } = {
  eq: 'Equal',
  ne: (w, [a, b]) => w.emit('Not', [w.emit('Equal', [a!, b!], 'bool')], 'bool'),
  lt: 'Less',
  le: 'LessOrEqual',
  gt: 'Greater',
  ge: 'GreaterOrEqual',
  and: 'And',
  or: 'Or',
  not: 'Not',
  add: 'Add',
  sub: 'Sub',
  mul: 'Mul',
  div: 'Div',
  maximum: 'Max',
  minimum: 'Min',
  neg: 'Neg',
  exp: 'Exp',
  log: 'Log',
  log1p: (w, [x], dtype) => log1p(w, x!, dtype),
  expm1: (w, [x], dtype) => expm1(w, x!, dtype),
  sqrt: 'Sqrt',
  rsqrt: (w, [x], dtype) => w.emit('Reciprocal', [w.emit('Sqrt', [x!], dtype)], dtype),
  square: (w, [x], dtype) => w.emit('Mul', [x!, x!], dtype),
  abs: 'Abs',
  sign: 'Sign',
  tanh: 'Tanh',
  sigmoid: 'Sigmoid',
  // max(x, 0) + log1p(e^−|x|): finite for every x, where log(1 + e^x) overflows.
  softplus: (w, [x], dtype) => {
    const d = algebra(w, dtype);
    return d.add(w.emit('Relu', [x!], dtype), log1p(w, w.emit('Exp', [d.neg(d.abs(x!))], dtype), dtype));
  },
  relu: 'Relu',
  selu: (w, [x], dtype) =>
    w.emit('Selu', [x!], dtype, { alpha: float(1.6732632423543772), gamma: float(1.0507009873554805) }),
  gelu: (w, [x], dtype) => {
    if (w.opset >= 20) return w.emit('Gelu', [x!], dtype);
    const d = algebra(w, dtype);
    return d.mul(d.mul(x!, 0.5), d.add(w.emit('Erf', [d.mul(x!, Math.SQRT1_2)], dtype), 1));
  },
  erf: 'Erf',
  sin: 'Sin',
  cos: 'Cos',
  reciprocal: 'Reciprocal',
  // log(1 − e^x) for x ≤ 0, by Mächler's split at −log 2.
  log1mexp: (w, [x], dtype) => {
    const d = algebra(w, dtype);
    const near = w.emit('Log', [d.neg(expm1(w, x!, dtype))], dtype);
    const far = log1p(w, d.neg(w.emit('Exp', [x!], dtype)), dtype);
    return d.where(d.gt(x!, -Math.LN2), near, far);
  },
  floor: 'Floor',
  ceil: 'Ceil',
  round: 'Round',
  trunc: (w, [x], dtype) => {
    const d = algebra(w, dtype);
    return d.where(d.lt(x!, 0), w.emit('Ceil', [x!], dtype), w.emit('Floor', [x!], dtype));
  },
  isnan: 'IsNaN',
  isinf: 'IsInf',
  isfinite: viaDecomposition,
  tan: 'Tan',
  atan: 'Atan',
  asin: 'Asin',
  acos: 'Acos',
  atan2: viaDecomposition,
  sinh: 'Sinh',
  cosh: 'Cosh',
  asinh: 'Asinh',
  acosh: 'Acosh',
  atanh: 'Atanh',
  exp2: (w, [x], dtype) => w.emit('Pow', [w.scalar(2, dtype), x!], dtype),
  log2: scaledLog(Math.LOG2E),
  log10: scaledLog(Math.LOG10E),
  // Floor modulo: ONNX's Mod takes it for integers only.
  mod: (w, [a, b], dtype) => {
    if (!isFloat(dtype)) return w.emit('Mod', [a!, b!], dtype, { fmod: int(0) });
    const d = algebra(w, dtype);
    const r = w.emit('Mod', [a!, b!], dtype, { fmod: int(1) });
    const fix = d.and(d.ne(r, 0), d.ne(d.lt(r, 0), d.lt(b!, 0)));
    return d.where(fix, d.add(r, b!), r);
  },
  fmod: (w, [a, b], dtype) => w.emit('Mod', [a!, b!], dtype, { fmod: int(1) }),
  floorDiv: viaDecomposition,
};

const LOGIC: ReadonlySet<DeclaredOp> = new Set(['and', 'or', 'not']);

/** The ONNX nodes of a declared op on operands `xs`, its value of dtype `dtype`. */
export function elementwise(w: OnnxWriter, op: DeclaredOp, xs: readonly string[], dtype: DType): string {
  const decl = declaration(op);
  const form = ELEMENTWISE[op];
  // Logic takes bools; comparisons operands of one promoted type (ONNX orders no bools); arithmetic its result's type.
  const compared = promoted(w, xs);
  const operandType = LOGIC.has(op)
    ? 'bool'
    : decl.dtype === 'bool'
      ? compared === 'bool'
        ? 'int32'
        : compared
      : dtype;
  const operands = castAll(w, xs, operandType);
  if (typeof form === 'string') return w.emit(form, operands, dtype);
  if (typeof form === 'function') return form(w, operands, dtype);
  if (!decl.decompose) throw new OnnxError(`exportOnnx: '${op}' has no decomposition`);
  return decl.decompose(algebra(w, operandType), ...operands);
}

const refuse = (why: string): Refusal => ({ refuse: why });
const GRADIENT = refuse(
  'it is a gradient helper: export the function that computes values, then differentiate after import',
);
const NO_ONNX = (what: string) => refuse(`ONNX has no ${what}`);

/** Reduce*'s axes: an operand from opset 18 (ReduceSum from 13), an attribute before. */
function reduce(opType: string): Exporter<'sum' | 'mean' | 'max' | 'min' | 'prod' | 'logsumexp'> {
  return (w, n, [x]) => {
    if (n.args.axes.length === 0) return w.emit('Identity', [x!], n.dtype);
    const keepdims = int(n.args.keepdims ? 1 : 0);
    const over = (input: string, type: OnnxValueType, op = opType) =>
      w.opset >= (op === 'ReduceSum' ? 13 : 18)
        ? w.emit(op, [input, w.int64s(n.args.axes)], type, { keepdims })
        : w.emit(op, [input], type, { axes: ints(n.args.axes), keepdims });
    const input = w.cast(x!, n.dtype);
    const result = over(input, n.dtype);
    if ((opType !== 'ReduceMax' && opType !== 'ReduceMin') || !isFloat(n.dtype)) return result;
    // tsano's max and min are NaN where any element is (NumPy's); ONNX Runtime's skip NaN.
    const anyNaN = over(w.cast(w.emit('IsNaN', [input], 'bool'), n.dtype), n.dtype, 'ReduceMax');
    return w.emit('Where', [w.cast(anyNaN, 'bool'), w.scalar(NaN, n.dtype), result], n.dtype);
  };
}

function argReduce(opType: 'ArgMax' | 'ArgMin'): Exporter<'argmax' | 'argmin'> {
  return (w, n, [x]) => {
    const { axes, keepdims } = n.args;
    let input = x!;
    let axis = axes[0] ?? 0;
    const rank = n.inputs[0]!.ndim;
    if (axes.length !== 1) {
      // The index into the flattened axes (NumPy's argmax without an axis).
      if (axes.length !== rank)
        throw new OnnxError(`exportOnnx: argmax over ${axes.length} of ${rank} axes has no ONNX form`);
      input = w.emit('Reshape', [x!, w.int64s([-1])], w.dtypeOf(x!));
      axis = 0;
    }
    const idx = w.emit(opType, [input], 'int64', {
      axis: int(axis),
      keepdims: int(keepdims && axes.length === 1 ? 1 : 0),
    });
    const out = w.cast(idx, 'int32');
    return keepdims && axes.length !== 1 ? w.emit('Reshape', [out, w.int64s(n.shape.map(() => 1))], 'int32') : out;
  };
}

/** An NHWC value as NCHW, and back. */
const toChannelsFirst = (w: OnnxWriter, x: string) =>
  w.emit('Transpose', [x], w.dtypeOf(x), { perm: ints([0, 3, 1, 2]) });
const toChannelsLast = (w: OnnxWriter, x: string) =>
  w.emit('Transpose', [x], w.dtypeOf(x), { perm: ints([0, 2, 3, 1]) });

/** A weight in ONNX's [out, in, kh, kw] from tsano's [kh, kw, in, out]: folded when its value is known. */
function oihw(w: OnnxWriter, kernel: Node, name: string, perm: readonly number[]): string {
  const value = w.valueOf(kernel);
  if (!value) return w.emit('Transpose', [name], w.dtypeOf(name), { perm: ints(perm) });
  const shape = perm.map((p) => value.shape[p]!);
  const out = new NDArray(new (value.data.constructor as Float32ArrayConstructor)(value.size), shape, value.dtype);
  const strides = value.shape.map((_, i) => value.shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const idx = [0, 0, 0, 0];
  let k = 0;
  for (idx[0] = 0; idx[0] < shape[0]!; idx[0]++)
    for (idx[1] = 0; idx[1] < shape[1]!; idx[1]++)
      for (idx[2] = 0; idx[2] < shape[2]!; idx[2]++)
        for (idx[3] = 0; idx[3] < shape[3]!; idx[3]++) {
          let at = 0;
          for (let a = 0; a < 4; a++) at += idx[a]! * strides[perm[a]!]!;
          out.data[k++] = value.data[at]!;
        }
  return w.constant(out);
}

/**
 * A depthwise kernel (Keras's DepthwiseConv2D: [kh, kw, C, C·m], zero but for output channels
 * c·m … c·m + m − 1 of input channel c) as a grouped Conv's weight [C·m, 1, kh, kw], or undefined.
 * Read from the values, so any kernel of that form (built by any layer) goes as a grouped Conv.
 */
function depthwise(kernel: NDArray): NDArray | undefined {
  const [kh, kw, c, out] = kernel.shape as [number, number, number, number];
  if (kernel.ndim !== 4 || c < 2 || out % c !== 0) return undefined;
  const m = out / c;
  const at = (y: number, x: number, i: number, o: number) => kernel.data[((y * kw + x) * c + i) * out + o]!;
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < c; i++)
        for (let o = 0; o < out; o++) if (Math.floor(o / m) !== i && at(y, x, i, o) !== 0) return undefined;
  const weight = new NDArray(
    new (kernel.data.constructor as Float32ArrayConstructor)(out * kh * kw),
    [out, 1, kh, kw],
    kernel.dtype,
  );
  for (let o = 0; o < out; o++)
    for (let y = 0; y < kh; y++)
      for (let x = 0; x < kw; x++) weight.data[(o * kh + y) * kw + x] = at(y, x, Math.floor(o / m), o);
  return weight;
}

/** Conv and the pools take NCHW: a channels-last operand is transposed around them. */
function channelsFirst(w: OnnxWriter, last: boolean, x: string, body: (x: string) => string): string {
  return last ? toChannelsLast(w, body(toChannelsFirst(w, x))) : body(x);
}

function windowAttrs(args: OpArgs['conv2d'] | OpArgs['maxPool2d']): Record<string, Attribute> {
  return {
    strides: ints(args.strides),
    auto_pad: { s: args.padding === 'same' ? 'SAME_UPPER' : 'VALID' },
  };
}

/** The slice of one axis as ONNX's Slice operands (open bounds as int64's extremes). */
function sliceOperands(w: OnnxWriter, n: Node<'slice'>, x: string): string {
  const { starts, stops, steps } = n.args;
  const BIG = 2 ** 62;
  const axes = steps.map((_, i) => i);
  const begin = axes.map((i) => starts[i] ?? (steps[i]! > 0 ? 0 : -1));
  const end = axes.map((i) => stops[i] ?? (steps[i]! > 0 ? BIG : -BIG));
  return w.emit('Slice', [x, w.int64s(begin), w.int64s(end), w.int64s(axes), w.int64s(steps)], n.dtype);
}

/** Every non-declared op's ONNX form, or why it has none. */
const STRUCTURAL: {
  readonly [K in Exclude<Op, DeclaredOp>]: Exporter<K> | Refusal;
} = {
  input: refuse('inputs are written as graph inputs'),
  constant: refuse('constants are written as initializers'),
  shared: refuse('shared variables are written as initializers'),
  randomUniformLike: refuse(
    'it draws random numbers: training-only (dropout while training); export the inference graph',
  ),
  elu: (w, n, [x]) => w.emit('Elu', [w.cast(x!, n.dtype)], n.dtype, { alpha: float(n.args.alpha) }),
  cast: (w, n, [x]) => w.cast(x!, n.args.dtype),
  pow: (w, n, ins) => w.emit('Pow', castAll(w, ins, n.dtype), n.dtype),
  where: (w, n, [c, a, b]) => w.emit('Where', [w.cast(c!, 'bool'), w.cast(a!, n.dtype), w.cast(b!, n.dtype)], n.dtype),
  clip: (w, n, ins) => {
    const [x, lo, hi] = castAll(w, ins, n.dtype);
    return w.emit('Min', [w.emit('Max', [x!, lo!], n.dtype), hi!], n.dtype);
  },
  sum: reduce('ReduceSum'),
  // The sum over the count, as tsano computes it: the mean of nothing is 0 / 0 = NaN (NumPy's), where ReduceMean gives 0.
  mean: (w, n, ins) => {
    const total = reduce('ReduceSum')(w, n, ins);
    if (n.args.axes.length === 0) return total;
    const x = n.inputs[0]!;
    const sizes = n.args.axes.map((a) => x.shape[a]);
    const count = sizes.every((d) => d !== null)
      ? w.scalar(
          (sizes as number[]).reduce((p, d) => p * d, 1),
          n.dtype,
        )
      : w.cast(
          w.emit(
            'ReduceProd',
            [w.emit('Gather', [w.emit('Shape', [ins[0]!], 'int64'), w.int64s(n.args.axes)], 'int64')],
            'int64',
            {
              keepdims: int(0),
            },
          ),
          n.dtype,
        );
    return w.emit('Div', [total, count], n.dtype);
  },
  max: reduce('ReduceMax'),
  min: reduce('ReduceMin'),
  prod: reduce('ReduceProd'),
  logsumexp: reduce('ReduceLogSumExp'),
  argmax: argReduce('ArgMax'),
  argmin: argReduce('ArgMin'),
  cumsum: (w, n, [x]) => w.emit('CumSum', [w.cast(x!, n.dtype), w.int64s([n.args.axis], true)], n.dtype),
  cumprod: NO_ONNX('running product'),
  // TopK over the whole axis: ONNX specifies ties by the lower index first, which is a stable order.
  argsort: (w, n, [x]) => {
    const rank = n.inputs[0]!.ndim;
    const axis = n.args.axis < 0 ? n.args.axis + rank : n.args.axis;
    const size = w.emit('Shape', [x!], 'int64', { start: int(axis), end: int(axis + 1) });
    const attrs = { axis: int(axis), largest: int(n.args.descending ? 1 : 0), sorted: int(1) };
    const [, indices] = w.emitOutputs('TopK', [x!, size], [w.dtypeOf(x!), 'int64'], attrs);
    return w.cast(indices!, 'int32');
  },
  topkIndices: (w, n, [x]) => {
    const k = w.int64s([n.args.k]);
    const attrs = { axis: int(-1), largest: int(1), sorted: int(1) };
    const [, indices] = w.emitOutputs('TopK', [x!, k], [w.dtypeOf(x!), 'int64'], attrs);
    return w.cast(indices!, 'int32');
  },
  takeAlongAxis: (w, n, [x, i]) => w.emit('GatherElements', [x!, i!], n.dtype, { axis: int(n.args.axis) }),
  dot: (w, n, [a, b]) => {
    if (n.inputs[1]!.ndim > 2) throw new OnnxError('exportOnnx: dot of an operand of rank > 2 has no one ONNX op');
    return w.emit('MatMul', castAll(w, [a!, b!], n.dtype), n.dtype);
  },
  matmul: (w, n, ins) => {
    let [a, b] = castAll(w, ins, n.dtype);
    const swap = (x: string, rank: number) =>
      w.emit('Transpose', [x], n.dtype, { perm: ints([...Array(rank - 2).keys(), rank - 1, rank - 2]) });
    if (n.args.transposeA) a = swap(a!, n.inputs[0]!.ndim);
    if (n.args.transposeB) b = swap(b!, n.inputs[1]!.ndim);
    return w.emit('MatMul', [a!, b!], n.dtype);
  },
  cholesky: NO_ONNX('Cholesky factorization'),
  solveTriangular: NO_ONNX('triangular solve'),
  solve: NO_ONNX('linear solve'),
  slogdet: NO_ONNX('log-determinant'),
  qr: NO_ONNX('QR factorization'),
  checkFinite: (w, n, [x]) => w.emit('Identity', [x!], n.dtype),
  eigh: NO_ONNX('eigendecomposition'),
  svd: NO_ONNX('singular value decomposition'),
  identity: (w, n, [x]) => w.emit('Identity', [x!], n.dtype),
  stopGradient: (w, n, [x]) => w.emit('Identity', [x!], n.dtype),
  reshape: (w, n, [x]) => w.emit('Reshape', [x!, w.int64s(n.args.shape)], n.dtype),
  transpose: (w, n, [x]) => w.emit('Transpose', [x!], n.dtype, { perm: ints(n.args.perm) }),
  expandDims: (w, n, [x]) => w.emit('Unsqueeze', [x!, w.int64s([n.args.axis])], n.dtype),
  squeeze: (w, n, [x]) =>
    n.args.axes.length === 0
      ? w.emit('Identity', [x!], n.dtype)
      : w.emit('Squeeze', [x!, w.int64s(n.args.axes)], n.dtype),
  concat: (w, n, ins) => w.emit('Concat', castAll(w, ins, n.dtype), n.dtype, { axis: int(n.args.axis) }),
  slice: (w, n, [x]) => sliceOperands(w, n, x!),
  gather: (w, n, [x, i]) => w.emit('Gather', [x!, i!], n.dtype, { axis: int(n.args.axis) }),
  oneHot: (w, n, [i]) => {
    const values = w.constant(new NDArray(Float32Array.of(0, 1), [2], 'float32'));
    // int32 indices take an int32 depth in ONNX Runtime's OneHot kernels.
    const hot = w.emit('OneHot', [i!, w.scalar(n.args.depth, 'int32'), values], 'float32', { axis: int(-1) });
    return w.cast(hot, n.args.dtype);
  },
  pad: (w, n, [x]) => {
    const p = n.args.paddings;
    const pads = w.int64s([...p.map((q) => q[0]), ...p.map((q) => q[1])]);
    return w.emit('Pad', [x!, pads, w.scalar(n.args.value, n.dtype)], n.dtype, { mode: { s: 'constant' } });
  },
  dimOf: (w, n, [x]) => {
    const a = n.args.axis;
    const dim = w.emit('Shape', [x!], 'int64', { start: int(a), end: int(a + 1) });
    return w.cast(w.emit('Squeeze', [dim, w.int64s([0])], 'int64'), 'int32');
  },
  arange: (w, n, ins) => w.emit('Range', castAll(w, ins, n.dtype), n.dtype),
  dynamicSlice: refuse('slices with bounds known only at call time are not exported yet'),
  loop: refuse(
    'loops of a number of steps known only at call time are not exported yet (loops of a known number of steps up to 32 are written out)',
  ),
  ifelse: refuse('lazy ifelse is not exported yet (T.switch is)'),
  softmax: (w, n, [x]) => w.emit('Softmax', [w.cast(x!, n.dtype)], n.dtype, { axis: int(n.args.axis) }),
  logSoftmax: (w, n, [x]) => w.emit('LogSoftmax', [w.cast(x!, n.dtype)], n.dtype, { axis: int(n.args.axis) }),
  conv2d: (w, n, [x, k]) => {
    const last = n.args.dataFormat === 'channelsLast';
    const kernel = w.valueOf(n.inputs[1]!);
    const grouped = kernel && depthwise(kernel);
    const weight = grouped ? w.constant(grouped) : oihw(w, n.inputs[1]!, k!, [3, 2, 0, 1]);
    const group: Record<string, Attribute> = grouped ? { group: int(kernel.shape[2]!) } : {};
    return channelsFirst(w, last, x!, (xc) =>
      w.emit('Conv', [xc, weight], n.dtype, { ...windowAttrs(n.args), dilations: ints(n.args.dilation), ...group }),
    );
  },
  maxPool2d: (w, n, [x]) =>
    channelsFirst(w, n.args.dataFormat === 'channelsLast', x!, (xc) =>
      w.emit('MaxPool', [xc], n.dtype, { ...windowAttrs(n.args), kernel_shape: ints(n.args.poolSize) }),
    ),
  avgPool2d: (w, n, [x]) =>
    channelsFirst(w, n.args.dataFormat === 'channelsLast', x!, (xc) =>
      w.emit('AveragePool', [xc], n.dtype, {
        ...windowAttrs(n.args),
        kernel_shape: ints(n.args.poolSize),
        count_include_pad: int(0),
      }),
    ),
  broadcastLike: (w, n, [x, ref]) => w.emit('Expand', [x!, w.emit('Shape', [ref!], 'int64')], n.dtype),
  sumLike: GRADIENT,
  reshapeLike: (w, n, [x, ref]) => w.emit('Reshape', [x!, w.emit('Shape', [ref!], 'int64')], n.dtype),
  sliceGrad: GRADIENT,
  dynamicSliceGrad: GRADIENT,
  gatherGrad: GRADIENT,
  takeAlongAxisGrad: GRADIENT,
  concatPart: GRADIENT,
  // conv2dTranspose: the input gradient of a convolution is ONNX's ConvTranspose.
  conv2dGradInput: (w, n, [g, k]) => {
    const last = n.args.dataFormat === 'channelsLast';
    if (n.args.dilation.some((d) => d !== 1))
      throw new OnnxError('exportOnnx: a dilated transposed convolution has no ONNX form here');
    // tsano's [kh, kw, out, in] is ONNX's ConvTranspose weight [in, out, kh, kw].
    const weight = oihw(w, n.inputs[1]!, k!, [3, 2, 0, 1]);
    const ref = n.inputs[2]!;
    const [oh, ow] = last ? [ref.shape[1], ref.shape[2]] : [ref.shape[2], ref.shape[3]];
    if (oh === null || ow === null) throw new OnnxError('exportOnnx: a transposed convolution of unknown image size');
    return channelsFirst(w, last, g!, (gc) =>
      w.emit('ConvTranspose', [gc, weight], n.dtype, {
        strides: ints(n.args.strides),
        ...(n.args.padding === 'same' ? { auto_pad: { s: 'SAME_UPPER' } } : {}),
      }),
    );
  },
  conv2dGradFilter: GRADIENT,
  maxPool2dGrad: GRADIENT,
  avgPool2dGrad: GRADIENT,
  fused: refuse('fused regions exist only after optimization; tsano exports the graph as built'),
  fusedOutput: refuse('fused regions exist only after optimization; tsano exports the graph as built'),
};

/** Every tsano op with how it exports: written (an ONNX form) or refused (and why), for docs and tests. */
export function exportStatus(): Readonly<Record<string, 'written' | string>> {
  const structural = Object.entries(STRUCTURAL as Record<string, Exporter<Op> | Refusal>).map(
    ([op, e]) => [op, 'refuse' in e ? e.refuse : 'written'] as const,
  );
  return Object.fromEntries([...Object.keys(ELEMENTWISE).map((op) => [op, 'written'] as const), ...structural]);
}

/** The ONNX nodes of one tsano node, its operands already written under the names `ins`. */
export function exportNode(w: OnnxWriter, n: Node, ins: readonly string[]): string {
  const op = n.op;
  if (op in ELEMENTWISE) return elementwise(w, op as DeclaredOp, ins, n.dtype);
  const entry = STRUCTURAL[op as Exclude<Op, DeclaredOp>] as Exporter<Op> | Refusal;
  if ('refuse' in entry) throw new OnnxError(`exportOnnx: '${op}' cannot be exported: ${entry.refuse}`);
  return entry(w, n, ins);
}

/** The ONNX element type of a dtype (for the writer's value infos). */
export const onnxElementType = (dtype: DType): number => ONNX_OF_DTYPE[dtype];
