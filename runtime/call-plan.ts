import type { Step } from './program.js';
import type { DType } from './dtype.js';
import type { NDArray } from './ndarray.js';
import { TapeWriter } from './tape.js';

/**
 * A call plan: everything the first call of a function at one call shape did, kept so that later
 * calls of that shape repeat it in one call into wasm. The first call runs step by step as always
 * and records, as it goes, every kernel call, copy and scratch write on a tape (runtime/tape.ts),
 * where each operand from JavaScript was copied in, and where each output was left. Later calls copy
 * the inputs in, run the tape, and read the outputs: no layout, allocation or argument is worked out
 * again. Steps that ran on the reference kernels split the tape into segments and run between them.
 *
 * The plan is all numbers (addresses, sizes) for one call shape: the memory plan for that shape.
 */

/** Where a value of a planned call is found. */
export type ValueSource =
  | { readonly kind: 'memory'; readonly ptr: number; readonly dtype: DType; readonly shape: readonly number[] }
  /** An input or a constant, seen through `shape` when a view (reshape) gave it another. */
  | { readonly kind: 'input'; readonly index: number; readonly shape?: readonly number[] }
  | { readonly kind: 'constant'; readonly value: NDArray; readonly shape?: readonly number[] }
  /** The result of a step that runs on the reference kernels, by its slot. */
  | { readonly kind: 'step'; readonly slot: number };

/** A value from JavaScript copied into wasm memory at `ptr` before the tape segment that reads it. */
export interface CopyIn {
  readonly source: Exclude<ValueSource, { kind: 'memory' }>;
  readonly ptr: number;
}

/** A kernel that reports bad indices: after its segment, the status words at `ptr` say whether it failed. */
export interface StatusCheck {
  readonly ptr: number;
  readonly step: Step;
  /** The step's operands' shapes (as in the call that recorded the plan: the same in every call of it). */
  readonly shapes: readonly (readonly number[])[];
  readonly error: (index: number) => Error;
}

export type PlanItem =
  /** Copies in, then one call of `run` on the tape from word `at`, then the checks of its kernels. */
  | {
      readonly kind: 'wasm';
      readonly at: number;
      readonly copyIns: readonly CopyIn[];
      readonly checks: readonly StatusCheck[];
    }
  /** A step on the reference kernels; its result becomes the value of `step.out`. */
  | { readonly kind: 'reference'; readonly step: Step; readonly operands: readonly ValueSource[] };

export interface CallPlan {
  readonly items: readonly PlanItem[];
  readonly tape: Int32Array;
  /** Where the tape is written in wasm memory: above every byte the call uses. */
  readonly tapePtr: number;
  /** Constants' copies: written when the plan is installed, never overwritten while it is. */
  readonly constantCopies: readonly CopyIn[];
  readonly outputs: readonly ValueSource[];
  readonly updates: readonly ValueSource[];
  /** Steps with a wasm kernel that ran on the reference kernels, per call. */
  readonly fallbacks: number;
}

/** What a recording needs to know about wasm memory (the accelerator's own question). */
export interface MemoryOwner {
  /** True for values in the accelerator's memory. */
  resident(value: NDArray): boolean;
}

/** The call key: input shapes (dtypes are fixed by the graph). */
export const callKey = (inputs: readonly NDArray[]): string => inputs.map((x) => x.shape.join(',')).join(';');

/**
 * Collects a call plan during a call that runs step by step. The accelerator writes the tape and
 * reports copies in; the executor reports where JavaScript values come from and the steps that ran
 * on the reference kernels. Anything it cannot account for makes the call unplannable (`broken`):
 * such a call shape keeps running step by step, which is always correct.
 */
