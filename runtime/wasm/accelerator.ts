import type { ElementwiseSpec, KernelSpec } from '../kernel-abi.js';
import {
  actualLayout,
  broadcastPlan,
  type BroadcastPlan,
  kernelArgs,
  kernelExports,
  type Layout,
  layoutFits,
  matmulScratchBytes,
  tileCols,
  TILE_ROWS,
} from '../kernel-abi.js';
import type { FusedArgs, MatmulArgs, ReduceArgs, SharedContainer } from '../../compiler/ir/ops.js';
import { allocateForOverwrite, bytesPerElement } from '../dtype.js';
import type { Residence } from '../shared-value.js';
import type { Program, Step } from '../../compiler/schedule/program.js';
import type { Accelerator } from '../executor.js';
import { copyOf, NDArray, sizeOf } from '../ndarray.js';
import { MultiOutput } from '../reference/kernels.js';
import { broadcastConcrete, broadcastStrides, forEachIndex } from '../reference/layout.js';
import { broadcastTo } from '../reference/shape.js';
import { reducedShape } from '../reference/reduce.js';
import type { ConvParams, PoolParams } from '../reference/nn.js';
import { windowGeometry } from '../geometry.js';
import { blockBytes, WasmArena } from './arena.js';
import { MAX_CHUNKS, threadPool, type ThreadPool } from './threads.js';
import { cachedModule, moduleKey, type CacheSource } from './cache.js';

type KernelFn = (...args: number[]) => void;

const NCHW_TO_NHWC = [0, 2, 3, 1];
/** Which operands of a convolution or pooling step are activations (transposed for channels first), only lend a shape, or are kernels. */
const ACTIVATIONS = {
  conv2d: ['data', 'kernel'],
  conv2dGradInput: ['data', 'kernel', 'shape'],
  conv2dGradFilter: ['data', 'data', 'kernel'],
  maxPool2d: ['data'],
  maxPool2dGrad: ['data', 'data'],
  avgPool2d: ['data'],
  avgPool2dGrad: ['data', 'shape'],
} as const;
/** A reduction's axes, each once, ascending (negative ones counted from the end). */
const sortedAxes = (axes: readonly number[], rank: number) =>
  [...new Set(axes.map((a) => (a + rank) % rank))].sort((p, q) => p - q);

/** An array standing for another shape only (its values are never read). */
const shapeOnly = (x: NDArray, perm: readonly number[]) =>
  new NDArray(
    x.data,
    perm.map((p) => x.shape[p]!),
    x.dtype,
  );

/** Element strides of the matmul kernel's operands: A[i, l] at i·aRow + l·aDepth, B[l, j] at l·bDepth + j·bCol. */
interface GemmStrides {
  readonly aRow: number;
  readonly aDepth: number;
  readonly bDepth: number;
  readonly bCol: number;
}

/**
 * An elementwise kernel's arguments for part [a, b) of an [outer, inner] slab: pieces of one long
 * row when there is one row (whole arrays and rows move by elements), else whole rows (whole arrays
 * move by rows, columns by one value per row; rows and scalars stay).
 */
function elementwiseArgs(
  spec: ElementwiseSpec,
  outer: number,
  inner: number,
  inPtrs: readonly number[],
  outPtrs: readonly number[],
  [a, b]: readonly [number, number],
): number[] {
  const inSize = (i: number) => bytesPerElement(spec.inputTypes[i]!);
  const outSize = (q: number) => bytesPerElement(spec.outputTypes[q]!);
  return outer === 1
    ? kernelArgs('elementwise', { outer: 1, inner: b - a }, [
        ...inPtrs.map((p, i) => (spec.layouts[i] === 'full' || spec.layouts[i] === 'row' ? p + a * inSize(i) : p)),
        ...outPtrs.map((p, q) => p + a * outSize(q)),
      ])
    : kernelArgs('elementwise', { outer: b - a, inner }, [
        ...inPtrs.map((p, i) =>
          spec.layouts[i] === 'full' ? p + a * inner * inSize(i) : spec.layouts[i] === 'column' ? p + a * inSize(i) : p,
        ),
        ...outPtrs.map((p, q) => p + a * inner * outSize(q)),
      ]);
}

let configured = false;
/**
 * Two V8 settings, made before the first module is compiled. Liftoff off: V8 first compiles wasm
 * with Liftoff and tiers a function up only after many calls, so a kernel called once on a big array
 * would stay at a quarter of its speed (TSANO_LIFTOFF=1 keeps it, to measure the difference).
 * Relaxed SIMD on: Node 20 has f32x4.relaxed_madd (a real FMA) behind a flag.
 */
async function configureV8(): Promise<void> {
  if (configured) return;
  configured = true;
  const v8 = await import('node:v8');
  if (process.env['TSANO_LIFTOFF'] !== '1') v8.setFlagsFromString('--no-liftoff');
  v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
}

/** Relaxed SIMD is used unless TSANO_RELAXED_SIMD=0; an engine without it rejects the module, and the plain one is used. */
const wantRelaxed = () => process.env['TSANO_RELAXED_SIMD'] !== '0';

const roundUp = (n: number, k: number) => Math.ceil(n / k) * k;
/** Work below these sizes stays on one thread: waking a helper costs more than it saves. */
const PARALLEL_ELEMENTS = 1 << 16;
const PARALLEL_FLOPS = 1 << 22;
/** Chunks of an elementwise step shared with copies: enough that the last one's wait is short. */
const SHARED_CHUNKS = 24;
/** Products with at most this many rows and at least two depth chunks are split along the depth. */
const SKINNY_ROWS = 64;
const DEPTH_CHUNK = 16384;

/** One kernel invocation: function index and i32 arguments. */
type Job = readonly [number, readonly number[]];

/**
 * Runs a compiled function's wasm kernels in memory it owns. Operands are copied in unless an
 * earlier kernel of the same call left them there; results stay in place for the next kernel. Big
 * kernels are split into row ranges across the thread pool (bit-identical to one thread).
 */
/** Generates the module of a program's kernels (wasm bytes), with relaxed-SIMD FMA or plain SIMD128. */
export type ModuleGenerator = (kernels: readonly KernelSpec[], relaxedSimd: boolean) => Promise<Uint8Array>;

