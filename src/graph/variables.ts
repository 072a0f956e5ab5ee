import { constantNode } from '../../compiler/ir/convert.js';
import { knownSize, Node } from '../../compiler/ir/node.js';
import { formatShape, type Dim } from '../../compiler/ir/type.js';
import { oversize } from '../../runtime/limits.js';
import { floatx, halfStorage } from '../../runtime/config.js';
import { isDType, isLosslessCast, roundToHalf, type DType } from '../../runtime/dtype.js';
import { DTypeError, ShapeError } from '../../runtime/errors.js';
import { NDArray, toNDArray, type ArrayValue } from '../../runtime/ndarray.js';
import { SharedValue } from '../../runtime/shared-value.js';
import { checkOptionNames } from '../../runtime/options.js';

let nextUid = 1;

function checkDType(dtype: DType, where: string): DType {
  if (!isDType(dtype))
    throw new DTypeError(`${where}: unknown dtype '${String(dtype)}' (use float32, float64, int32 or bool)`);
  return dtype;
}

function checkShape(shape: readonly Dim[], dtype: DType, where: string): Dim[] {
  if (!Array.isArray(shape) || shape.some((d) => d !== null && (!Number.isInteger(d) || d < 0))) {
    throw new ShapeError(`${where}: shape must list non-negative integers or null, got ${JSON.stringify(shape)}`);
  }
  const tooBig = oversize(knownSize({ dtype, shape }), dtype);
  if (tooBig) throw new ShapeError(`${where}: shape ${formatShape(shape)} has ${tooBig}`);
  return [...shape];
}

export interface TensorOptions {
  dtype?: DType;
  /** Static shape; null marks a size known only at call time. */
  shape: readonly Dim[];
}

/** A symbolic input of any rank. */
export function tensor(name: string, options: TensorOptions): Node<'input'> {
  const where = `tensor('${name}')`;
  checkOptionNames(where, options, ['dtype', 'shape']);
  const dtype = checkDType(options.dtype ?? floatx(), where);
  return Node.leaf('input', { name, uid: nextUid++ }, { dtype, shape: checkShape(options.shape, dtype, where) }, name);
}

const ofRank =
  (rank: number) =>
  (name = '', dtype?: DType): Node<'input'> =>
    tensor(name, { dtype: dtype ?? floatx(), shape: new Array<Dim>(rank).fill(null) });

/** A symbolic scalar input. */
export const scalar = ofRank(0);
/** A symbolic 1-D input of unknown length. */
export const vector = ofRank(1);
/** A symbolic 2-D input of unknown size. */
export const matrix = ofRank(2);
export const tensor3 = ofRank(3);
export const tensor4 = ofRank(4);

/** A constant folded into the graph. */
export function constant(value: ArrayValue, dtype?: DType, name?: string): Node<'constant'> {
  if (dtype !== undefined) checkDType(dtype, 'constant');
  return constantNode(value, dtype, name);
}

/** A shared variable: state that lives across calls of compiled functions (`w.get()`, `w.set(v)`). */
export interface SharedVariable extends Node<'shared'> {
  /** The current value (do not mutate it; use set). */
  get(): NDArray;
  /**
   * Replaces the value: of the variable's dtype (or converted losslessly) and rank; the shape may change
   * (Theano's set_value), and functions compiled with the variable recompile for the new shape.
   */
  set(value: ArrayValue): void;
}

/**
 * A shared variable holding `value`. Its dtype is `options.dtype`, else the array's, else for a plain
 * number what the number is, as in Theano (`shared(0)` is int32, `shared(0.5)` floatx).
 */
export function shared(value: ArrayValue, name = 'shared', options: { dtype?: DType } = {}): SharedVariable {
  checkOptionNames(`shared('${name}')`, options, ['dtype']);
  const dtype = options.dtype
    ? checkDType(options.dtype, `shared('${name}')`)
    : typeof value === 'number' && Number.isInteger(value) && Math.abs(value) < 2 ** 31
      ? 'int32'
      : undefined;
  const array = storeRounded(toNDArray(value, dtype ? { dtype } : {}, `shared('${name}')`));
  const container = new SharedValue(name, array);
  const node = Node.leaf(
    'shared',
    { container, uid: nextUid++ },
    { dtype: array.dtype, shape: array.shape },
    name,
  ) as SharedVariable;
  node.get = () => container.value;
  node.set = (v: ArrayValue) => {
    container.value = coerceShared(v, container, name, { newShape: true });
  };
  return node;
}

/** Validates a new value for a shared variable against its dtype and shape (only its rank with `newShape`). */
export function coerceShared(
  v: ArrayValue,
  current: { readonly dtype: DType; readonly shape: readonly number[] },
  name: string,
  options: { readonly newShape?: boolean } = {},
): NDArray {
  const where = `${name}.set`;
  let next: NDArray;
  if (v instanceof NDArray) {
    if (v.dtype !== current.dtype && !isLosslessCast(v.dtype, current.dtype)) {
      throw new DTypeError(
        `${where}: ${name} is ${current.dtype}, got a ${v.dtype} array (convert it with .astype('${current.dtype}'))`,
      );
    }
    next = v.dtype === current.dtype ? v : v.astype(current.dtype);
  } else if (current.dtype === 'int32') {
    // A value the variable's dtype cannot hold is an error, not a silent truncation (int32 set(2.5)).
    const exact = toNDArray(v, { dtype: 'float64' }, where);
    if (exact.data.some((x) => !Number.isInteger(x)))
      throw new DTypeError(`${where}: ${name} is int32, got a value that is not an integer (${String(v)})`);
    next = exact.astype('int32');
  } else {
    next = toNDArray(v, { dtype: current.dtype }, where);
  }
  if (options.newShape && next.ndim !== current.shape.length) {
    throw new ShapeError(
      `${where}: ${name} has rank ${current.shape.length} (shape [${current.shape.join(', ')}]), got [${next.shape.join(', ')}]; its shape may change, its rank may not`,
    );
  }
  if (!options.newShape && (next.ndim !== current.shape.length || next.shape.some((d, i) => d !== current.shape[i]))) {
    throw new ShapeError(`${where}: ${name} has shape [${current.shape.join(', ')}], got [${next.shape.join(', ')}]`);
  }
  return storeRounded(next);
}

/** With Keras floatx 'float16', float32 values (state, a model's outputs) are stored rounded to half precision. */
export function storeRounded(a: NDArray): NDArray {
  if (!halfStorage() || a.dtype !== 'float32') return a;
  const out = new Float32Array(a.size);
  for (let i = 0; i < out.length; i++) out[i] = roundToHalf(a.data[i]!);
  return new NDArray(out, a.shape, 'float32');
}

/** The leaf a graph compiled now reads for shared variable `node`: itself, or one typed with the value's new shape. */
export function sharedAsNow(node: Node<'shared'>): Node<'shared'> {
  const { container } = node.args;
  const now = container.shape;
  if (now.length === node.ndim && now.every((d, i) => d === node.shape[i])) return node;
  const key = now.join(',');
  let byShape = RETYPED.get(container);
  if (!byShape) RETYPED.set(container, (byShape = new Map()));
  let leaf = byShape.get(key);
  if (!leaf) {
    leaf = Node.leaf('shared', { container, uid: nextUid++ }, { dtype: container.dtype, shape: [...now] }, node.name);
    byShape.set(key, leaf);
  }
  return leaf;
}
/** The same leaf for the same container and shape, so that recompiling finds the programs made before. */
const RETYPED = new WeakMap<SharedValue, Map<string, Node<'shared'>>>();
