/**
 * Loops run inside wasm: the body's call plan (its tape, recorded once per call shape) is written into
 * a loop tape that copies each step's slices into the body's inputs, runs the body's records, stores its
 * results and goes back, so a whole loop (or its gradient's reverse loop) is one call into the module.
 * Addresses that move from step to step are words of the loop tape itself, advanced by a `bump` record
 * (runtime/tape.ts). A body whose plan does not fit (a step on the reference kernels, an index check)
 * runs from JavaScript instead (loop-runner.ts), with the same results.
 */
import type { CallPlan } from '../../runtime/call-plan.js';
import { bytesPerElement, isFloat, type DType } from '../../runtime/dtype.js';
import { checkedSize } from '../../runtime/limits.js';
import { copyOf, NDArray, sizeOf } from '../../runtime/ndarray.js';
import { TapeWriter } from '../../runtime/tape.js';
import type { WasmAccelerator } from '../../runtime/wasm/accelerator.js';
import type { Node } from '../../compiler/ir/node.js';
import type { LoopStep } from './loop-runner.js';

/** A compiled function's call plan for one call shape, and the accelerator it runs on. */
export interface PlannedCall {
  readonly plan: CallPlan;
  readonly accelerator: WasmAccelerator;
  /** Inputs after the ones asked for, the same at every step (a body's loop-invariant values). */
  readonly extra?: readonly NDArray[];
}

/** The plan of a step function for these arguments (recorded by a call when there is none yet), if it has one. */
export type PlanLookup = (args: readonly NDArray[]) => PlannedCall | undefined;

const align = (n: number) => Math.ceil(n / 16) * 16;
const rowOf = (x: NDArray) => x.shape.slice(1);

/** Memory above a plan's tape, handed out in order for one loop call. */
class Region {
  constructor(private top: number) {}
  alloc(bytes: number): number {
    const ptr = this.top;
    this.top = align(ptr + bytes + 32);
    return ptr;
  }
  get end(): number {
    return this.top;
  }
}

/** A loop tape: records whose address words move by a stride every step. */
class LoopTape {
  readonly writer = new TapeWriter();
  private readonly strides: [number, number][] = [];

  private stride(word: number, delta: number): void {
    if (delta !== 0) this.strides.push([word, delta]);
  }

  copy(dst: number, src: number, bytes: number, dstStride = 0, srcStride = 0): void {
    if (bytes <= 0) return;
    const at = this.writer.words.length;
    this.writer.copy(dst, src, bytes);
    this.stride(at + 1, dstStride);
    this.stride(at + 2, srcStride);
  }

  add(dtype: DType, dst: number, src: number, count: number, dstStride = 0): void {
    if (count <= 0 || !isFloat(dtype)) return;
    const at = this.writer.words.length;
    this.writer.add(dtype as 'float32' | 'float64', dst, src, count);
    this.stride(at + 1, dstStride);
  }

  records(words: ArrayLike<number>): void {
    for (let i = 0; i < words.length; i++) this.writer.words.push(words[i]!);
  }

  get position(): number {
    return this.writer.words.length;
  }

  /** Closes the loop begun at `start` (`count` times, stopping after a step whose `stop` byte is set), for a tape written at `ptr`. */
  close(start: number, count: number, ptr: number, stop = -1): { words: Int32Array; remainingAt: number } {
    this.writer.bump(this.strides.map(([word, delta]) => [ptr + 4 * word, delta] as const));
    const remainingAt = ptr + 4 * (this.writer.words.length + 1);
    this.writer.repeat(start, count, stop);
    this.writer.end();
    return { words: Int32Array.from(this.writer.words), remainingAt };
  }
}

/**
 * Where a planned body reads its inputs and leaves its results: every input's copy-in addresses (a
 * planned call writes each input there before its tape), and an address per result. Undefined for a
 * plan a loop tape cannot replay: more than one segment, or index checks.
 */
