/**
 * Loops (the loops issue's rows): a 16-wide recurrence h = tanh(h·W + x_t) over sequences of a length
 * known only at call time, with its gradient, compiled once and called at 10 to 10,000 steps; per step
 * against TF.js's eager loop on its wasm backend (the same recurrence, one op at a time).
 */
import * as T from '../src/index.js';
import { steady } from './timing.js';
import { data } from './peers.js';

const WIDTH = 16;

function recurrence(withGradient: boolean) {
  const xs = T.tensor('xs', { shape: [null, WIDTH] });
  const w = T.shared(
    T.array(
      data.seeded(WIDTH * WIDTH, 50).map((v) => v * 0.2),
      { shape: [WIDTH, WIDTH] },
    ),
    'W',
  );
  const [hs] = T.scan((x: T.Node, h: T.Node) => T.tanh(T.add(T.dot(h, w), x)), {
    sequences: xs,
    outputsInfo: T.zeros([WIDTH]),
  });
  const cost = T.sum(hs as T.Node);
  return { xs, outputs: withGradient ? [cost, T.grad(cost, w)] : [cost] };
}

const sequence = (steps: number) => T.array(data.seeded(steps * WIDTH, steps), { shape: [steps, WIDTH] });

/** An LSTM(128) cell over a sequence of unknown length (64 features, batch 16) and its weights' gradient. */
function lstm(checkpoint?: number) {
  const [units, features, batch] = [128, 64, 16];
  const xs = T.tensor('xs', { shape: [null, batch, features] });
  const kernel = T.shared(
    T.array(
      data.seeded(features * 4 * units, 60).map((v) => v * 0.1),
      { shape: [features, 4 * units] },
    ),
    'kernel',
  );
  const recurrent = T.shared(
    T.array(
      data.seeded(units * 4 * units, 61).map((v) => v * 0.1),
      { shape: [units, 4 * units] },
    ),
    'recurrent',
  );
  const gate = (z: T.Node, k: number) => T.slice(z, [0, k * units], [-1, units]);
  const [[hs]] = T.scan(
    (x: T.Node, h: T.Node, c: T.Node) => {
      const z = T.add(T.dot(x, kernel), T.dot(h, recurrent));
      const next = T.add(T.mul(T.sigmoid(gate(z, 1)), c), T.mul(T.sigmoid(gate(z, 0)), T.tanh(gate(z, 2))));
      return [T.mul(T.sigmoid(gate(z, 3)), T.tanh(next)), next];
    },
    {
      sequences: xs,
      outputsInfo: [T.zeros([batch, units]), T.zeros([batch, units])],
      ...(checkpoint ? { checkpoint } : {}),
    },
  ) as [[T.Node, T.Node], unknown];
  const cost = T.mean(T.square(T.index(hs, -1)));
  return { xs, outputs: T.grad(cost, [kernel, recurrent]) };
}

/** One Adam training step of an LSTM(128) over 512 steps of 64 features, batch 16: tsano's Keras layer against TF.js's. */
async function longLstmBench(): Promise<void> {
  const sizes = { steps: 512, features: 64, units: 128, batch: 16 };
  const { tsano } = await import('./tsano.js');
  const compileStarted = performance.now();
  const step = await tsano().lstm!(true, sizes);
  const compileMs = performance.now() - compileStarted;
  const ours = steady(step, 3);
  let theirs: number | undefined;
  try {
    const { tfjsWasm } = await import('./peers.js');
    theirs = steady(await (await tfjsWasm()).lstm!(true, sizes), 2);
  } catch (e) {
    console.log(`TF.js: not available (${(e as Error).message})`);
  }
  console.log(
    `LSTM(128), 512 steps, batch 16, Adam training step: tsano ${ours.toFixed(0)} ms (compile and first step ${(compileMs / 1000).toFixed(1)} s)${theirs === undefined ? '' : `, TF.js wasm ${theirs.toFixed(0)} ms: ${(ours / theirs).toFixed(2)}x`}`,
  );
}

