import v8 from 'node:v8';
import type { KernelSpec } from '../kernel-abi.js';
import { kernelExports } from '../kernel-abi.js';
import type { SharedContainer } from '../program.js';
import { bytesPerElement } from '../dtype.js';
import type { Residence } from '../shared-value.js';
import type { Program, Step } from '../program.js';
import type { Accelerator } from '../executor.js';
import { copyOf, NDArray, sizeOf } from '../ndarray.js';
import { ConfigError } from '../errors.js';
import type { ConvParams } from '../reference/nn.js';
import { blockBytes, WasmArena } from './arena.js';
import { threadPool, type ThreadPool } from './threads.js';
import { cachedModule, moduleKey, type CacheSource } from './cache.js';
import { type Job, type KernelCalls, type KernelFn, roundUp } from './kernel-calls.js';
import {
  ACTIVATIONS,
  channelsFirst,
  conv2d,
  conv2dGradFilter,
  conv2dGradInput,
  poolGrad,
  pooling,
} from './drivers/conv.js';
import { elementwise } from './drivers/elementwise.js';
import { matmul } from './drivers/linalg.js';
import { argReduce, argsort, cumulative, reduce, softmax, takeAlong, topk } from './drivers/reduce.js';
import { dense } from './drivers/dense.js';
import { shapeOp } from './drivers/shape.js';
import { gather, gatherGrad, oneHot, randomUniform, toInt32 } from './drivers/indexing.js';
import { initialState, type DrawSource, type RandomStream } from '../random.js';

const streamKey = (source: DrawSource): number | RandomStream => source.stream ?? source.seed;
const stateOf = (key: number | RandomStream): number => (typeof key === 'number' ? initialState(key) : key.state);
import type { CallPlan, CallRecorder, ValueSource } from '../call-plan.js';
import { PARALLEL_IMPORT, parallelJobs, RUN_EXPORT } from '../tape.js';

const BY_INDEX = { gather, gatherGrad, oneHot, randomUniform, toInt32 } as const;

let configured = false;
/**
 * Two V8 settings, made before the first module is compiled. Liftoff off: V8 first compiles wasm
 * with Liftoff and tiers a function up only after many calls, so a kernel called once on a big array
 * would stay at a quarter of its speed (TSANO_LIFTOFF=1 keeps it, to measure the difference).
 * Relaxed SIMD on: Node 20 has f32x4.relaxed_madd (a real FMA) behind a flag.
 */
function configureV8(): void {
  if (configured) return;
  configured = true;
  if (process.env['TSANO_LIFTOFF'] !== '1') v8.setFlagsFromString('--no-liftoff');
  v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
}

/** Relaxed SIMD is used unless TSANO_RELAXED_SIMD=0; an engine without it rejects the module, and the plain one is used. */
const wantRelaxed = () => process.env['TSANO_RELAXED_SIMD'] !== '0';

/** Generates the module of a program's kernels (wasm bytes), with relaxed-SIMD FMA or plain SIMD128. */
export type ModuleGenerator = (kernels: readonly KernelSpec[], relaxedSimd: boolean) => Uint8Array;

/**
 * Runs a compiled function's wasm kernels in memory it owns: the instance, the memory and what lives
 * in it across and within calls, and the dispatch to the per-kind drivers (drivers/*.ts). Operands are
 * copied in unless an earlier kernel of the same call left them there; results stay in place for the
 * next kernel. Big kernels are split across the thread pool (bit-identical to one thread).
 */
export class WasmAccelerator implements Accelerator, Residence, KernelCalls {
  readonly arena = new WasmArena();
  readonly fns: KernelFn[];
  readonly pool: ThreadPool | undefined;
  /** The module's id with the thread pool, registered the first time a kernel is shared with helpers. */
  private helperModuleId?: number;
  readonly registerWithHelpers: () => number;
  /** Per call: how many slots hold a value in each arena block (a block is freed when none does). */
  private readonly holders = new Map<number, number>();
  /** Per call: where an operand from JavaScript memory was copied in, so it is copied once. */
  readonly copies = new Map<ArrayBufferView, number>();
  /** Where each shared variable the function reads is kept across calls (the bottom of the arena). */
  private readonly residents = new Map<SharedContainer, { readonly ptr: number; copiedFrom?: NDArray }>();
  /** Index of each exported function in `fns` (kernels and their companions), by export name. */
  readonly fnIndex: Map<string, number>;

