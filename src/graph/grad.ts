import {
  checkGradArguments,
  differentiate,
  disconnectedError,
  type GradOptions as DifferentiateOptions,
} from '../../compiler/grad/grad.js';
import { substitute, toposort } from '../../compiler/ir/graph.js';
import { Node } from '../../compiler/ir/node.js';
import { stabilizeForGradient } from '../../compiler/rewrite/pipeline.js';
import { epsilon } from '../../runtime/config.js';
import { GradError } from '../../runtime/errors.js';
import { checkOptionNames } from '../../runtime/options.js';
import { add, mul, stopGradient, sum, zerosLike } from '../../compiler/ir/build.js';

export interface GradOptions extends DifferentiateOptions {
  /**
   * Differentiate the stable form of the cost (default true): the canonicalize and stabilize rewrites,
   * with Keras's epsilon in force, run on the cost first, so the gradient belongs to the same exact
   * function the compiled value computes. `false` differentiates the graph exactly as written.
   */
  stabilize?: boolean;
  /** Expressions treated as constants: no gradient flows through them (Theano's consider_constant). */
  considerConstant?: readonly Node[];
}

const isVariable = (n: Node) => n.op === 'input' || n.op === 'shared';

/**
 * Symbolic gradients of a scalar `cost` with respect to each of `wrt` (Theano's `T.grad`). The result is
 * a graph, optimized and compiled like any other expression.
 */
export function grad(cost: Node, wrt: Node, options?: GradOptions): Node;
export function grad(cost: Node, wrt: readonly Node[], options?: GradOptions): Node[];
export function grad(cost: Node, wrt: Node | readonly Node[], options: GradOptions = {}): Node | Node[] {
  const targets = Array.isArray(wrt) ? (wrt as readonly Node[]) : [wrt as Node];
  checkOptionNames('grad', options, ['disconnected', 'stabilize', 'considerConstant']);
  checkGradArguments(cost, targets);
  const constants = options.considerConstant ?? [];
  constants.forEach((c, i) => {
    if (!(c instanceof Node)) throw new GradError(`grad: considerConstant[${i}] is not a symbolic expression`);
  });
  if (constants.length) [cost] = substitute([cost], new Map(constants.map((c) => [c, stopGradient(c)]))) as [Node];
  const results =
    options.stabilize === false ? differentiate(cost, targets, options) : differentiateStable(cost, targets, options);
  return Array.isArray(wrt) ? results : results[0]!;
}

function differentiateStable(cost: Node, targets: readonly Node[], options: GradOptions): Node[] {
  const reachable = new Set(toposort([cost]));
  for (const t of targets) if (!reachable.has(t) && options.disconnected !== 'zero') throw disconnectedError(cost, t);
  // An expression the user differentiates with respect to must survive the rewrites as itself: it stands
  // as an input while the rest of the cost is rewritten, and is put back before differentiating.
  const held = new Map<Node, Node>();
  for (const t of targets) {
    if (!isVariable(t) && reachable.has(t))
      held.set(t, Node.leaf('input', { name: 'held', uid: -t.id }, t.type, undefined));
  }
  const [heldCost] = held.size ? substitute([cost], held) : [cost];
  const [stable] = stabilizeForGradient([heldCost!], epsilon(), process.env['TSANO_VERIFY'] === '1');
  const [restored] = held.size ? substitute([stable!], new Map([...held].map(([t, h]) => [h, t]))) : [stable];
  // A rewrite may cancel a dependence the written cost had (where(c, x, x) -> x): its gradient is zero.
  return differentiate(restored!, targets, { ...options, disconnected: 'zero' });
}

export const list = (wrt: Node | readonly Node[]): Node[] => (Array.isArray(wrt) ? [...wrt] : [wrt as Node]);
export const structured = <R>(wrt: Node | readonly Node[], values: R[]): R | R[] =>
  Array.isArray(wrt) ? values : values[0]!;

/**
 * The vector-Jacobian product (Theano's T.Lop): for each of `wrt`, the sum over f's elements of
 * `v · d f / d wrt`, with `v` of f's shape.
 */
export function Lop(f: Node, wrt: Node, v: Node, options?: GradOptions): Node;
export function Lop(f: Node, wrt: readonly Node[], v: Node, options?: GradOptions): Node[];
export function Lop(f: Node, wrt: Node | readonly Node[], v: Node, options: GradOptions = {}): Node | Node[] {
  return structured(wrt, grad(sum(mul(f, v)), list(wrt), { ...options, disconnected: 'zero' }));
}

/**
 * The Jacobian-vector product (Theano's T.Rop): d f / d wrt applied to `v` (one tensor of each
 * wrt's shape), an array of f's shape. Built as the gradient of a vector-Jacobian product with
 * respect to its vector, which is linear in that vector, so the result does not depend on it.
 */
export function Rop(f: Node, wrt: Node | readonly Node[], v: Node | readonly Node[], options: GradOptions = {}): Node {
  const targets = list(wrt);
  const directions = list(v);
  if (directions.length !== targets.length)
    throw new GradError(`Rop: ${targets.length} variables but ${directions.length} directions`);
  const u = Node.leaf('input', { name: 'Rop direction', uid: -f.id }, f.type, undefined);
  const vjp = grad(sum(mul(f, u)), targets, { ...options, disconnected: 'zero' });
  const total = vjp.map((g, k) => sum(mul(g, directions[k]!))).reduce((a, b) => add(a, b));
  const jvp = grad(total, u, { ...options, disconnected: 'zero' });
  // Linear in u: any value of u gives the same result; zeros keep u out of the compiled inputs.
  return substitute([jvp], new Map([[u, zerosLike(f)]]))[0]!;
}
