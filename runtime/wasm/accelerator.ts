import type { KernelSpec } from '../../compiler/schedule/kernels.js';
import { actualLayout } from '../../compiler/schedule/kernels.js';
import type { Program, Step } from '../../compiler/schedule/program.js';
import type { Accelerator } from '../executor.js';
import { NDArray, sizeOf } from '../ndarray.js';
import { MultiOutput } from '../reference/kernels.js';
import { broadcastConcrete } from '../reference/layout.js';
import { WasmArena } from './arena.js';
import { matmulScratchBytes, TILE_COLS, TILE_ROWS } from '../../compiler/codegen/matmul.js';

type KernelFn = (...args: number[]) => void;
const OUT_OF_ROOM = Symbol('out of room');

let liftoffChecked = false;
/**
 * V8 first compiles wasm with Liftoff and tiers a function up only after many calls; a kernel called
 * once on a big array stays at a quarter of its speed. Turning Liftoff off before the first module
 * is compiled avoids that (TSANO_LIFTOFF=1 keeps it, e.g. to measure the difference).
 */
async function avoidLiftoff(): Promise<void> {
  if (liftoffChecked) return;
  liftoffChecked = true;
  if (process.env['TSANO_LIFTOFF'] === '1') return;
  const v8 = await import('node:v8');
  v8.setFlagsFromString('--no-liftoff');
}

const roundUp = (n: number, k: number) => Math.ceil(n / k) * k;

/** Runs a compiled function's wasm kernels in memory it owns; operands are copied in and results out. */
export class WasmAccelerator implements Accelerator {
  private readonly arena = new WasmArena();
  private readonly fns: KernelFn[];

  private constructor(private readonly kernels: readonly KernelSpec[], bytes: Uint8Array, exportNames: readonly string[]) {
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory: this.arena.memory } });
    this.fns = exportNames.map((n) => instance.exports[n] as KernelFn);
  }

  /** Compiles the program's kernels into one module (loading binaryen on first use). */
  static async create(program: Program): Promise<WasmAccelerator | undefined> {
    if (program.kernels.length === 0) return undefined;
    await avoidLiftoff();
    const { buildModule } = await import('../../compiler/codegen/module.js');
    const mod = await buildModule(program.kernels);
    return new WasmAccelerator(program.kernels, mod.bytes, mod.exports);
  }

  beginCall(): void {
    this.arena.beginCall();
  }

  /** True for results that view this accelerator's memory and must be copied before the call returns. */
  resident(value: NDArray): boolean {
    return this.arena.holds(value.data);
  }

  run(step: Step, operands: readonly NDArray[]): NDArray | undefined {
    const spec = this.kernels[step.kernel!]!;
    if (operands.some((o) => o.dtype !== 'float32')) return undefined;
    const mark = this.arena.used;
    try {
      return spec.kind === 'matmul' ? this.matmul(step, operands) : this.elementwise(step, spec, operands);
    } catch (e) {
      if (e !== OUT_OF_ROOM) throw e;
      this.arena.release(mark);
      return undefined;
    }
  }

  /** Memory for `bytes`, or a jump back to `run`, which lets the reference kernel take this step. */
  private alloc(bytes: number): number {
    const ptr = this.arena.alloc(bytes);
    if (ptr === undefined) throw OUT_OF_ROOM;
    return ptr;
  }

  /** The address of an operand in wasm memory, copying it in unless an earlier kernel left it there. */
  private place(x: NDArray): number {
    if (this.arena.holds(x.data)) return x.data.byteOffset;
    const ptr = this.alloc(x.data.byteLength);
    this.arena.f32(ptr, x.size).set(x.data as Float32Array);
    return ptr;
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
    const inPtrs = operands.map((o) => this.place(o));
    const outPtrs = spec.outputs.map(() => this.alloc(size * 4));
    this.fns[step.kernel!]!(outer, inner, ...inPtrs, ...outPtrs);
    const results = outPtrs.map((p) => new NDArray(this.arena.f32(p, size), shape, 'float32'));
    return results.length === 1 ? results[0]! : new MultiOutput(results[0]!, results);
  }

  private matmul(step: Step, [a, b]: readonly NDArray[]): NDArray | undefined {
    const [n, k] = a!.shape as [number, number];
    const vector = b!.ndim === 1;
    const m = vector ? 1 : b!.shape[1]!;
    if (b!.shape[0] !== k) return undefined;
    const rows = roundUp(n, TILE_ROWS);
    const cols = roundUp(m, TILE_COLS);
    const aPtr = this.place(a!);
    const bPtr = this.place(b!);
    const cPtr = this.alloc(rows * cols * 4);
    const scratch = this.alloc(matmulScratchBytes(n, k, m));
    this.fns[step.kernel!]!(aPtr, bPtr, cPtr, n, k, m, scratch);
    const shape = vector ? [n] : [n, m];
    if (cols === m) return new NDArray(this.arena.f32(cPtr, n * m), shape, 'float32');
    // Compact the padded rows in place (row i moves left, never over a row not yet moved).
    const c = this.arena.f32(cPtr, rows * cols);
    for (let i = 1; i < n; i++) c.copyWithin(i * m, i * cols, i * cols + m);
    return new NDArray(this.arena.f32(cPtr, n * m), shape, 'float32');
  }
}
