/**
 * importOnnx: an ONNX model as a tsano graph. Initializers become constants (folded by the optimizer)
 * or, with `trainable`, shared variables; each node becomes tsano ops through import-ops.ts; the
 * result predicts, differentiates, compiles, and exports like any graph built by hand.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as T from '../index.js';
import type { Node } from '../../compiler/ir/node.js';
import type { CompileOptions } from '../graph/function.js';
import type { TheanoFunction } from '../graph/theano-function.js';
import type { SharedVariable } from '../graph/variables.js';
import type { DType } from '../../runtime/dtype.js';
import { TsanoError } from '../../runtime/errors.js';
import { NDArray, toNDArray, type ArrayValue } from '../../runtime/ndarray.js';
import { IMPORTERS, knownValue, type ImportContext, type Value } from './import-ops.js';
import {
  ATTRIBUTE_TYPE,
  decodeModel,
  OnnxError,
  type AttributeProto,
  type GraphProto,
  type ModelProto,
  type NodeProto,
} from './schema.js';
import {
  dtypeOfOnnx,
  onnxTypeName,
  tensorFromProto,
  tensorTypeOf,
  type ExternalDataSource,
  type OnnxDim,
} from './tensors.js';

/** The opsets of ONNX's default domain that tsano reads. */
export const IMPORT_OPSETS = [13, 21] as const;

export interface ImportOptions {
  /**
   * Where tensors stored outside the model are: a folder (default: the model file's), or their bytes
   * by the location the model names (for a model given as bytes or a URL).
   */
  readonly externalData?: string | Readonly<Record<string, Uint8Array>>;
  /** Floating-point initializers as shared variables (to fine-tune) instead of constants (folded). */
  readonly trainable?: boolean;
}

/** A graph input or output as the file declares it (sizes null where symbolic, `params` naming them). */
export interface OnnxTensorInfo {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly (number | null)[];
  /** The symbolic names of unknown sizes (`batch`), where the file gives them. */
  readonly params: readonly (string | null)[];
}

/** An imported model. */
export class OnnxModel {
  private compiled?: TheanoFunction<NDArray[]>;

  constructor(
    readonly inputs: readonly OnnxTensorInfo[],
    readonly outputs: readonly OnnxTensorInfo[],
    /** The opset of ONNX's default domain the file imports. */
    readonly opset: number,
    readonly producer: string,
    /** The tsano graph: input variables, output expressions, and (with `trainable`) the weights. */
    readonly graph: {
      readonly inputs: readonly Node[];
      readonly outputs: readonly Node[];
      readonly weights: readonly SharedVariable[];
    },
  ) {}

  /** The graph compiled (`T.compile(inputs, outputs, options)`). */
  async toFunction(options: CompileOptions = {}): Promise<TheanoFunction<NDArray[]>> {
    return T.compile(this.graph.inputs, [...this.graph.outputs], options);
  }

  /**
   * The outputs for `inputs` (NDArrays, nested arrays, or typed arrays with `{ data, shape }`), in the
   * graph's input order: one array for a model with one output, else a list.
   */
  async predict(
    ...inputs: (ArrayValue | { data: ArrayLike<number>; shape: readonly number[] })[]
  ): Promise<NDArray | NDArray[]> {
    if (inputs.length !== this.inputs.length)
      throw new OnnxError(
        `predict: the model takes ${this.inputs.length} inputs (${this.inputs.map((i) => i.name).join(', ')}), got ${inputs.length}`,
      );
    this.compiled ??= await this.toFunction();
    const arrays = inputs.map((x, i) => {
      const info = this.inputs[i]!;
      if (x !== null && typeof x === 'object' && 'shape' in x && 'data' in x && !(x instanceof NDArray))
        return toNDArray(x.data as ArrayValue, { shape: x.shape, dtype: info.dtype }, `predict: input '${info.name}'`);
      return toNDArray(x as ArrayValue, { dtype: info.dtype }, `predict: input '${info.name}'`);
    });
    const out = this.compiled(...arrays);
    return out.length === 1 ? out[0]! : out;
  }
}

