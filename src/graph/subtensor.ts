/**
 * Theano's set_subtensor and inc_subtensor: the tensor an index expression reads, with the elements
 * it selects replaced or increased. They are built from the index's adjoint (the scatter its
 * gradient is), so they run, differentiate and optimize like any other expression.
 */
import { VJPS, type VJP } from '../../compiler/grad/rules.js';
import { add, cast, div, gt, maximum, onesLike, where } from '../../compiler/ir/build.js';
import { asNode, type TensorLike } from '../../compiler/ir/convert.js';
import { subtensorOf } from '../../compiler/ir/indexing.js';
import { Node } from '../../compiler/ir/node.js';
import { broadcastShapes, TypeRuleError } from '../../compiler/ir/type.js';
import type { Op } from '../../compiler/ir/ops.js';
import { isFloat } from '../../runtime/dtype.js';
import { sameKnownShape } from '../../compiler/rewrite/rules/helpers.js';
import { ShapeError } from '../../runtime/errors.js';

const fmt = (n: Node) => `[${n.shape.map((d) => d ?? '?').join(', ')}]`;
const describe = (n: Node) => n.name ?? n.op;

/** `T.incSubtensor(x.index(...), y)`: x with y added where the index reads (repeated integer indices add up). */
export function incSubtensor(sub: Node, y: TensorLike): Node {
  const { base, values } = prepare('incSubtensor', sub, y);
  return add(base, scatter(sub, base, values));
}

/**
 * `T.setSubtensor(x.index(...), y)`: x with y written where the index reads. An element named more than
 * once by integer arrays gets the mean of the values written to it (NumPy leaves which one wins unsaid).
 */
export function setSubtensor(sub: Node, y: TensorLike): Node {
  const { base, values, advanced } = prepare('setSubtensor', sub, y);
  const count = scatter(sub, base, onesLike(values));
  const written = scatter(sub, base, values);
  const placed = advanced ? cast(div(written, maximum(count, 1)), base.dtype) : written;
  return where(gt(count, 0), placed, base);
}

function prepare(op: string, sub: Node, y: TensorLike) {
  if (!(sub instanceof Node)) throw new ShapeError(`${op}: the first argument must be an expression made by index()`);
  const origin = subtensorOf(sub);
  if (!origin) {
    throw new ShapeError(
      `${op}: ${describe(sub)} is not the result of index(); write ${op}(x.index(...), y) with the part of x to change`,
    );
  }
  const { base } = origin;
  const value = asNode(y);
  let shape;
  try {
    shape = broadcastShapes([value.shape, sub.shape]);
  } catch (e) {
    if (!(e instanceof TypeRuleError)) throw e;
    shape = undefined;
  }
  const fits =
    shape !== undefined &&
    shape.length === sub.ndim &&
    shape.every((d, i) => d === sub.shape[i] || sub.shape[i] === null);
  if (!fits) {
    throw new ShapeError(
      `${op}: ${describe(value)} ${fmt(value)} does not broadcast to the indexed part ${fmt(sub)} of ${describe(base)} ${fmt(base)}`,
    );
  }
  if (isFloat(value.dtype) && !isFloat(base.dtype)) {
    throw new ShapeError(
      `${op}: ${describe(value)} is ${value.dtype} and ${describe(base)} is ${base.dtype}: cast one of them`,
    );
  }
  const typed = cast(value, base.dtype);
  const values = sameKnownShape(typed.shape, sub.shape) ? typed : Node.make('broadcastLike', [typed, sub], {});
  return { base, values, advanced: origin.advanced };
}

/** `values` (shaped like `sub`) carried back to `base`'s shape through the adjoints of the nodes between. */
function scatter(sub: Node, base: Node, values: Node): Node {
  let g = values;
  for (let node = sub; node !== base; node = node.inputs[0]!) {
    if (!node.inputs[0]) throw new ShapeError(`subtensor: ${describe(sub)} no longer reads ${describe(base)}`);
    g = (VJPS[node.op] as VJP<Op>)(node, g)[0]!;
  }
  return g;
}
