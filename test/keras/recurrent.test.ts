import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import * as T from 'tsano';
import * as keras from 'tsano/keras';
import { expectSamePredictions, saveWithTfjs, seededInput } from '../helpers/tfjs.js';
import { checkGradient } from '../helpers/gradcheck.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

// TF.js's orthogonal initializer needs its chained ops, which its ES build does not load: the TF.js
// models here start from glorot weights and random biases instead, which tests more of the weights anyway.
const tfjsWeights = {
  recurrentInitializer: 'glorotUniform',
  biasInitializer: 'randomNormal',
} as const;

const STEPS = 6;
const FEATURES = 3;

type Kind = 'simpleRNN' | 'lstm' | 'gru';
const tfjsLayer = (kind: Kind, args: Record<string, unknown>) =>
  (tfl.layers[kind] as unknown as (a: Record<string, unknown>) => tfl.layers.Layer)({ ...tfjsWeights, ...args });

describe('recurrent layers against TensorFlow.js', () => {
  for (const kind of ['simpleRNN', 'lstm', 'gru'] as const)
    for (const returnSequences of [false, true])
      for (const goBackwards of [false, true])
        it(`${kind}${returnSequences ? ', returnSequences' : ''}${goBackwards ? ', goBackwards' : ''}: TF.js-saved model predicts the same`, async () => {
          const theirs = tfl.sequential({
            layers: [
              tfjsLayer(kind, {
                units: 4,
                returnSequences,
                goBackwards,
                inputShape: [STEPS, FEATURES],
                ...(kind === 'simpleRNN' ? {} : { recurrentActivation: 'sigmoid' }),
              }),
              tfl.layers.dense({ units: 2 }),
            ],
          });
          const loaded = await keras.loadModel(await saveWithTfjs(theirs));
          await expectSamePredictions(theirs, loaded, seededInput([5, STEPS, FEATURES], 3), [5, STEPS, FEATURES]);
        });

  it("TF.js's default hardSigmoid gates, a stacked LSTM and GRU, bidirectional in every merge mode, timeDistributed", async () => {
    for (const mergeMode of ['concat', 'sum', 'mul', 'ave'] as const) {
      const theirs = tfl.sequential({
        layers: [
          tfl.layers.bidirectional({
            layer: tfjsLayer('lstm', { units: 3, returnSequences: true }) as never,
            mergeMode,
            inputShape: [STEPS, FEATURES],
          }),
          tfl.layers.timeDistributed({ layer: tfl.layers.dense({ units: 2, activation: 'tanh' }) }),
          tfjsLayer('gru', { units: 3 }),
        ],
      });
      const loaded = await keras.loadModel(await saveWithTfjs(theirs));
      await expectSamePredictions(theirs, loaded, seededInput([4, STEPS, FEATURES], 8), [4, STEPS, FEATURES]);
    }
  });

  it('masked steps (embedding with maskZero, and masking) leave the state as it was, as in TF.js', async () => {
    const tokens = [
      [3, 1, 4, 0, 0, 0],
      [2, 7, 1, 8, 2, 8],
      [0, 0, 5, 9, 0, 6],
    ];
    const theirs = tfl.sequential({
      layers: [
        tfl.layers.embedding({ inputDim: 10, outputDim: 4, maskZero: true, inputLength: STEPS }),
        tfjsLayer('lstm', { units: 3, returnSequences: true }),
        tfjsLayer('gru', { units: 2 }),
      ],
    });
    const loaded = await keras.loadModel(await saveWithTfjs(theirs));
    await expectSamePredictions(theirs, loaded, Float32Array.from(tokens.flat()), [3, STEPS]);

    const padded = seededInput([3, STEPS, FEATURES], 9);
    padded.fill(0, 3 * FEATURES, 5 * FEATURES); // steps 3 and 4 of the first sample are padding
    const masked = tfl.sequential({
      layers: [
        tfl.layers.masking({ maskValue: 0, inputShape: [STEPS, FEATURES] }),
        tfjsLayer('simpleRNN', { units: 3 }),
      ],
    });
    await expectSamePredictions(masked, await keras.loadModel(await saveWithTfjs(masked)), padded, [
      3,
      STEPS,
      FEATURES,
    ]);
  });

  it('an encoder-decoder: returnState feeds initialState; the TF.js-saved model loads and predicts the same', async () => {
    const source = tfl.input({ shape: [STEPS, FEATURES], name: 'source' });
    const target = tfl.input({ shape: [4, 2], name: 'target' });
    const [, h, c] = tfjsLayer('lstm', { units: 5, returnState: true, name: 'encoder' }).apply(
      source,
    ) as tfl.SymbolicTensor[];
    const decoded = tfjsLayer('lstm', { units: 5, returnSequences: true, name: 'decoder' }).apply(target, {
      initialState: [h!, c!],
    }) as tfl.SymbolicTensor;
    const out = tfl.layers.dense({ units: 3, name: 'out' }).apply(decoded) as tfl.SymbolicTensor;
    const theirs = tfl.model({ inputs: [source, target], outputs: out });
    const loaded = await keras.loadModel(await saveWithTfjs(theirs));
    const [xs, xt] = [seededInput([2, STEPS, FEATURES], 15), seededInput([2, 4, 2], 16)];
    const expected = (
      theirs.predict([tf.tensor(xs, [2, STEPS, FEATURES]), tf.tensor(xt, [2, 4, 2])]) as tf.Tensor
    ).dataSync();
    const got = loaded.predict([T.array(xs, { shape: [2, STEPS, FEATURES] }), T.array(xt, { shape: [2, 4, 2] })]);
    got.data.forEach((v, i) => expect(Math.abs(v - expected[i]!)).toBeLessThan(1e-5));

    // The same model written here saves the state outputs by index and loads back.
    const dir = await import('node:fs').then((fs) =>
      fs.mkdtempSync((process.env['TMPDIR'] ?? '/tmp') + '/tsano-seq2seq-'),
    );
    await loaded.save(dir);
    const again = await keras.loadModel(`${dir}/model.json`);
    expect(
      Array.from(again.predict([T.array(xs, { shape: [2, STEPS, FEATURES] }), T.array(xt, { shape: [2, 4, 2] })]).data),
    ).toEqual(Array.from(got.data));
  });

  it('gradients with respect to the input match TF.js (backpropagation through time)', async () => {
    for (const kind of ['simpleRNN', 'lstm', 'gru'] as const) {
      const theirs = tfl.sequential({
        layers: [tfjsLayer(kind, { units: 4, returnSequences: true, inputShape: [STEPS, FEATURES] })],
      });
      const loaded = await keras.loadModel(await saveWithTfjs(theirs));
      const x = seededInput([2, STEPS, FEATURES], 11);
      const weights = Float32Array.from({ length: 2 * STEPS * 4 }, (_, i) => Math.cos(0.7 * i));
      const expected = tf
        .grad((input: tf.Tensor) =>
          tf.sum(tf.mul(theirs.apply(input) as tf.Tensor, tf.tensor(weights, [2, STEPS, 4]))),
        )(tf.tensor(x, [2, STEPS, FEATURES]))
        .dataSync();
      const [input] = loaded.inputs;
      const cost = T.sum(T.mul(loaded.outputs[0]!, T.constant(T.array(weights, { shape: [2, STEPS, 4] }))));
      const gradient = (await T.compile([input!], T.grad(cost, input!)))(T.array(x, { shape: [2, STEPS, FEATURES] }));
      gradient.data.forEach((v, i) =>
        expect(Math.abs(v - expected[i]!), `${kind} at ${i}`).toBeLessThan(1e-5 * Math.max(1, Math.abs(expected[i]!))),
      );
    }
  });
});

