import * as T from 'tsano';
import type { Dense } from './naive.js';

export interface Operand {
  shape: number[];
  data: number[];
  dtype?: T.DType;
  /** Declare these axes as unknown (null) in the static shape. */
  unknown?: boolean[];
}

/** Builds inputs for the operands, applies `build`, compiles in js mode and runs it on the operands' data. */
export async function evaluate(
  operands: readonly Operand[],
  build: (xs: T.Node[]) => T.Node,
): Promise<{ out: T.NDArray; node: T.Node }> {
  const inputs = operands.map((o, i) =>
    T.tensor(`x${i}`, { dtype: o.dtype ?? 'float64', shape: o.shape.map((d, a) => (o.unknown?.[a] ? null : d)) }),
  );
  const node = build(inputs);
  const f = await T.compile(inputs, node, { mode: 'js' });
  const out = f(
    ...operands.map((o) => T.array(Float64Array.from(o.data), { shape: o.shape }).astype(o.dtype ?? 'float64')),
  );
  return { out, node };
}

export const dense = (a: T.NDArray): Dense => ({ shape: [...a.shape], data: Array.from(a.data) });

/** Runs `work` (compiling, typically) with TSANO_THREADS set to `threads`, which is read when a function is compiled; restores it after. */
export async function withThreads<R>(threads: number, work: () => Promise<R>): Promise<R> {
  return withEnv({ TSANO_THREADS: String(threads) }, work);
}

/** Runs `work` with these environment variables set, and restores them after. */
export async function withEnv<R>(vars: Record<string, string>, work: () => Promise<R>): Promise<R> {
  const saved = Object.keys(vars).map((name) => [name, process.env[name]] as const);
  Object.assign(process.env, vars);
  try {
    return await work();
  } finally {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}
