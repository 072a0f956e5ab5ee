import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import { optimize } from '../../compiler/rewrite/pipeline.js';
import { anyValue, dataFor, inRange } from '../helpers/arbitraries.js';
import { bothWays, optimizerAgrees, passesThroughSubnormals } from '../helpers/optimizer.js';

type Spec = readonly [string, number[], T.DType?];
interface Example {
  inputs: Spec[];
  build: (xs: T.Node[]) => T.Node;
  /** Values drawn for every input (default: anything, extremes included). */
  domain?: fc.Arbitrary<number>;
  /** Stability rules: the exact value elementwise (float64, independent of tsano), and hard inputs where float32 breaks. */
  exact?: (v: number) => number;
  hard?: number[];
  /** What the rewritten graph must be, node for node (interning makes this `toBe`). */
  expected?: (xs: T.Node[]) => T.Node;
}

const v3: Spec = ['x', [3]];
const m23: Spec = ['x', [2, 3]];
const eps = 1e-7;
const sigmoid = (v: number) => (v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v)));
const softplus = (v: number) => (v > 0 ? v + Math.log1p(Math.exp(-v)) : Math.log1p(Math.exp(v)));
/** Values of magnitude 0.5 to 5, either sign: where Keras's epsilon guards are inactive. */
const awayFromZero = fc.tuple(inRange(0.5, 5), fc.boolean()).map(([v, s]) => (s ? v : -v));
const node = (op: string, inputs: T.Node[]) => T.Node.make(op as 'sumLike', inputs, {});

