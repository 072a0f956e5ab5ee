import type { Step } from '../program.js';
import type { NDArray } from '../ndarray.js';
import type { WasmArena } from './arena.js';
import type { DrawSource } from '../random.js';
import type { ThreadPool } from './threads.js';

/** An exported kernel function: i32 arguments (sizes and byte addresses), no result. */
export type KernelFn = (...args: number[]) => void;
/** One kernel invocation: function index and i32 arguments. */
export type Job = readonly [number, readonly number[]];

/** Work below these sizes stays on one thread: waking a helper costs more than it saves. */
export const PARALLEL_ELEMENTS = 1 << 16;
export const PARALLEL_FLOPS = 1 << 22;

export const roundUp = (n: number, k: number) => Math.ceil(n / k) * k;

/**
 * What the per-kind drivers (drivers/*.ts) need from a compiled function's wasm instance: its memory,
 * its functions, the thread pool, and the per-call bookkeeping of where operands are. Drivers touch
 * wasm memory only through these methods (never through views of their own), so that a recorded
 * call's tape holds everything the call did.
 */
export interface KernelCalls {
  readonly arena: WasmArena;
  readonly fns: readonly KernelFn[];
  /** Index of each exported function in `fns` (kernels and their companions), by export name. */
  readonly fnIndex: ReadonlyMap<string, number>;
  readonly pool: ThreadPool | undefined;
  /** Threads big kernels are split across. */
  readonly threads: number;
  /** Per call: where an operand from JavaScript memory was copied in, so it is copied once. */
  readonly copies: Map<ArrayBufferView, number>;
  /** The module's id with the helpers (registered the first time work is shared with them). */
  readonly registerWithHelpers: () => number;
  /**
   * True while the call records its plan (runtime/call-plan.ts): operands are copied in whole before
   * the kernel and results stay in memory, so that the tape alone repeats the call.
   */
  readonly recording: boolean;
  /** Runs jobs[0] here and the rest on helpers, or all here in order without a pool. */
  dispatch(jobs: readonly Job[]): void;
  /** One kernel call on this thread. */
  call(fn: number, args: readonly number[]): void;
  /** Copies `bytes` within wasm memory (the ranges may overlap). */
  copy(dst: number, src: number, bytes: number): void;
  /** dst[i] += src[i] for `count` floats of `dtype` in wasm memory. */
  addInto(dtype: 'float32' | 'float64', dst: number, src: number, count: number): void;
  /** Writes i32 `words` at `ptr` (a kernel's table of sizes and strides). */
  storeWords(ptr: number, words: readonly number[]): void;
  /** Zeroes `bytes` at `ptr`. */
  zero(ptr: number, bytes: number): void;
  /** The status words (8 bytes, kept across calls) of a step whose kernel reports bad indices. */
  statusOf(step: Step): number;
  /**
   * Throws `error(index)` if the step's kernel reported a bad index at `status` (now, and after every
   * planned call's tape segment that runs the step).
   */
  check(step: Step, status: number, error: (index: number) => Error): void;
  /** Where the state of a random op's stream is kept across calls. */
  randomState(source: DrawSource): number;
  /** Memory for an operand from JavaScript that the caller copies in itself. */
  reserve(x: NDArray): number;
  /** The address of an operand in wasm memory, copying it in (once per call) unless a kernel left it there. */
  place(x: NDArray): number;
  /** Contiguous parts of [0, total) for each thread, every boundary a multiple of `align`. */
  parts(total: number, align: number, worth: boolean): [number, number][];
  /** The float type a kernel was built for. */
  floatType(kernel: number): 'float32' | 'float64';
  /** True for a dying value no other slot holds, in a block of its own (a result may take its memory). */
  solelyHeld(value: NDArray): boolean;
  /** Runs a step on its kernel (channels-first steps run their channels-last form through it). */
  run(step: Step, operands: readonly NDArray[]): NDArray | undefined;
}
