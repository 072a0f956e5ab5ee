/**
 * tsano/export: a compiled function or Keras model as files that run with nothing but a JavaScript
 * engine. What ships is the function's own wasm module (built for one thread, on memory that needs
 * no cross-origin isolation), the call plans the library records (runtime/call-plan.ts: one tape
 * per input shape), the weights, and a small generated loader (loader.ts), checked with acorn.
 */
import { createHash } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { buildModule, generateModule } from '../../compiler/codegen/module.js';
import { describe } from '../../compiler/ir/node.js';
import type { CallPlan, ValueSource } from '../../runtime/call-plan.js';
import { epsilon, floatx, imageDataFormat } from '../../runtime/config.js';
import { bytesPerElement, type DType } from '../../runtime/dtype.js';
import { TsanoError } from '../../runtime/errors.js';
import { Executor } from '../../runtime/executor.js';
import { full, type NDArray } from '../../runtime/ndarray.js';
import type { Program } from '../../runtime/program.js';
import { WasmAccelerator } from '../../runtime/wasm/accelerator.js';
import { ready, type CompiledFunction } from '../graph/function.js';
import type { AnyLayersModel } from '../keras/model.js';
import { checkGeneratedModule } from './check.js';
import { LOADER_SOURCE } from './loader.js';

export class ExportError extends TsanoError {}

/** What an export wrote: the folder and each file's size in bytes. */
export interface ExportSummary {
  readonly dir: string;
  readonly bytes: {
    readonly wasm: number;
    readonly weights: number;
    readonly loader: number;
    readonly manifest: number;
  };
}

/** Options of both exports. */
export interface ExportOptions {
  /**
   * Whether the module uses relaxed SIMD's fused multiply-add (default: as the library does here, so
   * results are bit for bit the library's). `false` runs on engines without relaxed SIMD (older
   * browsers), giving the results of the library run with TSANO_RELAXED_SIMD=0.
   */
  readonly relaxedSimd?: boolean;
  /**
   * Write into a folder that holds other files (only the export's own files are written; nothing
   * else is touched). Without it such a folder is refused; a new, empty or previous export's folder
   * needs no flag. A folder holding a saved model is refused either way.
   */
  readonly overwrite?: boolean;
}

export interface ExportFunctionOptions extends ExportOptions {
  /**
   * The input shapes the export runs (one list of shapes per call shape). Needed when the graph leaves
   * an axis unknown; otherwise the graph's shapes.
   */
  readonly shapes?: readonly (readonly (readonly number[])[])[];
  /** Names for the inputs and outputs in the loader's types and errors (default: as the graph names them). */
  readonly inputNames?: readonly string[];
  readonly outputNames?: readonly string[];
}

export interface ExportModelOptions extends ExportOptions {
  /** The batch the exported plan runs; `predict` takes any number of rows, in chunks of it. Default 32. */
  readonly batchSize?: number;
}

const VERSION = '0.1.0';

/** Bytes of weights.bin as they are appended, each part at an 8-byte boundary (an array added twice is stored once). */
class Store {
  private readonly parts: { readonly at: number; readonly bytes: Uint8Array }[] = [];
  private size = 0;
  private readonly placed = new Map<ArrayBufferView, number>();

  add(data: ArrayBufferView): number {
    const known = this.placed.get(data);
    if (known !== undefined) return known;
    const at = this.size;
    this.parts.push({ at, bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice() });
    this.size += Math.ceil(data.byteLength / 8) * 8;
    this.placed.set(data, at);
    return at;
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.size);
    for (const { at, bytes } of this.parts) out.set(bytes, at);
    return out;
  }
}

interface ExportedValue {
  readonly ptr?: number;
  readonly offset?: number;
  readonly input?: number;
  readonly bytes?: number;
  readonly dtype: DType;
  readonly shape: readonly number[];
}

/** Where a planned value is, in the loader's terms (memory, an input, or bytes of weights.bin). */
function exportedValue(source: ValueSource, inputs: readonly NDArray[], store: Store, what: string): ExportedValue {
  switch (source.kind) {
    case 'memory': {
      const size = source.shape.reduce((a, b) => a * b, 1);
      return { ptr: source.ptr, bytes: size * bytesPerElement(source.dtype), dtype: source.dtype, shape: source.shape };
    }
    case 'input': {
      const x = inputs[source.index]!;
      return { input: source.index, dtype: x.dtype, shape: source.shape ?? x.shape };
    }
    case 'constant':
      return {
        offset: store.add(source.value.data),
        bytes: source.value.data.byteLength,
        dtype: source.value.dtype,
        shape: source.shape ?? source.value.shape,
      };
    case 'step':
      throw new ExportError(`export: ${what} is computed in JavaScript, which an export cannot carry`);
  }
}

