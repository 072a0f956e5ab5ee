import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as T from 'tsano';
import * as keras from 'tsano/keras';
import { exportModel } from '../src/export/index.js';
import { loadMnist } from '../src/demo/mnist-data.js';

/**
 * An exported MNIST convnet, served from 127.0.0.1, runs in headless Chromium (Debian's package,
 * driven by playwright-core) and predicts what the library predicts, bit for bit. `.ci/run` installs
 * Chromium and sets TSANO_REQUIRE_BROWSER=1, so there a missing browser fails the test; elsewhere
 * the test says it is skipped.
 */

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
const required = process.env['TSANO_REQUIRE_BROWSER'] === '1';
const work = mkdtempSync(path.join(os.tmpdir(), 'tsano-browser-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const TYPES: Record<string, string> = {
  '.mjs': 'text/javascript',
  '.html': 'text/html',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.bin': 'application/octet-stream',
};

/** Serves `dir` on 127.0.0.1 (an ephemeral port); nothing outside it. */
async function serve(dir: string): Promise<{ server: Server; url: string }> {
  const server = createServer((request, response) => {
    const name = path.basename(new URL(request.url ?? '/', 'http://127.0.0.1').pathname) || 'index.html';
    const file = path.join(dir, name);
    if (!existsSync(file)) return void response.writeHead(404).end();
    response.writeHead(200, { 'content-type': TYPES[path.extname(name)] ?? 'application/octet-stream' });
    response.end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  return { server, url: `http://127.0.0.1:${address.port}/` };
}

describe('an exported model in a real browser', () => {
  it.skipIf(!CHROMIUM && !required)(
    'headless Chromium predicts MNIST digits as the library does',
    async () => {
      expect(CHROMIUM, 'Chromium is not installed (apt-get install -y chromium)').toBeDefined();
      const { xTrain, yTrain, xTest } = loadMnist();
      const model = keras.sequential({
        layers: [
          keras.layers.reshape({ targetShape: [28, 28, 1], inputShape: [784] }),
          keras.layers.conv2d({ filters: 8, kernelSize: 3, activation: 'relu' }),
          keras.layers.maxPooling2d({ poolSize: 2 }),
          keras.layers.flatten(),
          keras.layers.dense({ units: 10, activation: 'softmax' }),
        ],
      });
      model.compile({ optimizer: 'adam', loss: 'categorical_crossentropy' });
      await model.fit(xTrain, yTrain, { epochs: 1, batchSize: 64, verbose: 0 });
      const digits = T.array(xTest.data.slice(0, 5 * 784) as Float32Array, { shape: [5, 784] });
      const expected = await model.predict(digits);
      const dir = path.join(work, 'mnist');
      await exportModel(model, dir, { batchSize: 8 });
      const { server, url } = await serve(dir);
      const { chromium } = await import('playwright-core');
      const browser = await chromium.launch({ executablePath: CHROMIUM!, args: ['--no-sandbox'] });
      try {
        const page = await browser.newPage();
        await page.goto(`${url}model.mjs`);
        // A string, not a function: the test's own module transform must not touch the page's import().
        const result = (await page.evaluate(`(async () => {
        const { load } = await import('./model.mjs');
        const m = await load();
        const y = m.predict(new Float32Array(${JSON.stringify(Array.from(digits.data))}), [5, 784]);
        return { shape: y.shape, data: Array.from(y.data) };
      })()`)) as { shape: number[]; data: number[] };
        expect(result.shape).toEqual([5, 10]);
        expect(Float32Array.from(result.data)).toEqual(expected.data);
        expect(result.data.every((v, i) => Object.is(v, expected.data[i]))).toBe(true);
      } finally {
        await browser.close();
        server.close();
      }
    },
    120_000,
  );
});

describe('pictures in a real browser', () => {
  it.skipIf(!CHROMIUM && !required)(
    "printGraph's page: fused boxes closed, opened by a click, search marks nodes; the curves page draws its series",
    async () => {
      expect(CHROMIUM, 'Chromium is not installed (apt-get install -y chromium)').toBeDefined();
      await T.ready();
      const x = T.matrix('x');
      const w = T.shared(T.randomNormal([4, 3], { seed: 1 }), 'W');
      const f = await T.compile([x], T.sum(T.tanh(T.mul(T.add(T.dot(x, w), 1), 2))));
      const dir = path.join(work, 'pictures');
      const { mkdirSync } = await import('node:fs');
      mkdirSync(dir, { recursive: true });
      await T.printGraph(f, { format: 'html', file: path.join(dir, 'index.html'), title: 'graph' });
      const model = keras.sequential({ layers: [keras.layers.dense({ units: 1, inputShape: [2] })] });
      model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
      await model.fit(T.randomNormal([16, 2], { seed: 1 }), T.randomNormal([16, 1], { seed: 2 }), {
        epochs: 2,
        batchSize: 4,
        verbose: 0,
        callbacks: [keras.callbacks.trainingCurves({ file: path.join(dir, 'curves.html') })],
      });
      const { server, url } = await serve(dir);
      const { chromium } = await import('playwright-core');
      const browser = await chromium.launch({ executablePath: CHROMIUM!, args: ['--no-sandbox'] });
      try {
        const page = await browser.newPage();
        await page.goto(url);
        const hidden = () =>
          page.evaluate(
            `[...document.querySelectorAll('g.node')].filter((g) => getComputedStyle(g).display === 'none').length`,
          ) as Promise<number>;
        const closed = await hidden();
        expect(closed).toBeGreaterThan(0);
        await page.click('g.cluster');
        expect(await hidden()).toBe(0);
        await page.fill('#search', 'tanh');
        expect(await page.textContent('#count')).toMatch(/^[1-9]\d* found$/);
        // For a person to look at: test/.generated/ (not in the repository).
        const shots = path.resolve('test/.generated');
        mkdirSync(shots, { recursive: true });
        await page.screenshot({ path: path.join(shots, 'printGraph.png') });
        await page.goto(`${url}curves.html`);
        const points = (await page.evaluate(
          `[...document.querySelectorAll('polyline.series')].map((p) => p.points.numberOfItems)`,
        )) as number[];
        // 16 rows in batches of 4 for 2 epochs: 8 batch points and 2 epoch points.
        expect(points).toEqual([8, 2]);
        await page.screenshot({ path: path.join(shots, 'trainingCurves.png') });
      } finally {
        await browser.close();
        server.close();
      }
    },
    60_000,
  );
});
