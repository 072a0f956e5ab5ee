import { describe, expect, it, vi } from 'vitest';
import * as T from 'tsano';
import * as keras from 'tsano/keras';

/** predict, evaluate and fit on a known structure go straight to the compiled functions: no graph is built again. */
describe('the hot path does no graph work', () => {
  const model = () => {
    const m = keras.sequential({
      layers: [
        keras.layers.dense({ units: 8, activation: 'relu', inputShape: [4] }),
        keras.layers.dropout({ rate: 0.2 }),
        keras.layers.dense({ units: 3, activation: 'softmax' }),
      ],
    });
    m.compile({ optimizer: 'adam', loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    return m;
  };
  const x = T.randomNormal([16, 4], { seed: 1 });
  const y = T.array(Array.from({ length: 16 }, (_, i) => [0, 1, 2].map((j) => (j === i % 3 ? 1 : 0))));

  it('100 predict, evaluate and fit calls build each graph once and compile each function once', async () => {
    const m = model();
    const forward = vi.spyOn(m as unknown as { forward: (training: boolean) => unknown }, 'forward');
    m.predict(x);
    m.evaluate(x, y);
    await m.fit(x, y, { epochs: 1, batchSize: 8, verbose: 0 });
    const built = forward.mock.calls.map(([training]) => training);
    const functions = [m.predictFunction, m.trainFunction];
    for (let k = 0; k < 100; k++) {
      m.predict(x);
      m.evaluate(x, y);
      m.predictOnBatch(x);
      await m.fit(x, y, { epochs: 1, batchSize: 16, verbose: 0 });
      (void m.inputs, m.outputs, m.outputShape, m.inputNames);
    }
    expect(forward.mock.calls.map(([training]) => training)).toEqual(built);
    expect(built.filter((t) => t === false)).toHaveLength(1);
    expect([m.predictFunction, m.trainFunction]).toEqual(functions);
  });

  it('adding a layer builds the graph again, and predict answers for the new structure', () => {
    const m = keras.sequential({ layers: [keras.layers.dense({ units: 5, inputShape: [4] })] });
    expect(m.predict(x).shape).toEqual([16, 5]);
    m.add(keras.layers.dense({ units: 2 }));
    expect(m.predict(x).shape).toEqual([16, 2]);
    expect(m.outputShape).toEqual([null, 2]);
  });
});

describe('summary', () => {
  it('fits its columns to the longest name, class and shape', () => {
    const m = keras.sequential({
      layers: [
        keras.layers.dense({ units: 4, inputShape: [3], name: 'a_dense_layer_with_a_really_long_name' }),
        keras.layers.batchNormalization(),
      ],
    });
    const lines = m.summary(() => {}).split('\n');
    const shapeColumn = lines[2]!.indexOf('Output Shape');
    const rows = lines.filter((l) => l.includes('(None, 4)'));
    expect(rows).toHaveLength(2);
    for (const row of rows) expect(row.indexOf('(None, 4)')).toBe(shapeColumn);
    expect(rows[0]!.startsWith('a_dense_layer_with_a_really_long_name (Dense)  ')).toBe(true);
    expect(lines[3]!.length).toBeGreaterThanOrEqual(lines[2]!.length);
  });
});
