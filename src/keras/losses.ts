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

/** Losses by Keras name (snake_case or camelCase). */
export function lossByName(name: string, options: LossOptions = {}): Loss {
  const fromLogits = options.fromLogits ?? false;
  switch (snake(name)) {
    case 'mse':
    case 'mean_squared_error':
      return (t, p) => T.mean(T.square(T.sub(p, t)), -1);
    case 'mae':
    case 'mean_absolute_error':
      return (t, p) => T.mean(T.abs(T.sub(p, t)), -1);
    case 'categorical_crossentropy':
      return (t, p) => categorical(t, p, fromLogits);
    case 'sparse_categorical_crossentropy':
      return (t, p) => {
        const classes = p.shape[p.ndim - 1];
        if (classes === null || classes === undefined)
          throw new ConfigError('sparse_categorical_crossentropy: the number of classes must be known');
        const labels = t.ndim === p.ndim ? T.squeeze(t, -1) : t;
        return categorical(T.oneHot(T.cast(labels, 'int32'), classes, p.dtype), p, fromLogits);
      };
    case 'binary_crossentropy':
      return (t, z) => {
        if (fromLogits) return T.mean(T.sub(T.softplus(z), T.mul(t, z)), -1);
        const eps = epsilon();
        const p = T.clip(z, eps, 1 - eps);
        return T.neg(
          T.mean(T.add(T.mul(t, T.log(T.add(p, eps))), T.mul(T.sub(1, t), T.log(T.add(T.sub(1, p), eps)))), -1),
        );
      };
    default:
      throw new ConfigError(
        `unknown loss '${name}' (known: mse, mae, categorical_crossentropy, sparse_categorical_crossentropy, binary_crossentropy)`,
      );
  }
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
      throw new ConfigError(
        `unknown metric '${name}' (known: accuracy, categorical_accuracy, sparse_categorical_accuracy, binary_accuracy, mse, mae)`,
      );
  }
}
