import { cast } from '../../compiler/ir/build.js';
import { leavesOf, substitute, toposort } from '../../compiler/ir/graph.js';
import { describe, Node } from '../../compiler/ir/node.js';
import { isRandom } from '../../compiler/ir/ops.js';
import { formatOrigin } from '../../compiler/ir/origin.js';
import { formatShape, type Shape } from '../../compiler/ir/type.js';
import { schedule, type Program } from '../../compiler/schedule/program.js';
import { optimize, type OptimizerLevel, type PhaseReport } from '../../compiler/rewrite/pipeline.js';
import { defaultBackend, epsilon } from '../../runtime/config.js';
import { dtypeOfTypedArray, isFloat, isLosslessCast, type TypedArray } from '../../runtime/dtype.js';
import {
  ConfigError,
  DisposedError,
  DTypeError,
  GeneratorNotLoadedError,
  InputError,
  ShapeError,
} from '../../runtime/errors.js';
import { guardFinite } from '../../runtime/nan-guard.js';
import { checkOptionNames } from '../../runtime/options.js';
import { Executor } from '../../runtime/executor.js';
import { callKey } from '../../runtime/call-plan.js';
import { StepTimes, type Profile } from '../../runtime/profile.js';
import { WasmAccelerator } from '../../runtime/wasm/accelerator.js';
// Code generation, on the compiler's side: the runtime receives the module's bytes.
import { generateModule } from '../../compiler/codegen/module.js';
import { loadBinaryen } from '../../compiler/codegen/binaryen.js';
import { supportedLanes } from '../../compiler/codegen/elementwise.js';
import { epilogueSupport, runsOnReference } from '../../compiler/schedule/kernels.js';
import { full, NDArray, toNDArray, type ArrayValue } from '../../runtime/ndarray.js';
import { coerceShared, sharedAsNow } from './variables.js';
import { deferredLoopsOf, type Deferred, type LoopInstance } from './deferred-loop.js';
import { loopTapesRun, type PlanLookup } from './wasm-loop.js';
import { LoopBody } from './loop-body.js';
import {
  runLoop,
  runRecorded,
  runReverse,
  stepFunction,
  vjpFunction,
  type CompiledStep,
  type LoopStep,
  type ForwardRun,
} from './loop-runner.js';
import { tensor } from './variables.js';

export type Mode = 'wasm' | 'js';

export interface CompileOptions {
  /** Pairs [sharedVariable, newValueExpression], applied together after the outputs are computed. */
  /** Pairs [shared variable, new value], or a Map from variable to new value (as Theano's OrderedDict). */
  updates?: readonly (readonly [Node, Node])[] | ReadonlyMap<Node, Node>;
  /** Pairs [variable, replacementExpression] substituted into the graph before compiling. */
  givens?: readonly (readonly [Node, Node])[];
  mode?: Mode;
  optimizer?: OptimizerLevel;
  /** Names of rewrites or passes to leave out. */
  exclude?: readonly string[];
  /**
   * Check every value for NaN and infinity as it is computed (Theano's NanGuardMode), and throw naming the
   * first step that produced one, where it was built, and its operands' ranges. Fusion is off under the guard,
   * so each step is one op. Also turned on by TSANO_NANGUARD=1 (read at compile time).
   */
  nanGuard?: boolean;
  /**
   * Draw from RandomStreams variables without advancing their streams (Theano's no_default_updates):
   * each call then sees the same numbers, and other functions' draws are unaffected.
   */
  noDefaultUpdates?: boolean;
}

const COMPILE_OPTIONS: readonly (keyof CompileOptions)[] = [
  'updates',
  'givens',
  'mode',
  'optimizer',
  'exclude',
  'nanGuard',
  'noDefaultUpdates',
];

export interface CompileStats {
  /** Wall time spent in T.compile. */
  compileTimeMs: number;
  /** How often each rewrite rule fired. */
  rewrites: Record<string, number>;
  /** Nodes in the graph before and after optimization. */
  nodesBefore: number;
  nodesAfter: number;
  /** Each optimizer phase with its node counts and time. */
  phases: PhaseReport[];
  /** Steps the backend runs per call. */
  kernels: number;
  /** Of those, steps with a compiled wasm kernel (the rest run the reference kernels, or are views). */
  wasmKernels: number;
  /** Steps that do work on the reference kernels (views and leaves aside): 0 when wasm runs the whole program. */
  referenceSteps: number;
  /** The backend actually in use. */
  mode: Mode;
  /**
   * Which tier runs the calls now: 'fused' (the function's own wasm module), 'generic' (the reference
   * kernels, while the code generator loads: the first calls of a fresh process need not wait for it)
   * or 'reference' (mode js).
   */
  readonly tier: Tier;
  /**
   * For a function with loops whose number of steps is known only at call time: 'run' when they run
   * as loops (each body compiled once), 'built out' when each number of steps has its own program.
   */
  readonly loops?: 'run' | 'built out';
  /** Programs compiled for such a function so far: constant when its loops run as loops. */
  readonly programs?: number;
  /** Bytes the last call's loop gradients kept of the steps for their way back (see scan's `checkpoint`). */
  readonly loopStoredBytes?: number;
  /**
   * Loops the last call ran inside wasm, each one call into its body's module (a gradient's reverse loop
   * counts as one more); the others ran their body's compiled call step by step from JavaScript.
   */
  readonly loopsInWasm?: number;
  /** Whether every value is checked for NaN and infinity. */
  nanGuard: boolean;
  /** Where the wasm module came from: built now, or the in-memory or on-disk cache (undefined without kernels). */
  moduleCache?: 'memory' | 'disk' | 'built';
  /** Threads big kernels are split across, and whether relaxed-SIMD FMA is in use. */
  threads?: number;
  relaxedSimd?: boolean;
  /** The most wasm memory one call has used so far, in bytes (values are freed as soon as they die). */
  readonly wasmMemoryPeak?: number;
  /**
   * Steps with a wasm kernel that ran on the reference kernels instead, over all calls so far: their
   * operands did not fit the compiled kernel at call time (a broadcast the kernel was not built for,
   * another dtype, a shape the kernel does not cover).
   */
  readonly referenceFallbacks?: number;
  /**
   * Calls from JavaScript into the wasm module, over all calls so far: the first call of each input
   * shape runs kernel by kernel and records a plan; every later call of that shape is one call.
   */
  readonly wasmEntries?: number;
}

