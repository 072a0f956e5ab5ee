import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import * as keras from 'tsano/keras';

/** countParams, getLayer, toJSON, trainOnBatch / testOnBatch / predictOnBatch, freezing layers, sample and class weights. */

const mlp = () => {
  const model = keras.sequential({
    layers: [
      keras.layers.dense({ units: 5, activation: 'tanh', inputShape: [4], name: 'hidden' }),
      keras.layers.dense({ units: 3, activation: 'softmax', name: 'out' }),
    ],
  });
  model.compile({
    optimizer: keras.optimizers.sgd({ learningRate: 0.5 }),
    loss: 'categorical_crossentropy',
    metrics: ['accuracy'],
  });
  return model;
};
const x = T.randomNormal([12, 4], { seed: 1 });
const labels = Array.from({ length: 12 }, (_, i) => i % 3);
const y = T.array(labels.map((l) => [0, 1, 2].map((c) => (c === l ? 1 : 0))));
const weightsOf = (m: keras.LayersModel) => m.getWeights().map((w) => Array.from(w.data));

describe('model methods', () => {
  it('countParams, getLayer by name or index, toJSON that modelFromJSON reads back', async () => {
    const model = mlp();
    expect(model.countParams()).toBe(4 * 5 + 5 + 5 * 3 + 3);
    expect(model.getLayer('out')).toBe(model.getLayer(1));
    expect(() => model.getLayer('nope')).toThrow(/no layer named 'nope' \(layers: hidden, out\)/);
    expect(() => model.getLayer(7)).toThrow(/no layer at index 7 \(the model has 2\)/);
    const copy = await keras.models.modelFromJSON(model.toJSON());
    expect(copy.countParams()).toBe(model.countParams());
    expect(JSON.parse(copy.toJSON())).toEqual(JSON.parse(model.toJSON()));
  });

  it('trainOnBatch reports the loss before its update; testOnBatch and predictOnBatch match evaluate and predict', async () => {
    const model = mlp();
    const [before] = (await model.testOnBatch(x, y)) as number[];
    expect(before).toBe((await model.evaluate(x, y, { batchSize: 12 }))[0]);
    const [trained] = (await model.trainOnBatch(x, y)) as number[];
    expect(trained).toBeCloseTo(before!, 6);
    const [after] = (await model.testOnBatch(x, y)) as number[];
    expect(after).toBeLessThan(before!);
    expect(Array.from((await model.predictOnBatch(x)).data)).toEqual(Array.from((await model.predict(x)).data));
    const plain = keras.sequential({ layers: [keras.layers.dense({ units: 1, inputShape: [4] })] });
    plain.compile({ optimizer: 'sgd', loss: 'mse' });
    expect(typeof (await plain.trainOnBatch(x, T.zeros([12, 1])))).toBe('number');
  });

  it('a frozen layer keeps its weights through fit; unfrozen, it trains again', async () => {
    const model = mlp();
    model.getLayer('hidden').trainable = false;
    const start = weightsOf(model);
    await model.fit(x, y, { epochs: 2, batchSize: 6, verbose: 0 });
    const frozen = weightsOf(model);
    expect(frozen.slice(0, 2)).toEqual(start.slice(0, 2));
    expect(frozen.slice(2)).not.toEqual(start.slice(2));
    model.getLayer('hidden').trainable = true;
    await model.fit(x, y, { epochs: 1, batchSize: 6, verbose: 0 });
    expect(weightsOf(model).slice(0, 2)).not.toEqual(frozen.slice(0, 2));
  });

  it('sample weights scale each sample’s loss; class weights are sample weights by class', async () => {
    const zero = mlp();
    const start = weightsOf(zero);
    const history = await zero.fit(x, y, { epochs: 1, batchSize: 12, verbose: 0, sampleWeight: new Array(12).fill(0) });
    expect(history.history['loss']).toEqual([0]);
    expect(weightsOf(zero)).toEqual(start);

    const [byClass, bySample] = [mlp(), mlp()];
    bySample.setWeights(byClass.getWeights());
    const classWeight = { 0: 2, 1: 0.5, 2: 0 };
    await byClass.fit(x, y, { epochs: 2, batchSize: 4, verbose: 0, seed: 3, classWeight });
    await bySample.fit(x, y, {
      epochs: 2,
      batchSize: 4,
      verbose: 0,
      seed: 3,
      sampleWeight: labels.map((l) => [2, 0.5, 0][l]!),
    });
    expect(weightsOf(byClass)).toEqual(weightsOf(bySample));

    await expect(mlp().fit(x, y, { sampleWeight: [1, 2], verbose: 0 })).rejects.toThrow(
      /sampleWeight has 2 values, the data 12 samples/,
    );
    await expect(mlp().fit(x, y, { classWeight: { 0: -1 }, verbose: 0 })).rejects.toThrow(
      /classWeight must be an object of numbers/,
    );
  });
});
