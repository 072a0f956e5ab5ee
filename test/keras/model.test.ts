import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import * as keras from 'tsano/keras';

/** Three well-separated classes: the class is the largest of the first three features. */
function separable(n: number, seed: number) {
  const x = T.randomNormal([n, 4], { seed });
  const y = T.array(
    Array.from({ length: n }, (_, i) => {
      const r = [0, 1, 2].map((j) => x.data[i * 4 + j]!);
      const k = r.indexOf(Math.max(...r));
      return [0, 1, 2].map((j) => (j === k ? 1 : 0));
    }),
  );
  return { x, y };
}

const mlp = () =>
  keras.sequential({
    layers: [
      keras.layers.dense({ units: 16, activation: 'relu', inputShape: [4] }),
      keras.layers.dense({ units: 3, activation: 'softmax' }),
    ],
  });

describe('keras layers and models', () => {
  it('Dense computes activation(x · kernel + bias) with its own weights', async () => {
    const model = keras.sequential({ layers: [keras.layers.dense({ units: 3, activation: 'tanh', inputShape: [2] })] });
    const [kernel, bias] = model.getWeights();
    model.setWeights([kernel!, T.array([0.1, -0.2, 0.3])]);
    const x = T.array([
      [1, 2],
      [-1, 0.5],
    ]);
    const out = await model.predict(x);
    const k = kernel!.data;
    const expected = [
      [1, 2],
      [-1, 0.5],
    ].flatMap(([a, b]) => [0, 1, 2].map((j) => Math.tanh(a! * k[j]! + b! * k[3 + j]! + [0.1, -0.2, 0.3][j]!)));
    out.data.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 5));
    expect(bias!.shape).toEqual([3]);
  });

  it('Conv2D and pooling follow the graph ops, with Keras output shapes and parameter counts', async () => {
    const model = keras.sequential({
      layers: [
        keras.layers.conv2d({
          filters: 4,
          kernelSize: 3,
          padding: 'same',
          inputShape: [6, 6, 2],
          dataFormat: 'channelsLast',
        }),
        keras.layers.maxPooling2d({ poolSize: 2, dataFormat: 'channelsLast' }),
        keras.layers.flatten(),
      ],
    });
    expect(model.outputShape).toEqual([null, 36]);
    const text = model.summary(() => {});
    expect(text).toMatch(/conv2d.*\(Conv2D\)\s+\(None, 6, 6, 4\)\s+76/);
    expect(text).toMatch(/Total params: 76/);
    const x = T.randomNormal([2, 6, 6, 2], { seed: 5 });
    const [k, b] = model.getWeights();
    const img = T.tensor('img', { shape: [2, 6, 6, 2] });
    const reference = await T.compile(
      [img],
      T.flatten(
        T.maxPool2d(
          T.add(T.conv2d(img, T.constant(k!), { padding: 'same', dataFormat: 'channelsLast' }), T.constant(b!)),
          { poolSize: 2, dataFormat: 'channelsLast' },
        ),
        2,
      ),
      { mode: 'js' },
    );
    const got = await model.predict(x);
    const want = reference(x);
    got.data.forEach((v, i) => expect(v).toBeCloseTo(want.data[i]!, 5));
  });

  it('training lowers the loss and separates a separable problem; validation and metrics are reported', async () => {
    const { x, y } = separable(600, 3);
    const model = mlp();
    model.compile({ optimizer: 'adam', loss: 'categorical_crossentropy', metrics: ['accuracy'] });
    const history = await model.fit(x, y, { epochs: 25, batchSize: 32, validationSplit: 0.2, verbose: 0, seed: 1 });
    const loss = history.history['loss']!;
    expect(loss.at(-1)!).toBeLessThan(loss[0]! * 0.6);
    expect(history.history['val_accuracy']!.at(-1)!).toBeGreaterThan(0.85);
    const [, accuracy] = await model.evaluate(x, y);
    expect(accuracy!).toBeGreaterThan(0.85);
  });

  it('fit is deterministic with a seed', async () => {
    const { x, y } = separable(200, 4);
    const a = mlp();
    const b = mlp();
    b.setWeights(a.getWeights());
    for (const m of [a, b])
      m.compile({
        optimizer: keras.optimizers.sgd({ learningRate: 0.1, momentum: 0.9 }),
        loss: 'categorical_crossentropy',
      });
    const ha = await a.fit(x, y, { epochs: 3, batchSize: 16, verbose: 0, seed: 7 });
    const hb = await b.fit(x, y, { epochs: 3, batchSize: 16, verbose: 0, seed: 7 });
    expect(hb.history['loss']).toEqual(ha.history['loss']);
  });

  it('sparse labels, binary crossentropy, mse and every optimizer train', async () => {
    const { x, y } = separable(300, 6);
    const labels = T.array(Array.from({ length: 300 }, (_, i) => [0, 1, 2].find((j) => y.data[i * 3 + j] === 1)!));
    for (const optimizer of ['sgd', 'adam', 'rmsprop', 'adagrad']) {
      const model = mlp();
      model.compile({ optimizer, loss: 'sparse_categorical_crossentropy', metrics: ['accuracy'] });
      const h = await model.fit(x, labels, { epochs: 4, batchSize: 32, verbose: 0 });
      expect(h.history['loss']!.every(Number.isFinite)).toBe(true);
    }
    const binary = keras.sequential({
      layers: [keras.layers.dense({ units: 1, activation: 'sigmoid', inputShape: [4] })],
    });
    binary.compile({
      optimizer: keras.optimizers.adam({ learningRate: 0.05 }),
      loss: 'binary_crossentropy',
      metrics: ['accuracy'],
    });
    const yb = T.array(Array.from({ length: 300 }, (_, i) => [x.data[i * 4]! > 0 ? 1 : 0]));
    const hb = await binary.fit(x, yb, { epochs: 30, batchSize: 32, verbose: 0 });
    expect(hb.history['accuracy']!.at(-1)!).toBeGreaterThan(0.9);
  });

  it('bad configuration is reported clearly', () => {
    expect(() => keras.sequential({ layers: [keras.layers.dense({ units: 2 })] })).toThrow(/needs inputShape/);
    expect(() => keras.layers.dense({ units: 0 })).toThrow(/units must be a positive integer/);
    expect(() => keras.layers.dense({ units: 2, activation: 'swishy' })).toThrow(/unknown activation 'swishy'/);
    expect(() => mlp().compile({ optimizer: 'adamz', loss: 'mse' })).toThrow(/unknown optimizer 'adamz'/);
    expect(() => mlp().compile({ optimizer: 'adam', loss: 'hingey' })).toThrow(/unknown loss 'hingey'/);
  });

  it('backend functions port Keras backend code', async () => {
    const K = keras.backend;
    expect(K.epsilon()).toBe(1e-7);
    expect(K.imageDataFormat()).toBe('channels_last');
    const x = K.placeholder({ shape: [null, 2] });
    const w = K.variable(T.array([[1], [2]]), 'w');
    const f = await K.function([x], [K.sum(K.dot(x, w))]);
    expect(
      f([
        [
          [1, 1],
          [2, 2],
        ],
      ])[0]!.item(),
    ).toBe(9);
  });
});

