/**
 * Compile time per model (the hot-path issue's rows): each model's function compiled cold (the first
 * time in this process, code generator already loaded) and again for an equal model (the optimized
 * program and module come from the memory cache), with the graph's size.
 */
import * as T from '../src/index.js';
import * as keras from '../src/keras/index.js';
import { LSTM } from './peers.js';
import { smallModel } from './tsano.js';

type Build = () => { model: keras.Sequential; train: boolean };

const MODELS: [string, Build][] = [
  ['MLP 32-(64 x 20)-10, predict', () => ({ model: smallModel(20), train: false })],
  [
    'CNN conv32-pool-conv64-pool-dense10, predict',
    () => ({
      model: keras.sequential({
        layers: [
          keras.layers.conv2d({ filters: 32, kernelSize: 3, activation: 'relu', inputShape: [28, 28, 1] }),
          keras.layers.maxPooling2d({ poolSize: 2 }),
          keras.layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu' }),
          keras.layers.maxPooling2d({ poolSize: 2 }),
          keras.layers.flatten(),
          keras.layers.dense({ units: 10, activation: 'softmax' }),
        ],
      }),
      train: false,
    }),
  ],
  [
    `LSTM(${LSTM.units}) over ${LSTM.steps} steps, Adam training step`,
    () => ({
      model: keras.sequential({
        layers: [keras.layers.lstm({ units: LSTM.units, inputShape: [LSTM.steps, LSTM.features] })],
      }),
      train: true,
    }),
  ],
];

async function compileOnce(build: Build): Promise<{ ms: number; nodes: number }> {
  const { model, train } = build();
  const started = performance.now();
  if (!train) {
    const f = model.makePredictFunction();
    return { ms: performance.now() - started, nodes: f.stats.nodesBefore };
  }
  model.compile({ optimizer: 'adam', loss: 'mse' });
  const x = T.zeros([2, LSTM.steps, LSTM.features]);
  await model.trainOnBatch(x, T.zeros([2, LSTM.units]));
  return { ms: performance.now() - started, nodes: model.trainFunction!.stats.nodesBefore };
}

export async function compileTimeBench(): Promise<void> {
  await T.ready();
  console.log('\ncompile time per model (code generator loaded): cold, then an equal model again (memory cache)');
  console.log('model | graph nodes | cold ms | cached ms');
  for (const [name, build] of MODELS) {
    const cold = await compileOnce(build);
    const cached = await compileOnce(build);
    console.log(`${name} | ${cold.nodes} | ${cold.ms.toFixed(0)} | ${cached.ms.toFixed(0)}`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await compileTimeBench();