describe('recurrent layers', () => {
  it('GRU with resetAfter (Keras 3 default) computes the formula step by step', () => {
    const units = 2;
    const built = keras.sequential({
      layers: [keras.layers.gru({ units, returnSequences: true, resetAfter: true, inputShape: [4, 2] })],
    });
    const [kernel, recurrentKernel, bias] = built.getWeights().map((w) => Array.from(w.data));
    bias!.forEach((_, i) => (bias![i] = Math.sin(i + 1) * 0.3));
    built.setWeights([
      built.getWeights()[0]!,
      built.getWeights()[1]!,
      T.array(Float32Array.from(bias!), { shape: [2, 3 * units] }),
    ]);
    const x = T.randomNormal([1, 4, 2], { seed: 12 });
    const got = built.predict(x);
    const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
    let h = [0, 0];
    const expected: number[] = [];
    for (let t = 0; t < 4; t++) {
      const xt = [x.data[t * 2]!, x.data[t * 2 + 1]!];
      // column `col` of v·m, for m with 3·units columns
      const proj = (m: number[], v: number[], col: number) =>
        v.reduce((s, vi, r) => s + vi * m[r * 3 * units + col]!, 0);
      const xz = (col: number) => proj(kernel!, xt, col) + bias![col]!;
      const inner = (col: number) => proj(recurrentKernel!, h, col) + bias![3 * units + col]!;
      const next = h.map((hj, j) => {
        const z = sigmoid(xz(j) + inner(j));
        const r = sigmoid(xz(units + j) + inner(units + j));
        const candidate = Math.tanh(xz(2 * units + j) + r * inner(2 * units + j));
        return z * hj + (1 - z) * candidate;
      });
      h = next;
      expected.push(...h);
    }
    got.data.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 5));
  });

  it('gradients of every cell match finite differences (float64)', async () => {
    keras.backend.setFloatx('float64');
    try {
      for (const make of [
        () => keras.layers.simpleRNN({ units: 3, returnSequences: true }),
        () => keras.layers.lstm({ units: 2, returnSequences: true, goBackwards: true }),
        () => keras.layers.gru({ units: 2, resetAfter: true }),
        () => keras.layers.gru({ units: 2, resetAfter: false }),
        () => keras.layers.bidirectional({ layer: keras.layers.lstm({ units: 2 }), mergeMode: 'mul' }),
      ]) {
        const layer = make();
        await checkGradient(
          [{ shape: [2, 4, 3], data: Array.from(T.randomNormal([2, 4, 3], { seed: 13, dtype: 'float64' }).data) }],
          ([x]) => layer.apply(x!),
        );
      }
    } finally {
      keras.backend.setFloatx('float32');
    }
  });

  it('an LSTM learns to tell rising from falling sequences, with seeded dropout, and saves and loads', async () => {
    const n = 64;
    const values = new Float32Array(n * STEPS);
    const labels = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const rising = i % 2;
      labels[i] = rising;
      for (let t = 0; t < STEPS; t++) values[i * STEPS + t] = (rising ? t : STEPS - t) / STEPS + 0.1 * Math.sin(i * t);
    }
    const build = () =>
      keras.sequential({
        layers: [
          keras.layers.lstm({ units: 8, inputShape: [STEPS, 1], dropout: 0.1, recurrentDropout: 0.1, seed: 5 }),
          keras.layers.dense({ units: 1, activation: 'sigmoid' }),
        ],
      });
    const model = build();
    const initial = model.getWeights().map((w) => w.clone());
    model.compile({ optimizer: keras.optimizers.adam(0.03), loss: 'binaryCrossentropy', metrics: ['accuracy'] });
    const x = T.array(values, { shape: [n, STEPS, 1] });
    const y = T.array(labels, { shape: [n, 1] });
    const history = await model.fit(x, y, { epochs: 30, batchSize: 16, verbose: 0, seed: 2 });
    const [loss, accuracy] = model.evaluate(x, y);
    expect(loss).toBeLessThan(history.history['loss']![0]!);
    expect(accuracy).toBeGreaterThan(0.9);
    expect(model.trainFunction!.stats.referenceSteps).toBe(0);

    const again = build();
    again.setWeights(initial);
    again.compile({ optimizer: keras.optimizers.adam(0.03), loss: 'binaryCrossentropy' });
    const second = await again.fit(x, y, { epochs: 30, batchSize: 16, verbose: 0, seed: 2 });
    expect(second.history['loss']).toEqual(history.history['loss']); // seeded: the same run twice

    const dir = await import('node:fs').then((fs) =>
      fs.mkdtempSync((process.env['TMPDIR'] ?? '/tmp') + '/tsano-lstm-'),
    );
    await model.save(dir);
    const loaded = await keras.loadModel(`${dir}/model.json`);
    expect(Array.from(loaded.predict(x).data)).toEqual(Array.from(model.predict(x).data));
  });

  it("Keras 3's JSON of recurrent layers loads (DTypePolicy, build_config, backward_layer)", () => {
    const policy = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' } };
    const cell = (className: string, name: string, extra: Record<string, unknown>) => ({
      module: 'keras.layers',
      class_name: className,
      config: {
        name,
        trainable: true,
        dtype: policy,
        return_sequences: true,
        return_state: false,
        go_backwards: false,
        stateful: false,
        unroll: false,
        zero_output_for_mask: false,
        units: 4,
        activation: 'tanh',
        use_bias: true,
        dropout: 0.0,
        recurrent_dropout: 0.0,
        seed: null,
        ...extra,
      },
      registered_name: null,
    });
    const json = {
      module: 'keras',
      class_name: 'Sequential',
      config: {
        name: 'sequential',
        trainable: true,
        dtype: policy,
        layers: [
          {
            module: 'keras.layers',
            class_name: 'InputLayer',
            config: { batch_shape: [null, 5, 3], dtype: 'float32', sparse: false, name: 'input_layer' },
            registered_name: null,
          },
          {
            ...cell('LSTM', 'lstm', { recurrent_activation: 'sigmoid', unit_forget_bias: true }),
            build_config: { input_shape: [null, 5, 3] },
          },
          {
            module: 'keras.layers',
            class_name: 'Bidirectional',
            config: {
              name: 'bidirectional',
              trainable: true,
              dtype: policy,
              merge_mode: 'concat',
              layer: cell('GRU', 'forward_gru', {
                recurrent_activation: 'sigmoid',
                reset_after: true,
                return_sequences: false,
              }),
              backward_layer: cell('GRU', 'backward_gru', {
                recurrent_activation: 'sigmoid',
                reset_after: true,
                return_sequences: false,
                go_backwards: true,
              }),
            },
            registered_name: null,
          },
        ],
      },
      registered_name: null,
    };
    const model = keras.models.modelFromJSON(JSON.stringify(json));
    expect(model.layers.map((l) => l.className)).toEqual(['LSTM', 'Bidirectional']);
    expect(model.outputShape).toEqual([null, 8]);
    expect(model.predict(T.zeros([2, 5, 3])).shape).toEqual([2, 8]);
  });

  it('sequences of any length (inputShape [null, features]): TF.js-saved models predict the same at each length, and fit', async () => {
    for (const kind of ['lstm', 'gru'] as const) {
      const theirs = tfl.sequential({
        layers: [
          tfjsLayer(kind, {
            units: 4,
            returnSequences: true,
            inputShape: [null, FEATURES],
            recurrentActivation: 'sigmoid',
          }),
          tfjsLayer('simpleRNN', { units: 3 }),
          tfl.layers.dense({ units: 2 }),
        ],
      });
      const loaded = await keras.loadModel(await saveWithTfjs(theirs));
      for (const steps of [1, 4, 9])
        await expectSamePredictions(theirs, loaded, seededInput([3, steps, FEATURES], steps), [3, steps, FEATURES]);
      const bidirectional = tfl.sequential({
        layers: [
          tfl.layers.bidirectional({
            layer: tfjsLayer(kind, { units: 3, returnSequences: true, recurrentActivation: 'sigmoid' }) as never,
            inputShape: [null, FEATURES],
          }),
          tfjsLayer(kind, { units: 2, recurrentActivation: 'sigmoid' }),
        ],
      });
      const both = await keras.loadModel(await saveWithTfjs(bidirectional));
      for (const steps of [2, 6])
        await expectSamePredictions(bidirectional, both, seededInput([3, steps, FEATURES], steps), [
          3,
          steps,
          FEATURES,
        ]);
      const perStep = tfl.sequential({
        layers: [
          tfjsLayer(kind, {
            units: 3,
            returnSequences: true,
            inputShape: [null, FEATURES],
            recurrentActivation: 'sigmoid',
          }),
          tfl.layers.timeDistributed({ layer: tfl.layers.dense({ units: 2, activation: 'tanh' }) }),
        ],
      });
      const perStepLoaded = await keras.loadModel(await saveWithTfjs(perStep));
      for (const steps of [1, 5])
        await expectSamePredictions(perStep, perStepLoaded, seededInput([2, steps, FEATURES], steps), [
          2,
          steps,
          FEATURES,
        ]);
      loaded.compile({ optimizer: 'adam', loss: 'meanSquaredError' });
      const x = T.randomNormal([8, 5, FEATURES], { seed: 1 });
      const y = T.randomNormal([8, 2], { seed: 2 });
      const history = await loaded.fit(x, y, { epochs: 5, batchSize: 8, verbose: 0 });
      const losses = history.history['loss']!;
      expect(losses[4]!).toBeLessThan(losses[0]!);
    }
  });

  it('per-step targets (returnSequences, timeDistributed): fit follows TF.js step by step; wrappers count their inner weights', async () => {
    const theirs = tfl.sequential({
      layers: [
        tfjsLayer('lstm', {
          units: 4,
          returnSequences: true,
          inputShape: [5, FEATURES],
          recurrentActivation: 'sigmoid',
        }),
        tfl.layers.timeDistributed({ layer: tfl.layers.dense({ units: 2 }) }),
      ],
    });
    const ours = keras.sequential({
      layers: [
        keras.layers.lstm({ units: 4, returnSequences: true, inputShape: [null, FEATURES] }),
        keras.layers.timeDistributed({ layer: keras.layers.dense({ units: 2 }) }),
      ],
    });
    ours.setWeights(theirs.getWeights().map((w) => T.array(w.dataSync() as Float32Array, { shape: w.shape })));
    expect(ours.countParams()).toBe(theirs.countParams());
    expect(ours.layers[1]!.countParams()).toBe(theirs.layers[1]!.countParams());
    theirs.compile({ optimizer: tf.train.sgd(0.1), loss: 'meanSquaredError' });
    ours.compile({ optimizer: keras.optimizers.sgd(0.1), loss: 'meanSquaredError' });
    const x = seededInput([6, 5, FEATURES], 11);
    const y = seededInput([6, 5, 2], 12);
    const theirHistory = await theirs.fit(tf.tensor(x, [6, 5, FEATURES]), tf.tensor(y, [6, 5, 2]), {
      epochs: 3,
      verbose: 0,
    });
    const ourHistory = await ours.fit(T.array(x, { shape: [6, 5, FEATURES] }), T.array(y, { shape: [6, 5, 2] }), {
      epochs: 3,
      verbose: 0,
    });
    ourHistory.history['loss']!.forEach((v, i) => expect(v).toBeCloseTo(theirHistory.history['loss']![i] as number, 5));
  });

  it('errors name the layer and what is wrong', () => {
    const flat = keras.input({ shape: [3] });
    expect(() => keras.layers.gru({ units: 2, name: 'g' }).apply(flat)).toThrow(
      /gru g: expects \[batch, steps, features\], got rank 2/,
    );
    const x = keras.input({ shape: [4, 3] });
    expect(() => keras.layers.lstm({ units: 2, name: 'l' }).apply([x, keras.input({ shape: [2] })])).toThrow(
      /lstm l: initialState needs 2 tensors/,
    );
    expect(() => keras.layers.simpleRNN({ units: 2, dropout: 1 })).toThrow(/dropout must be in \[0, 1\)/);
  });

  it('returnState gives the final states beside the output (the output is the last h)', () => {
    const x = keras.input({ shape: [5, 3], name: 'x' });
    const [out, h, c] = keras.layers.lstm({ units: 4, returnState: true }).apply(x);
    const model = keras.model({
      inputs: x,
      outputs: [out!, h!, c!].map((t, i) => keras.layers.activation({ activation: 'linear', name: `o${i}` }).apply(t)),
    });
    const [o, hv, cv] = model.predict(T.randomNormal([2, 5, 3], { seed: 17 }));
    expect(Array.from(o!.data)).toEqual(Array.from(hv!.data));
    expect(cv!.shape).toEqual([2, 4]);
    expect(() =>
      keras
        .sequential({ layers: [keras.layers.gru({ units: 2, returnState: true, inputShape: [3, 2] })] })
        .predict(T.zeros([1, 3, 2])),
    ).toThrow(/returns 2 tensors \(returnState\); a sequential model passes one tensor/);
  });

  it('initial states from the functional API start the loop', () => {
    const x = keras.input({ shape: [3, 2], name: 'x' });
    const h0 = keras.input({ shape: [4], name: 'h0' });
    const rnn = keras.layers.simpleRNN({ units: 4, name: 'rnn' });
    const model = keras.model({ inputs: [x, h0], outputs: rnn.apply([x, h0]) });
    const xs = T.randomNormal([2, 3, 2], { seed: 14 });
    const zeros = model.predict([xs, T.zeros([2, 4])]);
    const started = model.predict([xs, T.ones([2, 4])]);
    expect(Array.from(started.data)).not.toEqual(Array.from(zeros.data));
    // Starting from zeros is what the layer does when no initial state is given.
    const plain = keras.sequential({
      layers: [keras.layers.simpleRNN({ units: 4, inputShape: [3, 2], name: 'plain' })],
    });
    plain.setWeights(rnn.getWeights());
    expect(Array.from(plain.predict(xs).data)).toEqual(Array.from(zeros.data));
  });
});

