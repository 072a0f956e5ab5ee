import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import * as keras from 'tsano/keras';
import { lossByName, LOSS_NAMES } from '../../src/keras/losses.js';
import { checkGradient } from '../helpers/gradcheck.js';

/**
 * Every Keras loss against Keras's published formula, written here in plain float64 JavaScript per
 * sample (keras/src/losses/losses.py), on random targets and predictions; gradients by finite
 * differences; and each usable by name in model.compile and as a metric.
 */

const EPS = 1e-7;
type Row = readonly number[];
const mean = (xs: Row) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sum = (xs: Row) => xs.reduce((a, b) => a + b, 0);
const clip = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));
/** Keras maps labels that are all 0 or 1 (over the whole batch) to -1 and 1 for the hinge losses. */
const signed = (t: readonly Row[]) =>
  t.flat().every((v) => v === 0 || v === 1) ? t.map((r) => r.map((v) => 2 * v - 1)) : t;
const normalized = (r: Row) => {
  const n = Math.max(sum(r.map((v) => v * v)), 1e-12);
  return r.map((v) => v / Math.sqrt(n));
};

/** Per-sample losses of a batch, as Keras computes them. */
const FORMULAS: Record<string, (t: readonly Row[], p: readonly Row[]) => number[]> = {
  mean_squared_error: (t, p) => p.map((r, i) => mean(r.map((v, j) => (v - t[i]![j]!) ** 2))),
  mean_absolute_error: (t, p) => p.map((r, i) => mean(r.map((v, j) => Math.abs(v - t[i]![j]!)))),
  mean_absolute_percentage_error: (t, p) =>
    p.map((r, i) => 100 * mean(r.map((v, j) => Math.abs((t[i]![j]! - v) / Math.max(Math.abs(t[i]![j]!), EPS))))),
  mean_squared_logarithmic_error: (t, p) =>
    p.map((r, i) =>
      mean(r.map((v, j) => (Math.log(Math.max(v, EPS) + 1) - Math.log(Math.max(t[i]![j]!, EPS) + 1)) ** 2)),
    ),
  hinge: (t, p) => {
    const s = signed(t);
    return p.map((r, i) => mean(r.map((v, j) => Math.max(1 - s[i]![j]! * v, 0))));
  },
  squared_hinge: (t, p) => {
    const s = signed(t);
    return p.map((r, i) => mean(r.map((v, j) => Math.max(1 - s[i]![j]! * v, 0) ** 2)));
  },
  categorical_hinge: (t, p) =>
    p.map((r, i) => {
      const pos = sum(r.map((v, j) => t[i]![j]! * v));
      const neg = Math.max(...r.map((v, j) => (1 - t[i]![j]!) * v));
      return Math.max(0, neg - pos + 1);
    }),
  kl_divergence: (t, p) =>
    p.map((r, i) =>
      sum(
        r.map((v, j) => {
          const [a, b] = [clip(t[i]![j]!, EPS, 1), clip(v, EPS, 1)];
          return a * Math.log(a / b);
        }),
      ),
    ),
  huber: (t, p) =>
    p.map((r, i) =>
      mean(
        r.map((v, j) => {
          const e = v - t[i]![j]!;
          return Math.abs(e) <= 1 ? 0.5 * e * e : Math.abs(e) - 0.5;
        }),
      ),
    ),
  log_cosh: (t, p) => p.map((r, i) => mean(r.map((v, j) => Math.log(Math.cosh(v - t[i]![j]!))))),
  cosine_similarity: (t, p) =>
    p.map((r, i) => {
      const [a, b] = [normalized(t[i]!), normalized(r)];
      return -sum(a.map((v, j) => v * b[j]!));
    }),
  poisson: (t, p) => p.map((r, i) => mean(r.map((v, j) => v - t[i]![j]! * Math.log(v + EPS)))),
};

const NEW_LOSSES = Object.keys(FORMULAS).filter((n) => !['mean_squared_error', 'mean_absolute_error'].includes(n));

