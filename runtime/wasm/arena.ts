import { viewOf, type DType, type TypedArray } from '../dtype.js';
import { TsanoError } from '../errors.js';

const PAGE = 65536;
/** Bytes after every block that kernels may read (never write) past its end. */
const PADDING = 32;
/** The bytes a block of `bytes` takes: padding included, a multiple of 16. */
export const blockBytes = (bytes: number): number => Math.ceil((bytes + PADDING) / 16) * 16;
/** Must equal the maximum the generated modules declare for their imported memory. */
export const MAX_PAGES = 65536;

/**
 * A shared memory that may grow to wasm32's 4 GiB. The engine reserves address space for all of it
 * up front, so with very many compiled functions alive at once a new one can fail: that is reported
 * as what it is, not as the engine's bare RangeError.
 */
function newMemory(): WebAssembly.Memory {
  try {
    return new WebAssembly.Memory({ initial: 16, maximum: MAX_PAGES, shared: true });
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    throw new TsanoError(
      `wasm backend: the engine could not reserve memory for another compiled function (${e.message}); too many compiled functions are alive at once: drop those no longer needed, or compile with mode: 'js'`,
    );
  }
}

/**
 * One shared WebAssembly.Memory per compiled function and its allocator for one call: blocks are
 * taken first-fit from the holes that dead values left (neighbouring holes merge), else from the top,
 * so each call of the same shapes lays values out at the same offsets and a buffer is reused as soon
 * as the schedule says its value is dead. Everything is free again at the start of the next call.
 * Shared memory grows without detaching existing views. A request beyond wasm32's 4 GiB is a clear
 * error, never a trap.
 */
export class WasmArena {
  readonly memory = newMemory();
  private top = 0;
  /** Bytes at the bottom kept across calls (shared variables' values); each call allocates above them. */
  private base = 0;
  /** Live blocks: start → size in bytes. */
  private readonly live = new Map<number, number>();
  /** Holes below the top, sorted by start. */
  private holes: { start: number; size: number }[] = [];
  private highWater = 0;
  /** The highest byte any block of this call has reached. */
  private callHigh = 0;
  private readonly buffers = new WeakSet<ArrayBufferLike>();
  /** The memory's buffer since it last grew (reading `memory.buffer` costs a call into the engine). */
  private current: ArrayBufferLike = this.remember(this.memory.buffer);

  private remember(buffer: ArrayBufferLike): ArrayBufferLike {
    this.buffers.add(buffer);
    return buffer;
  }

  /** Starts a call: everything allocated in the previous call is free again. */
  beginCall(): void {
    this.top = this.base;
    this.callHigh = this.base;
    this.live.clear();
    this.holes = [];
  }

  /** Keeps the lowest `bytes` across calls (set between calls): the region starts at offset 0. */
  keep(bytes: number): void {
    this.base = Math.ceil(bytes / 16) * 16;
    this.ensure(this.base);
    this.top = Math.max(this.top, this.base);
    this.highWater = Math.max(this.highWater, this.base);
  }

  /** True for a byte offset in the region kept across calls. */
  isKept(ptr: number): boolean {
    return ptr < this.base;
  }

  /** Bytes spanned by this call's blocks so far (the top of the arena). */
  get used(): number {
    return this.top;
  }

  /** The highest byte any block of this call has reached (a block at or above it overlaps nothing the call used). */
  get callSpan(): number {
    return this.callHigh;
  }

  /** The most bytes any call has spanned. */
  get peak(): number {
    return this.highWater;
  }

  /** Makes the memory at least `bytes` long (a call that runs a recorded plan allocates nothing itself). */
  ensure(bytes: number): void {
    const needed = Math.ceil(bytes / PAGE);
    const have = this.current.byteLength / PAGE;
    if (needed <= have) return;
    if (needed > MAX_PAGES) {
      throw new TsanoError(
        `wasm backend: this call needs ${(bytes / 2 ** 30).toFixed(2)} GiB of memory, above wasm32's 4 GiB limit (use smaller batches)`,
      );
    }
    this.memory.grow(needed - have);
    this.current = this.remember(this.memory.buffer);
  }

