/**
 * The peers of PERFORMANCE.md behind one interface: each builds a workload once and returns a
 * function that runs it to completion (results read back), so every peer is timed the same way.
 */
import { createRequire } from 'node:module';
import path from 'node:path';

export type Runner = () => void;

export interface Workloads {
  matmul(n: number): Promise<Runner>;
  /** tanh(1.5x + 0.5) * sigmoid(x) - log(1 + exp(x)) over `size` elements. */
  chain(size: number): Promise<Runner>;
  /** 784-512-512-10 relu MLP with softmax output. */
  mlp(batch: number): Promise<Runner>;
  /** exp(2x + 1) on 4 floats, result read back. */
  tiny(): Promise<Runner>;
  /** conv 3x3x32 relu, maxpool 2, conv 3x3x64 relu, maxpool 2, dense 10 softmax on 28x28x1 (channels last). */
  cnn?(batch: number): Promise<Runner>;
  /** An LSTM (by default LSTM(128) over 32 steps of 64 features, batch 64): the last state (inference), or one Adam step on MSE to zeros. */
  lstm?(train: boolean, sizes?: LstmSizes): Promise<Runner>;
  /** Keras-style predict of 8 rows through an MLP 32-(64 x depth, relu)-10 softmax: what a small call costs. */
  smallPredict?(depth: number): Promise<Runner>;
  /** A running sum over `size` floats (issue: the op set). */
  cumsum?(size: number): Promise<Runner>;
  /** The 5 largest values (and their indices) of each of 256 rows of 10,000 floats. */
  topk?(): Promise<Runner>;
  /** einsum('ijk,kl->ijl') of [64, 128, 256] by [256, 128] (TF.js: its matMul of the reshaped operand, having no einsum kernel in wasm). */
  einsum?(): Promise<Runner>;
}

/** The small-predict workload's sizes (issue: the hot path). */
export const SMALL = { rows: 8, features: 32, width: 64, classes: 10 } as const;

/** An LSTM workload's sizes. */
export interface LstmSizes {
  readonly batch: number;
  readonly steps: number;
  readonly features: number;
  readonly units: number;
}
/** The LSTM workload's sizes (issue: loops). */
export const LSTM: LstmSizes = { batch: 64, steps: 32, features: 64, units: 128 };

/** Weights of the CNN workload, shared by every peer. */
export function cnnWeights() {
  return {
    k1: seeded(3 * 3 * 1 * 32, 21).map((v) => v * 0.3),
    k2: seeded(3 * 3 * 32 * 64, 22).map((v) => v * 0.05),
    wd: seeded(5 * 5 * 64 * 10, 23).map((v) => v * 0.02),
  };
}

const seeded = (n: number, seed: number) => {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32 - 0.5) * 2);
};
export const data = { seeded };