class PlannedBody {
  readonly inputAt: number[][];
  readonly resultAt: number[] = [];
  readonly records: Int32Array;
  private readonly constants: [number, NDArray][] = [];

  private constructor(
    readonly planned: PlannedCall,
    inputs: number,
  ) {
    const item = planned.plan.items[0]!;
    this.inputAt = Array.from({ length: inputs }, () => []);
    if (item.kind === 'wasm')
      for (const c of item.copyIns) if (c.source.kind === 'input') this.inputAt[c.source.index]!.push(c.ptr);
    // The tape ends with its `end` record.
    this.records = planned.plan.tape.subarray(0, planned.plan.tape.length - 1);
  }

  /** The body as planned for a first step's arguments (the plan's extra inputs after them), or undefined. */
  static lookup(lookup: PlanLookup, args0: readonly NDArray[]): { body: PlannedBody; all: NDArray[] } | undefined {
    const planned = lookup(args0);
    if (!planned) return undefined;
    const all = [...args0, ...(planned.extra ?? [])];
    const body = PlannedBody.of(planned, all.length);
    return body && { body, all };
  }

  private static of(planned: PlannedCall, inputs: number): PlannedBody | undefined {
    const { plan } = planned;
    const [item, ...more] = plan.items;
    if (!item || more.length || item.kind !== 'wasm' || item.checks.length) return undefined;
    if (item.at !== 0 || item.copyIns.some((c) => c.source.kind !== 'input')) return undefined;
    if (plan.updates.length || plan.outputs.some((o) => o.kind === 'step')) return undefined;
    return new PlannedBody(planned, inputs);
  }

  get accelerator(): WasmAccelerator {
    return this.planned.accelerator;
  }

  /**
   * Lays the results out: each at its memory address, or where its input is copied in (a slot of its
   * own when the plan copies that input nowhere), or a constant's copy in the region.
   */
  place(region: Region, args: readonly NDArray[]): void {
    for (const source of this.planned.plan.outputs) {
      if (source.kind === 'memory') this.resultAt.push(source.ptr);
      else if (source.kind === 'input') {
        const at = this.inputAt[source.index]!;
        if (!at.length) at.push(region.alloc(args[source.index]!.data.byteLength));
        this.resultAt.push(at[0]!);
      } else if (source.kind === 'constant') {
        const ptr = region.alloc(source.value.data.byteLength);
        this.resultAt.push(ptr);
        this.constants.push([ptr, source.value]);
      }
    }
  }

  /** Each result's shape and dtype. */
  resultTypes(args: readonly NDArray[]): { shape: readonly number[]; dtype: DType }[] {
    return this.planned.plan.outputs.map((o) => {
      if (o.kind === 'memory') return { shape: o.shape, dtype: o.dtype };
      if (o.kind === 'step') throw new Error('a loop tape replays plans of one segment');
      const x = o.kind === 'input' ? args[o.index]! : o.value;
      return { shape: o.shape ?? x.shape, dtype: x.dtype };
    });
  }

  /** Writes the extra inputs (after the first `from`) where the body reads them: once, before the loop. */
  writeExtra(from: number): void {
    (this.planned.extra ?? []).forEach((x, h) => {
      for (const ptr of this.inputAt[from + h]!) write(this.accelerator, ptr, x);
    });
  }

  /** Writes the constants the body returns (memory is large enough by now). */
  writeConstants(): void {
    for (const [ptr, x] of this.constants) write(this.accelerator, ptr, x);
  }
}

/** Copies `x`'s bytes to `ptr`. */
const write = (accelerator: WasmAccelerator, ptr: number, x: NDArray) => accelerator.arena.write(ptr, x.data);

/** A copy of `count` values of `dtype` at `ptr`, shaped `shape`. */
const read = (accelerator: WasmAccelerator, ptr: number, dtype: DType, shape: readonly number[]) =>
  new NDArray(copyOf(accelerator.arena.view(dtype, ptr, sizeOf(shape))), [...shape], dtype);

