import { Node } from '../ir/node.js';
import { OP_INFO, type Op, type OpArgs } from '../ir/ops.js';
import type { NDArray } from '../../runtime/ndarray.js';

/** A pattern over the graph: a capture, a constant test, or an op with operand patterns. */
export type Pattern =
  | { readonly kind: 'capture'; readonly name: string }
  | { readonly kind: 'constant'; readonly name?: string; readonly test: (value: NDArray) => boolean }
  | {
      readonly kind: 'op';
      readonly op: Op;
      readonly inputs: readonly Pattern[];
      readonly name?: string;
      readonly where?: (node: Node) => boolean;
    };

/** Captured nodes by name. */
export type Bindings = Readonly<Record<string, Node>>;

/** A capture: matches any node; the same name twice must be the same node (with interning, the same expression). */
export const cap = (name: string): Pattern => ({ kind: 'capture', name });

/** An op pattern; `name` captures the matched node itself. */
export const op = (o: Op, ...inputs: Pattern[]): Pattern => ({ kind: 'op', op: o, inputs });
export const named = (name: string, p: Pattern): Pattern => ({ ...p, name }) as Pattern;
export const guarded = (p: Pattern, where: (node: Node) => boolean): Pattern => ({ ...p, where }) as Pattern;

/** A constant whose every element passes `test` (scalars and broadcast constants alike). */
export const constant = (test: (v: number) => boolean, name?: string): Pattern => ({
  kind: 'constant',
  name,
  test: (value) => value.size > 0 && Array.prototype.every.call(value.data, (v: number) => test(v)),
});
export const constantValue = (c: number, name?: string) => constant((v) => Object.is(v, c) || v === c, name);
/** Any constant (captured under `name`). */
export const anyConstant = (name: string) => constant(() => true, name);

function bind(into: Record<string, Node>, name: string | undefined, node: Node): boolean {
  if (name === undefined) return true;
  const existing = into[name];
  if (existing && existing !== node) return false;
  into[name] = node;
  return true;
}

/** Matches `pattern` at `node`; commutative binary ops are tried in both operand orders. */
export function match(pattern: Pattern, node: Node, into: Record<string, Node> = {}): Bindings | undefined {
  switch (pattern.kind) {
    case 'capture':
      return bind(into, pattern.name, node) ? into : undefined;
    case 'constant':
      if (node.op !== 'constant' || !pattern.test((node.args as OpArgs['constant']).value)) return undefined;
      return bind(into, pattern.name, node) ? into : undefined;
    case 'op': {
      if (node.op !== pattern.op || node.inputs.length !== pattern.inputs.length) return undefined;
      if (pattern.where && !pattern.where(node)) return undefined;
      const orders =
        OP_INFO[node.op].commutative && node.inputs.length === 2
          ? [
              [0, 1],
              [1, 0],
            ]
          : [node.inputs.map((_, i) => i)];
      for (const order of orders) {
        const attempt: Record<string, Node> = { ...into };
        if (!bind(attempt, pattern.name, node)) continue;
        if (order.every((k, i) => match(pattern.inputs[i]!, node.inputs[k]!, attempt))) {
          Object.assign(into, attempt);
          return into;
        }
      }
      return undefined;
    }
    default:
      return pattern satisfies never;
  }
}

/** What a rule may consult besides the graph: Keras's epsilon at compile time. */
export interface RewriteContext {
  readonly epsilon: number;
}

/**
 * A named rewrite: where `pattern` matches, `build` returns the replacement (or undefined to decline).
 * The replacement must compute the same values with the same dtype and shape.
 */
export interface Rule {
  readonly name: string;
  readonly pattern: Pattern | 'any';
  readonly build: (m: Bindings, node: Node, ctx: RewriteContext) => Node | undefined;
}

export const rule = (name: string, pattern: Pattern | 'any', build: Rule['build']): Rule => ({ name, pattern, build });

/** The root op a rule can fire on, for indexing rule sets. */
export const rootOp = (r: Rule): Op | undefined =>
  r.pattern === 'any' ? undefined : r.pattern.kind === 'op' ? r.pattern.op : undefined;
