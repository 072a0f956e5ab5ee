/**
 * Loops run as loops: a scan whose number of steps is known only at call time runs its body, compiled
 * once, step after step, instead of being built out (and compiled) again for every number of steps.
 * Forward loops only: a function that differentiates a loop, whose body draws random numbers, or whose
 * loop reads another loop's values builds its loops out as before (deferred-loop.ts).
 */
import { mul, sum } from '../../compiler/ir/build.js';
import { substitute, toposort } from '../../compiler/ir/graph.js';
import { Node } from '../../compiler/ir/node.js';
import { isRandom } from '../../compiler/ir/ops.js';
import { ShapeError } from '../../runtime/errors.js';
import { allocate, isFloat, type DType } from '../../runtime/dtype.js';
import { checkedSize } from '../../runtime/limits.js';
import { NDArray } from '../../runtime/ndarray.js';
import { grad } from './grad.js';
import { tensor } from './variables.js';
import {
  runForwardInWasm,
  runReverseInWasm,
  type KeptSteps,
  type LoopCotangents,
  type PlanLookup,
} from './wasm-loop.js';

/** How one step of a loop reads and writes, as scan traced it on placeholders. */
export interface LoopStep {
  readonly where: string;
  readonly goBackwards: boolean;
  /** Each sequence: the outer node walked along axis 0, its taps, and the offset of its first step. */
  readonly sequences: readonly { readonly input: Node; readonly taps: readonly number[]; readonly first: number }[];
  /** Each output: its initial value when fed back (read at `taps`, `depth` steps back at most). */
  readonly outputs: readonly {
    readonly initial: Node | undefined;
    readonly taps: readonly number[];
    readonly depth: number;
  }[];
  /** The body's own inputs: a placeholder per sequence tap, then per output tap. */
  readonly placeholders: readonly Node[];
  /** Values from outside the body it reads (non-sequences, variables in its closure). */
  readonly outer: readonly Node[];
  /** The shared variables the body updates (among `outer`): their value is carried from step to step. */
  readonly updated: readonly Node[];
  /** The step's outputs, then the updated variables' new values, then (when `stops`) the until condition. */
  readonly results: readonly Node[];
  /** True when the body ends with `T.until(cond)`: the loop stops after the step where cond is true. */
  readonly stops: boolean;
  /** For the gradient: keep the loop's state every this many steps and run each segment again, not every step's inputs. */
  readonly checkpoint?: number;
}

/** The body as a function of its own inputs only: every outer value it reads becomes an input too. */
export interface CompiledStep {
  /** (placeholders..., outer values...) → (outputs..., updated values...) */
  readonly inputs: readonly Node[];
  readonly outputs: readonly Node[];
}

/** The body with its outer values as inputs of its own; undefined when it cannot run as a loop (random draws). */
export function stepFunction(step: LoopStep): CompiledStep | undefined {
  if (toposort(step.results).some((n) => isRandom(n.op))) return undefined;
  const held = step.outer.map((o, i) => tensor(`${step.where} outer ${i}`, { dtype: o.dtype, shape: [...o.shape] }));
  const outputs = substitute(step.results, new Map(step.outer.map((o, i) => [o, held[i]!] as const)));
  return { inputs: [...step.placeholders, ...held], outputs };
}

/** Row `i` of `x` (negative from the end), a view. */
function row(x: NDArray, i: number): NDArray {
  const n = x.shape[0]!;
  const k = i < 0 ? n + i : i;
  if (k < 0 || k >= n) throw new ShapeError(`row ${i} is out of range for ${n} rows`);
  const size = x.size / n;
  return new NDArray(x.data.subarray(k * size, (k + 1) * size) as typeof x.data, x.shape.slice(1), x.dtype);
}

/** Stacks equal-shaped values along a new first axis. */
function stack(values: readonly NDArray[], dtype: DType, shape: readonly number[]): NDArray {
  const size = shape.reduce((a, b) => a * b, 1);
  const out = allocate(dtype, values.length * size);
  values.forEach((v, t) => out.set(v.data as never, t * size));
  return new NDArray(out, [values.length, ...shape], dtype);
}

/** What a step needs to run again from a point of the loop: each history's recent values, the updated variables. */
interface Snapshot {
  readonly histories: readonly (readonly NDArray[])[];
  readonly state: readonly NDArray[];
}

