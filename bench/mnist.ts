/**
 * The demo's convnet trained by tsano and by TensorFlow.js (layers API on its wasm backend) on the same
 * MNIST digits, same architecture, optimizer and batch size: seconds per epoch and test accuracy.
 * `npm run bench:mnist [-- --epochs N]`.
 */
import v8 from 'node:v8';
v8.setFlagsFromString('--no-liftoff');
import { createRequire } from 'node:module';
import path from 'node:path';

const epochsArg = process.argv.indexOf('--epochs');
const EPOCHS = epochsArg > 0 ? Number(process.argv[epochsArg + 1]) : 3;

const { loadMnist } = await import('../src/demo/mnist-data.js');
const { runMnistDemo } = await import('../src/demo/mnist.js');
const data = loadMnist();

const ours = await runMnistDemo({
  epochs: EPOCHS,
  log: () => {},
  saveTo: path.join((await import('node:os')).tmpdir(), 'tsano-bench-mnist'),
  exportTo: false,
});

const tf = await import('@tensorflow/tfjs-core');
const tfl = await import('@tensorflow/tfjs-layers');
const wasm = await import('@tensorflow/tfjs-backend-wasm');
await import('@tensorflow/tfjs-backend-cpu');
const require = createRequire(import.meta.url);
wasm.setWasmPaths(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')) + '/dist/');

/** Trains the same convnet with TensorFlow.js on `backend`; returns seconds per epoch and test accuracy, or the error. */
async function tfjs(
  backend: 'wasm' | 'cpu',
  epochs: number,
): Promise<{ seconds: number[]; accuracy: number } | string> {
  await tf.setBackend(backend);
  const model = tfl.sequential({
    layers: [
      tfl.layers.reshape({ targetShape: [28, 28, 1], inputShape: [784] }),
      tfl.layers.conv2d({ filters: 16, kernelSize: 3, activation: 'relu' }),
      tfl.layers.maxPooling2d({ poolSize: 2 }),
      tfl.layers.conv2d({ filters: 32, kernelSize: 3, activation: 'relu' }),
      tfl.layers.maxPooling2d({ poolSize: 2 }),
      tfl.layers.flatten(),
      tfl.layers.dropout({ rate: 0.25 }),
      tfl.layers.dense({ units: 10, activation: 'softmax' }),
    ],
  });
  model.compile({ optimizer: tf.train.adam(0.003), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  const xs = tf.tensor2d(data.xTrain.data as Float32Array, [data.xTrain.shape[0]!, 784]);
  const ys = tf.tensor2d(data.yTrain.data as Float32Array, [data.yTrain.shape[0]!, 10]);
  const seconds: number[] = [];
  let started = performance.now();
  try {
    await model.fit(xs, ys, {
      epochs,
      batchSize: 64,
      shuffle: true,
      verbose: 0,
      callbacks: {
        onEpochEnd: async () => {
          seconds.push((performance.now() - started) / 1000);
          started = performance.now();
        },
      },
    });
  } catch (e) {
    return (e as Error).message;
  }
  const evaluation = model.evaluate(
    tf.tensor2d(data.xTest.data as Float32Array, [data.xTest.shape[0]!, 784]),
    tf.tensor2d(data.yTest.data as Float32Array, [data.yTest.shape[0]!, 10]),
  ) as InstanceType<typeof tf.Tensor>[];
  return { seconds, accuracy: (await evaluation[1]!.data())[0]! };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
console.log(`MNIST convnet, ${EPOCHS} epochs of ${data.xTrain.shape[0]} digits, batch 64, Adam 0.003`);
console.log(
  `tsano:           ${mean(ours.epochSeconds).toFixed(1)} s/epoch (${ours.epochSeconds.map((s) => s.toFixed(1)).join(', ')}), test accuracy ${(ours.testAccuracy * 100).toFixed(2)}%`,
);
for (const backend of ['wasm', 'cpu'] as const) {
  const r = await tfjs(backend, EPOCHS);
  if (typeof r === 'string') console.log(`TF.js ${backend} 4.22: cannot train this model: ${r}`);
  else
    console.log(
      `TF.js ${backend} 4.22: ${mean(r.seconds).toFixed(1)} s/epoch (${r.seconds.map((s) => s.toFixed(1)).join(', ')}), test accuracy ${(r.accuracy * 100).toFixed(2)}%, ratio tsano / TF.js ${(mean(ours.epochSeconds) / mean(r.seconds)).toFixed(2)}`,
    );
}
