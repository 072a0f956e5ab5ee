import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as tf from 'tsano/tf';

/** tf.data's sources and combinators, and fitDataset / evaluateDataset, as TF.js spells them. */
describe('tf.data', () => {
  it('array, generator and csv sources; map, filter, take, skip, repeat, shuffle (seeded) and batch', async () => {
    const numbers = tf.data.array([1, 2, 3, 4, 5, 6, 7]);
    expect(
      await numbers
        .map((x) => x * 10)
        .filter((x) => x !== 30)
        .skip(1)
        .take(3)
        .toArray(),
    ).toEqual([20, 40, 50]);
    expect(await numbers.take(2).repeat(3).toArray()).toEqual([1, 2, 1, 2, 1, 2]);
    const shuffled = await numbers.shuffle(4, 'seed').toArray();
    expect([...shuffled].sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(await numbers.shuffle(4, 'seed').toArray()).not.toEqual([1, 2, 3, 4, 5, 6, 7]);
    const batches = await numbers.batch(3).toArray();
    expect(batches.map((b) => Array.from(b.data))).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
    expect((await numbers.batch(3, false).toArray()).length).toBe(2);
    const pairs = await tf.data
      .generator(function* () {
        for (let i = 0; i < 4; i++) yield { xs: [i, i + 1], ys: [2 * i] };
      })
      .batch(2)
      .toArray();
    expect(pairs[0]!.xs.shape).toEqual([2, 2]);
    expect(Array.from(pairs[1]!.ys.data)).toEqual([4, 6]);

    const dir = mkdtempSync(path.join(os.tmpdir(), 'tsano-csv-'));
    const file = path.join(dir, 'data.csv');
    writeFileSync(file, 'a,b,label\n1,2,0\n3,"4",1\n5,6,0\n');
    const rows = await tf.data.csv(file, { columnConfigs: { label: { isLabel: true } } }).toArray();
    expect(rows[1]).toEqual({ xs: { a: 3, b: 4 }, ys: { label: 1 } });
    await expect(tf.data.csv(file, { hasHeader: false }).toArray()).rejects.toThrow(/no column names/);
  });

  it('model.fitDataset trains on {xs, ys} batches (a History per epoch, batchesPerEpoch, validation) and evaluateDataset averages', async () => {
    const model = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [2] })] });
    model.compile({ optimizer: tf.train.sgd(0.1), loss: 'meanSquaredError' });
    const samples = Array.from({ length: 32 }, (_, i) => {
      const [a, b] = [Math.sin(i), Math.cos(i)];
      return { xs: [a, b], ys: [2 * a - b + 0.5] };
    });
    const dataset = tf.data.array(samples).shuffle(8, 1).batch(8);
    const before = (await model.evaluateDataset(dataset as never)) as number;
    const history = await model.fitDataset(dataset as never, { epochs: 20, validationData: dataset as never });
    expect(history.history['loss']!.length).toBe(20);
    expect(history.history['val_loss']!.length).toBe(20);
    const after = (await model.evaluateDataset(dataset as never)) as number;
    expect(after).toBeLessThan(before / 10);
    const short = await model.fitDataset(tf.data.array(samples).batch(8).repeat() as never, {
      epochs: 2,
      batchesPerEpoch: 3,
    });
    expect(short.epoch).toEqual([0, 1]);
  });
});
