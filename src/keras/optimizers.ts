import * as T from '../index.js';
import type { SharedVariable } from '../graph/variables.js';
import { ConfigError } from '../../runtime/errors.js';
// As Keras 2: an optimizer's epsilon defaults to keras.backend.epsilon() when it is created.
import { epsilon as backendEpsilon } from '../../runtime/config.js';
import type { DType } from '../../runtime/dtype.js';

/** A learning rate as a function of the step (Keras's LearningRateSchedule): the steps taken so far. */
export interface LearningRateSchedule {
  (step: number): number;
  readonly className: string;
}

/** What every optimizer takes besides its own hyperparameters (Keras's base optimizer arguments). */
export interface OptimizerConfig {
  /** A number, or a schedule evaluated before each step. */
  learningRate?: number | LearningRateSchedule;
  /** Each weight's gradient scaled down to this norm at most. */
  clipnorm?: number;
  /** Each gradient element clipped to [-clipvalue, clipvalue]. */
  clipvalue?: number;
  /** All gradients scaled together so that their joint norm is at most this. */
  globalClipnorm?: number;
}

/**
 * An optimizer turns (weights, gradients) into update pairs; its state lives in shared variables.
 * The learning rate is a shared variable too: changing `learningRate` (or a schedule, or a callback)
 * takes effect at the next step without compiling anything again.
 */
export interface Optimizer {
  readonly name: string;
  /** The learning rate the next step uses. */
  learningRate: number;
  /** Steps taken (Keras's `optimizer.iterations`): the count the training step itself keeps. */
  readonly iterations: number;
  updates(params: readonly SharedVariable[], grads: readonly T.Node[]): [T.Node, T.Node][];
  /** Called by fit and trainOnBatch before each step: a schedule sets the rate for it. */
  beforeStep(): void;
}

/** The per-weight part of an optimizer: its update pairs, given the learning rate and step as graph values. */
type Rule = (context: {
  params: readonly SharedVariable[];
  grads: readonly T.Node[];
  lr: T.Node;
  /** The 1-based number of this step, as a graph value. */
  step: T.Node;
  dtype: DType;
}) => [T.Node, T.Node][];

const zerosLike = (p: SharedVariable, name: string) => T.shared(T.zeros(p.get().shape, p.dtype), name);
const fullLike = (p: SharedVariable, value: number, name: string) =>
  T.shared(T.full(p.get().shape, value, p.dtype), name);

function positive(what: string, value: number | undefined, orZero = false): void {
  if (value !== undefined && !(Number.isFinite(value) && (value > 0 || (orZero && value === 0))))
    throw new ConfigError(`${what} must be a ${orZero ? 'non-negative' : 'positive'} number, got ${String(value)}`);
}

/** Gradients after Keras's clipping options, in its order: value, then each norm, then the global norm. */
function clipped(grads: readonly T.Node[], config: OptimizerConfig): T.Node[] {
  let gs = [...grads];
  const { clipvalue, clipnorm, globalClipnorm } = config;
  if (clipvalue !== undefined) gs = gs.map((g) => T.clip(g, -clipvalue, clipvalue));
  if (clipnorm !== undefined)
    gs = gs.map((g) => T.mul(g, T.div(clipnorm, T.maximum(T.sqrt(T.sum(T.square(g))), clipnorm))));
  if (globalClipnorm !== undefined && gs.length) {
    const norm = T.sqrt(gs.map((g) => T.sum(T.square(g))).reduce((a, b) => T.add(a, b)));
    gs = gs.map((g) => T.mul(g, T.div(globalClipnorm, T.maximum(norm, globalClipnorm))));
  }
  return gs;
}

/** An optimizer from its rule: the learning rate variable, the step counter, clipping and schedules. */
function optimizer(name: string, config: OptimizerConfig, defaultRate: number, rule: Rule): Optimizer {
  const given = config.learningRate;
  const schedule = typeof given === 'function' ? given : undefined;
  let rate: number = typeof given === 'function' ? given(0) : (given ?? defaultRate);
  positive(`${name}: learningRate`, rate, true);
  positive(`${name}: clipnorm`, config.clipnorm);
  positive(`${name}: clipvalue`, config.clipvalue);
  positive(`${name}: globalClipnorm`, config.globalClipnorm);
  let lrVariable: SharedVariable | undefined;
  let stepVariable: SharedVariable | undefined;
  const iterations = () => (stepVariable ? stepVariable.get().item() : 0);
  return {
    name,
    get learningRate() {
      return rate;
    },
    set learningRate(value: number) {
      positive(`${name}: learningRate`, value, true);
      rate = value;
      lrVariable?.set(T.full([], value, lrVariable.dtype));
    },
    get iterations() {
      return iterations();
    },
    updates(params, grads) {
      const dtype = params[0]?.dtype ?? 'float32';
      lrVariable = T.shared(T.full([], rate, dtype), `${name}/learning_rate`);
      stepVariable = T.shared(T.full([], iterations(), dtype), `${name}/iterations`);
      const step = T.add(stepVariable, 1);
      return [[stepVariable, step], ...rule({ params, grads: clipped(grads, config), lr: lrVariable, step, dtype })];
    },
    beforeStep() {
      if (schedule) this.learningRate = schedule(iterations());
    },
  };
}

