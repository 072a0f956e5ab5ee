import type { KernelSpec } from '../../compiler/schedule/kernels.js';
import { actualLayout } from '../../compiler/schedule/kernels.js';
import type { Program, Step } from '../../compiler/schedule/program.js';
import { matmulScratchBytes, TILE_COLS, TILE_ROWS } from '../../compiler/codegen/matmul.js';
import type { Accelerator } from '../executor.js';
import { NDArray, sizeOf } from '../ndarray.js';
import { MultiOutput } from '../reference/kernels.js';
import { broadcastConcrete } from '../reference/layout.js';
import type { ConvParams, PoolParams } from '../reference/nn.js';
import { windowGeometry } from '../geometry.js';
import { WasmArena } from './arena.js';
import { threadPool, type ThreadPool } from './threads.js';
import { cachedModule, moduleKey, type CacheSource } from './cache.js';

type KernelFn = (...args: number[]) => void;

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

/** One kernel invocation: function index and i32 arguments. */
type Job = readonly [number, readonly number[]];

/**
 * Runs a compiled function's wasm kernels in memory it owns. Operands are copied in unless an
 * earlier kernel of the same call left them there; results stay in place for the next kernel. Big
 * kernels are split into row ranges across the thread pool (bit-identical to one thread).
 */
export class WasmAccelerator implements Accelerator {
  private readonly arena = new WasmArena();
  private readonly fns: KernelFn[];
  private readonly pool: ThreadPool | undefined;
  private readonly moduleId: number;
  /** conv2d kernels' companion im2col functions, by kernel index. */
  private readonly im2colFns: Map<number, KernelFn | undefined>;

  private constructor(
    private readonly kernels: readonly KernelSpec[], module: WebAssembly.Module, exportNames: readonly string[],
    readonly relaxedSimd: boolean, readonly moduleSource: CacheSource,
  ) {
    const instance = new WebAssembly.Instance(module, { env: { memory: this.arena.memory } });
    this.fns = exportNames.map((n) => instance.exports[n] as KernelFn);
    this.pool = threadPool();
    this.moduleId = this.pool ? this.pool.register(module, this.arena.memory, exportNames) : 0;
    this.im2colFns = new Map(exportNames.map((n, i) => [i, instance.exports[`${n}_im2col`] as KernelFn | undefined]));
  }

  /** Compiles the program's kernels into one module (loading binaryen on first use). */
  static async create(program: Program): Promise<WasmAccelerator | undefined> {
    if (program.kernels.length === 0) return undefined;
    await configureV8();
    // Exports are named k0, k1, … in kernel order, so a cached module needs no side table.
    const exports = program.kernels.map((_, i) => `k${i}`);
    const build = (relaxedSimd: boolean) => async () => {
      const { buildModule } = await import('../../compiler/codegen/module.js');
      return (await buildModule(program.kernels, { relaxedSimd })).bytes;
    };
    if (wantRelaxed()) {
      try {
        const { module, source } = await cachedModule(moduleKey(program.kernels, 'relaxed'), build(true));
        return new WasmAccelerator(program.kernels, module, exports, true, source);
      } catch {
        // a module with one unsupported opcode fails whole: fall back to plain SIMD128
      }
    }
    const { module, source } = await cachedModule(moduleKey(program.kernels, 'simd128'), build(false));
    return new WasmAccelerator(program.kernels, module, exports, false, source);
  }

  /** Threads this accelerator splits big kernels across. */
  get threads(): number {
    return (this.pool?.helpers ?? 0) + 1;
  }

  beginCall(): void {
    this.arena.beginCall();
  }

  resident(value: NDArray): boolean {
    return this.arena.holds(value.data);
  }

  run(step: Step, operands: readonly NDArray[]): NDArray | undefined {
    const spec = this.kernels[step.kernel!]!;
    const expected = spec.kind === 'elementwise' ? spec.inputTypes : operands.map(() => 'float32');
    if (operands.some((o, i) => o.dtype !== expected[i])) return undefined;
    switch (spec.kind) {
      case 'matmul':
        return this.matmul(step, operands);
      case 'conv2d':
        return this.conv2d(step, operands);
      case 'conv2dGradFilter':
        return this.conv2dGradFilter(step, operands);
      case 'conv2dGradInput':
        return this.conv2dGradInput(step, operands);
      case 'maxPool2d':
        return this.maxPool(step, operands[0]!);
      case 'elementwise':
        return this.elementwise(step, spec, operands);
      default:
        return spec satisfies never;
    }
  }

