import type { KernelSpec } from '../schedule/kernels.js';
import { loadBinaryen } from './binaryen.js';
import { emitElementwise } from './elementwise.js';
import { FunctionEmitter } from './emitter.js';
import { emitMatmul } from './matmul.js';
import { emitMaxPool } from './pool.js';

/** wasm32's limit: 65536 pages of 64 KiB (4 GiB). The runtime's memory must declare the same maximum. */
export const MAX_PAGES = 65536;

/** A compiled wasm module: its bytes and the export name of each kernel, in the order given. */
export interface WasmModule {
  readonly bytes: Uint8Array;
  readonly exports: readonly string[];
}

/**
 * Builds one wasm module holding every kernel of a compiled function. Memory is imported, so the
 * runtime owns it (and can share it between threads later). Validated, not optimized: binaryen's
 * optimizer costs compile time without making these kernels faster (V8 allocates registers itself).
 */
export async function buildModule(kernels: readonly KernelSpec[], options: { relaxedSimd?: boolean } = {}): Promise<WasmModule> {
  const b = await loadBinaryen();
  const m = new b.Module();
  try {
    const relaxed = options.relaxedSimd ? b.Features.RelaxedSIMD : 0;
    m.setFeatures(b.Features.MVP | b.Features.SIMD128 | b.Features.BulkMemory | b.Features.NontrappingFPToInt | b.Features.SignExt | b.Features.Atomics | relaxed);
    // Shared, so worker threads run kernels on the same memory (and growing it never detaches views).
    m.setMemory(1, MAX_PAGES, null, [], true, false, '0');
    m.addMemoryImport('0', 'env', 'memory');
    const exports = kernels.map((spec, i) => {
      const name = `k${i}`;
      const params = spec.kind === 'matmul' || spec.kind === 'conv2d' ? 7 : spec.kind === 'maxPool2d' ? 14 : 2 + spec.layouts.length + spec.outputs.length;
      const e = new FunctionEmitter(b, m, new Array<number>(params).fill(b.i32));
      if (spec.kind === 'matmul' || spec.kind === 'conv2d') emitMatmul(e, name, options.relaxedSimd);
      else if (spec.kind === 'maxPool2d') emitMaxPool(e, name);
      else emitElementwise(e, spec, name);
      return name;
    });
    if (!m.validate()) throw new Error('internal: generated wasm does not validate');
    return { bytes: m.emitBinary(), exports };
  } finally {
    m.dispose();
  }
}