let tapesRun = 0;
/** Loops (forward or reverse) run inside wasm so far in this process: a function reports its own calls' share. */
export const loopTapesRun = (): number => tapesRun;

/** Runs a loop tape: memory sized, the tape written above the data, one call into the module. */
function runTape(accelerator: WasmAccelerator, tape: Int32Array, ptr: number): void {
  accelerator.arena.write(ptr, tape);
  const t0 = performance.now();
  accelerator.runTapeAt(ptr);
  ((globalThis as any).tapeMs ??= []).push(performance.now() - t0);
  tapesRun++;
}

/** The forward loop's values kept for its gradient: every fed-back output's rows (initial rows first), every updated variable's value before each step. */
export interface KeptSteps {
  /** The steps that ran (fewer than asked when the loop stopped at its until condition). */
  readonly ran: number;
  readonly histories: readonly (NDArray | undefined)[];
  readonly states: readonly NDArray[];
}

/** What each body input is, in the order scan traced the placeholders: a sequence's tap, an output's tap, an outer value. */
interface Parts {
  readonly sequences: readonly {
    readonly value: NDArray;
    readonly rowBytes: number;
    readonly taps: readonly number[];
  }[];
  /** Per output: its row's shape and bytes, and `depth` initial rows. */
  readonly outputs: readonly { readonly row: readonly number[]; readonly rowBytes: number; readonly depth: number }[];
  readonly outer: readonly NDArray[];
  readonly updatedAt: readonly number[];
  readonly placeholders: number;
}

function partsOf(
  step: LoopStep,
  value: (node: Node) => NDArray,
  args0: readonly NDArray[],
  results0: readonly { shape: readonly number[]; dtype: DType }[],
): Parts {
  const sequences = step.sequences.map((s) => {
    const v = value(s.input);
    return { value: v, rowBytes: sizeOf(rowOf(v)) * bytesPerElement(v.dtype), taps: s.taps };
  });
  const outputs = step.outputs.map((o, i) => {
    const r = results0[i]!;
    return { row: r.shape, rowBytes: sizeOf(r.shape) * bytesPerElement(r.dtype), depth: o.initial ? o.depth : 0 };
  });
  const placeholders = step.placeholders.length;
  return {
    sequences,
    outputs,
    outer: args0.slice(placeholders),
    updatedAt: step.updated.map((v) => step.outer.indexOf(v)),
    placeholders,
  };
}

/** The address of sequence row `position`'s step `t` and how it moves per step. */
const sequenceRow = (step: LoopStep, s: { first: number }, n: number, tap: number, t: number) => {
  const offset = t + s.first + tap;
  return { row: step.goBackwards ? n - 1 - offset : offset, stride: step.goBackwards ? -1 : 1 };
};

/**
 * The forward loop in one call into the body's module: returns the stacked outputs, the updated
 * variables' final values (the loop's output order), the steps that ran, and with `keep` what a
 * gradient needs of every step. Undefined when the body's plan cannot be replayed by a loop tape.
 */
