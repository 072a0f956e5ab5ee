import * as B from '../../ir/build.js';
import { constantNode } from '../../ir/convert.js';
import { Node } from '../../ir/node.js';
import { OP_INFO, type Op, type OpArgs } from '../../ir/ops.js';
import { broadcastShapes } from '../../ir/type.js';
import { anyConstant, cap, constant, constantValue, op, rule, type Rule } from '../pattern.js';
import { REFERENCE_KERNELS, type Kernel } from '../../../runtime/reference/kernels.js';
import { isFloat } from '../../../runtime/dtype.js';
import { resolveSlice } from '../../../runtime/geometry.js';
import { cannotWiden, sameKnownShape, sameShapeSpelling, scalarConst, uniformValue, valueOf } from './helpers.js';

const x = cap('x');
const y = cap('y');

/** Results up to this many elements are folded; bigger ones stay lazy (as Theano keeps big allocations). */
export const FOLD_LIMIT = 4096;

const NOT_FOLDABLE = new Set(['leaf', 'random', 'fused', 'loop']);

/** Evaluates an op whose operands are all constants, through the reference interpreter. */
function fold(node: Node): Node | undefined {
  if (NOT_FOLDABLE.has(OP_INFO[node.op].kind) || node.inputs.length === 0) return undefined;
  if (!node.inputs.every((i) => i.op === 'constant')) return undefined;
  if (!node.shape.every((d) => d !== null) || (node.shape as number[]).reduce((a, b) => a * b, 1) > FOLD_LIMIT)
    return undefined;
  const kernel = REFERENCE_KERNELS[node.op] as Kernel<Op>;
  const value = kernel(node.inputs.map(valueOf), node.args as OpArgs[Op], {
    dtype: node.dtype,
    random: () => {
      throw new Error('internal: random ops are not folded');
    },
  });
  return constantNode(value.dtype === node.dtype ? value : value.astype(node.dtype));
}

const identityPerm = (perm: readonly number[]) => perm.every((p, i) => p === i);
const isEye = (c: Node): boolean => {
  if (c.op !== 'constant' || c.ndim !== 2 || c.shape[0] !== c.shape[1]) return false;
  const v = valueOf(c);
  const n = c.shape[0] as number;
  return Array.prototype.every.call(v.data, (val: number, i: number) => val === (Math.floor(i / n) === i % n ? 1 : 0));
};
const sameAsNode = (candidate: Node, node: Node) =>
  candidate.dtype === node.dtype && sameShapeSpelling(candidate.shape, node.shape);