/** A loop in progress: what its next step reads, and (when collecting) every step's outputs. */
class LoopRun {
  private readonly sequences: { readonly taps: readonly number[]; readonly first: number; readonly value: NDArray }[];
  private readonly outer: NDArray[];
  private readonly updatedAt: number[];
  private histories: NDArray[][];
  private state: NDArray[];
  readonly collected: NDArray[][];

  constructor(
    private readonly step: LoopStep,
    steps: number,
    value: (node: Node) => NDArray,
    private readonly collect = true,
  ) {
    if (steps < 1) throw new ShapeError(`${step.where}: the sequences have no step to run (${steps} steps)`);
    this.sequences = step.sequences.map((s) => ({ ...s, value: value(s.input) }));
    for (const [i, s] of this.sequences.entries()) {
      const needed = steps + s.first + Math.max(...s.taps);
      if (s.value.shape[0]! < needed)
        throw new ShapeError(
          `${step.where}: sequences[${i}] has ${s.value.shape[0]} steps, the loop needs ${needed} for ${steps} steps at taps [${s.taps.join(', ')}]`,
        );
    }
    this.histories = step.outputs.map((o) => {
      if (!o.initial) return [] as NDArray[];
      const initial = value(o.initial);
      return o.depth === 1 ? [initial] : Array.from({ length: o.depth }, (_, k) => row(initial, k - o.depth));
    });
    this.state = step.updated.map((v) => value(v));
    this.outer = step.outer.map((o) => value(o));
    this.updatedAt = step.updated.map((v) => step.outer.indexOf(v));
    this.collected = step.outputs.map(() => []);
  }

  /** Everything step `t` takes: its slices, its outputs' earlier values at their taps, the outer values and state. */
  argsAt(t: number): NDArray[] {
    const args: NDArray[] = [];
    for (const s of this.sequences)
      for (const tap of s.taps) {
        const offset = t + s.first + tap;
        args.push(row(s.value, this.step.goBackwards ? -1 - offset : offset));
      }
    this.step.outputs.forEach((o, i) => {
      const history = this.histories[i]!;
      for (const tap of o.taps) args.push(history[history.length + tap]!);
    });
    const current = [...this.outer];
    this.updatedAt.forEach((at, k) => (current[at] = this.state[k]!));
    return [...args, ...current];
  }

  /** Takes a step's results in; true when the loop stops after it (its until condition holds). */
  advance(results: readonly NDArray[]): boolean {
    this.step.outputs.forEach((o, i) => {
      if (this.collect) this.collected[i]!.push(results[i]!);
      if (o.initial) this.histories[i]!.push(results[i]!);
    });
    this.state = this.step.updated.map((_, k) => results[this.step.outputs.length + k]!);
    return this.step.stops && results[results.length - 1]!.data[0] !== 0;
  }

  snapshot(): Snapshot {
    return {
      histories: this.step.outputs.map((o, i) => (o.initial ? this.histories[i]!.slice(-o.depth) : [])),
      state: [...this.state],
    };
  }

  restore(s: Snapshot): void {
    this.histories = s.histories.map((h) => [...h]);
    this.state = [...s.state];
  }

  get finalState(): readonly NDArray[] {
    return this.state;
  }
}

/** `args` with every array passed twice copied: one array as two inputs (two states from the same zeros) would keep a body from its call plan. */
const distinct = (args: readonly NDArray[]) => args.map((a, i) => (args.indexOf(a) < i ? a.clone() : a));

const callWith = (call: (...args: NDArray[]) => NDArray[], args: readonly NDArray[]) => call(...distinct(args));

/**
 * Runs the loop for `steps` steps: `call` is the compiled step function, `value(node)` the value of an
 * outer node (a sequence, an initial value, a non-sequence) in this call. Returns the stacked outputs
 * and the updated variables' final values, in the loop's output order. `before(t, run)` and `after(t,
 * args)` see each step (a gradient keeps what it needs from them).
 */
export function runLoop(
  step: LoopStep,
  steps: number,
  call: (...args: NDArray[]) => NDArray[],
  value: (node: Node) => NDArray,
  outputTypes: readonly { readonly dtype: DType }[],
  hooks: { before?: (t: number, run: LoopRun) => void; after?: (t: number, args: readonly NDArray[]) => void } = {},
  lookup?: PlanLookup,
): NDArray[] {
  const run = new LoopRun(step, steps, value);
  if (lookup && !hooks.before && !hooks.after) {
    const inWasm = runForwardInWasm(step, steps, lookup, value, distinct(run.argsAt(0)), false);
    if (inWasm) return inWasm.outputs;
  }
  for (let t = 0; t < steps; t++) {
    hooks.before?.(t, run);
    const args = run.argsAt(t);
    const results = callWith(call, args);
    hooks.after?.(t, args);
    // The stacked outputs hold every step: refused at the first step when they could not be allocated.
    if (t === 0 && !step.stops)
      step.outputs.forEach((_, i) =>
        checkedSize([steps, ...results[i]!.shape], results[i]!.dtype, `${step.where}: output ${i} over ${steps} steps`),
      );
    if (run.advance(results)) break;
  }
  return [
    ...run.collected.map((values, i) => stack(values, outputTypes[i]!.dtype, values[0]!.shape)),
    ...run.finalState,
  ];
}

