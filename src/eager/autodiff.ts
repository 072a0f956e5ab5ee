/**
 * TF.js's define-by-run training, done the compiler's way: `tf.grad(f)`, `tf.valueAndGrads(f)`,
 * `tf.variableGrads(f)` and `optimizer.minimize(f)` trace `f` once per input signature into a tsano
 * graph (its tensor arguments symbolic, `tf.variable`s as shared variables), differentiate and
 * compile it, and run the compiled function from then on, as `tf.function` and `jax.jit` do.
 */
import * as T from '../index.js';
import { toposort } from '../../compiler/ir/graph.js';
import type { Optimizer } from '../keras/optimizers.js';
import { TsanoError } from '../../runtime/errors.js';

/** A function traced for differentiation read a tensor's values (its control flow would depend on them). */
export class TracingError extends TsanoError {}

let depth = 0;
/** Whether eager ops are being traced (they build graph nodes instead of computing). */
export const tracing = (): boolean => depth > 0;

function traced<R>(what: string, fn: () => R): R {
  depth++;
  try {
    return fn();
  } catch (e) {
    if (e instanceof TypeError && /is not a function/.test(e.message))
      throw new TracingError(
        `${what}: the function called something a traced tensor does not have (${e.message}); tsano traces it into a graph, so it may use tf's functions and the tensor methods they share`,
      );
    throw e;
  } finally {
    depth--;
  }
}

// A traced tensor has no values: reading them is the one thing tracing cannot follow.
for (const read of ['dataSync', 'data', 'array', 'arraySync'] as const)
  Object.defineProperty(T.Node.prototype, read, {
    value() {
      throw new TracingError(
        `${read}() inside a function tf.grad, tf.variableGrads or minimize differentiates: tsano traces the function into a graph once, so its control flow cannot depend on tensor values (compute the condition with tf.where instead)`,
      );
    },
    configurable: true,
    writable: true,
  });

// TF.js's names of the tensor methods a traced function may call on its (symbolic) tensors.
const TFJS_METHODS: Record<string, (this: T.Node, ...args: never[]) => T.Node> = {
  matMul(this: T.Node, o: T.Node, transposeA?: boolean, transposeB?: boolean) {
    return T.matmul(this, o, { transposeA: !!transposeA, transposeB: !!transposeB });
  },
  argMax(this: T.Node, axis?: number) {
    return T.argmax(this, axis ?? 0);
  },
  argMin(this: T.Node, axis?: number) {
    return T.argmin(this, axis ?? 0);
  },
  asType(this: T.Node, dtype: T.DType) {
    return T.cast(this, dtype);
  },
  toFloat(this: T.Node) {
    return T.cast(this, 'float32');
  },
};
for (const [name, method] of Object.entries(TFJS_METHODS))
  if (!(name in T.Node.prototype))
    Object.defineProperty(T.Node.prototype, name, { value: method, configurable: true, writable: true });

/** A TF.js variable: a tsano shared variable with TF.js's methods. */
export interface Variable extends T.SharedVariable {
  readonly trainable: boolean;
  assign(value: T.NDArray | T.ArrayValue): void;
  read(): T.NDArray;
  dataSync(): T.NDArray['data'];
  arraySync(): ReturnType<T.NDArray['arraySync']>;
  print(): void;
  dispose(): void;
}

const variables: WeakRef<Variable>[] = [];
let unnamed = 0;
const isVariable = (n: T.Node): n is Variable => n.op === 'shared' && 'trainable' in n;

/** tf.variable(initialValue, trainable = true, name?, dtype?). */
export function variable(
  initial: T.NDArray | T.ArrayValue,
  trainable = true,
  name?: string,
  dtype?: T.DType,
): Variable {
  let value = initial instanceof T.NDArray ? initial : T.array(initial as T.ArrayValue);
  if (dtype && value.dtype !== dtype) value = value.astype(dtype);
  const v = T.shared(value, name ?? `Variable_${unnamed++}`, { dtype: value.dtype }) as Variable;
  Object.assign(v, {
    trainable,
    assign(next: T.NDArray | T.ArrayValue) {
      v.set(next instanceof T.NDArray ? next : T.array(next as T.ArrayValue));
    },
    read: () => v.get(),
    dataSync: () => v.get().data,
    arraySync: () => v.get().arraySync(),
    print: () => console.log(v.get().toString()),
    dispose() {},
  });
  variables.push(new WeakRef(v));
  return v;
}

/** An operand for a traced op: a node stays, an array becomes a constant. */
export const symbolic = (o: unknown): T.Node | T.ArrayValue =>
  o instanceof T.Node ? o : o instanceof T.NDArray ? T.constant(o) : (o as T.ArrayValue);

