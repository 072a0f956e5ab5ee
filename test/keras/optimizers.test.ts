import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import * as keras from 'tsano/keras';
import type { Optimizer } from '../../src/keras/optimizers.js';

/**
 * Every optimizer against Keras 3's update rule (keras/src/optimizers/*.py), written here step by
 * step in float64 JavaScript, on a quadratic whose gradient is c + w; clipping and schedules too.
 */

const C = [0.5, -1.25, 2, -0.1];
const W0 = [1, -2, 0.3, 4];
const EPS = 1e-7;
const grad = (w: readonly number[]) => w.map((v, i) => C[i]! + v);

/** One Keras step per call: the new weights from the old ones, the gradient and the 1-based step t. */
type Reference = () => (w: number[], g: number[], t: number, lr: number) => number[];

/** Adam's rule (AdamW's with a weight decay: the weights decayed by decay·lr before Adam's step). */
function adamReference(decay: number): ReturnType<Reference> {
  const [m, s] = [W0.map(() => 0), W0.map(() => 0)];
  return (w, g, t, lr) => {
    const alpha = (lr * Math.sqrt(1 - 0.999 ** t)) / (1 - 0.9 ** t);
    return w.map((v, i) => {
      const decayed = v - v * decay * lr;
      m[i]! += (g[i]! - m[i]!) * 0.1;
      s[i]! += (g[i]! ** 2 - s[i]!) * 0.001;
      return decayed - (m[i]! * alpha) / (Math.sqrt(s[i]!) + EPS);
    });
  };
}

const REFERENCES: Record<string, [() => Optimizer, Reference]> = {
  sgd: [() => keras.optimizers.sgd({ learningRate: 0.1 }), () => (w, g, _t, lr) => w.map((v, i) => v - lr * g[i]!)],
  'sgd, nesterov momentum': [
    () => keras.optimizers.sgd({ learningRate: 0.1, momentum: 0.9, nesterov: true }),
    () => {
      const m = W0.map(() => 0);
      return (w, g, _t, lr) =>
        w.map((v, i) => {
          m[i] = 0.9 * m[i]! - lr * g[i]!;
          return v + (0.9 * m[i]! - lr * g[i]!);
        });
    },
  ],
  adam: [() => keras.optimizers.adam({ learningRate: 0.1 }), () => adamReference(0)],
  // TensorFlow.js's positional spelling: adam(learningRate, beta1, beta2, epsilon).
  'adam(0.1, 0.9, 0.999, 1e-7)': [() => keras.optimizers.adam(0.1, 0.9, 0.999, 1e-7), () => adamReference(0)],
  'sgd(0.1)': [() => keras.optimizers.sgd(0.1), () => (w, g, _t, lr) => w.map((v, i) => v - lr * g[i]!)],
  adamw: [() => keras.optimizers.adamw({ learningRate: 0.1, weightDecay: 0.05 }), () => adamReference(0.05)],
  adamax: [
    () => keras.optimizers.adamax({ learningRate: 0.1 }),
    () => {
      const [m, u] = [W0.map(() => 0), W0.map(() => 0)];
      return (w, g, t, lr) =>
        w.map((v, i) => {
          m[i]! += (g[i]! - m[i]!) * 0.1;
          u[i] = Math.max(0.999 * u[i]!, Math.abs(g[i]!));
          return v - ((lr / (1 - 0.9 ** t)) * m[i]!) / (u[i]! + EPS);
        });
    },
  ],
  nadam: [
    () => keras.optimizers.nadam({ learningRate: 0.1 }),
    () => {
      const [m, s] = [W0.map(() => 0), W0.map(() => 0)];
      let product = 1;
      return (w, g, t, lr) => {
        const uT = 0.9 * (1 - 0.5 * 0.96 ** (t * 0.004));
        const uNext = 0.9 * (1 - 0.5 * 0.96 ** ((t + 1) * 0.004));
        const productT = product * uT;
        const productNext = productT * uNext;
        product = productT;
        return w.map((v, i) => {
          m[i]! += (g[i]! - m[i]!) * 0.1;
          s[i]! += (g[i]! ** 2 - s[i]!) * 0.001;
          const mHat = (uNext * m[i]!) / (1 - productNext) + ((1 - uT) * g[i]!) / (1 - productT);
          const vHat = s[i]! / (1 - 0.999 ** t);
          return v - (lr * mHat) / (Math.sqrt(vHat) + EPS);
        });
      };
    },
  ],
  rmsprop: [
    () => keras.optimizers.rmsprop({ learningRate: 0.1 }),
    () => {
      const a = W0.map(() => 0);
      return (w, g, _t, lr) =>
        w.map((v, i) => {
          a[i] = 0.9 * a[i]! + 0.1 * g[i]! ** 2;
          return v - (lr * g[i]!) / (Math.sqrt(a[i]!) + EPS);
        });
    },
  ],
  adagrad: [
    () => keras.optimizers.adagrad({ learningRate: 0.1 }),
    () => {
      const a = W0.map(() => 0.1);
      return (w, g, _t, lr) =>
        w.map((v, i) => {
          a[i]! += g[i]! ** 2;
          return v - (lr * g[i]!) / (Math.sqrt(a[i]!) + EPS);
        });
    },
  ],
  adadelta: [
    () => keras.optimizers.adadelta({ learningRate: 1 }),
    () => {
      const [ag, ad] = [W0.map(() => 0), W0.map(() => 0)];
      return (w, g, _t, lr) =>
        w.map((v, i) => {
          ag[i] = 0.95 * ag[i]! + 0.05 * g[i]! ** 2;
          const delta = -(Math.sqrt(ad[i]! + EPS) / Math.sqrt(ag[i]! + EPS)) * g[i]!;
          ad[i] = 0.95 * ad[i]! + 0.05 * delta ** 2;
          return v + lr * delta;
        });
    },
  ],
  ftrl: [
    () =>
      keras.optimizers.ftrl({
        learningRate: 0.1,
        l1RegularizationStrength: 0.01,
        l2RegularizationStrength: 0.02,
        l2ShrinkageRegularizationStrength: 0.03,
        beta: 0.5,
      }),
    () => {
      const [acc, lin] = [W0.map(() => 0.1), W0.map(() => 0)];
      return (w, g, _t, lr) =>
        w.map((v, i) => {
          const l2Reg = 0.02 + 0.5 / (2 * lr);
          const gradToUse = g[i]! + 2 * 0.03 * v;
          const acc1 = acc[i]! + g[i]! ** 2;
          lin[i] = lin[i]! + gradToUse - ((acc1 ** 0.5 - acc[i]! ** 0.5) / lr) * v;
          const quadratic = acc1 ** 0.5 / lr + 2 * l2Reg;
          acc[i] = acc1;
          return Math.abs(lin[i]!) > 0.01 ? (Math.min(0.01, Math.max(-0.01, lin[i]!)) - lin[i]!) / quadratic : 0;
        });
    },
  ],
};