const eachParam = (
  params: readonly SharedVariable[],
  grads: readonly T.Node[],
  rule: (p: SharedVariable, g: T.Node) => [T.Node, T.Node][],
) => params.flatMap((p, i) => rule(p, grads[i]!));

/** SGD with optional momentum and Nesterov momentum (Keras 3's update rule). */
export function sgd(config: OptimizerConfig & { momentum?: number; nesterov?: boolean } = {}): Optimizer {
  const { momentum = 0, nesterov = false } = config;
  return optimizer('SGD', config, 0.01, ({ params, grads, lr }) =>
    eachParam(params, grads, (p, g) => {
      if (momentum === 0) return [[p, T.sub(p, T.mul(g, lr))]];
      const v = zerosLike(p, `${p.name}/momentum`);
      const v1 = T.sub(T.mul(v, momentum), T.mul(g, lr));
      const step = nesterov ? T.sub(T.mul(v1, momentum), T.mul(g, lr)) : v1;
      return [
        [v, v1],
        [p, T.add(p, step)],
      ];
    }),
  );
}

type AdamConfig = OptimizerConfig & {
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  /** ε added to the bias-corrected √v̂, as TF.js places it (Keras adds it to √v before the correction). */
  epsilonAfterCorrection?: boolean;
};

/** Adam's moments and step for one weight (Keras 3): alpha = lr·sqrt(1-β2^t)/(1-β1^t), w -= alpha·m/(sqrt(v)+ε). */
function adamStep(p: SharedVariable, g: T.Node, from: T.Node, lr: T.Node, step: T.Node, config: AdamConfig) {
  const { beta1 = 0.9, beta2 = 0.999, epsilon = backendEpsilon() } = config;
  const alpha = T.div(T.mul(T.sqrt(T.sub(1, T.pow(beta2, step))), lr), T.sub(1, T.pow(beta1, step)));
  const m = zerosLike(p, `${p.name}/m`);
  const v = zerosLike(p, `${p.name}/v`);
  const m1 = T.add(m, T.mul(T.sub(g, m), 1 - beta1));
  const v1 = T.add(v, T.mul(T.sub(T.square(g), v), 1 - beta2));
  // TF.js: w -= lr·m̂/(√v̂ + ε) with m̂ = m/(1 − β1^t), v̂ = v/(1 − β2^t).
  const stepOf = config.epsilonAfterCorrection
    ? T.div(
        T.mul(T.div(m1, T.sub(1, T.pow(beta1, step))), lr),
        T.add(T.sqrt(T.div(v1, T.sub(1, T.pow(beta2, step)))), epsilon),
      )
    : T.div(T.mul(m1, alpha), T.add(T.sqrt(v1), epsilon));
  return [
    [m, m1],
    [v, v1],
    [p, T.sub(from, stepOf)],
  ] as [T.Node, T.Node][];
}

export function adam(config: AdamConfig = {}): Optimizer {
  return optimizer('Adam', config, 0.001, ({ params, grads, lr, step }) =>
    eachParam(params, grads, (p, g) => adamStep(p, g, p, lr, step, config)),
  );
}

/** Adam with decoupled weight decay (Keras 3's AdamW): w -= w·decay·lr, then Adam's step. */
export function adamw(config: AdamConfig & { weightDecay?: number } = {}): Optimizer {
  const { weightDecay = 0.004 } = config;
  return optimizer('AdamW', config, 0.001, ({ params, grads, lr, step }) =>
    eachParam(params, grads, (p, g) => adamStep(p, g, T.sub(p, T.mul(T.mul(p, weightDecay), lr)), lr, step, config)),
  );
}