  /**
   * Reserves `bytes` at a 16-byte boundary, plus 32 bytes of padding: vector loads that run past the
   * end (a four-lane tail, a matmul epilogue reading a bias row padded to eight columns) stay inside.
   */
  alloc(bytes: number): number {
    const size = blockBytes(bytes);
    const hole = this.holes.findIndex((h) => h.size >= size);
    if (hole >= 0) {
      const h = this.holes[hole]!;
      const start = h.start;
      if (h.size === size) this.holes.splice(hole, 1);
      else this.holes[hole] = { start: start + size, size: h.size - size };
      this.live.set(start, size);
      return start;
    }
    const start = this.top;
    const end = start + size;
    const capacity = this.current.byteLength;
    // Grow geometrically (up to the limit), so a call's allocations cost few grow operations; a request
    // past the limit throws before anything changes.
    if (end > capacity)
      this.ensure(end > MAX_PAGES * PAGE ? end : Math.min(Math.max(end, 2 * capacity), MAX_PAGES * PAGE));
    this.top = end;
    this.highWater = Math.max(this.highWater, this.top);
    this.callHigh = Math.max(this.callHigh, this.top);
    this.live.set(start, size);
    return start;
  }

  /**
   * A block above every byte this call has used so far: what is written there before the call's
   * first kernel is still there when a later one reads it, as long as the block is never freed.
   */
  allocFresh(bytes: number): number {
    if (this.top < this.callHigh) {
      this.holes.push({ start: this.top, size: this.callHigh - this.top });
      this.top = this.callHigh;
    }
    const start = this.top;
    const size = blockBytes(bytes);
    const end = start + size;
    if (end > this.current.byteLength) this.ensure(end);
    this.top = end;
    this.highWater = Math.max(this.highWater, end);
    this.callHigh = end;
    this.live.set(start, size);
    return start;
  }

  /** Returns the block starting at `start` to the free space (merged with neighbouring holes). */
  free(start: number): void {
    const size = this.live.get(start);
    if (size === undefined) return;
    this.live.delete(start);
    let at = this.holes.findIndex((h) => h.start > start);
    if (at < 0) at = this.holes.length;
    this.holes.splice(at, 0, { start, size });
    // Merge with the next hole, then with the previous one.
    const merge = (i: number) => {
      const [a, b] = [this.holes[i], this.holes[i + 1]];
      if (a && b && a.start + a.size === b.start) this.holes.splice(i, 2, { start: a.start, size: a.size + b.size });
    };
    merge(at);
    merge(at - 1);
    // A hole that reaches the top lowers the top instead.
    const last = this.holes[this.holes.length - 1];
    if (last && last.start + last.size === this.top) {
      this.top = last.start;
      this.holes.pop();
    }
  }

  /** The start of the live block holding byte `ptr`, if any. */
  blockOf(ptr: number): number | undefined {
    if (this.live.has(ptr)) return ptr;
    for (const [start, size] of this.live) if (ptr >= start && ptr < start + size) return start;
    return undefined;
  }

  /** A view of `count` elements of `dtype` at byte offset `ptr` (bool as bytes). */
  view(dtype: DType, ptr: number, count: number): TypedArray {
    return viewOf(dtype, this.current, ptr, count);
  }

  /** A float32 view of `count` elements at byte offset `ptr`. */
  f32(ptr: number, count: number): Float32Array {
    return this.view('float32', ptr, count) as Float32Array;
  }

  /** Copies the bytes of `data` (JavaScript memory or this memory) to byte offset `ptr`. */
  write(ptr: number, data: ArrayBufferView): void {
    this.view('bool', ptr, data.byteLength).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }

  /** Copies `bytes` from `src` to `dst` within this memory (overlapping ranges allowed). */
  copyWithin(dst: number, src: number, bytes: number): void {
    new Uint8Array(this.current).copyWithin(dst, src, src + bytes);
  }

  /** True for arrays that live in this memory (results of earlier kernels in this call). */
  holds(data: ArrayBufferView): boolean {
    return this.buffers.has(data.buffer);
  }
}
