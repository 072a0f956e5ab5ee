/**
 * Theano's `scan`: a symbolic loop whose body is a graph. tsano builds the loop out when the graph is
 * built: the body is called once per step on that step's slices, so the whole sequence is one graph
 * that T.grad differentiates (backpropagation through time), the optimizer folds, fuses and shares
 * work across steps in, and one compiled function runs (one call into wasm per call, whatever the
 * number of steps). When the number of steps is known only at call time, the loop is deferred
 * (deferred-loop.ts) and built out by T.compile for each number of steps it is called with.
 */
import { cast, dot, minimum, ne, stack, sub } from '../../compiler/ir/build.js';
import { dimOf, index } from '../../compiler/ir/indexing.js';
import { Deferred } from './deferred-loop.js';
import { constant, tensor } from './variables.js';
import { substitute, substituteGrowing, toposort } from '../../compiler/ir/graph.js';
import { Node } from '../../compiler/ir/node.js';
import { asNode, type TensorLike } from '../../compiler/ir/convert.js';
import { formatShape } from '../../compiler/ir/type.js';
import type { OpArgs, TensorType } from '../../compiler/ir/ops.js';
import { ShapeError, DTypeError, InputError, ConfigError } from '../../runtime/errors.js';
import { checkedSize } from '../../runtime/limits.js';
import { checkOptionNames } from '../../runtime/options.js';
import type { SharedVariable } from './variables.js';

/** A sequence the loop walks along axis 0; `taps` are the offsets read at each step (default [0]). */
export type ScanSequence = Node | { readonly input: Node; readonly taps?: readonly number[] };
/**
 * An output: fed back when given an initial value (the previous step's value, or with `taps` such as
 * [-2, -1] the values that many steps back, from an `initial` holding that many rows), or `null` for
 * an output the body does not read back.
 */
export type ScanOutputInfo = TensorLike | null | { readonly initial: TensorLike; readonly taps?: readonly number[] };

const isInitialWithTaps = (
  o: ScanOutputInfo,
): o is { readonly initial: TensorLike; readonly taps?: readonly number[] } =>
  typeof o === 'object' &&
  o !== null &&
  !(o instanceof Node) &&
  !Array.isArray(o) &&
  !ArrayBuffer.isView(o) &&
  'initial' in o;

export interface ScanOptions {
  sequences?: ScanSequence | readonly ScanSequence[];
  outputsInfo?: ScanOutputInfo | readonly ScanOutputInfo[];
  nonSequences?: Node | readonly Node[];
  /** The number of steps: a number or an int32 scalar expression; by default the length of the sequences. */
  nSteps?: number | Node;
  /** Walk the sequences from their end; outputs come in the order they are computed. */
  goBackwards?: boolean;
  /** Names the loop in error messages (default: the name of `fn`). */
  name?: string;
  /**
   * Trade time for memory in the loop's gradient: keep its state every `checkpoint` steps instead of
   * every step's inputs, and run each segment forward again on the way back (the gradient is the same
   * to the bit). The loop then runs as a loop whatever its number of steps.
   */
  checkpoint?: number;
}

/** `T.until(cond)` as the last element of a body's result: the loop stops after the step where `cond` is true. */
export class Until {
  constructor(readonly condition: Node) {}
}

/** Theano's `scan_module.until`: the condition that ends a loop (a scalar; true, or non-zero, stops it). */
export function until(condition: TensorLike): Until {
  const c = asNode(condition);
  if (c.ndim !== 0 && !c.shape.every((d) => d === 1))
    throw new ShapeError(`until: the condition must be a scalar, got shape ${formatShape(c.shape)}`);
  return new Until(c.dtype === 'bool' ? c : ne(c, 0));
}

/** What the body returns: its outputs, or its outputs and the updates of shared variables it makes (then, optionally, `T.until(cond)`). */
export type ScanBodyResult =
  | Node
  | readonly (Node | Until)[]
  | readonly [Node | readonly Node[], ReadonlyMap<SharedVariable, Node> | readonly (readonly [SharedVariable, Node])[]]
  | readonly [
      Node | readonly Node[],
      ReadonlyMap<SharedVariable, Node> | readonly (readonly [SharedVariable, Node])[],
      Until,
    ];