  /**
   * Steps whose result goes straight back to the caller (an output no later step reads and no update
   * keeps): an elementwise kernel copies it out part by part as the parts finish.
   */
  private readonly leaving: ReadonlySet<Step>;
  private readonly kernels: readonly KernelSpec[];
  private readonly inPlace: boolean;
  /** The module's entry point: runs a call tape (runtime/tape.ts). */
  private readonly runTape: (ptr: number) => void;
  /** Records this call's plan, when it is the first call of its shape. */
  private recorder: CallRecorder | undefined;
  /** The plan whose tape and constants are in memory now (any other call may overwrite them). */
  private installed: CallPlan | undefined;
  /** Calls from JavaScript into the module, over all calls (kernels one by one, or tapes). */
  entries = 0;
  private readonly keptBytes: number;
  /** Where each random stream's state is kept: by seed for a function's own streams, else by shared stream. */
  private readonly streams = new Map<number | RandomStream, number>();
  /** Where each index-checking step's status words are kept. */
  private readonly statuses = new Map<Step, number>();

  private constructor(
    program: Program,
    module: WebAssembly.Module,
    exportNames: readonly string[],
    readonly relaxedSimd: boolean,
    readonly moduleSource: CacheSource,
    singleThread: boolean,
  ) {
    this.kernels = program.kernels;
    this.inPlace = program.inPlace;
    // Kept across calls, at the bottom of memory: shared variables' values, random streams' states,
    // and the status words of kernels that report bad indices.
    let kept = 0;
    for (const { container: s } of program.shared) {
      this.residents.set(s, { ptr: kept });
      kept += blockBytes(sizeOf(s.shape) * bytesPerElement(s.dtype));
    }
    for (const step of program.steps) {
      if (step.kernel === undefined) continue;
      const kind = program.kernels[step.kernel]!.kind;
      if (kind === 'randomUniform') {
        const key = streamKey(step.args as DrawSource);
        if (!this.streams.has(key)) this.streams.set(key, (kept += 16) - 16);
      } else if (kind === 'gather' || kind === 'gatherGrad') this.statuses.set(step, (kept += 16) - 16);
    }
    this.arena.keep(kept);
    this.keptBytes = kept;
    for (const [key, ptr] of this.streams) this.arena.view('int32', ptr, 1)[0] = stateOf(key);
    const instance = new WebAssembly.Instance(module, {
      env: {
        memory: this.arena.memory,
        [PARALLEL_IMPORT]: (ptr: number) => this.runParallel(ptr),
      },
    });
    this.fns = exportNames.map((n) => instance.exports[n] as KernelFn);
    this.runTape = instance.exports[RUN_EXPORT] as (ptr: number) => void;
    this.pool = singleThread ? undefined : threadPool();
    // Helpers instantiate the module only once work is shared with them: a function that never splits
    // a kernel costs them nothing.
    this.registerWithHelpers = () =>
      (this.helperModuleId ??= this.pool!.register(module, this.arena.memory, exportNames, this));
    this.fnIndex = new Map(exportNames.map((n, i) => [n, i]));
    const readLater = new Set(program.updates.map((u) => u.slot));
    const leaving = new Set<Step>();
    for (let i = program.steps.length - 1; i >= 0; i--) {
      const step = program.steps[i]!;
      if (program.outputSlots.includes(step.out) && !readLater.has(step.out)) leaving.add(step);
      step.inputs.forEach((slot) => readLater.add(slot));
    }
    this.leaving = leaving;
  }

