import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import * as keras from 'tsano/keras';

// Garbage collection on demand, without starting the test process with --expose-gc: a context created
// after the flag is set gets `gc`.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** A compiled SGD training step of a small MLP (32-64-10, batch 16), its data, and its weights. */
async function trainingStep(mode: 'js' | 'wasm') {
  const x = T.matrix('x');
  const y = T.matrix('y');
  const w1 = T.shared(T.randomNormal([32, 64], { seed: 1, stddev: 0.1 }), 'w1');
  const w2 = T.shared(T.randomNormal([64, 10], { seed: 2, stddev: 0.1 }), 'w2');
  const logits = T.dot(T.relu(T.dot(x, w1)), w2);
  const cost = T.mean(T.neg(T.sum(T.mul(y, T.logSoftmax(logits)), -1)));
  const [g1, g2] = T.grad(cost, [w1, w2]);
  const step = await T.compile([x, y], cost, {
    mode,
    updates: [
      [w1, T.sub(w1, T.mul(g1!, 0.01))],
      [w2, T.sub(w2, T.mul(g2!, 0.01))],
    ],
  });
  const xs = T.randomNormal([16, 32], { seed: 3 });
  const ys = T.array(
    Array.from({ length: 16 }, (_, i) => Array.from({ length: 10 }, (_, j) => (j === i % 10 ? 1 : 0))),
  );
  return { step, run: () => step(xs, ys).item(), w1 };
}

/** Heap and memory outside it after collection; the least of three samples, since buffers outside the heap are freed in the background. */
const memory = () => {
  const samples = [0, 1, 2].map(() => {
    gc();
    const m = process.memoryUsage();
    return { heap: m.heapUsed, outside: m.external + m.arrayBuffers };
  });
  return { heap: Math.min(...samples.map((s) => s.heap)), outside: Math.min(...samples.map((s) => s.outside)) };
};

describe('memory over a long run', () => {
  for (const mode of ['js', 'wasm'] as const) {
    it(`10,000 calls of a training step: the heap, the memory outside it and wasm memory stop growing (${mode})`, async () => {
      const { step, run, w1 } = await trainingStep(mode);
      for (let i = 0; i < 2000; i++) run();
      const early = { ...memory(), wasm: step.stats.wasmMemoryPeak ?? 0 };
      let loss = 0;
      for (let i = 0; i < 8000; i++) loss = run();
      const late = { ...memory(), wasm: step.stats.wasmMemoryPeak ?? 0 };
      expect(Number.isFinite(loss)).toBe(true);
      // 8,000 more calls: a leak of even 256 bytes of objects a call would add 2 MB to the heap; one leaked
      // array of the batch (2 KiB) a call, 16 MB outside it. Buffers outside the heap drift by a few MB with
      // other work in the process.
      expect(late.heap - early.heap).toBeLessThan(1 << 20);
      expect(late.outside - early.outside).toBeLessThan(4 << 20);
      expect(late.wasm).toBe(early.wasm);
      if (mode === 'wasm') expect(early.wasm).toBeGreaterThan(0);

      step.dispose();
      expect(() => step(T.zeros([16, 32]), T.zeros([16, 10]))).toThrow(T.DisposedError);
      expect(() => step(T.zeros([16, 32]), T.zeros([16, 10]))).toThrow(/was disposed; compile it again/);
      // The weights the step kept in its wasm memory came back to JavaScript.
      expect(Array.prototype.every.call(w1.get().data, Number.isFinite)).toBe(true);
      step.dispose();
    }, 120_000);
  }

  it('dispose() releases a wasm function at once; the trained weights stay', async () => {
    const { step, run, w1 } = await trainingStep('wasm');
    run();
    const trained = w1.get().clone();
    run();
    const latest = Array.from(w1.get().data);
    expect(latest).not.toEqual(Array.from(trained.data));
    step.dispose();
    expect(Array.from(w1.get().data)).toEqual(latest);
  });

  it('model.dispose() releases its compiled functions; using it afterwards is a DisposedError', async () => {
    const model = keras.sequential({ layers: [keras.layers.dense({ units: 2, inputShape: [3] })] });
    model.compile({ optimizer: 'sgd', loss: 'mse' });
    const x = T.randomNormal([4, 3], { seed: 1 });
    await model.fit(x, T.zeros([4, 2]), { verbose: 0 });
    await model.predict(x);
    model.dispose();
    expect(() => model.predict(x)).toThrow(T.DisposedError);
    await expect(model.fit(x, T.zeros([4, 2]), { verbose: 0 })).rejects.toThrow(/fit: the model was disposed/);
    expect(model.getWeights()).toHaveLength(2);
  });
});
