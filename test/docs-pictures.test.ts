/**
 * The README's pictures are made by printGraph and trainingCurves: `npm run docs:pictures` draws them
 * again, and this test fails when a drawing no longer matches what printGraph draws for its graph.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import * as T from 'tsano';
import { logisticStep } from './helpers/logistic.js';
import * as keras from 'tsano/keras';

const GRAPH = fileURLToPath(new URL('../docs/pictures/logistic-regression.svg', import.meta.url));
const CURVES = fileURLToPath(new URL('../docs/pictures/training-curves.svg', import.meta.url));
const write = process.env['TSANO_WRITE_DOCS'] === '1';
beforeAll(() => T.ready());

const nodes = (svg: string) => (svg.match(/class="node/g) ?? []).length;

describe('docs/pictures', () => {
  it('the logistic regression step as printGraph draws it (optimized)', async () => {
    const f = await logisticStep();
    const title = 'logistic regression, one SGD step (optimized)';
    const svg = await T.printGraph(f, { format: 'svg', title, ...(write ? { file: GRAPH } : {}) });
    expect(existsSync(GRAPH)).toBe(true);
    expect(nodes(readFileSync(GRAPH, 'utf8'))).toBe(nodes(svg));
  });

  it('training curves as the trainingCurves callback draws them', async () => {
    if (write) {
      const model = keras.sequential({
        layers: [
          keras.layers.dense({ units: 16, activation: 'relu', inputShape: [4] }),
          keras.layers.dense({ units: 1 }),
        ],
      });
      model.compile({ optimizer: keras.optimizers.adam(0.03), loss: 'meanSquaredError', metrics: ['mae'] });
      const x = T.randomNormal([200, 4], { seed: 2 });
      const y = T.array(
        Array.from({ length: 200 }, (_, i) => Array.from(x.data.subarray(i * 4, i * 4 + 4)).reduce((a, b) => a + b, 0)),
        [200, 1],
      );
      await model.fit(x, y, {
        epochs: 8,
        batchSize: 20,
        validationSplit: 0.2,
        verbose: 0,
        callbacks: [keras.callbacks.trainingCurves({ file: CURVES, title: 'a dense regression: 8 epochs' })],
      });
    }
    const svg = readFileSync(CURVES, 'utf8');
    expect(svg).toMatch(/^<svg[\s\S]*data-metric="loss"[\s\S]*data-metric="mae"[\s\S]*<\/svg>$/);
  });
});
