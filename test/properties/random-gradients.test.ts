import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import { toposort } from '../../compiler/ir/graph.js';
import { agreeF32 } from '../helpers/agree.js';
import { dataFor, inRange } from '../helpers/arbitraries.js';
import { randomGraph, type RandomGraph } from '../helpers/random-graph.js';

/** sum(output * w) for fixed, non-symmetric weights w, and its gradient with respect to every input. */
function costAndGradients(g: RandomGraph) {
  const shape = g.output.shape as number[];
  const size = shape.reduce((a, b) => a * b, 1);
  const weights = T.array(
    Float64Array.from({ length: size }, (_, i) => Math.cos(1.3 * i + 0.7)),
    { shape },
  ).astype(g.output.dtype);
  const cost = T.sum(T.mul(g.output, T.constant(weights)));
  return { cost, grads: T.grad(cost, g.inputs, { disconnected: 'zero' }) };
}

/** Ops with a kink, or an unbounded slope (sqrt, log, 1/x), where their first operand is 0; or where their two operands tie. */
const KINK_AT_ZERO = new Set(['relu', 'abs', 'sign', 'sqrt', 'rsqrt', 'log', 'reciprocal', 'pow']);
const KINK_AT_TIE = new Set(['maximum', 'minimum']);
/** Ops whose gradient jumps somewhere. */
const JUMPS = new Set([
  ...KINK_AT_ZERO,
  ...KINK_AT_TIE,
  'max',
  'min',
  'prod',
  'where',
  'clip',
  'gt',
  'lt',
  'ge',
  'le',
  'eq',
  'ne',
]);

/** Inputs of moderate size, none within 1e-3 of 0 except 0 itself (x / x at 1e-320 has a finite value and an overflowing gradient). */
const moderate = (g: RandomGraph) =>
  fc.tuple(
    ...g.shapes.map((s) =>
      dataFor(
        s,
        inRange(-2, 2).map((v) => (Math.abs(v) < 1e-3 ? 0 : v)),
      ),
    ),
  );