  /** Runs jobs[0] here and the rest on helpers, or all here in order without a pool. */
  private dispatch(jobs: readonly Job[]): void {
    if (!this.pool || jobs.length === 1) {
      for (const [fn, args] of jobs) this.fns[fn]!(...args);
      return;
    }
    const [[fn, args], ...rest] = jobs as [Job, ...Job[]];
    this.pool.run(this.moduleId, () => this.fns[fn]!(...args), rest);
  }

  /** The address of an operand in wasm memory, copying it in unless an earlier kernel left it there. */
  private place(x: NDArray): number {
    if (this.arena.holds(x.data)) return x.data.byteOffset;
    const ptr = this.arena.alloc(x.data.byteLength);
    this.arena.u8(ptr, x.data.byteLength).set(new Uint8Array(x.data.buffer, x.data.byteOffset, x.data.byteLength));
    return ptr;
  }

  /** Contiguous parts of [0, total) for each thread, every boundary a multiple of `align`. */
  private parts(total: number, align: number, worth: boolean): [number, number][] {
    const threads = worth ? Math.min(this.threads, Math.ceil(total / align)) : 1;
    const cuts = Array.from({ length: threads + 1 }, (_, t) => Math.min(total, roundUp(Math.floor((total * t) / threads), align)));
    cuts[threads] = total;
    return cuts.slice(0, -1).map((c, t) => [c, cuts[t + 1]!] as [number, number]).filter(([a, b]) => b > a);
  }

  private elementwise(step: Step, spec: Extract<KernelSpec, { kind: 'elementwise' }>, operands: readonly NDArray[]): NDArray | undefined {
    let shape: number[];
    try {
      shape = broadcastConcrete(operands.map((o) => o.shape));
    } catch {
      return undefined; // the reference kernel reports the mismatch with its usual message
    }
    const size = sizeOf(shape);
    if (size === 0 || operands.some((o, i) => actualLayout(o.shape, shape) !== spec.layouts[i])) return undefined;
    const inner = shape.length ? shape[shape.length - 1]! : 1;
    const outer = size / inner;
    const bytes = (t: string) => (t === 'bool' ? 1 : 4);
    const inPtrs = operands.map((o) => this.place(o));
    const outPtrs = spec.outputTypes.map((t) => this.arena.alloc(size * bytes(t)));
    const fn = step.kernel!;
    const worth = size >= PARALLEL_ELEMENTS;
    const inSize = spec.inputTypes.map(bytes);
    const outSize = spec.outputTypes.map(bytes);
    let jobs: Job[];
    if (outer === 1) {
      // One long row: split it, offsetting the streamed operands and the outputs.
      jobs = this.parts(inner, 4, worth).map(([a, b]) => [fn, [1, b - a,
        ...inPtrs.map((p, i) => (spec.layouts[i] === 'full' || spec.layouts[i] === 'row' ? p + a * inSize[i]! : p)),
        ...outPtrs.map((p, q) => p + a * outSize[q]!)]]);
    } else {
      // Whole rows per thread: full operands move by rows, columns by one value per row.
      jobs = this.parts(outer, 1, worth).map(([a, b]) => [fn, [b - a, inner,
        ...inPtrs.map((p, i) => (spec.layouts[i] === 'full' ? p + a * inner * inSize[i]! : spec.layouts[i] === 'column' ? p + a * inSize[i]! : p)),
        ...outPtrs.map((p, q) => p + a * inner * outSize[q]!)]]);
    }
    this.dispatch(jobs);
    const results = outPtrs.map((p, q) =>
      spec.outputTypes[q] === 'bool' ? new NDArray(this.arena.u8(p, size), shape, 'bool') : new NDArray(this.arena.f32(p, size), shape, 'float32'));
    return results.length === 1 ? results[0]! : new MultiOutput(results[0]!, results);
  }

