import * as T from 'tsano';
import { expect } from 'vitest';
import type { Operand } from './run.js';

const arrayOf = (o: Operand, data: number[] = o.data) =>
  T.array(Float64Array.from(data), { shape: o.shape }).astype(o.dtype ?? 'float64');

/**
 * Compares T.grad with central finite differences in float64. The cost is a weighted sum of the
 * expression's output with fixed, non-symmetric weights, so every output element matters.
 */
export async function checkGradient(
  operands: readonly Operand[],
  build: (xs: T.Node[]) => T.Node,
  wrt: readonly number[] = operands.map((_, i) => i),
): Promise<void> {
  const inputs = operands.map((o, i) =>
    T.tensor(`x${i}`, { dtype: o.dtype ?? 'float64', shape: o.shape.map((d, a) => (o.unknown?.[a] ? null : d)) }),
  );
  const out = build(inputs);
  const values = operands.map((o) => arrayOf(o));
  const y = (await T.compile(inputs, out))(...values);
  const weights = T.constant(
    T.array(
      Float64Array.from({ length: y.size }, (_, i) => Math.cos(1.3 * i + 0.7)),
      { shape: y.shape },
    ),
  );
  const cost = T.sum(T.mul(out, weights));
  const grads = T.grad(
    cost,
    wrt.map((i) => inputs[i]!),
  );
  const analytic = (await T.compile(inputs, grads))(...values);
  const costOf = await T.compile(inputs, cost);

  wrt.forEach((operandIndex, g) => {
    const operand = operands[operandIndex]!;
    expect(analytic[g]!.shape).toEqual(operand.shape);
    operand.data.forEach((x, e) => {
      const h = 1e-6 * Math.max(1, Math.abs(x));
      const at = (delta: number) => {
        const data = [...operand.data];
        data[e] = x + delta;
        return costOf(...values.map((v, k) => (k === operandIndex ? arrayOf(operand, data) : v))).item();
      };
      const numeric = (at(h) - at(-h)) / (2 * h);
      const got = analytic[g]!.data[e]!;
      const tolerance = 1e-6 + 1e-5 * Math.abs(numeric);
      if (!(Math.abs(got - numeric) <= tolerance)) {
        throw new Error(
          `gradient of operand ${operandIndex} at element ${e} (x = ${x}): analytic ${got}, finite differences ${numeric}`,
        );
      }
    });
  });
}