export function runForwardInWasm(
  step: LoopStep,
  steps: number,
  lookup: PlanLookup,
  value: (node: Node) => NDArray,
  args0: readonly NDArray[],
  keep: boolean,
): { outputs: NDArray[]; kept?: KeptSteps } | undefined {
  const found = PlannedBody.lookup(lookup, args0);
  if (!found) return undefined;
  const { body, all } = found;
  const { accelerator, plan } = body.planned;
  const resultShapes = body.resultTypes(all);
  const parts = partsOf(step, value, args0, resultShapes);
  const O = step.outputs.length;
  parts.outputs.forEach((o, i) =>
    checkedSize([steps, ...o.row], resultShapes[i]!.dtype, `${step.where}: output ${i} over ${steps} steps`),
  );
  accelerator.install(plan);
  const region = new Region(align(plan.tapePtr + plan.tape.byteLength));
  body.place(region, all);
  const sequenceAt = parts.sequences.map((s) => region.alloc(s.value.data.byteLength));
  const outputAt = parts.outputs.map((o) => region.alloc((o.depth + steps) * o.rowBytes));
  const stateBytes = step.updated.map((_, k) => parts.outer[parts.updatedAt[k]!]!.data.byteLength);
  const stateAt = stateBytes.map((b) => region.alloc(b));
  const keptAt = keep ? stateBytes.map((b) => region.alloc(b * steps)) : [];
  const tapePtr = region.end;

  const loop = new LoopTape();
  const start = loop.position;
  let input = 0;
  step.sequences.forEach((s, i) => {
    const { rowBytes, value: v } = parts.sequences[i]!;
    for (const tap of s.taps) {
      const { row, stride } = sequenceRow(step, s, v.shape[0]!, tap, 0);
      for (const ptr of body.inputAt[input]!)
        loop.copy(ptr, sequenceAt[i]! + row * rowBytes, rowBytes, 0, stride * rowBytes);
      input++;
    }
  });
  step.outputs.forEach((o, i) => {
    const { rowBytes, depth } = parts.outputs[i]!;
    for (const tap of o.taps) {
      for (const ptr of body.inputAt[input]!)
        loop.copy(ptr, outputAt[i]! + (depth + tap) * rowBytes, rowBytes, 0, rowBytes);
      input++;
    }
  });
  stateAt.forEach((ptr, k) => {
    if (keep) loop.copy(keptAt[k]!, ptr, stateBytes[k]!, stateBytes[k]!);
  });
  loop.records(body.records);
  parts.outputs.forEach((o, i) =>
    loop.copy(outputAt[i]! + o.depth * o.rowBytes, body.resultAt[i]!, o.rowBytes, o.rowBytes),
  );
  stateAt.forEach((ptr, k) => {
    const from = body.resultAt[O + k]!;
    loop.copy(ptr, from, stateBytes[k]!);
    for (const at of body.inputAt[parts.placeholders + parts.updatedAt[k]!]!) loop.copy(at, from, stateBytes[k]!);
  });
  const stop = step.stops ? body.resultAt[body.resultAt.length - 1]! : -1;
  const { words, remainingAt } = loop.close(start, steps, tapePtr, stop);

  accelerator.arena.ensure(tapePtr + words.byteLength);
  body.writeConstants();
  parts.sequences.forEach((s, i) => write(accelerator, sequenceAt[i]!, s.value));
  step.outputs.forEach((o, i) => {
    if (!o.initial) return;
    const initial = value(o.initial);
    const bytes = parts.outputs[i]!.depth * parts.outputs[i]!.rowBytes;
    accelerator.arena.write(
      outputAt[i]!,
      new Uint8Array(initial.data.buffer, initial.data.byteOffset + initial.data.byteLength - bytes, bytes),
    );
  });
  parts.outer.forEach((x, j) => {
    for (const ptr of body.inputAt[parts.placeholders + j]!) write(accelerator, ptr, x);
  });
  body.writeExtra(args0.length);
  stateAt.forEach((ptr, k) => write(accelerator, ptr, parts.outer[parts.updatedAt[k]!]!));
  runTape(accelerator, words, tapePtr);
  const ran = steps - accelerator.arena.view('int32', remainingAt, 1)[0]!;

  const outputs = parts.outputs.map((o, i) =>
    readRows(accelerator, outputAt[i]! + o.depth * o.rowBytes, resultShapes[i]!.dtype, o.row, ran),
  );
  const finals = stateAt.map((ptr, k) => {
    const x = parts.outer[parts.updatedAt[k]!]!;
    return read(accelerator, ptr, x.dtype, x.shape);
  });
  if (!keep) return { outputs: [...outputs, ...finals] };
  const kept: KeptSteps = {
    ran,
    histories: parts.outputs.map((o, i) =>
      step.outputs[i]!.initial
        ? readRows(accelerator, outputAt[i]!, resultShapes[i]!.dtype, o.row, o.depth + ran)
        : undefined,
    ),
    states: keptAt.map((ptr, k) => {
      const x = parts.outer[parts.updatedAt[k]!]!;
      return readRows(accelerator, ptr, x.dtype, x.shape, ran);
    }),
  };
  return { outputs: [...outputs, ...finals], kept };
}