/** A plan in the loader's terms; every step must run in wasm. */
function exportedPlan(
  plan: CallPlan,
  program: Program,
  inputs: readonly NDArray[],
  sharedIndex: Map<unknown, number>,
  store: Store,
) {
  const reference = plan.items.find((i) => i.kind === 'reference');
  if (reference?.kind === 'reference')
    throw new ExportError(
      `export: ${reference.step.label} runs on the reference kernels (JavaScript), which an export cannot carry${reference.step.where}`,
    );
  const inputsAt = plan.items.flatMap((i) =>
    i.kind === 'wasm'
      ? i.copyIns.map((c) => {
          if (c.source.kind !== 'input') throw new ExportError('export: an operand made in JavaScript during the call');
          return { input: c.source.index, ptr: c.ptr };
        })
      : [],
  );
  const SENTINEL = -2147483647;
  const checks = plan.items.flatMap((i) =>
    i.kind === 'wasm'
      ? i.checks.map((c) => ({
          ptr: c.ptr,
          message: `${c.step.label}: ${c.error(SENTINEL).message}${c.step.where}`.replace(String(SENTINEL), '{index}'),
        }))
      : [],
  );
  const tape = { ptr: plan.tapePtr, offset: store.add(plan.tape), bytes: plan.tape.byteLength };
  return {
    inputs: inputs.map((x) => x.shape),
    tape,
    constants: plan.constantCopies.map((c) => {
      const value = (c.source as Extract<ValueSource, { kind: 'constant' }>).value;
      return { ptr: c.ptr, offset: store.add(value.data), bytes: value.data.byteLength };
    }),
    inputsAt,
    checks,
    outputs: plan.outputs.map((o, k) => exportedValue(o, inputs, store, `output ${k}`)),
    updates: plan.updates.map((u, k) => ({
      shared: sharedIndex.get(program.updates[k]!.container)!,
      ...exportedValue(u, inputs, store, `the update of ${program.updates[k]!.container.name}`),
    })),
  };
}

const TS_TYPES: Record<DType, string> = {
  float32: 'Float32Array',
  float64: 'Float64Array',
  int32: 'Int32Array',
  bool: 'Uint8Array',
};

/** The loader's declarations: its inputs and outputs by name, dtype and shape. */
function declarations(manifest: Manifest): string {
  const shape = (s: readonly (number | null)[]) => `[${s.map((d) => (d === null ? 'null' : d)).join(', ')}]`;
  const tensor = (t: { name: string; dtype: DType; shape: readonly (number | null)[] }) =>
    `{ data: ${TS_TYPES[t.dtype]}; shape: number[]; dtype: '${t.dtype}' } /* ${t.name}: ${t.dtype} ${shape(t.shape)} */`;
  const input = (t: Manifest['inputs'][number]) =>
    `${JSON.stringify(t.name).slice(1, -1).replace(/\W/g, '_') || 'input'}: { data: ${TS_TYPES[t.dtype]}; shape: number[] } /* ${t.dtype} ${shape(t.shape)} */`;
  const outputs = manifest.outputs.map(tensor);
  const result = outputs.length === 1 ? outputs[0]! : `[${outputs.join(', ')}]`;
  const lines = [
    `// Generated by tsano ${VERSION}: the exported ${manifest.kind}'s interface.`,
    `export interface Exported {`,
    `  call(${manifest.inputs.map(input).join(', ')}): ${result};`,
    ...(manifest.kind === 'model'
      ? [
          `  /** Any number of rows (the first axis), run in chunks of ${manifest.batchSize}. */`,
          `  predict(data: ${TS_TYPES[manifest.inputs[0]!.dtype]}, shape: number[]): ${outputs[0]};`,
        ]
      : []),
    `  getState(): Record<string, { data: Float32Array | Float64Array | Int32Array | Uint8Array; shape: number[] }>;`,
    `  setState(state: Record<string, Float32Array | Float64Array | Int32Array | Uint8Array | { data: Float32Array | Float64Array | Int32Array | Uint8Array }>): void;`,
    `  readonly manifest: unknown;`,
    `}`,
    `/** Reads model.wasm, weights.bin and manifest.json beside this module, from \`url\`, or from bytes given. */`,
    `export function load(source?: { url: string | URL } | { wasm: BufferSource; weights: BufferSource; manifest: object | Uint8Array }): Promise<Exported>;`,
    '',
  ];
  return lines.join('\n');
}

