/** Every error tsano raises on purpose derives from TsanoError, so callers can catch ours and only ours. */
export class TsanoError extends Error {
  override name = 'TsanoError';
}
/** Operand shapes that cannot work together (at build time or, for unknown sizes, at call time). */
export class ShapeError extends TsanoError {
  override name = 'ShapeError';
}
/** Operand dtypes an op does not accept, or an input value of the wrong dtype. */
export class DTypeError extends TsanoError {
  override name = 'DTypeError';
}
/** A call of a compiled function with the wrong inputs. */
export class InputError extends TsanoError {
  override name = 'InputError';
}
/** Differentiation that cannot be done: non-scalar cost, disconnected variable. */
export class GradError extends TsanoError {
  override name = 'GradError';
}
/** Bad configuration: keras.json, environment variables, option values. */
export class ConfigError extends TsanoError {
  override name = 'ConfigError';
}
/** A saved model or weights file that cannot be read. */
/** A wasm module had to be generated synchronously before the code generator (binaryen) was loaded. */
export class GeneratorNotLoadedError extends ConfigError {
  override name = 'ConfigError';
}
export class LoadError extends TsanoError {
  override name = 'LoadError';
}
/** Runs `build`, turning any error it raises into a LoadError that names the file. */
export function asLoadError<R>(file: string, build: () => R): R {
  try {
    return build();
  } catch (e) {
    if (e instanceof LoadError) throw e;
    if (e instanceof TsanoError) throw new LoadError(`${file}: ${e.message}`);
    throw new LoadError(`${file}: malformed model description (${(e as Error).message})`);
  }
}

/** A NaN or infinity found by the NaN guard (`nanGuard: true`): names the first step that produced it. */
export class NanError extends TsanoError {
  override name = 'NanError';
}
/** A model or file that cannot be written (the path and the system's reason are in the message). */
/** A factorization or solve that failed (`check: true`): not positive definite, or singular. */
export class LinalgError extends TsanoError {}

export class SaveError extends TsanoError {
  override name = 'SaveError';
}
/** A compiled function or model used after `dispose()`. */
export class DisposedError extends TsanoError {
  override name = 'DisposedError';
}
/** A feature that is specified but not built yet. */
export class NotAvailableError extends TsanoError {
  override name = 'NotAvailableError';
}
