/**
 * CategoryEncoding and Discretization against the same encodings written as plain loops (Keras 3's
 * rules: one_hot adds an axis, replacing a last axis of 1; multi_hot and count replace the last axis),
 * saved and loaded, and their argument errors.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import * as T from 'tsano';
import * as keras from 'tsano/keras';

const work = mkdtempSync(path.join(os.tmpdir(), 'tsano-preprocessing-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** multi_hot / count of each row of `tokens` ([rows, n]) over `depth`, as loops. */
function encodeRows(tokens: number[][], depth: number, mode: 'multi_hot' | 'count'): number[] {
  return tokens.flatMap((row) => {
    const out = new Array<number>(depth).fill(0);
    for (const t of row) if (t >= 0 && t < depth) out[t] = mode === 'count' ? out[t]! + 1 : 1;
    return out;
  });
}

const apply = async (layer: { apply(x: T.Node): unknown }, x: T.NDArray) => {
  const input = T.tensor('x', { shape: [...x.shape], dtype: x.dtype });
  const f = await T.compile([input], layer.apply(input) as T.Node);
  return f(x) as T.NDArray;
};

describe('keras.layers.categoryEncoding', () => {
  it('multi_hot (default), count and one_hot against loops, at random sizes and tokens', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 8 }),
        fc.nat(),
        async (rows, n, depth, seed) => {
          const tokens = Array.from({ length: rows }, (_, r) =>
            Array.from({ length: n }, (_, k) => (seed + r * 7 + k * 3) % depth),
          );
          const x = T.array(tokens.flat(), [rows, n], 'int32');
          for (const mode of ['multi_hot', 'count'] as const) {
            const y = await apply(
              keras.layers.categoryEncoding({ numTokens: depth, ...(mode === 'count' ? { outputMode: mode } : {}) }),
              x,
            );
            expect([...y.shape]).toEqual([rows, depth]);
            expect(Array.from(y.data)).toEqual(encodeRows(tokens, depth, mode));
          }
          const hot = await apply(keras.layers.categoryEncoding({ numTokens: depth, outputMode: 'one_hot' }), x);
          expect([...hot.shape]).toEqual(n === 1 ? [rows, depth] : [rows, n, depth]);
          expect(Array.from(hot.data)).toEqual(
            tokens.flat().flatMap((t) => Array.from({ length: depth }, (_, d) => (d === t ? 1 : 0))),
          );
        },
      ),
      { numRuns: 25 },
    );
  });

  it('in a model: shapes as Keras computes them, saved and loaded', async () => {
    const model = keras.sequential({
      layers: [keras.layers.categoryEncoding({ numTokens: 5, outputMode: 'count', inputShape: [3] })],
    });
    expect(model.outputs[0]!.shape).toEqual([null, 5]);
    const x = T.array([0, 4, 4, 1, 1, 1], [2, 3]);
    const before = model.predict(x) as T.NDArray;
    expect(Array.from(before.data)).toEqual([1, 0, 0, 0, 2, 0, 3, 0, 0, 0]);
    const file = path.join(work, 'encoding.keras');
    await model.save(file);
    const loaded = await keras.loadModel(file);
    expect(Array.from((loaded.predict(x) as T.NDArray).data)).toEqual(Array.from(before.data));
  });

  it('arguments are checked when the layer is made', () => {
    expect(() => keras.layers.categoryEncoding({ numTokens: 0 })).toThrow(/numTokens/);
    expect(() => keras.layers.categoryEncoding({ numTokens: 3, outputMode: 'tf_idf' as 'count' })).toThrow(
      /outputMode must be one of 'one_hot', 'multi_hot', 'count', got 'tf_idf'/,
    );
  });
});

describe('keras.layers.discretization', () => {
  it('bin indices are the number of boundaries at or below each value, against a loop; encodings of the bins', async () => {
    const edges = [-1, 0, 0.5, 2];
    const values = [-3, -1, -0.999, 0, 0.25, 0.5, 1.9, 2, 7, -0];
    const x = T.array(values, [2, 5]);
    const index = await apply(keras.layers.discretization({ binBoundaries: edges }), x);
    expect(index.dtype).toBe('int32');
    expect(Array.from(index.data)).toEqual(values.map((v) => edges.filter((e) => e <= v).length));
    const hot = await apply(keras.layers.discretization({ binBoundaries: edges, outputMode: 'multi_hot' }), x);
    expect([...hot.shape]).toEqual([2, 5]);
    const bins = values.map((v) => edges.filter((e) => e <= v).length);
    expect(Array.from(hot.data)).toEqual(encodeRows([bins.slice(0, 5), bins.slice(5)], 5, 'multi_hot'));
  });

  it('adapt learns quantile edges: numBins bins of about equal counts; the edges are saved', async () => {
    const layer = keras.layers.discretization({ numBins: 4 });
    const data = T.randomNormal([4000], { seed: 3 });
    layer.adapt(data);
    expect(layer.binBoundaries).toHaveLength(3);
    const counts = [0, 0, 0, 0];
    const bins = await apply(layer, data);
    for (const b of bins.data) counts[b]!++;
    for (const c of counts) expect(Math.abs(c - 1000)).toBeLessThanOrEqual(2);
    const model = keras.sequential({ layers: [keras.layers.dense({ units: 1, inputShape: [1] }), layer] });
    const file = path.join(work, 'bins.keras');
    await model.save(file);
    const loaded = await keras.loadModel(file);
    const x = T.randomNormal([6, 1], { seed: 4 });
    expect(Array.from((loaded.predict(x) as T.NDArray).data)).toEqual(Array.from((model.predict(x) as T.NDArray).data));
  });

  it('arguments are checked when the layer is made, and adapt before use', async () => {
    expect(() => keras.layers.discretization({ binBoundaries: [1, 0] })).toThrow(/sorted numbers/);
    expect(() => keras.layers.discretization({ binBoundaries: [0], numBins: 2 })).toThrow(/not both/);
    expect(() => keras.layers.discretization({})).toThrow(/give binBoundaries, or numBins and call adapt/);
    await expect(apply(keras.layers.discretization({ numBins: 3 }), T.zeros([2]))).rejects.toThrow(/call adapt before/);
  });
});
