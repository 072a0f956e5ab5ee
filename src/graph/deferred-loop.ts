/**
 * Loops whose number of steps is known only at call time (`T.scan` over sequences of unknown length,
 * or a symbolic nSteps). The graph holds one `loop` node per output; `T.compile` builds the loop out for
 * the number of steps each call needs (once per number: compiled functions are kept by it), so the
 * built-out loop is optimized, fused and run in one call into wasm like any other graph.
 *
 * Gradients are deferred loops too: built out with the forward loop, for the same number of steps.
 */
import { mul, sum } from '../../compiler/ir/build.js';
import { substitute } from '../../compiler/ir/graph.js';
import { tensor } from './variables.js';
import { Node } from '../../compiler/ir/node.js';
import type { DeferredLoop, TensorType } from '../../compiler/ir/ops.js';
import { isFloat } from '../../runtime/dtype.js';
import { grad } from './grad.js';
import type { LoopStep } from './loop-runner.js';

let loops = 0;

export class Deferred implements DeferredLoop {
  readonly id = ++loops;
  /** The loop's nodes, one per output. */
  readonly outputs: readonly Node<'loop'>[];

  /**
   * @param operands every node the loop reads, its number of steps (an int32 scalar) first, so that the
   *   graph around it sees what it depends on and gradients reach those nodes
   * @param build the outputs, built out for a number of steps
   */
  constructor(
    readonly operands: readonly Node[],
    readonly types: readonly TensorType[],
    private readonly build: (steps: number) => readonly Node[],
    readonly where: string,
    /** How one step runs, for running the loop as a loop (loop-runner.ts); none for a gradient's loop. */
    readonly step?: LoopStep,
    /** For the gradient of a loop that runs as a loop: that loop and the output whose cotangent this carries back. */
    readonly reverse?: { readonly forward: Deferred; readonly output: number },
  ) {
    this.outputs = types.map((_, output) => Node.make('loop', operands, { loop: this, output }));
  }

  /**
   * The cotangent `g` of output `output`, carried back to each float operand by a loop of its own: the
   * partial derivatives with respect to the operands (each held as a variable of its own while the
   * built-out loop is differentiated, so paths between operands are left to the graph around the loop,
   * and gradients of this gradient are right).
   */
  vjp(output: number, g: unknown, operands: readonly unknown[] = this.operands): (Node | null)[] {
    const cotangent = g as Node;
    const actual = operands as readonly Node[];
    const targets = actual.filter((n) => isFloat(n.dtype));
    const gradient = new Deferred(
      [...actual, cotangent],
      targets.map((t) => t.type),
      (steps) => {
        const held = targets.map((t, i) =>
          tensor(`${this.where} operand ${i}`, { dtype: t.dtype, shape: [...t.shape] }),
        );
        const heldCotangent = tensor(`${this.where} cotangent`, {
          dtype: cotangent.dtype,
          shape: [...cotangent.shape],
        });
        const built = this.unrollWith(actual, steps);
        const [value] = substitute([built[output]!], new Map(targets.map((t, i) => [t, held[i]!])));
        const grads = grad(sum(mul(value!, heldCotangent)), held, { disconnected: 'zero' });
        return substitute(
          grads,
          new Map([...targets.map((t, i) => [held[i]!, t] as const), [heldCotangent, cotangent]]),
        );
      },
      `the gradient of ${this.where}`,
      undefined,
      this.step ? { forward: this, output } : undefined,
    );
    return actual.map((n) => {
      const k = targets.indexOf(n);
      return k < 0 ? null : gradient.outputs[k]!;
    });
  }

  /**
   * The outputs built out for a node of this loop whose operands are `operands`: the body's closures
   * read the loop's own operands, so where substitution (givens, a gradient's held variables) gave the
   * node others, the built-out graph reads those instead.
   */
  unrollWith(operands: readonly Node[], steps: number): readonly Node[] {
    const built = this.build(steps);
    const moved = new Map(this.operands.flatMap((o, i) => (operands[i] !== o ? [[o, operands[i]!] as const] : [])));
    return moved.size ? substitute(built, moved) : built;
  }

  toJSON(): string {
    return `loop ${this.id}`;
  }
}

/** A loop as a graph holds it: the loop and the operands its nodes read (substitution may have changed them). */
export interface LoopInstance {
  readonly loop: Deferred;
  readonly operands: readonly Node[];
  /** Its number of steps (its first operand). */
  readonly length: Node;
  /** Its nodes, by output. */
  readonly nodes: Node<'loop'>[];
}

/** The loops a graph holds, each with the operands its nodes read. */
export function deferredLoopsOf(nodes: readonly Node[]): LoopInstance[] {
  const found = new Map<string, LoopInstance>();
  for (const n of nodes) {
    if (n.op !== 'loop') continue;
    const node = n as Node<'loop'>;
    const key = `${node.args.loop.id}:${node.inputs.map((i) => i.id).join(',')}`;
    let instance = found.get(key);
    if (!instance) {
      instance = { loop: node.args.loop as Deferred, operands: node.inputs, length: node.inputs[0]!, nodes: [] };
      found.set(key, instance);
    }
    instance.nodes.push(node);
  }
  return [...found.values()];
}