/** Targets and predictions for a loss: positive where logarithms need it, labels where hinges read them. */
const batch = (rows: number, cols: number) =>
  fc.record({
    t: fc.array(fc.array(fc.double({ min: 0.01, max: 3, noNaN: true }), { minLength: cols, maxLength: cols }), {
      minLength: rows,
      maxLength: rows,
    }),
    p: fc.array(fc.array(fc.double({ min: 0.01, max: 3, noNaN: true }), { minLength: cols, maxLength: cols }), {
      minLength: rows,
      maxLength: rows,
    }),
    labels: fc.constantFrom('values', 'zero-one', 'signed'),
  });

async function perSample(name: string, t: readonly Row[], p: readonly Row[]): Promise<number[]> {
  const [yt, yp] = [T.matrix('t', 'float64'), T.matrix('p', 'float64')];
  const f = await T.compile([yt, yp], lossByName(name)(yt, yp), { mode: 'js' });
  const out = f(
    T.array(
      t.map((r) => [...r]),
      { dtype: 'float64' },
    ),
    T.array(
      p.map((r) => [...r]),
      { dtype: 'float64' },
    ),
  );
  return Array.from((out as T.NDArray).data);
}

describe('Keras losses', () => {
  for (const name of Object.keys(FORMULAS)) {
    it(`${name} follows Keras's formula`, () =>
      fc.assert(
        fc.asyncProperty(
          fc
            .integer({ min: 1, max: 4 })
            .chain((rows) => fc.integer({ min: 1, max: 5 }).chain((cols) => batch(rows, cols))),
          async ({ t, p, labels }) => {
            const targets =
              labels === 'values' || !name.includes('hinge')
                ? t
                : t.map((r) => r.map((v) => (v > 1.5 ? 1 : labels === 'zero-one' ? 0 : -1)));
            const ours = await perSample(name, targets, p);
            const keras = FORMULAS[name]!(targets, p);
            ours.forEach((v, i) =>
              expect(Math.abs(v - keras[i]!), `${name} sample ${i}: ${v} vs ${keras[i]}`).toBeLessThanOrEqual(
                1e-10 * Math.max(1, Math.abs(keras[i]!)),
              ),
            );
          },
        ),
        { numRuns: 40 },
      ));
  }

  it('log_cosh stays finite where cosh overflows', async () => {
    const [big] = await perSample('log_cosh', [[0]], [[1000]]);
    expect(big).toBeCloseTo(1000 - Math.LN2, 9);
  });

  for (const name of NEW_LOSSES) {
    it(`${name}: gradient by finite differences`, async () => {
      const t = { shape: [3, 4], data: [0.2, 1.3, 0.7, 2.1, 0.4, 0.9, 1.6, 0.3, 2.4, 0.8, 1.1, 0.6] };
      const p = { shape: [3, 4], data: [0.5, 0.9, 1.9, 0.35, 1.45, 0.75, 0.15, 2.2, 0.95, 1.75, 0.55, 1.25] };
      // Hinges are piecewise: the points above sit away from their kinks.
      await checkGradient([t, p], ([a, b]) => lossByName(name)(a!, b!), [1]);
    });
  }

  it('every loss and alias compiles in a model, and works as a metric', async () => {
    for (const name of LOSS_NAMES.filter((n) => !n.startsWith('sparse'))) {
      const model = keras.sequential({
        layers: [keras.layers.dense({ units: 3, activation: 'softmax', inputShape: [4] })],
      });
      model.compile({ optimizer: 'sgd', loss: name, metrics: [name === 'mse' ? 'mae' : 'mse'] });
      const x = T.randomNormal([8, 4], { seed: 1 });
      const y = T.randomUniform([8, 3], { seed: 2 });
      const history = await model.fit(x, y, { epochs: 1, batchSize: 8, verbose: 0 });
      expect(Number.isFinite(history.history['loss']![0]!), name).toBe(true);
    }
    const model = keras.sequential({ layers: [keras.layers.dense({ units: 3, inputShape: [4] })] });
    model.compile({ optimizer: 'sgd', loss: 'meanSquaredError', metrics: ['mape', 'kld'] });
    const [, mape, kld] = await model.evaluate(
      T.randomNormal([8, 4], { seed: 3 }),
      T.randomUniform([8, 3], { seed: 4 }),
    );
    expect(Number.isFinite(mape!) && Number.isFinite(kld!)).toBe(true);
  });
});
