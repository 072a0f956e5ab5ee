import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import * as keras from 'tsano/keras';

/** Labels from a linear rule over standard normal features: learnable by one dense layer. */
function linearlySeparable(n: number, classes: number, seed: number) {
  const x = T.randomNormal([n, 4], { seed });
  const label = (i: number) => {
    const scores = Array.from({ length: classes }, (_, c) => x.data[i * 4 + c]! - x.data[i * 4 + ((c + 1) % 4)]!);
    return classes === 1 ? (scores[0]! > 0 ? 1 : 0) : scores.indexOf(Math.max(...scores));
  };
  const y = T.array(
    Array.from({ length: n }, (_, i) =>
      classes === 1 ? [label(i)] : Array.from({ length: classes }, (_, c) => (c === label(i) ? 1 : 0)),
    ),
  );
  return { x, y };
}

/** One dense layer whose kernel is scaled by 1e3, so that its first logits are in the thousands: probabilities are exactly 0 or 1 in float32. */
function saturated(units: number, activation: 'softmax' | 'sigmoid') {
  const model = keras.sequential({ layers: [keras.layers.dense({ units, activation, inputShape: [4] })] });
  const [kernel, bias] = model.getWeights();
  model.setWeights([
    T.array(
      Float32Array.from(kernel!.data, (v) => v * 1e3),
      { shape: kernel!.shape },
    ),
    bias!,
  ]);
  return model;
}

describe('models whose logits start saturated still learn (the gradient is that of the exact loss that is reported)', () => {
  for (const [name, units, activation, loss] of [
    ['softmax + categorical_crossentropy', 3, 'softmax', 'categorical_crossentropy'],
    ['sigmoid + binary_crossentropy', 1, 'sigmoid', 'binary_crossentropy'],
  ] as const) {
    it(name, async () => {
      const { x, y } = linearlySeparable(256, units, 11);
      const model = saturated(units, activation);
      const [kernel, bias] = model.getWeights();
      const logitsOf = await T.compile([], T.add(T.dot(T.constant(x), T.constant(kernel!)), T.constant(bias!)), {
        mode: 'js',
      });
      expect(Math.max(...Array.from((logitsOf() as T.NDArray).data, Math.abs))).toBeGreaterThan(200);
      model.compile({ optimizer: keras.optimizers.adam({ learningRate: 10 }), loss });
      const history = await model.fit(x, y, { epochs: 3, batchSize: 32, verbose: 0, seed: 2 });
      const losses = history.history['loss']!;
      expect(losses.every(Number.isFinite)).toBe(true);
      // The exact loss of saturated mistakes is in the hundreds; with a step of 10 against weights of about 1e3, a working gradient
      // takes a visible share off every epoch (the clipped form's gradient is 0 for every saturated sample: the loss stays put).
      expect(losses[0]!).toBeGreaterThan(10);
      expect(losses[1]!).toBeLessThan(losses[0]! * 0.95);
      expect(losses[2]!).toBeLessThan(losses[1]! * 0.95);
    });
  }
});
