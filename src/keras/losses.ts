import * as T from '../index.js';
import { epsilon } from '../../runtime/config.js';
import { ConfigError } from '../../runtime/errors.js';

/** A loss: per-sample values (batch axis kept) from targets and predictions. */
export type Loss = (yTrue: T.Node, yPred: T.Node) => T.Node;
export interface LossOptions {
  fromLogits?: boolean;
}

const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

function categorical(yTrue: T.Node, yPred: T.Node, fromLogits: boolean): T.Node {
  if (fromLogits) return T.neg(T.sum(T.mul(yTrue, T.logSoftmax(yPred, -1)), -1));
  // Keras's probability form, written as Keras writes it: the optimizer turns it into the exact logits form.
  const eps = epsilon();
  const p = T.div(yPred, T.sum(yPred, -1, true));
  return T.neg(T.sum(T.mul(yTrue, T.log(T.clip(p, eps, 1 - eps))), -1));
}

/** Keras's hinge losses take labels in {-1, 1}; labels that are all 0 or 1 are mapped to them first, as Keras does. */
function signedLabels(yTrue: T.Node): T.Node {
  const binary = T.eq(T.min(T.cast(T.or(T.eq(yTrue, 0), T.eq(yTrue, 1)), yTrue.dtype)), 1);
  return T.where(binary, T.sub(T.mul(yTrue, 2), 1), yTrue);
}

/** x / ‖x‖ along the last axis, with Keras's floor of 1e-12 on the squared norm. */
const l2Normalize = (x: T.Node) => T.mul(x, T.rsqrt(T.maximum(T.sum(T.square(x), -1, true), 1e-12)));

/** Every loss by its Keras name (aliases included), each as Keras defines it: per sample, the batch axis kept. */
const LOSSES: Record<string, (options: { fromLogits: boolean }) => Loss> = {
  mean_squared_error: () => (t, p) => T.mean(T.square(T.sub(p, t)), -1),
  mean_absolute_error: () => (t, p) => T.mean(T.abs(T.sub(p, t)), -1),
  mean_absolute_percentage_error: () => (t, p) =>
    T.mul(T.mean(T.abs(T.div(T.sub(t, p), T.maximum(T.abs(t), epsilon()))), -1), 100),
  mean_squared_logarithmic_error: () => (t, p) =>
    T.mean(T.square(T.sub(T.log1p(T.maximum(p, epsilon())), T.log1p(T.maximum(t, epsilon())))), -1),
  categorical_crossentropy:
    ({ fromLogits }) =>
    (t, p) =>
      categorical(t, p, fromLogits),
  sparse_categorical_crossentropy:
    ({ fromLogits }) =>
    (t, p) => {
      const classes = p.shape[p.ndim - 1];
      if (classes === null || classes === undefined)
        throw new ConfigError('sparse_categorical_crossentropy: the number of classes must be known');
      const labels = t.ndim === p.ndim ? T.squeeze(t, -1) : t;
      return categorical(T.oneHot(T.cast(labels, 'int32'), classes, p.dtype), p, fromLogits);
    },
  binary_crossentropy:
    ({ fromLogits }) =>
    (t, z) => {
      if (fromLogits) return T.mean(T.sub(T.softplus(z), T.mul(t, z)), -1);
      const eps = epsilon();
      const p = T.clip(z, eps, 1 - eps);
      return T.neg(
        T.mean(T.add(T.mul(t, T.log(T.add(p, eps))), T.mul(T.sub(1, t), T.log(T.add(T.sub(1, p), eps)))), -1),
      );
    },
  hinge: () => (t, p) => T.mean(T.maximum(T.sub(1, T.mul(signedLabels(t), p)), 0), -1),
  squared_hinge: () => (t, p) => T.mean(T.square(T.maximum(T.sub(1, T.mul(signedLabels(t), p)), 0)), -1),
  categorical_hinge: () => (t, p) => {
    const positive = T.sum(T.mul(t, p), -1);
    const negative = T.max(T.mul(T.sub(1, t), p), -1);
    return T.maximum(T.add(T.sub(negative, positive), 1), 0);
  },
  kl_divergence: () => (t, p) => {
    const [tc, pc] = [T.clip(t, epsilon(), 1), T.clip(p, epsilon(), 1)];
    return T.sum(T.mul(tc, T.log(T.div(tc, pc))), -1);
  },
  // Keras's default delta of 1: squared error within it, linear beyond.
  huber: () => (t, p) => {
    const error = T.sub(p, t);
    const size = T.abs(error);
    return T.mean(T.where(T.le(size, 1), T.mul(T.square(error), 0.5), T.sub(size, 0.5)), -1);
  },
  // log(cosh(x)) = x + softplus(-2x) - log 2: finite for every x.
  log_cosh: () => (t, p) => {
    const x = T.sub(p, t);
    return T.mean(T.sub(T.add(x, T.softplus(T.mul(x, -2))), Math.LN2), -1);
  },
  cosine_similarity: () => (t, p) => T.neg(T.sum(T.mul(l2Normalize(t), l2Normalize(p)), -1)),
  poisson: () => (t, p) => T.mean(T.sub(p, T.mul(t, T.log(T.add(p, epsilon())))), -1),
};
const ALIASES: Record<string, string> = {
  mse: 'mean_squared_error',
  mae: 'mean_absolute_error',
  mape: 'mean_absolute_percentage_error',
  msle: 'mean_squared_logarithmic_error',
  kld: 'kl_divergence',
  kullback_leibler_divergence: 'kl_divergence',
  huber_loss: 'huber',
  logcosh: 'log_cosh',
};

