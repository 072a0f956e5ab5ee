import type { Binaryen, Expr, Module } from './binaryen.js';

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

  constructor(readonly b: Binaryen, readonly m: Module, paramTypes: readonly number[]) {
    this.params = paramTypes.map((t, i) => this.localRef(i, t));
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

  /** Evaluates `value` once into a new local, appending the assignment to `into`. */
  let(into: Expr[], type: number, value: Expr): Local {
    const l = this.local(type);
    into.push(this.m.local.set(l.index, value));
    return l;
  }

  /** An f32x4 splat of `c`, computed once in the prologue. */
  f32x4Const(c: number): Local {
    return this.hoisted(`f32x4:${Object.is(c, -0) ? '-0' : c}`, this.b.v128, () => this.m.f32x4.splat(this.m.f32.const(c)));
  }

  /** An i32x4 splat of `c`, computed once in the prologue. */
  i32x4Const(c: number): Local {
    return this.hoisted(`i32x4:${c}`, this.b.v128, () => this.m.i32x4.splat(this.m.i32.const(c)));
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

  /** Adds the function to the module. */
  finish(name: string, body: Expr[], resultType: number = this.b.none): void {
    const paramType = this.b.createType(this.params.map((p) => p.type));
    this.m.addFunction(name, paramType, resultType, this.localTypes, this.m.block(null, [...this.prologue, ...body]));
    this.m.addFunctionExport(name, name);
  }
}
