import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import { toposort } from '../compiler/ir/graph.js';
import { dataFor, inRange } from './helpers/arbitraries.js';
import { bothWays, optimizerAgrees } from './helpers/optimizer.js';

const kernelsOf = (f: T.CompiledFunction<unknown>) => f.program.steps.filter((s) => s.op !== 'fusedOutput').length;

/** A 784-512-512-10 style MLP (smaller sizes), its cross-entropy, gradients and Adam-free SGD updates. */
function mlpTraining(sizes = [20, 16, 16, 4]) {
  const x = T.matrix('x');
  const y = T.matrix('y');
  const params = sizes
    .slice(1)
    .flatMap((n, i) => [
      T.shared(T.randomNormal([sizes[i]!, n], { seed: i + 1, stddev: 0.1 }), `W${i}`),
      T.shared(T.zeros([n]), `b${i}`),
    ]);
  let h: T.Node = x;
  for (let i = 0; i < params.length; i += 2) {
    const z = T.add(T.dot(h, params[i]!), params[i + 1]!);
    h = i + 2 < params.length ? T.relu(z) : T.softmax(z);
  }
  const eps = T.epsilon();
  const loss = T.mean(T.neg(T.sum(T.mul(y, T.log(T.clip(h, eps, 1 - eps))), -1)));
  const grads = T.grad(loss, params);
  const updates = params.map((p, i) => [p, T.sub(p, T.mul(grads[i]!, 0.1))] as const);
  return { x, y, loss, updates, sizes };
}