/** One example graph per rule: the test below checks that every rule has one. */
const EXAMPLES: Record<string, Example> = {
  constant_folding: { inputs: [v3], build: ([x]) => T.add(x!, T.mul(T.constant(2, 'float64'), T.constant(3, 'float64'))) },
  constant_right: { inputs: [v3], build: ([x]) => T.mul(2, x!), expected: ([x]) => T.mul(x!, 2) },
  mul_one: { inputs: [m23], build: ([x]) => T.exp(T.mul(x!, 1)), expected: ([x]) => T.exp(x!) },
  add_zero: { inputs: [m23], build: ([x]) => T.exp(T.add(x!, 0)), expected: ([x]) => T.exp(x!) },
  sub_zero: { inputs: [m23], build: ([x]) => T.exp(T.sub(x!, 0)), expected: ([x]) => T.exp(x!) },
  div_one: { inputs: [m23], build: ([x]) => T.exp(T.div(x!, 1)), expected: ([x]) => T.exp(x!) },
  mul_zero_int: { inputs: [['n', [3], 'int32']], build: ([n]) => T.mul(n!, 0), domain: fc.integer({ min: -9, max: 9 }) },
  neg_neg: { inputs: [v3], build: ([x]) => T.exp(T.neg(T.neg(x!))), expected: ([x]) => T.exp(x!) },
  sub_neg: { inputs: [v3, ['y', [3]]], build: ([x, y]) => T.sub(x!, T.neg(y!)) },
  mul_constants: { inputs: [v3], build: ([x]) => T.mul(T.mul(x!, 3), 0.5) },
  transpose_transpose: { inputs: [['x', [2, 3, 4]]], build: ([x]) => T.transpose(T.transpose(x!, [1, 2, 0]), [2, 0, 1]) },
  transpose_identity: { inputs: [m23], build: ([x]) => T.exp(T.transpose(x!, [0, 1])), expected: ([x]) => T.exp(x!) },
  reshape_reshape: { inputs: [m23], build: ([x]) => T.reshape(T.reshape(x!, [6]), [3, 2]), expected: ([x]) => T.reshape(x!, [3, 2]) },
  reshape_noop: { inputs: [m23], build: ([x]) => T.exp(T.reshape(x!, [2, 3])), expected: ([x]) => T.exp(x!) },
  useless_broadcastLike: { inputs: [m23, ['y', [2, 3]]], build: ([x, y]) => T.exp(node('broadcastLike', [x!, y!])) },
  useless_sumLike: { inputs: [m23, ['y', [2, 3]]], build: ([x, y]) => T.exp(node('sumLike', [x!, y!])) },
  useless_reshapeLike: { inputs: [m23, ['y', [2, 3]]], build: ([x, y]) => T.exp(node('reshapeLike', [x!, y!])) },
  sum_of_broadcast: { inputs: [['s', []], ['y', [2, 3]]], build: ([s, y]) => T.sum(node('broadcastLike', [s!, y!])) },
  dot_identity_right: { inputs: [m23], build: ([x]) => T.dot(x!, T.constant([[1, 0, 0], [0, 1, 0], [0, 0, 1]], 'float64')) },
  dot_identity_left: { inputs: [m23], build: ([x]) => T.dot(T.constant([[1, 0], [0, 1]], 'float64'), x!) },
  where_same: { inputs: [v3, ['y', [3]]], build: ([x, y]) => T.where(T.gt(x!, y!), x!, x!) },

  log1p: { inputs: [v3], build: ([x]) => T.log(T.add(1, x!)), exact: Math.log1p, hard: [1e-10, -1e-10, 1e-30, 1e-5], domain: inRange(-0.99, 10) },
  log1p_of_sub: { inputs: [v3], build: ([x]) => T.log(T.sub(1, x!)), exact: (v) => Math.log1p(-v), hard: [1e-10, -1e-10, 1e-30], domain: inRange(-10, 0.99) },
  expm1: { inputs: [v3], build: ([x]) => T.sub(T.exp(x!), 1), exact: Math.expm1, hard: [1e-10, -1e-10, 1e-30] },
  expm1_of_add: { inputs: [v3], build: ([x]) => T.add(T.exp(x!), -1), exact: Math.expm1, hard: [1e-10, -1e-12] },
  softplus: { inputs: [v3], build: ([x]) => T.log(T.add(1, T.exp(x!))), exact: softplus, hard: [100, 1000, -100, 30] },
  log1mexp: { inputs: [v3], build: ([x]) => T.log1p(T.neg(T.exp(x!))), exact: (v) => (v > -Math.LN2 ? Math.log(-Math.expm1(v)) : Math.log1p(-Math.exp(v))), hard: [-1e-10, -1e-5, -50], domain: inRange(-20, -1e-3) },
  log_sigmoid: { inputs: [v3], build: ([x]) => T.log(T.sigmoid(x!)), exact: (v) => -softplus(-v), hard: [-100, -1000, -90] },
  log1m_sigmoid: { inputs: [v3], build: ([x]) => T.log1p(T.neg(T.sigmoid(x!))), exact: (v) => -softplus(v), hard: [100, 1000, 50] },
  one_minus_sigmoid: { inputs: [v3], build: ([x]) => T.sub(1, T.sigmoid(x!)), exact: (v) => sigmoid(-v), hard: [20, 50, 80] },
  sigmoid_of_exp_ratio: { inputs: [v3], build: ([x]) => T.div(T.exp(x!), T.add(1, T.exp(x!))), exact: sigmoid, hard: [100, 1000, -100] },
  sigmoid_of_reciprocal: { inputs: [v3], build: ([x]) => T.div(1, T.add(1, T.exp(T.neg(x!)))), exact: sigmoid, hard: [-100, -1000] },
  sigmoid_neg_of_reciprocal: { inputs: [v3], build: ([x]) => T.div(1, T.add(1, T.exp(x!))), exact: (v) => sigmoid(-v), hard: [100, 1000] },
  log_softmax: { inputs: [m23], build: ([x]) => T.log(T.softmax(x!)), expected: ([x]) => T.logSoftmax(x!) },
  softmax_of_exp_ratio: { inputs: [m23], build: ([x]) => T.div(T.exp(x!), T.sum(T.exp(x!), 1, true)), expected: ([x]) => T.softmax(x!, 1) },
  logsumexp: { inputs: [m23], build: ([x]) => T.log(T.sum(T.exp(x!), 1)), expected: ([x]) => T.logsumexp(x!, 1) },
  log_exp: { inputs: [v3], build: ([x]) => T.log(T.exp(x!)), exact: (v) => v, hard: [100, 1000, -1000, 1e-30] },
  exp_log: { inputs: [v3], build: ([x]) => T.exp(T.log(x!)) },
  exp_log1p: { inputs: [v3], build: ([x]) => T.exp(T.log1p(x!)) },
  keras_log_softmax_clipped: { inputs: [m23], build: ([z]) => T.log(T.clip(T.softmax(z!), eps, 1 - eps)), domain: inRange(-5, 5) },
  keras_log_softmax_normalized: {
    inputs: [m23], domain: inRange(-5, 5),
    build: ([z]) => T.log(T.clip(T.div(T.softmax(z!), T.sum(T.softmax(z!), -1, true)), eps, 1 - eps)),
  },
  keras_log_sigmoid_eps: { inputs: [v3], build: ([z]) => T.log(T.add(T.sigmoid(z!), eps)), domain: inRange(-3, 3) },
  keras_log_sigmoid_clipped: { inputs: [v3], build: ([z]) => T.log(T.clip(T.sigmoid(z!), eps, 1 - eps)), domain: inRange(-3, 3), exact: (v) => -softplus(-v), hard: [-50, -100] },
  keras_log_sigmoid_clipped_eps: { inputs: [v3], build: ([z]) => T.log(T.add(T.clip(T.sigmoid(z!), eps, 1 - eps), eps)), domain: inRange(-3, 3) },
  keras_log1m_sigmoid_clipped: { inputs: [v3], build: ([z]) => T.log(T.sub(1, T.clip(T.sigmoid(z!), eps, 1 - eps))), domain: inRange(-3, 3), exact: (v) => -softplus(v), hard: [50, 100] },
  keras_log1m_sigmoid_clipped_eps: { inputs: [v3], build: ([z]) => T.log(T.add(T.sub(1, T.clip(T.sigmoid(z!), eps, 1 - eps)), eps)), domain: inRange(-3, 3) },
  l2_normalize_epsilon: { inputs: [m23], build: ([x]) => T.div(x!, T.sqrt(T.sum(T.square(x!), 1, true))), domain: awayFromZero },
  std_epsilon: { inputs: [m23], build: ([x]) => { const c = T.sub(x!, T.mean(x!, 1, true)); return T.div(c, T.sqrt(T.mean(T.square(c), 1, true))); }, domain: fc.integer({ min: -5, max: 5 }) },

  pow_specialize: { inputs: [v3], build: ([x]) => T.add(T.pow(x!, 2), T.pow(T.abs(x!), 0.5)), expected: ([x]) => T.add(T.square(x!), T.sqrt(T.abs(x!))) },
  div_by_power_of_two: { inputs: [v3], build: ([x]) => T.div(x!, 4), expected: ([x]) => T.mul(x!, 0.25) },
  mul_self_to_square: { inputs: [v3], build: ([x]) => T.mul(x!, x!), expected: ([x]) => T.square(x!) },
  mul_minus_one: { inputs: [v3], build: ([x]) => T.exp(T.mul(x!, -1)), expected: ([x]) => T.exp(T.neg(x!)) },
  add_neg_to_sub: { inputs: [v3, ['y', [3]]], build: ([x, y]) => T.add(x!, T.neg(y!)), expected: ([x, y]) => T.sub(x!, y!) },
  matmul_transposed_operand: {
    inputs: [m23, ['y', [2, 4]]], build: ([x, y]) => T.matmul(T.transpose(x!), y!),
    expected: ([x, y]) => T.matmul(x!, y!, { transposeA: true }), domain: inRange(-5, 5),
  },
  sum_mul_to_dot: { inputs: [m23, ['y', [3]]], build: ([x, y]) => T.sum(T.mul(x!, y!), 1), expected: ([x, y]) => T.dot(x!, y!), domain: inRange(-5, 5) },

  elementwise_fusion: { inputs: [v3], build: ([x]) => T.mul(T.tanh(x!), T.sigmoid(x!)) },
  matmul_epilogue_fusion: {
    inputs: [['x', [3, 5], 'float32'], ['w', [5, 9], 'float32'], ['b', [9], 'float32']],
    build: ([x, w, b]) => T.relu(T.add(T.dot(x!, w!), b!)),
  },
};

