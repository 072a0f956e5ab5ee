import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as T from 'tsano';
import * as keras from 'tsano/keras';

// Weights take floatx: float64 here, so the layer is compared with a float64 loop to 1e-10.
beforeAll(() => keras.backend.setFloatx('float64'));
afterAll(() => keras.backend.setFloatx('float32'));

type Array3 = number[][][];

const toArray3 = (a: T.NDArray): Array3 => {
  const [b, t, d] = a.shape as [number, number, number];
  return Array.from({ length: b }, (_, i) =>
    Array.from({ length: t }, (_, s) => Array.from(a.data.subarray((i * t + s) * d, (i * t + s + 1) * d))),
  );
};

/**
 * Keras 3's MultiHeadAttention written out as loops, from its definition: per head, q = x·Wq + bq scaled
 * by 1/√key_dim, scores q·k over the key steps with masked pairs at -1e9, softmax, the weighted sum of
 * values, and the heads projected back.
 */
function reference(
  query: Array3,
  value: Array3,
  weights: T.NDArray[],
  allowed: (b: number, t: number, s: number) => boolean,
): Array3 {
  const [wq, bq, wk, bk, wv, bv, wo, bo] = weights as [
    T.NDArray,
    T.NDArray,
    T.NDArray,
    T.NDArray,
    T.NDArray,
    T.NDArray,
    T.NDArray,
    T.NDArray,
  ];
  const [, heads, keyDim] = wq.shape as [number, number, number];
  const valueDim = wv.shape[2]!;
  const out = bo.shape[0]!;
  const project = (x: number[], w: T.NDArray, bias: T.NDArray, h: number, size: number) =>
    Array.from({ length: size }, (_, k) => {
      let s = bias.data[h * size + k]!;
      x.forEach((v, d) => (s += v * w.data[(d * heads + h) * size + k]!));
      return s;
    });
  return query.map((rows, b) =>
    rows.map((x, t) => {
      const result = Array.from({ length: out }, (_, o) => bo.data[o]!);
      for (let h = 0; h < heads; h++) {
        const q = project(x, wq, bq, h, keyDim).map((v) => v / Math.sqrt(keyDim));
        const scores = value[b]!.map((kv, s) => {
          const k = project(kv, wk, bk, h, keyDim);
          const dot = q.reduce((acc, v, i) => acc + v * k[i]!, 0);
          return allowed(b, t, s) ? dot : dot - 1e9;
        });
        const top = Math.max(...scores);
        const e = scores.map((v) => Math.exp(v - top));
        const total = e.reduce((a, c) => a + c, 0);
        const mixed = new Array<number>(valueDim).fill(0);
        value[b]!.forEach((vv, s) =>
          project(vv, wv, bv, h, valueDim).forEach((v, i) => (mixed[i]! += (e[s]! / total) * v)),
        );
        for (let o = 0; o < out; o++)
          for (let i = 0; i < valueDim; i++) result[o]! += mixed[i]! * wo.data[(h * valueDim + i) * out + o]!;
      }
      return result;
    }),
  );
}

const closeTo = (got: Array3, want: Array3, tolerance: number) =>
  got.flat(2).forEach((v, i) => expect(Math.abs(v - want.flat(2)[i]!)).toBeLessThan(tolerance));

