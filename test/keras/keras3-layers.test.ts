/** Keras 3 layers added for everyday models, each against its Keras formula written out in float64. */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as T from 'tsano';
import * as keras from 'tsano/keras';

beforeAll(() => keras.backend.setFloatx('float64'));
afterAll(() => keras.backend.setFloatx('float32'));

const random = (shape: number[], seed: number) => T.randomNormal(shape, { seed, dtype: 'float64' });
const run = async (
  layer: { apply(x: T.Node | T.Node[], training?: boolean): T.Node | T.Node[] },
  xs: T.NDArray[],
  training = false,
) => {
  const inputs = xs.map((x, i) => T.tensor(`x${i}`, { shape: [...x.shape], dtype: x.dtype }));
  const y = layer.apply(inputs.length === 1 ? inputs[0]! : inputs, training) as T.Node;
  return (await T.compile(inputs, y))(...xs);
};
const close = (got: ArrayLike<number>, want: ArrayLike<number>, tolerance = 1e-10) => {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < got.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(tolerance);
};

describe('Keras 3 layers against their formulas', () => {
  it('ELU, Rescaling, Identity, UnitNormalization', async () => {
    const x = random([3, 4], 1);
    const v = Array.from(x.data);
    close(
      (await run(keras.layers.elu({ alpha: 0.5 }), [x])).data,
      v.map((a) => (a > 0 ? a : 0.5 * Math.expm1(a))),
    );
    close(
      (await run(keras.layers.rescaling({ scale: 1 / 255, offset: -1 }), [x])).data,
      v.map((a) => a / 255 - 1),
    );
    close((await run(keras.layers.identity(), [x])).data, v);
    const rows = [0, 1, 2].map((r) => v.slice(r * 4, r * 4 + 4));
    close(
      (await run(keras.layers.unitNormalization(), [x])).data,
      rows.flatMap((row) =>
        row.map(
          (a) =>
            a /
            Math.sqrt(
              Math.max(
                row.reduce((s, b) => s + b * b, 0),
                1e-12,
              ),
            ),
        ),
      ),
    );
  });

  it('GroupNormalization: statistics per sample and group, over every other axis', async () => {
    const [batch, steps, channels, groups] = [2, 3, 6, 3];
    const x = random([batch, steps, channels], 2);
    const layer = keras.layers.groupNormalization({ groups, epsilon: 1e-3 });
    const got = await run(layer, [x]);
    // Random gamma and beta, so a mix-up of channels shows.
    layer.setWeights(layer.getWeights().map((w, i) => random([...w.shape], 10 + i)));
    const [gamma, beta] = layer.getWeights().map((w) => Array.from(w.data));
    const again = await run(layer, [x]);
    const at = (b: number, t: number, c: number) => x.data[(b * steps + t) * channels + c]!;
    const want: number[] = [];
    for (let b = 0; b < batch; b++)
      for (let t = 0; t < steps; t++)
        for (let c = 0; c < channels; c++) {
          const size = channels / groups;
          const g = Math.floor(c / size);
          const members: number[] = [];
          for (let s = 0; s < steps; s++) for (let k = g * size; k < (g + 1) * size; k++) members.push(at(b, s, k));
          const mean = members.reduce((s, a) => s + a, 0) / members.length;
          const variance = members.reduce((s, a) => s + (a - mean) ** 2, 0) / members.length;
          want.push(((at(b, t, c) - mean) / Math.sqrt(variance + 1e-3)) * gamma![c]! + beta![c]!);
        }
    expect(got.shape).toEqual([batch, steps, channels]);
    close(again.data, want);
    expect(() => keras.layers.groupNormalization({ groups: 4 }).apply(T.tensor('x', { shape: [null, 6] }))).toThrow(
      /6 channels cannot be split into 4 groups/,
    );
  });

  it('CenterCrop: the central window of each image', async () => {
    const x = random([2, 5, 6, 2], 3);
    const got = await run(keras.layers.centerCrop({ height: 3, width: 4, dataFormat: 'channelsLast' }), [x]);
    expect(got.shape).toEqual([2, 3, 4, 2]);
    const want: number[] = [];
    for (let b = 0; b < 2; b++)
      for (let r = 1; r < 4; r++)
        for (let c = 1; c < 5; c++) for (let k = 0; k < 2; k++) want.push(x.data[((b * 5 + r) * 6 + c) * 2 + k]!);
    close(got.data, want);
    await expect(
      run(keras.layers.centerCrop({ height: 8, width: 4, dataFormat: 'channelsLast' }), [x]),
    ).rejects.toThrow(/images of height 5 are smaller than the crop's 8/);
  });

  it('Attention (dot and concat, scaled) and AdditiveAttention, with a causal mask', async () => {
    const [batch, tq, tv, d] = [2, 3, 4, 5];
    const q = random([batch, tq, d], 4);
    const v = random([batch, tv, d], 5);
    const cases: [
      string,
      () => ReturnType<typeof keras.layers.attention>,
      (a: number[], b: number[], w: number[][]) => number,
    ][] = [
      ['dot', () => keras.layers.attention(), (a, b) => a.reduce((s, x, i) => s + x * b[i]!, 0)],
      [
        'dot scaled',
        () => keras.layers.attention({ useScale: true }),
        (a, b, [scale]) => scale![0]! * a.reduce((s, x, i) => s + x * b[i]!, 0),
      ],
      [
        'concat scaled',
        () => keras.layers.attention({ scoreMode: 'concat', useScale: true }),
        (a, b, [scale, weight]) => weight![0]! * a.reduce((s, x, i) => s + Math.tanh(scale![0]! * (x + b[i]!)), 0),
      ],
      [
        'additive',
        () => keras.layers.additiveAttention(),
        (a, b, [scale]) => a.reduce((s, x, i) => s + scale![i]! * Math.tanh(x + b[i]!), 0),
      ],
    ];
    for (const causal of [false, true])
      for (const [name, make, score] of cases) {
        const layer = make();
        await run(layer, [q, v]);
        layer.setWeights(layer.getWeights().map((w, i) => random([...w.shape], 20 + i)));
        const weights = layer.getWeights().map((w) => Array.from(w.data));
        const causalLayer = causal ? make() : layer;
        if (causal) {
          (causalLayer as unknown as { args: { useCausalMask: boolean } }).args.useCausalMask = true;
          await run(causalLayer, [q, q]);
          causalLayer.setWeights(layer.getWeights());
        }
        const value = causal ? q : v;
        const steps = causal ? tq : tv;
        const got = await run(causalLayer, [q, value]);
        const row = (a: T.NDArray, b: number, t: number, n: number) =>
          Array.from(a.data.slice((b * n + t) * d, (b * n + t + 1) * d));
        const want: number[] = [];
        for (let b = 0; b < batch; b++)
          for (let t = 0; t < tq; t++) {
            const scores = Array.from(
              { length: steps },
              (_, s) => score(row(q, b, t, tq), row(value, b, s, steps), weights) - (causal && s > t ? 1e9 : 0),
            );
            const top = Math.max(...scores);
            const e = scores.map((s) => Math.exp(s - top));
            const total = e.reduce((a, c) => a + c, 0);
            for (let k = 0; k < d; k++)
              want.push(e.reduce((acc, w, s) => acc + (w / total) * row(value, b, s, steps)[k]!, 0));
          }
        close(got.data, want, 1e-9);
        void name;
      }
  });

  it('GaussianDropout and AlphaDropout: identity at inference; while training, the moments Keras keeps', async () => {
    const x = random([200, 100], 6);
    for (const layer of [keras.layers.gaussianDropout({ rate: 0.3 }), keras.layers.alphaDropout({ rate: 0.3 })])
      close((await run(layer, [x])).data, x.data);
    const moments = (a: ArrayLike<number>) => {
      const n = a.length;
      let [mean, square] = [0, 0];
      for (let i = 0; i < n; i++) ((mean += a[i]! / n), (square += (a[i]! * a[i]!) / n));
      return [mean, square - mean * mean] as const;
    };
    // GaussianDropout of ones: mean 1, variance rate / (1 − rate).
    const ones = T.ones([200, 100], 'float64');
    const [gm, gv] = moments((await run(keras.layers.gaussianDropout({ rate: 0.3, seed: 3 }), [ones], true)).data);
    expect(gm).toBeCloseTo(1, 1);
    expect(gv).toBeCloseTo(0.3 / 0.7, 1);
    // AlphaDropout keeps a standard normal input's mean 0 and variance 1 (SELU's fixed point).
    const [am, av] = moments((await run(keras.layers.alphaDropout({ rate: 0.3, seed: 4 }), [x], true)).data);
    expect(am).toBeCloseTo(0, 1);
    expect(av).toBeCloseTo(1, 1);
  });

  it('each saves and loads in a .keras file; a Lambda runs its function and refuses to be saved', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tsano-k3-layers-'));
    const x = keras.input({ shape: [4, 6], name: 'x' });
    const image = keras.input({ shape: [5, 6, 2], name: 'image' });
    let h = keras.layers.elu({ alpha: 0.7 }).apply(x);
    h = keras.layers.rescaling({ scale: 0.5, offset: 0.1 }).apply(h);
    h = keras.layers.groupNormalization({ groups: 3 }).apply(h);
    h = keras.layers.unitNormalization().apply(h);
    h = keras.layers.identity().apply(h);
    h = keras.layers.attention({ useScale: true }).apply([h, h]);
    h = keras.layers.additiveAttention().apply([h, h]);
    h = keras.layers.gaussianDropout({ rate: 0.2 }).apply(h);
    h = keras.layers.alphaDropout({ rate: 0.2 }).apply(h);
    const cropped = keras.layers
      .flatten()
      .apply(keras.layers.centerCrop({ height: 2, width: 3, dataFormat: 'channelsLast' }).apply(image));
    const model = keras.model({ inputs: [x, image], outputs: [keras.layers.flatten().apply(h), cropped] });
    const inputs = [random([2, 4, 6], 7), random([2, 5, 6, 2], 8)];
    const expected = model.predict(inputs) as T.NDArray[];
    await model.save(path.join(dir, 'm.keras'));
    const loaded = await keras.loadModel<T.NDArray[]>(path.join(dir, 'm.keras'));
    expect(loaded.layers.map((l) => l.className)).toEqual(model.layers.map((l) => l.className));
    (loaded.predict(inputs) as T.NDArray[]).forEach((y, i) => close(y.data, expected[i]!.data, 1e-6));

    const doubled = keras.layers.lambda({ fn: (v) => T.mul(v as T.Node, 2) });
    close(
      (await run(doubled, [inputs[0]!])).data,
      Array.from(inputs[0]!.data, (a) => a * 2),
    );
    const withLambda = keras.model({ inputs: x, outputs: doubled.apply(x) });
    await expect(withLambda.save(path.join(dir, 'lambda.keras'))).rejects.toThrow(
      /Lambda layer holds a JavaScript function/,
    );
  });
});

