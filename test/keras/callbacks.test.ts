import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as T from 'tsano';
import * as keras from 'tsano/keras';

/** ReduceLROnPlateau, LearningRateScheduler, ModelCheckpoint and CSVLogger, with Keras's rules. */

const work = mkdtempSync(path.join(os.tmpdir(), 'tsano-callbacks-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function model(learningRate = 0.1) {
  const m = keras.sequential({ layers: [keras.layers.dense({ units: 1, inputShape: [2] })] });
  m.compile({ optimizer: keras.optimizers.sgd({ learningRate }), loss: 'mse' });
  return m;
}
const x = T.randomNormal([16, 2], { seed: 1 });
const y = T.randomNormal([16, 1], { seed: 2 });

/** A callback that feeds `values` as the monitored log of each epoch and records the rate before it. */
function scripted(values: number[], rates: number[]): keras.Callback {
  let m: keras.AnyLayersModel | undefined;
  return {
    setModel: (model) => void (m = model),
    onEpochEnd: (epoch, logs) => {
      rates.push(m!.optimizer!.learningRate);
      logs['val_loss'] = values[epoch]!;
    },
  };
}

describe('Keras callbacks', () => {
  it('ReduceLROnPlateau: factor after patience epochs without improvement, then cooldown, never below minLr', async () => {
    const m = model(1);
    const rates: number[] = [];
    const values = [5, 4, 4, 4, 4, 4, 4, 4, 4, 4];
    const reduce = keras.callbacks.reduceLROnPlateau({ patience: 2, factor: 0.5, cooldown: 1, minLr: 0.2 });
    await m.fit(x, y, {
      epochs: values.length,
      batchSize: 16,
      verbose: 0,
      callbacks: [scripted(values, rates), reduce],
    });
    // Keras's rule, by hand: epochs 3 and 4 wait; reduce at the 2nd wait (epoch index 3), cooldown 1, ...
    const expected: number[] = [];
    let [lr, best, wait, cooldown] = [1, Infinity, 0, 0];
    for (const v of values) {
      expected.push(lr);
      if (cooldown > 0) (cooldown--, (wait = 0));
      if (v < best - 1e-4) [best, wait] = [v, 0];
      else if (cooldown === 0 && ++wait >= 2 && lr > Math.fround(0.2))
        [lr, cooldown, wait] = [Math.max(lr * 0.5, 0.2), 1, 0];
    }
    expect(rates).toEqual(expected);
    expect(m.optimizer!.learningRate).toBe(0.2);
    expect(() => keras.callbacks.reduceLROnPlateau({ factor: 1 })).toThrow(/factor must be in \(0, 1\)/);
  });

  it('EarlyStopping stops after patience epochs without an improvement beyond minDelta, in the monitored direction', async () => {
    const epochsRun = async (values: number[], args: Parameters<typeof keras.callbacks.earlyStopping>[0]) => {
      const m = model();
      const history = await m.fit(x, y, {
        epochs: values.length,
        batchSize: 16,
        verbose: 0,
        callbacks: [scripted(values, []), keras.callbacks.earlyStopping(args)],
      });
      return history.epoch.length;
    };
    // Improves at epochs 1 and 2, then waits: stops at the third epoch without one (patience 2).
    expect(await epochsRun([5, 4, 3, 3, 3, 3, 3], { patience: 2 })).toBe(6);
    // An improvement smaller than minDelta does not count.
    expect(await epochsRun([5, 4.95, 4.9, 4.85, 1], { patience: 1, minDelta: 0.1 })).toBe(3);
    // Upwards for accuracy-like monitors, or when asked.
    expect(await epochsRun([1, 2, 3, 4, 5], { patience: 0, mode: 'max' })).toBe(5);
    expect(await epochsRun([1, 2, 3, 4, 5], { patience: 0 })).toBe(2);
  });

  it('LearningRateScheduler sets the rate at each epoch start, and the step uses it', async () => {
    const m = model(0.1);
    const seen: number[] = [];
    await m.fit(x, y, {
      epochs: 3,
      batchSize: 16,
      verbose: 0,
      callbacks: [
        keras.callbacks.learningRateScheduler((epoch, lr) => (epoch === 0 ? lr : lr / 10)),
        { onEpochEnd: () => void seen.push(m.optimizer!.learningRate) },
      ],
    });
    expect(seen.map((v) => +v.toPrecision(12))).toEqual([0.1, 0.01, 0.001]);
    // The rate reaches the compiled step: a zero rate leaves the weights as they are.
    const frozen = model(0.1);
    await frozen.fit(x, y, { epochs: 1, batchSize: 16, verbose: 0 });
    const before = frozen.getWeights().map((w) => Array.from(w.data));
    await frozen.fit(x, y, {
      epochs: 1,
      batchSize: 16,
      verbose: 0,
      callbacks: [keras.callbacks.learningRateScheduler(() => 0)],
    });
    expect(frozen.getWeights().map((w) => Array.from(w.data))).toEqual(before);
    expect(() => keras.callbacks.learningRateScheduler(0 as never)).toThrow(/expected a function/);
  });

  it('ModelCheckpoint saves each epoch, or only improvements, under a formatted path', async () => {
    const m = model();
    const every = keras.callbacks.modelCheckpoint({ filepath: path.join(work, 'every-{epoch:02d}') });
    const best = keras.callbacks.modelCheckpoint({ filepath: path.join(work, 'best-{epoch}'), saveBestOnly: true });
    const values = [3, 2, 2.5, 1];
    await m.fit(x, y, { epochs: 4, batchSize: 16, verbose: 0, callbacks: [scripted(values, []), every, best] });
    expect(every.saved.map((p) => path.basename(p))).toEqual(['every-01', 'every-02', 'every-03', 'every-04']);
    expect(best.saved.map((p) => path.basename(p))).toEqual(['best-1', 'best-2', 'best-4']);
    const loaded = await keras.models.loadModel(path.join(work, 'every-04', 'model.json'));
    expect(loaded.getWeights().map((w) => Array.from(w.data))).toEqual(m.getWeights().map((w) => Array.from(w.data)));
  });

  it('CSVLogger writes a header and a row per epoch, and appends without a second header', async () => {
    const file = path.join(work, 'log.csv');
    const m = keras.sequential({ layers: [keras.layers.dense({ units: 1, inputShape: [2] })] });
    m.compile({ optimizer: 'sgd', loss: 'mse', metrics: ['mae'] });
    await m.fit(x, y, { epochs: 2, batchSize: 8, verbose: 0, callbacks: [keras.callbacks.csvLogger(file)] });
    const history = await m.fit(x, y, {
      epochs: 1,
      batchSize: 8,
      verbose: 0,
      callbacks: [keras.callbacks.csvLogger(file, { append: true })],
    });
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('epoch,loss,mae');
    expect(lines.map((l) => l.split(',')[0])).toEqual(['epoch', '0', '1', '0']);
    expect(Number(lines[3]!.split(',')[1])).toBe(history.history['loss']![0]);
    expect(existsSync(file)).toBe(true);
  });

  it("a subclass of keras.Callback (TF.js's tf.Callback) sees the model, batch hooks, and stops fit through model.stopTraining", async () => {
    const calls: string[] = [];
    class StopAfterTwo extends keras.Callback {
      override onTrainBegin() {
        calls.push(`train ${this.model?.layers.length}`);
      }
      override onBatchBegin(batch: number) {
        calls.push(`batch ${batch}`);
      }
      override async onEpochEnd(epoch: number, logs: Record<string, number>) {
        calls.push(`epoch ${epoch} ${typeof logs['loss']}`);
        if (epoch === 1) this.model!.stopTraining = true;
      }
    }
    const m = model();
    const history = await m.fit(x, y, { epochs: 5, batchSize: 8, verbose: 0, callbacks: new StopAfterTwo() });
    expect(history.epoch).toEqual([0, 1]);
    expect(calls).toEqual(['train 1', 'batch 0', 'batch 1', 'epoch 0 number', 'batch 0', 'batch 1', 'epoch 1 number']);
  });
});