const list = <V>(v: V | readonly V[] | undefined): V[] =>
  v === undefined ? [] : Array.isArray(v) ? [...(v as readonly V[])] : [v as V];

const sameShape = (a: readonly (number | null)[], b: readonly (number | null)[]) =>
  a.length === b.length && a.every((d, i) => d === b[i] || d === null || b[i] === null);

/**
 * The most steps a loop is built out to. Each step adds the body's nodes to the graph, so a loop far
 * longer than this would exhaust memory or time while the graph is built; it is refused before.
 */
export const MAX_BUILT_OUT_STEPS = 100_000;

/**
 * Loops of a number of steps known when the graph is built are built out up to this many steps (each
 * step's work fused with its neighbours' and no step boundary to cross) and run as loops beyond it
 * (compiled once, so compile time stays flat with the length). TSANO_BUILT_OUT_STEPS sets it.
 */
export function builtOutSteps(): number {
  const v = process.env['TSANO_BUILT_OUT_STEPS'];
  if (v === undefined || v === '') return DEFAULT_BUILT_OUT_STEPS;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0)
    throw new ConfigError(`TSANO_BUILT_OUT_STEPS must be a non-negative integer, got '${v}'`);
  return Math.min(n, MAX_BUILT_OUT_STEPS);
}
const DEFAULT_BUILT_OUT_STEPS = 32;
/** Above zero while a loop that cannot run as a loop is built out (its body, nested loops included, is built out whole). */
let buildingOut = 0;

/** Refuses a number of steps the loop cannot be built out to, before any step is built. */
function checkStepCount(steps: number, where: string): void {
  if (steps > MAX_BUILT_OUT_STEPS)
    throw new ShapeError(
      `${where}: ${steps} steps is more than a loop is built out to (at most ${MAX_BUILT_OUT_STEPS}: each step adds the body's nodes to the graph)`,
    );
}

function constantSteps(n: number | Node, where: string): number {
  if (typeof n === 'number') {
    if (!Number.isInteger(n) || n < 1) throw new InputError(`${where}: nSteps must be a positive integer, got ${n}`);
    return n;
  }
  if (n.op === 'constant') {
    const v = (n.args as OpArgs['constant']).value;
    if (v.size === 1) return constantSteps(Number(v.data[0]), where);
  }
  throw new InputError(
    `${where}: nSteps must be known when the graph is built (tsano builds the loop out), got the expression ${n.name ?? n.op}`,
  );
}

/**
 * `[outputs, updates] = T.scan(fn, { sequences, outputsInfo, nonSequences, nSteps, goBackwards })`:
 * `fn` receives each sequence's slices at its taps, each fed-back output's previous values at its
 * taps, then the non-sequences, and returns the step's outputs. Each output comes back stacked along a
 * new first axis of nSteps; `outputs` is one node for one output, else a list. `updates` holds the
 * final value of each shared variable the body updates (each step sees the previous step's update),
 * for `T.compile(..., { updates })`.
 */
