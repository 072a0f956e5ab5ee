import { TsanoError } from '../errors.js';

const PAGE = 65536;
/** Must equal the maximum the generated modules declare for their imported memory. */
export const MAX_PAGES = 65536;

/**
 * One WebAssembly.Memory per compiled function, used as a bump allocator that is reset before each
 * kernel call. It grows on demand; a request beyond wasm32's 4 GiB is a clear error, never a trap.
 */
export class WasmArena {
  readonly memory = new WebAssembly.Memory({ initial: 16, maximum: MAX_PAGES });
  private top = 0;

  reset(): void {
    this.top = 0;
  }

  /** Reserves `bytes` (plus 16 bytes of padding, so four-lane loads past the end stay inside) at a 16-byte boundary. */
  alloc(bytes: number): number {
    const start = this.top;
    this.top = start + Math.ceil((bytes + 16) / 16) * 16;
    const needed = Math.ceil(this.top / PAGE);
    const have = this.memory.buffer.byteLength / PAGE;
    if (needed > have) {
      if (needed > MAX_PAGES) {
        throw new TsanoError(`wasm backend: this step needs ${(this.top / 2 ** 30).toFixed(2)} GiB of memory, above wasm32's 4 GiB limit (use smaller batches)`);
      }
      this.memory.grow(needed - have);
    }
    return start;
  }

  /** A float32 view of `count` elements at byte offset `ptr` (views die when memory grows: take them after allocating). */
  f32(ptr: number, count: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, count);
  }

  /** Copies `data` in and returns its address. */
  copyIn(data: Float32Array): number {
    const ptr = this.alloc(data.byteLength);
    this.f32(ptr, data.length).set(data);
    return ptr;
  }
}
