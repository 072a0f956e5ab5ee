import * as keras from '../keras/index.js';
import { loadMnist } from './mnist-data.js';

export interface RnnDemoOptions {
  epochs?: number;
  units?: number;
  log?: (line: string) => void;
}

/**
 * A recurrent model on a sequence task that needs no download: each MNIST digit read row by row, as 28
 * steps of 28 pixels, by an LSTM whose last state a dense layer classifies.
 */
export async function runRnnDemo(
  options: RnnDemoOptions = {},
): Promise<{ testAccuracy: number; epochSeconds: number[] }> {
  const { epochs = 3, units = 64, log = console.log } = options;
  const { xTrain, yTrain, xTest, yTest } = loadMnist();
  log(`MNIST as sequences: ${xTrain.shape[0]} training and ${xTest.shape[0]} test digits, 28 steps of 28 pixels`);
  const model = keras.sequential({
    layers: [
      keras.layers.reshape({ targetShape: [28, 28], inputShape: [784] }),
      keras.layers.lstm({ units }),
      keras.layers.dense({ units: 10, activation: 'softmax' }),
    ],
  });
  model.compile({ optimizer: keras.optimizers.adam(0.005), loss: 'categorical_crossentropy', metrics: ['accuracy'] });
  model.summary(log);
  const epochSeconds: number[] = [];
  let started = performance.now();
  await model.fit(xTrain, yTrain, {
    epochs,
    batchSize: 64,
    seed: 42,
    verbose: 1,
    callbacks: {
      onEpochEnd: () => {
        epochSeconds.push((performance.now() - started) / 1000);
        started = performance.now();
      },
    },
  });
  const [loss, accuracy] = model.evaluate(xTest, yTest, { batchSize: 256 });
  log(`test loss ${loss!.toFixed(4)}, test accuracy ${(accuracy! * 100).toFixed(2)}%`);
  log(`seconds per epoch: ${epochSeconds.map((s) => s.toFixed(1)).join(', ')}`);
  return { testAccuracy: accuracy!, epochSeconds };
}