export async function loopsBench(): Promise<void> {
  await T.ready();
  console.log('\nloops: h = tanh(h·W + x_t), 16 wide, sequences of unknown length (one compiled function)');
  const firstCalls: Record<number, number> = {};
  // Each graph is new, its kernels are not: the modules come from the cache after this first compile.
  const warm = recurrence(true);
  (await T.compile([warm.xs], warm.outputs))(sequence(5));
  for (const steps of [10, 1000, 10000]) {
    const { xs, outputs } = recurrence(true);
    const started = performance.now();
    const f = await T.compile([xs], outputs);
    f(sequence(steps));
    firstCalls[steps] = performance.now() - started;
  }
  console.log(
    `compile + first call with the gradient: 10 steps ${firstCalls[10]!.toFixed(0)} ms, 1,000 steps ${firstCalls[1000]!.toFixed(0)} ms (${(firstCalls[1000]! / firstCalls[10]!).toFixed(1)}x), 10,000 steps ${firstCalls[10000]!.toFixed(0)} ms (${(firstCalls[10000]! / firstCalls[10]!).toFixed(1)}x)`,
  );
  const { xs, outputs } = recurrence(false);
  const fwd = await T.compile([xs], outputs);
  const both = recurrence(true);
  const train = await T.compile([both.xs], both.outputs);
  fwd(sequence(1000));
  const sequence1001 = sequence(1001);
  const newLength = (() => {
    const t = performance.now();
    fwd(sequence1001);
    return performance.now() - t;
  })();
  const sequence1000 = sequence(1000);
  const steadyForward = steady(() => fwd(sequence1000));
  const steadyBoth = steady(() => train(sequence1000));
  console.log(
    `first call at a new length (1,001 after 1,000): ${newLength.toFixed(1)} ms, ${(newLength / steadyForward).toFixed(2)}x a steady call; programs compiled: ${fwd.stats.programs}`,
  );
  console.log(
    `per step at 1,000 steps: forward ${((steadyForward * 1000) / 1000).toFixed(2)} µs, forward + gradient ${((steadyBoth * 1000) / 1000).toFixed(2)} µs (${(steadyBoth / steadyForward).toFixed(2)}x)`,
  );
  const lstmSequence = T.array(data.seeded(1000 * 16 * 64, 62), { shape: [1000, 16, 64] });
  for (const checkpoint of [undefined, 32]) {
    const { xs: input, outputs: grads } = lstm(checkpoint);
    const step = await T.compile([input], grads);
    const ms = steady(() => step(lstmSequence), 3);
    console.log(
      `LSTM(128) gradient over 1,000 steps, batch 16${checkpoint ? `, checkpoint every ${checkpoint} steps` : ''}: ${ms.toFixed(0)} ms, steps kept ${(step.stats.loopStoredBytes! / 2 ** 20).toFixed(1)} MiB`,
    );
  }
  await longLstmBench();
  try {
    const { tfjsWasm } = await import('./peers.js');
    await tfjsWasm();
    const tf = await import('@tensorflow/tfjs-core');
    const w = tf.tensor2d(
      data.seeded(WIDTH * WIDTH, 50).map((v) => v * 0.2),
      [WIDTH, WIDTH],
    );
    const x = tf.tensor2d(data.seeded(1000 * WIDTH, 1000), [1000, WIDTH]);
    const rows = tf.unstack(x).map((r) => tf.reshape(r, [1, WIDTH]));
    const eager = steady(() => {
      const out = tf.tidy(() => {
        let h = tf.zeros([1, WIDTH]);
        for (const r of rows) h = tf.tanh(tf.add(tf.matMul(h, w), r));
        return tf.sum(h);
      });
      out.dataSync();
      out.dispose();
    }, 3);
    console.log(
      `TF.js wasm eager loop, forward: ${((eager * 1000) / 1000).toFixed(2)} µs per step; tsano / TF.js: ${(steadyForward / eager).toFixed(2)}`,
    );
  } catch (e) {
    console.log(`TF.js: not available (${(e as Error).message})`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await loopsBench();
