/**
 * A loop body (or its vector-Jacobian product) as the loop runs it: compiled once, with its
 * loop-invariant work (loop-invariants.ts) taken out into a prologue that runs once per loop, whose
 * values the body reads as inputs of their own.
 */
import type { Node } from '../../compiler/ir/node.js';
import type { NDArray } from '../../runtime/ndarray.js';
import type { CompiledFunction } from './function.js';
import { hoistInvariants } from './loop-invariants.js';
import type { CompiledStep } from './loop-runner.js';
import type { PlanLookup, PlannedCall } from './wasm-loop.js';

type Compile = (inputs: readonly Node[], outputs: readonly Node[]) => CompiledFunction<NDArray[]>;

export class LoopBody {
  private readonly body: CompiledFunction<NDArray[]>;
  private readonly prologue: CompiledFunction<NDArray[]> | undefined;
  /** The prologue's last arguments and values: a loop's steps read the same invariant arrays. */
  private last: { readonly args: readonly NDArray[]; readonly values: readonly NDArray[] } | undefined;

  /**
   * @param invariant the positions of the inputs every step of a loop reads unchanged
   * @param planLookup a compiled function's call plans (function.ts)
   */
  constructor(
    step: CompiledStep,
    private readonly invariant: readonly number[],
    compile: Compile,
    private readonly planLookup: (fn: object) => PlanLookup | undefined,
  ) {
    const invariantInputs = invariant.map((i) => step.inputs[i]!);
    const hoisted = hoistInvariants(step.outputs, new Set(invariantInputs));
    this.body = hoisted
      ? compile([...step.inputs, ...hoisted.placeholders], hoisted.outputs)
      : compile(step.inputs, step.outputs);
    this.prologue = hoisted && compile(invariantInputs, hoisted.invariants);
  }

  /** The invariant values for these arguments (computed again only when the invariant arrays change). */
  private invariants(args: readonly NDArray[]): readonly NDArray[] {
    if (!this.prologue) return [];
    const fixed = this.invariant.map((i) => args[i]!);
    const last = this.last;
    if (last && last.args.every((a, i) => a === fixed[i])) return last.values;
    const values = this.prologue(...fixed);
    this.last = { args: fixed, values };
    return values;
  }

  /** One step. */
  call(args: readonly NDArray[]): NDArray[] {
    return this.body(...args, ...this.invariants(args));
  }

  /** The call plan of these arguments' shapes, for a loop run in wasm; its extra inputs are the invariant values. */
  readonly lookup: PlanLookup = (args): PlannedCall | undefined => {
    const extra = this.invariants(args);
    const planned = this.planLookup(this.body)?.([...args, ...extra]);
    return planned && { ...planned, extra };
  };

  get functions(): CompiledFunction<NDArray[]>[] {
    return this.prologue ? [this.body, this.prologue] : [this.body];
  }
}