  /**
   * The accelerator for `program`, with its kernels' module from the cache or from `generate` (the code
   * generator, which the compiler passes in: the runtime never loads it itself).
   */
  static create(
    program: Program,
    generate: ModuleGenerator,
    options: { readonly singleThread?: boolean } = {},
  ): WasmAccelerator | undefined {
    if (program.kernels.length === 0) return undefined;
    configureV8();
    // Export names follow from the kernel list, so a cached module needs no side table.
    const exports = kernelExports(program.kernels);
    if (wantRelaxed()) {
      try {
        const { module, source } = cachedModule(moduleKey(program.kernels, 'relaxed'), () =>
          generate(program.kernels, true),
        );
        return new WasmAccelerator(program, module, exports, true, source, options.singleThread === true);
      } catch (e) {
        if (e instanceof ConfigError) throw e;
        // a module with one unsupported opcode fails whole: fall back to plain SIMD128
      }
    }
    const { module, source } = cachedModule(moduleKey(program.kernels, 'simd128'), () =>
      generate(program.kernels, false),
    );
    return new WasmAccelerator(program, module, exports, false, source, options.singleThread === true);
  }

  /**
   * Lets go of the module and its memory at once: values of shared variables this function holds are
   * copied back to JavaScript first, and helper threads drop their instance.
   */
  dispose(): void {
    for (const shared of this.residents.keys()) if (shared.livesIn(this)) shared.value = this.readBack(shared);
    if (this.helperModuleId !== undefined) this.pool!.unregister(this.helperModuleId, this);
  }

  /**
   * What lives at the bottom of memory across calls: each shared variable's home, each random
   * stream's state, and the bytes they take (what an exported copy of the function sets up).
   */
  get keptLayout(): {
    readonly shared: readonly { readonly container: SharedContainer; readonly ptr: number }[];
    readonly streams: readonly { readonly ptr: number; readonly state: number }[];
    readonly bytes: number;
  } {
    return {
      shared: [...this.residents].map(([container, { ptr }]) => ({ container, ptr })),
      streams: [...this.streams].map(([key, ptr]) => ({ ptr, state: stateOf(key) })),
      bytes: this.keptBytes,
    };
  }

  /** The most bytes of wasm memory one call has spanned. */
  get memoryPeak(): number {
    return this.arena.peak;
  }

  /** Threads this accelerator splits big kernels across. */
  get threads(): number {
    return (this.pool?.helpers ?? 0) + 1;
  }

  beginCall(recorder?: CallRecorder): void {
    this.arena.beginCall();
    this.holders.clear();
    this.copies.clear();
    this.recorder = recorder;
    this.installed = undefined;
  }

  /** True while the call records its plan: operands are copied in whole, results left in memory. */
  get recording(): boolean {
    return this.recorder !== undefined;
  }

  /** Where a recorded call's tape may go: above every byte the call used. */
  get tapePtr(): number {
    return roundUp(this.arena.callSpan, 16);
  }

  /** Makes `plan`'s tape and constants present in memory (again, if another call may have overwritten them). */
  install(plan: CallPlan): void {
    if (this.installed === plan) return;
    this.arena.ensure(plan.tapePtr + plan.tape.byteLength);
    this.arena.write(plan.tapePtr, plan.tape);
    for (const c of plan.constantCopies) if (c.source.kind === 'constant') this.arena.write(c.ptr, c.source.value.data);
    this.installed = plan;
  }

  /** Copies a value from JavaScript to `ptr` (a planned call's inputs). */
  write(ptr: number, data: ArrayBufferView): void {
    this.arena.write(ptr, data);
  }

  /** Runs the installed plan's tape from word `at`: one call into the module. */
  runPlanned(plan: CallPlan, at: number): void {
    this.entries++;
    this.runTape(plan.tapePtr + 4 * at);
  }

  /** Runs a tape written at `ptr` (a loop's, above an installed plan's memory): one call into the module. */
  runTapeAt(ptr: number): void {
    this.entries++;
    this.runTape(ptr);
  }

