/**
 * A character-level transformer trained on text the repository holds (its README and docs): tokens
 * and positions embedded, causal multi-head self-attention blocks, next-character prediction at every
 * position, and a sample generated from a prompt. No download, one compiled training step.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as T from '../index.js';
import * as keras from '../keras/index.js';
import { Random } from '../../runtime/random.js';

export interface TransformerDemoOptions {
  /** Training steps (batches). */
  steps?: number;
  /** Characters the model sees at once. */
  context?: number;
  width?: number;
  heads?: number;
  blocks?: number;
  batchSize?: number;
  /** Characters to generate after the prompt. */
  generate?: number;
  log?: (line: string) => void;
  seed?: number;
}

/** The repository's README and docs, found from this module upwards (the source tree or its build). */
function corpus(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  const docs = path.join(dir, 'docs');
  const files = [
    path.join(dir, 'README.md'),
    ...readdirSync(docs)
      .filter((f) => f.endsWith('.md'))
      .map((f) => path.join(docs, f)),
  ];
  return files.map((f) => readFileSync(f, 'utf8')).join('\n');
}

/** One transformer block: pre-norm causal self-attention and a GELU feed-forward, each with its residual. */
function block(x: T.Node, width: number, heads: number, k: number): T.Node {
  const attended = keras.layers
    .multiHeadAttention({ numHeads: heads, keyDim: width / heads, useCausalMask: true, name: `attention_${k}` })
    .apply([
      keras.layers.layerNormalization({ name: `norm_${k}a` }).apply(x),
      keras.layers.layerNormalization({ name: `norm_${k}b` }).apply(x),
    ]);
  const h = keras.layers.add({ name: `residual_${k}a` }).apply([x, attended]);
  const normed = keras.layers.layerNormalization({ name: `norm_${k}c` }).apply(h);
  const ff = keras.layers
    .dense({ units: width, name: `project_${k}` })
    .apply(keras.layers.dense({ units: 2 * width, activation: 'gelu', name: `expand_${k}` }).apply(normed));
  return keras.layers.add({ name: `residual_${k}b` }).apply([h, ff]);
}

export async function runTransformerDemo(
  options: TransformerDemoOptions = {},
): Promise<{ losses: number[]; sample: string; secondsPerStep: number }> {
  const { steps = 300, context = 64, width = 64, heads = 4, blocks = 2, batchSize = 32, generate = 200 } = options;
  const { log = console.log, seed = 1 } = options;
  const text = corpus();
  const alphabet = [...new Set(text)].sort();
  const id = new Map(alphabet.map((c, i) => [c, i]));
  const ids = Int32Array.from(text, (c) => id.get(c)!);
  log(`text: ${text.length} characters of the repository's docs, ${alphabet.length} distinct`);

  const tokens = keras.input({ shape: [context], name: 'tokens', dtype: 'int32' });
  const positions = keras.input({ shape: [context], name: 'positions', dtype: 'int32' });
  let h = keras.layers
    .add({ name: 'embed' })
    .apply([
      keras.layers.embedding({ inputDim: alphabet.length, outputDim: width, name: 'token_embedding' }).apply(tokens),
      keras.layers.embedding({ inputDim: context, outputDim: width, name: 'position_embedding' }).apply(positions),
    ]);
  for (let k = 0; k < blocks; k++) h = block(h, width, heads, k);
  const logits = keras.layers
    .dense({ units: alphabet.length, name: 'next_character' })
    .apply(keras.layers.layerNormalization({ name: 'norm_out' }).apply(h));
  const model = keras.model({ inputs: [tokens, positions], outputs: logits, name: 'char_transformer' });
  model.compile({
    optimizer: keras.optimizers.adam(0.003),
    loss: { name: 'sparseCategoricalCrossentropy', fromLogits: true },
  });
  log(
    `model: ${blocks} blocks, width ${width}, ${heads} heads, ${context} characters of context, ${model.countParams()} weights`,
  );

  const random = new Random(seed);
  const positionsBatch = (rows: number) =>
    T.array(
      Int32Array.from({ length: rows * context }, (_, i) => i % context),
      { shape: [rows, context], dtype: 'int32' },
    );
  const window = (rows: number) => {
    const x = new Int32Array(rows * context);
    const y = new Float32Array(rows * context);
    for (let r = 0; r < rows; r++) {
      const start = Math.floor(random.uniform() * (ids.length - context - 1));
      x.set(ids.subarray(start, start + context), r * context);
      for (let t = 0; t < context; t++) y[r * context + t] = ids[start + t + 1]!;
    }
    return { x: T.array(x, { shape: [rows, context], dtype: 'int32' }), y: T.array(y, { shape: [rows, context] }) };
  };
  const losses: number[] = [];
  const started = performance.now();
  const positionsForBatch = positionsBatch(batchSize);
  for (let s = 0; s < steps; s++) {
    const { x, y } = window(batchSize);
    losses.push((await model.trainOnBatch([x, positionsForBatch], y)) as number);
    if ((s + 1) % Math.max(1, Math.floor(steps / 10)) === 0 || s === steps - 1)
      log(`step ${s + 1}/${steps}: loss ${losses[losses.length - 1]!.toFixed(3)}`);
  }
  const secondsPerStep = (performance.now() - started) / 1000 / steps;

  // Generation: the last `context` characters in, the next one sampled (temperature 0.8) from the last position.
  const prompt = 'The loop ';
  let written = prompt;
  const predict = model.makePredictFunction();
  const onePosition = positionsBatch(1);
  for (let i = 0; i < generate; i++) {
    const recent = Array.from(written.slice(-context), (c) => id.get(c) ?? 0);
    const padded = Int32Array.from({ length: context }, (_, t) => recent[t - (context - recent.length)] ?? 0);
    const out = predict(T.array(padded, { shape: [1, context], dtype: 'int32' }), onePosition) as T.NDArray;
    // The prediction for the last real character: position recent.length − 1 once right-aligned.
    const at = (context - 1) * alphabet.length;
    const scores = Array.from(out.data.subarray(at, at + alphabet.length), (v) => v / 0.8);
    const top = Math.max(...scores);
    const weights = scores.map((v) => Math.exp(v - top));
    let u = random.uniform() * weights.reduce((a, b) => a + b, 0);
    let next = 0;
    while (next < weights.length - 1 && (u -= weights[next]!) > 0) next++;
    written += alphabet[next];
  }
  log(`sample: ${JSON.stringify(written)}`);
  log(`${(secondsPerStep * 1000).toFixed(1)} ms a training step (batch ${batchSize})`);
  return { losses, sample: written, secondsPerStep };
}