/** Bytes of a path, a file: or http(s): URL, or the bytes themselves; with the folder of a path. */
async function readSource(
  source: string | URL | Uint8Array | ArrayBuffer,
): Promise<{ bytes: Uint8Array; dir?: string; name: string }> {
  if (source instanceof Uint8Array) return { bytes: source, name: 'the ONNX bytes' };
  if (source instanceof ArrayBuffer) return { bytes: new Uint8Array(source), name: 'the ONNX bytes' };
  const url = source instanceof URL ? source : /^(https?|file):\/\//.test(source) ? new URL(source) : undefined;
  if (url && url.protocol !== 'file:') {
    let response: Response;
    try {
      response = await fetch(url);
    } catch (e) {
      throw new OnnxError(`${url.href}: could not be fetched (${(e as Error).message})`);
    }
    if (!response.ok) throw new OnnxError(`${url.href}: the server answered ${response.status} ${response.statusText}`);
    return { bytes: new Uint8Array(await response.arrayBuffer()), name: url.href };
  }
  const file = url ? decodeURIComponent(url.pathname) : (source as string);
  try {
    return { bytes: readFileSync(file), dir: path.dirname(file), name: file };
  } catch (e) {
    throw new OnnxError(`${file}: cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

const decoder = new TextDecoder();

/** Attribute reading for one node, with the node named in every message. */
function attributes(n: NodeProto, where: string, source: ExternalDataSource) {
  const byName = new Map<string, AttributeProto>();
  for (const a of n.attribute) byName.set(a.name, a);
  const get = (name: string, type: number, fallback: unknown) => {
    const a = byName.get(name);
    if (!a) {
      if (fallback === undefined) throw new OnnxError(`${where}: attribute '${name}' is missing`);
      return undefined;
    }
    if (a.ref_attr_name) throw new OnnxError(`${where}: attribute '${name}' refers to a function's attribute`);
    if (a.type !== type && a.type !== 0)
      throw new OnnxError(`${where}: attribute '${name}' has type ${a.type}, expected ${type}`);
    return a;
  };
  const checkInt = (v: number, name: string) => {
    if (!Number.isSafeInteger(v))
      throw new OnnxError(`${where}: attribute '${name}' holds ${v}, not an integer tsano can use`);
    return v;
  };
  return {
    has: (name: string) => byName.has(name),
    int: (name: string, fallback?: number) => {
      const a = get(name, ATTRIBUTE_TYPE.INT, fallback);
      return a ? checkInt(a.i, name) : fallback!;
    },
    intList: (name: string, fallback?: readonly number[]) => {
      const a = get(name, ATTRIBUTE_TYPE.INTS, fallback);
      return a ? a.ints.map((v) => checkInt(v, name)) : [...fallback!];
    },
    floatList: (name: string) => [...get(name, ATTRIBUTE_TYPE.FLOATS, undefined)!.floats],
    float: (name: string, fallback?: number) => {
      const a = get(name, ATTRIBUTE_TYPE.FLOAT, fallback);
      return a ? a.f : fallback!;
    },
    string: (name: string, fallback?: string) => {
      const a = get(name, ATTRIBUTE_TYPE.STRING, fallback);
      return a ? decoder.decode(a.s) : fallback!;
    },
    tensor: (name: string) => {
      const a = byName.get(name);
      if (!a) return undefined;
      if (!a.t) throw new OnnxError(`${where}: attribute '${name}' holds no tensor`);
      return tensorFromProto(a.t, source, `${where}: attribute '${name}'`);
    },
    graph: (name: string) => {
      const a = byName.get(name);
      if (!a?.g) throw new OnnxError(`${where}: attribute '${name}' holds no graph`);
      return a.g;
    },
  };
}

/** Imports the nodes of `graph` into `scope` (a subgraph's scope falls back on its parent's). */
function importNodes(graph: GraphProto, scope: Scope, opset: number, source: ExternalDataSource): void {
  graph.node.forEach((n, index) => {
    const label = n.name ? `'${n.name}'` : `#${index}`;
    const where = `node ${label} (${n.op_type}, opset ${opset})`;
    if (n.domain !== '' && n.domain !== 'ai.onnx')
      throw new OnnxError(`node ${label} (${n.op_type}): operators of domain '${n.domain}' are not supported`);
    const importer = Object.hasOwn(IMPORTERS, n.op_type) ? IMPORTERS[n.op_type] : undefined;
    if (!importer) throw new OnnxError(`${where}: op type '${n.op_type}' is not supported`);
    const attrs = attributes(n, where, source);
    const operand = (i: number): Value | undefined => {
      const name = n.input[i];
      if (name === undefined || name === '') return undefined;
      const v = scope.get(name);
      if (!v)
        throw new OnnxError(
          `${where}: operand '${name}' is not defined before it is used (the graph is not in topological order, or has a cycle)`,
        );
      return v;
    };
    const context: ImportContext = {
      opset,
      where,
      outputCount: n.output.filter((o) => o !== '').length,
      input: operand,
      required: (i) => operand(i) ?? context.fail(`operand ${i} is missing`),
      constant: (i) => {
        const v = context.required(i);
        if (!v.known) context.fail(`operand ${i} ('${n.input[i]}') must be known at import time`);
        return v.known;
      },
      shape: (i) => {
        const v = operand(i);
        if (!v) return undefined;
        if (v.known) return Array.from(v.known.data);
        if (v.dims) return [...v.dims];
        return context.fail(`operand ${i} ('${n.input[i]}') must be known at import time`);
      },
      ints: (i) => context.shape(i)?.map((d) => (typeof d === 'number' ? d : null)),
      ...attrs,
      graph: (name) => {
        const sub = attrs.graph(name);
        const inner = scope.child();
        for (const t of sub.initializer) inner.set(t.name, knownValue(tensorFromProto(t, source)));
        importNodes(sub, inner, opset, source);
        return sub.output.map(
          (o) => inner.get(o.name) ?? context.fail(`subgraph '${name}' does not define '${o.name}'`),
        );
      },
      fail: (why) => {
        throw new OnnxError(`${where}: ${why}`);
      },
    };
    let result: Value | Node | readonly (Value | Node)[];
    try {
      result = importer(context);
    } catch (e) {
      if (e instanceof OnnxError) throw e;
      if (e instanceof TsanoError) throw new OnnxError(`${where}: ${e.message}`);
      throw new OnnxError(`${where}: could not be imported (${(e as Error).message})`);
    }
    const values = (Array.isArray(result) ? result : [result]) as (Value | Node)[];
    const operands = n.input.filter((name) => name !== '').map((name) => scope.get(name));
    // Subgraphs (If's branches) read the enclosing scope: their values are not the operands'.
    const foldable =
      operands.length > 0 && operands.every((v) => v?.known !== undefined) && !n.attribute.some((a) => a.g);
    n.output.forEach((name, k) => {
      if (name === '') return;
      const v = values[k];
      if (!v) throw new OnnxError(`${where}: output ${k} ('${name}') is not supported`);
      const value = v instanceof T.Node ? { node: v } : v;
      scope.set(name, foldable && !value.known ? folded(value.node, where) : value);
    });
  });
}

/** Values past this many elements stay nodes for the optimizer to fold (import-time folding is for shape arithmetic). */
const FOLD_LIMIT = 1 << 16;

/**
 * A node computed from values known at import time, evaluated now by the reference interpreter: so
 * shape arithmetic and the conditions of `If` are numbers for the ops that need them.
 */
function folded(node: Node, where: string): Value {
  const size = node.shape.every((d) => d !== null) ? node.shape.reduce<number>((a, d) => a * d!, 1) : Infinity;
  if (size > FOLD_LIMIT) return { node };
  try {
    const value = T.compileSync([], node, { mode: 'js' })() as NDArray;
    return knownValue(value);
  } catch (e) {
    if (e instanceof TsanoError) throw new OnnxError(`${where}: ${e.message}`);
    throw e;
  }
}

class Scope {
  private readonly own = new Map<string, Value>();
  constructor(private readonly parent?: Scope) {}
  get(name: string): Value | undefined {
    return this.own.get(name) ?? this.parent?.get(name);
  }
  set(name: string, v: Value): void {
    this.own.set(name, v);
  }
  child(): Scope {
    return new Scope(this);
  }
}

function opsetOf(model: ModelProto, file: string): number {
  const entry = model.opset_import.find((o) => o.domain === '' || o.domain === 'ai.onnx');
  if (!entry) throw new OnnxError(`${file}: imports no opset of ONNX's default domain`);
  const [lo, hi] = IMPORT_OPSETS;
  if (entry.version < lo || entry.version > hi)
    throw new OnnxError(`${file}: opset ${entry.version} is not supported (tsano reads opsets ${lo} to ${hi})`);
  return entry.version;
}

function infoOf(v: { name: string; type?: GraphProto['input'][number]['type'] }, what: string): OnnxTensorInfo {
  const { elem, dims } = tensorTypeOf(v.type, `${what} '${v.name}'`);
  const dtype = dtypeOfOnnx(elem);
  if (!dtype) throw new OnnxError(`${what} '${v.name}': element type ${onnxTypeName(elem)} is not supported`);
  return {
    name: v.name,
    dtype,
    shape: dims.map((d: OnnxDim) => d.size),
    params: dims.map((d: OnnxDim) => d.param ?? null),
  };
}

/** Reads an ONNX model (a path, a URL, or its bytes) into a tsano graph. */
export async function importOnnx(
  source: string | URL | Uint8Array | ArrayBuffer,
  options: ImportOptions = {},
): Promise<OnnxModel> {
  const { bytes, dir, name } = await readSource(source);
  const model = decodeModel(bytes, name);
  const opset = opsetOf(model, name);
  const graph = model.graph!;
  const external: ExternalDataSource =
    typeof options.externalData === 'string'
      ? { dir: options.externalData }
      : { ...(dir === undefined ? {} : { dir }), ...(options.externalData ? { files: options.externalData } : {}) };
  const scope = new Scope();
  const weights: SharedVariable[] = [];
  const initialized = new Set<string>();
  for (const t of graph.initializer) {
    const value = tensorFromProto(t, external, `initializer '${t.name}'`);
    initialized.add(t.name);
    if (options.trainable && (value.dtype === 'float32' || value.dtype === 'float64')) {
      const w = T.shared(value, t.name);
      weights.push(w);
      scope.set(t.name, { node: w });
    } else scope.set(t.name, knownValue(value));
  }
  const inputs = graph.input.filter((i) => !initialized.has(i.name)).map((i) => infoOf(i, 'input'));
  const inputNodes = inputs.map((info) => {
    const node = T.tensor(info.name, { shape: info.shape, dtype: info.dtype });
    scope.set(info.name, { node });
    return node;
  });
  importNodes(graph, scope, opset, external);
  const outputs = graph.output.map((o) => {
    const v = scope.get(o.name);
    if (!v) throw new OnnxError(`output '${o.name}' is not computed by any node`);
    const declared = o.type?.tensor_type ? infoOf(o, 'output') : undefined;
    return {
      node: v.node,
      info: declared ?? {
        name: o.name,
        dtype: v.node.dtype,
        shape: v.node.shape,
        params: v.node.shape.map(() => null),
      },
    };
  });
  return new OnnxModel(
    inputs,
    outputs.map((o) => o.info),
    opset,
    model.producer_name,
    { inputs: inputNodes, outputs: outputs.map((o) => o.node), weights },
  );
}