export function scan(
  fn: (...args: Node[]) => ScanBodyResult,
  options: ScanOptions = {},
): [Node | Node[], Map<SharedVariable, Node>] {
  if (typeof fn !== 'function') throw new InputError('scan: the first argument must be the loop body, a function');
  checkOptionNames('scan', options, [
    'sequences',
    'outputsInfo',
    'nonSequences',
    'nSteps',
    'goBackwards',
    'name',
    'checkpoint',
  ]);
  const where = `scan(${options.name ?? (fn.name || 'fn')})`;
  if (options.checkpoint !== undefined && !(Number.isInteger(options.checkpoint) && options.checkpoint >= 1))
    throw new InputError(
      `${where}: checkpoint must be a positive integer (steps between kept states), got ${options.checkpoint}`,
    );
  const sequences = list(options.sequences).map((s, i) => {
    const input = s instanceof Node ? s : s?.input;
    if (!(input instanceof Node)) throw new InputError(`${where}: sequences[${i}] is not a symbolic tensor`);
    if (input.ndim === 0)
      throw new ShapeError(`${where}: sequences[${i}] (${input.name ?? 'a scalar'}) has no axis to walk`);
    const taps = s instanceof Node ? [0] : [...(s.taps ?? [0])];
    if (taps.length === 0 || taps.some((t) => !Number.isInteger(t)))
      throw new InputError(`${where}: sequences[${i}] taps must be integers, got [${taps.join(', ')}]`);
    return { input, taps, first: Math.max(0, -Math.min(...taps)), last: Math.max(...taps) };
  });
  const outputsInfo = list(options.outputsInfo);
  const outputs: OutputInfo[] = outputsInfo.map((o, i) => {
    if (o === null) return { initial: undefined, taps: [] as number[], depth: 0 };
    let initial: Node;
    try {
      initial = asNode(isInitialWithTaps(o) ? o.initial : o);
    } catch {
      throw new InputError(`${where}: outputsInfo[${i}] is neither a tensor, an { initial, taps } object nor null`);
    }
    const taps = isInitialWithTaps(o) ? [...(o.taps ?? [-1])] : [-1];
    if (taps.length === 0 || taps.some((t) => !Number.isInteger(t) || t >= 0))
      throw new InputError(`${where}: outputsInfo[${i}] taps must be negative integers, got [${taps.join(', ')}]`);
    const depth = -Math.min(...taps);
    if (depth > 1 && initial.shape[0] !== null && initial.shape[0]! < depth)
      throw new ShapeError(
        `${where}: outputsInfo[${i}] reads ${depth} steps back, so its initial value needs ${depth} rows along axis 0, it has ${initial.shape[0]}`,
      );
    return { initial, taps, depth };
  });
  const nonSequences = list(options.nonSequences);
  nonSequences.forEach((n, i) => {
    if (!(n instanceof Node)) throw new InputError(`${where}: nonSequences[${i}] is not a symbolic tensor`);
  });

  // The number of steps: given, or what every sequence allows at its taps.
  const available = sequences.map((s) => {
    const length = s.input.shape[0];
    return length === null || length === undefined ? undefined : length - s.first - s.last;
  });
  let steps: number;
  const symbolicSteps = options.nSteps instanceof Node && options.nSteps.op !== 'constant';
  if (
    symbolicSteps ||
    (options.nSteps === undefined && sequences.length > 0 && available.every((a) => a === undefined))
  ) {
    const length = symbolicSteps
      ? cast(options.nSteps as Node, 'int32')
      : sequences.map((s) => sub(dimOf(s.input, 0), s.first + s.last)).reduce((a, b) => minimum(a, b));
    return deferredScan(fn, options, where, length, sequences, outputs, nonSequences);
  }
  if (options.nSteps !== undefined) {
    steps = constantSteps(options.nSteps, where);
    available.forEach((a, i) => {
      if (a !== undefined && a < steps)
        throw new ShapeError(
          `${where}: sequences[${i}] (${sequences[i]!.input.name ?? 'a sequence'} ${formatShape(sequences[i]!.input.shape)}) is shorter than nSteps ${steps}${sequences[i]!.taps.length > 1 || sequences[i]!.taps[0] !== 0 ? ` at taps [${sequences[i]!.taps.join(', ')}]` : ''}`,
        );
    });
  } else {
    const known = available.filter((a): a is number => a !== undefined);
    if (known.length === 0)
      throw new InputError(
        `${where}: the number of steps must be known when the graph is built (tsano builds the loop out): give nSteps, or sequences whose length (axis 0) is known`,
      );
    steps = Math.min(...known);
    if (steps < 1) throw new ShapeError(`${where}: the sequences are too short for one step at their taps`);
  }

  // Each fed-back output's history: its initial value (or, reading further back, its initial rows),
  // then one value per step.
  const history = outputs.map((o) => {
    if (!o.initial) return [] as Node[];
    const depth = o.depth;
    return depth === 1 ? [o.initial] : Array.from({ length: depth }, (_, k) => index(o.initial!, k - depth));
  });
  const collected: Node[][] = outputs.map(() => []);
  const state = new Map<SharedVariable, Node>();
  /** Each step's slice of a sequence, with the sequence and the position it reads. */
  const slices = new Map<Node, { readonly sequence: Node; readonly position: number }>();
  const at = (s: (typeof sequences)[number], t: number, tap: number) => {
    const offset = t + s.first + tap;
    const position = options.goBackwards ? -1 - offset : offset;
    const slice = index(s.input, position);
    slices.set(slice, { sequence: s.input, position });
    return slice;
  };
  // Nodes known to read no variable the body updates (valid while the set of updated variables stays the same).
  const unaffected = new Set<Node>();
  let unaffectedKeys = 0;
  for (let t = 0; t < steps; t++) {
    const args: Node[] = [
      ...sequences.flatMap((s) => s.taps.map((tap) => at(s, t, tap))),
      ...outputs.flatMap((o, i) => o.taps.map((tap) => history[i]![history[i]!.length + tap]!)),
      ...nonSequences,
    ];
    const result = fn(...args);
    const [returned, updates, stop] = splitResult(result, where);
    // A loop that may stop early has a number of steps known only when it runs, a checkpointed one
    // keeps segments of steps for its gradient, and a long one runs faster as a loop: they run as loops.
    if (stop || (buildingOut === 0 && (options.checkpoint !== undefined || steps > builtOutSteps())))
      return deferredScan(fn, options, where, constant(steps, 'int32'), sequences, outputs, nonSequences, steps);
    // Built out from here: refused before a second step is built when there would be too many.
    if (t === 0) checkStepCount(steps, where);
    // Without outputsInfo, as in Theano, no output is fed back: the body says how many there are.
    if (t === 0 && options.outputsInfo === undefined)
      returned.forEach(() => {
        outputs.push({ initial: undefined, taps: [], depth: 0 });
        history.push([]);
        collected.push([]);
      });
    checkOutputCount(where, returned.length, outputs.length, t > 0 ? ` at step ${t}` : '');
    // Shared variables the body updates: later steps read the value the previous step left.
    if (state.size !== unaffectedKeys) {
      unaffected.clear();
      unaffectedKeys = state.size;
    }
    // This step's slices and earlier steps' values are complete: where they read an updated variable they
    // read the value it had then (its initial value inside step 0's output), so only this step's own nodes
    // take the variables' current values. Substituting through them gave wrong results from three steps on.
    for (const arg of args.slice(0, args.length - nonSequences.length))
      if (!(arg.op === 'shared' && state.has(arg as SharedVariable))) unaffected.add(arg);
    const current = substituteGrowing([...returned, ...updates.map(([, e]) => e)], state, unaffected);
    returned.forEach((_, i) => {
      const value = current[i]!;
      if (!(value instanceof Node))
        throw new InputError(`${where}: output ${i} of the body is not a symbolic tensor (step ${t})`);
      const o = outputs[i]!;
      const first = collected[i]![0];
      // The stacked output holds every step: refused at the first step when it could not be allocated.
      if (t === 0 && value.shape.every((d): d is number => d !== null))
        checkedSize([steps, ...value.shape], value.dtype, `${where}: output ${i} over ${steps} steps`);
      if (o.initial) checkStepOutput(where, i, value, stepTypeOf(o), ` at step ${t}`, 'its initial value');
      else if (first) checkStepOutput(where, i, value, first.type, ` at step ${t}`, 'at step 0');
      collected[i]!.push(value);
      if (o.initial) history[i]!.push(value);
    });
    updates.forEach(([variable], k) => state.set(variable, current[returned.length + k]!));
  }
  const hoisted = hoistProducts(
    collected.map((values) => stack(values, 0)),
    [...state.values()],
    slices,
    steps,
  );
  const stacked = hoisted.slice(0, collected.length);
  const finalState = new Map([...state.keys()].map((v, k) => [v, hoisted[collected.length + k]!]));
  return [stacked.length === 1 ? stacked[0]! : stacked, finalState];
}

