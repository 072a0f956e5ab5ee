/**
 * Indexing as NumPy and Theano write it: basic slices with bounds known now or only at call time
 * (`x[i*bs:(i+1)*bs]`), integer indices, and integer arrays (`p[arange(n), y]`); plus the symbolic
 * sizes (`x.shape[0]`) and ranges those expressions are made of.
 */
import { Node } from './node.js';
import type { Op, OpArgs, SliceSpec } from './ops.js';
import { captureOrigin } from './origin.js';
import { asNode, asNodes, constantNode, type TensorLike } from './convert.js';
import { add, cast, gather, ge, lt, mul, neg, or, reshape, squeeze, transpose, where } from './build.js';
import { floatx } from '../../runtime/config.js';
import { allocate, coerce, isDType, isFloat, type DType } from '../../runtime/dtype.js';
import { checkedSize } from '../../runtime/limits.js';
import { DTypeError, ShapeError } from '../../runtime/errors.js';
import { NDArray } from '../../runtime/ndarray.js';

const build = <K extends Op>(op: K, operands: readonly TensorLike[], args: OpArgs[K]): Node =>
  Node.make(op, asNodes(operands), args, captureOrigin());

/** A slice bound: a number, null (open), or an int32 scalar expression known at call time. */
export type Bound = number | null | Node;

/**
 * One axis of an index expression:
 * - a number or an int32 scalar expression: that element (the axis goes);
 * - null: the whole axis; 'a:b:c' text; a [start, stop, step] triple whose bounds may be expressions;
 * - an int32 array or expression of any rank (NumPy's integer-array indexing): the elements it names.
 */
export type IndexSpec = number | null | string | Node | NDArray | readonly [Bound, Bound?, number?];

type Parsed =
  | {
      readonly kind: 'slice';
      readonly start: Bound;
      readonly stop: Bound;
      readonly step: number;
      readonly drop: boolean;
    }
  | { readonly kind: 'array'; readonly indices: Node };

const describeShort = (x: Node) => x.name ?? x.op;
const fmtShape = (x: Node) => `[${x.shape.map((d) => d ?? '?').join(', ')}]`;

function parseSpec(spec: IndexSpec, site: string): Parsed {
  if (typeof spec === 'number') {
    if (!Number.isInteger(spec)) throw new ShapeError(`${site}: index ${spec} is not an integer`);
    return { kind: 'slice', start: spec, stop: spec === -1 ? null : spec + 1, step: 1, drop: true };
  }
  if (spec === null) return { kind: 'slice', start: null, stop: null, step: 1, drop: false };
  if (typeof spec === 'string') {
    const parts = spec.split(':').map((s) => s.trim());
    const num = (s: string | undefined) => (s === undefined || s === '' ? null : Number(s));
    if (parts.length === 1 && /^-?\d+$/.test(parts[0]!)) return parseSpec(Number(parts[0]), site);
    if (parts.length > 3 || parts.some((p) => p !== '' && !/^-?\d+$/.test(p))) {
      throw new ShapeError(`${site}: cannot read slice '${spec}' (write it like '1:5', ':-1' or '::2')`);
    }
    return { kind: 'slice', start: num(parts[0]), stop: num(parts[1]), step: num(parts[2]) ?? 1, drop: false };
  }
  if (spec instanceof Node || spec instanceof NDArray) {
    const node = asIndexNode(spec, site);
    if (node.ndim === 0 && spec instanceof NDArray) return parseSpec(spec.data[0]!, site);
    if (node.ndim === 0) return { kind: 'slice', start: node, stop: null, step: 1, drop: true };
    return { kind: 'array', indices: node };
  }
  if (!Array.isArray(spec)) throw new ShapeError(`${site}: cannot index with ${String(spec)}`);
  const [start = null, stop = null, step = 1] = spec as readonly [Bound?, Bound?, number?];
  if (!Number.isInteger(step) || step === 0)
    throw new ShapeError(`${site}: slice step must be a non-zero integer, got ${step}`);
  for (const b of [start, stop]) if (b instanceof Node) asIndexNode(b, site, true);
  return { kind: 'slice', start, stop, step, drop: false };
}