/**
 * The body's vector-Jacobian product as a function of its own: (the step's inputs..., the outer values...,
 * a cotangent per result...) → the cotangent of each step input and outer value (zeros where one is not
 * a float, or does not reach the results).
 */
export function vjpFunction(step: LoopStep, body: CompiledStep): CompiledStep | undefined {
  const cotangents = body.outputs.map((r, k) =>
    tensor(`${step.where} cotangent ${k}`, { dtype: r.dtype, shape: [...r.shape] }),
  );
  const floats = body.outputs.flatMap((r, k) => (isFloat(r.dtype) ? [sum(mul(r, cotangents[k]!))] : []));
  if (floats.length === 0) return undefined;
  const cost = floats.reduce((a, b) => a.add(b));
  const wrt = body.inputs.filter((n) => isFloat(n.dtype));
  const grads = grad(cost, wrt, { disconnected: 'zero' });
  const outputs = body.inputs.map((n) => {
    const k = wrt.indexOf(n);
    return k < 0 ? mul(n, 0) : grads[k]!;
  });
  return { inputs: [...body.inputs, ...cotangents], outputs };
}

/** a += b, elementwise (same shapes), in place. */
function addInto(a: NDArray, b: NDArray): void {
  for (let i = 0; i < a.size; i++) a.data[i] = a.data[i]! + b.data[i]!;
}

const zerosLike = (x: NDArray) => new NDArray(allocate(x.dtype, x.size), [...x.shape], x.dtype);

/** A forward run kept for the loop's gradients: its outputs, each step's inputs, and the values it read. */
export interface ForwardRun {
  readonly outputs: readonly NDArray[];
  readonly recorded: Map<number, readonly NDArray[]>;
  readonly value: (node: Node) => NDArray;
  /** What a forward loop run in wasm kept of every step (a reverse loop in wasm reads it whole). */
  readonly kept?: KeptSteps;
}

/** Each step's inputs, as views of what a forward loop run in wasm kept. */
function recordedFrom(
  step: LoopStep,
  kept: KeptSteps,
  value: (node: Node) => NDArray,
): Map<number, readonly NDArray[]> {
  const sequences = step.sequences.map((s) => value(s.input));
  const outer = step.outer.map((o) => value(o));
  const updatedAt = step.updated.map((v) => step.outer.indexOf(v));
  const recorded = new Map<number, readonly NDArray[]>();
  for (let t = 0; t < kept.ran; t++) {
    const args: NDArray[] = [];
    step.sequences.forEach((s, i) => {
      for (const tap of s.taps) {
        const offset = t + s.first + tap;
        args.push(row(sequences[i]!, step.goBackwards ? -1 - offset : offset));
      }
    });
    step.outputs.forEach((o, i) => {
      for (const tap of o.taps) args.push(row(kept.histories[i]!, o.depth + t + tap));
    });
    const current = [...outer];
    updatedAt.forEach((at, k) => (current[at] = row(kept.states[k]!, t)));
    recorded.set(t, [...args, ...current]);
  }
  return recorded;
}

/**
 * The loop run forward keeping each step's inputs, or with `snapshots`, only its state at every
 * checkpoint (their keys are the steps; `checkpoint` is read from the step).
 */
