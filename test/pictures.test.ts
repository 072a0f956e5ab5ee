/**
 * Pictures: T.printGraph (dot, SVG laid out by Graphviz, HTML), keras.utils.plotModel and the
 * trainingCurves callback, checked by counting what they draw against the graph and the fit logs.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as T from 'tsano';
import { logisticStep } from './helpers/logistic.js';
import * as keras from 'tsano/keras';
import { toposort } from '../compiler/ir/graph.js';

const work = mkdtempSync(path.join(os.tmpdir(), 'tsano-pictures-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
beforeAll(() => T.ready());

const count = (text: string, pattern: RegExp) => (text.match(pattern) ?? []).length;

describe('T.printGraph', () => {
  it('draws every node of the graph as built once, its outputs, and each update as a dashed edge', async () => {
    const f = await logisticStep(3, 2);
    const { outputs, updates } = f.graphBefore;
    const nodes = toposort([...outputs, ...updates.map(([, e]) => e)]).length;
    const dot = await T.printGraph(f, { stage: 'built' });
    expect(count(dot, /^n\d+ \[/gm)).toBe(nodes);
    expect(count(dot, /style="dashed", label="update"/g)).toBe(2);
    const svg = await T.printGraph(f, { stage: 'built', format: 'svg' });
    expect(svg).toMatch(/^<\?xml[\s\S]*<svg/);
    expect(count(svg, /<g id="node\d+" class="node/g)).toBe(nodes + outputs.length);
    // A node the user built says where: the helper that builds the step.
    expect(svg).toContain('helpers/logistic.ts:');
  });

  it('the optimized graph has fewer nodes, and each fused region is a box holding its ops', async () => {
    const f = await logisticStep(3, 2);
    const roots = [...f.graph.outputs, ...f.graph.updates.map(([, e]) => e)];
    const fused = toposort(roots).filter((n) => n.op === 'fused');
    expect(fused.length).toBeGreaterThan(0);
    const built = await T.printGraph(f, { stage: 'built', format: 'svg' });
    const optimized = await T.printGraph(f, { stage: 'optimized', format: 'svg' });
    expect(count(optimized, /class="cluster/g)).toBe(fused.length);
    const ops = fused.reduce((s, n) => s + (n.args as { instrs: unknown[] }).instrs.length, 0);
    // Graphviz writes the class's hyphen as &#45;.
    expect(count(optimized, /class="node op region(-|&#45;)/g)).toBeGreaterThanOrEqual(ops);
    expect(count(optimized, /class="node/g)).toBeLessThan(count(built, /class="node/g));
  });

  it("the optimizer's story: each node a rewrite made names it; a profile colours each step's node by its time", async () => {
    const x = T.matrix('x');
    const w = T.shared(T.randomNormal([4, 3], { seed: 1 }), 'W');
    const f = await T.compile([x], T.sum(T.log(T.add(1, T.exp(T.dot(x, w))))));
    const dot = await T.printGraph(f);
    const made = [...dot.matchAll(/⟵ (\w+)/g)].map((m) => m[1]!);
    expect(made.length).toBeGreaterThan(0);
    for (const rule of made) expect([...T.RULE_NAMES, 'elementwise_fusion']).toContain(rule);
    expect(dot).toMatch(/softplus/);
    const value = T.randomNormal([8, 4], { seed: 2 });
    const profile = f.profile(value, { repeats: 3 });
    const timed = await T.printGraph(f, { profile });
    // Every step of the program shows its time on its node or box.
    expect((timed.match(/\d+\.\d{3} ms \(\d+\.\d%\)/g) ?? []).length).toBe(profile.steps.length);
    await expect(T.printGraph(f, { profile, stage: 'built' })).rejects.toThrow(/drawn on the optimized graph/);
  });

  it('the HTML page holds the drawing, a search box, and fused boxes that open on a click', async () => {
    const f = await logisticStep(3, 2);
    const file = path.join(work, 'graph.html');
    const html = await T.printGraph(f, { format: 'html', file, title: 'logistic regression' });
    expect(readFileSync(file, 'utf8')).toBe(html);
    expect(html).toMatch(/<title>logistic regression<\/title>/);
    expect(html).toContain('<input id="search"');
    expect(html).toMatch(/<svg[\s\S]*<\/svg>/);
    expect(html).toContain("querySelectorAll('g.cluster')");
  });

  it('expressions without a compiled function, and bad options, named', async () => {
    const x = T.vector('x');
    const dot = await T.printGraph([T.exp(x), T.log1p(x)]);
    expect(count(dot, /^out\d+ \[/gm)).toBe(2);
    await expect(T.printGraph(x, { format: 'png' as 'svg' })).rejects.toThrow(/format must be 'dot', 'svg' or 'html'/);
    await expect(T.printGraph(x, { stage: 'final' as 'built' })).rejects.toThrow(/stage must be/);
  });
});

describe('keras.utils.plotModel', () => {
  it('a box per layer and input, an edge per tensor a call reads, shapes and parameters on request', async () => {
    const input = keras.input({ shape: [6], name: 'features' });
    const left = keras.layers.dense({ units: 4, name: 'left' }).apply(input) as T.Node;
    const right = keras.layers.dense({ units: 4, name: 'right' }).apply(input) as T.Node;
    const joined = keras.layers.concatenate({ name: 'joined' }).apply([left, right]) as T.Node;
    const out = keras.layers.dense({ units: 2, name: 'out' }).apply(joined) as T.Node;
    const model = keras.model({ inputs: input, outputs: out });
    const file = path.join(work, 'model.svg');
    const svg = await keras.utils.plotModel(model, file, { showShapes: true, showParams: true });
    expect(count(svg, /<g id="node\d+" class="node/g)).toBe(5);
    expect(count(svg, /<g id="edge\d+" class="edge/g)).toBe(5);
    expect(svg).toContain('joined: Concatenate');
    expect(svg).toContain('output (None, 8)');
    expect(svg).toContain('28 params');
    const seq = keras.sequential({
      layers: [keras.layers.dense({ units: 3, inputShape: [2] }), keras.layers.dense({ units: 1 })],
    });
    const dot = await keras.utils.plotModel(seq, path.join(work, 'seq.dot'));
    expect(count(dot, /->/g)).toBe(2);
    await expect(keras.utils.plotModel(seq, path.join(work, 'seq.png'))).rejects.toThrow(/\.svg, \.html or \.dot/);
  });
});

describe('keras.callbacks.trainingCurves', () => {
  it('draws the loss and metrics per batch and per epoch, validation dashed; the page reloads only while fit runs', async () => {
    const model = keras.sequential({
      layers: [keras.layers.dense({ units: 8, activation: 'relu', inputShape: [4] }), keras.layers.dense({ units: 1 })],
    });
    model.compile({ optimizer: 'adam', loss: 'meanSquaredError', metrics: ['mae'] });
    const x = T.randomNormal([40, 4], { seed: 2 });
    const y = T.randomNormal([40, 1], { seed: 3 });
    const file = path.join(work, 'training.html');
    const seen: string[] = [];
    const peek = new (class extends keras.Callback {
      override onEpochEnd() {
        seen.push(readFileSync(file, 'utf8'));
      }
    })();
    await model.fit(x, y, {
      epochs: 3,
      batchSize: 10,
      validationSplit: 0.25,
      verbose: 0,
      callbacks: [keras.callbacks.trainingCurves({ file, throttleSeconds: 0 }), peek],
    });
    const page = readFileSync(file, 'utf8');
    expect(seen[0]).toContain('http-equiv="refresh"');
    expect(page).not.toContain('http-equiv="refresh"');
    const points = (name: string) => Number(new RegExp(`data-name="${name}" data-points="(\\d+)"`).exec(page)?.[1]);
    // 30 training rows in batches of 10: 3 batches an epoch.
    expect(points('loss per batch')).toBe(9);
    expect(points('loss per epoch')).toBe(3);
    expect(points('val_loss per epoch')).toBe(3);
    expect(points('mae per epoch')).toBe(3);
    expect(points('val_mae per epoch')).toBe(3);
    const svg = path.join(work, 'training.svg');
    await model.fit(x, y, {
      epochs: 2,
      batchSize: 20,
      verbose: 0,
      callbacks: [keras.callbacks.trainingCurves({ file: svg })],
    });
    expect(readFileSync(svg, 'utf8')).toMatch(/^<svg[\s\S]*data-metric="loss"[\s\S]*<\/svg>$/);
    expect(() => keras.callbacks.trainingCurves({ file: path.join(work, 'x.png') })).toThrow(/\.html page or an \.svg/);
  });
});