export interface CompiledGraph {
  readonly inputs: readonly Node[];
  readonly outputs: readonly Node[];
  readonly updates: readonly (readonly [Node, Node])[];
}

/** What T.compile returns: call it with input values; `.graph` and `.stats` describe what was compiled. */
export interface CompiledFunction<R = NDArray | NDArray[]> {
  (...inputs: ArrayValue[]): R;
  /** The optimized graph. */
  readonly graph: CompiledGraph;
  /** The graph as built, before optimization (givens applied). */
  readonly graphBefore: CompiledGraph;
  readonly program: Program;
  readonly stats: CompileStats;
  /**
   * Releases the wasm module and memory now rather than when the function is garbage collected (for
   * long-lived processes that compile many functions). Shared variables keep their newest values.
   * Calling the function afterwards is a DisposedError.
   */
  dispose(): void;
  /**
   * Calls the function with `inputs` `repeats` times (default 10; the last argument may be `{ repeats }`)
   * and returns the time of every step: kernel, the user's expression, calls, total and mean, share, and
   * GFLOPS or GB/s (Theano's ProfileStats). Updates are applied, as in any call. `T.printProfile` prints it.
   */
  profile(...inputs: (ArrayValue | { repeats?: number })[]): Profile;
}

const MODES: readonly Mode[] = ['wasm', 'js'];
const OPTIMIZERS: readonly OptimizerLevel[] = ['fast_run', 'fast_compile', 'none'];

function compatibleShapes(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === null || b[i] === null || d === b[i]);
}

function checkOptions(options: CompileOptions): Mode {
  checkOptionNames('compile', options, COMPILE_OPTIONS);
  if (options.nanGuard !== undefined && typeof options.nanGuard !== 'boolean')
    throw new ConfigError(`compile: nanGuard must be true or false, got ${JSON.stringify(options.nanGuard)}`);
  if (options.mode !== undefined && !MODES.includes(options.mode)) {
    throw new ConfigError(`compile: mode must be one of ${MODES.join(', ')}, got '${String(options.mode)}'`);
  }
  if (options.optimizer !== undefined && !OPTIMIZERS.includes(options.optimizer)) {
    throw new ConfigError(
      `compile: optimizer must be one of ${OPTIMIZERS.join(', ')}, got '${String(options.optimizer)}'`,
    );
  }
  if (
    options.exclude !== undefined &&
    (!Array.isArray(options.exclude) || options.exclude.some((e) => typeof e !== 'string'))
  ) {
    throw new ConfigError('compile: exclude must be an array of rewrite names');
  }
  return options.mode ?? defaultBackend();
}

function checkInputs(inputs: readonly Node[]): void {
  const seen = new Set<Node>();
  inputs.forEach((n, i) => {
    if (!(n instanceof Node)) throw new InputError(`compile: inputs[${i}] is not a symbolic variable`);
    if (n.op !== 'input') {
      throw new InputError(
        `compile: inputs[${i}] (${describe(n)}) is a ${n.op === 'shared' ? 'shared variable, which needs no input' : 'computed expression'}; inputs must be variables made with T.scalar/T.vector/T.matrix/T.tensor`,
      );
    }
    if (seen.has(n)) throw new InputError(`compile: input ${describe(n)} is listed twice`);
    seen.add(n);
  });
}

function checkGivens(givens: readonly (readonly [Node, Node])[]): Map<Node, Node> {
  const map = new Map<Node, Node>();
  for (const [variable, expr] of givens) {
    if (!(variable instanceof Node) || (variable.op !== 'input' && variable.op !== 'shared')) {
      throw new InputError('compile: givens must replace variables (T.tensor inputs or shared variables)');
    }
    if (!(expr instanceof Node))
      throw new InputError(`compile: givens must map ${describe(variable)} to a symbolic expression`);
    const replacement = expr;
    if (replacement.dtype !== variable.dtype) {
      throw new DTypeError(
        `compile: givens replaces ${describe(variable)} (${variable.dtype}) with ${describe(replacement)} of dtype ${replacement.dtype}`,
      );
    }
    if (!compatibleShapes(variable.shape, replacement.shape)) {
      throw new ShapeError(
        `compile: givens replaces ${describe(variable)} ${formatShape(variable.shape)} with ${describe(replacement)} of shape ${formatShape(replacement.shape)}`,
      );
    }
    map.set(variable, replacement);
  }
  return map;
}

