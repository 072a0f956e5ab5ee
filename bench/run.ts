/**
 * Benchmarks. Until the wasm backend lands this measures what exists: the optimizer (node and
 * kernel counts, compile time) on the PERFORMANCE.md workloads, and the reference interpreter.
 * Peers (TF.js wasm, jax-js) join when there are kernels worth comparing with them.
 */
import * as T from '../src/index.js';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function time(fn: () => unknown, repeats = 5): Promise<number> {
  fn(); // warm-up
  const runs: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t = performance.now();
    fn();
    runs.push(performance.now() - t);
  }
  return median(runs);
}

function mlp(sizes: number[]) {
  const x = T.matrix('x');
  const y = T.matrix('y');
  const params = sizes.slice(1).flatMap((n, i) => [
    T.shared(T.randomNormal([sizes[i]!, n], { seed: i + 1, stddev: 0.05 }), `W${i}`),
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
  return { x, y, h, loss, updates: params.map((p, i) => [p, T.sub(p, T.mul(grads[i]!, 0.01))] as const) };
}

const rows: string[][] = [['workload', 'nodes before', 'nodes after', 'kernels before', 'kernels after', 'compile ms', 'run ms (js interpreter)']];

async function report(name: string, inputs: T.Node[], outputs: T.Node | T.Node[], values: T.NDArray[], updates: readonly (readonly [T.Node, T.Node])[] = []) {
  const plain = await T.compile(inputs, outputs as T.Node[], { optimizer: 'none', updates });
  const t0 = performance.now();
  const fast = await T.compile(inputs, outputs as T.Node[], { updates });
  const compileMs = performance.now() - t0;
  const ms = await time(() => fast(...values), 3);
  const kernels = (f: typeof fast) => f.program.steps.filter((s) => s.op !== 'fusedOutput').length;
  rows.push([name, String(fast.stats.nodesBefore), String(fast.stats.nodesAfter), String(kernels(plain)), String(kernels(fast)), compileMs.toFixed(1), ms.toFixed(1)]);
}

const x = T.vector('x');
const chain = T.sub(T.mul(T.tanh(T.add(T.mul(x, 1.5), 0.5)), T.sigmoid(x)), T.log(T.add(1, T.exp(x))));
await report('elementwise chain, 64K elements', [x], [chain], [T.randomNormal([65536], { seed: 1 })]);

const small = mlp([784, 512, 512, 10]);
await report('MLP 784-512-512-10 inference, batch 32', [small.x], [small.h], [T.randomNormal([32, 784], { seed: 2 })]);
const labels = T.array(Array.from({ length: 32 }, (_, i) => Array.from({ length: 10 }, (_, j) => (j === i % 10 ? 1 : 0))));
await report('MLP 784-512-512-10 SGD step, batch 32', [small.x, small.y], [small.loss], [T.randomNormal([32, 784], { seed: 2 }), labels], small.updates);

const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
for (const r of rows) console.log(r.map((cell, c) => cell.padEnd(widths[c]!)).join('  '));
