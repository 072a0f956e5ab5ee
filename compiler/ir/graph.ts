import { Node } from './node.js';
import type { Op, OpArgs } from './ops.js';

/**
 * Every node the outputs depend on, operands before users (iterative, so deep graphs cannot overflow the
 * stack). `within(n)` limits the walk: nodes it refuses are left out, and `descend(n)` false keeps a
 * node without its operands.
 */
export function toposort(
  outputs: readonly Node[],
  within: (n: Node) => boolean = () => true,
  descend: (n: Node) => boolean = () => true,
): Node[] {
  const order: Node[] = [];
  const done = new Set<Node>();
  const stack: [Node, number][] = outputs.filter(within).map((o) => [o, 0]);
  stack.reverse();
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const [node, next] = top;
    if (done.has(node)) {
      stack.pop();
      continue;
    }
    if (next < node.inputs.length && descend(node)) {
      top[1]++;
      const child = node.inputs[next]!;
      if (!done.has(child) && within(child)) stack.push([child, 0]);
      continue;
    }
    stack.pop();
    done.add(node);
    order.push(node);
  }
  return order;
}

/**
 * Rebuilds `outputs` bottom-up: `replace(node, rebuilt)` may return a node to stand for `node`
 * (`rebuilt` gives the new version of any node before it); other nodes are remade only where an
 * input changed, so unchanged parts stay the same objects.
 */
export function rebuild(
  outputs: readonly Node[],
  replace: (node: Node, rebuilt: (n: Node) => Node) => Node | undefined,
): Node[] {
  const mapped = new Map<Node, Node>();
  const rebuilt = (n: Node) => mapped.get(n) ?? n;
  for (const node of toposort(outputs)) {
    const replacement = replace(node, rebuilt);
    if (replacement) {
      mapped.set(node, replacement);
      continue;
    }
    const inputs = node.inputs.map(rebuilt);
    const changed = inputs.some((x, i) => x !== node.inputs[i]);
    mapped.set(node, changed ? Node.make(node.op, inputs, node.args as OpArgs[Op], node.origin) : node);
  }
  return outputs.map(rebuilt);
}

/** Rebuilds `outputs` with some nodes replaced (Theano's `givens`/`clone(replace=…)`). */
export function substitute(outputs: readonly Node[], replacements: ReadonlyMap<Node, Node>): Node[] {
  return rebuild(outputs, (node) => replacements.get(node));
}

/**
 * `substitute` for a caller that substitutes the same keys again and again as its graph grows (a loop
 * built out step by step): `unaffected` holds nodes known to depend on no key, which are neither
 * walked nor remade, and gains the nodes this call finds unaffected. The caller clears it when the
 * keys change. Without it, each step would walk every step before it.
 */
export function substituteGrowing(
  outputs: readonly Node[],
  replacements: ReadonlyMap<Node, Node>,
  unaffected: Set<Node>,
): Node[] {
  if (replacements.size === 0) return [...outputs];
  const order = toposort(
    outputs,
    (n) => !unaffected.has(n),
    (n) => !replacements.has(n),
  );
  const mapped = new Map<Node, Node>();
  const rebuilt = (n: Node) => mapped.get(n) ?? n;
  for (const node of order) {
    const replacement = replacements.get(node);
    if (replacement) {
      mapped.set(node, replacement);
      continue;
    }
    const inputs = node.inputs.map(rebuilt);
    if (inputs.every((x, i) => x === node.inputs[i])) unaffected.add(node);
    else mapped.set(node, Node.make(node.op, inputs, node.args as OpArgs[Op], node.origin));
  }
  return outputs.map(rebuilt);
}

/** The leaves of a given op among the ancestors of `outputs`. */
export function leavesOf<K extends 'input' | 'shared'>(outputs: readonly Node[], op: K): Node<K>[] {
  return toposort(outputs).filter((n): n is Node<K> => n.op === op);
}