/** Normal forms: one spelling per expression, so later patterns meet fewer shapes. */
export const canonicalize: readonly Rule[] = [
  // f(constants) -> constant
  rule('constant_folding', 'any', (_m, node) => fold(node)),
  // c + x -> x + c (and for every commutative op): equal expressions become the same node
  rule('constant_right', 'any', (_m, node) => {
    if (!OP_INFO[node.op].commutative || node.inputs.length !== 2) return undefined;
    const [a, b] = node.inputs as [Node, Node];
    return a.op === 'constant' && b.op !== 'constant' ? Node.make(node.op, [b, a], node.args as OpArgs[Op]) : undefined;
  }),
  // x * 1 -> x
  rule('mul_one', op('mul', x, constantValue(1, 'one')), (m, node) =>
    cannotWiden(m.one!, m.x!) && sameAsNode(m.x!, node) ? m.x : undefined,
  ),
  // x + 0 -> x (only -0 + 0 changes: to +0; documented)
  rule(
    'add_zero',
    op(
      'add',
      x,
      constant((v) => v === 0, 'zero'),
    ),
    (m, node) => (cannotWiden(m.zero!, m.x!) && sameAsNode(m.x!, node) ? m.x : undefined),
  ),
  // x - 0 -> x
  rule(
    'sub_zero',
    op(
      'sub',
      x,
      constant((v) => v === 0, 'zero'),
    ),
    (m, node) => (cannotWiden(m.zero!, m.x!) && sameAsNode(m.x!, node) ? m.x : undefined),
  ),
  // x / 1 -> x
  rule('div_one', op('div', x, constantValue(1, 'one')), (m, node) =>
    cannotWiden(m.one!, m.x!) && sameAsNode(m.x!, node) ? m.x : undefined,
  ),
  // x * 0 -> 0 for integers only: NaN * 0 and Inf * 0 are NaN for floats
  rule(
    'mul_zero_int',
    op(
      'mul',
      x,
      constant((v) => v === 0, 'zero'),
    ),
    (m, node) =>
      !isFloat(node.dtype) && cannotWiden(m.zero!, m.x!)
        ? Node.make('broadcastLike', [scalarConst(0, node.dtype), m.x!], {})
        : undefined,
  ),
  // -(-x) -> x
  rule('neg_neg', op('neg', op('neg', x)), (m) => m.x),
  // x - (-y) -> x + y
  rule('sub_neg', op('sub', x, op('neg', y)), (m) => B.add(m.x!, m.y!)),
  // (x * c1) * c2 -> x * (c1 * c2) for scalars of moderate size (no new overflow or underflow)
  rule('mul_constants', op('mul', op('mul', x, anyConstant('c1')), anyConstant('c2')), (m, node) => {
    const [c1, c2] = [uniformValue(m.c1!), uniformValue(m.c2!)];
    if (c1 === undefined || c2 === undefined || !cannotWiden(m.c1!, m.x!) || !cannotWiden(m.c2!, m.x!))
      return undefined;
    const moderate = (v: number) => v !== 0 && Math.abs(v) >= 2 ** -60 && Math.abs(v) <= 2 ** 60;
    if (!moderate(c1) || !moderate(c2)) return undefined;
    return B.mul(m.x!, scalarConst(c1 * c2, node.dtype));
  }),
  // transpose(transpose(x)) -> transpose(x, composed perm), or x
  rule('transpose_transpose', op('transpose', op('transpose', x)), (m, node) => {
    const inner = (node.inputs[0] as Node<'transpose'>).args.perm;
    const outer = (node as Node<'transpose'>).args.perm;
    const perm = outer.map((p) => inner[p]!);
    return identityPerm(perm) ? m.x : B.transpose(m.x!, perm);
  }),
  // transpose(x, identity) -> x
  rule('transpose_identity', op('transpose', x), (m, node) =>
    identityPerm((node as Node<'transpose'>).args.perm) ? m.x : undefined,
  ),
  // dimOf(x) -> its size, once the graph being compiled knows it (a shared variable's may change between compiles)
  rule('dim_of_known', op('dimOf', x), (m, node) => {
    const size = m.x!.shape[(node as Node<'dimOf'>).args.axis];
    return size === null || size === undefined ? undefined : constantNode(size, 'int32');
  }),
  // slice(concat(a, b, ...)) -> slice(b) when the slice reads within one operand: the last step of a
  // loop's stacked outputs (`outputs[-1]`) is that step's value, and the stack need not be built
  rule('slice_of_concat', op('slice', x), (m, node) => {
    const c = m.x!;
    if (c.op !== 'concat') return undefined;
    const axis = (c as Node<'concat'>).args.axis;
    const spec = (node as Node<'slice'>).args;
    const n = c.shape[axis];
    const sizes = c.inputs.map((i) => i.shape[axis]);
    if (n === null || n === undefined || sizes.some((d) => d === null || d === undefined)) return undefined;
    const { start, step, length } = resolveSlice(n, spec.starts[axis]!, spec.stops[axis]!, spec.steps[axis]!);
    if (step < 1 || length < 1) return undefined;
    const last = start + (length - 1) * step;
    let offset = 0;
    for (const operand of c.inputs) {
      const size = operand.shape[axis]!;
      if (start >= offset && last < offset + size) {
        if (operand.dtype !== c.dtype) return undefined;
        const starts = spec.starts.map((s, i) => (i === axis ? start - offset : s));
        const stops = spec.stops.map((s, i) => (i === axis ? last - offset + 1 : s));
        return Node.make('slice', [operand], { starts, stops, steps: spec.steps });
      }
      offset += size;
    }
    return undefined;
  }),
  // identity(x) -> x: a layer call's own node has done its work once the graph is built
  rule('identity_remove', op('identity', x), (m) => m.x),
  // reshape(reshape(x)) -> reshape(x)
  rule('reshape_reshape', op('reshape', op('reshape', x)), (m, node) =>
    B.reshape(m.x!, (node as Node<'reshape'>).args.shape),
  ),
  // reshape(x, shape of x) -> x
  rule('reshape_noop', op('reshape', x), (m, node) => (sameKnownShape(m.x!.shape, node.shape) ? m.x : undefined)),
  // broadcastLike / sumLike / reshapeLike to the shape x already has -> x
  ...(['broadcastLike', 'sumLike', 'reshapeLike'] as const).map((o) =>
    rule(`useless_${o}`, op(o, x, y), (m) => (sameKnownShape(m.x!.shape, m.y!.shape) || m.x === m.y ? m.x : undefined)),
  ),
  // broadcastLike(x, f(y)) -> broadcastLike(x, y) for elementwise f and y of the same known shape: the
  // reference only lends its shape, and need not keep f(y) alive (sum(abs(W))'s gradient then lets abs
  // fuse into its sum instead of being stored)
  ...(['broadcastLike', 'sumLike', 'reshapeLike'] as const).map((o) =>
    rule(`${o}_shape_source`, op(o, x, y), (m) => {
      let ref = m.y!;
      for (;;) {
        const same =
          OP_INFO[ref.op].kind === 'elementwise' && ref.inputs.find((i) => sameKnownShape(i.shape, ref.shape));
        if (!same) break;
        ref = same;
      }
      return ref === m.y ? undefined : Node.make(o, [m.x!, ref], {});
    }),
  ),
  // f(a, broadcastLike(s, ref)) -> f(a, s) for elementwise f whose other operands already give the result's
  // (known) shape: broadcasting does the spreading inside f's kernel, with no array of copies in between
  rule('broadcast_into_elementwise', 'any', (_m, node) => {
    if (OP_INFO[node.op].kind !== 'elementwise' || !node.shape.every((d) => d !== null)) return undefined;
    const k = node.inputs.findIndex((i) => i.op === 'broadcastLike');
    if (k < 0) return undefined;
    const inputs = node.inputs.map((i, j) => (j === k ? i.inputs[0]! : i));
    let shape;
    try {
      shape = broadcastShapes(inputs.map((i) => i.shape));
    } catch {
      return undefined;
    }
    return sameKnownShape(shape, node.shape) ? Node.make(node.op, inputs, node.args as never) : undefined;
  }),
  // sum(broadcastLike(s, ref)) over all axes, s a scalar -> s * size(ref) when the size is known
  rule('sum_of_broadcast', op('sum', op('broadcastLike', x, y)), (m, node) => {
    const a = (node as Node<'sum'>).args;
    if (m.x!.ndim !== 0 || a.axes.length !== m.y!.ndim || !m.y!.shape.every((d) => d !== null)) return undefined;
    if (a.keepdims || m.x!.dtype !== node.dtype) return undefined;
    return B.mul(
      m.x!,
      scalarConst(
        (m.y!.shape as number[]).reduce((p, d) => p * d, 1),
        node.dtype,
      ),
    );
  }),
  // dot(x, I) -> x, dot(I, x) -> x
  rule('dot_identity_right', op('dot', x, y), (m, node) =>
    isEye(m.y!) && m.x!.ndim >= 1 && sameAsNode(m.x!, node) ? m.x : undefined,
  ),
  rule('dot_identity_left', op('dot', x, y), (m, node) =>
    isEye(m.x!) && m.y!.ndim === 2 && sameAsNode(m.y!, node) ? m.y : undefined,
  ),
  // where(c, x, x) -> x
  rule('where_same', op('where', cap('c'), x, x), (m, node) => (sameAsNode(m.x!, node) ? m.x : undefined)),
];