export class CallRecorder {
  readonly tape = new TapeWriter();
  /** Where bytes from JavaScript come from (what a copy in needs). */
  private readonly sources = new Map<ArrayBufferView, Exclude<ValueSource, { kind: 'memory' }>>();
  /** Where each value from JavaScript comes from, shape included (a reshaped input has the input's bytes, not its shape). */
  private readonly values = new Map<NDArray, Exclude<ValueSource, { kind: 'memory' }>>();
  private readonly items: PlanItem[] = [];
  private readonly constantCopies: CopyIn[] = [];
  private copyIns: CopyIn[] = [];
  private checks: StatusCheck[] = [];
  /** The shapes of the operands of the step running now. */
  operandShapes: readonly (readonly number[])[] = [];
  private segmentStart = 0;
  fallbacks = 0;
  broken: string | undefined;

  constructor(private readonly memory: MemoryOwner) {}

  /** `value` is input `index`, a constant, or a reference step's result. */
  source(value: NDArray, source: Exclude<ValueSource, { kind: 'memory' }>): void {
    if (this.memory.resident(value)) return;
    if (source.kind === 'input' && this.sources.has(value.data)) this.fail('two inputs are the same array');
    this.values.set(value, source);
    if (!this.sources.has(value.data)) this.sources.set(value.data, source);
  }

  /** The accelerator copied `data` from JavaScript to `ptr` (in a block no other value of the call ever used). */
  copyIn(data: ArrayBufferView, ptr: number): void {
    const source = this.sources.get(data);
    if (!source) return this.fail('an operand was made in JavaScript during the call');
    (source.kind === 'constant' ? this.constantCopies : this.copyIns).push({ source, ptr });
  }

  /** Where `value` is at this point of the call, or undefined (and the plan broken) if nowhere known. */
  locate(value: NDArray): ValueSource | undefined {
    if (this.memory.resident(value))
      return { kind: 'memory', ptr: value.data.byteOffset, dtype: value.dtype, shape: [...value.shape] };
    const source = this.values.get(value);
    if (!source) this.fail('a value was made in JavaScript outside the reference steps');
    return source;
  }

  /** A step ran on the reference kernels with `operands`, giving `value`. */
  reference(step: Step, operands: readonly NDArray[], value: NDArray): void {
    // A view of a value in memory (reshape, an output of a fused step) is no work: its bytes are where they were.
    if (this.memory.resident(value) || this.values.has(value)) return;
    // So is a view of an input's or a constant's bytes: the same source, seen with another shape.
    const bytes = this.sources.get(value.data);
    if (bytes && bytes.kind !== 'step') {
      this.values.set(value, { ...bytes, shape: [...value.shape] });
      return;
    }
    const located = operands.map((o) => this.locate(o));
    if (located.some((l) => l === undefined)) return;
    this.endSegment();
    this.items.push({ kind: 'reference', step, operands: located as ValueSource[] });
    this.source(value, { kind: 'step', slot: step.out });
  }

  /** The current step's kernel reports bad indices at `ptr`. */
  check(ptr: number, step: Step, error: (index: number) => Error): void {
    this.checks.push({ ptr, step, shapes: this.operandShapes, error });
  }

  fail(reason: string): void {
    this.broken ??= reason;
  }

  private endSegment(): void {
    if (this.tape.words.length === this.segmentStart) return;
    this.tape.end();
    this.items.push({ kind: 'wasm', at: this.segmentStart, copyIns: this.copyIns, checks: this.checks });
    this.copyIns = [];
    this.checks = [];
    this.segmentStart = this.tape.words.length;
  }

  /** The plan, given where outputs and update values are at the end of the call and where the tape may go. */
  finish(outputs: readonly NDArray[], updates: readonly NDArray[], tapePtr: number): CallPlan | undefined {
    const located = (values: readonly NDArray[]) => values.map((v) => this.locate(v));
    const [outs, ups] = [located(outputs), located(updates)];
    this.endSegment();
    if (this.broken !== undefined) return undefined;
    return {
      items: this.items,
      tape: Int32Array.from(this.tape.words),
      tapePtr,
      constantCopies: this.constantCopies,
      outputs: outs as ValueSource[],
      updates: ups as ValueSource[],
      fallbacks: this.fallbacks,
    };
  }
}