export class WasmAccelerator implements Accelerator, Residence {
  private readonly arena = new WasmArena();
  private readonly fns: KernelFn[];
  private readonly pool: ThreadPool | undefined;
  /** The module's id with the thread pool, registered the first time a kernel is shared with helpers. */
  private helperModuleId?: number;
  private readonly registerWithHelpers: () => number;
  /** Per call: how many slots hold a value in each arena block (a block is freed when none does). */
  private readonly holders = new Map<number, number>();
  /** Per call: where an operand from JavaScript memory was copied in, so it is copied once. */
  private readonly copies = new Map<ArrayBufferView, number>();
  /** Where each shared variable the function reads is kept across calls (the bottom of the arena). */
  private readonly residents = new Map<SharedContainer, { readonly ptr: number; copiedFrom?: NDArray }>();
  /** Index of each exported function in `fns` (kernels and their companions), by export name. */
  private readonly fnIndex: Map<string, number>;

  /**
   * Steps whose result goes straight back to the caller (an output no later step reads and no update
   * keeps): an elementwise kernel copies it out part by part as the parts finish.
   */
  private readonly leaving: ReadonlySet<Step>;
  /** Per elementwise kernel: the share of its elements the calling thread computes (it also does the copies). */

  private readonly kernels: readonly KernelSpec[];
  private readonly inPlace: boolean;