  /** A planned call's value in memory. */
  view(source: Extract<ValueSource, { kind: 'memory' }>): NDArray {
    return new NDArray(
      this.arena.view(source.dtype, source.ptr, sizeOf(source.shape)),
      [...source.shape],
      source.dtype,
    );
  }

  /** The module's `parallel` import: the jobs of the tape's record at `ptr`, split across threads. */
  private runParallel(ptr: number): void {
    // The record's second word is its length in words.
    const record = this.arena.view('int32', ptr, this.arena.view('int32', ptr, 2)[1]!);
    this.dispatchNow(parallelJobs(record, (fn) => this.fns[fn]!.length));
  }

  /**
   * A shared variable's value for this call, in wasm memory: where this function left it after its
   * last update, else copied in, once, from JavaScript (again only when the variable gets a new value).
   */
  sharedInput(shared: SharedContainer): NDArray {
    const home = this.residents.get(shared);
    if (!home) return shared.value;
    this.refreshShared(shared);
    return new NDArray(this.arena.view(shared.dtype, home.ptr, sizeOf(shared.shape)), [...shared.shape], shared.dtype);
  }

  refreshShared(shared: SharedContainer): void {
    const home = this.residents.get(shared);
    if (!home || shared.livesIn(this)) return;
    const value = shared.value;
    if (home.copiedFrom !== value) {
      this.arena.write(home.ptr, value.data);
      home.copiedFrom = value;
    }
  }

  /**
   * Applies a call's updates (all computed before any is applied): a variable this function keeps
   * gets the new value in its wasm home, with no copy out; the others get JavaScript arrays, returned
   * here for the caller to assign (undefined where the value was kept).
   */
  commit(updates: readonly (readonly [SharedContainer, NDArray])[]): (NDArray | undefined)[] {
    // First snapshot every value that a write below could overwrite or that must leave wasm memory.
    const sources = updates.map(([shared, v]) => {
      if (!this.arena.holds(v.data)) return v;
      return this.residents.has(shared) && !this.arena.isKept(v.data.byteOffset) ? v : v.clone();
    });
    return updates.map(([shared], i) => {
      const home = this.residents.get(shared);
      const source = sources[i]!;
      if (!home) return source;
      this.arena.write(home.ptr, source.data);
      home.copiedFrom = undefined;
      shared.movedTo(this);
      return undefined;
    });
  }

  /** A JavaScript copy of a value this function holds (Residence). */
  readBack(shared: SharedContainer): NDArray {
    const home = this.residents.get(shared)!;
    return new NDArray(
      copyOf(this.arena.view(shared.dtype, home.ptr, sizeOf(shared.shape))),
      [...shared.shape],
      shared.dtype,
    );
  }

  hold(value: NDArray): void {
    if (!this.arena.holds(value.data)) return;
    const block = this.arena.blockOf(value.data.byteOffset);
    if (block !== undefined) this.holders.set(block, (this.holders.get(block) ?? 0) + 1);
  }

  drop(value: NDArray): void {
    if (!this.arena.holds(value.data)) {
      // While recording, copies stay for the whole call: a planned call writes them all before its first kernel.
      if (this.recording) return;
      const copy = this.copies.get(value.data);
      if (copy !== undefined) (this.copies.delete(value.data), this.arena.free(copy));
      return;
    }
    const block = this.arena.blockOf(value.data.byteOffset);
    if (block === undefined) return;
    const left = (this.holders.get(block) ?? 1) - 1;
    if (left > 0) this.holders.set(block, left);
    else (this.holders.delete(block), this.arena.free(block));
  }

  /** True for a value no other slot holds, in a block of its own: a dying operand whose memory a result may take. */
  solelyHeld(value: NDArray): boolean {
    return this.arena.holds(value.data) && this.holders.get(value.data.byteOffset) === 1;
  }

  resident(value: NDArray): boolean {
    return this.arena.holds(value.data);
  }