function checkUpdates(updates: readonly (readonly [Node, Node])[]): [Node<'shared'>, Node][] {
  const seen = new Set<Node>();
  return updates.map(([variable, expr]) => {
    if (!(variable instanceof Node) || variable.op !== 'shared') {
      throw new InputError(
        `compile: updates must target shared variables, but ${variable instanceof Node ? describe(variable) : String(variable)} is not one`,
      );
    }
    if (seen.has(variable)) throw new InputError(`compile: ${describe(variable)} is updated twice`);
    seen.add(variable);
    if (!(expr instanceof Node))
      throw new InputError(`compile: the update of ${describe(variable)} must be a symbolic expression`);
    let value = expr;
    if (value.dtype !== variable.dtype) {
      // Float precision differences are common (a float64 constant in a float32 model); other changes are bugs.
      if (isFloat(value.dtype) && isFloat(variable.dtype)) value = cast(value, variable.dtype);
      else if (isLosslessCast(value.dtype, variable.dtype)) value = cast(value, variable.dtype);
      else
        throw new DTypeError(
          `compile: ${describe(variable)} is ${variable.dtype}, its update ${describe(expr)} is ${expr.dtype}`,
        );
    }
    if (!compatibleShapes(variable.shape, value.shape)) {
      throw new ShapeError(
        `compile: ${describe(variable)} has shape ${formatShape(variable.shape)}, its update ${describe(expr)} has shape ${formatShape(value.shape)}`,
      );
    }
    return [variable as Node<'shared'>, value];
  });
}

/** Converts one call argument to an NDArray of the input's dtype and checks its shape against the declared one. */
function convertInput(value: ArrayValue, input: Node, position: number): NDArray {
  // The common case, checked first without building any message: an array of the right dtype and shape.
  if (
    value instanceof NDArray &&
    value.dtype === input.dtype &&
    value.ndim === input.ndim &&
    input.shape.every((d, i) => d === null || d === value.shape[i])
  )
    return value;
  if (
    input.ndim === 1 &&
    ArrayBuffer.isView(value) &&
    dtypeOfTypedArray(value) === input.dtype &&
    (input.shape[0] === null || input.shape[0] === (value as TypedArray).length)
  )
    return new NDArray(value as TypedArray, [(value as TypedArray).length], input.dtype);
  const name = describe(input);
  const where = `input ${position} (${name})`;
  if (value === undefined || value === null) throw new InputError(`${where}: missing value`);
  let array: NDArray;
  if (value instanceof NDArray || ArrayBuffer.isView(value)) {
    const given = toNDArray(value, {}, where);
    if (given.dtype !== input.dtype && !isLosslessCast(given.dtype, input.dtype)) {
      throw new DTypeError(
        `${where}: expected ${input.dtype}, got ${given.dtype} (convert it with .astype('${input.dtype}') if the loss of precision is intended)`,
      );
    }
    array = given.dtype === input.dtype ? given : given.astype(input.dtype);
  } else {
    array = toNDArray(value, { dtype: input.dtype }, where);
    if (input.dtype === 'int32') {
      const raw = toNDArray(value, { dtype: 'float64' }, where);
      if (raw.data.some((v) => !Number.isInteger(v)))
        throw new DTypeError(`${where}: expected int32 values, got non-integers`);
    }
  }
  if (array.ndim !== input.ndim || input.shape.some((d, i) => d !== null && d !== array.shape[i])) {
    throw new ShapeError(`${where}: expected shape ${formatShape(input.shape)}, got ${formatShape(array.shape)}`);
  }
  return array;
}

/** A compiled function's optimized graph, its outputs and updates in it, and its schedule. */
interface Made {
  readonly optimized: ReturnType<typeof optimize>;
  readonly outputs: Node[];
  readonly updates: [Node<'shared'>, Node][];
  readonly program: Program;
}

/**
 * Optimized and scheduled programs by what they were made from (the mode, the optimizer's options,
 * epsilon, and the ids of the inputs, expressions and updated variables): compiling the same function
 * again skips the optimizer and the scheduler, as the wasm module cache skips code generation.
 * Expressions are interned, so building the same expression again gives the same nodes. Programs are
 * read-only; the most recent few are kept.
 */
const programs = new Map<string, Made>();
const PROGRAMS_KEPT = 32;
function madeBefore(key: string, make: () => Made): Made {
  const hit = programs.get(key);
  if (hit) programs.delete(key);
  const made = hit ?? make();
  programs.set(key, made);
  if (programs.size > PROGRAMS_KEPT) programs.delete(programs.keys().next().value!);
  return made;
}

/**
 * Loads the wasm code generator, after which `compileSync` (and Keras's predict and evaluate) need no
 * await: TensorFlow.js's `tf.ready()`. Resolves at once when it is loaded.
 */
export async function ready(): Promise<void> {
  await loadBinaryen();
}

/**
 * Compiles a function from symbolic inputs to outputs (Theano's `theano.function`). Async because the
 * wasm backend loads its code generator the first time; calling the result is synchronous.
 */
export async function compile<O extends Node | readonly Node[]>(
  inputs: readonly Node[],
  outputs: O,
  options: CompileOptions = {},
): Promise<CompiledFunction<O extends Node ? NDArray : NDArray[]>> {
  if ((options.mode ?? defaultBackend()) === 'wasm') await ready();
  return compileSync(inputs, outputs, options);
}

/**
 * `compile` without the await, once the code generator is loaded (`await T.ready()`, or any earlier
 * awaited compile); before that it is a ConfigError unless every module it needs is already cached.
 */