describe('T.grad of random graphs', () => {
  it('agrees with central finite differences in float64 wherever the cost is smooth at the point', async () => {
    let compared = 0;
    await fc.assert(
      fc.asyncProperty(
        randomGraph('float64').chain((g) => fc.tuple(fc.constant(g), moderate(g))),
        async ([g, data]) => {
          const { cost, grads } = costAndGradients(g);
          const costOf = await T.compile(g.inputs, cost, { mode: 'js' });
          const gradsOf = await T.compile(g.inputs, grads, { mode: 'js' });
          const values = data.map((d, i) => T.array(Float64Array.from(d), { shape: g.shapes[i]!, dtype: 'float64' }));
          const perturbed = (input: number, element: number, delta: number) =>
            values.map((v, k) =>
              k !== input
                ? v
                : T.array(
                    Float64Array.from(data[k]!, (x, e) => (e === element ? x + delta : x)),
                    { shape: g.shapes[k]!, dtype: 'float64' },
                  ),
            );
          const at = (input: number, element: number, delta: number) =>
            costOf(...perturbed(input, element, delta)).item();
          const c0 = costOf(...values).item();
          // Only points where every value on the way is finite (where(x > -(x / x), …) at 0 takes its value
          // through a NaN), and no comparison changes between x - h and x + h (where(x > log1p(x), x, 0) is x
          // on both sides of 0 and 0 at 0 itself: no branch has the slope the differences see).
          const intermediates = toposort([g.output]).filter(
            (n) => n.inputs.length > 0 && (n.dtype === 'float64' || n.dtype === 'bool'),
          );
          const alongOf = await T.compile(g.inputs, intermediates, { mode: 'js' });
          const along = alongOf(...values) as T.NDArray[];
          const branches = (vs: readonly T.NDArray[]) =>
            (alongOf(...vs) as T.NDArray[])
              .filter((_, i) => intermediates[i]!.dtype === 'bool')
              .map((b) => Array.from(b.data).join(''))
              .join('|');
          const taken = branches(values);
          // Nor points on a kink of an inner op (relu or abs at 0, a tie of maximum or minimum) that the
          // outer graph smooths over (minimum(x, relu(x)) is x): the gradient there is one of several.
          // A reduction's tie (its extreme value twice in one group) counts as a kink: 0 where one is.
          const tie = (n: T.Node) => {
            const { axes } = n.args as { axes: number[] };
            const extreme = n.op === 'max' ? T.max(n.inputs[0]!, axes, true) : T.min(n.inputs[0]!, axes, true);
            return T.cast(T.le(T.sum(T.cast(T.eq(n.inputs[0]!, extreme), 'float64'), axes), 1), 'float64');
          };
          const kinks = toposort([g.output]).flatMap((n) =>
            KINK_AT_ZERO.has(n.op)
              ? [n.inputs[0]!]
              : KINK_AT_TIE.has(n.op)
                ? [T.sub(n.inputs[0]!, n.inputs[1]!)]
                : n.op === 'max' || n.op === 'min'
                  ? [tie(n)]
                  : n.op === 'div'
                    ? [n.inputs[1]!]
                    : [],
          );
          const onKink =
            kinks.length > 0 &&
            ((await T.compile(g.inputs, kinks, { mode: 'js', optimizer: 'none' }))(...values) as T.NDArray[]).some(
              (k) => Array.prototype.some.call(k.data, (v: number) => v === 0),
            );
          if (
            onKink ||
            !Number.isFinite(c0) ||
            along.some(
              (v) => v.dtype === 'float64' && Array.prototype.some.call(v.data, (y: number) => !Number.isFinite(y)),
            )
          )
            return;
          const analytic = gradsOf(...values) as T.NDArray[];
          data.forEach((d, input) =>
            d.forEach((x, element) => {
              const h = 1e-6 * Math.max(1, Math.abs(x));
              const [up, down] = [at(input, element, h), at(input, element, -h)];
              const [right, left] = [(up - c0) / h, (c0 - down) / h];
              const scale = Math.max(1, Math.abs(right), Math.abs(left));
              // Differences of a large cost lose digits to rounding: a few ulps of it, over h.
              const rounding = (16 * Number.EPSILON * Math.max(Math.abs(c0), Math.abs(up), Math.abs(down))) / h;
              // A kink (relu, max, where), a pole or a cancelling graph makes the one-sided slopes differ: no derivative to compare there.
              if (
                !Number.isFinite(up) ||
                !Number.isFinite(down) ||
                Math.abs(right - left) > 1e-4 * scale + 2 * rounding
              )
                return;
              if ([h, -h].some((delta) => branches(perturbed(input, element, delta)) !== taken)) return;
              const numeric = (up - down) / (2 * h);
              const got = analytic[input]!.data[element]!;
              // An inner op with an unbounded slope whose branch is not taken gives 0 · Infinity (the gradient
              // of where(c, sqrt(u), 0) where u = 0): the stability properties check finiteness where it matters.
              if (!Number.isFinite(got)) return;
              compared++;
              expect(
                Math.abs(got - numeric),
                `d cost / d in${input}[${element}] at ${x}: T.grad ${got}, differences ${numeric}\n${T.debugprint(cost, { file: 'str' })}\n${JSON.stringify(data)}`,
              ).toBeLessThanOrEqual(1e-4 * scale + rounding);
            }),
          );
        },
      ),
      { numRuns: 150 },
    );
    // The property must have compared gradients, not skipped every point.
    expect(compared).toBeGreaterThan(200);
  });

  it('compiled to wasm agrees with the interpreter (float32, moderate inputs)', async () => {
    await fc.assert(
      fc.asyncProperty(
        randomGraph('float32').chain((g) => fc.tuple(fc.constant(g), moderate(g))),
        async ([g, data]) => {
          const { grads } = costAndGradients(g);
          const values = data.map((d, i) => T.array(Float32Array.from(d), { shape: g.shapes[i]! }));
          const js = (await T.compile(g.inputs, grads, { mode: 'js' }))(...values) as T.NDArray[];
          const wasmFn = await T.compile(g.inputs, grads, { mode: 'wasm' });
          const wasm = wasmFn(...values) as T.NDArray[];
          expect(wasmFn.stats.referenceFallbacks ?? 0).toBe(0);
          // Where the gradient jumps (a branch, a tie, a kink), last-place differences between the modes
          // may land on either side of the jump: those graphs are compared by value in wasm-differential.
          if (toposort([g.output]).some((n) => JUMPS.has(n.op))) return;
          js.forEach((b, i) => {
            expect(wasm[i]!.shape).toEqual(b.shape);
            expect(agreeF32(wasm[i]!.data, b.data)).toBeUndefined();
          });
        },
      ),
      { numRuns: 100 },
    );
  });
});
