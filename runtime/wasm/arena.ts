import { TsanoError } from '../errors.js';

const PAGE = 65536;
/** Must equal the maximum the generated modules declare for their imported memory. */
export const MAX_PAGES = 65536;

/**
 * One WebAssembly.Memory per compiled function, used as a bump allocator reset at the start of each
 * call, so results of one kernel stay in place for the next. Growing memory detaches every view of
 * it, so memory only grows between calls: a call that runs out of room lets the step fall back to
 * the reference kernels and reserves more for the next call. Beyond wasm32's 4 GiB is a clear error.
 */
export class WasmArena {
  readonly memory = new WebAssembly.Memory({ initial: 16, maximum: MAX_PAGES });
  private top = 0;
  private highWater = 0;

  /** Starts a call: frees everything and makes sure the previous call's peak fits without growing. */
  beginCall(): void {
    this.top = 0;
    this.ensure(this.highWater);
  }

  /** Bytes reserved so far in this call. */
  get used(): number {
    return this.top;
  }

  private ensure(bytes: number): void {
    const needed = Math.ceil(bytes / PAGE);
    const have = this.memory.buffer.byteLength / PAGE;
    if (needed <= have) return;
    if (needed > MAX_PAGES) {
      throw new TsanoError(`wasm backend: this call needs ${(bytes / 2 ** 30).toFixed(2)} GiB of memory, above wasm32's 4 GiB limit (use smaller batches)`);
    }
    this.memory.grow(needed - have);
  }

  /**
   * Reserves `bytes` (plus 16 bytes of padding, so four-lane loads past the end stay inside) at a
   * 16-byte boundary; undefined when that would need more memory than this call started with.
   */
  alloc(bytes: number): number | undefined {
    const start = this.top;
    const end = start + Math.ceil((bytes + 16) / 16) * 16;
    if (end > this.memory.buffer.byteLength) {
      // The rest of this call is unknown: reserve twice what was reached, so a few calls converge.
      this.highWater = Math.max(this.highWater, 2 * end);
      return undefined;
    }
    this.highWater = Math.max(this.highWater, end);
    this.top = end;
    return start;
  }

  /** Gives back everything allocated after `mark` (a step that could not finish). */
  release(mark: number): void {
    this.top = mark;
  }

  /** A float32 view of `count` elements at byte offset `ptr`. */
  f32(ptr: number, count: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, count);
  }

  /** True for arrays that already live in this memory (results of earlier kernels in this call). */
  holds(data: ArrayBufferView): boolean {
    return data.buffer === this.memory.buffer;
  }
}