/** Adamax (Keras 3): an infinity-norm second moment, u = max(β2·u, |g|); w -= lr/(1-β1^t)·m/(u+ε). */
export function adamax(config: AdamConfig = {}): Optimizer {
  const { beta1 = 0.9, beta2 = 0.999, epsilon = backendEpsilon() } = config;
  return optimizer('Adamax', config, 0.001, ({ params, grads, lr, step }) =>
    eachParam(params, grads, (p, g) => {
      const m = zerosLike(p, `${p.name}/m`);
      const u = zerosLike(p, `${p.name}/u`);
      const m1 = T.add(m, T.mul(T.sub(g, m), 1 - beta1));
      const u1 = T.maximum(T.mul(u, beta2), T.abs(g));
      const rate = T.div(lr, T.sub(1, T.pow(beta1, step)));
      return [
        [m, m1],
        [u, u1],
        [p, T.sub(p, T.div(T.mul(m1, rate), T.add(u1, epsilon)))],
      ];
    }),
  );
}

/** Nadam (Keras 3): Adam with Nesterov momentum and the momentum schedule of Dozat (2016). */
export function nadam(config: AdamConfig = {}): Optimizer {
  const { beta1 = 0.9, beta2 = 0.999, epsilon = backendEpsilon() } = config;
  return optimizer('Nadam', config, 0.001, ({ params, grads, lr, step, dtype }) => {
    const product = T.shared(T.full([], 1, dtype), 'Nadam/u_product');
    const u = (t: T.Node) => T.mul(T.sub(1, T.mul(T.pow(0.96, T.mul(t, 0.004)), 0.5)), beta1);
    const [uT, uNext] = [u(step), u(T.add(step, 1))];
    const productT = T.mul(product, uT);
    const productNext = T.mul(productT, uNext);
    const out: [T.Node, T.Node][] = [[product, productT]];
    params.forEach((p, i) => {
      const g = grads[i]!;
      const m = zerosLike(p, `${p.name}/m`);
      const v = zerosLike(p, `${p.name}/v`);
      const m1 = T.add(m, T.mul(T.sub(g, m), 1 - beta1));
      const v1 = T.add(v, T.mul(T.sub(T.square(g), v), 1 - beta2));
      const mHat = T.add(
        T.div(T.mul(uNext, m1), T.sub(1, productNext)),
        T.div(T.mul(T.sub(1, uT), g), T.sub(1, productT)),
      );
      const vHat = T.div(v1, T.sub(1, T.pow(beta2, step)));
      out.push([m, m1], [v, v1], [p, T.sub(p, T.div(T.mul(mHat, lr), T.add(T.sqrt(vHat), epsilon)))]);
    });
    return out;
  });
}

/** Adaptive step: a per-weight accumulator `a` of squared gradients, then w -= lr·g/(sqrt(a)+ε). */
function adaptive(
  accumulator: (p: SharedVariable) => SharedVariable,
  next: (a: T.Node, g: T.Node) => T.Node,
  epsilon: number,
): Rule {
  return ({ params, grads, lr }) =>
    eachParam(params, grads, (p, g) => {
      const a = accumulator(p);
      const a1 = next(a, g);
      return [
        [a, a1],
        [p, T.sub(p, T.div(T.mul(g, lr), T.add(T.sqrt(a1), epsilon)))],
      ];
    });
}

export function rmsprop(config: OptimizerConfig & { rho?: number; epsilon?: number } = {}): Optimizer {
  const { rho = 0.9, epsilon = backendEpsilon() } = config;
  return optimizer(
    'RMSprop',
    config,
    0.001,
    adaptive(
      (p) => zerosLike(p, `${p.name}/rms`),
      (a, g) => T.add(T.mul(a, rho), T.mul(T.square(g), 1 - rho)),
      epsilon,
    ),
  );
}

export function adagrad(
  config: OptimizerConfig & { initialAccumulatorValue?: number; epsilon?: number } = {},
): Optimizer {
  const { initialAccumulatorValue = 0.1, epsilon = backendEpsilon() } = config;
  return optimizer(
    'Adagrad',
    config,
    0.001,
    adaptive(
      (p) => fullLike(p, initialAccumulatorValue, `${p.name}/accumulator`),
      (a, g) => T.add(a, T.square(g)),
      epsilon,
    ),
  );
}