export function compileSync<O extends Node | readonly Node[]>(
  inputs: readonly Node[],
  outputs: O,
  options: CompileOptions = {},
): CompiledFunction<O extends Node ? NDArray : NDArray[]> {
  const started = performance.now();
  const mode = checkOptions(options);
  checkInputs(inputs);
  const single = outputs instanceof Node;
  const outputList = (single ? [outputs] : outputs) as readonly Node[];
  outputList.forEach((o, i) => {
    if (!(o instanceof Node)) throw new InputError(`compile: outputs[${i}] is not a symbolic expression`);
  });
  const givens = checkGivens(options.givens ?? []);
  const given = options.updates ?? [];
  const updates = checkUpdates(Array.isArray(given) ? given : [...(given as ReadonlyMap<Node, Node>)]);

  // Shared variables whose value changed shape since the graph was built are read with their new shape.
  for (const leaf of leavesOf([...outputList, ...updates.map(([, e]) => e)], 'shared')) {
    const now = sharedAsNow(leaf as Node<'shared'>);
    if (now !== leaf && !givens.has(leaf)) givens.set(leaf, now);
  }
  const roots = substitute([...outputList, ...updates.map(([, e]) => e)], givens);
  const finalOutputs = roots.slice(0, outputList.length);
  const finalUpdates = updates.map(([v], i) => [v, roots[outputList.length + i]!] as [Node<'shared'>, Node]);

  const provided = new Set(inputs);
  // One walk of the graph as built serves the input check, the deferred loops and the node count.
  const graphNodes = toposort(roots);
  for (const leaf of graphNodes.filter((n) => n.op === 'input')) {
    if (!provided.has(leaf)) {
      // Two variables may share a name: then say which one is meant, by where each was created.
      const namesake = inputs.find((n) => describe(n) === describe(leaf));
      const which = namesake
        ? ` (a different variable named ${describe(leaf)} from the input: this one was created at ${formatOrigin(leaf.origin)}, the input at ${formatOrigin(namesake.origin)})`
        : '';
      throw new InputError(
        `compile: the outputs depend on ${describe(leaf)}${which}, which is not among the inputs [${inputs.map((n) => describe(n)).join(', ')}] (add it, or replace it with givens)`,
      );
    }
  }
  const loops = deferredLoopsOf(graphNodes);
  if (loops.length) return compileLoops(inputs, finalOutputs, finalUpdates, loops, single, options) as never;
  const choices = graphNodes.filter((n): n is Node<'ifelse'> => n.op === 'ifelse');
  if (choices.length) return compileBranches(inputs, finalOutputs, finalUpdates, choices, single, options) as never;
  const level = options.optimizer ?? 'fast_run';
  const nanGuard = options.nanGuard ?? process.env['TSANO_NANGUARD'] === '1';
  // Under the guard every op is its own step, so the one that produced a NaN can be named, and no result
  // overwrites its operands, so their ranges can be reported.
  const exclude = nanGuard ? [...(options.exclude ?? []), 'fusion', 'memory'] : (options.exclude ?? []);
  const verify = process.env['TSANO_VERIFY'] === '1';
  const {
    optimized,
    outputs: optimizedOutputs,
    updates: optimizedUpdates,
    program,
  } = madeBefore(
    JSON.stringify([
      mode,
      level,
      exclude,
      epsilon(),
      verify,
      [inputs, roots, finalUpdates.map(([v]) => v)].map((ns) => ns.map((n) => n.id)),
      outputList.length,
    ]),
    () => {
      const backend = mode === 'wasm' ? { epilogues: epilogueSupport(supportedLanes) } : {};
      const optimized = optimize(roots, { level, exclude, epsilon: epsilon(), verify, ...backend });
      const outputs = optimized.roots.slice(0, outputList.length);
      const updates = finalUpdates.map(
        ([v], i) => [v, optimized.roots[outputList.length + i]!] as [Node<'shared'>, Node],
      );
      const inPlace = level === 'fast_run' && !exclude.includes('memory');
      return {
        optimized,
        outputs,
        updates,
        program: schedule(inputs, outputs, updates, {
          inPlace,
          ...(mode === 'wasm' ? { kernels: supportedLanes } : {}),
        }),
      };
    },
  );
  const rewrites: Record<string, number> = { ...optimized.counts };
  const reused = program.steps.filter((s) => s.reuses !== undefined).length;
  if (reused) rewrites['memory.inplace'] = reused;
  if (process.env['TSANO_DEBUG']?.split(',').includes('passes')) {
    for (const p of optimized.phases)
      console.error(`tsano: ${p.phase.padEnd(12)} ${p.nodesBefore} -> ${p.nodesAfter} nodes, ${p.ms.toFixed(2)} ms`);
    console.error(`tsano: memory       ${reused} in-place steps of ${program.steps.length}`);
  }
  const executorOptions = { nanGuard, keepStreams: options.noDefaultUpdates === true };
  let accelerator = mode === 'wasm' ? acceleratorOrGeneric(program) : undefined;
  let executor = new Executor(program, accelerator, executorOptions);
  const disposers: (() => void)[] = [() => executor.dispose()];
  // The generic tier: the program runs on the reference kernels until the code generator has loaded,
  // then on its own module (built between two calls, so no call waits for it).
  let tier: Tier = mode !== 'wasm' ? 'reference' : accelerator || program.kernels.length === 0 ? 'fused' : 'generic';
  if (tier === 'generic' && tierPolicy() !== 'generic' && !staysGeneric(program))
    void loadBinaryen().then(() => {
      if (executor.isDisposed || tier !== 'generic') return;
      accelerator = WasmAccelerator.create(program, generateModule);
      executor = new Executor(program, accelerator, executorOptions);
      tier = 'fused';
    });

  // A shared variable set to a value of another shape since: the function recompiles for it (once per shape).
  const compiledShapes = program.shared.map((s) => s.container.shape);
  let recompiled: { readonly key: string; readonly fn: CompiledFunction<NDArray | NDArray[]> } | undefined;
  const recompiledFor = () => {
    if (executor.isDisposed || program.shared.every((s, i) => s.container.shape === compiledShapes[i]))
      return undefined;
    const key = program.shared.map((s) => s.container.shape.join(',')).join(';');
    if (recompiled?.key !== key) {
      recompiled?.fn.dispose();
      const fresh = compileSync(inputs, outputs, options) as CompiledFunction<NDArray | NDArray[]>;
      recompiled = { key, fn: fresh };
    }
    return recompiled.fn;
  };
  disposers.push(() => recompiled?.fn.dispose());
  const call = (args: readonly ArrayValue[], times?: StepTimes) => {
    if (executor.isDisposed)
      throw new DisposedError(
        `this compiled function (${outputList.map((o) => describe(o)).join(', ')}) was disposed; compile it again to call it`,
      );
    if (args.length !== inputs.length) {
      throw new InputError(
        `expected ${inputs.length} input${inputs.length === 1 ? '' : 's'} (${inputs.map((n) => describe(n)).join(', ')}), got ${args.length}`,
      );
    }
    const values = args.map((v, i) => convertInput(v, inputs[i]!, i));
    if (nanGuard) values.forEach((v, i) => guardFinite(v, `input ${i} (${describe(inputs[i]!)}) holds`));
    const { outputs: results, updates: newValues } = executor.run(values, times);
    // All values are computed before any shared variable changes: updates are simultaneous, as in Theano.
    executor.commit(newValues.map((v, i) => coerceShared(v, program.updates[i]!.container, program.updates[i]!.label)));
    // Results must not alias state the caller could later observe changing, nor each other (an output listed twice).
    const aliased = (r: NDArray, i: number) =>
      results.indexOf(r) < i ||
      values.includes(r) ||
      program.shared.some((s) => s.container.peek() === r) ||
      program.constants.some((c) => c.value === r);
    const out = results.map((r, i) => (aliased(r, i) ? r.clone() : r));
    return single ? out[0]! : out;
  };
  const fn = (...args: ArrayValue[]) => {
    const fresh = recompiledFor();
    return fresh ? fresh(...args) : call(args);
  };
  /** Calls the function `repeats` times (updates applied, as in any call) and reports the time of every step. */
  const profile = (...args: unknown[]): Profile => {
    const fresh = recompiledFor();
    if (fresh) return fresh.profile(...(args as ArrayValue[]));
    const last = args[args.length - 1];
    const hasOptions =
      args.length === inputs.length + 1 &&
      typeof last === 'object' &&
      last !== null &&
      !Array.isArray(last) &&
      !ArrayBuffer.isView(last) &&
      !(last instanceof NDArray);
    const options = (hasOptions ? args.pop() : {}) as { repeats?: number };
    checkOptionNames('profile', options, ['repeats']);
    const repeats = options.repeats ?? 10;
    if (!Number.isInteger(repeats) || repeats < 1)
      throw new ConfigError(`profile: repeats must be an integer >= 1, got ${String(repeats)}`);
    const times = new StepTimes(program.steps.length);
    const begun = performance.now();
    for (let r = 0; r < repeats; r++) call(args as ArrayValue[], times);
    return executor.profileOf(times, performance.now() - begun);
  };
  const stats: CompileStats = {
    compileTimeMs: performance.now() - started,
    rewrites,
    nodesBefore: graphNodes.length,
    nodesAfter: toposort(optimized.roots).length,
    phases: optimized.phases,
    kernels: program.steps.length,
    wasmKernels: program.steps.filter((s) => s.kernel !== undefined).length,
    referenceSteps:
      mode === 'wasm'
        ? program.steps.filter((s) => s.kernel === undefined && runsOnReference(s.op)).length
        : program.steps.length,
    mode,
    nanGuard,
    tier,
  };
  Object.defineProperty(stats, 'tier', { get: () => tier, enumerable: true });
  if (mode === 'wasm' && program.kernels.length > 0) {
    // The accelerator in use (a generic start gets one later); dispose clears it, so a disposed
    // function's stats do not keep its memory alive.
    let disposed = false;
    let peakAtDispose = 0;
    const live = () => (disposed ? undefined : accelerator);
    disposers.push(() => {
      peakAtDispose = accelerator?.memoryPeak ?? peakAtDispose;
      disposed = true;
    });
    const defined = (name: string, get: () => unknown) =>
      Object.defineProperty(stats, name, { get, enumerable: true, configurable: true });
    defined('wasmMemoryPeak', () => live()?.memoryPeak ?? peakAtDispose);
    defined('referenceFallbacks', () => executor.referenceFallbacks);
    defined('wasmEntries', () => live()?.entries ?? 0);
    defined('moduleCache', () => accelerator?.moduleSource);
    defined('threads', () => accelerator?.threads);
    defined('relaxedSimd', () => accelerator?.relaxedSimd);
  }
  plans.set(fn, (values) => {
    // A body reading shared variables would need their homes refreshed; loops hold them as inputs.
    if (!accelerator || tier !== 'fused' || executor.isDisposed || program.shared.length) return undefined;
    let plan = executor.planFor(values);
    if (plan === undefined) {
      call(values);
      plan = executor.planFor(values);
    }
    return plan ? { plan, accelerator } : undefined;
  });
  return Object.assign(fn, {
    graph: { inputs, outputs: optimizedOutputs, updates: optimizedUpdates },
    graphBefore: { inputs, outputs: finalOutputs, updates: finalUpdates },
    program,
    stats,
    dispose: () => disposers.forEach((d) => d()),
    profile,
  }) as never;
}

