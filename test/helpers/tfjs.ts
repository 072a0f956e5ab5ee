import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import * as T from 'tsano';
import type * as keras from 'tsano/keras';

/** Saves a TF.js model the way its file handlers do: model.json (layers-model) and one weights shard. */
export async function saveWithTfjs(model: tfl.LayersModel): Promise<string> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tfjs-saved-'));
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      writeFileSync(
        path.join(dir, 'model.json'),
        JSON.stringify({
          format: 'layers-model',
          generatedBy: 'TensorFlow.js tfjs-layers v4.22.0',
          convertedBy: null,
          modelTopology: artifacts.modelTopology,
          weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }],
        }),
      );
      writeFileSync(path.join(dir, 'weights.bin'), Buffer.from(artifacts.weightData as ArrayBuffer));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return path.join(dir, 'model.json');
}

export function seededInput(shape: number[], seed: number): Float32Array {
  const a = T.randomNormal(shape, { seed });
  return a.data as Float32Array;
}

/** The TF.js model and tsano's load of it give the same outputs for input `x` of `shape`, within 1e-5 (relative above 1). */
export async function expectSamePredictions(
  model: tfl.LayersModel,
  loaded: keras.LayersModel,
  x: Float32Array,
  shape: number[],
): Promise<void> {
  const theirs = (model.predict(tf.tensor(x, shape)) as tf.Tensor).dataSync();
  const ours = (await loaded.predict(T.array(x, { shape }))).data;
  expect(ours.length).toBe(theirs.length);
  // Within 1e-5, relative to the size of values (random weights make some large).
  ours.forEach((v, i) => expect(Math.abs(v - theirs[i]!)).toBeLessThan(1e-5 * Math.max(1, Math.abs(theirs[i]!))));
}
