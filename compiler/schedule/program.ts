import { toposort } from '../ir/graph.js';
import { describe, Node, whereBuilt } from '../ir/node.js';
import { isElementwise, type Op, type OpArgs, type SharedContainer } from '../ir/ops.js';
import { formatShape, type Shape } from '../ir/type.js';
import { kernelKey, selectKernel, type Supported } from './kernels.js';
import type { ElementwiseSpec, KernelSpec } from '../../runtime/kernel-abi.js';
import type { DType } from '../../runtime/dtype.js';
import type { NDArray } from '../../runtime/ndarray.js';

import type { Program, Step } from '../../runtime/program.js';

export type { Program, Step };

/** Lays out `outputs` and update expressions as a Program; `inputs` get the first slots, in order. */
export function schedule(
  inputs: readonly Node[],
  outputs: readonly Node[],
  updates: readonly (readonly [Node<'shared'>, Node])[],
  options: { inPlace?: boolean; kernels?: Supported } = {},
): Program {
  const roots = [...outputs, ...updates.map(([, e]) => e)];
  const order = toposort(roots);
  const slotOf = new Map<Node, number>();
  inputs.forEach((n, i) => slotOf.set(n, i));
  const constants: { slot: number; value: NDArray; label: string; where: string }[] = [];
  const shared: { slot: number; container: SharedContainer }[] = [];
  const computed: Node[] = [];
  for (const node of order) {
    if (slotOf.has(node)) continue;
    const slot = slotOf.size;
    slotOf.set(node, slot);
    if (node.op === 'constant')
      constants.push({
        slot,
        value: (node.args as OpArgs['constant']).value,
        label: describe(node),
        where: whereBuilt(node),
      });
    else if (node.op === 'shared') shared.push({ slot, container: (node.args as OpArgs['shared']).container });
    else if (node.op === 'input') throw new Error(`internal: input ${describe(node)} has no slot`);
    else computed.push(node);
  }
  // Liveness: a computed value dies after its last reader, unless it is a program result.
  const lastUse = new Map<number, number>();
  computed.forEach((node, k) => node.inputs.forEach((i) => lastUse.set(slotOf.get(i)!, k)));
  const pinned = new Set(roots.map((r) => slotOf.get(r)!));
  const computedSlots = new Set(computed.map((n) => slotOf.get(n)!));
  const releaseAt = computed.map(() => [] as number[]);
  for (const [slot, k] of lastUse) {
    if (computedSlots.has(slot) && !pinned.has(slot)) releaseAt[k]!.push(slot);
  }
  // Memory phase: an elementwise result may overwrite an operand that dies here, when both have the same type.
  const inPlaceCandidate = (node: Node, k: number): number | undefined => {
    if (!options.inPlace || !(isElementwise(node.op) || node.op === 'fused')) return undefined;
    const operand = node.inputs.find(
      (i) =>
        releaseAt[k]!.includes(slotOf.get(i)!) &&
        i.dtype === node.dtype &&
        i.ndim === node.ndim &&
        i.shape.every((d, a) => d !== null && d === node.shape[a]),
    );
    return operand ? slotOf.get(operand) : undefined;
  };
  const kernels: KernelSpec[] = [];
  const kernelIndex = new Map<string, number>();
  const kernelFor = (node: Node): number | undefined => {
    const spec = options.kernels && selectKernel(node, options.kernels);
    if (!spec) return undefined;
    const key = kernelKey(spec);
    if (!kernelIndex.has(key)) kernelIndex.set(key, kernels.push(spec) - 1);
    return kernelIndex.get(key);
  };
  const steps: Step[] = computed.map((node, k) =>
    withMessageText(node, {
      op: node.op,
      args: node.args as OpArgs[Op],
      inputs: node.inputs.map((i) => slotOf.get(i)!),
      out: slotOf.get(node)!,
      dtype: node.dtype,
      shape: node.shape,
      release: releaseAt[k]!,
      reuses: inPlaceCandidate(node, k),
      kernel: kernelFor(node),
    }),
  );
  return {
    slotCount: slotOf.size,
    inputSlots: inputs.map((n) => slotOf.get(n)!),
    constants,
    shared,
    steps,
    outputSlots: outputs.map((o) => slotOf.get(o)!),
    updates: updates.map(([s, e]) => ({
      container: (s.args as OpArgs['shared']).container,
      slot: slotOf.get(e)!,
      label: describe(s),
    })),
    kernels,
    inPlace: options.inPlace ?? false,
  };
}

/** One line per kernel: its kind, float type and what it computes (the instructions of elementwise work, epilogues and maps). */
export function printKernels(p: Program): string {
  const instrs = (list: readonly { op: string }[]) => list.map((i) => i.op).join(',');
  const elementwise = (e: ElementwiseSpec) =>
    `${e.lanes} [${instrs(e.instrs)}] reads ${e.layouts.join(',') || 'nothing'} as ${e.inputTypes.join(',') || '-'} -> ${e.outputTypes.join(',')}`;
  return p.kernels
    .map((k, i) => {
      const dtype = 'dtype' in k && k.dtype ? ` ${k.dtype}` : '';
      switch (k.kind) {
        case 'elementwise':
          return `k${i} elementwise ${elementwise(k)}`;
        case 'reduce':
          return `k${i} reduce ${k.op}${dtype}${k.map ? ` of ${elementwise(k.map)}` : ''}`;
        case 'argReduce':
          return `k${i} ${k.op}${dtype}`;
        case 'softmax':
          return `k${i} ${k.log ? 'logSoftmax' : 'softmax'}${dtype}`;
        case 'matmul':
        case 'conv2d':
          return `k${i} ${k.kind}${dtype}${k.epilogue ? ` then [${instrs(k.epilogue.instrs)}] reading ${k.epilogue.layouts.join(',') || 'nothing'}` : ''}${k.kind === 'conv2d' && k.pool ? ', max-pooled 2x2' : ''}`;
        default:
          return `k${i} ${k.kind}${dtype}`;
      }
    })
    .join('\n');
}

/** One line per step, for debugging the schedule. */
export function printProgram(p: Program): string {
  return p.steps
    .map(
      (s) =>
        `%${s.out} = ${s.op}(${s.inputs.map((i) => '%' + i).join(', ')}) : ${s.dtype} ${formatShape(s.shape)}${s.reuses === undefined ? '' : ` (in place of %${s.reuses})`}${s.kernel === undefined ? '' : ` [wasm k${s.kernel}]`}`,
    )
    .join('\n');
}

/**
 * A step with the text its messages use (its expression, its operands', where it was built), each
 * worked out when first read: most steps never fail or get profiled, and describing every step of a
 * large program took longer than scheduling it.
 */
const STEP_NODES = new WeakMap<Step, Node>();
/** The graph node a step computes (for pictures of a profile on the graph). */
export const nodeOfStep = (step: Step): Node | undefined => STEP_NODES.get(step);

function withMessageText(node: Node, step: Omit<Step, 'label' | 'operandLabels' | 'where'>): Step {
  STEP_NODES.set(step as Step, node);
  let label: string | undefined;
  let operandLabels: readonly string[] | undefined;
  let where: string | undefined;
  return Object.defineProperties(step, {
    label: { get: () => (label ??= describe(node)), enumerable: true },
    operandLabels: { get: () => (operandLabels ??= node.inputs.map((i) => describe(i))), enumerable: true },
    where: { get: () => (where ??= whereBuilt(node)), enumerable: true },
  }) as Step;
}
