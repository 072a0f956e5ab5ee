import { TsanoError } from '../errors.js';

const PAGE = 65536;
/** Must equal the maximum the generated modules declare for their imported memory. */
export const MAX_PAGES = 65536;

/**
 * One shared WebAssembly.Memory per compiled function, used as a bump allocator reset at the start
 * of each call, so results of one kernel stay in place for the next. Shared memory grows without
 * detaching existing views. A request beyond wasm32's 4 GiB is a clear error, never a trap.
 */
export class WasmArena {
  readonly memory = new WebAssembly.Memory({ initial: 16, maximum: MAX_PAGES, shared: true });
  private top = 0;
  private readonly buffers = new WeakSet<ArrayBufferLike>();

  /** Starts a call: everything allocated in the previous call is free again. */
  beginCall(): void {
    this.top = 0;
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

  /** Reserves `bytes` (plus 16 bytes of padding, so four-lane loads past the end stay inside) at a 16-byte boundary. */
  alloc(bytes: number): number {
    const start = this.top;
    this.top = start + Math.ceil((bytes + 16) / 16) * 16;
    const size = this.memory.buffer.byteLength;
    // Grow geometrically (up to the limit), so a call's allocations cost few grow operations.
    if (this.top > size) this.ensure(this.top > MAX_PAGES * PAGE ? this.top : Math.min(Math.max(this.top, 2 * size), MAX_PAGES * PAGE));
    return start;
  }

  /** A float32 view of `count` elements at byte offset `ptr`. */
  f32(ptr: number, count: number): Float32Array {
    const buffer = this.memory.buffer;
    this.buffers.add(buffer);
    return new Float32Array(buffer, ptr, count);
  }

  /** A view of `count` elements of `type` at byte offset `ptr` (bool as bytes). */
  view(type: 'float32' | 'float64' | 'bool', ptr: number, count: number): Float32Array | Float64Array | Uint8Array {
    const buffer = this.memory.buffer;
    this.buffers.add(buffer);
    return type === 'float32' ? new Float32Array(buffer, ptr, count) : type === 'float64' ? new Float64Array(buffer, ptr, count) : new Uint8Array(buffer, ptr, count);
  }

  /** A byte view of `count` bytes at `ptr`. */
  u8(ptr: number, count: number): Uint8Array {
    const buffer = this.memory.buffer;
    this.buffers.add(buffer);
    return new Uint8Array(buffer, ptr, count);
  }

  /** True for arrays that live in this memory (results of earlier kernels in this call). */
  holds(data: ArrayBufferView): boolean {
    return this.buffers.has(data.buffer);
  }
}