describe('elementwise fusion', () => {
  it("PERFORMANCE.md's 9-op chain tanh(1.5x+0.5)*sigmoid(x) - log(1+exp(x)) becomes exactly one kernel", async () => {
    const x = T.vector('x');
    const chain = T.sub(T.mul(T.tanh(T.add(T.mul(x, 1.5), 0.5)), T.sigmoid(x)), T.log(T.add(1, T.exp(x))));
    const f = await T.compile([x], chain);
    expect(f.program.steps).toHaveLength(1);
    expect(f.graph.outputs[0]!.op).toBe('fused');
    const unfused = await T.compile([x], chain, { optimizer: 'none' });
    expect(unfused.program.steps).toHaveLength(9);
    const values = new Float32Array([-100, -1, 0, 0.5, 3, 100]);
    const got = f(values);
    const exact = Array.from(
      values,
      (v) =>
        Math.tanh(1.5 * v + 0.5) / (1 + Math.exp(-v)) -
        (v > 0 ? v + Math.log1p(Math.exp(-v)) : Math.log1p(Math.exp(v))),
    );
    got.data.forEach((g, i) =>
      expect(Math.abs(g - exact[i]!)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(exact[i]!))),
    );
    expect(unfused(values).data[5]).toBe(-Infinity); // the unoptimized graph overflows at x = 100
  });

  it('a value used inside and outside a region becomes an extra output instead of being computed twice', async () => {
    const x = T.vector('x', 'float64');
    const e = T.exp(T.mul(x, 2));
    const a = T.tanh(T.add(e, 1));
    const f = await T.compile([x], [a, T.sum(e)]);
    const fused = toposort(f.graph.outputs).filter((n) => n.op === 'fused');
    const exps = fused.flatMap((n) => (n as T.Node<'fused'>).args.instrs.filter((i) => i.op === 'exp'));
    expect(exps).toHaveLength(1);
    const [ra, rs] = f([0.1, 0.2]);
    expect(ra!.data[0]).toBeCloseTo(Math.tanh(Math.exp(0.2) + 1), 12);
    expect(rs!.item()).toBeCloseTo(Math.exp(0.2) + Math.exp(0.4), 12);
  });

  it('an elementwise producer feeding a reduction fuses into one kernel with the reduction', async () => {
    const x = T.matrix('x', 'float64');
    const m = T.max(x, 1, true);
    const f = await T.compile([x], T.sum(T.exp(T.sub(x, m)), 1));
    const last = f.graph.outputs[0]! as T.Node<'fused'>;
    expect(last.op).toBe('fused');
    expect(last.args.reduce?.op).toBe('sum');
    expect(kernelsOf(f)).toBe(2); // the max, then exp(x - max) summed
  });

  it("never forms a non-convex region (Theano's example add(sin(exp(x)), sum(exp(x))))", async () => {
    const x = T.vector('x', 'float64');
    const e = T.exp(x);
    const out = T.add(T.sin(e), T.sum(e));
    const { naive, optimized, fast } = await bothWays([x], [out], [T.array([0.1, -0.3, 2], { dtype: 'float64' })]);
    expect(optimizerAgrees(optimized[0]!.data, naive[0]!.data, 1e-12, 1e-12)).toBeUndefined();
    // exp is computed once: either fused with sin/add (and read by sum as an extra output) or on its own
    const exps = toposort(fast.graph.outputs).flatMap((n): unknown[] =>
      n.op === 'fused' ? (n as T.Node<'fused'>).args.instrs.filter((i) => i.op === 'exp') : n.op === 'exp' ? [n] : [],
    );
    expect(exps).toHaveLength(1);
  });

  it('fused kernels give the same values as the unfused graph under broadcasting (property)', async () => {
    const arb = fc
      .tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }))
      .chain(([r, c]) =>
        fc
          .tuple(dataFor([r, c], inRange(-4, 4)), dataFor([c], inRange(-4, 4)), dataFor([r, 1], inRange(-4, 4)))
          .map((d) => ({ r, c, d })),
      );
    await fc.assert(
      fc.asyncProperty(arb, async ({ r, c, d }) => {
        const a = T.matrix('a', 'float64');
        const b = T.vector('b', 'float64');
        const col = T.matrix('col', 'float64');
        const h = T.tanh(T.add(T.mul(a, b), col));
        const outs = [T.mul(h, T.sigmoid(b)), T.sum(T.square(T.sub(h, col)), 0), h];
        const values = [
          T.array(Float64Array.from(d[0]), { shape: [r, c] }),
          T.array(Float64Array.from(d[1])),
          T.array(Float64Array.from(d[2]), { shape: [r, 1] }),
        ];
        const { naive, optimized } = await bothWays([a, b, col], outs, values);
        naive.forEach((n, i) => expect(optimizerAgrees(optimized[i]!.data, n.data, 1e-12, 1e-12)).toBeUndefined());
      }),
      { numRuns: 40 },
    );
  });

  it('index arithmetic (tril, triu, eye) and the float work that reads it fuse apart, both in wasm', async () => {
    await T.ready();
    for (const make of [
      (x: T.Node) => T.add(T.tril(x), 1),
      (x: T.Node) => T.mul(T.triu(x, 1), 2),
      // Too big to fold when the graph is built: the mask is computed at call time.
      (x: T.Node) => T.add(x, T.tril(T.ones([128, 128]))),
    ]) {
      const x = T.tensor('x', { shape: [3, 128, 128] });
      const value = T.randomNormal([3, 128, 128], { seed: 9 });
      const fused = await T.compile([x], make(x));
      const reference = await T.compile([x], make(x), { mode: 'js' });
      // Before, one region mixed int32 index work with float work and no wasm kernel took it.
      expect(fused.stats.referenceSteps).toBe(0);
      expect(Array.from(fused(value).data)).toEqual(Array.from(reference(value).data));
    }
  });

  it('a reduction over a per-channel broadcast (NCHW bias, then the spatial mean) runs in wasm kernels', async () => {
    await T.ready();
    const bias = T.constant(T.randomNormal([1, 6, 1, 1], { seed: 2 }));
    for (const make of [
      (x: T.Node) => T.mean(T.add(x, bias), [2, 3], true),
      (x: T.Node) => T.sum(T.mul(T.relu(x), bias), [1, 2, 3]),
      (x: T.Node) => T.max(T.add(T.exp(x), bias), [2, 3]),
    ]) {
      const x = T.tensor('x', { shape: [null, 6, 5, 5] });
      const value = T.randomNormal([4, 6, 5, 5], { seed: 3 });
      const fused = await T.compile([x], make(x));
      const reference = await T.compile([x], make(x), { mode: 'js' });
      // Before, the bias fused into the reduction, whose kernel reads operands along the last axis only.
      expect(fused.stats.referenceSteps).toBe(0);
      const [got, want] = [fused(value).data, reference(value).data];
      got.forEach((v, i) => expect(Math.abs(v - want[i]!)).toBeLessThan(1e-5 * (1 + Math.abs(want[i]!))));
    }
  });

  it('an MLP training step: fewer nodes and kernels, same results', async () => {
    const mlp = mlpTraining();
    const fast = await T.compile([mlp.x, mlp.y], mlp.loss, { updates: mlp.updates });
    const plainUpdates = mlp.updates.map(([p, e]) => [p, e] as const);
    const plain = await T.compile([mlp.x, mlp.y], mlp.loss, { updates: plainUpdates, optimizer: 'none' });
    expect(fast.stats.nodesAfter).toBeLessThan(fast.stats.nodesBefore);
    expect(kernelsOf(fast)).toBeLessThan(kernelsOf(plain));
    expect(fast.stats.rewrites['elementwise_fusion']).toBeGreaterThan(0);
    expect(fast.stats.rewrites['keras_log_softmax_clipped']).toBe(1);
    const x = T.randomNormal([8, mlp.sizes[0]!], { seed: 9 });
    const labels = T.array(
      Array.from({ length: 8 }, (_, i) => Array.from({ length: 4 }, (_, j) => (j === i % 4 ? 1 : 0))),
    );
    // Same loss before the update (the clip is inactive on these moderate logits).
    const fastEval = await T.compile([mlp.x, mlp.y], mlp.loss);
    const plainEval = await T.compile([mlp.x, mlp.y], mlp.loss, { optimizer: 'none' });
    expect(fastEval(x, labels).item()).toBeCloseTo(plainEval(x, labels).item(), 5);
  });
});

describe('optimizer observability', () => {
  it('TSANO_DEBUG=passes logs each phase with node counts and time; debugprint shows before and after', async () => {
    const x = T.vector('x');
    const out = T.log(T.add(1, T.exp(x)));
    const lines: string[] = [];
    const original = console.error;
    process.env['TSANO_DEBUG'] = 'passes';
    console.error = (...args: unknown[]) => void lines.push(args.join(' '));
    try {
      const f = await T.compile([x], out);
      expect(T.debugprint(f, { file: 'str', stage: 'before' })).toMatch(/^log \[id A\]/);
      expect(T.debugprint(f, { file: 'str' })).toMatch(/^softplus \[id A\]/);
    } finally {
      console.error = original;
      delete process.env['TSANO_DEBUG'];
    }
    expect(lines.some((l) => /tsano: canonicalize\s+\d+ -> \d+ nodes, [\d.]+ ms/.test(l))).toBe(true);
    expect(lines.some((l) => /tsano: stabilize\s+5 -> 2 nodes/.test(l))).toBe(true);
  });
});

export { mlpTraining };