/** An operand for an eager op: a variable is its current value. */
export const concrete = <O>(o: O): O | T.NDArray => (o instanceof T.Node && isVariable(o) ? o.get() : o);

type Tensor = T.NDArray;
type Signature = string;
const signatureOf = (arrays: readonly T.NDArray[], extra = '') =>
  `${arrays.map((a) => `${a.dtype}[${a.shape.join(',')}]`).join(';')}|${extra}`;
const arrayOf = (v: unknown): T.NDArray => (v instanceof T.NDArray ? v : T.array(v as T.ArrayValue));

/** The value of f and its gradients with respect to each argument, compiled once per signature. */
function gradientsOf(f: (...args: Tensor[]) => Tensor, what: string) {
  const cache = new Map<Signature, T.CompiledFunction<T.NDArray[]>>();
  return (args: readonly (Tensor | T.ArrayValue)[], dy?: Tensor | T.ArrayValue): { value: Tensor; grads: Tensor[] } => {
    const arrays = args.map(arrayOf);
    const dyArray = dy === undefined ? undefined : arrayOf(dy);
    const key = signatureOf(arrays, dyArray ? signatureOf([dyArray]) : '');
    let compiled = cache.get(key);
    if (!compiled) {
      const inputs = arrays.map((a, i) => T.tensor(`arg${i}`, { shape: a.shape, dtype: a.dtype }));
      const y = asNode(traced(what, () => f(...(inputs as unknown as Tensor[]))));
      const dyNode = dyArray ? T.tensor('dy', { shape: dyArray.shape, dtype: dyArray.dtype }) : undefined;
      const cost = dyNode ? T.sum(T.mul(y, dyNode)) : T.sum(y);
      const grads = T.grad(cost, inputs, { disconnected: 'zero' });
      compiled = T.compileSync([...inputs, ...(dyNode ? [dyNode] : [])], [y, ...grads]);
      cache.set(key, compiled);
    }
    const [value, ...grads] = compiled(...arrays, ...(dyArray ? [dyArray] : []));
    return { value: value!, grads };
  };
}
const asNode = (v: unknown): T.Node => (v instanceof T.Node ? v : T.constant(arrayOf(v)));

/** tf.grad(f): x ↦ ∂(Σ f(x)·dy)/∂x (dy of ones when not given). */
export const grad = (f: (x: Tensor) => Tensor) => {
  const g = gradientsOf((x) => f(x), 'tf.grad');
  return (x: Tensor | T.ArrayValue, dy?: Tensor | T.ArrayValue): Tensor => g([x], dy).grads[0]!;
};
/** tf.grads(f): the gradients with respect to each argument. */
export const grads = (f: (...args: Tensor[]) => Tensor) => {
  const g = gradientsOf(f, 'tf.grads');
  return (args: readonly (Tensor | T.ArrayValue)[], dy?: Tensor | T.ArrayValue): Tensor[] => g(args, dy).grads;
};
/** tf.valueAndGrad(f): { value, grad }. */
export const valueAndGrad = (f: (x: Tensor) => Tensor) => {
  const g = gradientsOf((x) => f(x), 'tf.valueAndGrad');
  return (x: Tensor | T.ArrayValue, dy?: Tensor | T.ArrayValue) => {
    const { value, grads } = g([x], dy);
    return { value, grad: grads[0]! };
  };
};
/** tf.valueAndGrads(f): { value, grads }. */
export const valueAndGrads = (f: (...args: Tensor[]) => Tensor) => {
  const g = gradientsOf(f, 'tf.valueAndGrads');
  return (args: readonly (Tensor | T.ArrayValue)[], dy?: Tensor | T.ArrayValue) => g(args, dy);
};

/** The trainable variables a traced cost depends on (or those listed), in a stable order. */
function variablesOf(cost: T.Node, varList?: readonly Variable[]): Variable[] {
  if (varList) return [...varList];
  return toposort([cost]).filter((n): n is Variable => isVariable(n) && n.trainable);
}

