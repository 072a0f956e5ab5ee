import * as keras from '../keras/index.js';
import { loadMnist } from './mnist-data.js';

export interface MnistDemoOptions {
  epochs?: number;
  batchSize?: number;
  log?: (line: string) => void;
  /** Folder for the trained model (model.json + weights.bin). */
  saveTo?: string;
}

/**
 * The main job: a small convnet trained with the Keras API on the 10,000 MNIST digits of the `mnist`
 * package (8,000 to train, 2,000 to test), printing progress, per-epoch time and test accuracy.
 */
export async function runMnistDemo(
  options: MnistDemoOptions = {},
): Promise<{ testAccuracy: number; epochSeconds: number[] }> {
  const { epochs = 10, batchSize = 64, log = console.log } = options;
  const { xTrain, yTrain, xTest, yTest } = loadMnist();
  log(`MNIST: ${xTrain.shape[0]} training and ${xTest.shape[0]} test digits`);
  const model = keras.sequential({
    layers: [
      keras.layers.reshape({ targetShape: [28, 28, 1], inputShape: [784] }),
      keras.layers.conv2d({ filters: 16, kernelSize: 3, activation: 'relu', dataFormat: 'channelsLast' }),
      keras.layers.maxPooling2d({ poolSize: 2, dataFormat: 'channelsLast' }),
      keras.layers.conv2d({ filters: 32, kernelSize: 3, activation: 'relu', dataFormat: 'channelsLast' }),
      keras.layers.maxPooling2d({ poolSize: 2, dataFormat: 'channelsLast' }),
      keras.layers.flatten(),
      keras.layers.dropout({ rate: 0.25 }),
      keras.layers.dense({ units: 10, activation: 'softmax' }),
    ],
  });
  model.compile({
    optimizer: keras.optimizers.adam({ learningRate: 0.003 }),
    loss: 'categorical_crossentropy',
    metrics: ['accuracy'],
  });
  model.summary(log);
  const epochSeconds: number[] = [];
  let started = performance.now();
  await model.fit(xTrain, yTrain, {
    epochs,
    batchSize,
    seed: 42,
    verbose: 1,
    callbacks: [
      {
        onEpochEnd: () => {
          epochSeconds.push((performance.now() - started) / 1000);
          started = performance.now();
        },
      },
    ],
  });
  const [loss, accuracy] = await model.evaluate(xTest, yTest, { batchSize: 256 });
  log(`test loss ${loss!.toFixed(4)}, test accuracy ${(accuracy! * 100).toFixed(2)}%`);
  log(`seconds per epoch: ${epochSeconds.map((s) => s.toFixed(1)).join(', ')}`);
  await model.save(options.saveTo ?? 'mnist-model');
  log(`saved to ${options.saveTo ?? 'mnist-model'}/model.json (TensorFlow.js layers format)`);
  return { testAccuracy: accuracy!, epochSeconds };
}