const plans = new WeakMap<object, PlanLookup>();
/** A compiled function's call plans, for loops that replay them in wasm (wasm-loop.ts). */
export const planLookup = (fn: object): PlanLookup | undefined => plans.get(fn);

/** How a compiled function's calls run: its own fused module, the reference kernels until that module is ready, or the reference interpreter (mode js). */
export type Tier = 'fused' | 'generic' | 'reference';

/** TSANO_TIER: 'fused' waits for the code generator (never the generic tier), 'generic' stays on it, 'auto' (default) moves up. */
export function tierPolicy(): 'fused' | 'generic' | 'auto' {
  const v = process.env['TSANO_TIER'];
  if (v === undefined || v === '' || v === 'auto') return 'auto';
  if (v === 'fused' || v === 'generic') return v;
  throw new ConfigError(`TSANO_TIER must be 'fused', 'generic' or 'auto', got '${v}'`);
}

/**
 * The program's accelerator: its module from a cache, or generated now; undefined when the module
 * would have to be generated before the code generator has loaded: the program starts on the reference
 * kernels (and stays there when it draws random numbers, see staysGeneric).
 */
function acceleratorOrGeneric(program: Program): WasmAccelerator | undefined {
  const policy = tierPolicy();
  if (policy === 'generic') return undefined;
  try {
    return WasmAccelerator.create(program, generateModule);
  } catch (e) {
    if (e instanceof GeneratorNotLoadedError && policy !== 'fused') return undefined;
    throw e;
  }
}

