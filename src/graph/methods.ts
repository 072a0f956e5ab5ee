/**
 * Chainable method forms (`x.add(y).sum(1)`) over the function forms in compiler/ir/build.ts.
 * They are attached to the node class here, so the IR itself stays free of API surface.
 */
import * as B from '../../compiler/ir/build.js';
import * as I from '../../compiler/ir/indexing.js';
import type { IndexSpec } from '../../compiler/ir/indexing.js';
import type { TensorLike } from '../../compiler/ir/convert.js';
import { Node } from '../../compiler/ir/node.js';
import type { DType } from '../../runtime/dtype.js';
import { ShapeError } from '../../runtime/errors.js';
import { DECLARED_OP_NAMES, type DECLARED_OPS, type DeclaredOp } from '../../runtime/declared-ops.js';

type Axis = number | readonly number[];

/** `x.floor()`, `y.atan2(x)`: a method for every op of runtime/declared-ops.ts, its first operand the node. */
type DeclaredMethods = {
  readonly [K in DeclaredOp]: (typeof DECLARED_OPS)[K]['arity'] extends 1 ? () => Node : (o: TensorLike) => Node;
};

declare module '../../compiler/ir/node.js' {
  interface Node extends DeclaredMethods {
    pow(o: TensorLike): Node;
    clip(lo: TensorLike, hi: TensorLike): Node;
    cast(dtype: DType): Node;
    sum(axis?: Axis, keepdims?: boolean): Node;
    mean(axis?: Axis, keepdims?: boolean): Node;
    max(axis?: Axis, keepdims?: boolean): Node;
    min(axis?: Axis, keepdims?: boolean): Node;
    prod(axis?: Axis, keepdims?: boolean): Node;
    logsumexp(axis?: Axis, keepdims?: boolean): Node;
    variance(axis?: Axis, keepdims?: boolean): Node;
    std(axis?: Axis, keepdims?: boolean): Node;
    argmax(axis?: number, keepdims?: boolean): Node;
    argmin(axis?: number, keepdims?: boolean): Node;
    dot(o: TensorLike): Node;
    matmul(o: TensorLike): Node;
    reshape(shape: readonly number[]): Node;
    transpose(perm?: readonly number[]): Node;
    /** The transpose (axes reversed). */
    readonly T: Node;
    flatten(ndim?: number): Node;
    expandDims(axis: number): Node;
    squeeze(axis?: Axis): Node;
    slice(begin: readonly number[], size?: readonly number[]): Node;
    index(...specs: IndexSpec[]): Node;
    gather(indices: TensorLike, axis?: number): Node;
    softmax(axis?: number): Node;
    logSoftmax(axis?: number): Node;
    /**
     * Theano's dimshuffle: the axes to keep in their new order, with 'x' for a new axis of size 1;
     * an axis left out must have size 1 (`x.dimshuffle('x', 0)` makes a row of a vector).
     */
    dimshuffle(...pattern: (number | 'x')[]): Node;
  }
}

type Methods = Omit<
  Node,
  DeclaredOp | 'T' | 'id' | 'op' | 'inputs' | 'args' | 'type' | 'origin' | 'name' | 'dtype' | 'shape' | 'ndim' | 'named'
>;

const binary = (f: (a: TensorLike, b: TensorLike) => Node) =>
  function (this: Node, o: TensorLike) {
    return f(this, o);
  };
const unary = (f: (a: TensorLike) => Node) =>
  function (this: Node) {
    return f(this);
  };
const reduce = (f: (x: TensorLike, axis?: Axis, keepdims?: boolean) => Node) =>
  function (this: Node, axis?: Axis, keepdims?: boolean) {
    return f(this, axis, keepdims);
  };

const methods: { [K in keyof Methods]: Methods[K] } & ThisType<Node> = {
  pow: binary(B.pow),
  clip(lo, hi) {
    return B.clip(this, lo, hi);
  },
  cast(dtype) {
    return B.cast(this, dtype);
  },
  sum: reduce(B.sum),
  mean: reduce(B.mean),
  max: reduce(B.max),
  min: reduce(B.min),
  prod: reduce(B.prod),
  logsumexp: reduce(B.logsumexp),
  variance: reduce(B.variance),
  std: reduce(B.std),
  argmax(axis, keepdims) {
    return B.argmax(this, axis, keepdims);
  },
  argmin(axis, keepdims) {
    return B.argmin(this, axis, keepdims);
  },
  dot: binary(B.dot),
  matmul: binary(B.matmul),
  reshape(shape) {
    return B.reshape(this, shape);
  },
  transpose(perm) {
    return B.transpose(this, perm);
  },
  flatten(ndim) {
    return B.flatten(this, ndim);
  },
  expandDims(axis) {
    return B.expandDims(this, axis);
  },
  squeeze(axis) {
    return B.squeeze(this, axis);
  },
  slice(begin, size) {
    return I.slice(this, begin, size);
  },
  index(...specs) {
    return I.index(this, ...specs);
  },
  gather(indices, axis) {
    return B.gather(this, indices, axis);
  },
  softmax(axis) {
    return B.softmax(this, axis);
  },
  logSoftmax(axis) {
    return B.logSoftmax(this, axis);
  },
  dimshuffle(...pattern) {
    return dimshuffle(this, pattern);
  },
};

function dimshuffle(x: Node, pattern: readonly (number | 'x')[]): Node {
  const where = `dimshuffle(${pattern.map((p) => JSON.stringify(p)).join(', ')}) of ${x.name ?? 'a tensor'} [${x.shape.map((d) => d ?? '?').join(', ')}]`;
  const kept = pattern.filter((p): p is number => p !== 'x');
  kept.forEach((a) => {
    if (!Number.isInteger(a) || a < 0 || a >= x.ndim) throw new ShapeError(`${where}: ${a} is not an axis`);
  });
  if (new Set(kept).size !== kept.length) throw new ShapeError(`${where}: an axis is listed twice`);
  const dropped = x.shape.flatMap((_, a) => (kept.includes(a) ? [] : [a]));
  const wide = dropped.find((a) => x.shape[a] !== 1);
  if (wide !== undefined)
    throw new ShapeError(
      `${where}: axis ${wide} is left out, so it must have size 1, not ${x.shape[wide] ?? 'unknown'}`,
    );
  let out = dropped.length ? B.squeeze(x, dropped) : x;
  // The kept axes, numbered after the squeeze, in the pattern's order.
  const renumbered = kept.map((a) => a - dropped.filter((d) => d < a).length);
  if (renumbered.some((a, i) => a !== i)) out = B.transpose(out, renumbered);
  pattern.forEach((p, i) => {
    if (p === 'x') out = B.expandDims(out, i);
  });
  return out;
}

Object.assign(Node.prototype, methods);
for (const op of DECLARED_OP_NAMES) {
  const build = B.DECLARED_BUILDERS[op] as (...operands: TensorLike[]) => Node;
  Object.defineProperty(Node.prototype, op, {
    value(this: Node, ...others: TensorLike[]) {
      return build(this, ...others);
    },
    writable: true,
    configurable: true,
  });
}
Object.defineProperty(Node.prototype, 'T', {
  get(this: Node) {
    return B.transpose(this);
  },
});
