/**
 * A small GPT-style model (the Keras transformers issue's row): token and position embeddings, 2
 * pre-norm blocks of causal multi-head self-attention and a GELU feed-forward, d_model 128, 4 heads,
 * 128 tokens, batch 16, next-token logits over 64 symbols. tsano's Keras layers against the same model
 * written with TF.js's ops on its wasm backend: one Adam training step, and inference.
 */
import * as T from '../src/index.js';
import * as keras from '../src/keras/index.js';
import { steady } from './timing.js';
import { data, tfjsWithWasm } from './peers.js';

const SIZES = { batch: 16, tokens: 128, width: 128, heads: 4, blocks: 2, vocab: 64 } as const;
const { batch, tokens, width, heads, blocks, vocab } = SIZES;

const ids = Int32Array.from(data.seeded(batch * tokens, 70), (v) => Math.floor((v + 1) * 0.5 * vocab) % vocab);
const next = Float32Array.from(data.seeded(batch * tokens, 71), (v) => Math.floor((v + 1) * 0.5 * vocab) % vocab);
const positions = Int32Array.from({ length: batch * tokens }, (_, i) => i % tokens);

async function tsanoModel() {
  const input = (name: string) => keras.input({ shape: [tokens], name, dtype: 'int32' });
  const [tok, pos] = [input('tokens'), input('positions')];
  let h = keras.layers
    .add()
    .apply([
      keras.layers.embedding({ inputDim: vocab, outputDim: width }).apply(tok),
      keras.layers.embedding({ inputDim: tokens, outputDim: width }).apply(pos),
    ]);
  for (let b = 0; b < blocks; b++) {
    const a = keras.layers.layerNormalization().apply(h);
    const attended = keras.layers
      .multiHeadAttention({ numHeads: heads, keyDim: width / heads, useCausalMask: true })
      .apply([a, a]);
    h = keras.layers.add().apply([h, attended]);
    const f = keras.layers.layerNormalization().apply(h);
    const ff = keras.layers
      .dense({ units: width })
      .apply(keras.layers.dense({ units: 4 * width, activation: 'gelu' }).apply(f));
    h = keras.layers.add().apply([h, ff]);
  }
  const logits = keras.layers.dense({ units: vocab }).apply(keras.layers.layerNormalization().apply(h));
  const model = keras.model({ inputs: [tok, pos], outputs: logits });
  model.compile({
    optimizer: keras.optimizers.adam(0.001),
    loss: { name: 'sparseCategoricalCrossentropy', fromLogits: true },
  });
  const x = T.array(ids, { shape: [batch, tokens], dtype: 'int32' });
  const p = T.array(positions, { shape: [batch, tokens], dtype: 'int32' });
  const y = T.array(next, { shape: [batch, tokens] });
  await model.trainOnBatch([x, p], y);
  const step = model.trainFunction!;
  const weights = T.ones([batch]);
  const predict = model.makePredictFunction();
  return { train: () => step(x, p, y, weights), infer: () => predict(x, p) };
}