/** Steps a tsano optimizer on the quadratic in float64, returning the weights after each step. */
async function run(optimizer: Optimizer, steps: number, between?: (step: number) => void): Promise<number[][]> {
  const w = T.shared(T.array(Float64Array.from(W0)), 'w');
  const cost = T.add(T.sum(T.mul(w, T.constant(T.array(Float64Array.from(C))))), T.mul(T.sum(T.square(w)), 0.5));
  const f = await T.compile([], cost, { updates: optimizer.updates([w], [T.grad(cost, w)]), mode: 'js' });
  const out: number[][] = [];
  for (let s = 0; s < steps; s++) {
    between?.(s);
    optimizer.beforeStep();
    f();
    out.push(Array.from(w.get().data));
  }
  return out;
}

const close = (a: readonly number[], b: readonly number[], what: string) =>
  a.forEach((v, i) =>
    expect(Math.abs(v - b[i]!), `${what}[${i}]: ${v} vs ${b[i]}`).toBeLessThanOrEqual(
      1e-12 * Math.max(1, Math.abs(b[i]!)),
    ),
  );

describe('Keras optimizers follow Keras 3 step by step', () => {
  for (const [name, [make, reference]] of Object.entries(REFERENCES)) {
    it(name, async () => {
      const optimizer = make();
      const ours = await run(optimizer, 6);
      const step = reference();
      let w = [...W0];
      ours.forEach((got, s) => {
        w = step(w, grad(w), s + 1, optimizer.learningRate);
        close(got, w, `${name} step ${s + 1}`);
      });
      expect(optimizer.iterations).toBe(6);
    });
  }

  it('clipvalue, clipnorm and globalClipnorm clip the gradient as Keras does, before the rule', async () => {
    const sgd = (config: object) => keras.optimizers.sgd({ learningRate: 0.1, ...config });
    const g0 = grad(W0);
    const norm = Math.hypot(...g0);
    const [byValue] = await run(sgd({ clipvalue: 1 }), 1);
    close(
      byValue!,
      W0.map((v, i) => v - 0.1 * Math.min(1, Math.max(-1, g0[i]!))),
      'clipvalue',
    );
    const [byNorm] = await run(sgd({ clipnorm: 2 }), 1);
    close(
      byNorm!,
      W0.map((v, i) => v - (0.1 * g0[i]! * 2) / Math.max(norm, 2)),
      'clipnorm',
    );
    const [byGlobal] = await run(sgd({ globalClipnorm: 2 }), 1);
    close(
      byGlobal!,
      W0.map((v, i) => v - (0.1 * g0[i]! * 2) / Math.max(norm, 2)),
      'globalClipnorm',
    );
  });

  it('schedules set the rate before each step; a new learningRate takes effect at the next step', async () => {
    const exponential = keras.optimizers.schedules.exponentialDecay({
      initialLearningRate: 0.1,
      decaySteps: 2,
      decayRate: 0.5,
      staircase: true,
    });
    expect([0, 1, 2, 3, 4].map(exponential)).toEqual([0.1, 0.1, 0.05, 0.05, 0.025]);
    const cosine = keras.optimizers.schedules.cosineDecay({ initialLearningRate: 1, decaySteps: 4, alpha: 0.1 });
    expect(cosine(0)).toBeCloseTo(1, 12);
    expect(cosine(2)).toBeCloseTo(0.55, 12);
    expect(cosine(9)).toBeCloseTo(0.1, 12);
    const rates: number[] = [];
    const scheduled = keras.optimizers.sgd({ learningRate: exponential });
    const ours = await run(scheduled, 4, () => rates.push(scheduled.learningRate));
    let w = [...W0];
    ours.forEach((got, s) => {
      const lr = exponential(s);
      w = w.map((v, i) => v - lr * grad(w)[i]!);
      close(got, w, `scheduled step ${s + 1}`);
    });
    const manual = keras.optimizers.sgd({ learningRate: 0.1 });
    const steps = await run(manual, 2, (s) => {
      if (s === 1) manual.learningRate = 0.01;
    });
    const after1 = W0.map((v, i) => v - 0.1 * grad(W0)[i]!);
    close(
      steps[1]!,
      after1.map((v, i) => v - 0.01 * grad(after1)[i]!),
      'changed rate',
    );
    expect(() => (manual.learningRate = -1)).toThrow(/learningRate must be a non-negative number/);
  });

  it('a positional form with more arguments than TensorFlow.js takes is an error naming them', () => {
    expect(() => keras.optimizers.sgd(0.1, 0.9 as never)).toThrow(/at most 1 \(learningRate\)/);
    expect(() => keras.optimizers.adam(0.1, 0.9, 0.999, 1e-7, 3)).toThrow(
      /at most 4 \(learningRate, beta1, beta2, epsilon\)/,
    );
  });

  it('keras.losses are the losses compile takes by name, as functions', async () => {
    const [t, p] = [T.tensor('t', { shape: [null, 3] }), T.tensor('p', { shape: [null, 3] })];
    const values = [T.randomUniform([4, 3], { seed: 1 }), T.randomUniform([4, 3], { seed: 2 })];
    const f = await T.compile([t, p], [keras.losses['meanSquaredError']!(t, p), keras.losses['klDivergence']!(t, p)]);
    const [mse, kl] = f(...values);
    const [tv, pv] = values.map((v) => Array.from(v.data));
    for (let i = 0; i < 4; i++) {
      const row = [0, 1, 2].map((j) => i * 3 + j);
      expect(mse!.data[i]).toBeCloseTo(row.reduce((s, k) => s + (pv![k]! - tv![k]!) ** 2, 0) / 3, 5);
      const clip = (v: number) => Math.min(Math.max(v, 1e-7), 1);
      expect(kl!.data[i]).toBeCloseTo(
        row.reduce((s, k) => s + clip(tv![k]!) * Math.log(clip(tv![k]!) / clip(pv![k]!)), 0),
        5,
      );
    }
  });

  it('every optimizer trains a model by name', async () => {
    for (const name of ['sgd', 'adam', 'adamw', 'adamax', 'nadam', 'rmsprop', 'adagrad', 'adadelta', 'ftrl']) {
      const model = keras.sequential({ layers: [keras.layers.dense({ units: 2, inputShape: [3] })] });
      model.compile({ optimizer: name, loss: 'mse' });
      const x = T.randomNormal([16, 3], { seed: 1 });
      const history = await model.fit(x, T.randomNormal([16, 2], { seed: 2 }), { epochs: 2, batchSize: 8, verbose: 0 });
      expect(history.history['loss']!.every(Number.isFinite), name).toBe(true);
    }
  });
});