/** An output: its initial value (none when not fed back), the taps the body reads, how far back the farthest is. */
interface OutputInfo {
  initial: Node | undefined;
  taps: number[];
  depth: number;
}

/** What each step's value of a fed-back output must be: its initial value's type, or one row's when read several steps back. */
const stepTypeOf = (o: OutputInfo): TensorType => ({
  dtype: o.initial!.dtype,
  shape: o.depth > 1 ? o.initial!.shape.slice(1) : o.initial!.shape,
});

/** The body returned as many outputs as the loop has; `step` says where (" at step 3", or "" when traced). */
function checkOutputCount(where: string, returned: number, expected: number, step: string): void {
  if (returned !== expected)
    throw new InputError(
      `${where}: the body returned ${returned} output${returned === 1 ? '' : 's'}${step}, outputsInfo lists ${expected}`,
    );
}

/** A body output has the type of what it follows (`against`: its initial value, or its value at step 0). */
function checkStepOutput(where: string, i: number, value: Node, expected: TensorType, step: string, against: string) {
  if (!sameShape(value.shape, expected.shape))
    throw new ShapeError(
      `${where}: output ${i} has shape ${formatShape(value.shape)}${step}, ${against} ${formatShape(expected.shape)}; a fed-back output must keep its shape`,
    );
  if (value.dtype !== expected.dtype)
    throw new DTypeError(
      `${where}: output ${i} is ${value.dtype}${step}, ${against} ${expected.dtype} (cast one of them)`,
    );
}

