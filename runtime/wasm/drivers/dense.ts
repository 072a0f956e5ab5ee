/** Dense factorizations and solves: one kernel call per matrix of the (broadcast) batch, the calls split across threads. */
import type { Step } from '../../program.js';
import { kernelArgs, type KernelSpec } from '../../kernel-abi.js';
import { bytesPerElement } from '../../dtype.js';
import { NDArray } from '../../ndarray.js';
import { batchIndices } from '../../reference/layout.js';
import type { KernelCalls } from '../kernel-calls.js';

type DenseSpec = Extract<KernelSpec, { kind: 'cholesky' | 'luSolve' | 'triangularSolve' | 'householderQr' }>;

/** One QR factor of each matrix of the batch (Q or R, reduced or complete), one call per matrix. */
function householderQr(ctx: KernelCalls, step: Step, spec: DenseSpec, a: NDArray): NDArray | undefined {
  const dtype = spec.dtype ?? 'float32';
  const E = bytesPerElement(dtype);
  const [m, n] = [a.shape[a.ndim - 2]!, a.shape[a.ndim - 1]!];
  const k = Math.min(m, n);
  if (k === 0) return undefined;
  const { part, complete } = step.args as { part: 'q' | 'r'; complete: boolean };
  const [rows, cols] = part === 'q' ? [m, complete ? m : k] : [complete ? m : k, n];
  const count = a.size / (m * n);
  const input = ctx.place(a);
  const out = ctx.arena.alloc(count * rows * cols * E);
  const parts = ctx.parts(count, 1, m * n * k * count >= 1 << 21);
  const scratch = parts.map(() => ctx.arena.alloc((m * n + k + m) * 8));
  ctx.dispatch(
    parts.flatMap(([m0, m1], p) =>
      Array.from({ length: m1 - m0 }, (_, q): [number, number[]] => [
        step.kernel!,
        kernelArgs('householderQr', {
          m,
          n,
          a: input + (m0 + q) * m * n * E,
          out: out + (m0 + q) * rows * cols * E,
          scratch: scratch[p]!,
          part: part === 'r' ? 0 : 1,
          complete: complete ? 1 : 0,
        }),
      ]),
    ),
  );
  scratch.forEach((s) => ctx.arena.free(s));
  return new NDArray(ctx.arena.view(dtype, out, count * rows * cols), [...a.shape.slice(0, -2), rows, cols], dtype);
}

export function dense(
  ctx: KernelCalls,
  step: Step,
  spec: DenseSpec,
  operands: readonly NDArray[],
): NDArray | undefined {
  if (spec.kind === 'householderQr') return householderQr(ctx, step, spec, operands[0]!);
  const dtype = spec.dtype ?? 'float32';
  const E = bytesPerElement(dtype);
  const a = operands[0]!;
  const n = a.shape[a.ndim - 1]!;
  const rhs = spec.kind === 'cholesky' ? undefined : operands[1]!;
  const k = rhs ? rhs.shape[rhs.ndim - 1]! : n;
  if (n === 0 || k === 0) return undefined; // nothing to factor: the reference makes the empty result
  const { batch, indices } = batchIndices(
    rhs ? [a.shape.slice(0, -2), rhs.shape.slice(0, -2)] : [a.shape.slice(0, -2)],
  );
  const count = indices[0]!.length;
  const outShape = [...batch, n, k];
  const [aAt, bAt] = [ctx.place(a), rhs ? ctx.place(rhs) : 0];
  const out = ctx.arena.alloc(count * n * k * E);
  const parts = ctx.parts(count, 1, n * n * n * count >= 1 << 21);
  const scratchBytes = (n * n + (rhs ? n * k : 0)) * 8;
  const scratch = parts.map(() => ctx.arena.alloc(scratchBytes));
  const args = step.args as { lower?: boolean; transpose?: boolean; unitDiagonal?: boolean };
  const jobs = parts.flatMap(([m0, m1], part) =>
    Array.from({ length: m1 - m0 }, (_, q) => {
      const matrix = m0 + q;
      const common = { n, out: out + matrix * n * k * E, scratch: scratch[part]! };
      const aMatrix = aAt + indices[0]![matrix]! * n * n * E;
      const bMatrix = bAt + (indices[1]?.[matrix] ?? 0) * n * k * E;
      const kind = spec.kind;
      switch (kind) {
        case 'cholesky':
          return [step.kernel!, kernelArgs('cholesky', { ...common, a: aMatrix })] as [number, number[]];
        case 'luSolve':
          return [step.kernel!, kernelArgs('luSolve', { ...common, k, a: aMatrix, b: bMatrix })] as [number, number[]];
        case 'triangularSolve':
          return [
            step.kernel!,
            kernelArgs('triangularSolve', {
              ...common,
              k,
              t: aMatrix,
              b: bMatrix,
              lower: args.lower ? 1 : 0,
              transpose: args.transpose ? 1 : 0,
              unit: args.unitDiagonal ? 1 : 0,
            }),
          ] as [number, number[]];
        case 'householderQr':
          throw new Error('internal: QR is laid out by householderQr');
        default:
          return kind satisfies never;
      }
    }),
  );
  ctx.dispatch(jobs);
  scratch.forEach((p) => ctx.arena.free(p));
  return new NDArray(ctx.arena.view(dtype, out, count * n * k), outShape, dtype);
}
