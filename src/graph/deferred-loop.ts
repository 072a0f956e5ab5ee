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

let loops = 0;

export class Deferred implements DeferredLoop {
  readonly id = ++loops;
  /** The loop's nodes, one per output. */
  readonly outputs: readonly Node<'loop'>[];

  /**
   * @param operands every node the loop reads (its number of steps first), so that the graph around it
   *   sees what it depends on and gradients reach those nodes
   * @param build the outputs, built out for a number of steps
   */
  constructor(
    readonly operands: readonly Node[],
    readonly types: readonly TensorType[],
    readonly length: Node,
    private readonly build: (steps: number) => readonly Node[],
    readonly where: string,
  ) {
    this.outputs = types.map((_, output) => Node.make('loop', operands, { loop: this, output }));
  }

  unroll(steps: number): readonly Node[] {
    return this.build(steps);
  }

  /**
   * The cotangent `g` of output `output`, carried back to each float operand by a loop of its own: the
   * partial derivatives with respect to the operands (each held as a variable of its own while the
   * built-out loop is differentiated, so paths between operands are left to the graph around the loop,
   * and gradients of this gradient are right).
   */
  vjp(output: number, g: unknown): (Node | null)[] {
    const cotangent = g as Node;
    const targets = this.operands.filter((n) => isFloat(n.dtype));
    const gradient = new Deferred(
      [...this.operands, cotangent],
      targets.map((t) => t.type),
      this.length,
      (steps) => {
        const held = targets.map((t, i) =>
          tensor(`${this.where} operand ${i}`, { dtype: t.dtype, shape: [...t.shape] }),
        );
        const heldCotangent = tensor(`${this.where} cotangent`, {
          dtype: cotangent.dtype,
          shape: [...cotangent.shape],
        });
        const [value] = substitute([this.unroll(steps)[output]!], new Map(targets.map((t, i) => [t, held[i]!])));
        const grads = grad(sum(mul(value!, heldCotangent)), held, { disconnected: 'zero' });
        return substitute(
          grads,
          new Map([...targets.map((t, i) => [held[i]!, t] as const), [heldCotangent, cotangent]]),
        );
      },
      `the gradient of ${this.where}`,
    );
    return this.operands.map((n) => {
      const k = targets.indexOf(n);
      return k < 0 ? null : gradient.outputs[k]!;
    });
  }

  toJSON(): string {
    return `loop ${this.id}`;
  }
}

/** The deferred loops a graph holds (a node's loop, once each). */
export function deferredLoopsOf(nodes: readonly Node[]): Deferred[] {
  const found = new Set<Deferred>();
  for (const n of nodes) if (n.op === 'loop') found.add((n as Node<'loop'>).args.loop as Deferred);
  return [...found];
}
