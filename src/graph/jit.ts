/**
 * `T.jit(fn)`: a JavaScript function of tensors, compiled once per input signature (shapes and dtypes),
 * as `jax.jit` and `tf.function` do: the first call of a signature calls `fn` on symbolic tensors of
 * those shapes and compiles what it builds; later calls of that signature run the compiled function.
 */
import { Node } from '../../compiler/ir/node.js';
import { NDArray } from '../../runtime/ndarray.js';
import { toNDArray, type ArrayValue } from '../../runtime/ndarray.js';
import { compileSync, type CompiledFunction } from './function.js';
import { tensor } from './variables.js';

type Result = Node | readonly Node[];
type Output<R> = R extends readonly Node[] ? NDArray[] : NDArray;

/** `trace` wraps the call of fn while it builds (tsano/tf turns its eager ops symbolic there). */
export function jitWith<R extends Result>(
  fn: (...args: Node[]) => R,
  trace: <V>(build: () => V) => V = (build) => build(),
): (...args: (NDArray | ArrayValue)[]) => Output<R> {
  const cache = new Map<string, { f: CompiledFunction<NDArray | NDArray[]>; many: boolean }>();
  return (...args) => {
    const arrays = args.map((a) => (a instanceof NDArray ? a : toNDArray(a)));
    const key = arrays.map((a) => `${a.dtype}[${a.shape.join(',')}]`).join(';');
    let entry = cache.get(key);
    if (!entry) {
      const inputs = arrays.map((a, i) => tensor(`arg${i}`, { shape: a.shape, dtype: a.dtype }));
      const out = trace(() => fn(...inputs));
      const many = Array.isArray(out);
      entry = { f: compileSync(inputs, many ? [...(out as readonly Node[])] : (out as Node)), many };
      cache.set(key, entry);
    }
    return entry.f(...arrays) as Output<R>;
  };
}

/** T.jit(fn): fn of tensors compiled once per input signature. */
export const jit = <R extends Result>(fn: (...args: Node[]) => R) => jitWith(fn);
