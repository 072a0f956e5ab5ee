/** tsano/export: standalone compiled artifacts. Export needs the wasm backend, which is not built yet. */
import { NotAvailableError } from '../../runtime/errors.js';

/** Writes a compiled function as a standalone module (not available until the wasm backend lands). */
export async function exportFunction(_fn: unknown, _outDir: string): Promise<never> {
  throw new NotAvailableError('exportFunction: export needs the wasm backend, which is not available yet');
}

/** Writes a Keras model as a standalone module (not available until the wasm backend lands). */
export async function exportModel(_model: unknown, _outDir: string): Promise<never> {
  throw new NotAvailableError('exportModel: export needs the wasm backend, which is not available yet');
}