export function runRecorded(
  step: LoopStep,
  steps: number,
  call: (...args: NDArray[]) => NDArray[],
  value: (node: Node) => NDArray,
  outputTypes: readonly { readonly dtype: DType }[],
  snapshots?: Map<number, Snapshot>,
  lookup?: PlanLookup,
): ForwardRun {
  if (lookup && !snapshots) {
    const first = new LoopRun(step, steps, value);
    const inWasm = runForwardInWasm(step, steps, lookup, value, distinct(first.argsAt(0)), true);
    if (inWasm) {
      const kept = inWasm.kept!;
      let recorded: Map<number, readonly NDArray[]> | undefined;
      // Each step's inputs as views, made only when a reverse loop runs from JavaScript.
      return {
        outputs: inWasm.outputs,
        get recorded() {
          return (recorded ??= recordedFrom(step, kept, value));
        },
        value,
        kept,
      };
    }
  }
  const recorded = new Map<number, readonly NDArray[]>();
  const outputs = runLoop(step, steps, call, value, outputTypes, {
    before: (t, run) => {
      if (snapshots && t % step.checkpoint! === 0) snapshots.set(t, run.snapshot());
    },
    after: (t, args) => {
      if (!snapshots) recorded.set(t, args);
    },
  });
  return { outputs, recorded, value };
}

/**
 * The gradient of a loop run as a loop: the forward loop runs again, keeping each step's inputs; then
 * the steps run backwards through the body's vector-Jacobian product, from the cotangent of output
 * `output` (its stacked values, or an updated variable's final value). Returns the cotangent of every
 * node the loop reads (`step`'s sequences, initial values and outer values), summed where one node plays
 * several parts.
 */