const inputsOf = (ex: Example, dtype: T.DType = 'float64') => ex.inputs.map(([name, shape, dt]) => T.tensor(name, { dtype: dt ?? dtype, shape }));

describe('rewrite rules, one by one', () => {
  it('every rule has an example (and every example names a rule)', () => {
    expect(Object.keys(EXAMPLES).sort()).toEqual([...T.RULE_NAMES].sort());
  });

  for (const [name, ex] of Object.entries(EXAMPLES)) {
    it(`${name}: fires, and agrees with the unoptimized graph on random inputs`, async () => {
      const inputs = inputsOf(ex);
      const out = ex.build(inputs);
      const probe = await T.compile(inputs, out);
      expect(probe.stats.rewrites[name] ?? 0).toBeGreaterThan(0);
      await fc.assert(
        fc.asyncProperty(fc.tuple(...ex.inputs.map(([, shape]) => dataFor(shape, ex.domain ?? anyValue))), async (data) => {
          const values = data.map((d, i) => T.array(Float64Array.from(d), { shape: ex.inputs[i]![1] }).astype(ex.inputs[i]![2] ?? 'float64'));
          const { naive, optimized } = await bothWays(inputs, [out], values);
          // Keras's epsilon guards move results by about epsilon, by design.
          const tolerance = name.startsWith('keras') || name.endsWith('epsilon') ? 1e-5 : 1e-9;
          const verdict = optimizerAgrees(optimized[0]!.data, naive[0]!.data, tolerance, tolerance);
          if (verdict !== undefined && (await passesThroughSubnormals(inputs, out, values))) return;
          expect(verdict).toBeUndefined();
        }),
        { numRuns: 30 },
      );
    });

    if (ex.expected) {
      it(`${name}: rewrites to the expected graph`, () => {
        const inputs = inputsOf(ex);
        const [after] = optimize([ex.build(inputs)], { level: 'fast_run', exclude: ['fusion'], epsilon: eps, verify: true }).roots;
        expect(after).toBe(ex.expected!(inputs));
      });
    }

    if (ex.exact && ex.hard) {
      it(`${name}: in float32, hard inputs match the exact value within 1e-5 relative`, async () => {
        const x = T.tensor('x', { dtype: 'float32', shape: [ex.hard!.length] });
        const f = await T.compile([x], ex.build([x]));
        const inputs = ex.hard!.map(Math.fround);
        const got = f(inputs);
        inputs.forEach((v, i) => {
          const exact = ex.exact!(v);
          expect(Math.abs(got.data[i]! - exact)).toBeLessThanOrEqual(1e-5 * Math.abs(exact) + 1e-38);
        });
      });
    }
  }

  it('exclude removes a rule, and stats count every firing', async () => {
    const x = T.vector('x');
    const out = T.log(T.add(1, x));
    const on = await T.compile([x], out);
    const off = await T.compile([x], out, { exclude: ['log1p'] });
    expect(on.stats.rewrites['log1p']).toBe(1);
    expect(off.stats.rewrites['log1p']).toBeUndefined();
    expect(T.debugprint(off, { file: 'str' })).not.toMatch(/log1p/);
    await expect(T.compile([x], out, { exclude: ['log1p_typo'] })).rejects.toThrow(/unknown rewrite 'log1p_typo'/);
  });

  it("fast_compile runs only canonicalization; 'none' runs nothing", async () => {
    const x = T.vector('x');
    const out = T.log(T.add(1, T.mul(x, 1)));
    const compileOnly = await T.compile([x], out, { optimizer: 'fast_compile' });
    expect(compileOnly.stats.rewrites['mul_one']).toBe(1);
    expect(compileOnly.stats.rewrites['log1p']).toBeUndefined();
    expect(compileOnly.stats.phases.map((p) => p.phase)).toEqual(['canonicalize']);
    const none = await T.compile([x], out, { optimizer: 'none' });
    expect(none.stats.rewrites).toEqual({});
    expect(none.graph.outputs[0]).toBe(out);
  });

  it('constants larger than the folding limit stay lazy', async () => {
    const x = T.vector('x');
    const big = T.add(T.constant(T.zeros([100, 100])), 1);
    const small = T.add(T.constant(T.zeros([10])), 1);
    const f = await T.compile([x], [T.add(T.sum(big), T.sum(x)), T.add(small, x)]);
    expect(f.stats.rewrites['constant_folding']).toBe(1);
  });

  it('rewritten nodes keep the user line of the expression they replace', async () => {
    const x = T.vector('x');
    const out = T.log(T.add(1, x));
    const f = await T.compile([x], out, { exclude: ['fusion'] });
    expect(f.graph.outputs[0]!.op).toBe('log1p');
    expect(f.graph.outputs[0]!.origin).toEqual(out.origin);
  });
});