async function tfjsModel() {
  const tf = await tfjsWithWasm();
  // tfjs-core alone registers no gradients; tfjs-layers registers them all when loaded.
  await import('@tensorflow/tfjs-layers');
  let seed = 80;
  const weight = (shape: number[], scale: number) =>
    tf.variable(
      tf.tensor(
        data
          .seeded(
            shape.reduce((a, b) => a * b, 1),
            seed++,
          )
          .map((v) => v * scale),
        shape,
      ),
    );
  const ones = (n: number) => tf.variable(tf.ones([n]));
  const zeros = (n: number) => tf.variable(tf.zeros([n]));
  const s = 1 / Math.sqrt(width);
  const params = {
    tok: weight([vocab, width], 0.05),
    pos: weight([tokens, width], 0.05),
    blocks: Array.from({ length: blocks }, () => ({
      g1: ones(width),
      b1: zeros(width),
      wq: weight([width, width], s),
      bq: zeros(width),
      wk: weight([width, width], s),
      bk: zeros(width),
      wv: weight([width, width], s),
      bv: zeros(width),
      wo: weight([width, width], s),
      bo: zeros(width),
      g2: ones(width),
      b2: zeros(width),
      w1: weight([width, 4 * width], s),
      c1: zeros(4 * width),
      w2: weight([4 * width, width], s / 2),
      c2: zeros(width),
    })),
    g: ones(width),
    b: zeros(width),
    out: weight([width, vocab], s),
    outBias: zeros(vocab),
  };
  type Tensor = ReturnType<typeof tf.tensor>;
  const dense = (x: Tensor, w: Tensor, b: Tensor) =>
    tf.reshape(tf.add(tf.matMul(tf.reshape(x, [-1, x.shape[x.rank - 1]!]), w), b), [
      ...x.shape.slice(0, -1),
      w.shape[1]!,
    ]);
  const norm = (x: Tensor, g: Tensor, b: Tensor) => {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-3))), g), b);
  };
  const gelu = (x: Tensor) => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
  const causal = tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([tokens, tokens]), -1, 0)), -1e9);
  const dh = width / heads;
  const split = (x: Tensor) => tf.transpose(tf.reshape(x, [batch, tokens, heads, dh]), [0, 2, 1, 3]);
  // The embedding as a product with one-hot rows: the wasm backend has no kernel for gather's gradient.
  const x = tf.oneHot(tf.tensor1d(ids, 'int32'), vocab);
  const labels = tf.oneHot(tf.tensor1d(Int32Array.from(next), 'int32'), vocab);
  const forward = () => {
    let h = tf.add(tf.reshape(tf.matMul(x, params.tok), [batch, tokens, width]), params.pos);
    for (const p of params.blocks) {
      const a = norm(h, p.g1, p.b1);
      const [q, k, v] = [split(dense(a, p.wq, p.bq)), split(dense(a, p.wk, p.bk)), split(dense(a, p.wv, p.bv))];
      const scores = tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(dh)), causal);
      const mixed = tf.reshape(tf.transpose(tf.matMul(tf.softmax(scores), v), [0, 2, 1, 3]), [batch, tokens, width]);
      h = tf.add(h, dense(mixed, p.wo, p.bo));
      h = tf.add(h, dense(gelu(dense(norm(h, p.g2, p.b2), p.w1, p.c1)), p.w2, p.c2));
    }
    return dense(norm(h, params.g, params.b), params.out, params.outBias);
  };
  const optimizer = tf.train.adam(0.001);
  return {
    train: () => {
      const loss = optimizer.minimize(
        () => tf.losses.softmaxCrossEntropy(labels, tf.reshape(forward(), [-1, vocab])) as ReturnType<typeof tf.scalar>,
        true,
      )!;
      loss.dataSync();
      loss.dispose();
    },
    infer: () => {
      const out = tf.tidy(forward);
      out.dataSync();
      out.dispose();
    },
  };
}

export async function transformerBench(): Promise<void> {
  await T.ready();
  console.log(
    `\ntransformer: GPT-style, ${blocks} blocks, d_model ${width}, ${heads} heads, ${tokens} tokens, batch ${batch}, causal`,
  );
  const ours = await tsanoModel();
  const oursTrain = steady(ours.train, 5);
  const oursInfer = steady(ours.infer, 5);
  let line = `tsano: training step ${oursTrain.toFixed(1)} ms, inference ${oursInfer.toFixed(1)} ms`;
  try {
    const theirs = await tfjsModel();
    const theirTrain = steady(theirs.train, 3);
    const theirInfer = steady(theirs.infer, 3);
    line += `; TF.js wasm (its ops): training step ${theirTrain.toFixed(1)} ms (${(oursTrain / theirTrain).toFixed(2)}x), inference ${theirInfer.toFixed(1)} ms (${(oursInfer / theirInfer).toFixed(2)}x)`;
  } catch (e) {
    line += `; TF.js: not available (${(e as Error).message})`;
  }
  console.log(line);
}
