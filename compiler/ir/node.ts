import { DTypeError, ShapeError } from '../../runtime/errors.js';
import { oversize } from '../../runtime/limits.js';
import { NDArray } from '../../runtime/ndarray.js';
import { OP_INFO, type Op, type OpArgs } from './ops.js';
import { captureOrigin, formatOrigin, located, type Origin } from './origin.js';
import { formatShape, TypeRuleError, type TensorType } from './type.js';

let nextId = 1;

/**
 * One immutable, hash-consed node of the graph. Structurally equal nodes are the same object
 * (see `Node.make`), so common-subexpression elimination is free and "changed?" is `===`.
 * `name` is the one mutable field: users may name an expression after building it, as in Theano.
 */
export class Node<K extends Op = Op> {
  /** A process-unique id, in creation order (so operands always have smaller ids). */
  readonly id: number;
  name: string | undefined;

  private constructor(
    readonly op: K,
    readonly inputs: readonly Node[],
    readonly args: OpArgs[K],
    readonly type: TensorType,
    /** Where the user created this node; undefined for nodes built by tsano itself. */
    readonly origin: Origin | undefined,
    name: string | undefined,
  ) {
    this.id = nextId++;
    this.name = name;
  }

  get dtype() {
    return this.type.dtype;
  }
  get shape() {
    return this.type.shape;
  }
  get ndim(): number {
    return this.type.shape.length;
  }

  /** Sets the display name used by debugprint and error messages; returns the node for chaining. */
  named(name: string): this {
    this.name = name;
    return this;
  }

  /**
   * The node for `op(inputs; args)`: the existing one when an equal node is alive, else a new one.
   * Runs the op's type rule, so a bad combination fails here, naming the operands and the user's line.
   */
  static make<K extends Op>(
    op: K,
    inputs: readonly Node[],
    args: OpArgs[K],
    origin: Origin | undefined = captureOrigin(),
  ): Node<K> {
    const key = internKey(op, inputs, args);
    const existing = key === undefined ? undefined : INTERNED.get(key)?.deref();
    if (existing) return existing as Node<K>;
    const info = OP_INFO[op];
    if (info.arity >= 0 ? inputs.length !== info.arity : inputs.length === 0) {
      throw new ShapeError(
        `${op}: expected ${info.arity >= 0 ? info.arity : 'at least 1'} operands, got ${inputs.length}${at(origin)}`,
      );
    }
    let type: TensorType;
    try {
      type = info.type(
        inputs.map((i) => i.type),
        args,
      );
    } catch (e) {
      if (!(e instanceof TypeRuleError)) throw e;
      const ErrorClass = e.kind === 'dtype' ? DTypeError : ShapeError;
      throw new ErrorClass(
        `${op}(${inputs.map((n) => describe(n)).join(', ')}): ${e.message}; ${operandTypes(inputs)}${at(origin)}`,
      );
    }
    const tooBig = oversize(knownSize(type), type.dtype);
    if (tooBig)
      throw new ShapeError(
        `${op}(${inputs.map((n) => describe(n)).join(', ')}): the result ${formatShape(type.shape)} would have ${tooBig}; ${operandTypes(inputs)}${at(origin)}`,
      );
    const node = new Node(op, inputs, args, type, origin, undefined);
    if (key !== undefined) {
      INTERNED.set(key, new WeakRef(node));
      REGISTRY.register(node, key);
    }
    return node;
  }

  /** A leaf (input, constant or shared variable) with a given type; leaves are never merged except small constants. */
  static leaf<K extends 'input' | 'constant' | 'shared'>(
    op: K,
    args: OpArgs[K],
    type: TensorType,
    name: string | undefined,
  ): Node<K> {
    const key = internKey(op, [], args);
    if (key !== undefined) {
      const existing = INTERNED.get(key)?.deref();
      if (existing) return existing as Node<K>;
    }
    const node = new Node(op, [], args, type, captureOrigin(), name);
    if (key !== undefined) {
      INTERNED.set(key, new WeakRef(node));
      REGISTRY.register(node, key);
    }
    return node;
  }
}

