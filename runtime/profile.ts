import type { Program, Step } from './program.js';
import type { NDArray } from './ndarray.js';

/** One step of a profiled function, over all profiled calls (Theano's ProfileStats, per apply node). */
export interface StepProfile {
  /** Position in the program. */
  readonly index: number;
  /** Where it ran: 'wasm' (a compiled kernel) or 'reference' (the interpreter's kernel), and the op. */
  readonly kernel: string;
  /** The user's expression the step computes (a fused kernel lists the ops fused into it). */
  readonly ops: string;
  /** Shape of its result in the last call. */
  readonly shape: readonly number[];
  readonly calls: number;
  readonly totalMs: number;
  readonly meanMs: number;
  /** Share of the profiled calls' time. */
  readonly share: number;
  /** Multiply-adds (matmul, dot) per second, in billions. */
  readonly gflops?: number;
  /** Bytes read and written per second, in billions (everything else). */
  readonly gbps?: number;
}

export interface Profile {
  readonly calls: number;
  /** Wall time of the calls, steps and the copies around them. */
  readonly totalMs: number;
  readonly meanCallMs: number;
  /** Steps, slowest first. */
  readonly steps: readonly StepProfile[];
}

/** Per-step totals gathered while a compiled function runs under `profile`. */
export class StepTimes {
  readonly ms: Float64Array;
  readonly work: Float64Array;
  readonly bytes: Float64Array;
  readonly shapes: (readonly number[])[];
  calls = 0;
  constructor(steps: number) {
    this.ms = new Float64Array(steps);
    this.work = new Float64Array(steps);
    this.bytes = new Float64Array(steps);
    this.shapes = new Array(steps).fill([]);
  }

  /** Adds one run of step `i`: its time, and the flops or bytes its operands and result imply. */
  record(i: number, step: Step, operands: readonly NDArray[], result: NDArray, ms: number): void {
    this.ms[i]! += ms;
    this.shapes[i] = result.shape;
    const flops = multiplyAdds(step, operands, result);
    if (flops !== undefined) this.work[i]! += flops;
    else this.bytes[i]! += operands.reduce((s, o) => s + o.data.byteLength, result.data.byteLength);
  }
}

/** 2·M·N·K for a product (a matmul, a dot, or a fused kernel that starts with one); undefined otherwise. */
function multiplyAdds(step: Step, operands: readonly NDArray[], result: NDArray): number | undefined {
  const product =
    step.op === 'matmul' || step.op === 'dot'
      ? step.op
      : step.op === 'fused'
        ? (step.args as { product?: { op: string } }).product?.op
        : undefined;
  if (product !== 'matmul' && product !== 'dot') return undefined;
  const a = operands[0]!;
  if (a.ndim === 0 || operands[1]!.ndim === 0) return result.size;
  const transposeA =
    (step.args as { transposeA?: boolean }).transposeA ??
    (step.args as { product?: { transposeA?: boolean } }).product?.transposeA;
  const depth = a.ndim === 1 ? a.shape[0]! : a.shape[a.ndim - (transposeA ? 2 : 1)]!;
  return 2 * result.size * depth;
}

/** The profile of `program` from gathered times. */
export function summarizeProfile(
  program: Program,
  times: StepTimes,
  totalMs: number,
  ran: (step: Step) => 'wasm' | 'reference',
): Profile {
  const steps = program.steps.map((step, index): StepProfile => {
    const ms = times.ms[index]!;
    const seconds = ms / 1000;
    const rate = (v: number) => (seconds > 0 ? v / seconds / 1e9 : 0);
    return {
      index,
      kernel: `${ran(step)} ${step.op === 'fused' ? 'fused' : step.op}`,
      ops: step.label,
      shape: times.shapes[index]!,
      calls: times.calls,
      totalMs: ms,
      meanMs: times.calls ? ms / times.calls : 0,
      share: totalMs > 0 ? ms / totalMs : 0,
      ...(times.work[index]! > 0 ? { gflops: rate(times.work[index]!) } : { gbps: rate(times.bytes[index]!) }),
    };
  });
  steps.sort((a, b) => b.totalMs - a.totalMs);
  return { calls: times.calls, totalMs, meanCallMs: times.calls ? totalMs / times.calls : 0, steps };
}

/** The profile as a table, slowest steps first (`limit` rows). */
export function formatProfile(p: Profile, limit = 20): string {
  const rows = p.steps
    .slice(0, limit)
    .map((s) => [
      `${(100 * s.share).toFixed(1)}%`,
      s.totalMs.toFixed(3),
      s.meanMs.toFixed(4),
      String(s.calls),
      s.gflops !== undefined ? `${s.gflops.toFixed(1)} GFLOPS` : `${(s.gbps ?? 0).toFixed(2)} GB/s`,
      s.kernel,
      `[${s.shape.join(', ')}]`,
      s.ops.split('\n')[0]!.slice(0, 60),
    ]);
  const header = ['share', 'total ms', 'mean ms', 'calls', 'rate', 'kernel', 'shape', 'computes'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i < 5 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [
    `Profile: ${p.calls} call${p.calls === 1 ? '' : 's'}, ${p.totalMs.toFixed(3)} ms in all, ${p.meanCallMs.toFixed(4)} ms per call; ${p.steps.length} steps${p.steps.length > limit ? `, the slowest ${limit} shown` : ''}`,
    line(header),
    ...rows.map(line),
  ].join('\n');
}
