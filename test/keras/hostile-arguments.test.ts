import { describe, expect, it, vi } from 'vitest';
import * as T from 'tsano';
import * as keras from 'tsano/keras';

function classifier(loss = 'sparse_categorical_crossentropy') {
  const model = keras.sequential({
    layers: [keras.layers.dense({ units: 3, activation: 'softmax', inputShape: [4] })],
  });
  model.compile({ optimizer: 'adam', loss });
  return model;
}
const x = T.randomNormal([8, 4], { seed: 1 });
const labels = T.array([0, 1, 2, 0, 1, 2, 0, 1]);

/** Resolves to the error `f` throws or rejects with, within `ms`. */
async function rejection(f: () => unknown, ms = 2000): Promise<Error> {
  const started = performance.now();
  const error = await Promise.resolve()
    .then(f)
    .then(
      () => undefined,
      (e: Error) => e,
    );
  expect(error, 'expected an error').toBeDefined();
  expect(performance.now() - started).toBeLessThan(ms);
  return error!;
}

describe('fit, evaluate and predict check their arguments before any work', () => {
  const cases: [string, (m: keras.LayersModel) => unknown, RegExp][] = [
    [
      'batchSize 0 (hung forever)',
      (m) => m.fit(x, labels, { batchSize: 0, verbose: 0 }),
      /fit: batchSize must be an integer >= 1, got 0/,
    ],
    [
      'batchSize -4 (returned a loss of 0)',
      (m) => m.fit(x, labels, { batchSize: -4, verbose: 0 }),
      /fit: batchSize must be an integer >= 1, got -4/,
    ],
    [
      'evaluate batchSize 0',
      (m) => m.evaluate(x, labels, { batchSize: 0 }),
      /evaluate: batchSize must be an integer >= 1, got 0/,
    ],
    [
      'predict batchSize 2.5',
      (m) => m.predict(x, { batchSize: 2.5 }),
      /predict: batchSize must be an integer >= 1, got 2.5/,
    ],
    [
      'validationSplit 1.5',
      (m) => m.fit(x, labels, { validationSplit: 1.5, verbose: 0 }),
      /fit: validationSplit must be a number >= 0 and < 1, got 1.5/,
    ],
    [
      'a split that leaves nothing to train on',
      (m) => m.fit(x, labels, { validationSplit: 0.99, verbose: 0 }),
      /validationSplit 0.99 of 8 samples leaves none to train on/,
    ],
    ['epochs -1', (m) => m.fit(x, labels, { epochs: -1, verbose: 0 }), /fit: epochs must be an integer >= 0, got -1/],
    [
      'a misspelt option',
      (m) => m.fit(x, labels, { epoch: 3 } as never),
      /fit: unknown option 'epoch' \(known: epochs/,
    ],
    [
      'sparse label 7 with 3 classes',
      (m) => m.fit(x, T.array([0, 1, 7, 0, 1, 2, 0, 1]), { verbose: 0 }),
      /fit y: label 7 of sample 2 is not a class index of the model's 3 classes/,
    ],
    [
      'sparse label 1.5',
      (m) => m.evaluate(x, T.array([0, 1, 1.5, 0, 1, 2, 0, 1])),
      /evaluate y: label 1.5 of sample 2/,
    ],
    [
      'a NaN in the data',
      (m) =>
        m.fit(
          T.array([
            [0, 1, 2, 3],
            [NaN, 1, 2, 3],
          ]),
          T.array([0, 1]),
          { verbose: 0 },
        ),
      /fit x: sample 1 holds NaN \(element 4\); training data must be finite/,
    ],
    ['x and y of different lengths', (m) => m.fit(x, T.array([0, 1]), { verbose: 0 }), /fit: x has 8 samples, y has 2/],
  ];
  for (const [name, call, pattern] of cases) {
    it(name, async () => {
      const error = await rejection(() => call(classifier()));
      expect(error).toBeInstanceOf(T.TsanoError);
      expect(error.message).toMatch(pattern);
    });
  }

  it('layer options: impossible sizes and shapes', () => {
    expect(() => keras.layers.dense({ units: 0 })).toThrow(/units must be a positive integer, got 0/);
    expect(() => keras.layers.dense({ units: 3, inputShape: [-4] })).toThrow(
      /inputShape must list positive integers or null, got \[-4\]/,
    );
    expect(() => keras.layers.dropout({ rate: 1 })).toThrow(/rate must be in \[0, 1\)/);
    expect(() =>
      keras.sequential({ layers: [keras.layers.dense({ units: 1e9, inputShape: [8] })] }).getWeights(),
    ).toThrow(/8e9 elements of float32/);
  });

  it('predict in batches gives what one call gives', async () => {
    const model = classifier();
    expect(Array.from((await model.predict(x, { batchSize: 3 })).data)).toEqual(
      Array.from((await model.predict(x)).data),
    );
  });
});

describe('TerminateOnNaN', () => {
  it('stops fit at the first batch whose loss is not finite', async () => {
    const model = keras.sequential({
      layers: [keras.layers.dense({ units: 3, activation: 'relu', inputShape: [4] }), keras.layers.dense({ units: 1 })],
    });
    model.compile({ optimizer: keras.optimizers.sgd({ learningRate: 1e18 }), loss: 'mse' });
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      const history = await model.fit(T.randomNormal([64, 4], { seed: 1 }), T.randomNormal([64, 1], { seed: 2 }), {
        epochs: 5,
        batchSize: 8,
        verbose: 0,
        callbacks: [keras.callbacks.terminateOnNaN()],
      });
      expect(history.epoch).toEqual([0]);
      expect(Number.isFinite(history.history['loss']![0]!)).toBe(false);
      expect(log.mock.calls.map((c) => String(c[0]))).toContainEqual(
        expect.stringMatching(/^Batch \d+: Invalid loss, terminating training$/),
      );
    } finally {
      log.mockRestore();
    }
  });
});