export function runReverse(
  step: LoopStep,
  steps: number,
  call: (...args: NDArray[]) => NDArray[],
  vjp: (...args: NDArray[]) => NDArray[],
  value: (node: Node) => NDArray,
  outputTypes: readonly { readonly dtype: DType }[],
  output: number,
  cotangent: NDArray,
  checkpoint: number | undefined,
  stored: (bytes: number) => void = () => {},
  ranBefore?: ForwardRun,
  lookups: { readonly body?: PlanLookup; readonly vjp?: PlanLookup } = {},
): Map<Node, NDArray> {
  if (!checkpoint && lookups.vjp) {
    ranBefore ??= runRecorded(step, steps, call, value, outputTypes, undefined, lookups.body);
    const kept = ranBefore.kept;
    const inWasm = kept && runReverseInWasm(step, kept, lookups.vjp, value, ranBefore.outputs, output, cotangent);
    if (inWasm) {
      stored([...kept.histories, ...kept.states].reduce((n, x) => n + (x?.data.byteLength ?? 0), 0));
      return cotangentsByNode(step, inWasm);
    }
  }
  // Each step's inputs are kept for its way back (taken from the forward loop when it ran in this call
  // already); with checkpoints only the loop's state every `checkpoint` steps is, and each segment runs
  // forward again from it just before it runs back.
  const snapshots = new Map<number, Snapshot>();
  const {
    outputs: forward,
    recorded,
    value: forwardValue,
  } = ranBefore && !checkpoint
    ? ranBefore
    : runRecorded(step, steps, call, value, outputTypes, checkpoint ? snapshots : undefined);
  const ran = checkpoint ? (forward[0]!.shape[0] ?? steps) : recorded.size;
  const outerValues = new Set(step.outer.map((o) => forwardValue(o)));
  const sequenceBuffers = new Set(step.sequences.map((s) => forwardValue(s.input).data.buffer));
  // What a step's inputs hold of their own (slices of sequences and outer values are there anyway).
  const ownBytes = (args: readonly NDArray[]) =>
    args.reduce((n, a) => (outerValues.has(a) || sequenceBuffers.has(a.data.buffer) ? n : n + a.data.byteLength), 0);
  let keptBytes = 0;
  if (!checkpoint) for (const args of recorded.values()) keptBytes += ownBytes(args);
  else
    for (const snap of snapshots.values())
      keptBytes += [...snap.histories.flat(), ...snap.state].reduce((n, a) => n + a.data.byteLength, 0);
  let segmentBytes = 0;
  /** The inputs of steps [from, to), run again from the snapshot at `from`. */
  const rerun = (from: number, to: number) => {
    const again = new LoopRun(step, steps, value, false);
    again.restore(snapshots.get(from)!);
    for (let t = from; t < to; t++) {
      const args = again.argsAt(t);
      recorded.set(t, args);
      again.advance(callWith(call, args));
    }
    segmentBytes = Math.max(
      segmentBytes,
      [...recorded.values()].reduce((n, a) => n + ownBytes(a), 0),
    );
  };
  const outputs = step.outputs;
  const sequences = step.sequences.map((s) => value(s.input));
  const cotSequences = sequences.map(zerosLike);
  // Cotangents of each fed-back output's history: its initial rows, then one value per step. The
  // differentiated output's rows start from its cotangent, and later steps add to them in turn (the
  // order a reverse loop in wasm adds in, so both give the same bits).
  const cotHistories = outputs.map((o, i) => {
    const history = new Array<NDArray | undefined>(o.initial ? o.depth + ran : 0);
    if (o.initial && output === i) for (let t = 0; t < ran; t++) history[o.depth + t] = row(cotangent, t).clone();
    return history;
  });
  const outer = step.outer.map((o) => value(o));
  const cotOuter = outer.map(zerosLike);
  const updatedAt = step.updated.map((v) => step.outer.indexOf(v));
  // The cotangent of each updated variable's value after the current step.
  let cotState: (NDArray | undefined)[] = step.updated.map((_, k) =>
    output === outputs.length + k ? cotangent : undefined,
  );
  // Each result's shape and dtype: a row of its stacked output, or its updated variable's value.
  const results = [...outputs.map((_, i) => forward[i]!), ...step.updated.map((_, k) => forward[outputs.length + k]!)];
  const shapes = results.map((r, k) => (k < outputs.length ? r.shape.slice(1) : [...r.shape]));
  const zeros = (k: number) =>
    new NDArray(
      allocate(
        results[k]!.dtype,
        shapes[k]!.reduce((a, b) => a * b, 1),
      ),
      shapes[k]!,
      results[k]!.dtype,
    );
  // The until condition is no float: its cotangent is a zero of its own.
  const stopCotangent = step.stops ? [new NDArray(allocate('bool', 1), [], 'bool')] : [];
  for (let t = ran - 1; t >= 0; t--) {
    if (checkpoint && !recorded.has(t)) {
      recorded.clear();
      const from = t - (t % checkpoint);
      rerun(from, t + 1);
    }
    const cots = [
      ...outputs.map((o, i) => {
        if (o.initial) return cotHistories[i]![o.depth + t] ?? zeros(i);
        const c = zeros(i);
        if (output === i) addInto(c, row(cotangent, t));
        return c;
      }),
      ...step.updated.map((_, k) => cotState[k] ?? zeros(outputs.length + k)),
      ...stopCotangent,
    ];
    const grads = vjp(...recorded.get(t)!, ...cots);
    let g = 0;
    step.sequences.forEach((s, i) => {
      for (const tap of s.taps) {
        const offset = t + s.first + tap;
        const n = sequences[i]!.shape[0]!;
        const position = step.goBackwards ? n - 1 - offset : offset;
        addInto(row(cotSequences[i]!, position), grads[g++]!);
      }
    });
    outputs.forEach((o, i) => {
      for (const tap of o.taps) {
        const at = o.depth + t + tap;
        const history = cotHistories[i]!;
        if (!history[at]) history[at] = zerosLike(grads[g]!);
        addInto(history[at]!, grads[g++]!);
      }
    });
    const outerGrads = grads.slice(g);
    cotState = step.updated.map((_, k) => outerGrads[updatedAt[k]!]);
    outerGrads.forEach((c, j) => {
      if (!updatedAt.includes(j)) addInto(cotOuter[j]!, c);
    });
  }
  const initials = outputs.map((o, i) => {
    if (!o.initial) return undefined;
    const c = zerosLike(value(o.initial));
    const history = cotHistories[i]!;
    if (o.depth === 1) {
      if (history[0]) addInto(c, history[0]);
    } else for (let k = 0; k < o.depth; k++) if (history[k]) addInto(row(c, k - o.depth), history[k]!);
    return c;
  });
  const result = cotangentsByNode(step, { sequences: cotSequences, initials, outer: cotOuter, state: cotState });
  stored(keptBytes + segmentBytes);
  return result;
}

/** The cotangent of every node the loop reads, summed where one node plays several parts. */
function cotangentsByNode(step: LoopStep, c: LoopCotangents): Map<Node, NDArray> {
  const result = new Map<Node, NDArray>();
  const add = (node: Node, x: NDArray) => {
    const known = result.get(node);
    if (known) addInto(known, x);
    else result.set(node, x);
  };
  const updatedAt = step.updated.map((v) => step.outer.indexOf(v));
  step.sequences.forEach((s, i) => add(s.input, c.sequences[i]!));
  step.outputs.forEach((o, i) => {
    if (o.initial) add(o.initial, c.initials[i]!);
  });
  step.outer.forEach((o, j) => {
    if (!updatedAt.includes(j)) add(o, c.outer[j]!);
  });
  step.updated.forEach((v, k) => {
    const x = c.state[k];
    if (x) add(v, x);
  });
  return result;
}