const readRows = (accelerator: WasmAccelerator, ptr: number, dtype: DType, row: readonly number[], rows: number) =>
  read(accelerator, ptr, dtype, [rows, ...row]);

/** The cotangents a reverse loop leaves, before they are summed per node (loop-runner.ts's cotangentsOf). */
export interface LoopCotangents {
  readonly sequences: readonly NDArray[];
  /** Per output: its initial value's cotangent (none when not fed back). */
  readonly initials: readonly (NDArray | undefined)[];
  /** Per outer value (updated ones' entries unused). */
  readonly outer: readonly NDArray[];
  /** Per updated variable: the cotangent of its value before the first step. */
  readonly state: readonly (NDArray | undefined)[];
}

const zerosOf = (dtype: DType, shape: readonly number[]) =>
  new NDArray(
    new (bytesPerElement(dtype) === 8
      ? Float64Array
      : dtype === 'float32'
        ? Float32Array
        : dtype === 'int32'
          ? Int32Array
          : Uint8Array)(sizeOf(shape)),
    [...shape],
    dtype,
  );

/**
 * The reverse loop in one call into the vector-Jacobian product's module: from the last step that ran
 * to the first, each step's inputs (read from what the forward loop kept) and its results' cotangents
 * go in, and the cotangents of its inputs are added where they belong. `output` is the loop output
 * (or, past the outputs, the updated variable) whose cotangent `cotangent` is. Undefined when the
 * product's plan cannot be replayed by a loop tape.
 */