/** A program that draws random numbers stays on the tier it started on: its streams must not start over. */
const staysGeneric = (program: Program) => program.steps.some((s) => isRandom(s.op));

/** Numbers of steps whose compiled functions a function with deferred loops keeps at once. */
const LENGTHS_KEPT = 32;

/**
 * A function whose graph holds loops with a number of steps known only at call time: each call works
 * out the numbers of steps from its inputs, and runs the function compiled with the loops built out for
 * them (compiled at the first call that needs those numbers, then kept).
 */
function compileLoops(
  inputs: readonly Node[],
  outputs: readonly Node[],
  updates: readonly (readonly [Node<'shared'>, Node])[],
  loops: readonly LoopInstance[],
  single: boolean,
  options: CompileOptions,
): CompiledFunction {
  const graph = [...outputs, ...updates.map(([, e]) => e)];
  /** The function with each loop built out for its number of steps (the same number at every call). */
  const buildOut = (steps: readonly number[]) => {
    // Each loop built out once (its outputs share one body: the same random draws, the same work),
    // reading the operands its nodes read here (givens already applied to them).
    const replacements = new Map<Node, Node>();
    loops.forEach((instance, i) => {
      const unrolled = instance.loop.unrollWith(instance.operands, steps[i]!);
      for (const n of instance.nodes) replacements.set(n, unrolled[n.args.output]!);
    });
    const roots = substitute(graph, replacements);
    return compileSync(inputs, single ? roots[0]! : roots.slice(0, outputs.length), {
      ...options,
      givens: [],
      updates: updates.map(([v], k) => [v, roots[outputs.length + k]!] as const),
    }) as CompiledFunction;
  };
  // Loops of a number of steps known when the graph was built can be built out for an export (one program).
  const knownSteps = loops.every((l) => l.length.op === 'constant')
    ? loops.map((l) => (l.length as Node<'constant'>).args.value.item())
    : undefined;
  const builtOut = knownSteps && (() => buildOut(knownSteps));
  const running = runLoops(inputs, outputs, updates, loops, single, options);
  if (running) return builtOut ? Object.assign(running, { builtOut }) : running;
  const lengths = compileSync(
    inputs,
    loops.map((l) => l.length),
    { mode: 'js' },
  );
  const built = new Map<string, CompiledFunction>();
  let last: CompiledFunction | undefined;
  const forCall = (args: readonly unknown[]): CompiledFunction => {
    const steps = (lengths(...(args.slice(0, inputs.length) as ArrayValue[])) as NDArray[]).map((s) => s.item());
    const key = steps.join(',');
    let fn = built.get(key);
    if (fn) built.delete(key);
    else {
      // Calls of ever new lengths keep the functions of the most recent ones (each holds its own module).
      if (built.size >= LENGTHS_KEPT) {
        const [oldest, f] = built.entries().next().value!;
        built.delete(oldest);
        if (f !== last) f.dispose();
      }
      fn = buildOut(steps);
    }
    built.set(key, fn);
    return (last = fn);
  };
  const current = () => last ?? lengths;
  const fn = (...args: ArrayValue[]) => forCall(args)(...args);
  const loopStats = () => ({ loops: 'built out' as const, programs: built.size + 1 });
  return Object.defineProperties(
    Object.assign(fn, {
      dispose: () => new Set([...built.values(), last ?? lengths, lengths]).forEach((f) => f.dispose()),
      /** Each number of steps has its own program: there is no one program to export. */
      deferredLoops: true,
      profile: (...args: unknown[]) => forCall(args).profile(...(args as ArrayValue[])),
    }),
    {
      graph: { get: () => current().graph },
      graphBefore: { get: () => current().graphBefore },
      program: { get: () => current().program },
      stats: { get: () => ({ ...current().stats, ...loopStats() }) },
    },
  ) as unknown as CompiledFunction;
}

/**
 * A function whose loops run as loops (loop-runner.ts): each loop's body (and, for a gradient, the
 * body's vector-Jacobian product) is compiled once and called step after step; one program per loop
 * computes its operands (from the inputs and the loops before it), and one program the rest of the
 * graph from the inputs and the loops' outputs. Nothing is compiled again for another number of steps.
 * Undefined where a loop must be built out: the gradient of a gradient's loop, or a body that draws
 * random numbers.
 */
