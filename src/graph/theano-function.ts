/**
 * Theano's `theano.function` extras over `compile`: inputs with default values (`T.In(x, { value })`),
 * and `f.copy({ swap, deleteUpdates })`, the same function over other shared variables or without its
 * updates (Theano's Function.copy).
 */
import { Node } from '../../compiler/ir/node.js';
import type { ArrayValue } from '../../runtime/ndarray.js';
import { InputError } from '../../runtime/errors.js';
import { checkOptionNames } from '../../runtime/options.js';
import * as base from './function.js';

/** An input with a default value: calls may leave it out (it and every input after it must have one). */
export class In {
  constructor(
    readonly variable: Node,
    readonly value: ArrayValue,
  ) {}
}
/** Theano's `In(x, value=…)`: `T.compile([x, T.In(y, { value: 1 })], …)` lets calls omit y. */
export function inputWithDefault(variable: Node, options: { value: ArrayValue }): In {
  checkOptionNames('In', options, ['value']);
  if (!(variable instanceof Node)) throw new InputError('In: the first argument is the input variable');
  return new In(variable, options.value);
}

export interface CopyOptions {
  /** Shared variables to use in place of others, [old, new] pairs or a Map (Theano's swap). */
  readonly swap?: readonly (readonly [Node, Node])[] | ReadonlyMap<Node, Node>;
  /** Leave the updates out (Theano's delete_updates). */
  readonly deleteUpdates?: boolean;
}

/** A compiled function that may take default inputs, and copies itself (Theano's Function.copy). */
export type TheanoFunction<R> = base.CompiledFunction<R> & {
  copy(options?: CopyOptions): TheanoFunction<R>;
};

type Input = Node | In;
type Result<O> = O extends Node
  ? import('../../runtime/ndarray.js').NDArray
  : import('../../runtime/ndarray.js').NDArray[];

function extend<O extends Node | readonly Node[]>(
  inputs: readonly Input[],
  outputs: O,
  options: base.CompileOptions,
  f: base.CompiledFunction<Result<O>>,
): TheanoFunction<Result<O>> {
  const defaults = inputs.map((i) => (i instanceof In ? i.value : undefined));
  const first = defaults.findIndex((d) => d !== undefined);
  if (first >= 0 && defaults.slice(first).some((d) => d === undefined))
    throw new InputError(
      'compile: an input without a default value follows one with a default (Theano has the same rule)',
    );
  let call: base.CompiledFunction<Result<O>> = f;
  if (first >= 0) {
    const withDefaults = (...args: ArrayValue[]) => f(...args, ...(defaults.slice(args.length) as ArrayValue[]));
    Object.defineProperties(withDefaults, Object.getOwnPropertyDescriptors(f));
    call = withDefaults as unknown as base.CompiledFunction<Result<O>>;
  }
  return Object.assign(call, {
    copy(copyOptions: CopyOptions = {}) {
      checkOptionNames('copy', copyOptions, ['swap', 'deleteUpdates']);
      const swap = new Map(
        copyOptions.swap instanceof Map ? copyOptions.swap : ((copyOptions.swap ?? []) as readonly [Node, Node][]),
      );
      const updates = copyOptions.deleteUpdates
        ? []
        : [...(options.updates instanceof Map ? options.updates : (options.updates ?? []))].map(
            ([target, value]) => [swap.get(target) ?? target, value] as const,
          );
      return compileSync(inputs, outputs, { ...options, updates, givens: [...(options.givens ?? []), ...swap] });
    },
  }) as TheanoFunction<Result<O>>;
}

const nodesOf = (inputs: readonly Input[]) => inputs.map((i) => (i instanceof In ? i.variable : i));

/** compile (see graph/function.ts), with Theano's defaults and copy. */
export async function compile<O extends Node | readonly Node[]>(
  inputs: readonly Input[],
  outputs: O,
  options: base.CompileOptions = {},
): Promise<TheanoFunction<Result<O>>> {
  return extend(
    inputs,
    outputs,
    options,
    (await base.compile(nodesOf(inputs), outputs, options)) as base.CompiledFunction<Result<O>>,
  );
}

/** compileSync (see graph/function.ts), with Theano's defaults and copy. */
export function compileSync<O extends Node | readonly Node[]>(
  inputs: readonly Input[],
  outputs: O,
  options: base.CompileOptions = {},
): TheanoFunction<Result<O>> {
  return extend(
    inputs,
    outputs,
    options,
    base.compileSync(nodesOf(inputs), outputs, options) as base.CompiledFunction<Result<O>>,
  );
}