  private matmul(step: Step, [a, b]: readonly NDArray[]): NDArray | undefined {
    const [n, k] = a!.shape as [number, number];
    const vector = b!.ndim === 1;
    const m = vector ? 1 : b!.shape[1]!;
    if (b!.shape[0] !== k) return undefined;
    return this.gemm(step.kernel!, this.place(a!), this.place(b!), n, k, m, vector ? [n] : [n, m]);
  }

  /** Output geometry of a channels-last convolution of `x` by a kernel of shape `w`. */
  private convGeometry(a: ConvParams, x: readonly number[], w: readonly number[]) {
    const [n, h, wd, c] = x as [number, number, number, number];
    const [kh, kw, , cout] = w as [number, number, number, number];
    const gh = windowGeometry(h, kh, a.strides[0], a.dilation[0], a.padding);
    const gw = windowGeometry(wd, kw, a.strides[1], a.dilation[1], a.padding);
    return { n, h, wd, c, kh, kw, cout, gh, gw, rows: n * gh.out * gw.out, depth: kh * kw * c };
  }

  /**
   * Visits every (output pixel row, kernel tap) pair inside the image: `visit(row, tapOffset, pixelOffset)`
   * with the tap's column offset in an im2col row and the input pixel's element offset.
   */
  private forEachTap(a: ConvParams, g: ReturnType<WasmAccelerator['convGeometry']>, visit: (row: number, tap: number, pixel: number) => void): void {
    let row = 0;
    for (let b = 0; b < g.n; b++) {
      for (let oy = 0; oy < g.gh.out; oy++) {
        for (let ox = 0; ox < g.gw.out; ox++, row++) {
          for (let i = 0; i < g.kh; i++) {
            const iy = oy * a.strides[0] + i * a.dilation[0] - g.gh.padBefore;
            if (iy < 0 || iy >= g.h) continue;
            for (let j = 0; j < g.kw; j++) {
              const ix = ox * a.strides[1] + j * a.dilation[1] - g.gw.padBefore;
              if (ix < 0 || ix >= g.wd) continue;
              visit(row, (i * g.kw + j) * g.c, ((b * g.h + iy) * g.wd + ix) * g.c);
            }
          }
        }
      }
    }
  }

  /** Receptive fields as columns (transposed im2col, zeros for padding): [kh*kw*in, rows]. */
  private im2colTransposed(a: ConvParams, g: ReturnType<WasmAccelerator['convGeometry']>, x: NDArray): number {
    const ptr = this.arena.alloc(g.rows * g.depth * 4);
    const cols = this.arena.f32(ptr, g.rows * g.depth);
    cols.fill(0);
    const xd = x.data as Float32Array;
    this.forEachTap(a, g, (row, tap, pixel) => {
      for (let ch = 0; ch < g.c; ch++) cols[(tap + ch) * g.rows + row] = xd[pixel + ch]!;
    });
    return ptr;
  }

  /**
   * conv2d (channels last) as one matmul: each output pixel's receptive field, gathered into a row
   * (im2col), times the kernel viewed as [kh*kw*in, out]; the product is already NHWC.
   */
  private conv2d(step: Step, [x, w]: readonly NDArray[]): NDArray | undefined {
    const a = step.args as ConvParams;
    const g = this.convGeometry(a, x!.shape, w!.shape);
    if (w!.shape[2] !== g.c) return undefined;
    // Gathered by the module's companion im2col function (wasm bulk copies).
    const im2col = this.im2colFns.get(step.kernel!);
    if (!im2col) return undefined;
    const cols = this.arena.alloc(g.rows * g.depth * 4);
    im2col(this.place(x!), cols, g.n, g.h, g.wd, g.c, g.gh.out, g.gw.out, g.kh, g.kw, a.strides[0], a.strides[1],
      a.dilation[0], a.dilation[1], g.gh.padBefore, g.gw.padBefore);
    return this.gemm(step.kernel!, cols, this.place(w!), g.rows, g.depth, g.cout, [g.n, g.gh.out, g.gw.out, g.cout]);
  }

