import { GRAPH_ALGEBRA } from '../../ir/build.js';
import { declaration, isDeclaredOp } from '../../../runtime/declared-ops.js';
import { isFloat } from '../../../runtime/dtype.js';
import { rule, type Rule } from '../pattern.js';

/**
 * A composite op of runtime/declared-ops.ts -> its declared decomposition into primitives
 * (tan(x) -> sin(x) / cos(x)). Over int operands a composite stays whole: the reference kernels compute
 * it, as they compute int arithmetic, and its decomposition would pass through floats.
 */
export const decompose: Rule[] = [
  rule('decompose_composites', 'any', (_m, node) => {
    if (!isDeclaredOp(node.op)) return undefined;
    const { decompose: expand, dtype } = declaration(node.op);
    if (!expand || (dtype !== 'bool' && !node.inputs.every((i) => isFloat(i.dtype)))) return undefined;
    return expand(GRAPH_ALGEBRA, ...node.inputs);
  }),
];