/** The product of the sizes known at build time (unknown ones may be anything, including 1). */
export const knownSize = (type: TensorType): number => type.shape.reduce<number>((p, d) => p * (d ?? 1), 1);

const INTERNED = new Map<string, WeakRef<Node>>();
const REGISTRY = new FinalizationRegistry<string>((key) => {
  if (INTERNED.get(key)?.deref() === undefined) INTERNED.delete(key);
});

/** Constants up to this many elements are merged by value; bigger ones stay distinct (hashing them costs more than it saves). */
const INTERN_CONSTANT_LIMIT = 64;

function internKey(op: Op, inputs: readonly Node[], args: object): string | undefined {
  if (op === 'input' || op === 'shared') return undefined;
  if (op === 'constant') {
    const v = (args as OpArgs['constant']).value;
    if (v.size > INTERN_CONSTANT_LIMIT) return undefined;
    // Object.is distinguishes -0 and NaN, which must not merge with 0 or each other's bit patterns.
    return `constant:${v.dtype}:${v.shape.join(',')}:${Array.from(v.data, (x) => (Object.is(x, -0) ? '-0' : String(x))).join(',')}`;
  }
  return `${op}:${inputs.map((i) => i.id).join(',')}:${JSON.stringify(args, argReplacer)}`;
}

function argReplacer(_key: string, value: unknown): unknown {
  if (value instanceof NDArray) throw new Error('NDArray arguments are only allowed on constants');
  return value;
}

const at = (origin: Origin | undefined): string => (located(origin) ? `\n    at ${formatOrigin(origin)}` : '');

/** How error messages name a node: the user's name, else a short expression. */
export function describe(node: Node, depth = 2, top = true): string {
  if (node.name) return node.name;
  if (node.op === 'constant') {
    const v = (node.args as OpArgs['constant']).value;
    return v.size === 1 ? String(v.data[0]) : `constant${formatShape(v.shape)}`;
  }
  if (node.op === 'input') return (node.args as OpArgs['input']).name || `<input ${node.id}>`;
  if (node.op === 'shared') return (node.args as OpArgs['shared']).container.name;
  if (depth <= 0) return '…';
  // A fused node's own instructions do not use up the depth of the description that asks for it; its
  // operands do, so a chain of fused nodes (a loop built out) is described to a bounded depth.
  if (node.op === 'fused') return describeFused(node as Node<'fused'>, top ? depth + 1 : depth);
  return `${node.op}(${node.inputs.map((i) => describe(i, depth - 1, false)).join(', ')})`;
}

/** A fused node as the expression it computes (`exp(add(mul(x, 2), y))`), so messages show the user's ops, not the kernel. */
function describeFused(node: Node<'fused'>, depth: number): string {
  const a = node.args;
  const regionInput = (k: number, d: number): string => {
    if (!a.product) return describe(node.inputs[k]!, d, false);
    return k === 0
      ? `${a.product.op}(${node.inputs
          .slice(0, 2)
          .map((n) => describe(n, d - 1, false))
          .join(', ')})`
      : describe(node.inputs[k + 1]!, d, false);
  };
  const instr = (i: number, d: number): string => {
    if (d <= 0) return '…';
    const ins = a.instrs[i]!;
    return `${ins.op}(${ins.inputs.map((r) => (r.from === 'input' ? regionInput(r.index, d - 1) : instr(r.index, d - 1))).join(', ')})`;
  };
  const value = instr(a.outputs[0]!, depth);
  return a.reduce ? `${a.reduce.op}(${value})` : value;
}

function operandTypes(inputs: readonly Node[]): string {
  return inputs.map((i) => `${describe(i)} is ${i.dtype} ${formatShape(i.shape)}`).join(', ');
}

/** "…\n    at file:line:col (where `expr` was built)" for runtime errors about a node. */
export function whereBuilt(node: Node): string {
  return located(node.origin) ? `\n    at ${formatOrigin(node.origin)} (where \`${describe(node)}\` was built)` : '';
}