interface Manifest {
  format: 'tsano-export-1';
  tsano: string;
  kind: 'model' | 'function';
  graphHash: string;
  floatx: string;
  epsilon: number;
  imageDataFormat: string;
  relaxedSimd: boolean;
  /** The module without relaxed SIMD, for engines that lack it (exports built with relaxed SIMD). */
  plainModule?: string;
  memoryBytes: number;
  /** weights.bin's exact length, which the loader checks before using it. */
  weightsBytes: number;
  batchSize?: number;
  inputs: { name: string; dtype: DType; shape: (number | null)[] }[];
  outputs: { name: string; dtype: DType; shape: (number | null)[] }[];
  shared: { name: string; dtype: DType; shape: number[]; ptr: number; offset: number; bytes: number }[];
  streams: { ptr: number; state: number }[];
  plans: ReturnType<typeof exportedPlan>[];
}

/** The program's content, for the manifest: what a consumer can compare to see whether two exports ran the same graph. */
function graphHash(program: Program): string {
  const steps = program.steps.map((s) => [s.op, s.inputs, s.out, s.dtype, s.shape, s.kernel]);
  return createHash('sha256')
    .update(JSON.stringify({ steps, kernels: program.kernels }))
    .digest('hex')
    .slice(0, 32);
}

/** The files an export writes, and nothing else: the only names it ever replaces in a folder. */
const EXPORT_FILES = [
  'model.wasm',
  'model.plain.wasm',
  'weights.bin',
  'model.mjs',
  'model.d.ts',
  'manifest.json',
] as const;
/** Every file but the module without relaxed SIMD, which an export built without relaxed SIMD does not need. */
type ExportFiles = Record<Exclude<(typeof EXPORT_FILES)[number], 'model.plain.wasm'>, string | Uint8Array> & {
  'model.plain.wasm'?: Uint8Array;
};
/** Files that mark a folder as holding a saved model (TF.js layers format, Keras's files, TF's SavedModel). */
const SAVED_MODEL = /^(model\.json|saved_model\.pbt?|keras_metadata\.pb)$|\.(keras|h5|hdf5)$/i;

function isPreviousExport(dir: string, entries: readonly string[]): boolean {
  if (!entries.includes('manifest.json') || entries.some((e) => !(EXPORT_FILES as readonly string[]).includes(e)))
    return false;
  try {
    return (
      (JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { format?: unknown }).format ===
      'tsano-export-1'
    );
  } catch {
    return false;
  }
}

/**
 * Writes the export's files into `dir` without ever deleting what it did not write: the files go to a
 * new folder beside `dir` first, then become `dir` (when it is new or empty) or replace, one rename
 * each, the same files of a previous export. A folder holding anything else is refused unless
 * `overwrite` (then only the export's names are written, the rest left as it is); a folder holding a
 * saved model is always refused.
 */