/** Adadelta (Keras 3): the step scaled by the running RMS of past steps over that of gradients. */
export function adadelta(config: OptimizerConfig & { rho?: number; epsilon?: number } = {}): Optimizer {
  const { rho = 0.95, epsilon = backendEpsilon() } = config;
  return optimizer('Adadelta', config, 0.001, ({ params, grads, lr }) =>
    eachParam(params, grads, (p, g) => {
      const accumulatedGrad = zerosLike(p, `${p.name}/accumulated_grad`);
      const accumulatedDelta = zerosLike(p, `${p.name}/accumulated_delta_var`);
      const grad1 = T.add(T.mul(accumulatedGrad, rho), T.mul(T.square(g), 1 - rho));
      const delta = T.neg(T.mul(T.div(T.sqrt(T.add(accumulatedDelta, epsilon)), T.sqrt(T.add(grad1, epsilon))), g));
      return [
        [accumulatedGrad, grad1],
        [accumulatedDelta, T.add(T.mul(accumulatedDelta, rho), T.mul(T.square(delta), 1 - rho))],
        [p, T.add(p, T.mul(delta, lr))],
      ];
    }),
  );
}

/** FTRL-proximal (Keras 3's Ftrl), with L1, L2 and L2-shrinkage regularization. */
export function ftrl(
  config: OptimizerConfig & {
    learningRatePower?: number;
    initialAccumulatorValue?: number;
    l1RegularizationStrength?: number;
    l2RegularizationStrength?: number;
    l2ShrinkageRegularizationStrength?: number;
    beta?: number;
  } = {},
): Optimizer {
  const {
    learningRatePower: power = -0.5,
    initialAccumulatorValue = 0.1,
    l1RegularizationStrength: l1 = 0,
    l2RegularizationStrength: l2 = 0,
    l2ShrinkageRegularizationStrength: shrinkage = 0,
    beta = 0,
  } = config;
  return optimizer('Ftrl', config, 0.001, ({ params, grads, lr }) =>
    eachParam(params, grads, (p, g) => {
      const accumulator = fullLike(p, initialAccumulatorValue, `${p.name}/accumulator`);
      const linear = zerosLike(p, `${p.name}/linear`);
      const l2Reg = T.add(T.div(beta / 2, lr), l2);
      const gradToUse = T.add(g, T.mul(p, 2 * shrinkage));
      const accumulator1 = T.add(accumulator, T.square(g));
      const linear1 = T.sub(
        T.add(linear, gradToUse),
        T.mul(T.div(T.sub(T.pow(accumulator1, -power), T.pow(accumulator, -power)), lr), p),
      );
      const quadratic = T.add(T.div(T.pow(accumulator1, -power), lr), T.mul(l2Reg, 2));
      const weight = T.where(T.gt(T.abs(linear1), l1), T.div(T.sub(T.clip(linear1, -l1, l1), linear1), quadratic), 0);
      return [
        [linear, linear1],
        [accumulator, accumulator1],
        [p, weight],
      ];
    }),
  );
}

/** Learning-rate schedules (Keras's keras.optimizers.schedules), evaluated at the steps taken. */
export const schedules = {
  /** initial · rate^(step / steps), with whole periods only when `staircase`. */
  exponentialDecay(config: {
    initialLearningRate: number;
    decaySteps: number;
    decayRate: number;
    staircase?: boolean;
  }): LearningRateSchedule {
    const { initialLearningRate, decaySteps, decayRate, staircase = false } = config;
    positive('exponentialDecay: decaySteps', decaySteps);
    const f = (step: number) => {
      const p = step / decaySteps;
      return initialLearningRate * decayRate ** (staircase ? Math.floor(p) : p);
    };
    return Object.assign(f, { className: 'ExponentialDecay' });
  },
  /** Cosine from the initial rate down to alpha · initial over `decaySteps`, then flat. */
  cosineDecay(config: { initialLearningRate: number; decaySteps: number; alpha?: number }): LearningRateSchedule {
    const { initialLearningRate, decaySteps, alpha = 0 } = config;
    positive('cosineDecay: decaySteps', decaySteps);
    const f = (step: number) => {
      const cosine = 0.5 * (1 + Math.cos((Math.PI * Math.min(step, decaySteps)) / decaySteps));
      return initialLearningRate * ((1 - alpha) * cosine + alpha);
    };
    return Object.assign(f, { className: 'CosineDecay' });
  },
};

const BY_NAME: Record<string, () => Optimizer> = { sgd, adam, adamw, adamax, nadam, rmsprop, adagrad, adadelta, ftrl };

/** An optimizer by Keras name, with its defaults. */
export function optimizerByName(name: string): Optimizer {
  const make = BY_NAME[name.toLowerCase()];
  if (!make) throw new ConfigError(`unknown optimizer '${name}' (known: ${Object.keys(BY_NAME).join(', ')})`);
  return make();
}