function runLoops(
  inputs: readonly Node[],
  outputs: readonly Node[],
  updates: readonly (readonly [Node<'shared'>, Node])[],
  loops: readonly LoopInstance[],
  single: boolean,
  options: CompileOptions,
): CompiledFunction | undefined {
  const inner: CompileOptions = { ...options, givens: [], updates: [] };
  // The step functions of each loop that runs forward, or backward for a gradient, compiled once.
  const bodies = new Map<Deferred, { step: CompiledStep; vjp?: CompiledStep } | undefined>();
  const bodyOf = (loop: Deferred) => {
    if (!bodies.has(loop)) {
      const step = loop.step && stepFunction(loop.step);
      bodies.set(loop, step && { step });
    }
    return bodies.get(loop);
  };
  const plans = loops.map((l) => {
    const forward = l.loop.reverse?.forward ?? l.loop;
    const body = bodyOf(forward);
    if (!body || !forward.step) return undefined;
    if (l.loop.reverse) body.vjp ??= vjpFunction(forward.step, body.step);
    if (l.loop.reverse && !body.vjp) return undefined;
    return { instance: l, forward, body };
  });
  if (plans.some((p) => !p)) return undefined;
  // Every loop node the graph reads becomes an input of the programs after its loop.
  const held = new Map(
    loops.flatMap((l) =>
      l.nodes.map(
        (n) => [n, tensor(`${l.loop.where} output ${n.args.output}`, { dtype: n.dtype, shape: [...n.shape] })] as const,
      ),
    ),
  );
  // Loops in an order where each reads only loops before it.
  const ordered: NonNullable<(typeof plans)[number]>[] = [];
  const remaining = [...(plans as NonNullable<(typeof plans)[number]>[])];
  while (remaining.length) {
    const done = new Set(ordered.flatMap((p) => p.instance.nodes));
    const next = remaining.findIndex((p) =>
      toposort(p.instance.operands).every((n) => n.op !== 'loop' || done.has(n as Node<'loop'>)),
    );
    if (next < 0) return undefined;
    ordered.push(...remaining.splice(next, 1));
  }
  const compiled = new Map<CompiledStep, LoopBody>();
  const compile = (inputs: readonly Node[], outputs: readonly Node[]) =>
    compileSync(inputs, [...outputs], inner) as CompiledFunction<NDArray[]>;
  const compiledStep = (c: CompiledStep, step: LoopStep) => {
    // Every step reads the same outer values, except those of the variables it updates.
    const placeholders = step.placeholders.length;
    const varying = new Set(step.updated.map((v) => placeholders + step.outer.indexOf(v)));
    const invariant = step.outer.map((_, j) => placeholders + j).filter((i) => !varying.has(i));
    if (!compiled.has(c)) compiled.set(c, new LoopBody(c, invariant, compile, planLookup));
    return compiled.get(c)!;
  };
  const stages = ordered.map((p, k) => {
    const before = ordered.slice(0, k).flatMap((q) => q.instance.nodes.map((n) => held.get(n)!));
    const operands = compileSync(
      [...inputs, ...before],
      substitute(p.instance.operands, held),
      inner,
    ) as CompiledFunction<NDArray[]>;
    const step = p.forward.step!;
    const [call, vjp] = [compiledStep(p.body.step, step), p.body.vjp && compiledStep(p.body.vjp, step)];
    return { ...p, operands, before, call, vjp };
  });
  const allHeld = ordered.flatMap((p) => p.instance.nodes.map((n) => held.get(n)!));
  const rest = compileRest(inputs, outputs, updates, held, allHeld, single, options);
  /** Every loop run for this call's inputs: the values the rest reads, in `allHeld`'s order. */
  // What the last call's gradients kept of the loops' steps for their way back.
  let storedBytes = 0;
  let lastStoredBytes = 0;
  // A gradient reads the steps of the forward loop over the same operands, when that ran first in the call
  // (its number of steps may come from another node of the same value: the gradient's own graph).
  const runKey = (loop: Deferred, operands: readonly Node[]) =>
    `${loop.id}:${operands
      .slice(1)
      .map((n) => n.id)
      .join(',')}`;
  const reversed = new Set(
    ordered.flatMap((p) => (p.instance.loop.reverse ? [runKey(p.forward, p.instance.operands.slice(0, -1))] : [])),
  );
  let inWasm = 0;
  const loopValues = (args: readonly ArrayValue[]): NDArray[] => {
    storedBytes = 0;
    const tapesBefore = loopTapesRun();
    const values = new Map<Node, NDArray>();
    const forwardRuns = new Map<string, ForwardRun>();
    const ranForward = new Map<string, NDArray[]>();
    for (const stage of stages) {
      const own = stage.operands(...args.slice(0, inputs.length), ...stage.before.map((h) => values.get(h)!));
      const { forward, instance } = stage;
      const value = (node: Node) => own[forward.operands.indexOf(node)]!;
      const steps = own[0]!.item();
      const body = (...a: NDArray[]) => stage.call.call(a);
      let results: NDArray[];
      if (!instance.loop.reverse) {
        const key = runKey(forward, instance.operands);
        // The same loop over the same values (a gradient's graph may hold its own copy of the loop) runs once.
        const ran = ranForward.get(`${key}:${steps}`);
        if (ran) results = ran;
        else if (reversed.has(key) && !forward.step!.checkpoint) {
          const run = runRecorded(forward.step!, steps, body, value, forward.types, undefined, stage.call.lookup);
          forwardRuns.set(`${key}:${steps}`, run);
          results = [...run.outputs];
        } else results = runLoop(forward.step!, steps, body, value, forward.types, {}, stage.call.lookup);
        ranForward.set(`${key}:${steps}`, results);
      } else {
        const cotangents = runReverse(
          forward.step!,
          steps,
          body,
          (...a: NDArray[]) => stage.vjp!.call(a),
          value,
          forward.types,
          instance.loop.reverse.output,
          own[own.length - 1]!,
          forward.step!.checkpoint,
          (bytes) => (storedBytes += bytes),
          forwardRuns.get(`${runKey(forward, instance.operands.slice(0, -1))}:${steps}`),
          { body: stage.call.lookup, vjp: stage.vjp?.lookup },
        );
        // The gradient's outputs follow its float operands, which stand where the loop's own operands do.
        results = forward.operands.flatMap((node, j) =>
          isFloat(own[j]!.dtype) ? [cotangents.get(node) ?? full([...own[j]!.shape], 0, own[j]!.dtype)] : [],
        );
      }
      for (const n of instance.nodes) values.set(held.get(n)!, results[n.args.output]!);
    }
    lastStoredBytes = storedBytes;
    inWasm = loopTapesRun() - tapesBefore;
    return allHeld.map((h) => values.get(h)!);
  };
  const programs = () => [...stages.map((s) => s.operands), ...[...compiled.values()].flatMap((c) => c.functions)];
  return stagedFunction(inputs, rest, programs, loopValues, () => ({
    loops: 'run',
    loopStoredBytes: lastStoredBytes,
    loopsInWasm: inWasm,
  }));
}

