import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import * as T from 'tsano';
import * as keras from 'tsano/keras';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'tsano-hostile-'));

/** A small saved model: its folder, model.json's parsed content, and the weights' bytes. */
async function savedModel() {
  const model = keras.sequential({
    layers: [
      keras.layers.dense({ units: 5, activation: 'relu', inputShape: [4] }),
      keras.layers.dense({ units: 3, activation: 'softmax' }),
    ],
  });
  const dir = tmp();
  await model.save(dir);
  const json = JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8'));
  return { model, dir, json, weights: readFileSync(path.join(dir, 'weights.bin')) };
}

/** Writes a variant of the saved model into a fresh folder and loads it, timing the attempt. */
async function loadVariant(json: unknown, weights: Uint8Array | undefined, jsonBytes?: Uint8Array) {
  const dir = tmp();
  writeFileSync(path.join(dir, 'model.json'), jsonBytes ?? JSON.stringify(json));
  if (weights) writeFileSync(path.join(dir, 'weights.bin'), weights);
  const started = performance.now();
  const outcome = await keras.models.loadModel(path.join(dir, 'model.json')).then(
    (m) => ({ model: m, error: undefined }),
    (e: Error) => ({ model: undefined, error: e }),
  );
  return { ...outcome, ms: performance.now() - started, file: path.join(dir, 'model.json') };
}

const expectLoadError = async (variant: ReturnType<typeof loadVariant>, pattern: RegExp) => {
  const { error, ms, file } = await variant;
  expect(error).toBeInstanceOf(T.LoadError);
  expect(error!.message).toContain(path.dirname(file));
  expect(error!.message).toMatch(pattern);
  expect(ms).toBeLessThan(2000);
};