/**
 * A scan whose number of steps is known only at call time: the body is traced once on placeholders
 * (so its outputs' types are known, and its mistakes reported, now), and the loop is built out by
 * `T.compile` for each number of steps it is called with.
 */
function deferredScan(
  fn: (...args: Node[]) => ScanBodyResult,
  options: ScanOptions,
  where: string,
  length: Node,
  sequences: readonly { input: Node; taps: number[]; first: number }[],
  outputs: readonly OutputInfo[],
  nonSequences: readonly Node[],
  knownSteps?: number,
): [Node | Node[], Map<SharedVariable, Node>] {
  const placeholder = (name: string, type: TensorType) =>
    tensor(`${where} ${name}`, { dtype: type.dtype, shape: [...type.shape] });
  const placeholders = [
    ...sequences.flatMap((s, i) =>
      s.taps.map((tap) =>
        placeholder(`sequences[${i}][${tap}]`, { dtype: s.input.dtype, shape: s.input.shape.slice(1) }),
      ),
    ),
    ...outputs.flatMap((o, i) => o.taps.map((tap) => placeholder(`outputs[${i}][${tap}]`, stepTypeOf(o)))),
  ];
  const [returned, updates, stop] = splitResult(fn(...placeholders, ...nonSequences), where);
  checkOutputCount(where, returned.length, options.outputsInfo === undefined ? returned.length : outputs.length, '');
  returned.forEach((value, i) => {
    if (!(value instanceof Node)) throw new InputError(`${where}: output ${i} of the body is not a symbolic tensor`);
    const o = outputs[i];
    if (o?.initial) checkStepOutput(where, i, value, stepTypeOf(o), '', 'its initial value');
    // A loop of a known number of steps whose stacked outputs could not be held is refused now, not when called.
    if (knownSteps !== undefined && value.shape.every((d) => d !== null))
      checkedSize(
        [knownSteps, ...(value.shape as number[])],
        value.dtype,
        `${where}: output ${i} over ${knownSteps} steps`,
      );
  });
  const updated = updates.map(([v]) => v);
  const own = new Set<Node>(placeholders);
  // What the loop reads: its length, sequences, initial values and non-sequences, and the variables the
  // body reads from its closure (a layer's weights).
  const captured = toposort([...returned, ...updates.map(([, e]) => e), ...(stop ? [stop] : [])]).filter(
    (n) => (n.op === 'input' || n.op === 'shared') && !own.has(n),
  );
  const operands = [
    ...new Set([
      length,
      ...sequences.map((s) => s.input),
      ...outputs.flatMap((o) => (o.initial ? [o.initial] : [])),
      ...nonSequences,
      ...captured,
      ...updated,
    ]),
  ];
  const types = [
    ...returned.map((r) => ({ dtype: r.dtype, shape: [null, ...r.shape] })),
    ...updated.map((v) => v.type),
  ];
  const loop = new Deferred(
    operands,
    types,
    (steps) => {
      if (steps < 1) throw new ShapeError(`${where}: the sequences have no step to run (${steps} steps)`);
      if (stop)
        throw new InputError(
          `${where}: a loop with T.until runs as a loop, which this function cannot (its body draws random numbers, or a second derivative reaches it)`,
        );
      buildingOut++;
      let built: Node | Node[];
      let finals: Map<SharedVariable, Node>;
      try {
        [built, finals] = scan(fn, { ...options, nSteps: steps });
      } finally {
        buildingOut--;
      }
      const list = Array.isArray(built) ? built : [built as Node];
      return [...list, ...updated.map((v) => finals.get(v)!)];
    },
    where,
    {
      where,
      goBackwards: options.goBackwards === true,
      sequences: sequences.map((s) => ({ input: s.input, taps: s.taps, first: s.first })),
      outputs: returned.map((_, i) => outputs[i] ?? { initial: undefined, taps: [], depth: 0 }),
      placeholders,
      outer: [...new Set([...nonSequences, ...captured])],
      updated,
      results: [...returned, ...updates.map(([, e]) => e), ...(stop ? [stop] : [])],
      stops: stop !== undefined,
      ...(options.checkpoint !== undefined ? { checkpoint: options.checkpoint } : {}),
    },
  );
  const stacked = loop.outputs.slice(0, returned.length);
  const finalState = new Map(updated.map((v, k) => [v, loop.outputs[returned.length + k]! as Node]));
  return [stacked.length === 1 ? stacked[0]! : [...stacked], finalState];
}