/** Traces f (no arguments) once per (f, variable list): its value, the variables it reads, their gradients. */
interface TracedCost {
  readonly cost: T.Node;
  readonly vars: Variable[];
  readonly grads: T.Node[];
}
const tracedCosts = new WeakMap<object, Map<string, TracedCost>>();
function traceCost(f: () => Tensor, varList: readonly Variable[] | undefined, what: string): TracedCost {
  let byVars = tracedCosts.get(f);
  if (!byVars) tracedCosts.set(f, (byVars = new Map()));
  const key = varList ? varList.map((v) => v.id).join(',') : '*';
  let entry = byVars.get(key);
  if (!entry) {
    const cost = asNode(traced(what, f));
    if (cost.ndim !== 0)
      throw new TracingError(`${what}: the function must return a scalar, got shape [${cost.shape.join(', ')}]`);
    const vars = variablesOf(cost, varList);
    entry = { cost, vars, grads: T.grad(cost, vars, { disconnected: 'zero' }) };
    byVars.set(key, entry);
  }
  return entry;
}

const gradientFunctions = new WeakMap<TracedCost, T.CompiledFunction<T.NDArray[]>>();
/** tf.variableGrads(f, varList?): the value of f() and its gradients by variable name. */
export function variableGrads(
  f: () => Tensor,
  varList?: readonly Variable[],
): { value: Tensor; grads: Record<string, Tensor> } {
  const entry_ = traceCost(f, varList, 'tf.variableGrads');
  let compiled = gradientFunctions.get(entry_);
  if (!compiled) gradientFunctions.set(entry_, (compiled = T.compileSync([], [entry_.cost, ...entry_.grads])));
  const [value, ...gs] = compiled();
  return { value: value!, grads: Object.fromEntries(entry_.vars.map((v, i) => [v.name!, gs[i]!])) };
}

/** TF.js's optimizer methods on a tsano optimizer: minimize, computeGradients, applyGradients. */
export interface TfjsOptimizer extends Optimizer {
  minimize(f: () => Tensor, returnCost?: boolean, varList?: readonly Variable[]): Tensor | null;
  computeGradients(f: () => Tensor, varList?: readonly Variable[]): { value: Tensor; grads: Record<string, Tensor> };
  applyGradients(grads: Record<string, Tensor> | readonly { name: string; tensor: Tensor }[]): void;
}

/** Adds TF.js's methods to an optimizer: each traced cost compiles one training step (gradients and updates) once. */
export function withMinimize(optimizer: Optimizer): TfjsOptimizer {
  const steps = new WeakMap<TracedCost, T.CompiledFunction<T.NDArray>>();
  const appliers = new Map<string, { vars: Variable[]; fn: T.CompiledFunction<T.NDArray[]> }>();
  return Object.assign(optimizer, {
    minimize(f: () => Tensor, returnCost = false, varList?: readonly Variable[]) {
      const entry_ = traceCost(f, varList, 'minimize');
      let step = steps.get(entry_);
      if (!step) {
        const updates = optimizer.updates(entry_.vars, entry_.grads);
        steps.set(entry_, (step = T.compileSync([], entry_.cost, { updates })));
      }
      optimizer.beforeStep();
      const cost = step();
      return returnCost ? cost : null;
    },
    computeGradients: (f: () => Tensor, varList?: readonly Variable[]) => variableGrads(f, varList),
    applyGradients(grads: Record<string, Tensor> | readonly { name: string; tensor: Tensor }[]) {
      const pairs: [string, Tensor][] = Array.isArray(grads)
        ? (grads as readonly { name: string; tensor: Tensor }[]).map((g) => [g.name, g.tensor])
        : Object.entries(grads as Record<string, Tensor>);
      const live = variables.map((r) => r.deref()).filter((v): v is Variable => v !== undefined);
      const vars = pairs.map(([name]) => {
        const v = live.find((x) => x.name === name);
        if (!v) throw new TracingError(`applyGradients: no variable named '${name}'`);
        return v;
      });
      const key = vars.map((v) => v.id).join(',');
      let applier = appliers.get(key);
      if (!applier) {
        const inputs = vars.map((v, i) => T.tensor(`grad${i}`, { shape: v.shape, dtype: v.dtype }));
        applier = { vars, fn: T.compileSync(inputs, [], { updates: optimizer.updates(vars, inputs) }) };
        appliers.set(key, applier);
      }
      optimizer.beforeStep();
      applier.fn(...pairs.map(([, t]) => t));
    },
  }) as TfjsOptimizer;
}

/** tf.jit(fn): a function of tensors (tf's eager ops inside) traced and compiled once per input signature. */
export const jit = <R extends Tensor | readonly Tensor[]>(fn: (...args: Tensor[]) => R) =>
  T.jitWith(
    (...nodes: T.Node[]) => {
      const out = fn(...(nodes as unknown as Tensor[])) as unknown;
      return (Array.isArray(out) ? out.map(asNode) : asNode(out)) as T.Node | T.Node[];
    },
    (build) => traced('tf.jit', build),
  );