  run(step: Step, operands: readonly NDArray[]): NDArray | undefined {
    const spec = this.kernels[step.kernel!]!;
    // sumLike's second operand only lends its shape.
    const typed = step.op === 'sumLike' ? operands.slice(0, 1) : operands;
    const float = this.floatType(step.kernel!);
    // Copies and index kernels take their operands' dtypes as the graph gives them.
    const expected =
      spec.kind === 'stridedCopy' || spec.kind === 'takeAlong' || spec.kind in BY_INDEX
        ? typed.map((o) => o.dtype)
        : spec.kind === 'elementwise'
          ? spec.inputTypes
          : spec.kind === 'reduce' && spec.map
            ? spec.map.inputTypes
            : typed.map(() => float);
    if (typed.some((o, i) => o.dtype !== expected[i])) return undefined;
    if (spec.kind in ACTIVATIONS && (step.args as Partial<ConvParams>).dataFormat === 'channelsFirst')
      return channelsFirst(this, step, spec, operands);
    switch (spec.kind) {
      case 'matmul':
        return matmul(this, step, spec, operands);
      case 'conv2d':
        return conv2d(this, step, spec, operands);
      case 'conv2dGradFilter':
        return conv2dGradFilter(this, step, operands);
      case 'conv2dGradInput':
        return conv2dGradInput(this, step, operands);
      case 'maxPool2d':
      case 'avgPool2d':
        return pooling(this, step, operands[0]!);
      case 'maxPool2dGrad':
        return poolGrad(this, step, operands[0]!, operands[1]!, operands[0]!);
      case 'avgPool2dGrad':
        // (g, x): x only lends its shape.
        return poolGrad(this, step, operands[1]!, operands[0]!, undefined);
      case 'elementwise':
        return elementwise(
          this,
          step.kernel!,
          spec,
          operands,
          this.inPlace ? step.inputs.map((slot) => step.release.includes(slot)) : [],
          this.leaving.has(step),
        );
      case 'reduce':
        return reduce(this, step, spec, operands);
      case 'softmax':
        return softmax(this, step, spec, operands[0]!);
      case 'cumulative':
        return cumulative(this, step, spec, operands[0]!);
      case 'topk':
        return topk(this, step, spec, operands[0]!);
      case 'argsort':
        return argsort(this, step, spec, operands[0]!);
      case 'takeAlong':
        return takeAlong(this, step, operands[0]!, operands[1]!);
      case 'cholesky':
      case 'luSolve':
      case 'triangularSolve':
      case 'householderQr':
        return dense(this, step, spec, operands);
      case 'stridedCopy':
        return shapeOp(this, step, operands);
      case 'gather':
      case 'gatherGrad':
      case 'oneHot':
      case 'randomUniform':
      case 'toInt32':
        return BY_INDEX[spec.kind](this, step, operands);
      case 'argReduce':
        return argReduce(this, step, operands[0]!);
      default:
        return spec satisfies never;
    }
  }

  /** Runs jobs[0] here and the rest on helpers, or all here in order without a pool. */
  dispatch(jobs: readonly Job[]): void {
    if (this.recorder) {
      if (this.pool && jobs.length > 1) this.recorder.tape.parallel(jobs);
      else for (const [fn, args] of jobs) this.recorder.tape.call(fn, args);
    }
    this.entries += jobs.length;
    this.dispatchNow(jobs);
  }

  private dispatchNow(jobs: readonly Job[]): void {
    // No jobs at all for empty work (a product with no rows, pooling over no images).
    if (!this.pool || jobs.length <= 1) {
      for (const [fn, args] of jobs) this.fns[fn]!(...args);
      return;
    }
    const [[fn, args], ...rest] = jobs as [Job, ...Job[]];
    this.pool.run(this.registerWithHelpers(), () => this.fns[fn]!(...args), rest);
  }

  /** One kernel call on this thread. */
  call(fn: number, args: readonly number[]): void {
    this.recorder?.tape.call(fn, args);
    this.entries++;
    this.fns[fn]!(...args);
  }

