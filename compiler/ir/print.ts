import { Node } from './node.js';
import { OP_INFO, type Op, type OpArgs, type OpInfo } from './ops.js';
import { formatShape } from './type.js';

/** Spreadsheet-style ids: A…Z, AA, AB… as Theano prints them. */
function idName(n: number): string {
  let s = '';
  for (let k = n + 1; k > 0; k = Math.floor((k - 1) / 26)) s = String.fromCharCode(65 + ((k - 1) % 26)) + s;
  return s;
}

export function nodeLabel(node: Node): string {
  switch (node.op) {
    case 'input':
      return (node.args as OpArgs['input']).name || '<input>';
    case 'shared':
      return `${(node.args as OpArgs['shared']).container.name} (shared)`;
    case 'constant': {
      const v = (node.args as OpArgs['constant']).value;
      return v.size <= 4
        ? `Constant{${v.ndim === 0 ? v.data[0] : JSON.stringify(v.toArray())}}`
        : `Constant{${v.dtype}${formatShape(v.shape)}}`;
    }
    default: {
      const info = OP_INFO[node.op] as OpInfo<Op>;
      const args = info.format?.(node.args as OpArgs[Op]);
      return args ? `${node.op}{${args}}` : node.op;
    }
  }
}

/**
 * Theano-style tree: one node a line, children indented under ` |`, an [id X] per node, and a node
 * seen before printed once more by id only, so shared subexpressions are visible.
 */
export function formatTree(roots: readonly Node[], headings: readonly string[] = []): string {
  const ids = new Map<Node, string>();
  const lines: string[] = [];
  const visit = (node: Node, prefix: string, first: string) => {
    const seen = ids.has(node);
    if (!seen) ids.set(node, idName(ids.size));
    const name = node.name && node.op !== 'input' && node.op !== 'shared' ? ` '${node.name}'` : '';
    const type = `${node.dtype} ${formatShape(node.shape)}`;
    lines.push(`${first}${nodeLabel(node)} [id ${ids.get(node)}]${name}${seen ? '' : ' ' + type}`);
    if (seen) return;
    for (const input of node.inputs) visit(input, prefix + ' |', prefix + ' |');
  };
  roots.forEach((r, i) => {
    if (headings[i]) lines.push(headings[i]!);
    visit(r, '', '');
  });
  return lines.join('\n');
}
