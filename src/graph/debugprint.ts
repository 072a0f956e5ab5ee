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

const INFIX: Partial<Record<string, string>> = {
  add: '+',
  sub: '-',
  mul: '*',
  div: '/',
  pow: '**',
  eq: '==',
  ne: '!=',
  lt: '<',
  le: '<=',
  gt: '>',
  ge: '>=',
  and: '&',
  or: '|',
};

/**
 * Theano's `pp`: an expression as one line of math, `((x * y) + exp(x))`: names for variables, values
 * for scalar constants, infix for arithmetic and comparisons, calls for the rest.
 */
export function pp(node: Node): string {
  const show = (n: Node): string => {
    if (n.op === 'input' || n.op === 'shared') return n.name ?? n.op;
    if (n.op === 'constant') {
      const value = (n as Node<'constant'>).args.value;
      return value.size === 1 ? String(value.data[0]) : `Constant[${value.shape.join(', ')}]`;
    }
    const infix = INFIX[n.op];
    if (infix && n.inputs.length === 2) return `(${show(n.inputs[0]!)} ${infix} ${show(n.inputs[1]!)})`;
    if (n.op === 'neg') return `-${show(n.inputs[0]!)}`;
    return `${n.op}(${n.inputs.map(show).join(', ')})`;
  };
  return show(node);
}
