/**
 * Loops run as loops: a scan whose number of steps is known only at call time runs its body, compiled
 * once, step after step, instead of being built out (and compiled) again for every number of steps.
 * Forward loops only: a function that differentiates a loop, whose body draws random numbers, or whose
 * loop reads another loop's values builds its loops out as before (deferred-loop.ts).
 */
import { substitute, toposort } from '../../compiler/ir/graph.js';
import { Node } from '../../compiler/ir/node.js';
import { isRandom } from '../../compiler/ir/ops.js';
import { ShapeError } from '../../runtime/errors.js';
import { allocate, type DType } from '../../runtime/dtype.js';
import { NDArray } from '../../runtime/ndarray.js';
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
  /** The step's outputs, then the updated variables' new values, in terms of placeholders and `outer`. */
  readonly results: readonly Node[];
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
    step.outputs.forEach((o, i) => {
      collected[i]!.push(results[i]!);
      if (o.initial) histories[i]!.push(results[i]!);
    });
    state = step.updated.map((_, k) => results[step.outputs.length + k]!);
  }
  return [...collected.map((values, i) => stack(values, outputTypes[i]!.dtype, values[0]!.shape)), ...state];
}