/** An index operand as an int32 node: integer values only (a float index is a mistake, not a rounding). */
function asIndexNode(value: Node | NDArray, site: string, scalar = false): Node {
  const node = asNode(value);
  if (node.dtype === 'bool') {
    throw new ShapeError(
      `${site}: boolean masks select a number of elements known only from values; use T.where(mask, x, other) instead`,
    );
  }
  if (isFloat(node.dtype)) {
    throw new DTypeError(`${site}: indices must be integers, got ${describeShort(node)} of dtype ${node.dtype}`);
  }
  if (scalar && node.ndim !== 0)
    throw new ShapeError(`${site}: a slice bound must be a scalar, got ${describeShort(node)} ${fmtShape(node)}`);
  return node;
}

/** An int32 scalar: a number or an expression. */
const bound = (b: number | Node): Node => (b instanceof Node ? b : constantNode(b, 'int32'));

/**
 * NumPy-style indexing: `T.index(x, 0, '1:3', null)` is `x[0, 1:3, :]`, `T.index(x, [i.mul(bs), i.add(1).mul(bs)])`
 * is `x[i*bs:(i+1)*bs]`, and `T.index(p, T.arange(n), y)` is `p[arange(n), y]`. Missing trailing axes are
 * taken whole. Integer arrays on several axes are broadcast together; their result axes stand where they
 * are when those axes are adjacent and first otherwise, as in NumPy.
 */
export function index(x: TensorLike, ...specs: IndexSpec[]): Node {
  const node = asNode(x);
  const site = `index(${describeShort(node)} ${fmtShape(node)})`;
  if (specs.length > node.ndim) throw new ShapeError(`${site}: ${specs.length} indices for rank ${node.ndim}`);
  const parsed = node.shape.map((_, i) => parseSpec(i < specs.length ? specs[i]! : null, site));
  parsed.forEach((p, i) => {
    const d = node.shape[i];
    if (p.kind === 'slice' && p.drop && typeof p.start === 'number' && d !== null && (p.start >= d! || p.start < -d!)) {
      throw new ShapeError(`${site}: index ${p.start} is out of range for axis ${i} of size ${d}`);
    }
  });
  const isStatic = (p: Parsed) => p.kind === 'slice' && !(p.start instanceof Node) && !(p.stop instanceof Node);

  // Bounds known now: one static slice over every axis.
  let out = node;
  if (parsed.some((p) => isStatic(p) && !(p.kind === 'slice' && p.start === null && p.stop === null && p.step === 1))) {
    const staticPart = (p: Parsed) => (isStatic(p) && p.kind === 'slice' ? p : undefined);
    const spec: SliceSpec = {
      starts: parsed.map((p) => (staticPart(p)?.start as number | null | undefined) ?? null),
      stops: parsed.map((p) => (staticPart(p)?.stop as number | null | undefined) ?? null),
      steps: parsed.map((p) => staticPart(p)?.step ?? 1),
    };
    out = build('slice', [out], spec);
  }
  // Bounds known at call time: one dynamic slice per axis.
  parsed.forEach((p, axis) => {
    if (p.kind !== 'slice' || isStatic(p) || p.drop) return;
    out = build('dynamicSlice', [out, ...dynamicBounds(out, axis, p)], { axis, step: p.step, drop: false });
  });
  // Axes indexed by one element go, from the last to the first so that the others keep their numbers.
  for (let axis = parsed.length - 1; axis >= 0; axis--) {
    const p = parsed[axis]!;
    if (p.kind !== 'slice' || !p.drop) continue;
    out =
      p.start instanceof Node
        ? build('dynamicSlice', [out, p.start], { axis, step: 1, drop: true })
        : squeeze(out, axis);
  }
  const kept = parsed.filter((p) => !(p.kind === 'slice' && p.drop));
  const arrays = kept.flatMap((p, axis) => (p.kind === 'array' ? [{ axis, indices: p.indices }] : []));
  const result = arrays.length ? advanced(out, arrays, site) : out;
  if (result !== node) SUBTENSORS.set(result, { base: node, advanced: arrays.length > 0 });
  return result;
}