function writeExport(dir: string, overwrite: boolean, files: ExportFiles): void {
  const target = path.resolve(dir);
  const { entries, previous } = checkTarget(dir, overwrite);
  const parent = path.dirname(target);
  mkdirSync(parent, { recursive: true });
  const staging = mkdtempSync(path.join(parent, `.${path.basename(target)}.tsano-export-`));
  try {
    const names = EXPORT_FILES.filter((name) => files[name] !== undefined);
    for (const name of names) writeFileSync(path.join(staging, name), files[name]!);
    if (entries === undefined) renameSync(staging, target);
    else {
      for (const name of names) renameSync(path.join(staging, name), path.join(target, name));
      // A previous export's module without relaxed SIMD would not match the new one.
      if (previous && !names.includes('model.plain.wasm'))
        rmSync(path.join(target, 'model.plain.wasm'), { force: true });
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/**
 * What `dir` holds (undefined when it does not exist) and whether it is a previous export, after
 * checking an export may write there.
 */
function checkTarget(dir: string, overwrite: boolean): { entries: string[] | undefined; previous: boolean } {
  const target = path.resolve(dir);
  let entries: string[] | undefined;
  try {
    if (!statSync(target).isDirectory()) throw new ExportError(`export: ${dir} exists and is not a folder`);
    entries = readdirSync(target);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const previous = entries !== undefined && isPreviousExport(target, entries);
  if (entries?.length) {
    const model = entries.find((e) => SAVED_MODEL.test(e));
    if (model)
      throw new ExportError(
        `export: ${dir} holds a saved model (${model}); an export never writes into a model's folder: choose another folder`,
      );
    if (!overwrite && !previous) {
      const shown = entries.slice(0, 5).join(', ') + (entries.length > 5 ? `, and ${entries.length - 5} more` : '');
      throw new ExportError(
        `export: ${dir} is not empty and is not a previous export (it holds ${shown}); choose a new folder, or pass { overwrite: true } (--overwrite) to write the export's files (${EXPORT_FILES.join(', ')}) into it, leaving everything else as it is`,
      );
    }
  }
  return { entries, previous };
}

/** An export runs one program: a function whose loops take their number of steps at call time has several. */
function refuseDeferredLoops(fn: CompiledFunction<unknown>): void {
  if ((fn as { deferredLoops?: boolean }).deferredLoops)
    throw new ExportError(
      'export: the function loops over a number of steps known only at call time; an export runs one program, so build it with the number of steps known (e.g. inputShape [steps, features])',
    );
}

async function exportCompiled(
  fn: CompiledFunction<unknown>,
  dir: string,
  kind: 'model' | 'function',
  callShapes: readonly (readonly (readonly number[])[])[],
  names: { inputs?: readonly string[]; outputs?: readonly string[] },
  options: ExportOptions,
  batchSize?: number,
): Promise<ExportSummary> {
  // A loop of a number of steps known when the graph was built runs as a loop in the library; the
  // export builds it out (one program).
  fn = (fn as { builtOut?: () => CompiledFunction<unknown> }).builtOut?.() ?? fn;
  refuseDeferredLoops(fn);
  const program = fn.program;
  const { inputs, outputs } = fn.graph;
  await ready();
  const recorder = WasmAccelerator.create(program, generateModule, { singleThread: true });
  if (!recorder) throw new ExportError('export: the function computes nothing in wasm (it has no kernel)');
  try {
    const executor = new Executor(program, recorder);
    const layout = recorder.keptLayout;
    const store = new Store();
    const sharedIndex = new Map<unknown, number>(layout.shared.map((s, i) => [s.container, i]));
    const shared = layout.shared.map(({ container, ptr }) => {
      const value = container.value;
      return {
        name: container.name,
        dtype: value.dtype,
        shape: [...value.shape],
        ptr,
        offset: store.add(value.data),
        bytes: value.data.byteLength,
      };
    });
    const plans = callShapes.map((shapes) => {
      if (shapes.length !== inputs.length)
        throw new ExportError(`export: ${inputs.length} input shapes needed per call shape, got ${shapes.length}`);
      const values = shapes.map((s, i) => {
        const spec = inputs[i]!;
        if (s.length !== spec.ndim || spec.shape.some((d, a) => d !== null && d !== s[a]))
          throw new ExportError(
            `export: input ${i} (${describe(spec)}) has shape [${spec.shape.map((d) => d ?? '?').join(', ')}], not [${s.join(', ')}]`,
          );
        return full([...s], 0, spec.dtype);
      });
      executor.run(values);
      const plan = executor.planFor(values);
      if (!plan) throw new ExportError(`export: calls of shapes ${JSON.stringify(shapes)} cannot be planned`);
      return exportedPlan(plan, program, values, sharedIndex, store);
    });
    // The tape does not depend on the choice: the same functions, in the same order, with the same arguments.
    const relaxedSimd = options.relaxedSimd ?? recorder.relaxedSimd;
    const wasm = buildModule(program.kernels, { relaxedSimd, sharedMemory: false }).bytes;
    // For engines without relaxed SIMD (Safari, Bun, Node 20 where flags cannot be set): the same kernels in plain SIMD128.
    const plainWasm = relaxedSimd
      ? buildModule(program.kernels, { relaxedSimd: false, sharedMemory: false }).bytes
      : undefined;
    const outputShape = (k: number) =>
      plans[0]!.outputs[k]!.shape.map((d, a) => (outputs[k]!.shape[a] === null ? null : d));
    const weights = store.bytes();
    const manifest: Manifest = {
      format: 'tsano-export-1',
      tsano: VERSION,
      kind,
      graphHash: graphHash(program),
      floatx: floatx(),
      epsilon: epsilon(),
      imageDataFormat: imageDataFormat(),
      relaxedSimd,
      ...(plainWasm ? { plainModule: 'model.plain.wasm' } : {}),
      memoryBytes: Math.max(layout.bytes, ...plans.map((p) => p.tape.ptr + p.tape.bytes)) + 65536,
      weightsBytes: weights.length,
      ...(batchSize !== undefined ? { batchSize } : {}),
      inputs: inputs.map((n, i) => ({ name: names.inputs?.[i] ?? describe(n), dtype: n.dtype, shape: [...n.shape] })),
      outputs: outputs.map((n, k) => ({
        name: names.outputs?.[k] ?? describe(n),
        dtype: n.dtype,
        shape: outputShape(k),
      })),
      shared,
      streams: layout.streams.map(({ ptr, state }) => ({ ptr, state })),
      plans,
    };
    checkGeneratedModule(LOADER_SOURCE, 'model.mjs');
    const header = `// Generated by tsano ${VERSION}: a standalone ${kind} (${inputs.length} input${inputs.length === 1 ? '' : 's'}, ${outputs.length} output${outputs.length === 1 ? '' : 's'}). See model.d.ts.\n`;
    const loader = header + LOADER_SOURCE;
    const manifestText = JSON.stringify(manifest);
    writeExport(dir, options.overwrite ?? false, {
      'model.wasm': wasm,
      ...(plainWasm ? { 'model.plain.wasm': plainWasm } : {}),
      'weights.bin': weights,
      'model.mjs': loader,
      'model.d.ts': declarations(manifest),
      'manifest.json': manifestText,
    });
    return {
      dir,
      bytes: { wasm: wasm.length, weights: weights.length, loader: loader.length, manifest: manifestText.length },
    };
  } finally {
    recorder.dispose();
  }
}

/** The shapes of a function's inputs for export: given, or completed from the graph where every axis is known. */
function shapesFor(fn: CompiledFunction<unknown>, given: ExportFunctionOptions['shapes']) {
  if (given) return given;
  const known = fn.graph.inputs.map((n) => n.shape);
  if (known.every((s) => s.every((d) => d !== null))) return [known as number[][]];
  throw new ExportError(
    'exportFunction: some inputs have axes known only at call time: pass the call shapes to export, { shapes: [[...shape of each input]] }',
  );
}

/** Writes a `T.compile`d function (any inputs, outputs and updates) as a standalone module in `dir`. */
export async function exportFunction(
  fn: CompiledFunction<unknown>,
  dir: string,
  options: ExportFunctionOptions = {},
): Promise<ExportSummary> {
  if (typeof fn !== 'function' || !(fn as { program?: unknown }).program)
    throw new ExportError('exportFunction: expected a function made by T.compile');
  checkTarget(dir, options.overwrite ?? false);
  refuseDeferredLoops(fn);
  return exportCompiled(
    fn,
    dir,
    'function',
    shapesFor(fn, options.shapes),
    {
      ...(options.inputNames ? { inputs: options.inputNames } : {}),
      ...(options.outputNames ? { outputs: options.outputNames } : {}),
    },
    options,
  );
}

/** Writes a Keras model's forward pass (inference mode) as a standalone module in `dir`, with `predict`. */
export async function exportModel(
  model: AnyLayersModel,
  dir: string,
  options: ExportModelOptions = {},
): Promise<ExportSummary> {
  const batchSize = options.batchSize ?? 32;
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new ExportError(`exportModel: batchSize must be a positive integer, got ${String(batchSize)}`);
  if (model.inputs.length !== 1 || model.outputs.length !== 1)
    throw new ExportError(
      `exportModel: the model has ${model.inputs.length} inputs and ${model.outputs.length} outputs; an exported model's predict takes one input and gives one output (export the function with exportFunction instead)`,
    );
  checkTarget(dir, options.overwrite ?? false);
  await ready();
  const fn = model.makePredictFunction();
  const input = fn.graph.inputs[0]!;
  if (input.shape.slice(1).some((d) => d === null))
    throw new ExportError(
      `exportModel: the model's input shape must be known past the batch axis, got ${describe(input)}`,
    );
  const shape = [batchSize, ...input.shape.slice(1).map((d) => d!)];
  return exportCompiled(fn, dir, 'model', [[shape]], { inputs: ['x'], outputs: ['y'] }, options, batchSize);
}