describe('Normalization (preprocessing)', () => {
  it('adapts to data as Keras does, normalizes with max(√variance, epsilon), inverts, saves its statistics', async () => {
    const data = T.array([0, 7, 4, 2, 9, 6, 0, 7, 4, 2, 9, 6], { shape: [4, 3], dtype: 'float64' });
    const layer = keras.layers.normalization();
    layer.adapt(data);
    // Keras's own documented example: each feature's mean and variance, [[0, 7, 4]] gives [-1, -1, -1].
    close((await run(layer, [T.array([0, 7, 4], { shape: [1, 3], dtype: 'float64' })])).data, [-1, -1, -1]);
    const [mean, variance, count] = layer.getWeights().map((w) => Array.from(w.data));
    expect(mean).toEqual([1, 8, 5]);
    expect(variance).toEqual([1, 1, 1]);
    expect(count).toEqual([4]);
    // A feature that never varies divides by epsilon, not by 0.
    const constant = keras.layers.normalization();
    constant.adapt(T.array([3, 1, 3, 2], { shape: [2, 2], dtype: 'float64' }));
    const out = (await run(constant, [T.array([3, 2], { shape: [1, 2], dtype: 'float64' })])).data;
    expect(out[0]).toBe(0);
    expect(Number.isFinite(out[1]!)).toBe(true);
    const back = keras.layers.normalization({ mean: [1, 8, 5], variance: [4, 1, 9], invert: true });
    close((await run(back, [T.array([1, -1, 2], { shape: [1, 3], dtype: 'float64' })])).data, [3, 7, 11]);
    // Saved and loaded: the adapted statistics travel with the model.
    const x = keras.input({ shape: [3], name: 'x' });
    const model = keras.model({ inputs: x, outputs: layer.apply(x) });
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'tsano-norm-')), 'm.keras');
    await model.save(file);
    const loaded = await keras.loadModel(file);
    close((loaded.predict(data) as T.NDArray).data, (model.predict(data) as T.NDArray).data);
    expect(() => keras.layers.normalization({ mean: 1 } as never)).toThrow(/give both mean and variance/);
  });
});

describe("a Normalization's statistics from Keras's own layout", () => {
  it('loads a weights file whose count is an int64 scalar, as Keras writes it', async () => {
    const h5wasm = (await import('h5wasm/node')).default;
    await h5wasm.ready;
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'tsano-norm-h5-')), 'm.weights.h5');
    const f = new h5wasm.File(file, 'w');
    f.create_group('vars');
    const vars = f.create_group('layers').create_group('normalization').create_group('vars');
    vars.create_dataset({ name: '0', data: Float32Array.from([1, 8, 5]), shape: [3] });
    vars.create_dataset({ name: '1', data: Float32Array.from([4, 1, 9]), shape: [3] });
    vars.create_dataset({ name: '2', data: BigInt64Array.from([12n]), shape: [] });
    f.close();
    const x = keras.input({ shape: [3], name: 'x' });
    const model = keras.model({ inputs: x, outputs: keras.layers.normalization().apply(x) });
    await model.loadWeights(file);
    expect(model.getWeights().map((w) => Array.from(w.data))).toEqual([[1, 8, 5], [4, 1, 9], [12]]);
    close((model.predict(T.array([3, 7, 11], { shape: [1, 3], dtype: 'float64' })) as T.NDArray).data, [1, -1, 2]);
  });
});