/** Results of `index` and the tensors they index, so that a subtensor update can find where it writes. */
const SUBTENSORS = new WeakMap<Node, { readonly base: Node; readonly advanced: boolean }>();

/**
 * The tensor `sub` indexes, and whether integer arrays took part (elements may repeat), when `sub`
 * is the result of `index`; undefined otherwise. The nodes between them form a chain of first operands.
 */
export const subtensorOf = (sub: Node) => SUBTENSORS.get(sub);

/** Start and stop as int32 scalars, open ends made explicit with Python's meaning for the step's sign. */
function dynamicBounds(x: Node, axis: number, p: { start: Bound; stop: Bound; step: number }): Node[] {
  const size = () => dimOf(x, axis);
  const start = p.start ?? (p.step > 0 ? 0 : -1);
  // An open stop going down ends before element 0: -(n + 1) resolves to -1.
  const stop = p.stop ?? (p.step > 0 ? size() : neg(add(size(), 1)));
  return [bound(start), bound(stop)];
}

/** NumPy's integer-array indexing, over the axes of `x` the arrays index (after basic indexing). */
function advanced(x: Node, arrays: readonly { axis: number; indices: Node }[], site: string): Node {
  const axes = arrays.map((a) => a.axis);
  const adjacent = axes.every((a, k) => k === 0 || a === axes[k - 1]! + 1);
  // The indexed axes brought together (first, when they are apart) and merged into one.
  const first = adjacent ? axes[0]! : 0;
  const others = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const perm = [...others.slice(0, first), ...axes, ...others.slice(first)];
  const moved = perm.every((a, i) => a === i) ? x : transpose(x, perm);
  const sizes = axes.map((a) => x.shape[a] ?? null);
  const inRange = (idx: Node, k: number) => {
    const n = dimOf(x, axes[k]!);
    return { idx: where(lt(idx, 0), add(idx, n), idx), n };
  };
  if (arrays.length === 1) return gather(moved, cast(arrays[0]!.indices, 'int32'), first);
  const kept = moved.shape;
  const before = kept.slice(0, first);
  const after = kept.slice(first + axes.length);
  const unknown = [...before, ...after].filter((d) => d === null).length + (sizes.includes(null) ? 1 : 0);
  if (unknown > 1) {
    throw new ShapeError(
      `${site}: integer arrays on several axes need all but one of the other sizes known when the graph is built`,
    );
  }
  const merged = reshape(moved, [...before.map((d) => d ?? -1), -1, ...after.map((d) => d ?? -1)] as number[]);
  // Row-major position within the merged axes; an index out of range on any axis is sent out of the
  // merged axis's range, so gather reports it instead of reading another row.
  let linear: Node | undefined;
  let total: Node = constantNode(1, 'int32');
  let anyBad: Node | undefined;
  for (let k = arrays.length - 1; k >= 0; k--) {
    const { idx, n } = inRange(cast(arrays[k]!.indices, 'int32'), k);
    const bad = or(lt(idx, 0), ge(idx, n));
    anyBad = anyBad ? or(anyBad, bad) : bad;
    const term = mul(idx, total);
    linear = linear ? add(linear, term) : term;
    total = mul(total, n);
  }
  return gather(merged, where(anyBad!, total, linear!), first);
}

