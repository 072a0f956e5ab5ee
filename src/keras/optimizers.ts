import * as T from '../index.js';
import type { SharedVariable } from '../graph/variables.js';
import { ConfigError } from '../../runtime/errors.js';
// As Keras 2: an optimizer's epsilon defaults to keras.backend.epsilon() when it is created.
import { epsilon as backendEpsilon } from '../../runtime/config.js';

/** An optimizer turns (weights, gradients) into update pairs; its state lives in shared variables. */
export interface Optimizer {
  readonly name: string;
  updates(params: readonly SharedVariable[], grads: readonly T.Node[]): [T.Node, T.Node][];
}

const zerosLike = (p: SharedVariable, name: string) => T.shared(T.zeros(p.get().shape, p.dtype), name);

/** The update pairs of a per-weight rule applied to every weight and its gradient. */
const eachParam = (
  params: readonly SharedVariable[],
  grads: readonly T.Node[],
  rule: (p: SharedVariable, g: T.Node) => [T.Node, T.Node][],
) => params.flatMap((p, i) => rule(p, grads[i]!));

/** Adaptive step: a per-weight accumulator `a` of squared gradients, then w -= lr·g/(sqrt(a)+ε). */
function adaptive(
  params: readonly SharedVariable[],
  grads: readonly T.Node[],
  lr: number,
  epsilon: number,
  accumulator: (p: SharedVariable) => SharedVariable,
  next: (a: T.Node, g: T.Node) => T.Node,
): [T.Node, T.Node][] {
  return eachParam(params, grads, (p, g) => {
    const a = accumulator(p);
    const a1 = next(a, g);
    return [
      [a, a1],
      [p, T.sub(p, T.div(T.mul(g, lr), T.add(T.sqrt(a1), epsilon)))],
    ];
  });
}

/** SGD with optional momentum and Nesterov momentum (Keras 3's update rule). */
export function sgd(config: { learningRate?: number; momentum?: number; nesterov?: boolean } = {}): Optimizer {
  const { learningRate: lr = 0.01, momentum = 0, nesterov = false } = config;
  return {
    name: 'SGD',
    updates(params, grads) {
      return eachParam(params, grads, (p, g) => {
        if (momentum === 0) return [[p, T.sub(p, T.mul(g, lr))]];
        const v = zerosLike(p, `${p.name}/momentum`);
        const v1 = T.sub(T.mul(v, momentum), T.mul(g, lr));
        const step = nesterov ? T.sub(T.mul(v1, momentum), T.mul(g, lr)) : v1;
        return [
          [v, v1],
          [p, T.add(p, step)],
        ];
      });
    },
  };
}

/** Adam, as Keras 3: alpha = lr·sqrt(1-β2^t)/(1-β1^t), w -= alpha·m/(sqrt(v)+ε). */
export function adam(
  config: { learningRate?: number; beta1?: number; beta2?: number; epsilon?: number } = {},
): Optimizer {
  const { learningRate: lr = 0.001, beta1 = 0.9, beta2 = 0.999, epsilon = backendEpsilon() } = config;
  return {
    name: 'Adam',
    updates(params, grads) {
      const t = T.shared(T.zeros([], params[0]?.dtype ?? 'float32'), 'adam/iterations');
      const t1 = T.add(t, 1);
      const alpha = T.div(T.mul(T.sqrt(T.sub(1, T.pow(beta2, t1))), lr), T.sub(1, T.pow(beta1, t1)));
      const out: [T.Node, T.Node][] = [[t, t1]];
      params.forEach((p, i) => {
        const g = grads[i]!;
        const m = zerosLike(p, `${p.name}/m`);
        const v = zerosLike(p, `${p.name}/v`);
        const m1 = T.add(m, T.mul(T.sub(g, m), 1 - beta1));
        const v1 = T.add(v, T.mul(T.sub(T.square(g), v), 1 - beta2));
        out.push([m, m1], [v, v1], [p, T.sub(p, T.div(T.mul(m1, alpha), T.add(T.sqrt(v1), epsilon)))]);
      });
      return out;
    },
  };
}

export function rmsprop(config: { learningRate?: number; rho?: number; epsilon?: number } = {}): Optimizer {
  const { learningRate: lr = 0.001, rho = 0.9, epsilon = backendEpsilon() } = config;
  return {
    name: 'RMSprop',
    updates(params, grads) {
      return adaptive(
        params,
        grads,
        lr,
        epsilon,
        (p) => zerosLike(p, `${p.name}/rms`),
        (a, g) => T.add(T.mul(a, rho), T.mul(T.square(g), 1 - rho)),
      );
    },
  };
}

export function adagrad(
  config: { learningRate?: number; initialAccumulatorValue?: number; epsilon?: number } = {},
): Optimizer {
  const { learningRate: lr = 0.001, initialAccumulatorValue = 0.1, epsilon = backendEpsilon() } = config;
  return {
    name: 'Adagrad',
    updates(params, grads) {
      const start = (p: SharedVariable) =>
        T.shared(T.full(p.get().shape, initialAccumulatorValue, p.dtype), `${p.name}/accumulator`);
      return adaptive(params, grads, lr, epsilon, start, (a, g) => T.add(a, T.square(g)));
    },
  };
}

/** An optimizer by Keras name, with its defaults. */
export function optimizerByName(name: string): Optimizer {
  switch (name.toLowerCase()) {
    case 'sgd':
      return sgd();
    case 'adam':
      return adam();
    case 'rmsprop':
      return rmsprop();
    case 'adagrad':
      return adagrad();
    default:
      throw new ConfigError(`unknown optimizer '${name}' (known: sgd, adam, rmsprop, adagrad)`);
  }
}
