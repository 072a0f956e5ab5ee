import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import h5wasm from 'h5wasm/node';
import * as T from 'tsano';
import * as keras from 'tsano/keras';

const fixture = (name: string, file: string) => path.resolve('test/fixtures/keras3', name, file);
const fresh = () => mkdtempSync(path.join(os.tmpdir(), 'tsano-weights-'));

/** Keras's inputs and outputs for a fixture (io.json). */
function io(name: string) {
  const json = JSON.parse(readFileSync(fixture(name, 'io.json'), 'utf8')) as {
    inputs: { shape: number[]; dtype?: string; values: number[] }[];
    outputs: { shape: number[]; values: number[] }[];
  };
  const xs = json.inputs.map((i) =>
    T.array(i.values.flat(Infinity) as number[], { shape: i.shape, dtype: i.dtype === 'int32' ? 'int32' : 'float32' }),
  );
  return { x: xs.length === 1 ? xs[0]! : xs, expected: json.outputs[0]!.values.flat(Infinity) as number[] };
}

const zeroed = (model: keras.LayersModel) => model.setWeights(model.getWeights().map((w) => T.zeros([...w.shape])));
const predicts = (model: keras.LayersModel, name: string) => {
  const { x, expected } = io(name);
  (model.predict(x as T.NDArray) as T.NDArray).data.forEach((v, i) =>
    expect(Math.abs(v - expected[i]!)).toBeLessThan(1e-5),
  );
};

describe("Keras's weights files", () => {
  it("loadWeights reads Keras 3's own save_weights files (.weights.h5), .keras archives and legacy .h5", async () => {
    for (const [name, file] of [
      ['mlp', 'model.weights.h5'],
      ['cnn', 'model.weights.h5'],
      ['transformer', 'model.h5'],
      ['siamese', 'model.keras'],
    ] as const) {
      const model = await keras.loadModel(fixture(name, 'model.keras'));
      zeroed(model);
      await model.loadWeights(fixture(name, file));
      predicts(model, name);
    }
  });

  it('save(*.h5) writes the legacy HDF5 layout Keras reads, and loads back predicting the same', async () => {
    await h5wasm.ready;
    for (const name of ['mlp', 'cnn', 'siamese', 'transformer']) {
      const model = await keras.loadModel(fixture(name, 'model.keras'));
      const file = path.join(fresh(), 'm.h5');
      await model.save(file);
      const f = new h5wasm.File(file, 'r');
      try {
        expect(JSON.parse(String(f.attrs['model_config']!.value))['class_name']).toMatch(/Sequential|Functional/);
        const root = f.get('model_weights') as InstanceType<typeof h5wasm.Group>;
        expect(root.attrs['layer_names']!.value).toEqual(model.layers.map((l) => l.name));
        // Each layer's weight_names name its datasets inside its group, as Keras writes them.
        for (const layer of model.layers.filter((l) => l.weights.length)) {
          const group = root.get(layer.name) as InstanceType<typeof h5wasm.Group>;
          const names = [group.attrs['weight_names']!.value].flat() as string[];
          expect(names).toEqual(layer.weights.map((w) => w.name));
          names.forEach((n, i) =>
            expect((group.get(n) as InstanceType<typeof h5wasm.Dataset>).shape).toEqual(layer.getWeights()[i]!.shape),
          );
        }
      } finally {
        f.close();
      }
      predicts(await keras.loadModel(file), name);
    }
  });

  it('saveWeights and loadWeights round trip; a file that does not fit changes nothing and names the layer', async () => {
    const model = await keras.loadModel(fixture('mlp', 'model.keras'));
    const dir = fresh();
    await model.saveWeights(path.join(dir, 'mlp.weights.h5'));
    const other = await keras.loadModel(fixture('mlp', 'model.keras'));
    zeroed(other);
    await other.loadWeights(path.join(dir, 'mlp.weights.h5'));
    predicts(other, 'mlp');
    const cnn = await keras.loadModel(fixture('cnn', 'model.keras'));
    const before = cnn.getWeights().map((w) => Array.from(w.data));
    await expect(cnn.loadWeights(path.join(dir, 'mlp.weights.h5'))).rejects.toThrow(/mlp\.weights\.h5: .*layer '/);
    cnn.getWeights().forEach((w, i) => expect(Array.from(w.data)).toEqual(before[i]));
    await expect(model.saveWeights(path.join(dir, 'mlp.h5'))).rejects.toThrow(/must end in \.weights\.h5/);
  });
});
