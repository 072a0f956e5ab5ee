import { Node } from '../../compiler/ir/node.js';
import { formatTree } from '../../compiler/ir/print.js';
import { describe } from '../../compiler/ir/node.js';
import { TsanoError } from '../../runtime/errors.js';
import type { CompiledFunction } from './function.js';

export interface DebugprintOptions {
  /** 'str' returns the text without printing it (Theano's `file='str'`). */
  file?: 'stdout' | 'str';
  /** For a compiled function: the optimized graph ('after', default) or the graph as built ('before'). */
  stage?: 'before' | 'after';
}

/** Prints (and returns) a Theano-style tree of an expression, several expressions, or a compiled function's graph. */
export function debugprint(
  target: Node | readonly Node[] | CompiledFunction<unknown>,
  options: DebugprintOptions = {},
): string {
  let text: string;
  if (target instanceof Node) text = formatTree([target]);
  else if (Array.isArray(target)) text = formatTree(target as readonly Node[]);
  else if (typeof target === 'function' && 'graph' in target) {
    const { outputs, updates } = options.stage === 'before' ? target.graphBefore : target.graph;
    const headings = [
      ...outputs.map((_, i) => (outputs.length > 1 ? `output ${i}:` : '')),
      ...updates.map(([v]) => `update of ${describe(v)}:`),
    ];
    text = formatTree([...outputs, ...updates.map(([, e]) => e)], headings);
  } else {
    throw new TsanoError('debugprint: expected an expression, an array of expressions or a compiled function');
  }
  if (options.file !== 'str') console.log(text);
  return text;
}
