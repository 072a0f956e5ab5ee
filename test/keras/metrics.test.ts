import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import * as keras from 'tsano/keras';

/** Precision, recall and the ROC area written out over all the samples at once. */
function counts(truth: number[], scores: number[], threshold: number) {
  let [tp, fp, fn] = [0, 0, 0];
  truth.forEach((t, i) => {
    // Scores and thresholds compared in float32, as Keras compares them.
    const positive = scores[i]! > Math.fround(threshold);
    if (positive && t) tp++;
    else if (positive) fp++;
    else if (t) fn++;
  });
  return { tp, fp, fn };
}
/** The probability that a random positive scores above a random negative (ties half): the exact ROC area. */
function rocArea(truth: number[], scores: number[]): number {
  const pos = scores.filter((_, i) => truth[i]);
  const neg = scores.filter((_, i) => !truth[i]);
  let wins = 0;
  for (const p of pos) for (const n of neg) wins += p > n ? 1 : p === n ? 0.5 : 0;
  return wins / (pos.length * neg.length);
}

describe('Keras metric objects', () => {
  it('precision, recall and AUC over an epoch are those of all its samples, not means of batches', async () => {
    await fc.assert(
      fc.asyncProperty(
        // Scores on a grid of twentieths, ties included: 1,000 thresholds tell every two apart.
        fc.array(
          fc.tuple(
            fc.boolean(),
            fc.integer({ min: 0, max: 20 }).map((k) => k / 20),
          ),
          {
            minLength: 12,
            maxLength: 40,
          },
        ),
        fc.integer({ min: 3, max: 9 }),
        async (samples, batchSize) => {
          const truth = samples.map(([t]) => (t ? 1 : 0));
          if (!truth.some((t) => t) || truth.every((t) => t)) return;
          // The model outputs its input: the scores are the predictions.
          const x = keras.input({ shape: [1], name: 'x' });
          const model = keras.model({ inputs: x, outputs: keras.layers.identity().apply(x) });
          model.compile({
            optimizer: 'sgd',
            loss: 'binaryCrossentropy',
            metrics: [
              'precision',
              keras.metrics.recall({ thresholds: 0.3 }),
              keras.metrics.auc({ numThresholds: 1000 }),
            ],
          });
          const scores = samples.map(([, s]) => Math.fround(s));
          const [, precision, recall, auc] = model.evaluate(
            T.array(scores, { shape: [scores.length, 1] }),
            T.array(truth, { shape: [truth.length, 1] }),
            { batchSize },
          );
          const at5 = counts(truth, scores, 0.5);
          const at3 = counts(truth, scores, 0.3);
          expect(precision).toBeCloseTo(at5.tp + at5.fp ? at5.tp / (at5.tp + at5.fp) : 0, 10);
          expect(recall).toBeCloseTo(at3.tp / (at3.tp + at3.fn), 10);
          // Trapezoids between thresholds that separate every score: the exact area, ties counted half.
          expect(auc).toBeCloseTo(rocArea(truth, scores), 6);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('updateState, result and resetState outside a model; PR AUC; mean IoU; top-k accuracy', async () => {
    const auc = keras.metrics.auc({ curve: 'PR' });
    auc.updateState(T.array([1, 1, 0, 0, 1]), T.array([0.9, 0.8, 0.3, 0.2, 0.7]));
    expect(auc.result()).toBeGreaterThan(0.95);
    auc.resetState();
    expect(auc.result()).toBe(0);
    const iou = keras.metrics.meanIoU({ numClasses: 3 });
    iou.updateState(T.array([0, 1, 2, 2]), T.array([0, 1, 1, 2]));
    // class 0: 1/1, class 1: 1/2, class 2: 1/2
    expect(iou.result()).toBeCloseTo((1 + 0.5 + 0.5) / 3, 12);
    const x = keras.input({ shape: [4], name: 'x' });
    const model = keras.model({ inputs: x, outputs: keras.layers.identity().apply(x) });
    model.compile({
      optimizer: 'sgd',
      loss: 'categoricalCrossentropy',
      metrics: [keras.metrics.topKCategoricalAccuracy({ k: 2 })],
    });
    const scores = T.array([0.1, 0.5, 0.3, 0.1, 0.6, 0.2, 0.15, 0.05, 0.3, 0.3, 0.2, 0.2], { shape: [3, 4] });
    const targets = T.array([0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1], { shape: [3, 4] });
    const [, top2] = model.evaluate(scores, targets);
    // Row 0: class 2 is second; row 1: class 3 is last; row 2: class 3 ties two others behind two higher.
    expect(top2).toBeCloseTo(1 / 3, 6);
    expect(model.metricsNames).toEqual(['loss', 'top_k_categorical_accuracy']);
  });

  it('fit logs a stateful metric per epoch, and per output', async () => {
    const a = keras.input({ shape: [2], name: 'a' });
    const first = keras.layers.dense({ units: 1, activation: 'sigmoid', name: 'first' }).apply(a);
    const second = keras.layers.dense({ units: 1, activation: 'sigmoid', name: 'second' }).apply(a);
    const model = keras.model({ inputs: a, outputs: [first, second] });
    model.compile({
      optimizer: 'adam',
      loss: 'binaryCrossentropy',
      metrics: { first: ['auc'], second: ['precision'] },
    });
    const xs = T.randomNormal([40, 2], { seed: 5 });
    const ys = T.array(
      Array.from({ length: 40 }, (_, i) => (xs.data[i * 2]! > 0 ? 1 : 0)),
      { shape: [40, 1] },
    );
    const history = await model.fit(xs, [ys, ys], { epochs: 3, batchSize: 8, verbose: 0 });
    expect(history.history['first_auc']).toHaveLength(3);
    expect(history.history['second_precision']).toHaveLength(3);
    history.history['first_auc']!.forEach((v) => expect(v).toBeGreaterThanOrEqual(0));
  });
});