export function runReverseInWasm(
  step: LoopStep,
  kept: KeptSteps,
  lookup: PlanLookup,
  value: (node: Node) => NDArray,
  forwardOutputs: readonly NDArray[],
  output: number,
  cotangent: NDArray,
): LoopCotangents | undefined {
  const { ran } = kept;
  const O = step.outputs.length;
  const sequences = step.sequences.map((s) => value(s.input));
  const outer = step.outer.map((o) => value(o));
  const updatedAt = step.updated.map((v) => step.outer.indexOf(v));
  const P = step.placeholders.length;
  // The last step's inputs, then a zero cotangent per result: the call shape of every step.
  const lastInputs: NDArray[] = [];
  step.sequences.forEach((s, i) => {
    for (const tap of s.taps) {
      const { row } = sequenceRow(step, s, sequences[i]!.shape[0]!, tap, ran - 1);
      lastInputs.push(rowView(sequences[i]!, row));
    }
  });
  step.outputs.forEach((o, i) => {
    for (const tap of o.taps) lastInputs.push(rowView(kept.histories[i]!, o.depth + ran - 1 + tap));
  });
  const current = [...outer];
  updatedAt.forEach((at, k) => (current[at] = rowView(kept.states[k]!, ran - 1)));
  const resultTypes = [
    ...forwardOutputs.slice(0, O).map((r) => ({ dtype: r.dtype, shape: rowOf(r) })),
    ...step.updated.map((_, k) => ({ dtype: forwardOutputs[O + k]!.dtype, shape: forwardOutputs[O + k]!.shape })),
    ...(step.stops ? [{ dtype: 'bool' as DType, shape: [] as number[] }] : []),
  ];
  const args0 = [...lastInputs, ...current, ...resultTypes.map((r) => zerosOf(r.dtype, r.shape))].map((a, i, all) =>
    all.indexOf(a) < i ? a.clone() : a,
  );
  const found = PlannedBody.lookup(lookup, args0);
  if (!found) return undefined;
  const { body, all } = found;
  const { accelerator, plan } = body.planned;
  accelerator.install(plan);
  const region = new Region(align(plan.tapePtr + plan.tape.byteLength));
  body.place(region, all);
  const bytesOf = (x: { dtype: DType; shape: readonly number[] }) => sizeOf(x.shape) * bytesPerElement(x.dtype);
  const rowBytes = resultTypes.map(bytesOf);
  const sequenceAt = sequences.map((s) => region.alloc(s.data.byteLength));
  const cotSequenceAt = sequences.map((s) => region.alloc(s.data.byteLength));
  const historyAt = kept.histories.map((h) => (h ? region.alloc(h.data.byteLength) : -1));
  const cotHistoryAt = kept.histories.map((h) => (h ? region.alloc(h.data.byteLength) : -1));
  const stateAt = kept.states.map((s) => region.alloc(s.data.byteLength));
  const cotStateAt = step.updated.map((_, k) => region.alloc(rowBytes[O + k]!));
  const cotOuterAt = outer.map((x) => region.alloc(x.data.byteLength));
  // The cotangent of an output no later step reads: its rows, when it is the one differentiated.
  const cotOutputAt = step.outputs.map((o, i) =>
    !o.initial && output === i ? region.alloc(cotangent.data.byteLength) : -1,
  );
  const tapePtr = region.end;

  const loop = new LoopTape();
  const zero = (ptr: number, bytes: number) => loop.writer.zero(ptr, bytes);
  cotSequenceAt.forEach((ptr, i) => zero(ptr, sequences[i]!.data.byteLength));
  cotHistoryAt.forEach((ptr, i) => {
    if (ptr >= 0 && output !== i) zero(ptr, kept.histories[i]!.data.byteLength);
  });
  cotHistoryAt.forEach((ptr, i) => {
    // Rows before the first step's outputs: the initial rows, where later steps add.
    if (ptr >= 0 && output === i) zero(ptr, step.outputs[i]!.depth * rowBytes[i]!);
  });
  cotStateAt.forEach((ptr, k) => {
    if (output !== O + k) zero(ptr, rowBytes[O + k]!);
  });
  cotOuterAt.forEach((ptr, j) => zero(ptr, outer[j]!.data.byteLength));
  const cotInput = (r: number) => body.inputAt[P + outer.length + r]!;
  resultTypes.forEach((_, r) => {
    const fed = r < O && step.outputs[r]!.initial;
    const fromRows = r < O && (fed || output === r);
    if (!fromRows && r >= O + step.updated.length) for (const ptr of cotInput(r)) zero(ptr, rowBytes[r]!);
    else if (!fromRows && r < O) for (const ptr of cotInput(r)) zero(ptr, rowBytes[r]!);
  });
  const start = loop.position;
  const last = ran - 1;
  let input = 0;
  step.sequences.forEach((s, i) => {
    const rb = sequences[i]!.data.byteLength / Math.max(1, sequences[i]!.shape[0]!);
    for (const tap of s.taps) {
      const { row, stride } = sequenceRow(step, s, sequences[i]!.shape[0]!, tap, last);
      for (const ptr of body.inputAt[input]!) loop.copy(ptr, sequenceAt[i]! + row * rb, rb, 0, -stride * rb);
      input++;
    }
  });
  step.outputs.forEach((o, i) => {
    const rb = rowBytes[i]!;
    for (const tap of o.taps) {
      for (const ptr of body.inputAt[input]!) loop.copy(ptr, historyAt[i]! + (o.depth + last + tap) * rb, rb, 0, -rb);
      input++;
    }
  });
  stateAt.forEach((at, k) => {
    const bytes = rowBytes[O + k]!;
    for (const ptr of body.inputAt[P + updatedAt[k]!]!) loop.copy(ptr, at + last * bytes, bytes, 0, -bytes);
  });
  step.outputs.forEach((o, i) => {
    const rb = rowBytes[i]!;
    const from = o.initial ? cotHistoryAt[i]! + (o.depth + last) * rb : output === i ? cotOutputAt[i]! + last * rb : -1;
    if (from >= 0) for (const ptr of cotInput(i)) loop.copy(ptr, from, rb, 0, -rb);
  });
  cotStateAt.forEach((at, k) => {
    for (const ptr of cotInput(O + k)) loop.copy(ptr, at, rowBytes[O + k]!);
  });
  loop.records(body.records);
  let g = 0;
  step.sequences.forEach((s, i) => {
    const x = sequences[i]!;
    const rb = x.data.byteLength / Math.max(1, x.shape[0]!);
    for (const tap of s.taps) {
      const { row, stride } = sequenceRow(step, s, x.shape[0]!, tap, last);
      loop.add(x.dtype, cotSequenceAt[i]! + row * rb, body.resultAt[g++]!, sizeOf(rowOf(x)), -stride * rb);
    }
  });
  step.outputs.forEach((o, i) => {
    const rb = rowBytes[i]!;
    for (const tap of o.taps)
      loop.add(
        resultTypes[i]!.dtype,
        cotHistoryAt[i]! + (o.depth + last + tap) * rb,
        body.resultAt[g++]!,
        sizeOf(resultTypes[i]!.shape),
        -rb,
      );
  });
  outer.forEach((x, j) => {
    const k = updatedAt.indexOf(j);
    if (k >= 0) loop.copy(cotStateAt[k]!, body.resultAt[g + j]!, rowBytes[O + k]!);
    else loop.add(x.dtype, cotOuterAt[j]!, body.resultAt[g + j]!, x.size);
  });
  const { words } = loop.close(start, ran, tapePtr);

  accelerator.arena.ensure(tapePtr + words.byteLength);
  body.writeConstants();
  sequences.forEach((x, i) => write(accelerator, sequenceAt[i]!, x));
  kept.histories.forEach((h, i) => {
    if (h) write(accelerator, historyAt[i]!, h);
  });
  kept.states.forEach((s, k) => write(accelerator, stateAt[k]!, s));
  outer.forEach((x, j) => {
    if (!updatedAt.includes(j)) for (const ptr of body.inputAt[P + j]!) write(accelerator, ptr, x);
  });
  body.writeExtra(args0.length);
  if (output < O) {
    const o = step.outputs[output]!;
    const at = o.initial ? cotHistoryAt[output]! + o.depth * rowBytes[output]! : cotOutputAt[output]!;
    write(accelerator, at, cotangent);
  } else write(accelerator, cotStateAt[output - O]!, cotangent);
  runTape(accelerator, words, tapePtr);

  return {
    sequences: sequences.map((x, i) => read(accelerator, cotSequenceAt[i]!, x.dtype, x.shape)),
    initials: step.outputs.map((o, i) => {
      if (!o.initial) return undefined;
      const initial = value(o.initial);
      const rows = read(accelerator, cotHistoryAt[i]!, resultTypes[i]!.dtype, [o.depth, ...resultTypes[i]!.shape]);
      if (o.depth === 1) return rows.reshape([...initial.shape]);
      const c = zerosOf(initial.dtype, initial.shape);
      c.data.set(rows.data as never, c.size - rows.size);
      return c;
    }),
    outer: outer.map((x, j) => read(accelerator, cotOuterAt[j]!, x.dtype, x.shape)),
    state: cotStateAt.map((at, k) => read(accelerator, at, resultTypes[O + k]!.dtype, resultTypes[O + k]!.shape)),
  };
}

/** Row `i` of `x`, a view. */
const rowView = (x: NDArray, i: number) => {
  const size = x.size / x.shape[0]!;
  return new NDArray(x.data.subarray(i * size, (i + 1) * size) as typeof x.data, rowOf(x), x.dtype);
};