/** The rest of a staged function's graph: from the inputs and the staged values (held placeholders) to its outputs and updates. */
function compileRest(
  inputs: readonly Node[],
  outputs: readonly Node[],
  updates: readonly (readonly [Node<'shared'>, Node])[],
  held: ReadonlyMap<Node, Node>,
  allHeld: readonly Node[],
  single: boolean,
  options: CompileOptions,
): CompiledFunction {
  const roots = substitute([...outputs, ...updates.map(([, e]) => e)], held);
  return compileSync([...inputs, ...allHeld], single ? roots[0]! : roots.slice(0, outputs.length), {
    ...options,
    givens: [],
    updates: updates.map(([v], k) => [v, roots[outputs.length + k]!] as const),
  }) as CompiledFunction;
}

/**
 * A function whose staged values (loops run as loops, lazy choices) are worked out in JavaScript between
 * programs, for each call, before `rest` runs on the inputs and them. It runs several programs, so there
 * is no one program to export (`deferredLoops`).
 */
function stagedFunction(
  inputs: readonly Node[],
  rest: CompiledFunction,
  programs: () => readonly CompiledFunction<unknown>[],
  staged: (args: readonly ArrayValue[]) => NDArray[],
  stats: () => object,
): CompiledFunction {
  const all = () => [...programs(), rest];
  const fn = (...args: ArrayValue[]) => rest(...args, ...staged(args));
  const profile = (...args: unknown[]) => {
    const values = args.slice(0, inputs.length) as ArrayValue[];
    return rest.profile(...values, ...staged(values), ...(args.slice(inputs.length) as ArrayValue[]));
  };
  return Object.defineProperty(
    Object.assign(fn, {
      graph: rest.graph,
      graphBefore: rest.graphBefore,
      program: rest.program,
      dispose: () => all().forEach((f) => f.dispose()),
      deferredLoops: true,
      profile,
    }),
    'stats',
    { get: () => ({ ...rest.stats, programs: all().length, ...stats() }), enumerable: true },
  ) as unknown as CompiledFunction;
}

/**
 * A function whose graph holds ifelse nodes (ifelse.ts): for each choice, in dependency order, one
 * program computes the condition and one program per branch its outputs, and only the chosen branch's
 * runs; one program computes the rest from the inputs and the choices' outputs.
 */
function compileBranches(
  inputs: readonly Node[],
  outputs: readonly Node[],
  updates: readonly (readonly [Node<'shared'>, Node])[],
  choices: readonly Node<'ifelse'>[],
  single: boolean,
  options: CompileOptions,
): CompiledFunction {
  const inner: CompileOptions = { ...options, givens: [], updates: [] };
  // One choice: the nodes of one ifelse call over the same operands (in dependency order, as found).
  const groups = new Map<string, Node<'ifelse'>[]>();
  for (const n of choices) {
    const key = `${n.args.id}:${n.inputs.map((i) => i.id).join(',')}`;
    groups.set(key, [...(groups.get(key) ?? []), n]);
  }
  const held = new Map(
    choices.map(
      (n) =>
        [n, tensor(`ifelse ${n.args.id} output ${n.args.output}`, { dtype: n.dtype, shape: [...n.shape] })] as const,
    ),
  );
  const ordered = [...groups.values()];
  const stages = ordered.map((group, k) => {
    const before = ordered.slice(0, k).flatMap((g) => g.map((n) => held.get(n)!));
    const [cond, ...branches] = substitute(group[0]!.inputs, held);
    const count = group[0]!.args.branches;
    const over = [...inputs, ...before];
    return {
      group,
      before,
      cond: compileSync(over, cond!, inner),
      branches: [branches.slice(0, count), branches.slice(count)].map(
        (b) => compileSync(over, b, inner) as CompiledFunction<NDArray[]>,
      ),
    };
  });
  const allHeld = ordered.flatMap((g) => g.map((n) => held.get(n)!));
  const rest = compileRest(inputs, outputs, updates, held, allHeld, single, options);
  const chosen = (args: readonly ArrayValue[]): NDArray[] => {
    const values = new Map<Node, NDArray>();
    for (const stage of stages) {
      const over = [...args.slice(0, inputs.length), ...stage.before.map((h) => values.get(h)!)];
      const branch = stage.cond(...over).data[0] ? stage.branches[0]! : stage.branches[1]!;
      const results = branch(...over);
      for (const n of stage.group) values.set(held.get(n)!, results[n.args.output]!);
    }
    return allHeld.map((h) => values.get(h)!);
  };
  return stagedFunction(
    inputs,
    rest,
    () => stages.flatMap((s) => [s.cond, ...s.branches]),
    chosen,
    () => ({}),
  );
}