/** The size of one axis: a constant when known now, else an int32 scalar read at call time. */
export function dimOf(x: TensorLike, axis: number): Node {
  const node = asNode(x);
  if (!Number.isInteger(axis) || axis < -node.ndim || axis >= node.ndim) {
    throw new ShapeError(`shape(${describeShort(node)}): axis ${axis} is out of range for rank ${node.ndim}`);
  }
  const a = axis < 0 ? axis + node.ndim : axis;
  const d = node.shape[a];
  // A shared variable's shape may change with set(): its sizes stay symbolic until a compile folds them.
  return d === null || d === undefined || node.op === 'shared'
    ? build('dimOf', [node], { axis: a })
    : constantNode(d, 'int32');
}

/**
 * Theano's `x.shape`: one int32 scalar per axis, constants where the size is known when the graph is
 * built (`T.shape(y)[0]`, or `T.shape(y, 0)` for one axis; `T.stack(T.shape(x))` for the vector).
 */
export function shape(x: TensorLike): Node[];
export function shape(x: TensorLike, axis: number): Node;
export function shape(x: TensorLike, axis?: number): Node[] | Node {
  return axis === undefined ? asNode(x).shape.map((_, i) => dimOf(x, i)) : dimOf(x, axis);
}

/**
 * NumPy's arange: `arange(stop)`, `arange(start, stop, step = 1)`. Bounds may be expressions (a
 * symbolic length); all numbers give a constant. The dtype is int32 when every bound is an integer,
 * else floatx, unless given.
 */
export function arange(start: number | Node, stop?: number | Node, step: number | Node = 1, dtype?: DType): Node {
  if (stop === undefined) [start, stop] = [0, start];
  if (dtype !== undefined && !isDType(dtype)) throw new DTypeError(`arange: unknown dtype '${String(dtype)}'`);
  const bounds = [start, stop, step];
  const integral = bounds.every((b) =>
    b instanceof Node ? b.dtype === 'int32' || b.dtype === 'bool' : Number.isInteger(b),
  );
  const type = dtype ?? (integral ? 'int32' : floatx());
  bounds.forEach((b, i) => {
    if (b instanceof Node && b.ndim !== 0) {
      throw new ShapeError(
        `arange: ${['start', 'stop', 'step'][i]} must be a scalar, got ${describeShort(b)} ${fmtShape(b)}`,
      );
    }
  });
  if (bounds.every((b): b is number => typeof b === 'number')) {
    const [a, b, s] = bounds as [number, number, number];
    if (!(s !== 0 && Number.isFinite(s))) throw new ShapeError(`arange: step must be finite and non-zero, got ${s}`);
    if (!Number.isFinite(a) || !Number.isFinite(b))
      throw new ShapeError(`arange: bounds must be finite, got start ${a} and stop ${b}`);
    const n = Math.max(0, Math.ceil((b - a) / s));
    // The size is checked before anything is allocated, and values go straight into the result's type.
    const values = allocate(type, checkedSize([n], type, `arange(${a}, ${b}, ${s})`));
    for (let i = 0; i < n; i++) values[i] = coerce(a + i * s, type);
    return constantNode(new NDArray(values, [n], type), type);
  }
  return build(
    'arange',
    bounds.map((b) => (b instanceof Node ? cast(b, type) : constantNode(b, type))),
    { dtype: type },
  );
}

/** TensorFlow.js's slice: `size[i]` elements from `begin[i]` (-1 = to the end). */
export function slice(x: TensorLike, begin: readonly number[], size?: readonly number[]): Node {
  const node = asNode(x);
  for (const [name, list] of [
    ['begin', begin],
    ['size', size ?? []],
  ] as const)
    if (!Array.isArray(list) || list.length > node.ndim || list.some((v) => !Number.isInteger(v)))
      throw new ShapeError(
        `slice(${describeShort(node)}): ${name} must list at most ${node.ndim} integers (one per axis), got ${JSON.stringify(list)}`,
      );
  const specs: IndexSpec[] = node.shape.map((_, i) => {
    const b = begin[i] ?? 0;
    const s = size?.[i] ?? -1;
    return [b, s === -1 ? null : b + s, 1] as const;
  });
  return index(node, ...specs);
}