  /** Copies `bytes` within wasm memory (the ranges may overlap). */
  copy(dst: number, src: number, bytes: number): void {
    this.recorder?.tape.copy(dst, src, bytes);
    this.arena.copyWithin(dst, src, bytes);
  }

  /** dst[i] += src[i] for `count` floats of `dtype` in wasm memory. */
  addInto(dtype: 'float32' | 'float64', dst: number, src: number, count: number): void {
    this.recorder?.tape.add(dtype, dst, src, count);
    const [total, part] = [this.arena.view(dtype, dst, count), this.arena.view(dtype, src, count)];
    for (let i = 0; i < count; i++) total[i]! += part[i]!;
  }

  /** Writes i32 `words` at `ptr` (a kernel's table of sizes and strides). */
  storeWords(ptr: number, words: readonly number[]): void {
    this.recorder?.tape.store(ptr, words);
    this.arena.view('int32', ptr, words.length).set(words);
  }

  statusOf(step: Step): number {
    return this.statuses.get(step)!;
  }

  check(step: Step, status: number, error: (index: number) => Error): void {
    this.recorder?.check(status, step, error);
    const bad = this.failedAt(status);
    if (bad !== undefined) throw error(bad);
  }

  /** The bad index a kernel reported at `status`, if any (the words are cleared for the next call). */
  failedAt(status: number): number | undefined {
    const words = this.arena.view('int32', status, 2);
    if (words[0] === 0) return undefined;
    words[0] = 0;
    return words[1]!;
  }

  randomState(source: DrawSource): number {
    return this.streams.get(streamKey(source))!;
  }

  /** Shared streams' states into the module before a call (another function may have drawn since). */
  streamsIn(): void {
    for (const [key, ptr] of this.streams) if (typeof key !== 'number') this.arena.view('int32', ptr, 1)[0] = key.state;
  }

  /** Shared streams' states back out after a call. */
  streamsOut(): void {
    for (const [key, ptr] of this.streams)
      if (typeof key !== 'number') key.state = this.arena.view('int32', ptr, 1)[0]! >>> 0;
  }

  /** Zeroes `bytes` at `ptr`. */
  zero(ptr: number, bytes: number): void {
    this.recorder?.tape.zero(ptr, bytes);
    this.arena.view('bool', ptr, bytes).fill(0);
  }

  /** Memory for an operand from JavaScript that the caller copies in itself (registered as its copy for this call). */
  reserve(x: NDArray): number {
    // While recording, above everything the call has used: the planned call writes it before its first kernel.
    const ptr = this.recorder ? this.arena.allocFresh(x.data.byteLength) : this.arena.alloc(x.data.byteLength);
    this.copies.set(x.data, ptr);
    this.recorder?.copyIn(x.data, ptr);
    return ptr;
  }

  /** The address of an operand in wasm memory, copying it in (once per call) unless an earlier kernel left it there. */
  place(x: NDArray): number {
    if (this.arena.holds(x.data)) return x.data.byteOffset;
    const copied = this.copies.get(x.data);
    if (copied !== undefined) return copied;
    const ptr = this.reserve(x);
    this.arena.write(ptr, x.data);
    return ptr;
  }

  /** Contiguous parts of [0, total) for each thread, about equal, every boundary a multiple of `align`. */
  parts(total: number, align: number, worth: boolean): [number, number][] {
    const threads = worth ? Math.min(this.threads, Math.ceil(total / align)) : 1;
    const cuts = Array.from({ length: threads + 1 }, (_, t) =>
      Math.min(total, roundUp(Math.floor((total * t) / threads), align)),
    );
    cuts[threads] = total;
    return cuts
      .slice(0, -1)
      .map((c, t) => [c, cuts[t + 1]!] as [number, number])
      .filter(([a, b]) => b > a);
  }

  /** The float type a kernel was built for (float32 unless its spec says float64). */
  floatType(kernel: number): 'float32' | 'float64' {
    const spec = this.kernels[kernel]!;
    return 'dtype' in spec && spec.dtype === 'float64' ? 'float64' : 'float32';
  }
}
