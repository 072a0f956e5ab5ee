/**
 * Theano's lazy `ifelse(cond, then, else)`: a choice between two branches (a tensor or a list of them)
 * on a scalar condition, where only the chosen branch is computed. The graph holds one `ifelse` node per
 * output; `T.compile` runs the condition, then the chosen branch's own program, then the rest (see
 * compileBranches in function.ts).
 */
import { ne } from '../../compiler/ir/build.js';
import { asNode, type TensorLike } from '../../compiler/ir/convert.js';
import { Node } from '../../compiler/ir/node.js';
import { formatShape } from '../../compiler/ir/type.js';
import { InputError, ShapeError } from '../../runtime/errors.js';

let choices = 0;

/** `then` when `cond` (a scalar: true, or non-zero) holds, else `otherwise`; only that branch runs. */
export function ifelse(cond: TensorLike, then: TensorLike, otherwise: TensorLike): Node;
export function ifelse(cond: TensorLike, then: readonly TensorLike[], otherwise: readonly TensorLike[]): Node[];
export function ifelse(
  cond: TensorLike,
  then: TensorLike | readonly TensorLike[],
  otherwise: TensorLike | readonly TensorLike[],
): Node | Node[] {
  const c = asNode(cond);
  if (c.shape.some((d) => d !== 1))
    throw new ShapeError(`ifelse: the condition must be a scalar, got shape ${formatShape(c.shape)}`);
  const condition = c.dtype === 'bool' ? c : ne(c, 0);
  const many = Array.isArray(then);
  const [thens, elses] = [then, otherwise].map((b) =>
    (Array.isArray(b) ? b : [b]).map((x: TensorLike) => asNode(x)),
  ) as [Node[], Node[]];
  if (Array.isArray(otherwise) !== many || thens.length !== elses.length)
    throw new InputError(
      `ifelse: both branches must give as many outputs (then gives ${thens.length}, else ${elses.length})`,
    );
  const id = ++choices;
  const outputs = thens.map((_, output) =>
    Node.make('ifelse', [condition, ...thens, ...elses], { branches: thens.length, output, id }),
  );
  return many ? outputs : outputs[0]!;
}
