import { toposort } from '../ir/graph.js';
import { Node } from '../ir/node.js';
import type { Op, OpArgs } from '../ir/ops.js';
import { withOrigin } from '../ir/origin.js';
import { formatShape } from '../ir/type.js';
import { match, rootOp, type RewriteContext, type Rule } from './pattern.js';
import { recordRewrite } from './provenance.js';

/** How often each rule fired, by name. */
export type RuleCounts = Record<string, number>;

/** A rule set indexed by the op at its pattern's root; 'any' rules are tried on every node. */
class RuleIndex {
  private readonly byOp = new Map<Op, Rule[]>();
  private readonly anywhere: Rule[] = [];
  constructor(rules: readonly Rule[]) {
    for (const r of rules) {
      const o = rootOp(r);
      if (o === undefined) this.anywhere.push(r);
      else this.byOp.set(o, [...(this.byOp.get(o) ?? []), r]);
    }
  }
  for(node: Node): readonly Rule[] {
    return [...(this.byOp.get(node.op) ?? []), ...this.anywhere];
  }
}

function checkReplacement(node: Node, replacement: Node, r: Rule): void {
  const same =
    replacement.dtype === node.dtype &&
    replacement.ndim === node.ndim &&
    replacement.shape.every((d, i) => d === null || node.shape[i] === null || d === node.shape[i]);
  if (!same) {
    throw new Error(
      `internal: rewrite '${r.name}' turned ${node.dtype} ${formatShape(node.shape)} into ${replacement.dtype} ${formatShape(replacement.shape)}`,
    );
  }
}

/** The first rule that rewrites `node`, and its replacement. */
function applyOnce(node: Node, index: RuleIndex, ctx: RewriteContext): { rule: Rule; replacement: Node } | undefined {
  for (const r of index.for(node)) {
    const bindings = r.pattern === 'any' ? {} : match(r.pattern, node);
    if (!bindings) continue;
    const replacement = withOrigin(node.origin, () => r.build(bindings, node, ctx));
    if (replacement && replacement !== node) {
      checkReplacement(node, replacement, r);
      return { rule: r, replacement: recordRewrite(replacement, r.name) };
    }
  }
  return undefined;
}

const MAX_PASSES = 50;
const MAX_FIRINGS_PER_NODE = 50;

/**
 * Applies `rules` bottom-up until nothing changes. Nodes are interned, so an unchanged graph is the
 * same objects and "changed?" is `===`. A rule set that keeps rewriting is a bug and is reported.
 */
export function rewriteToFixedPoint(
  roots: readonly Node[],
  rules: readonly Rule[],
  ctx: RewriteContext,
  counts: RuleCounts,
): Node[] {
  const index = new RuleIndex(rules);
  let current = [...roots];
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    const mapped = new Map<Node, Node>();
    const fired: string[] = [];
    for (const node of toposort(current)) {
      const inputs = node.inputs.map((i) => mapped.get(i) ?? i);
      let n = inputs.some((x, i) => x !== node.inputs[i])
        ? Node.make(node.op, inputs, node.args as OpArgs[Op], node.origin)
        : node;
      for (let k = 0; k < MAX_FIRINGS_PER_NODE; k++) {
        const step = applyOnce(n, index, ctx);
        if (!step) break;
        counts[step.rule.name] = (counts[step.rule.name] ?? 0) + 1;
        fired.push(step.rule.name);
        n = step.replacement;
      }
      mapped.set(node, n);
    }
    const next = current.map((r) => mapped.get(r)!);
    if (next.every((r, i) => r === current[i]) && fired.length === 0) return next;
    current = next;
    if (pass === MAX_PASSES - 1)
      throw new Error(
        `internal: rewrites did not reach a fixed point; still firing: ${[...new Set(fired)].join(', ')}`,
      );
  }
  return current;
}
