import type { Node } from '../ir/node.js';

/**
 * Which rewrite made a node of an optimized graph (a rule's name, or a fusion's), for pictures of what
 * the optimizer did. Nodes are interned, so a node two rules make names the last one.
 */
const MADE_BY = new WeakMap<object, string>();

/** Notes that `rewrite` made `made` (a node, or an instruction of a fused region that stands for one). */
export function recordRewrite<T extends Node | object>(made: T, rewrite: string): T {
  MADE_BY.set(made, rewrite);
  return made;
}

/** The rewrite that made a node or a fused instruction, if one did. */
export const rewriteOf = (made: Node | object): string | undefined => MADE_BY.get(made);
