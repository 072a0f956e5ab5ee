import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as T from '../index.js';
import * as keras from '../keras/index.js';
import { loadMnist } from './mnist-data.js';

export interface MnistDemoOptions {
  epochs?: number;
  batchSize?: number;
  log?: (line: string) => void;
  /** Folder for the trained model (model.json + weights.bin). */
  saveTo?: string;
  /** Folder for the standalone export (default mnist-export), run once in a separate node process; false: no export. */
  exportTo?: string | false;
}

/** Runs the exported model in a plain node process (no tsano) on `digits`; returns its predictions. */
function predictInPlainNode(dir: string, digits: Float32Array): Float32Array {
  const loader = pathToFileURL(path.resolve(dir, 'model.mjs')).href;
  const script = [
    `const { load } = await import(${JSON.stringify(loader)});`,
    `const chunks = []; for await (const c of process.stdin) chunks.push(c);`,
    `const x = Float32Array.from(JSON.parse(Buffer.concat(chunks).toString()));`,
    `const y = (await load()).predict(x, [x.length / 784, 784]);`,
    `process.stdout.write(JSON.stringify(Array.from(y.data)));`,
  ].join('\n');
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    input: JSON.stringify(Array.from(digits)),
    encoding: 'utf8',
  });
  return Float32Array.from(JSON.parse(out) as number[]);
}

const folderBytes = (dir: string) => readdirSync(dir).reduce((sum, f) => sum + statSync(path.join(dir, f)).size, 0);

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
  if (options.exportTo !== false) {
    const dir = options.exportTo ?? 'mnist-export';
    const { exportModel } = await import('../export/index.js');
    const { bytes } = await exportModel(model, dir);
    // The first test digit of each class from 0 to 7.
    const count = 8;
    const labelOf = (r: number) => Array.from(yTest.data.subarray(r * 10, r * 10 + 10)).indexOf(1);
    const labels = Array.from({ length: yTest.shape[0]! }, (_, r) => labelOf(r));
    const rows = Array.from({ length: count }, (_, c) => labels.indexOf(c));
    const digits = new Float32Array(count * 784);
    rows.forEach((r, i) => digits.set(xTest.data.subarray(r * 784, (r + 1) * 784), i * 784));
    const ours = (await model.predict(T.array(digits, { shape: [count, 784] }))).data as Float32Array;
    const theirs = predictInPlainNode(dir, digits);
    const classes = (p: Float32Array) =>
      Array.from({ length: count }, (_, i) => {
        const row = Array.from(p.subarray(i * 10, i * 10 + 10));
        return row.indexOf(Math.max(...row));
      });
    const truth = rows.map(labelOf);
    const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
    log(
      `exported to ${dir}/, ${kb(folderBytes(dir))}: model.wasm ${kb(bytes.wasm)}, weights.bin ${kb(bytes.weights)}, model.mjs ${kb(bytes.loader)}`,
    );
    log(`digits            ${truth.join(' ')}`);
    log(`tsano predicts    ${classes(ours).join(' ')}`);
    log(
      `export, in node   ${classes(theirs).join(' ')} (${theirs.every((v, i) => Object.is(v, ours[i])) ? 'the same probabilities, bit for bit' : 'DIFFERENT probabilities'})`,
    );
  }
  return { testAccuracy: accuracy!, epochSeconds };
}
