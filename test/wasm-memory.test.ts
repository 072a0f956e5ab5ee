import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import { WasmArena } from '../runtime/wasm/arena.js';

describe('wasm memory', () => {
  it('a request beyond wasm32 4 GiB is a clear error, not a trap', () => {
    const arena = new WasmArena();
    expect(() => arena.alloc(5 * 2 ** 30)).toThrow(T.TsanoError);
    expect(() => arena.alloc(5 * 2 ** 30)).toThrow(/needs 5\.00 GiB of memory, above wasm32's 4 GiB limit/);
  });

  it('a memory the engine cannot reserve (too many compiled functions alive) is a clear error, not a bare RangeError', () => {
    const Memory = WebAssembly.Memory;
    // The engine's refusal, as it reports it when its address space for wasm memories is used up.
    (WebAssembly as { Memory: unknown }).Memory = function refuse() {
      throw new RangeError('WebAssembly.Memory(): could not allocate memory');
    };
    try {
      expect(() => new WasmArena()).toThrow(T.TsanoError);
      expect(() => new WasmArena()).toThrow(
        /could not reserve memory for another compiled function .*too many compiled functions are alive at once/,
      );
    } finally {
      (WebAssembly as { Memory: unknown }).Memory = Memory;
    }
  });

  it('freed blocks are reused first-fit, neighbours merge, and the top comes down', () => {
    const arena = new WasmArena();
    const [a, b, c] = [arena.alloc(100), arena.alloc(100), arena.alloc(100)];
    expect(b - a).toBe(c - b);
    arena.free(a);
    arena.free(b);
    // a and b merged: a block of both sizes fits where a was.
    expect(arena.alloc(2 * (b - a) - 32)).toBe(a);
    arena.free(c);
    const top = arena.used;
    arena.free(a);
    expect(arena.used).toBeLessThan(top);
    expect(arena.used).toBe(0);
  });
});
