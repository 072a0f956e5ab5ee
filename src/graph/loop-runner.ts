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

/**
 * Runs the loop for `steps` steps: `call` is the compiled step function, `value(node)` the value of an
 * outer node (a sequence, an initial value, a non-sequence) in this call. Returns the stacked outputs
 * and the updated variables' final values, in the loop's output order.
 */
export function runLoop(
  step: LoopStep,
  steps: number,
  call: (...args: NDArray[]) => NDArray[],
  value: (node: Node) => NDArray,
  outputTypes: readonly { readonly dtype: DType }[],
  record?: (args: readonly NDArray[]) => void,
): NDArray[] {
  if (steps < 1) throw new ShapeError(`${step.where}: the sequences have no step to run (${steps} steps)`);
  const sequences = step.sequences.map((s) => ({ ...s, value: value(s.input) }));
  for (const [i, s] of sequences.entries()) {
    const needed = steps + s.first + Math.max(...s.taps);
    if (s.value.shape[0]! < needed)
      throw new ShapeError(
        `${step.where}: sequences[${i}] has ${s.value.shape[0]} steps, the loop needs ${needed} for ${steps} steps at taps [${s.taps.join(', ')}]`,
      );
  }
  const histories = step.outputs.map((o) => {
    if (!o.initial) return [] as NDArray[];
    const initial = value(o.initial);
    return o.depth === 1 ? [initial] : Array.from({ length: o.depth }, (_, k) => row(initial, k - o.depth));
  });
  let state = step.updated.map((v) => value(v));
  const outer = step.outer.map((o) => value(o));
  const updatedAt = step.updated.map((v) => step.outer.indexOf(v));
  const collected: NDArray[][] = step.outputs.map(() => []);
  for (let t = 0; t < steps; t++) {
    const args: NDArray[] = [];
    for (const s of sequences)
      for (const tap of s.taps) {
        const offset = t + s.first + tap;
        args.push(row(s.value, step.goBackwards ? -1 - offset : offset));
      }
    step.outputs.forEach((o, i) => {
      const history = histories[i]!;
      for (const tap of o.taps) args.push(history[history.length + tap]!);
    });
    const current = [...outer];
    updatedAt.forEach((at, k) => (current[at] = state[k]!));
    // One array passed twice (two states starting from the same zeros) would keep the body from its call plan.
    const all = [...args, ...current];
    const results = call(...all.map((a, i) => (all.indexOf(a) < i ? a.clone() : a)));
    record?.(all);
    // The stacked outputs hold every step: refused at the first step when they could not be allocated.
    if (t === 0 && !step.stops)
      step.outputs.forEach((_, i) =>
        checkedSize([steps, ...results[i]!.shape], results[i]!.dtype, `${step.where}: output ${i} over ${steps} steps`),
      );
    step.outputs.forEach((o, i) => {
      collected[i]!.push(results[i]!);
      if (o.initial) histories[i]!.push(results[i]!);
    });
    state = step.updated.map((_, k) => results[step.outputs.length + k]!);
    if (step.stops && results[results.length - 1]!.data[0]) break;
  }
  return [...collected.map((values, i) => stack(values, outputTypes[i]!.dtype, values[0]!.shape)), ...state];
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
): Map<Node, NDArray> {
  const recorded: (readonly NDArray[])[] = [];
  const forward = runLoop(step, steps, call, value, outputTypes, (args) => recorded.push(args));
  // The steps that ran (fewer than `steps` when the loop stopped at its until condition).
  const ran = recorded.length;
  const outputs = step.outputs;
  const sequences = step.sequences.map((s) => value(s.input));
  const cotSequences = sequences.map(zerosLike);
  // Cotangents of each fed-back output's history: its initial rows, then one value per step.
  const cotHistories = outputs.map((o) => new Array<NDArray | undefined>(o.initial ? o.depth + ran : 0));
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
    const cots = [
      ...outputs.map((o, i) => {
        const c = zeros(i);
        if (output === i) addInto(c, row(cotangent, t));
        const later = o.initial ? cotHistories[i]![o.depth + t] : undefined;
        if (later) addInto(c, later);
        return c;
      }),
      ...step.updated.map((_, k) => cotState[k] ?? zeros(outputs.length + k)),
      ...stopCotangent,
    ];
    const grads = vjp(...recorded[t]!, ...cots);
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
  const result = new Map<Node, NDArray>();
  const add = (node: Node, c: NDArray) => {
    const known = result.get(node);
    if (known) addInto(known, c);
    else result.set(node, c);
  };
  step.sequences.forEach((s, i) => add(s.input, cotSequences[i]!));
  outputs.forEach((o, i) => {
    if (!o.initial) return;
    const initial = value(o.initial);
    const c = zerosLike(initial);
    const history = cotHistories[i]!;
    if (o.depth === 1) {
      if (history[0]) addInto(c, history[0]);
    } else for (let k = 0; k < o.depth; k++) if (history[k]) addInto(row(c, k - o.depth), history[k]!);
    add(o.initial, c);
  });
  step.outer.forEach((o, j) => {
    if (!updatedAt.includes(j)) add(o, cotOuter[j]!);
  });
  step.updated.forEach((v, k) => {
    const c = cotState[k];
    if (c) add(v, c);
  });
  return result;
}