/**
 * Work that does not depend on the loop, taken out of it: a product `dot(x[t], W)` that every step
 * makes with the same W becomes row t of one product `dot(x, W)` for the whole sequence, computed
 * once before the loop as one matrix product (the input projection of recurrent layers).
 */
function hoistProducts(
  outputs: readonly Node[],
  finalState: readonly Node[],
  slices: ReadonlyMap<Node, { readonly sequence: Node; readonly position: number }>,
  steps: number,
): Node[] {
  const roots = [...outputs, ...finalState];
  const byPair = new Map<string, { sequence: Node; weights: Node; uses: Node[] }>();
  for (const node of toposort(roots)) {
    if (node.op !== 'dot') continue;
    const [a, w] = node.inputs as [Node, Node];
    const slice = slices.get(a);
    if (!slice || w.ndim !== 2 || a.ndim < 1) continue;
    const key = `${slice.sequence.id}:${w.id}`;
    const entry = byPair.get(key) ?? { sequence: slice.sequence, weights: w, uses: [] };
    entry.uses.push(node);
    byPair.set(key, entry);
  }
  const replacements = new Map<Node, Node>();
  for (const { sequence, weights, uses } of byPair.values()) {
    // Only a product every step makes: then the whole-sequence product computes nothing in vain.
    if (uses.length < steps || steps < 2) continue;
    const whole = dot(sequence, weights);
    for (const use of uses) replacements.set(use, index(whole, slices.get(use.inputs[0]!)!.position));
  }
  return replacements.size ? substitute(roots, replacements) : [...roots];
}

function splitResult(result: ScanBodyResult, where: string): [Node[], [SharedVariable, Node][], Node | undefined] {
  if (result instanceof Node) return [[result], [], undefined];
  if (!Array.isArray(result))
    throw new InputError(`${where}: the body must return a tensor, a list of tensors, or [outputs, updates]`);
  const last = result[result.length - 1] as unknown;
  const stop = last instanceof Until ? last.condition : undefined;
  const rest = (stop ? result.slice(0, -1) : result) as readonly unknown[];
  if (rest.some((r) => r instanceof Until))
    throw new InputError(`${where}: T.until must be the last element of what the body returns`);
  const second = rest[1];
  const isUpdates =
    rest.length === 2 && (second instanceof Map || (Array.isArray(second) && second.every((p) => Array.isArray(p))));
  if (!isUpdates) {
    const outputs = rest.length === 1 && Array.isArray(rest[0]) ? (rest[0] as Node[]) : (rest as Node[]);
    return [[...outputs], [], stop];
  }
  const outputs = rest[0] as Node | readonly Node[];
  const updates = second instanceof Map ? [...second] : (second as [SharedVariable, Node][]);
  updates.forEach(([v], i) => {
    if (!(v instanceof Node) || v.op !== 'shared')
      throw new InputError(`${where}: update ${i} of the body does not name a shared variable`);
  });
  return [outputs instanceof Node ? [outputs] : [...outputs], updates as [SharedVariable, Node][], stop];
}