describe('functional models, normalization, embedding and merges', () => {
  it('a functional model with a skip connection (Add) and Concatenate trains and predicts', async () => {
    const inp = keras.input({ shape: [4] });
    const h = keras.layers.dense({ units: 8, activation: 'relu' }).apply(inp);
    const skip = keras.layers.dense({ units: 8 }).apply(inp);
    const merged = keras.layers.add().apply([h, skip]);
    const both = keras.layers.concatenate().apply([merged, keras.layers.layerNormalization().apply(merged)]);
    const out = keras.layers.dense({ units: 3, activation: 'softmax' }).apply(both);
    const model = keras.model({ inputs: inp, outputs: out });
    expect(model.layers.map((l) => l.className)).toEqual([
      'Dense',
      'Dense',
      'Add',
      'LayerNormalization',
      'Concatenate',
      'Dense',
    ]);
    model.compile({
      optimizer: keras.optimizers.adam({ learningRate: 0.01 }),
      loss: 'categorical_crossentropy',
      metrics: ['accuracy'],
    });
    const { x, y } = separable(300, 9);
    const history = await model.fit(x, y, { epochs: 15, batchSize: 32, verbose: 0 });
    expect(history.history['accuracy']!.at(-1)!).toBeGreaterThan(0.85);
    expect((await model.predict(x)).shape).toEqual([300, 3]);
  });

  it('BatchNormalization normalizes with batch statistics while training and moves its averages', async () => {
    const model = keras.sequential({ layers: [keras.layers.batchNormalization({ inputShape: [3], momentum: 0.5 })] });
    model.compile({ optimizer: 'sgd', loss: 'mse' });
    const x = T.array([
      [1, 10, -1],
      [3, 30, -3],
      [5, 50, -5],
    ]);
    // inference before training: moving mean 0, variance 1 -> x / sqrt(1 + 1e-3)
    const before = await model.predict(x);
    before.data.forEach((v, i) => expect(v).toBeCloseTo(x.data[i]! / Math.sqrt(1 + 1e-3), 4));
    await model.fit(x, T.zeros([3, 3]), { epochs: 1, batchSize: 3, verbose: 0, shuffle: false });
    const [, , movingMean] = model.getWeights();
    // one update with momentum 0.5 from 0 towards the batch mean [3, 30, -3]
    expect(Array.from(movingMean!.data)).toEqual([1.5, 15, -1.5].map(Math.fround));
    expect(model.trainableWeights).toHaveLength(2);
  });

  it('Embedding looks up rows by id', async () => {
    const model = keras.sequential({
      layers: [keras.layers.embedding({ inputDim: 5, outputDim: 2, inputShape: [3] })],
    });
    const [table] = model.getWeights();
    const out = await model.predict(T.array([[0, 4, 2]]));
    expect(out.shape).toEqual([1, 3, 2]);
    expect(Array.from(out.data)).toEqual([0, 4, 2].flatMap((id) => [table!.data[id * 2]!, table!.data[id * 2 + 1]!]));
  });
});
