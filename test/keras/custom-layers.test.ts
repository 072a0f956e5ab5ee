import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import * as T from 'tsano';
import * as keras from 'tsano/keras';
import { expectSamePredictions, saveWithTfjs, seededInput } from '../helpers/tfjs.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** y = x * scale + shift, elementwise over the last axis, then raised to `power`: written as a TF.js user would. */
class ScaleShift extends keras.layers.Layer {
  static className = 'ScaleShift';
  readonly power: number;
  private scale?: T.Node;
  private shift?: T.Node;
  constructor(config: { power?: number; name?: string; inputShape?: number[] } = {}) {
    super(config);
    this.power = config.power ?? 1;
  }
  override build(inputShape: (number | null)[]) {
    const width = inputShape[inputShape.length - 1]!;
    this.scale = this.addWeight('scale', [width], 'float32', 'ones');
    this.shift = this.addWeight('shift', [width], 'float32', 'zeros');
  }
  call(inputs: T.Node | T.Node[]) {
    const x = inputs as T.Node;
    const y = T.add(T.mul(x, this.scale!), this.shift!);
    return this.power === 1 ? y : T.pow(y, this.power);
  }
  override getConfig() {
    return { ...super.getConfig(), power: this.power };
  }
}

/** The same layer for TensorFlow.js. */
class TfjsScaleShift extends tfl.layers.Layer {
  static className = 'ScaleShift';
  power: number;
  scale?: tfl.LayerVariable;
  shift?: tfl.LayerVariable;
  constructor(config: { power?: number; name?: string } = {}) {
    super(config);
    this.power = config.power ?? 1;
  }
  override build(inputShape: tfl.Shape | tfl.Shape[]) {
    const width = (inputShape as tfl.Shape)[(inputShape as tfl.Shape).length - 1]!;
    this.scale = this.addWeight('scale', [width], 'float32', tfl.initializers.randomNormal({ seed: 1 }));
    this.shift = this.addWeight('shift', [width], 'float32', tfl.initializers.randomNormal({ seed: 2 }));
    this.built = true;
  }
  override call(inputs: tf.Tensor | tf.Tensor[]) {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0]! : inputs;
      const y = tf.add(tf.mul(x, this.scale!.read()), this.shift!.read());
      return this.power === 1 ? y : tf.pow(y, this.power);
    });
  }
  override getConfig() {
    return { ...super.getConfig(), power: this.power };
  }
}
tf.serialization.registerClass(TfjsScaleShift);

describe('custom layers (TensorFlow.js contract)', () => {
  it('a subclass of keras.layers.Layer trains, and saved models holding it load once it is registered', async () => {
    const model = keras.sequential({
      layers: [
        keras.layers.dense({ units: 3, inputShape: [4] }),
        new ScaleShift({ power: 2, name: 'scaled' }),
        keras.layers.dense({ units: 1 }),
      ],
    });
    model.compile({ optimizer: 'adam', loss: 'mse' });
    const x = T.randomNormal([16, 4], { seed: 3 });
    const y = T.randomNormal([16, 1], { seed: 4 });
    const scale = model.getLayer('scaled');
    void model.weights;
    const before = Array.from(scale.getWeights()[0]!.data);
    await model.fit(x, y, { epochs: 3, verbose: 0 });
    expect(Array.from(scale.getWeights()[0]!.data)).not.toEqual(before);

    const dir = mkdtempSync(path.join(os.tmpdir(), 'tsano-custom-'));
    await model.save(dir);
    await expect(keras.loadModel(path.join(dir, 'model.json'))).rejects.toThrow(
      /layer class 'ScaleShift' is not supported .*keras.serialization.registerClass/,
    );
    keras.serialization.registerClass(ScaleShift);
    const loaded = await keras.loadModel(path.join(dir, 'model.json'));
    expect((loaded.getLayer('scaled') as ScaleShift).power).toBe(2);
    expect(Array.from(loaded.predict(x).data)).toEqual(Array.from(model.predict(x).data));
  });

  it('a model TF.js saved with its own custom layer loads into the tsano class of the same name', async () => {
    keras.serialization.registerClass(ScaleShift);
    const theirs = tfl.sequential({
      layers: [
        tfl.layers.dense({ units: 3, inputShape: [4] }),
        new TfjsScaleShift({ power: 3 }),
        tfl.layers.dense({ units: 2 }),
      ],
    });
    const loaded = await keras.loadModel(await saveWithTfjs(theirs));
    await expectSamePredictions(theirs, loaded, seededInput([5, 4], 6), [5, 4]);
  });

  it('a custom layer without a static className is an error that says what is missing', () => {
    class Nameless extends keras.layers.Layer {
      call(x: T.Node | T.Node[]) {
        return x as T.Node;
      }
    }
    expect(() => new Nameless()).toThrow(/Nameless: a custom layer needs a static className/);
  });
});