/** TF.js with its wasm backend set and ready. */
export async function tfjsWithWasm(): Promise<typeof import('@tensorflow/tfjs-core')> {
  const tf = await import('@tensorflow/tfjs-core');
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const require = createRequire(import.meta.url);
  wasm.setWasmPaths(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')) + '/dist/');
  await tf.setBackend('wasm');
  await tf.ready();
  return tf;
}

export async function tfjsWasm(): Promise<Workloads> {
  const tf = await tfjsWithWasm();
  const run = (f: () => InstanceType<typeof tf.Tensor>) => () => {
    const out = f();
    out.dataSync();
    out.dispose();
  };
  return {
    async matmul(n) {
      const a = tf.tensor2d(seeded(n * n, 1), [n, n]);
      const b = tf.tensor2d(seeded(n * n, 2), [n, n]);
      return run(() => tf.matMul(a, b));
    },
    async cumsum(size) {
      const x = tf.tensor1d(seeded(size, 4));
      return run(() => tf.cumsum(x));
    },
    async topk() {
      const x = tf.tensor2d(seeded(256 * 10000, 5), [256, 10000]);
      return () => {
        const { values, indices } = tf.topk(x, 5);
        values.dataSync();
        indices.dataSync();
        values.dispose();
        indices.dispose();
      };
    },
    async einsum() {
      const a = tf.tensor3d(seeded(64 * 128 * 256, 6), [64, 128, 256]);
      const b = tf.tensor2d(seeded(256 * 128, 7), [256, 128]);
      // TF.js's wasm backend has no Einsum kernel: the contraction as its users write it there.
      return run(() => tf.tidy(() => tf.reshape(tf.matMul(tf.reshape(a, [64 * 128, 256]), b), [64, 128, 128])));
    },
    async chain(size) {
      const x = tf.tensor1d(seeded(size, 3));
      return run(() =>
        tf.tidy(() =>
          tf.sub(tf.mul(tf.tanh(tf.add(tf.mul(x, 1.5), 0.5)), tf.sigmoid(x)), tf.log(tf.add(1, tf.exp(x)))),
        ),
      );
    },
    async mlp(batch) {
      const x = tf.tensor2d(seeded(batch * 784, 4), [batch, 784]);
      const sizes = [784, 512, 512, 10];
      const ws = sizes.slice(1).map((n, i) =>
        tf.tensor2d(
          seeded(sizes[i]! * n, 10 + i).map((v) => v * 0.05),
          [sizes[i]!, n],
        ),
      );
      const bs = sizes.slice(1).map((n) => tf.zeros([n]));
      return run(() =>
        tf.tidy(() => {
          let h: InstanceType<typeof tf.Tensor> = x;
          ws.forEach((w, i) => {
            const z = tf.add(tf.matMul(h, w), bs[i]!);
            h = i < ws.length - 1 ? tf.relu(z) : tf.softmax(z);
          });
          return h;
        }),
      );
    },
    async tiny() {
      const x = tf.tensor1d([0.1, 0.2, 0.3, 0.4]);
      return run(() => tf.tidy(() => tf.exp(tf.add(tf.mul(x, 2), 1))));
    },
    async cnn(batch) {
      const w = cnnWeights();
      const x = tf.tensor4d(seeded(batch * 28 * 28, 5), [batch, 28, 28, 1]);
      const k1 = tf.tensor4d(w.k1, [3, 3, 1, 32]);
      const k2 = tf.tensor4d(w.k2, [3, 3, 32, 64]);
      const wd = tf.tensor2d(w.wd, [5 * 5 * 64, 10]);
      return run(() =>
        tf.tidy(() => {
          const h1 = tf.maxPool(tf.relu(tf.conv2d(x, k1, 1, 'valid')), 2, 2, 'valid');
          const h2 = tf.maxPool(tf.relu(tf.conv2d(h1, k2, 1, 'valid')), 2, 2, 'valid');
          return tf.softmax(tf.matMul(tf.reshape(h2, [batch, 5 * 5 * 64]), wd));
        }),
      );
    },
    async smallPredict(depth) {
      const tfl = await import('@tensorflow/tfjs-layers');
      const { rows, features, width, classes } = SMALL;
      const layers = Array.from({ length: depth }, (_, i) =>
        tfl.layers.dense({ units: width, activation: 'relu', ...(i === 0 ? { inputShape: [features] } : {}) }),
      );
      const model = tfl.sequential({
        layers: [...layers, tfl.layers.dense({ units: classes, activation: 'softmax' })],
      });
      const x = tf.tensor2d(seeded(rows * features, 40), [rows, features]);
      return run(() => model.predict(x) as InstanceType<typeof tf.Tensor>);
    },
    async lstm(train, sizes = LSTM) {
      const tfl = await import('@tensorflow/tfjs-layers');
      const { batch, steps, features, units } = sizes;
      // glorot for the recurrent kernel: TF.js's orthogonal initializer needs its chained ops loaded
      const model = tfl.sequential({
        layers: [tfl.layers.lstm({ units, inputShape: [steps, features], recurrentInitializer: 'glorotUniform' })],
      });
      const x = tf.tensor3d(seeded(batch * steps * features, 30), [batch, steps, features]);
      if (!train) return run(() => model.predict(x) as InstanceType<typeof tf.Tensor>);
      const y = tf.zeros([batch, units]);
      const optimizer = tf.train.adam(0.001);
      return () => {
        const loss = optimizer.minimize(
          () => tf.losses.meanSquaredError(y, model.apply(x, { training: true }) as InstanceType<typeof tf.Tensor>),
          true,
        )!;
        loss.dataSync();
        loss.dispose();
      };
    },
  };
}

export async function jaxJs(): Promise<Workloads> {
  // jax-js looks for a browser; on Node 20 it needs a navigator before import.
  (globalThis as { navigator?: unknown }).navigator ??= { hardwareConcurrency: 1, userAgent: 'node' };
  const jax = (await import('@jax-js/jax')) as unknown as JaxModule;
  await jax.init();
  const { numpy: np, nn, jit } = jax;
  const arr = (d: Float32Array, shape: number[]) => np.array(d).reshape(shape);
  const run = (f: () => JaxArray) => () => void f().dataSync();
  return {
    async matmul(n) {
      const a = arr(seeded(n * n, 1), [n, n]);
      const b = arr(seeded(n * n, 2), [n, n]);
      const f = jit((x: JaxArray, y: JaxArray) => np.matmul(x, y));
      return run(() => f(a.ref, b.ref));
    },
    async chain(size) {
      const x = arr(seeded(size, 3), [size]);
      const f = jit((v: JaxArray) =>
        np
          .tanh(v.ref.mul(1.5).add(0.5))
          .mul(nn.sigmoid(v.ref))
          .sub(np.log(np.exp(v).add(1))),
      );
      return run(() => f(x.ref));
    },
    async mlp(batch) {
      const sizes = [784, 512, 512, 10];
      const x = arr(seeded(batch * 784, 4), [batch, 784]);
      const ws = sizes.slice(1).map((n, i) =>
        arr(
          seeded(sizes[i]! * n, 10 + i).map((v) => v * 0.05),
          [sizes[i]!, n],
        ),
      );
      const bs = sizes.slice(1).map((n) => np.zeros([n]));
      const f = jit((h0: JaxArray, w: JaxArray[], b: JaxArray[]) => {
        let h = h0;
        w.forEach((wi, i) => {
          const z = np.matmul(h, wi).add(b[i]!);
          h = i < w.length - 1 ? nn.relu(z) : nn.softmax(z);
        });
        return h;
      });
      return run(() =>
        f(
          x.ref,
          ws.map((w) => w.ref),
          bs.map((b) => b.ref),
        ),
      );
    },
    async tiny() {
      const x = arr(new Float32Array([0.1, 0.2, 0.3, 0.4]), [4]);
      const f = jit((v: JaxArray) => np.exp(v.mul(2).add(1)));
      return run(() => f(x.ref));
    },
  };
}

// The slice of jax-js's API used here (its own types are loose about JsTree arguments).
interface JaxArray {
  readonly ref: JaxArray;
  mul(o: JaxArray | number): JaxArray;
  add(o: JaxArray | number): JaxArray;
  sub(o: JaxArray | number): JaxArray;
  reshape(shape: number[]): JaxArray;
  dataSync(): unknown;
}
interface JaxModule {
  init(): Promise<unknown>;
  jit<F extends (...args: never[]) => JaxArray>(f: F): F;
  numpy: {
    array(d: Float32Array): JaxArray;
    zeros(shape: number[]): JaxArray;
    matmul(a: JaxArray, b: JaxArray): JaxArray;
    tanh(a: JaxArray): JaxArray;
    exp(a: JaxArray): JaxArray;
    log(a: JaxArray): JaxArray;
  };
  nn: { sigmoid(a: JaxArray): JaxArray; relu(a: JaxArray): JaxArray; softmax(a: JaxArray): JaxArray };
}