describe('hostile and damaged model files end in a LoadError naming the file, before anything absurd is allocated', () => {
  it('a Dense layer with units 1e9 (topology) or a weight of 1e12 elements (manifest)', async () => {
    const { json, weights } = await savedModel();
    json.modelTopology.config.layers[0].config.units = 1e9;
    await expectLoadError(
      loadVariant(json, weights),
      /weight 'dense(_\d+)?\/kernel' is \[4,5\] in the weights manifest, but the topology makes it \[4,1000000000\]/,
    );
    const again = await savedModel();
    again.json.weightsManifest[0].weights[0].shape = [1e6, 1e6];
    await expectLoadError(loadVariant(again.json, again.weights), /1e12 elements/);
    const fromJSON = JSON.stringify({
      class_name: 'Sequential',
      config: { layers: [{ class_name: 'Dense', config: { units: 1e9, batch_input_shape: [null, 8] } }] },
    });
    expect(() => keras.models.modelFromJSON(fromJSON)).toThrow(T.LoadError);
  });

  it('a weights path that leaves the folder is refused without reading it', async () => {
    const { json, weights } = await savedModel();
    const outside = path.join(tmp(), 'secret.bin');
    writeFileSync(outside, weights);
    json.weightsManifest[0].paths = [path.relative(tmp(), outside)];
    await expectLoadError(loadVariant(json, undefined), /outside the model's folder/);
    json.weightsManifest[0].paths = ['../../../../etc/hostname'];
    await expectLoadError(loadVariant(json, undefined), /outside the model's folder/);
    json.weightsManifest[0].paths = [outside];
    await expectLoadError(loadVariant(json, undefined), /outside the model's folder/);
  });

  it('a missing, truncated or oversized weights file', async () => {
    const { json, weights } = await savedModel();
    await expectLoadError(
      loadVariant(json, undefined),
      /weights\.bin: weights file listed in .* cannot be read \(ENOENT/,
    );
    await expectLoadError(
      loadVariant(json, weights.subarray(0, weights.length - 7)),
      /weights\.bin: truncated: \d+ bytes, but .* declares \d+/,
    );
    await expectLoadError(
      loadVariant(json, Buffer.concat([weights, Buffer.alloc(16)])),
      /weights\.bin: longer than declared/,
    );
  });

  it('topologies that are not what they claim', async () => {
    const { json, weights } = await savedModel();
    const cases: [(j: typeof json) => void, RegExp][] = [
      [(j) => (j.modelTopology.config.layers = 5), /config\.layers must be a list of layers, got 5/],
      [(j) => (j.modelTopology.config.layers[1] = 'dense'), /config\.layers\[1\] must be an object/],
      [(j) => (j.modelTopology.config.layers[1].class_name = 'Dense3D'), /layer class 'Dense3D' is not supported/],
      [
        (j) => (j.modelTopology.config.layers[1].config.units = 4),
        /weight 'dense(_\d+)?\/kernel' is \[5,3\] in the weights manifest, but the topology makes it \[5,4\]/,
      ],
      [(j) => (j.modelTopology.config.layers[0].config.units = -2), /units must be a positive integer/],
      [
        (j) => (j.modelTopology.config.layers[0].config.batch_input_shape = [null, 'four']),
        /must list positive integers or null/,
      ],
      [(j) => (j.weightsManifest[0].weights[0].dtype = 'complex64'), /dtype "complex64" is not supported/],
      [
        (j) => (j.weightsManifest[0].weights[2].name = 'elsewhere/kernel'),
        /the model's weight 'dense(_\d+)?\/kernel' \[5,3\] is not in the weights manifest/,
      ],
      [(j) => (j.weightsManifest = { paths: 'weights.bin' }), /weightsManifest must be a list/],
    ];
    for (const [mutate, pattern] of cases) {
      const j = structuredClone(json);
      mutate(j);
      await expectLoadError(loadVariant(j, weights), pattern);
    }
  });

  it('text that is not UTF-8, or JSON nested far deeper than a model', async () => {
    const { json, weights } = await savedModel();
    const text = Buffer.from(JSON.stringify(json));
    await expectLoadError(
      loadVariant(
        undefined,
        weights,
        Buffer.concat([text.subarray(0, 20), Buffer.from([0xff, 0xfe]), text.subarray(20)]),
      ),
      /not UTF-8/,
    );
    const deep = Buffer.from(`{"modelTopology": ${'['.repeat(100000)}${']'.repeat(100000)}}`);
    await expectLoadError(loadVariant(undefined, weights, deep), /nested 100001 levels deep/);
  });

  it('NaN in the weights loads with a warning naming the weight', async () => {
    const { json, weights } = await savedModel();
    const damaged = Buffer.from(weights);
    damaged.writeFloatLE(NaN, 8);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      const { model, error } = await loadVariant(json, damaged);
      expect(error).toBeUndefined();
      expect(model).toBeDefined();
      expect(warn.mock.calls.map((c) => String(c[0])).join('\n')).toMatch(
        /weight 'dense(_\d+)?\/kernel' holds 1 value that is NaN or infinite/,
      );
    } finally {
      warn.mockRestore();
    }
  });
});

describe('saving', () => {
  it('into a path under a regular file is a SaveError with the path', async () => {
    const { model } = await savedModel();
    const file = path.join(tmp(), 'plain-file');
    writeFileSync(file, 'x');
    await expect(model.save(path.join(file, 'model'))).rejects.toThrow(T.SaveError);
    await expect(model.save(path.join(file, 'model'))).rejects.toThrow(
      /plain-file.*cannot create the model's folder \(ENOTDIR/,
    );
  });

  it('replaces a model atomically: a failed save leaves the previous one loadable and unchanged', async () => {
    const { model, dir } = await savedModel();
    const x = T.randomNormal([2, 4], { seed: 3 });
    const before = Array.from((await model.predict(x)).data);
    const other = keras.sequential({ layers: [keras.layers.dense({ units: 3, inputShape: [4] })] });
    // The next save writes its weights beside the ones in use (weights-2.bin); a folder there makes it fail.
    mkdirSync(path.join(dir, 'weights-2.bin'));
    await expect(other.save(dir)).rejects.toThrow(T.SaveError);
    const reloaded = await keras.models.loadModel(path.join(dir, 'model.json'));
    expect(Array.from((await reloaded.predict(x)).data)).toEqual(before);
    // Once it can, the new model replaces the old, and the old weights file goes.
    rmdirSync(path.join(dir, 'weights-2.bin'));
    await other.save(dir);
    const replaced = await keras.models.loadModel(path.join(dir, 'model.json'));
    expect(Array.from((await replaced.predict(x)).data)).toEqual(Array.from((await other.predict(x)).data));
    expect(readdirSync(dir).sort()).toEqual(['model.json', 'weights-2.bin']);
  });
});