/** The loss names Keras accepts, aliases included. */
export const LOSS_NAMES: readonly string[] = [...Object.keys(LOSSES), ...Object.keys(ALIASES)];

/** Losses by Keras name (snake_case or camelCase). */
export function lossByName(name: string, options: LossOptions = {}): Loss {
  const key = snake(name);
  const make = LOSSES[ALIASES[key] ?? key];
  if (!make) throw new ConfigError(`unknown loss '${name}' (known: ${LOSS_NAMES.join(', ')})`);
  return make({ fromLogits: options.fromLogits ?? false });
}

/** Per-sample metric values; `accuracy` is resolved from the loss as Keras does. */
export function metricByName(name: string, lossName: string): Loss {
  const loss = snake(lossName);
  const resolved =
    snake(name) === 'accuracy' || name === 'acc'
      ? loss === 'binary_crossentropy'
        ? 'binary_accuracy'
        : loss === 'sparse_categorical_crossentropy'
          ? 'sparse_categorical_accuracy'
          : 'categorical_accuracy'
      : snake(name);
  switch (resolved) {
    case 'categorical_accuracy':
      return (t, p) => T.cast(T.eq(T.argmax(p, -1), T.argmax(t, -1)), p.dtype);
    case 'sparse_categorical_accuracy':
      // Labels are class indices (fit and evaluate check them): compared as floats, the predicted class
      // converted once, so the comparison runs in the same kernel as the mean.
      return (t, p) =>
        T.cast(T.eq(T.cast(T.argmax(p, -1), p.dtype), t.ndim === p.ndim ? T.squeeze(t, -1) : t), p.dtype);
    case 'binary_accuracy':
      return (t, p) => T.mean(T.cast(T.eq(T.gt(p, 0.5), T.gt(t, 0.5)), p.dtype), -1);
    case 'mse':
    case 'mean_squared_error':
      return lossByName('mse');
    case 'mae':
    case 'mean_absolute_error':
      return lossByName('mae');
    default:
      // Every loss is a metric too (Keras: metrics=['mape']).
      if (LOSSES[ALIASES[resolved] ?? resolved]) return lossByName(resolved);
      throw new ConfigError(
        `unknown metric '${name}' (known: accuracy, categorical_accuracy, sparse_categorical_accuracy, binary_accuracy, ${LOSS_NAMES.join(', ')})`,
      );
  }
}
