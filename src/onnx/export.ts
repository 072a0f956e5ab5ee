/**
 * exportOnnx: a compiled function or a Keras model as an ONNX model. The graph as built is written
 * (not the fused one: ONNX consumers fuse for themselves), one tsano op at a time through
 * export-ops.ts; shared variables and constants become initializers, inline or in an external data
 * file beside the model.
 */
import { existsSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { toposort } from '../../compiler/ir/graph.js';
import { optimize } from '../../compiler/rewrite/pipeline.js';
import { epsilon } from '../../runtime/config.js';
import type { Node } from '../../compiler/ir/node.js';
import type { DType } from '../../runtime/dtype.js';
import { TsanoError } from '../../runtime/errors.js';
import { full, NDArray } from '../../runtime/ndarray.js';
import { compileSync, type CompiledFunction } from '../graph/function.js';
import type { AnyLayersModel } from '../keras/model.js';
import { exportNode, type Attribute, type OnnxValueType, type OnnxWriter } from './export-ops.js';
import { ATTRIBUTE_TYPE, ONNX_DTYPE, OnnxError, encodeModel } from './schema.js';
import { int64Tensor, ONNX_OF_DTYPE, tensorToProto } from './tensors.js';

/** The opsets tsano writes; 17 (IR 8) is what ONNX Runtime and Triton take everywhere. */
export const EXPORT_OPSETS = [17, 21] as const;
const IR_VERSION: Readonly<Record<number, number>> = { 17: 8, 18: 8, 19: 9, 20: 9, 21: 10 };
/** Initializers of at least this many bytes go to the external data file when one is written (ONNX's own threshold). */
const EXTERNAL_THRESHOLD = 1024;
/** protobuf messages cannot exceed 2 GiB: larger weights must be external. */
const PROTOBUF_LIMIT = 2 ** 31 - 1;

export interface ExportOnnxOptions {
  /** ONNX opset of the default domain, 17 (default) to 21. */
  readonly opset?: number;
  /** Weights in `<file>.data` beside the model (default: only when they would pass protobuf's 2 GiB limit). */
  readonly externalData?: boolean;
  /** Names of the graph's inputs and outputs (default: the inputs' own names, outputs `output_0`, ...). */
  readonly inputNames?: readonly string[];
  readonly outputNames?: readonly string[];
}

/** What exportOnnx wrote. */
export interface OnnxExportSummary {
  readonly file: string;
  readonly bytes: number;
  /** The external data file and its size, when weights went there. */
  readonly externalData?: { readonly file: string; readonly bytes: number };
  readonly opset: number;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  /** ONNX op types written, with their counts. */
  readonly ops: Readonly<Record<string, number>>;
}

const TYPE_CODES: Readonly<Record<OnnxValueType, number>> = { ...ONNX_OF_DTYPE, int64: ONNX_DTYPE.INT64 };
const encoder = new TextEncoder();

function attributeProto(name: string, a: Attribute): object {
  if ('i' in a) return { name, type: ATTRIBUTE_TYPE.INT, i: a.i };
  if ('f' in a) return { name, type: ATTRIBUTE_TYPE.FLOAT, f: a.f };
  if ('ints' in a) return { name, type: ATTRIBUTE_TYPE.INTS, ints: [...a.ints] };
  if ('s' in a) return { name, type: ATTRIBUTE_TYPE.STRING, s: encoder.encode(a.s) };
  return { name, type: ATTRIBUTE_TYPE.TENSOR, t: tensorToProto(name, a.t) };
}

/** The ONNX graph being written: nodes, initializers, and each value's element type. */
class GraphWriter implements OnnxWriter {
  readonly nodes: { op_type: string; input: string[]; output: string[]; name: string; attribute: object[] }[] = [];
  readonly initializers: { name: string; raw_data: Uint8Array; [k: string]: unknown }[] = [];
  private readonly types = new Map<string, OnnxValueType>();
  private readonly taken = new Set<string>();
  private readonly shared = new Map<string, string>();

  constructor(
    readonly opset: number,
    private readonly leaves: ReadonlyMap<Node, NDArray>,
  ) {}

  /** A name not used yet, from `hint`. */
  fresh(hint: string): string {
    const base = hint.replace(/[^\w.:/-]/g, '_') || 'value';
    let name = base;
    for (let k = 1; this.taken.has(name); k++) name = `${base}_${k}`;
    this.taken.add(name);
    return name;
  }

  declare(name: string, type: OnnxValueType): void {
    this.taken.add(name);
    this.types.set(name, type);
  }

  emitOutputs(
    opType: string,
    inputs: readonly string[],
    types: readonly OnnxValueType[],
    attrs: Readonly<Record<string, Attribute>> = {},
    names?: readonly string[],
  ): string[] {
    const outputs = types.map((t, k) => {
      const name = names?.[k] ?? this.fresh(`${opType}_${this.nodes.length}${types.length > 1 ? `_${k}` : ''}`);
      this.types.set(name, t);
      return name;
    });
    this.nodes.push({
      op_type: opType,
      input: [...inputs],
      output: outputs,
      name: `${opType}_${this.nodes.length}`,
      attribute: Object.entries(attrs).map(([k, a]) => attributeProto(k, a)),
    });
    return outputs;
  }

  emit(
    opType: string,
    inputs: readonly string[],
    type: OnnxValueType,
    attrs?: Readonly<Record<string, Attribute>>,
  ): string {
    return this.emitOutputs(opType, inputs, [type], attrs)[0]!;
  }

  constant(value: NDArray, hint = 'const'): string {
    const name = this.fresh(hint);
    this.initializers.push(tensorToProto(name, value) as GraphWriter['initializers'][number]);
    this.types.set(name, value.dtype);
    return name;
  }

  int64s(values: readonly number[], scalar = false): string {
    const key = `int64:${scalar ? 's' : 'v'}:${values.join(',')}`;
    const known = this.shared.get(key);
    if (known) return known;
    const name = this.fresh(scalar ? `i64_${values[0]}` : 'i64s');
    this.initializers.push(int64Tensor(name, values, scalar) as GraphWriter['initializers'][number]);
    this.types.set(name, 'int64');
    this.shared.set(key, name);
    return name;
  }

  scalar(value: number, dtype: DType): string {
    const key = `${dtype}:${Object.is(value, -0) ? '-0' : value}`;
    const known = this.shared.get(key);
    if (known) return known;
    const data =
      dtype === 'float32'
        ? Float32Array.of(value)
        : dtype === 'float64'
          ? Float64Array.of(value)
          : dtype === 'int32'
            ? Int32Array.of(value)
            : Uint8Array.of(value ? 1 : 0);
    const name = this.constant(new NDArray(data, [], dtype), `${dtype}_scalar`);
    this.shared.set(key, name);
    return name;
  }

  cast(name: string, dtype: DType): string {
    if (this.types.get(name) === dtype) return name;
    return this.emit('Cast', [name], dtype, { to: { i: ONNX_OF_DTYPE[dtype] } });
  }

  dtypeOf(name: string): OnnxValueType {
    const t = this.types.get(name);
    if (!t) throw new OnnxError(`exportOnnx: internal: value '${name}' has no type`);
    return t;
  }

  /** A leaf's value, or a value computed from leaves only (a depthwise kernel built from its weights), evaluated now. */
  valueOf(node: Node): NDArray | undefined {
    const leaf = this.leaves.get(node);
    if (leaf) return leaf;
    if (this.computed.has(node)) return this.computed.get(node);
    const size = node.shape.every((d) => d !== null) ? node.shape.reduce<number>((a, d) => a * d!, 1) : Infinity;
    const fromLeaves =
      size <= COMPUTED_LIMIT && toposort([node]).every((n) => n.op !== 'input' && n.op !== 'randomUniformLike');
    const value = fromLeaves ? (compileSync([], node, { mode: 'js' }) as () => NDArray)() : undefined;
    this.computed.set(node, value);
    return value;
  }
  private readonly computed = new Map<Node, NDArray | undefined>();
}

/** Kernels computed from weights are evaluated at export up to this many elements (else written as ops). */
const COMPUTED_LIMIT = 1 << 24;

/** A graph to export: inputs, outputs, and how unknown input sizes are named. */
interface Exportable {
  readonly inputs: readonly Node[];
  readonly outputs: readonly Node[];
  readonly batchNamed: boolean;
}

/** A loop of a number of steps known when the graph was built runs as a loop in the library; ONNX gets it built out. */
const builtOut = (fn: CompiledFunction<unknown>): CompiledFunction<unknown> =>
  (fn as { builtOut?: () => CompiledFunction<unknown> }).builtOut?.() ?? fn;

function exportableOf(target: AnyLayersModel | CompiledFunction): Exportable {
  if (typeof target === 'function' && 'graphBefore' in target) {
    const g = builtOut(target).graphBefore;
    if (g.updates.length)
      throw new OnnxError(
        `exportOnnx: the function updates ${g.updates.length} shared variable(s); an ONNX model keeps no state between runs (export a function without updates)`,
      );
    return { inputs: g.inputs, outputs: g.outputs, batchNamed: false };
  }
  if (target && typeof (target as AnyLayersModel).makePredictFunction === 'function') {
    const g = builtOut((target as AnyLayersModel).makePredictFunction()).graphBefore;
    if (g.updates.length)
      throw new OnnxError(
        'exportOnnx: the model updates state when it predicts (a stateful layer); ONNX models keep none',
      );
    return { inputs: g.inputs, outputs: g.outputs, batchNamed: true };
  }
  throw new OnnxError('exportOnnx: expected a compiled function (T.compile) or a Keras model');
}

function valueInfo(
  name: string,
  dtype: OnnxValueType,
  shape: readonly (number | null)[],
  param: (axis: number) => string | undefined,
) {
  return {
    name,
    type: {
      tensor_type: {
        elem_type: TYPE_CODES[dtype],
        shape: {
          dim: shape.map((d, axis) => {
            if (d !== null) return { dim_value: d };
            const p = param(axis);
            return p === undefined ? {} : { dim_param: p };
          }),
        },
      },
    },
  };
}

function checkOptions(options: ExportOnnxOptions): number {
  const opset = options.opset ?? 17;
  const [lo, hi] = EXPORT_OPSETS;
  if (!Number.isInteger(opset) || opset < lo || opset > hi)
    throw new OnnxError(`exportOnnx: opset must be an integer from ${lo} to ${hi}, got ${String(opset)}`);
  return opset;
}

/** The ONNX model of `target` (a plain object in ModelProto's field names) and its graph's names. */
export function onnxModelOf(target: AnyLayersModel | CompiledFunction, options: ExportOnnxOptions = {}) {
  const opset = checkOptions(options);
  const built = exportableOf(target);
  // The stable forms travel with the model (softmax for exp(x) / Σ exp(x), log1p for log(1 + x), ...):
  // the graph is canonicalized and stabilized, and composites lowered, but not specialized or fused.
  const g = {
    ...built,
    outputs: optimize(built.outputs, { level: 'fast_run', exclude: ['specialize', 'fusion'], epsilon: epsilon() })
      .roots,
  };
  const order = toposort(g.outputs);
  const leaves = new Map<Node, NDArray>();
  for (const n of order) {
    if (n.op === 'constant') leaves.set(n, (n as Node<'constant'>).args.value);
    if (n.op === 'shared') leaves.set(n, (n as Node<'shared'>).args.container.value);
  }
  const w = new GraphWriter(opset, leaves);
  const names = new Map<Node, string>();
  const inputNames = g.inputs.map((x, i) => {
    const name = w.fresh(options.inputNames?.[i] ?? x.name ?? `input_${i}`);
    w.declare(name, x.dtype);
    names.set(x, name);
    return name;
  });
  for (const n of order) {
    if (names.has(n)) continue;
    if (n.op === 'input')
      throw new OnnxError(`exportOnnx: the outputs depend on '${n.name ?? 'an input'}', which is not among the inputs`);
    if (n.op === 'constant' || n.op === 'shared') {
      const hint = n.op === 'shared' ? (n as Node<'shared'>).args.container.name : (n.name ?? 'const');
      names.set(n, w.constant(leaves.get(n)!, hint));
      continue;
    }
    // An empty value is a constant: ONNX Runtime's kernels refuse some empty operands (a batch of 1 against 0 in MatMul).
    if (n.shape.every((d) => d !== null) && n.shape.includes(0)) {
      names.set(n, w.constant(full(n.shape as number[], 0, n.dtype), 'empty'));
      continue;
    }
    const ins = n.inputs.map((x) => names.get(x)!);
    try {
      names.set(n, exportNode(w, n, ins));
    } catch (e) {
      if (e instanceof OnnxError) throw new OnnxError(`${e.message}${n.name ? ` (the value '${n.name}')` : ''}`);
      if (e instanceof TsanoError) throw new OnnxError(`exportOnnx: '${n.op}': ${e.message}`);
      throw e;
    }
  }
  const outputNames = g.outputs.map((o, i) => {
    const name = w.fresh(options.outputNames?.[i] ?? `output_${i}`);
    w.emitOutputs('Identity', [names.get(o)!], [w.dtypeOf(names.get(o)!)], {}, [name]);
    return name;
  });
  const param = (name: string) => (axis: number) => (g.batchNamed && axis === 0 ? 'batch' : `${name}_${axis}`);
  const graph = {
    name: 'tsano',
    node: w.nodes,
    initializer: w.initializers,
    input: g.inputs.map((x, i) => valueInfo(inputNames[i]!, x.dtype, x.shape, param(inputNames[i]!))),
    output: g.outputs.map((o, i) =>
      valueInfo(outputNames[i]!, o.dtype, o.shape, (axis) => (g.batchNamed && axis === 0 ? 'batch' : undefined)),
    ),
  };
  const model = {
    ir_version: IR_VERSION[opset]!,
    opset_import: [{ domain: '', version: opset }],
    producer_name: 'tsano',
    producer_version: '0.1.0',
    graph,
  };
  // Kernels folded into ONNX's layout leave the ops and initializers that computed them unread.
  const live = new Set<string>(outputNames);
  const nodes = [...w.nodes]
    .reverse()
    .filter((n) => n.output.some((o) => live.has(o)) && (n.input.forEach((i) => live.add(i)), true))
    .reverse();
  graph.node = nodes;
  const initializers = w.initializers.filter((t) => live.has(t.name));
  graph.initializer = initializers;
  const ops: Record<string, number> = {};
  for (const n of nodes) ops[n.op_type] = (ops[n.op_type] ?? 0) + 1;
  return { model, inputNames, outputNames, ops, opset, initializers };
}

/**
 * Writes `target` (a compiled function or a Keras model) to `file` as an ONNX model, with its weights
 * inline or (on request, or past protobuf's 2 GiB) in `<file>.data` beside it.
 */
export async function exportOnnx(
  target: AnyLayersModel | CompiledFunction,
  file: string,
  options: ExportOnnxOptions = {},
): Promise<OnnxExportSummary> {
  if (existsSync(file) && statSync(file).isDirectory())
    throw new OnnxError(`exportOnnx: '${file}' is a folder; give a file name`);
  const { model, inputNames, outputNames, ops, opset, initializers } = onnxModelOf(target, options);
  const weightBytes = initializers.reduce((a, t) => a + t.raw_data.byteLength, 0);
  const external = options.externalData ?? weightBytes > PROTOBUF_LIMIT - 64 * 2 ** 20;
  let externalData: OnnxExportSummary['externalData'];
  if (external) {
    const dataFile = `${file}.data`;
    const location = path.basename(dataFile);
    const parts: Uint8Array[] = [];
    let offset = 0;
    for (const t of initializers) {
      if (t.raw_data.byteLength < EXTERNAL_THRESHOLD) continue;
      const length = t.raw_data.byteLength;
      const pad = (4096 - (offset % 4096)) % 4096; // pages, so a reader may map each tensor
      if (pad) parts.push(new Uint8Array(pad));
      offset += pad;
      parts.push(t.raw_data);
      t.external_data = [
        { key: 'location', value: location },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(length) },
      ];
      t.data_location = 1;
      t.raw_data = new Uint8Array(0);
      offset += length;
    }
    writeAtomically(dataFile, parts);
    externalData = { file: dataFile, bytes: offset };
  }
  const bytes = encodeModel(model);
  writeAtomically(file, [bytes]);
  return {
    file,
    bytes: bytes.byteLength,
    ...(externalData ? { externalData } : {}),
    opset,
    inputs: inputNames,
    outputs: outputNames,
    ops,
  };
}

function writeAtomically(file: string, parts: readonly Uint8Array[]): void {
  const temp = `${file}.${process.pid}.tmp`;
  const size = parts.reduce((a, p) => a + p.byteLength, 0);
  const all = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.byteLength;
  }
  writeFileSync(temp, all);
  renameSync(temp, file);
}
