/** tsano's side of the peer workloads, compiled once with T.compile in wasm mode. */
import * as T from '../src/index.js';
import * as keras from '../src/keras/index.js';
import { cnnWeights, data, LSTM, SMALL, type Workloads } from './peers.js';

/** tsano's workloads, compiled with `threads` threads (TSANO_THREADS is read when a function is compiled). */
export function tsano(threads?: number): Workloads {
  const withThreads = async <R>(build: () => Promise<R>): Promise<R> => {
    const saved = process.env['TSANO_THREADS'];
    if (threads !== undefined) process.env['TSANO_THREADS'] = String(threads);
    try {
      return await build();
    } finally {
      if (saved === undefined) delete process.env['TSANO_THREADS'];
      else process.env['TSANO_THREADS'] = saved;
    }
  };
  const workloads = tsanoWorkloads();
  return {
    matmul: (n) => withThreads(() => workloads.matmul(n)),
    chain: (n) => withThreads(() => workloads.chain(n)),
    mlp: (b) => withThreads(() => workloads.mlp(b)),
    tiny: () => withThreads(() => workloads.tiny()),
    cnn: (b) => withThreads(() => workloads.cnn!(b)),
    lstm: (train, sizes) => withThreads(() => workloads.lstm!(train, sizes)),
    smallPredict: (depth) => withThreads(() => workloads.smallPredict!(depth)),
    cumsum: (n) => withThreads(() => workloads.cumsum!(n)),
    topk: () => withThreads(() => workloads.topk!()),
    einsum: () => withThreads(() => workloads.einsum!()),
  };
}

function tsanoWorkloads(): Workloads {
  const f32 = (d: Float32Array, shape: number[]) => T.array(d, { shape });
  return {
    async matmul(n) {
      const a = T.matrix('a');
      const b = T.matrix('b');
      const f = await T.compile([a, b], T.dot(a, b));
      const [A, B] = [f32(data.seeded(n * n, 1), [n, n]), f32(data.seeded(n * n, 2), [n, n])];
      return () => void f(A, B);
    },
    async chain(size) {
      const x = T.vector('x');
      const f = await T.compile(
        [x],
        T.sub(T.mul(T.tanh(T.add(T.mul(x, 1.5), 0.5)), T.sigmoid(x)), T.log(T.add(1, T.exp(x)))),
      );
      const X = f32(data.seeded(size, 3), [size]);
      return () => void f(X);
    },
    async mlp(batch) {
      const sizes = [784, 512, 512, 10];
      const x = T.matrix('x');
      let h: T.Node = x;
      sizes.slice(1).forEach((n, i) => {
        const w = T.shared(
          f32(
            data.seeded(sizes[i]! * n, 10 + i).map((v) => v * 0.05),
            [sizes[i]!, n],
          ),
          `W${i}`,
        );
        const b = T.shared(T.zeros([n]), `b${i}`);
        const z = T.add(T.dot(h, w), b);
        h = i < sizes.length - 2 ? T.relu(z) : T.softmax(z);
      });
      const f = await T.compile([x], h);
      const X = f32(data.seeded(batch * 784, 4), [batch, 784]);
      return () => void f(X);
    },
    async cnn(batch) {
      const w = cnnWeights();
      const x = T.tensor('img', { shape: [null, 28, 28, 1] });
      const k1 = T.shared(f32(w.k1, [3, 3, 1, 32]), 'k1');
      const k2 = T.shared(f32(w.k2, [3, 3, 32, 64]), 'k2');
      const wd = T.shared(f32(w.wd, [5 * 5 * 64, 10]), 'wd');
      const pool = { poolSize: 2, strides: 2, padding: 'valid' as const, dataFormat: 'channelsLast' as const };
      const h1 = T.maxPool2d(T.relu(T.conv2d(x, k1, { dataFormat: 'channelsLast' })), pool);
      const h2 = T.maxPool2d(T.relu(T.conv2d(h1, k2, { dataFormat: 'channelsLast' })), pool);
      const f = await T.compile([x], T.softmax(T.dot(T.reshape(h2, [-1, 5 * 5 * 64]), wd)));
      const X = f32(data.seeded(batch * 28 * 28, 5), [batch, 28, 28, 1]);
      return () => void f(X);
    },
    async lstm(train, sizes = LSTM) {
      const { batch, steps, features, units } = sizes;
      const model = keras.sequential({ layers: [keras.layers.lstm({ units, inputShape: [steps, features] })] });
      const x = f32(data.seeded(batch * steps * features, 30), [batch, steps, features]);
      if (!train) {
        // makePredictFunction compiles synchronously: with the code generator loaded, on the fused tier.
        await T.ready();
        const predict = model.makePredictFunction();
        return () => void predict(x);
      }
      model.compile({ optimizer: keras.optimizers.adam(0.001), loss: 'mse' });
      const y = T.zeros([batch, units]);
      await model.trainOnBatch(x, y);
      const step = model.trainFunction!;
      const weights = T.ones([batch]);
      return () => void step(x, y, weights);
    },
    async smallPredict(depth) {
      const model = smallModel(depth);
      const x = f32(data.seeded(SMALL.rows * SMALL.features, 40), [SMALL.rows, SMALL.features]);
      model.predict(x);
      return () => void model.predict(x);
    },
    async cumsum(size) {
      const x = T.vector('x');
      const f = await T.compile([x], T.cumsum(x));
      const X = f32(data.seeded(size, 4), [size]);
      return () => void f(X);
    },
    async topk() {
      const x = T.tensor('x', { shape: [256, 10000] });
      const { values, indices } = T.topk(x, 5);
      const f = await T.compile([x], [values, indices]);
      const X = f32(data.seeded(256 * 10000, 5), [256, 10000]);
      return () => void f(X);
    },
    async einsum() {
      // Shapes known when compiled, as TF.js's tensors have them: the contraction is one [8192, 256] by [256, 128] matmul.
      const a = T.tensor('a', { shape: [64, 128, 256] });
      const b = T.tensor('b', { shape: [256, 128] });
      const f = await T.compile([a, b], T.einsum('ijk,kl->ijl', a, b));
      const [A, B] = [f32(data.seeded(64 * 128 * 256, 6), [64, 128, 256]), f32(data.seeded(256 * 128, 7), [256, 128])];
      return () => void f(A, B);
    },
    async tiny() {
      const x = T.vector('x');
      const f = await T.compile([x], T.exp(T.add(T.mul(x, 2), 1)));
      const X = new Float32Array([0.1, 0.2, 0.3, 0.4]);
      return () => void f(X);
    },
  };
}

/** The small-predict workload's model: Dense(64, relu) x depth, then Dense(10, softmax), on 32 features. */
export function smallModel(depth: number): keras.Sequential {
  const { features, width, classes } = SMALL;
  const layers = Array.from({ length: depth }, (_, i) =>
    keras.layers.dense({ units: width, activation: 'relu', ...(i === 0 ? { inputShape: [features] } : {}) }),
  );
  return keras.sequential({ layers: [...layers, keras.layers.dense({ units: classes, activation: 'softmax' })] });
}