describe('stateful recurrent layers', () => {
  for (const kind of ['simpleRNN', 'lstm', 'gru'] as const)
    it(`${kind}: each call continues from the last one's states until resetStates, as in TF.js`, async () => {
      const theirs = tfl.sequential({
        layers: [
          tfjsLayer(kind, {
            units: 4,
            stateful: true,
            batchInputShape: [2, STEPS, FEATURES],
            ...(kind === 'simpleRNN' ? {} : { recurrentActivation: 'sigmoid' }),
          }),
        ],
      });
      const ours = keras.sequential({
        layers: [
          // TF.js's GRU has only the original form (the reset gate before the recurrent product).
          keras.layers[kind]({
            units: 4,
            stateful: true,
            batchInputShape: [2, STEPS, FEATURES],
            ...(kind === 'gru' ? { resetAfter: false } : {}),
          }),
        ],
      });
      ours.setWeights(theirs.getWeights().map((w) => T.array(w.dataSync() as Float32Array, { shape: w.shape })));
      const batches = [1, 2, 3].map((seed) => seededInput([2, STEPS, FEATURES], seed));
      const run = () =>
        batches.map((b) => {
          const x = tf.tensor3d(b, [2, STEPS, FEATURES]);
          const expected = (theirs.predict(x) as tf.Tensor).dataSync();
          const got = (ours.predict(T.array(b, { shape: [2, STEPS, FEATURES] })) as T.NDArray).data;
          got.forEach((v, i) => expect(Math.abs(v - expected[i]!)).toBeLessThan(1e-5));
          return Array.from(got);
        });
      const first = run();
      // Each batch continued the one before: the same input gives another output now.
      expect(run()[0]).not.toEqual(first[0]);
      theirs.resetStates();
      ours.resetStates();
      expect(run()[0]).toEqual(first[0]!.map((v) => expect.closeTo(v, 6)));
    });

  it('needs a known batch size', () => {
    expect(() =>
      keras
        .sequential({ layers: [keras.layers.lstm({ units: 2, stateful: true, inputShape: [3, 2] })] })
        .predict(T.zeros([2, 3, 2])),
    ).toThrow(/a stateful layer needs a known batch size/);
  });
});
