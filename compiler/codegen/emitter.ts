import { KERNEL_PARAMS, type KernelFunction, type ParamName } from '../../runtime/kernel-abi.js';
import type { Binaryen, Expr, Module } from './binaryen.js';

const helpersBuilt = new WeakMap<Module, Set<string>>();

/** A value held in a local: every use gets its own `local.get` (binaryen expressions are trees, never shared). */
export interface Local {
  readonly index: number;
  readonly type: number;
  get(): Expr;
}

/**
 * Builds one function: parameters, locals, a prologue (constants hoisted out of loops) and a body
 * of statements. Helpers return Locals so that computed values can be used any number of times.
 */
export class FunctionEmitter {
  private readonly localTypes: number[] = [];
  private readonly constants = new Map<string, Local>();
  readonly prologue: Expr[] = [];
  readonly params: Local[];

  constructor(
    readonly b: Binaryen,
    readonly m: Module,
    paramTypes: readonly number[],
  ) {
    this.params = paramTypes.map((t, i) => this.localRef(i, t));
  }

  /** An emitter for kernel function `fn`: its named i32 parameters, then `tail` more (operand addresses). */
  static forKernel(b: Binaryen, m: Module, fn: KernelFunction, tail = 0): FunctionEmitter {
    return new FunctionEmitter(b, m, new Array<number>(KERNEL_PARAMS[fn].length + tail).fill(b.i32));
  }

  /** The parameters of kernel function `fn`, by name (kernel-abi's KERNEL_PARAMS). */
  named<F extends KernelFunction>(fn: F): { readonly [P in ParamName<F>]: Local } {
    const names: readonly string[] = KERNEL_PARAMS[fn];
    if (this.params.length < names.length)
      throw new Error(`internal: a ${fn} kernel has ${names.length} parameters, this function ${this.params.length}`);
    return Object.fromEntries(names.map((name, i) => [name, this.params[i]])) as { [P in ParamName<F>]: Local };
  }

  /** The parameters after kernel function `fn`'s named ones (operand addresses). */
  tail(fn: KernelFunction): Local[] {
    return this.params.slice(KERNEL_PARAMS[fn].length);
  }

  private localRef(index: number, type: number): Local {
    return { index, type, get: () => this.m.local.get(index, type) };
  }

  /** A fresh local of `type`. */
  local(type: number): Local {
    const index = this.params.length + this.localTypes.length;
    this.localTypes.push(type);
    return this.localRef(index, type);
  }

  /** Fresh locals of `type`, by name: `const { i, j } = e.locals(['i', 'j'], b.i32)`. */
  locals<const N extends string>(names: readonly N[], type: number): { readonly [K in N]: Local } {
    return Object.fromEntries(names.map((name) => [name, this.local(type)])) as { [K in N]: Local };
  }

  /** Evaluates `value` once into a new local, appending the assignment to `into`. */
  let(into: Expr[], type: number, value: Expr): Local {
    const l = this.local(type);
    into.push(this.m.local.set(l.index, value));
    return l;
  }

  /** An f32x4 splat of `c`, computed once in the prologue. */
  f32x4Const(c: number): Local {
    return this.hoisted(`f32x4:${Object.is(c, -0) ? '-0' : c}`, this.b.v128, () =>
      this.m.f32x4.splat(this.m.f32.const(c)),
    );
  }

  /** An i32x4 splat of `c`, computed once in the prologue. */
  i32x4Const(c: number): Local {
    return this.hoisted(`i32x4:${c}`, this.b.v128, () => this.m.i32x4.splat(this.m.i32.const(c)));
  }

  /** An f64x2 splat of `c`, computed once in the prologue. */
  f64x2Const(c: number): Local {
    return this.hoisted(`f64x2:${Object.is(c, -0) ? '-0' : c}`, this.b.v128, () =>
      this.m.f64x2.splat(this.m.f64.const(c)),
    );
  }

  /** An i64x2 splat of the 64-bit integer `c`, computed once in the prologue. */
  i64x2Const(c: bigint): Local {
    return this.hoisted(`i64x2:${c}`, this.b.v128, () => this.m.i64x2.splat(this.i64Const(c)));
  }

  /** An i64 constant: binaryen 132 takes one BigInt, though its typings still say (low, high). */
  i64Const(c: bigint): Expr {
    return (this.m.i64.const as unknown as (value: bigint) => Expr)(c);
  }

  /**
   * A value computed once per statement list (a loop body), by key: the math builders share costly
   * parts this way (sigmoid and softplus of one x share e^(−|x|), 1 + e^(−|x|) and its reciprocal).
   */
  memo(out: Expr[], key: string, compute: () => Local): Local {
    let memo = this.memos.get(out);
    if (!memo) this.memos.set(out, (memo = new Map()));
    let v = memo.get(key);
    if (!v) memo.set(key, (v = compute()));
    return v;
  }
  private readonly memos = new WeakMap<Expr[], Map<string, Local>>();

  /** `for (counter = from; counter + step <= end; counter += step) body`; leaves counter where it stopped. */
  countedLoop(counter: Local, from: Expr | undefined, end: () => Expr, step: number, body: Expr[]): Expr {
    const { m } = this;
    const label = `counted${this.loops++}`;
    const next = () => m.i32.add(counter.get(), m.i32.const(step));
    return m.block(null, [
      ...(from === undefined ? [] : [m.local.set(counter.index, from)]),
      m.block(`${label}_exit`, [
        m.loop(
          `${label}_loop`,
          m.block(null, [
            m.br(`${label}_exit`, m.i32.gt_u(next(), end())),
            ...body,
            m.local.set(counter.index, next()),
            m.br(`${label}_loop`),
          ]),
        ),
      ]),
    ]);
  }
  private loops = 0;

  /** Adds a module-level helper function the first time a kernel of this module asks for it. */
  helper(name: string, build: () => void): string {
    let built = helpersBuilt.get(this.m);
    if (!built) helpersBuilt.set(this.m, (built = new Set()));
    if (!built.has(name)) {
      built.add(name);
      build();
    }
    return name;
  }

  private hoisted(key: string, type: number, make: () => Expr): Local {
    let l = this.constants.get(key);
    if (!l) {
      l = this.local(type);
      this.prologue.push(this.m.local.set(l.index, make()));
      this.constants.set(key, l);
    }
    return l;
  }

  /** Adds the function to the module (exported under its name unless it is an internal helper). */
  finish(name: string, body: Expr[], resultType: number = this.b.none, exported = true): void {
    const paramType = this.b.createType(this.params.map((p) => p.type));
    this.m.addFunction(name, paramType, resultType, this.localTypes, this.m.block(null, [...this.prologue, ...body]));
    if (exported) this.m.addFunctionExport(name, name);
  }
}
