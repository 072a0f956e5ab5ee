import { toposort } from './graph.js';
import { describe, Node } from './node.js';
import { OP_INFO, type FusedArgs, type Op, type OpArgs, type OpInfo } from './ops.js';
import { formatShape } from './type.js';

/**
 * Checks graph invariants: every node's recorded type is what its op's type rule gives for its
 * operands, and fused regions only reference inputs and earlier instructions. Run after every pass in tests.
 */
export function verifyGraph(roots: readonly Node[], after: string): void {
  for (const node of toposort(roots)) {
    const info = OP_INFO[node.op] as OpInfo<Op>;
    if (info.kind === 'leaf') continue;
    const type = info.type(
      node.inputs.map((i) => i.type),
      node.args as OpArgs[Op],
    );
    const ok =
      type.dtype === node.dtype &&
      type.shape.length === node.ndim &&
      type.shape.every((d, i) => d === null || node.shape[i] === null || d === node.shape[i]);
    if (!ok) {
      throw new Error(
        `internal (after ${after}): ${describe(node)} records ${node.dtype} ${formatShape(node.shape)} but its op gives ${type.dtype} ${formatShape(type.shape)}`,
      );
    }
    if (node.op === 'fused') {
      const a = node.args as FusedArgs;
      const regionInputs = a.product ? node.inputs.length - 1 : node.inputs.length;
      a.instrs.forEach((instr, k) =>
        instr.inputs.forEach((r) => {
          const bad = r.from === 'input' ? r.index >= regionInputs : r.index >= k;
          if (bad)
            throw new Error(`internal (after ${after}): fused instruction ${k} reads a value that does not exist yet`);
        }),
      );
    }
  }
}