describe('MultiHeadAttention', () => {
  it('equals the attention written out as loops: self and cross attention, causal masks, both modes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 3 }),
        fc.boolean(),
        fc.boolean(),
        fc.constantFrom<T.Mode>('js', 'wasm'),
        async (batch, tq, tv, heads, cross, causal, mode) => {
          const features = 4;
          const valueSteps = cross ? tv : tq;
          const layer = keras.layers.multiHeadAttention({
            numHeads: heads,
            keyDim: 3,
            valueDim: 2,
            outputShape: 5,
            useCausalMask: causal,
          });
          const q = T.tensor('q', { shape: [null, tq, features], dtype: 'float64' });
          const v = cross ? T.tensor('v', { shape: [null, tv, 3], dtype: 'float64' }) : q;
          const y = layer.apply(cross ? [q, v] : [q, q]);
          expect(y.shape).toEqual([null, tq, 5]);
          const xs = [T.randomNormal([batch, tq, features], { seed: batch + tq, dtype: 'float64' })];
          if (cross) xs.push(T.randomNormal([batch, tv, 3], { seed: tv + 7, dtype: 'float64' }));
          const f = await T.compile(cross ? [q, v] : [q], y, { mode });
          // Random weights, biases included: a bias left out or misplaced shows.
          layer.setWeights(
            layer.getWeights().map((w, i) => T.randomNormal([...w.shape], { seed: 40 + i, dtype: 'float64' })),
          );
          const got = toArray3(f(...xs));
          const want = reference(
            toArray3(xs[0]!),
            toArray3(xs[cross ? 1 : 0]!),
            layer.getWeights(),
            (_b, t, s) => !causal || s <= t,
          );
          closeTo(got, want, 1e-9);
          void valueSteps;
        },
      ),
      { numRuns: 25 },
    );
  });

  it('masks padded steps of the keys (an Embedding with maskZero) as Keras does', async () => {
    const tokens = T.tensor('tokens', { shape: [null, 4], dtype: 'int32' });
    const embedded = keras.layers.embedding({ inputDim: 6, outputDim: 4, maskZero: true }).apply(tokens);
    const layer = keras.layers.multiHeadAttention({ numHeads: 2, keyDim: 2 });
    const y = layer.apply([embedded, embedded]);
    const ids = T.array([3, 1, 0, 0, 2, 5, 4, 0], { shape: [2, 4], dtype: 'int32' });
    const f = await T.compile([tokens], [embedded, y]);
    const [e, got] = f(ids);
    const pad = (b: number, s: number) => ids.data[b * 4 + s] !== 0;
    // Keras masks a pair unless both its query step and its key step are unpadded: a padded query step's
    // row is then masked whole, which shifts every score alike (its softmax is the unmasked one).
    const want = reference(toArray3(e!), toArray3(e!), layer.getWeights(), (b, t, s) => pad(b, t) && pad(b, s));
    closeTo(toArray3(got!), want, 1e-9);
  });

  it('saves and loads in the .keras (sublayer variables) and TF.js formats', async () => {
    const x = keras.input({ shape: [3, 4], name: 'x' });
    const y = keras.layers.multiHeadAttention({ numHeads: 2, keyDim: 3, name: 'attend' }).apply([x, x]);
    const model = keras.model({ inputs: x, outputs: y });
    const input = T.randomNormal([2, 3, 4], { seed: 9, dtype: 'float64' });
    const expected = (model.predict(input) as T.NDArray).data;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tsano-attention-'));
    for (const [target, file] of [
      [path.join(dir, 'm.keras'), path.join(dir, 'm.keras')],
      [path.join(dir, 'tfjs'), path.join(dir, 'tfjs', 'model.json')],
    ]) {
      await model.save(target!);
      const loaded = await keras.loadModel(file!);
      expect(loaded.getWeights().map((w) => w.shape)).toEqual(model.getWeights().map((w) => w.shape));
      (loaded.predict(input) as T.NDArray).data.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 6));
    }
  });

  it('refuses what it cannot compute, naming the layer', () => {
    const layer = keras.layers.multiHeadAttention({ numHeads: 2, keyDim: 3, name: 'attend' });
    const x = T.tensor('x', { shape: [null, 3, 4] });
    expect(() => layer.apply(x)).toThrow(/multiHeadAttention attend: apply takes \[query, value\]/);
    expect(() => layer.apply([T.matrix('m'), T.matrix('n')])).toThrow(
      /attend: the query must be \[batch, steps, features\]/,
    );
    expect(() => keras.layers.multiHeadAttention({ numHeads: 0, keyDim: 3 })).toThrow(
      /numHeads must be a positive integer/,
    );
  });
});