  /** The kernel's gradient: im2col(x)ᵀ · g, a [kh*kw*in, out] product that is the kernel's own layout. */
  private conv2dGradFilter(step: Step, [x, gy, wRef]: readonly NDArray[]): NDArray | undefined {
    const a = step.args as ConvParams;
    const g = this.convGeometry(a, x!.shape, wRef!.shape);
    const colsT = this.im2colTransposed(a, g, x!);
    return this.gemm(step.kernel!, colsT, this.place(gy!), g.depth, g.rows, g.cout, [...wRef!.shape]);
  }

  /** The input's gradient: g · Wᵀ gives each output pixel's share of its receptive field, added back (col2im). */
  private conv2dGradInput(step: Step, [gy, w, xRef]: readonly NDArray[]): NDArray | undefined {
    const a = step.args as ConvParams;
    const g = this.convGeometry(a, xRef!.shape, w!.shape);
    const wd = w!.data as Float32Array;
    const wtPtr = this.arena.alloc(g.depth * g.cout * 4);
    const wt = this.arena.f32(wtPtr, g.depth * g.cout);
    for (let d = 0; d < g.depth; d++) for (let o = 0; o < g.cout; o++) wt[o * g.depth + d] = wd[d * g.cout + o]!;
    const dcols = this.gemm(step.kernel!, this.place(gy!), wtPtr, g.rows, g.cout, g.depth, [g.rows, g.depth]).data as Float32Array;
    const dx = new Float32Array(xRef!.size);
    this.forEachTap(a, g, (row, tap, pixel) => {
      for (let ch = 0; ch < g.c; ch++) dx[pixel + ch]! += dcols[row * g.depth + tap + ch]!;
    });
    return new NDArray(dx, xRef!.shape, 'float32');
  }

  private maxPool(step: Step, x: NDArray): NDArray | undefined {
    const a = step.args as PoolParams;
    const [n, h, w, c] = x.shape as [number, number, number, number];
    if (c % 4 !== 0) return undefined;
    const gh = windowGeometry(h, a.poolSize[0], a.strides[0], 1, a.padding);
    const gw = windowGeometry(w, a.poolSize[1], a.strides[1], 1, a.padding);
    const size = n * gh.out * gw.out * c;
    const outPtr = this.arena.alloc(size * 4);
    this.fns[step.kernel!]!(this.place(x), outPtr, n, h, w, c, gh.out, gw.out, a.poolSize[0], a.poolSize[1],
      a.strides[0], a.strides[1], gh.padBefore, gw.padBefore);
    return new NDArray(this.arena.f32(outPtr, size), [n, gh.out, gw.out, c], 'float32');
  }

  /** C = A · B on the matmul kernel (row bands across threads), returned as an array of `shape`. */
  private gemm(kernel: number, aPtr: number, bPtr: number, n: number, k: number, m: number, shape: number[]): NDArray {
    const rows = roundUp(n, TILE_ROWS);
    const cols = roundUp(m, TILE_COLS);
    const cPtr = this.arena.alloc(rows * cols * 4);
    // Each thread takes a band of rows (a multiple of the tile) and packs its own copy of B.
    const bands = this.parts(n, TILE_ROWS, 2 * n * k * m >= PARALLEL_FLOPS && n >= 2 * TILE_ROWS);
    const jobs: Job[] = bands.map(([r0, r1]) => {
      const scratch = this.arena.alloc(matmulScratchBytes(r1 - r0, k, m));
      return [kernel, [aPtr + r0 * k * 4, bPtr, cPtr + r0 * cols * 4, r1 - r0, k, m, scratch]];
    });
    this.dispatch(jobs);
    if (cols === m) return new NDArray(this.arena.f32(cPtr, n * m), shape, 'float32');
    // Compact the padded rows in place (row i moves left, never over a row not yet moved).
    const c = this.arena.f32(cPtr, rows * cols);
    for (let i = 1; i < n; i++) c.copyWithin(i * m, i * cols, i * cols + m);
    return new NDArray(this.arena.f32(cPtr, n * m), shape, 'float32');
  }
}
