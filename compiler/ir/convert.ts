import { Node } from './node.js';
import { isFloat, type DType } from '../../runtime/dtype.js';
import { floatx } from '../../runtime/config.js';
import { NDArray, toNDArray, type ArrayValue } from '../../runtime/ndarray.js';

/** A symbolic node, or a literal value that becomes a constant. */
export type TensorLike = Node | ArrayValue;

/** A constant node holding `value`. */
export function constantNode(value: ArrayValue, dtype?: DType, name?: string): Node<'constant'> {
  const array = toNDArray(value, dtype ? { dtype } : {}, 'constant');
  return Node.leaf('constant', { value: array }, { dtype: array.dtype, shape: array.shape }, name);
}

/**
 * The dtype a bare JS number takes next to symbolic operands (Theano's autocast): it follows a float
 * operand, stays int32 beside ints when integral, else becomes floatx. Booleans are bool.
 */
function literalDType(value: number | boolean, partners: readonly DType[]): DType {
  if (typeof value === 'boolean') return 'bool';
  const floats = partners.filter(isFloat);
  if (floats.length > 0) return floats.includes('float64') ? 'float64' : 'float32';
  if (Number.isInteger(value) && partners.some((d) => d === 'int32')) return 'int32';
  return floatx();
}

/** Converts operands to nodes; literals take their dtype from the symbolic operands beside them. */
export function asNodes(values: readonly TensorLike[]): Node[] {
  const partners = values.filter((v): v is Node => v instanceof Node).map((n) => n.dtype);
  return values.map((v) => {
    if (v instanceof Node) return v;
    if (typeof v === 'number' || typeof v === 'boolean') return constantNode(v, literalDType(v, partners));
    if (v instanceof NDArray || ArrayBuffer.isView(v)) return constantNode(v);
    // nested JS arrays of numbers follow the symbolic operands' float type too
    const array = toNDArray(v, {}, 'constant');
    const wanted = array.dtype === 'bool' ? 'bool' : literalDType(1.5, partners);
    return constantNode(array, wanted);
  });
}

export const asNode = (v: TensorLike): Node => asNodes([v])[0]!;