  private constructor(
    program: Program,
    module: WebAssembly.Module,
    exportNames: readonly string[],
    readonly relaxedSimd: boolean,
    readonly moduleSource: CacheSource,
  ) {
    this.kernels = program.kernels;
    this.inPlace = program.inPlace;
    let kept = 0;
    for (const { container: s } of program.shared) {
      this.residents.set(s, { ptr: kept });
      kept += blockBytes(sizeOf(s.shape) * bytesPerElement(s.dtype));
    }
    this.arena.keep(kept);
    const instance = new WebAssembly.Instance(module, { env: { memory: this.arena.memory } });
    this.fns = exportNames.map((n) => instance.exports[n] as KernelFn);
    this.pool = threadPool();
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
  static async create(program: Program, generate: ModuleGenerator): Promise<WasmAccelerator | undefined> {
    if (program.kernels.length === 0) return undefined;
    await configureV8();
    // Export names follow from the kernel list, so a cached module needs no side table.
    const exports = kernelExports(program.kernels);
    if (wantRelaxed()) {
      try {
        const { module, source } = await cachedModule(moduleKey(program.kernels, 'relaxed'), () =>
          generate(program.kernels, true),
        );
        return new WasmAccelerator(program, module, exports, true, source);
      } catch {
        // a module with one unsupported opcode fails whole: fall back to plain SIMD128
      }
    }
    const { module, source } = await cachedModule(moduleKey(program.kernels, 'simd128'), () =>
      generate(program.kernels, false),
    );
    return new WasmAccelerator(program, module, exports, false, source);
  }

  /**
   * Lets go of the module and its memory at once: values of shared variables this function holds are
   * copied back to JavaScript first, and helper threads drop their instance.
   */
  dispose(): void {
    for (const shared of this.residents.keys()) if (shared.livesIn(this)) shared.value = this.readBack(shared);
    if (this.helperModuleId !== undefined) this.pool!.unregister(this.helperModuleId, this);
  }

  /** The most bytes of wasm memory one call has spanned. */
  get memoryPeak(): number {
    return this.arena.peak;
  }

  /** Threads this accelerator splits big kernels across. */
  get threads(): number {
    return (this.pool?.helpers ?? 0) + 1;
  }

  beginCall(): void {
    this.arena.beginCall();
    this.holders.clear();
    this.copies.clear();
  }

  /**
   * A shared variable's value for this call, in wasm memory: where this function left it after its
   * last update, else copied in, once, from JavaScript (again only when the variable gets a new value).
   */
  sharedInput(shared: SharedContainer): NDArray {
    const home = this.residents.get(shared);
    if (!home) return shared.value;
    const view = () =>
      new NDArray(this.arena.view(shared.dtype, home.ptr, sizeOf(shared.shape)), [...shared.shape], shared.dtype);
    if (shared.livesIn(this)) return view();
    const value = shared.value;
    if (home.copiedFrom !== value) {
      this.arena.write(home.ptr, value.data);
      home.copiedFrom = value;
    }
    return view();
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
  private solelyHeld(value: NDArray): boolean {
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
    const expected =
      spec.kind === 'elementwise'
        ? spec.inputTypes
        : spec.kind === 'reduce' && spec.map
          ? spec.map.inputTypes
          : typed.map(() => float);
    if (typed.some((o, i) => o.dtype !== expected[i])) return undefined;
    if (spec.kind in ACTIVATIONS && (step.args as Partial<ConvParams>).dataFormat === 'channelsFirst')
      return this.channelsFirst(step, spec, operands);
    switch (spec.kind) {
      case 'matmul':
        return this.matmul(step, spec, operands);
      case 'conv2d':
        return this.conv2d(step, spec, operands);
      case 'conv2dGradFilter':
        return this.conv2dGradFilter(step, operands);
      case 'conv2dGradInput':
        return this.conv2dGradInput(step, operands);
      case 'maxPool2d':
      case 'avgPool2d':
        return this.pooling(step, operands[0]!);
      case 'maxPool2dGrad':
        return this.poolGrad(step, operands[0]!, operands[1]!, operands[0]!);
      case 'avgPool2dGrad':
        // (g, x): x only lends its shape.
        return this.poolGrad(step, operands[1]!, operands[0]!, undefined);
      case 'elementwise':
        return this.elementwise(
          step.kernel!,
          spec,
          operands,
          this.inPlace ? step.inputs.map((slot) => step.release.includes(slot)) : [],
          this.leaving.has(step),
        );
      case 'reduce':
        return this.reduce(step, spec, operands);
      case 'softmax':
        return this.softmax(step, spec, operands[0]!);
      case 'argReduce':
        return this.argReduce(step, operands[0]!);
      default:
        return spec satisfies never;
    }
  }

  /**
   * A channels-first (NCHW) convolution or pooling step on the channels-last kernels: activations are
   * transposed to NHWC on the way in and the result back on the way out (kernels are HWIO either way).
   */
  private channelsFirst(step: Step, spec: KernelSpec, operands: readonly NDArray[]): NDArray | undefined {
    const roles: readonly string[] = ACTIVATIONS[spec.kind as keyof typeof ACTIVATIONS];
    if (operands.some((o, k) => roles[k] !== 'kernel' && o.ndim !== 4)) return undefined;
    const last = { ...step, args: { ...(step.args as ConvParams), dataFormat: 'channelsLast' } } as Step;
    const converted = operands.map((o, k) =>
      roles[k] === 'data' ? this.transposed(step, o, true) : roles[k] === 'shape' ? shapeOnly(o, NCHW_TO_NHWC) : o,
    );
    const result = this.run(last, converted);
    converted.forEach((o, k) => roles[k] === 'data' && this.arena.free(o.data.byteOffset));
    if (!result || spec.kind === 'conv2dGradFilter') return result;
    const back = this.transposed(step, result, false);
    this.arena.free(result.data.byteOffset);
    return back;
  }

  /**
   * NCHW to NHWC or back (`toChannelsLast`), in a new arena block: per image a [C, H·W] matrix
   * transposed or the other way, by the step's transpose kernel, images split across threads.
   */
  private transposed(step: Step, x: NDArray, toChannelsLast: boolean): NDArray {
    const [n, ...rest] = x.shape as [number, number, number, number];
    const [rows, cols] = toChannelsLast ? [rest[0], rest[1] * rest[2]] : [rest[0] * rest[1], rest[2]];
    const shape = toChannelsLast ? [n, rest[1], rest[2], rest[0]] : [n, rest[2], rest[0], rest[1]];
    return this.transposedMatrices(step, x, n, rows, cols, shape);
  }

  /** Each of `batch` [rows, cols] matrices of `x` transposed by the step's transpose kernel, in a new block shaped `shape`, batches split across threads. */
  private transposedMatrices(
    step: Step,
    x: NDArray,
    batch: number,
    rows: number,
    cols: number,
    shape: readonly number[],
  ): NDArray {
    const E = bytesPerElement(x.dtype);
    const out = this.arena.alloc(x.size * E);
    const src = this.place(x);
    const matrix = rows * cols * E;
    this.dispatch(
      this.parts(batch, 1, x.size >= PARALLEL_ELEMENTS).map(([a, b]) => [
        this.fnIndex.get(`k${step.kernel}_transpose`)!,
        kernelArgs('transpose', { src: src + a * matrix, dst: out + a * matrix, batch: b - a, rows, cols }),
      ]),
    );
    return new NDArray(this.arena.view(x.dtype, out, x.size), [...shape], x.dtype);
  }

  /** Runs jobs[0] here and the rest on helpers, or all here in order without a pool. */
  private dispatch(jobs: readonly Job[]): void {
    // No jobs at all for empty work (a product with no rows, pooling over no images).
    if (!this.pool || jobs.length <= 1) {
      for (const [fn, args] of jobs) this.fns[fn]!(...args);
      return;
    }
    const [[fn, args], ...rest] = jobs as [Job, ...Job[]];
    this.pool.run(this.registerWithHelpers(), () => this.fns[fn]!(...args), rest);
  }

  /** Memory for an operand from JavaScript that the caller copies in itself (registered as its copy for this call). */
  private reserve(x: NDArray): number {
    const ptr = this.arena.alloc(x.data.byteLength);
    this.copies.set(x.data, ptr);
    return ptr;
  }

  /** The address of an operand in wasm memory, copying it in (once per call) unless an earlier kernel left it there. */
  private place(x: NDArray): number {
    if (this.arena.holds(x.data)) return x.data.byteOffset;
    const copied = this.copies.get(x.data);
    if (copied !== undefined) return copied;
    const ptr = this.reserve(x);
    this.arena.write(ptr, x.data);
    return ptr;
  }

  /** Contiguous parts of [0, total) for each thread, about equal, every boundary a multiple of `align`. */
  private parts(total: number, align: number, worth: boolean): [number, number][] {
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

  /**
   * An elementwise kernel over the broadcast shape, split across threads. Full-size operands from
   * JavaScript are copied in part by part, and a result that goes back to the caller is copied out
   * part by part: the helpers' parts first copied in and started, then the calling thread copies and
   * computes its own (smaller) part, so copies overlap the helpers' work.
   */
  private elementwise(
    fn: number,
    spec: ElementwiseSpec,
    operands: readonly NDArray[],
    dying: readonly boolean[] = [],
    leaves = false,
  ): NDArray | undefined {
    let shape: number[];
    try {
      shape = broadcastConcrete(operands.map((o) => o.shape));
    } catch {
      return undefined; // the reference kernel reports the mismatch with its usual message
    }
    const size = sizeOf(shape);
    if (size === 0) return undefined;
    // The merged view first, else the last axis against the rest (where a kernel built for a row
    // meets a last axis of one element, say).
    const fits = (p: BroadcastPlan, i: number) => layoutFits(spec.layouts[i]!, p.layouts[i]!, p.outer, p.inner);
    const fitting = (xs: readonly NDArray[]): BroadcastPlan | undefined => {
      const merged = broadcastPlan(
        xs.map((o) => o.shape),
        shape,
      );
      if (merged && xs.every((_, i) => fits(merged, i))) return merged;
      const inner = shape.length ? shape[shape.length - 1]! : 1;
      const layouts = xs.map((o) => actualLayout(o.shape, shape));
      const lastAxis = {
        layouts: layouts as Layout[],
        outer: size / inner,
        inner,
        leading: [],
        strides: xs.map(() => []),
        outStrides: [],
      };
      return layouts.every((l) => l !== undefined) && xs.every((_, i) => fits(lastAxis, i)) ? lastAxis : undefined;
    };
    let plan = fitting(operands);
    if (!plan) {
      // Broadcast at call time otherwise than the kernel was built for (sizes unknown when it was
      // compiled): operands are expanded to what the kernel reads, the output's shape for a whole
      // array, its last axis for a row, one value per row for a column (a scalar cannot be).
      const target = (layout: Layout) =>
        layout === 'full'
          ? shape
          : layout === 'row'
            ? shape.slice(-1)
            : layout === 'column'
              ? [...shape.slice(0, -1), 1]
              : undefined;
      try {
        operands = operands.map((o, i) => {
          const to = target(spec.layouts[i]!);
          return to ? broadcastTo(o, to) : o;
        });
      } catch {
        return undefined;
      }
      dying = [];
      plan = fitting(operands);
      if (!plan) return undefined;
    }
    const { outer, inner } = plan;
    if (plan.leading.length) return this.elementwiseWalk(fn, spec, operands, plan, shape);
    const streamedIn: boolean[] = [];
    const inPtrs = operands.map((o, i) => {
      const streamed = spec.layouts[i] === 'full' && !this.arena.holds(o.data) && !this.copies.has(o.data);
      streamedIn.push(streamed);
      return streamed ? this.reserve(o) : this.place(o);
    });
    // In place: the first output may take the memory of a full-size operand that dies at this step
    // (each element is read before it is written, in the same iteration).
    const taken = operands.findIndex(
      (o, k) =>
        dying[k] && spec.layouts[k] === 'full' && spec.inputTypes[k] === spec.outputTypes[0] && this.solelyHeld(o),
    );
    const outPtrs = spec.outputTypes.map((t, q) =>
      q === 0 && taken >= 0 ? inPtrs[taken]! : this.arena.alloc(size * bytesPerElement(t)),
    );
    const worth = size >= PARALLEL_ELEMENTS;
    const inSize = spec.inputTypes.map(bytesPerElement);
    const outSize = spec.outputTypes.map(bytesPerElement);
    // Parts are rows of `inner` elements, or pieces of one long row.
    const [count, align, unit] = outer === 1 ? [inner, 4, 1] : [outer, 1, inner];
    const copies = leaves || streamedIn.some(Boolean);
    const parts = this.parts(count, align, worth);
    const job = (part: readonly [number, number]): Job => [
      fn,
      elementwiseArgs(spec, outer, inner, inPtrs, outPtrs, part),
    ];
    const returned =
      leaves && spec.outputTypes.length === 1 ? allocateForOverwrite(spec.outputTypes[0]!, size) : undefined;
    const copyIn = ([a, b]: readonly [number, number]) =>
      operands.forEach((o, i) => {
        if (streamedIn[i]) this.arena.write(inPtrs[i]! + a * unit * inSize[i]!, o.data.subarray(a * unit, b * unit));
      });
    const copyOut = ([a, b]: readonly [number, number]) =>
      returned?.set(
        this.arena.view(spec.outputTypes[0]!, outPtrs[0]! + a * unit * outSize[0]!, (b - a) * unit) as never,
        a * unit,
      );
    const run = (part: readonly [number, number]) => {
      const [index, args] = job(part);
      this.fns[index]!(...args);
    };
    if (!this.pool || parts.length === 1) {
      parts.forEach((part) => (copyIn(part), run(part), copyOut(part)));
    } else if (!copies) {
      this.dispatch(parts.map(job));
    } else {
      this.shareWithCopies(job, count, align, copyIn, run, copyOut);
    }
    if (returned) {
      if (taken < 0) this.arena.free(outPtrs[0]!);
      return new NDArray(returned, shape, spec.outputTypes[0]!);
    }
    return this.elementwiseResults(spec, outPtrs, shape);
  }

  /** An elementwise step's outputs where the kernel left them: one array, or a MultiOutput. */
  private elementwiseResults(spec: ElementwiseSpec, outPtrs: readonly number[], shape: number[]): NDArray {
    const size = sizeOf(shape);
    const results = outPtrs.map(
      (p, q) => new NDArray(this.arena.view(spec.outputTypes[q]!, p, size), shape, spec.outputTypes[q]!),
    );
    return results.length === 1 ? results[0]! : new MultiOutput(results[0]!, results);
  }

  /**
   * An elementwise step whose broadcasting needs more than two axes: the kernel runs over the last
   * two merged axes once per index of the axes before them, each operand's pointer moved by its
   * strides (0 where it is broadcast).
   */
  private elementwiseWalk(
    fn: number,
    spec: ElementwiseSpec,
    operands: readonly NDArray[],
    plan: BroadcastPlan,
    shape: number[],
  ): NDArray {
    const size = sizeOf(shape);
    const { outer, inner } = plan;
    const inPtrs = operands.map((o) => this.place(o));
    const outPtrs = spec.outputTypes.map((t) => this.arena.alloc(size * bytesPerElement(t)));
    const inSize = spec.inputTypes.map(bytesPerElement);
    const outSize = spec.outputTypes.map(bytesPerElement);
    // Each call's [outer, inner] slab is split across threads like a whole step, when it is big enough.
    const parts =
      outer === 1
        ? this.parts(inner, 4, inner >= PARALLEL_ELEMENTS)
        : this.parts(outer, 1, outer * inner >= PARALLEL_ELEMENTS);
    const index = plan.leading.map(() => 0);
    const count = plan.leading.reduce((a, b) => a * b, 1);
    for (let call = 0; call < count; call++) {
      const offset = (strides: readonly number[]) => strides.reduce((sum, st, g) => sum + st * index[g]!, 0);
      const outOffset = offset(plan.outStrides);
      const ins = inPtrs.map((p, i) => p + offset(plan.strides[i]!) * inSize[i]!);
      const outs = outPtrs.map((p, q) => p + outOffset * outSize[q]!);
      this.dispatch(parts.map((part) => [fn, elementwiseArgs(spec, outer, inner, ins, outs, part)]));
      for (let g = index.length - 1; g >= 0 && ++index[g]! === plan.leading[g]; g--) index[g] = 0;
    }
    return this.elementwiseResults(spec, outPtrs, shape);
  }

  /**
   * A big elementwise step with copies to make: cut into chunks that the helpers and this thread take
   * as they become free. This thread first copies every chunk's operands in (the helpers start on
   * the first while it copies the next), then between chunks of its own copies out whatever is
   * finished, so the copies, which only it can make, never leave a helper idle or waiting for it.
   */
  private shareWithCopies(
    job: (part: readonly [number, number]) => Job,
    total: number,
    align: number,
    copyIn: (part: readonly [number, number]) => void,
    run: (part: readonly [number, number]) => void,
    copyOut: (part: readonly [number, number]) => void,
  ): void {
    const chunkUnits = roundUp(Math.ceil(total / Math.min(MAX_CHUNKS, SHARED_CHUNKS)), align);
    const chunk = (k: number): [number, number] => [k * chunkUnits, Math.min(total, (k + 1) * chunkUnits)];
    const chunkCount = Math.ceil(total / chunkUnits);
    // Each argument is linear in the start of the part: base + a·step, the part's length aside.
    const [fn, base] = job([0, 0]);
    const step = job([1, 1])[1].map((v, i) => v - base[i]!);
    const length = job([0, 1])[1].findIndex((v, i) => v !== base[i]);
    const work = this.pool!.share(
      this.registerWithHelpers(),
      { fn, base, step, length },
      chunkUnits,
      total,
      this.threads - 1,
    );
    let released = 0;
    try {
      for (; released < chunkCount; released++) {
        copyIn(chunk(released));
        work.release(released + 1);
      }
      const mine = new Set<number>();
      let copied = 0;
      for (let k = work.take(); k !== undefined; k = work.take()) {
        for (; copied < chunkCount && (mine.has(copied) || work.doneByHelper(copied)); copied++) copyOut(chunk(copied));
        run(chunk(k));
        mine.add(k);
      }
      for (; copied < chunkCount; copied++) {
        if (!mine.has(copied)) work.waitForHelper(copied);
        copyOut(chunk(copied));
      }
    } finally {
      // Helpers waiting for chunks that were never released (an error here) must still get to the end.
      if (released < chunkCount) work.release(chunkCount);
      work.finish();
    }
  }

  /**
   * A reduction over any axis set: the axes form runs of neighbours, each reduced as an
   * [outer, reduced, inner] view, the last run first (so earlier axes keep their positions). Rows
   * are split across threads; sums accumulate in float64.
   */
  private reduce(
    step: Step,
    spec: Extract<KernelSpec, { kind: 'reduce' }>,
    operands: readonly NDArray[],
  ): NDArray | undefined {
    const x = spec.map ? this.elementwise(this.fnIndex.get(`k${step.kernel}_map`)!, spec.map, operands) : operands[0]!;
    const discard = () => (spec.map && x ? (this.arena.free(x.data.byteOffset), undefined) : undefined);
    if (!x || x.size === 0) return discard(); // empty axes: the reference knows the identities and the errors
    const rank = x.ndim;
    let axes: number[];
    let outShape: number[];
    if (step.op === 'sumLike') {
      // Down to the reference operand's shape: its missing leading axes and its 1s where x is wider.
      const target = operands[1]!.shape;
      const lead = rank - target.length;
      if (lead < 0 || target.some((d, i) => d !== 1 && d !== x.shape[lead + i])) return discard();
      axes = x.shape.flatMap((d, i) => (i < lead || (target[i - lead] === 1 && d !== 1) ? [i] : []));
      outShape = [...target];
    } else {
      const args = spec.map ? (step.args as FusedArgs).reduce! : (step.args as ReduceArgs);
      axes = sortedAxes(args.axes, rank);
      outShape = reducedShape(x.shape, axes, args.keepdims);
    }
    // Nothing to reduce (a broadcast's gradient where nothing was broadcast): the values, reshaped.
    if (axes.length === 0) return spec.map ? new NDArray(x.data, outShape, x.dtype) : this.copyInto(x, outShape);
    const runs: [number, number][] = [];
    for (const a of axes) {
      const last = runs[runs.length - 1];
      if (last && last[1] === a - 1) last[1] = a;
      else runs.push([a, a]);
    }
    const dtype = spec.dtype ?? 'float32';
    const E = bytesPerElement(dtype);
    let shape = [...x.shape];
    let ptr = this.place(x);
    // Blocks this step made for itself (the fused producer's values, earlier runs' partial results).
    const own = spec.map ? [ptr] : [];
    for (const [start, end] of runs.reverse()) {
      let outer = sizeOf(shape.slice(0, start));
      const reduced = sizeOf(shape.slice(start, end + 1));
      let inner = sizeOf(shape.slice(end + 1));
      if (spec.op === 'logsumexp' && inner > 1) {
        // logsumexp's kernel reduces whole rows: [outer, reduced, inner] moved to [outer·inner, reduced] first.
        const current = new NDArray(
          this.arena.view(dtype, ptr, outer * reduced * inner),
          [outer, reduced, inner],
          dtype,
        );
        ptr = this.transposedMatrices(step, current, outer, reduced, inner, [outer, inner, reduced]).data.byteOffset;
        own.push(ptr);
        [outer, inner] = [outer * inner, 1];
      }
      const out = this.arena.alloc(outer * inner * E);
      const parts = this.parts(outer, 1, outer * reduced * inner >= PARALLEL_ELEMENTS);
      const scratch = parts.map(() =>
        inner > 1 && (spec.op === 'sum' || spec.op === 'mean' || spec.op === 'prod') ? this.arena.alloc(inner * 8) : 0,
      );
      this.dispatch(
        parts.map(([o0, o1], t) => [
          step.kernel!,
          kernelArgs('reduce', {
            outer: o1 - o0,
            reduced,
            inner,
            x: ptr + o0 * reduced * inner * E,
            out: out + o0 * inner * E,
            scratch: scratch[t]!,
          }),
        ]),
      );
      scratch.forEach((p) => p && this.arena.free(p));
      shape = [...shape.slice(0, start), ...shape.slice(end + 1)];
      ptr = out;
      own.push(out);
    }
    own.slice(0, -1).forEach((p) => this.arena.free(p));
    return new NDArray(this.arena.view(dtype, ptr, sizeOf(outShape)), outShape, dtype);
  }

  /** argmax / argmin over axes that are neighbours (one [outer, reduced, inner] view), rows split across threads. */
  private argReduce(step: Step, x: NDArray): NDArray | undefined {
    const args = step.args as ReduceArgs;
    const axes = sortedAxes(args.axes, x.ndim);
    if (x.size === 0 || axes.length === 0 || axes[axes.length - 1]! - axes[0]! !== axes.length - 1) return undefined; // empty: the reference's error
    const outer = sizeOf(x.shape.slice(0, axes[0]!));
    const reduced = sizeOf(x.shape.slice(axes[0]!, axes[axes.length - 1]! + 1));
    const inner = sizeOf(x.shape.slice(axes[axes.length - 1]! + 1));
    const input = this.place(x);
    const out = this.arena.alloc(outer * inner * 4);
    const E = bytesPerElement(x.dtype);
    this.dispatch(
      this.parts(outer, 1, x.size >= PARALLEL_ELEMENTS).map(([o0, o1]) => [
        step.kernel!,
        kernelArgs('argReduce', {
          outer: o1 - o0,
          reduced,
          inner,
          x: input + o0 * reduced * inner * E,
          out: out + o0 * inner * 4,
        }),
      ]),
    );
    return new NDArray(
      this.arena.view('int32', out, outer * inner),
      reducedShape(x.shape, axes, args.keepdims),
      'int32',
    );
  }

  /** softmax / logSoftmax along any axis (another than the last moved last and back), rows split across threads. */
  private softmax(step: Step, spec: Extract<KernelSpec, { kind: 'softmax' }>, x: NDArray): NDArray | undefined {
    const axis = ((step.args as { axis: number }).axis + x.ndim) % x.ndim;
    if (x.size === 0) return undefined;
    if (axis !== x.ndim - 1) {
      // [outer, reduced, inner] → [outer, inner, reduced], softmax along the last axis, and back.
      const [outer, reduced, inner] = [sizeOf(x.shape.slice(0, axis)), x.shape[axis]!, sizeOf(x.shape.slice(axis + 1))];
      const moved = this.transposedMatrices(step, x, outer, reduced, inner, [outer, inner, reduced]);
      const last = this.softmax({ ...step, args: { ...(step.args as object), axis: -1 } } as Step, spec, moved);
      this.arena.free(moved.data.byteOffset);
      if (!last) return undefined;
      const back = this.transposedMatrices(step, last, outer, inner, reduced, x.shape);
      this.arena.free(last.data.byteOffset);
      return back;
    }
    const dtype = spec.dtype ?? 'float32';
    const E = bytesPerElement(dtype);
    const reduced = x.shape[x.ndim - 1]!;
    const outer = x.size / reduced;
    const input = this.place(x);
    const out = this.arena.alloc(x.size * E);
    this.dispatch(
      this.parts(outer, 1, x.size >= PARALLEL_ELEMENTS).map(([o0, o1]) => [
        step.kernel!,
        kernelArgs('softmax', { outer: o1 - o0, reduced, x: input + o0 * reduced * E, out: out + o0 * reduced * E }),
      ]),
    );
    return new NDArray(this.arena.view(dtype, out, x.size), [...x.shape], dtype);
  }

  private matmul(
    step: Step,
    spec: Extract<KernelSpec, { kind: 'matmul' }>,
    [a, b, ...rest]: readonly NDArray[],
  ): NDArray | undefined {
    const fused = step.op === 'fused';
    if (!fused && (a!.ndim > 2 || b!.ndim > 2)) return this.batchedMatmul(step, a!, b!);
    if (fused && (a!.ndim !== 2 || b!.ndim !== 2)) return undefined;
    // Transposed operands (matmul's flags; dot has none) are read in place through strides.
    const f =
      step.op === 'matmul'
        ? (step.args as MatmulArgs)
        : fused
          ? ((step.args as FusedArgs).product!.args as MatmulArgs)
          : {};
    const vector = b!.ndim === 1;
    const transA = !!f.transposeA;
    const transB = !!f.transposeB && !vector;
    const [n, k] = (transA ? [a!.shape[1], a!.shape[0]] : a!.shape) as [number, number];
    const [kb, m] = (vector ? [b!.shape[0], 1] : transB ? [b!.shape[1], b!.shape[0]] : b!.shape) as [number, number];
    if (kb !== k) return undefined;
    const strides: GemmStrides = {
      aRow: transA ? 1 : k,
      aDepth: transA ? n : 1,
      bDepth: transB ? 1 : m,
      bCol: transB ? k : 1,
    };
    // The epilogue's operands must have the layouts the kernel was built for.
    const layouts = spec.epilogue?.layouts ?? [];
    if (!this.epilogueFits(rest, layouts, [n, m], n, m)) return undefined;
    const epilogue = rest.map((o, t) => ({ ptr: this.place(o), perRow: layouts[t] === 'column' }));
    return this.gemm(step.kernel!, this.place(a!), this.place(b!), n, k, m, vector ? [n] : [n, m], strides, epilogue);
  }

  /** A copy of `x`'s values in this call's memory, with `shape` (of the same size). */
  private copyInto(x: NDArray, shape: readonly number[]): NDArray {
    const ptr = this.arena.alloc(x.data.byteLength);
    this.arena.write(ptr, x.data);
    return new NDArray(this.arena.view(x.dtype, ptr, x.size), [...shape], x.dtype);
  }

  /** Whether the epilogue's operands can be read as the kernel was built to, against a product of `rows` x `cols` (shaped `shape`). */
  private epilogueFits(
    operands: readonly NDArray[],
    layouts: readonly Layout[],
    shape: readonly number[],
    rows: number,
    cols: number,
  ): boolean {
    return operands.every((o, t) => {
      const actual = actualLayout(o.shape, shape);
      return actual !== undefined && layoutFits(layouts[t]!, actual, rows, cols);
    });
  }

  /** matmul over batches of matrices (leading axes broadcast): one product per batch, each split across threads. */
  private batchedMatmul(step: Step, a: NDArray, b: NDArray): NDArray | undefined {
    if (a.ndim < 2 || b.ndim < 2) return undefined;
    const f = step.args as MatmulArgs;
    const matrix = (x: NDArray, transposed: boolean) => {
      const [r, c] = x.shape.slice(-2) as [number, number];
      return transposed
        ? { rows: c, cols: r, stride: { row: 1, col: c } }
        : { rows: r, cols: c, stride: { row: c, col: 1 } };
    };
    const A = matrix(a, !!f.transposeA);
    const B = matrix(b, !!f.transposeB);
    if (A.cols !== B.rows) return undefined;
    let batch: number[];
    try {
      batch = broadcastConcrete([a.shape.slice(0, -2), b.shape.slice(0, -2)]);
    } catch {
      return undefined;
    }
    const [n, k, m] = [A.rows, A.cols, B.cols];
    const E = bytesPerElement(a.dtype);
    const aBatch = broadcastStrides(a.shape.slice(0, -2), batch).map((s) => s * n * k * E);
    const bBatch = broadcastStrides(b.shape.slice(0, -2), batch).map((s) => s * k * m * E);
    const [aPtr, bPtr] = [this.place(a), this.place(b)];
    const count = sizeOf(batch);
    const out = this.arena.alloc(count * n * m * E);
    const strides: GemmStrides = { aRow: A.stride.row, aDepth: A.stride.col, bDepth: B.stride.row, bCol: B.stride.col };
    forEachIndex(batch, [aBatch, bBatch], (i, [ao, bo]) => {
      const c = this.gemm(step.kernel!, aPtr + ao!, bPtr + bo!, n, k, m, [n, m], strides);
      this.arena.write(out + i * n * m * E, c.data);
      this.arena.free(c.data.byteOffset);
    });
    return new NDArray(this.arena.view(a.dtype, out, count * n * m), [...batch, n, m], a.dtype);
  }

  /** Output geometry of a channels-last convolution of `x` by a kernel of shape `w`. */
  private convGeometry(a: ConvParams, x: readonly number[], w: readonly number[]) {
    const [n, h, wd, c] = x as [number, number, number, number];
    const [kh, kw, , cout] = w as [number, number, number, number];
    const gh = windowGeometry(h, kh, a.strides[0], a.dilation[0], a.padding);
    const gw = windowGeometry(wd, kw, a.strides[1], a.dilation[1], a.padding);
    return { n, h, wd, c, kh, kw, cout, gh, gw, rows: n * gh.out * gw.out, depth: kh * kw * c };
  }

  /** Runs a convolution's companion walk (`im2col` gathers x into cols, `col2im` scatters cols back into x). */
  private walk(
    step: Step,
    direction: 'im2col' | 'col2im',
    a: ConvParams,
    g: ReturnType<WasmAccelerator['convGeometry']>,
    x: number,
    cols: number,
  ): boolean {
    const index = this.fnIndex.get(`k${step.kernel}_${direction}`);
    if (index === undefined || !this.fns[index]) return false;
    // Images are independent (in both directions): whole images per thread.
    const E = bytesPerElement(this.floatType(step.kernel!));
    const [image, patches] = [g.h * g.wd * g.c * E, g.gh.out * g.gw.out * g.depth * E];
    this.dispatch(
      this.parts(g.n, 1, g.rows * g.depth >= PARALLEL_ELEMENTS).map(([b0, b1]) => [
        index,
        kernelArgs('im2col', {
          x: x + b0 * image,
          cols: cols + b0 * patches,
          n: b1 - b0,
          h: g.h,
          w: g.wd,
          c: g.c,
          oh: g.gh.out,
          ow: g.gw.out,
          kh: g.kh,
          kw: g.kw,
          sh: a.strides[0],
          sw: a.strides[1],
          dh: a.dilation[0],
          dw: a.dilation[1],
          ph: g.gh.padBefore,
          pw: g.gw.padBefore,
        }),
      ]),
    );
    return true;
  }

  /**
   * conv2d (channels last) as one matmul: each output pixel's receptive field, gathered into a row
   * (im2col), times the kernel viewed as [kh*kw*in, out]; the product is already NHWC.
   */
  private conv2d(
    step: Step,
    spec: Extract<KernelSpec, { kind: 'conv2d' }>,
    [x, w, ...rest]: readonly NDArray[],
  ): NDArray | undefined {
    const a = (step.op === 'fused' ? (step.args as FusedArgs).product!.args : step.args) as ConvParams;
    if (x!.ndim !== 4 || w!.ndim !== 4) return undefined;
    const g = this.convGeometry(a, x!.shape, w!.shape);
    if (w!.shape[2] !== g.c) return undefined;
    const shape = [g.n, g.gh.out, g.gw.out, g.cout];
    const layouts = spec.epilogue?.layouts ?? [];
    if (!this.epilogueFits(rest, layouts, shape, g.rows, g.cout)) return undefined;
    const epilogue = rest.map((o, t) => ({ ptr: this.place(o), perRow: layouts[t] === 'column' }));
    const cols = this.arena.alloc(g.rows * g.depth * bytesPerElement(x!.dtype));
    if (!this.walk(step, 'im2col', a, g, this.place(x!), cols)) return (this.arena.free(cols), undefined);
    const out = this.gemm(step.kernel!, cols, this.place(w!), g.rows, g.depth, g.cout, shape, undefined, epilogue);
    this.arena.free(cols);
    return out;
  }

  /** The kernel's gradient: im2col(x)ᵀ · g (the gathered rows read transposed), a [kh*kw*in, out] product in the kernel's own layout. */
  private conv2dGradFilter(step: Step, [x, gy, wRef]: readonly NDArray[]): NDArray | undefined {
    const a = step.args as ConvParams;
    const g = this.convGeometry(a, x!.shape, wRef!.shape);
    const cols = this.arena.alloc(g.rows * g.depth * bytesPerElement(x!.dtype));
    if (!this.walk(step, 'im2col', a, g, this.place(x!), cols)) return (this.arena.free(cols), undefined);
    const out = this.gemm(step.kernel!, cols, this.place(gy!), g.depth, g.rows, g.cout, [...wRef!.shape], {
      aRow: 1,
      aDepth: g.depth,
      bDepth: g.cout,
      bCol: 1,
    });
    this.arena.free(cols);
    return out;
  }

  /** The input's gradient: g · Wᵀ (W read transposed) gives each output pixel's share of its receptive field, added back by col2im. */
  private conv2dGradInput(step: Step, [gy, w, xRef]: readonly NDArray[]): NDArray | undefined {
    const a = step.args as ConvParams;
    const g = this.convGeometry(a, xRef!.shape, w!.shape);
    const dcols = this.gemm(step.kernel!, this.place(gy!), this.place(w!), g.rows, g.cout, g.depth, [g.rows, g.depth], {
      aRow: g.cout,
      aDepth: 1,
      bDepth: 1,
      bCol: g.cout,
    });
    const dx = this.arena.alloc(xRef!.size * bytesPerElement(gy!.dtype));
    const dcolsPtr = dcols.data.byteOffset;
    const ok = this.walk(step, 'col2im', a, g, dx, dcolsPtr);
    this.arena.free(dcolsPtr);
    if (!ok) return (this.arena.free(dx), undefined);
    return new NDArray(this.arena.view(gy!.dtype, dx, xRef!.size), [...xRef!.shape], gy!.dtype);
  }

  /** Max or average pooling, whole images per thread. */
  private pooling(step: Step, x: NDArray): NDArray | undefined {
    const g = this.poolGeometry(step, x);
    if (!g) return undefined;
    const out = this.arena.alloc(g.pooledSize * g.E);
    const input = this.place(x);
    this.dispatch(
      this.parts(g.n, 1, x.size >= PARALLEL_ELEMENTS).map(([b0, b1]) => [
        step.kernel!,
        kernelArgs('pool', { x: input + b0 * g.image, out: out + b0 * g.pooled, n: b1 - b0, ...g.window }),
      ]),
    );
    return new NDArray(this.arena.view(x.dtype, out, g.pooledSize), g.pooledShape, x.dtype);
  }

  /**
   * A pooling gradient (`x` the pooled input, or only its shape for average pooling; `g` the pooled
   * gradient): max sends each window's gradient to the first position of its maximum, average
   * spreads it evenly; whole images per thread.
   */
  private poolGrad(step: Step, shapeOf: NDArray, g: NDArray, x: NDArray | undefined): NDArray | undefined {
    const geo = this.poolGeometry(step, shapeOf);
    if (!geo || g.ndim !== 4 || g.shape.some((d, i) => d !== geo.pooledShape[i])) return undefined;
    const [xPtr, gPtr] = [x ? this.place(x) : 0, this.place(g)];
    const dx = this.arena.alloc(shapeOf.size * geo.E);
    this.dispatch(
      this.parts(geo.n, 1, shapeOf.size >= PARALLEL_ELEMENTS).map(([b0, b1]) => [
        step.kernel!,
        kernelArgs('poolGrad', {
          x: x ? xPtr + b0 * geo.image : 0,
          g: gPtr + b0 * geo.pooled,
          dx: dx + b0 * geo.image,
          n: b1 - b0,
          ...geo.window,
        }),
      ]),
    );
    return new NDArray(this.arena.view(g.dtype, dx, shapeOf.size), [...shapeOf.shape], g.dtype);
  }

  /** Window geometry of a channels-last pooling step over `x`, or undefined where the kernels do not apply. */
  private poolGeometry(step: Step, x: NDArray) {
    const a = step.args as PoolParams;
    if (x.ndim !== 4) return undefined;
    const [n, h, w, c] = x.shape as [number, number, number, number];
    const E = bytesPerElement(x.dtype);
    // A vector of channels at a time: four float32 or two float64 lanes.
    if (c % (16 / E) !== 0 || x.size === 0) return undefined;
    const gh = windowGeometry(h, a.poolSize[0], a.strides[0], 1, a.padding);
    const gw = windowGeometry(w, a.poolSize[1], a.strides[1], 1, a.padding);
    const pooledShape = [n, gh.out, gw.out, c];
    return {
      n,
      E,
      image: h * w * c * E,
      pooled: gh.out * gw.out * c * E,
      pooledShape,
      pooledSize: n * gh.out * gw.out * c,
      window: {
        h,
        w,
        c,
        oh: gh.out,
        ow: gw.out,
        kh: a.poolSize[0],
        kw: a.poolSize[1],
        sh: a.strides[0],
        sw: a.strides[1],
        ph: gh.padBefore,
        pw: gw.padBefore,
      },
    };
  }

  /** The float type a kernel was built for (float32 unless its spec says float64). */
  private floatType(kernel: number): 'float32' | 'float64' {
    const spec = this.kernels[kernel]!;
    return 'dtype' in spec && spec.dtype === 'float64' ? 'float64' : 'float32';
  }

  /** C = A · B on the matmul kernel (row bands across threads), returned as an array of `shape`. */
  private gemm(
    kernel: number,
    aPtr: number,
    bPtr: number,
    n: number,
    k: number,
    m: number,
    shape: number[],
    s: GemmStrides = { aRow: k, aDepth: 1, bDepth: m, bCol: 1 },
    epilogue: readonly { ptr: number; perRow: boolean }[] = [],
  ): NDArray {
    const dtype = this.floatType(kernel);
    const E = bytesPerElement(dtype);
    const rows = roundUp(n, TILE_ROWS);
    const cols = roundUp(m, tileCols(dtype));
    const cPtr = this.arena.alloc(rows * cols * E);
    if (n <= SKINNY_ROWS && k >= 2 * DEPTH_CHUNK && epilogue.length === 0)
      this.gemmByDepth(kernel, aPtr, bPtr, cPtr, n, k, m, s, dtype);
    else this.gemmByRows(kernel, aPtr, bPtr, cPtr, n, k, m, s, dtype, epilogue);
    if (cols === m) return new NDArray(this.arena.view(dtype, cPtr, n * m), shape, dtype);
    // Compact the padded rows in place (row i moves left, never over a row not yet moved).
    const c = this.arena.view(dtype, cPtr, rows * cols);
    for (let i = 1; i < n; i++) c.copyWithin(i * m, i * cols, i * cols + m);
    return new NDArray(this.arena.view(dtype, cPtr, n * m), shape, dtype);
  }

  /** Each thread takes a band of rows (a multiple of the tile) and packs its own copy of B. */
  private gemmByRows(
    kernel: number,
    aPtr: number,
    bPtr: number,
    cPtr: number,
    n: number,
    k: number,
    m: number,
    s: GemmStrides,
    dtype: 'float32' | 'float64',
    epilogue: readonly { ptr: number; perRow: boolean }[],
  ): void {
    const E = bytesPerElement(dtype);
    const cols = roundUp(m, tileCols(dtype));
    const bands = this.parts(n, TILE_ROWS, 2 * n * k * m >= PARALLEL_FLOPS && n >= 2 * TILE_ROWS);
    const scratch = bands.map(([r0, r1]) => this.arena.alloc(matmulScratchBytes(r1 - r0, k, m, dtype)));
    this.dispatch(
      bands.map(([r0, r1], t) => [
        kernel,
        kernelArgs(
          'matmul',
          {
            a: aPtr + r0 * s.aRow * E,
            b: bPtr,
            c: cPtr + r0 * cols * E,
            n: r1 - r0,
            k,
            cols: m,
            scratch: scratch[t]!,
            ...s,
          },
          epilogue.map((x) => (x.perRow ? x.ptr + r0 * E : x.ptr)),
        ),
      ]),
    );
    scratch.forEach((p) => this.arena.free(p));
  }

  /**
   * A product with few rows and a long depth (a weight gradient: im2colᵀ · dy): row bands would leave
   * threads idle and each would pack all of B. The depth is cut into fixed chunks instead, each
   * chunk's partial product computed by whichever thread, then added in chunk order, so the result
   * does not depend on the number of threads.
   */
  private gemmByDepth(
    kernel: number,
    aPtr: number,
    bPtr: number,
    cPtr: number,
    n: number,
    k: number,
    m: number,
    s: GemmStrides,
    dtype: 'float32' | 'float64',
  ): void {
    const E = bytesPerElement(dtype);
    const size = roundUp(n, TILE_ROWS) * roundUp(m, tileCols(dtype));
    const chunks = Array.from(
      { length: Math.ceil(k / DEPTH_CHUNK) },
      (_, c) => [c * DEPTH_CHUNK, Math.min(k, (c + 1) * DEPTH_CHUNK)] as const,
    );
    const partials = chunks.map((_, c) => (c === 0 ? cPtr : this.arena.alloc(size * E)));
    for (let first = 0; first < chunks.length; first += this.threads) {
      const round = chunks.slice(first, first + this.threads);
      const scratch = round.map(([l0, l1]) => this.arena.alloc(matmulScratchBytes(n, l1 - l0, m, dtype)));
      this.dispatch(
        round.map(([l0, l1], t) => [
          kernel,
          kernelArgs('matmul', {
            a: aPtr + l0 * s.aDepth * E,
            b: bPtr + l0 * s.bDepth * E,
            c: partials[first + t]!,
            n,
            k: l1 - l0,
            cols: m,
            scratch: scratch[t]!,
            ...s,
          }),
        ]),
      );
      scratch.forEach((p) => this.arena.free(p));
    }
    const total = this.arena.view(dtype, cPtr, size);
    for (const p of partials.slice(1)) {
      const part = this.arena.view(dtype, p, size);
      for (let i = 0; i < size; i++) total[i]! += part[i]!;
      this.arena.free(p);
    }
  }
}
