import * as T from 'tsano';

/**
 * The optimizer's contract, checked value by value: where the unoptimized graph is finite the
 * optimized one is finite and equal within `rel`/`abs`; where the unoptimized graph overflowed or
 * produced NaN, the optimized one may be finite (a stable rewrite recovered the value).
 * Returns a description of the first violation, or undefined.
 */
export function optimizerAgrees(
  optimized: ArrayLike<number>,
  naive: ArrayLike<number>,
  rel = 1e-6,
  abs = 1e-9,
): string | undefined {
  if (optimized.length !== naive.length) return `length ${optimized.length} vs ${naive.length}`;
  for (let i = 0; i < naive.length; i++) {
    const o = optimized[i]!;
    const n = naive[i]!;
    if (!Number.isFinite(n)) {
      if (Number.isNaN(o) && !Number.isNaN(n)) return `at ${i}: optimized NaN where the graph gave ${n}`;
      continue;
    }
    if (!Number.isFinite(o) || Math.abs(o - n) > rel * Math.abs(n) + abs)
      return `at ${i}: optimized ${o}, unoptimized ${n}`;
  }
  return undefined;
}

/** Compiles the same outputs with and without the optimizer and runs both on the same values. */
export async function bothWays(
  inputs: readonly T.Node[],
  outputs: readonly T.Node[],
  values: readonly T.NDArray[],
  options: T.CompileOptions = {},
) {
  const plain = await T.compile(inputs, outputs, {
    optimizer: 'none',
    ...(options.mode ? { mode: options.mode } : {}),
  });
  const fast = await T.compile(inputs, outputs, { optimizer: 'fast_run', ...options });
  return { naive: plain(...values), optimized: fast(...values), fast, plain };
}

const MIN_NORMAL_F64 = 2.2250738585072014e-308;

/**
 * True when evaluating the graph as written passes through a subnormal value, an input included:
 * precision is already lost there, so a rewrite that avoids the detour (e.g. log(exp(x)) -> x, which
 * keeps x = -5e-324 where exp rounds it to 1) may legitimately differ.
 */
export async function passesThroughSubnormals(
  inputs: readonly T.Node[],
  output: T.Node,
  values: readonly T.NDArray[],
): Promise<boolean> {
  const subnormal = (v: T.NDArray) =>
    Array.prototype.some.call(v.data, (x: number) => x !== 0 && Math.abs(x) < MIN_NORMAL_F64);
  if (values.some(subnormal)) return true;
  const { toposort } = await import('../../compiler/ir/graph.js');
  const inner = toposort([output]).filter(
    (n) => n.inputs.length > 0 && (n.dtype === 'float64' || n.dtype === 'float32'),
  );
  const all = await T.compile(inputs, inner, { optimizer: 'none', mode: 'js' });
  return all(...values).some(subnormal);
}
