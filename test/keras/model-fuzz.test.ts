import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import * as T from 'tsano';
import * as keras from 'tsano/keras';

type Json = unknown;
let original: { json: Json; weights: Buffer };

beforeAll(async () => {
  const inp = keras.input({ shape: [6], name: 'features' });
  const a = keras.layers.dense({ units: 5, activation: 'relu' }).apply(inp);
  const b = keras.layers.batchNormalization().apply(keras.layers.dense({ units: 5, activation: 'tanh' }).apply(inp));
  const out = keras.layers.dense({ units: 3, activation: 'softmax' }).apply(keras.layers.concatenate().apply([a, b]));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tsano-fuzz-'));
  await keras.model({ inputs: inp, outputs: out }).save(dir);
  original = {
    json: JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8')),
    weights: readFileSync(path.join(dir, 'weights.bin')),
  };
});

/** Every place in a JSON value: the container and the key or index that leads to it. */
function places(value: Json): [Record<string, Json> | Json[], string | number][] {
  const out: [Record<string, Json> | Json[], string | number][] = [];
  const stack: Json[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (Array.isArray(v)) v.forEach((item, i) => (out.push([v, i]), stack.push(item)));
    else if (v && typeof v === 'object')
      for (const [k, item] of Object.entries(v)) (out.push([v as Record<string, Json>, k]), stack.push(item));
  }
  return out;
}

const REPLACEMENTS: Json[] = [
  0,
  -1,
  1,
  2.5,
  1e9,
  1e300,
  -1e300,
  null,
  '',
  'x',
  true,
  [],
  {},
  [null],
  { class_name: 'Dense' },
];

/** One damage to a saved model: what it does to model.json's value, its text or the weights' bytes. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), by: fc.constantFrom(...REPLACEMENTS) }),
  fc.record({ kind: fc.constant('drop' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('nest' as const), at: fc.nat(), depth: fc.integer({ min: 1, max: 200 }) }),
  fc.record({ kind: fc.constant('truncateJson' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('flipJson' as const), at: fc.nat(), bits: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('truncateWeights' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('flipWeights' as const), at: fc.nat(), bits: fc.integer({ min: 1, max: 255 }) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function damage(mutations: readonly Mutation[]): { text: Buffer; weights: Buffer } {
  const json = structuredClone(original.json);
  let weights = Buffer.from(original.weights);
  let text: Buffer | undefined;
  for (const m of mutations) {
    const all = places(json);
    const [container, key] = all[m.at % all.length]!;
    const c = container as Record<string | number, Json>;
    if (m.kind === 'replace') c[key] = structuredClone(m.by);
    else if (m.kind === 'drop') Array.isArray(container) ? container.splice(key as number, 1) : delete c[key];
    else if (m.kind === 'nest') for (let d = 0; d < m.depth; d++) c[key] = [c[key]];
    else if (m.kind === 'truncateWeights') weights = weights.subarray(0, m.at % (weights.length + 1));
    else if (m.kind === 'flipWeights' && weights.length) weights[m.at % weights.length]! ^= m.bits;
    else {
      text ??= Buffer.from(JSON.stringify(json));
      if (m.kind === 'truncateJson') text = text.subarray(0, m.at % (text.length + 1));
      else if (text.length) text[m.at % text.length]! ^= m.bits;
    }
  }
  return { text: text ?? Buffer.from(JSON.stringify(json)), weights };
}

describe('damaged model files (fast-check fuzz)', () => {
  it('load with finite predictions, or fail with a tsano error, quickly', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const outcomes = { loaded: 0, refused: 0 };
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 3 }), async (mutations) => {
          const { text, weights } = damage(mutations);
          const dir = mkdtempSync(path.join(os.tmpdir(), 'tsano-fuzz-'));
          writeFileSync(path.join(dir, 'model.json'), text);
          writeFileSync(path.join(dir, 'weights.bin'), weights);
          const started = performance.now();
          let model: keras.LayersModel;
          try {
            model = await keras.models.loadModel(path.join(dir, 'model.json'));
          } catch (e) {
            expect(e, String(e)).toBeInstanceOf(T.TsanoError);
            expect(performance.now() - started).toBeLessThan(5000);
            outcomes.refused++;
            return;
          }
          outcomes.loaded++;
          const moderate = model
            .getWeights()
            .every((w) => Array.prototype.every.call(w.data, (v: number) => Math.abs(v) < 1e6));
          try {
            const out = await model.predict(T.randomNormal([2, 6], { seed: 1 }));
            if (moderate)
              expect(
                Array.prototype.every.call(out.data, Number.isFinite),
                'predictions of a model with moderate weights',
              ).toBe(true);
          } catch (e) {
            expect(e, String(e)).toBeInstanceOf(T.TsanoError);
          }
          expect(performance.now() - started).toBeLessThan(5000);
        }),
        { numRuns: Number(process.env['FUZZ_RUNS'] ?? 300) },
      );
    } finally {
      warn.mockRestore();
    }
    if (process.env['FUZZ_RUNS']) console.log(outcomes);
    // Both outcomes must occur, or the mutations are not reaching the loader.
    expect(outcomes.loaded).toBeGreaterThan(10);
    expect(outcomes.refused).toBeGreaterThan(10);
  });
});
