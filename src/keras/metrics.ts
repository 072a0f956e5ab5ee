/**
 * Keras's metric objects (`keras.metrics.*`). A metric that is a mean of per-sample values (top-k
 * accuracy) is a function, as the losses are; a stateful one (precision, recall, AUC, mean IoU) is
 * computed from statistics summed over batches: the compiled training and test steps output each
 * batch's statistics, fit and evaluate add them up over the epoch, and the metric's value is worked
 * out from the totals, as Keras's update_state and result do. `updateState`, `result` and
 * `resetState` do the same outside a model.
 */
import * as T from '../index.js';
import { ConfigError } from '../../runtime/errors.js';
import type { Loss } from './losses.js';

export abstract class StatefulMetric {
  private totals: Float64Array | undefined;

  constructor(readonly name: string) {}

  /** The statistics of one batch, a vector the model's steps output and fit adds up. */
  abstract statistics(yTrue: T.Node, yPred: T.Node): T.Node;
  /** The metric from statistics summed over batches. */
  abstract resultOf(totals: Float64Array): number;

  /** Adds a batch's statistics (Keras's update_state), outside a model. */
  updateState(yTrue: T.NDArray, yPred: T.NDArray): void {
    const [t, p] = [yTrue, yPred].map((a, i) =>
      T.tensor(i ? 'yPred' : 'yTrue', { shape: [...a.shape], dtype: a.dtype }),
    ) as [T.Node, T.Node];
    const value = (T.compileSync([t, p], this.statistics(t, p), { mode: 'js' }) as T.CompiledFunction<T.NDArray>)(
      yTrue,
      yPred,
    );
    const data = Float64Array.from(value.data as ArrayLike<number>);
    if (!this.totals) this.totals = data;
    else data.forEach((v, i) => (this.totals![i]! += v));
  }

  result(): number {
    if (!this.totals) return 0;
    return this.resultOf(this.totals);
  }

  resetState(): void {
    this.totals = undefined;
  }
}

const flat = (x: T.Node) => T.reshape(T.cast(x, 'float32'), [-1]);
const ratio = (a: number, b: number) => (b > 0 ? a / b : 0);

/** Counts of true and false positives and negatives at each threshold: [tp..., fp..., tn..., fn...]. */
function confusion(yTrue: T.Node, yPred: T.Node, thresholds: readonly number[]): T.Node {
  const truth = T.expandDims(T.gt(flat(yTrue), 0.5), 1);
  const above = T.gt(T.expandDims(flat(yPred), 1), T.constant(T.array(thresholds, { dtype: 'float32' })));
  const count = (a: T.Node, b: T.Node) => T.sum(T.cast(T.and(a, b), 'float32'), 0);
  return T.concat(
    [count(above, truth), count(above, T.not(truth)), count(T.not(above), T.not(truth)), count(T.not(above), truth)],
    0,
  );
}

const threshold = (t: number | undefined, what: string) => {
  const value = t ?? 0.5;
  if (!(value >= 0 && value <= 1)) throw new ConfigError(`${what}: thresholds must be in [0, 1], got ${String(t)}`);
  return value;
};

/** Keras's Precision: true positives over predicted positives (predictions above the threshold). */
export class Precision extends StatefulMetric {
  private readonly threshold: number;
  constructor(args: { thresholds?: number; name?: string } = {}) {
    super(args.name ?? 'precision');
    this.threshold = threshold(args.thresholds, 'keras.metrics.Precision');
  }
  statistics(yTrue: T.Node, yPred: T.Node): T.Node {
    return confusion(yTrue, yPred, [this.threshold]);
  }
  resultOf([tp, fp]: Float64Array): number {
    return ratio(tp!, tp! + fp!);
  }
}

/** Keras's Recall: true positives over actual positives. */
export class Recall extends StatefulMetric {
  private readonly threshold: number;
  constructor(args: { thresholds?: number; name?: string } = {}) {
    super(args.name ?? 'recall');
    this.threshold = threshold(args.thresholds, 'keras.metrics.Recall');
  }
  statistics(yTrue: T.Node, yPred: T.Node): T.Node {
    return confusion(yTrue, yPred, [this.threshold]);
  }
  resultOf(totals: Float64Array): number {
    const [tp, , , fn] = totals;
    return ratio(tp!, tp! + fn!);
  }
}

/**
 * Keras's AUC: the area under the ROC or precision-recall curve, from counts at `numThresholds`
 * thresholds spread over [0, 1] (Keras's: 0 − ε, i/(n − 1), 1 + ε), summed by interpolation as Keras
 * does (trapezoids for ROC; Davis and Goadrich's interpolation for PR).
 */
export class AUC extends StatefulMetric {
  private readonly thresholds: number[];
  constructor(private readonly args: { numThresholds?: number; curve?: 'ROC' | 'PR'; name?: string } = {}) {
    super(args.name ?? 'auc');
    const n = args.numThresholds ?? 200;
    if (!Number.isInteger(n) || n < 2)
      throw new ConfigError(`keras.metrics.AUC: numThresholds must be an integer > 1, got ${String(n)}`);
    if (args.curve !== undefined && args.curve !== 'ROC' && args.curve !== 'PR')
      throw new ConfigError(`keras.metrics.AUC: curve must be 'ROC' or 'PR', got '${String(args.curve)}'`);
    const epsilon = 1e-7;
    this.thresholds = [0 - epsilon, ...Array.from({ length: n - 2 }, (_, i) => (i + 1) / (n - 1)), 1 + epsilon];
  }
  statistics(yTrue: T.Node, yPred: T.Node): T.Node {
    return confusion(yTrue, yPred, this.thresholds);
  }
  resultOf(totals: Float64Array): number {
    const n = this.thresholds.length;
    const part = (k: number) => Array.from(totals.subarray(k * n, (k + 1) * n));
    const [tp, fp, tn, fn] = [part(0), part(1), part(2), part(3)];
    let area = 0;
    if ((this.args.curve ?? 'ROC') === 'ROC') {
      const tpr = tp.map((v, i) => ratio(v, v + fn[i]!));
      const fpr = fp.map((v, i) => ratio(v, v + tn[i]!));
      for (let i = 0; i < n - 1; i++) area += (fpr[i]! - fpr[i + 1]!) * ((tpr[i]! + tpr[i + 1]!) / 2);
      return area;
    }
    const p = tp.map((v, i) => v + fp[i]!);
    for (let i = 0; i < n - 1; i++) {
      const dtp = tp[i]! - tp[i + 1]!;
      const dp = p[i]! - p[i + 1]!;
      const slope = ratio(dtp, Math.max(dp, 0));
      const intercept = tp[i + 1]! - slope * p[i + 1]!;
      const pRatio = p[i]! > 0 && p[i + 1]! > 0 ? ratio(p[i]!, Math.max(p[i + 1]!, 0)) : 1;
      area += ratio(slope * (dtp + intercept * Math.log(pRatio)), Math.max(tp[i + 1]! + fn[i + 1]!, 0));
    }
    return area;
  }
}

/** Keras's MeanIoU: per class, intersection over union of the predicted and true labels (class ids), averaged over the classes seen. */
export class MeanIoU extends StatefulMetric {
  constructor(private readonly args: { numClasses: number; name?: string }) {
    super(args.name ?? 'mean_io_u');
    if (!Number.isInteger(args.numClasses) || args.numClasses < 2)
      throw new ConfigError(`keras.metrics.MeanIoU: numClasses must be an integer > 1, got ${String(args.numClasses)}`);
  }
  statistics(yTrue: T.Node, yPred: T.Node): T.Node {
    const c = this.args.numClasses;
    const ids = (x: T.Node) => T.cast(T.reshape(x, [-1]), 'int32');
    // The confusion matrix, rows the true class, columns the predicted one.
    const matrix = T.dot(T.transpose(T.oneHot(ids(yTrue), c, 'float32')), T.oneHot(ids(yPred), c, 'float32'));
    return T.reshape(matrix, [c * c]);
  }
  resultOf(totals: Float64Array): number {
    const c = this.args.numClasses;
    let [sum, seen] = [0, 0];
    for (let k = 0; k < c; k++) {
      let [row, col] = [0, 0];
      for (let j = 0; j < c; j++) ((row += totals[k * c + j]!), (col += totals[j * c + k]!));
      const union = row + col - totals[k * c + k]!;
      if (union > 0) ((sum += totals[k * c + k]! / union), seen++);
    }
    return seen ? sum / seen : 0;
  }
}

/** 1 where the true class is among the k highest predictions (ties count for the true class). */
function inTopK(score: T.Node, yPred: T.Node, k: number): T.Node {
  const higher = T.sum(T.cast(T.gt(yPred, T.expandDims(score, -1)), yPred.dtype), -1);
  return T.cast(T.lt(higher, k), yPred.dtype);
}

const positive = (k: number | undefined, what: string) => {
  const value = k ?? 5;
  if (!Number.isInteger(value) || value < 1)
    throw new ConfigError(`${what}: k must be a positive integer, got ${String(k)}`);
  return value;
};

/** Keras's TopKCategoricalAccuracy for one-hot targets: a mean metric, used like a metric name. */
export function topKCategoricalAccuracy(args: { k?: number } = {}): Loss & { metricName: string } {
  const k = positive(args.k, 'keras.metrics.TopKCategoricalAccuracy');
  const fn: Loss = (t, p) => inTopK(T.sum(T.mul(t, p), -1), p, k);
  return Object.assign(fn, { metricName: 'top_k_categorical_accuracy' });
}

/** Keras's SparseTopKCategoricalAccuracy for class-index targets. */
export function sparseTopKCategoricalAccuracy(args: { k?: number } = {}): Loss & { metricName: string } {
  const k = positive(args.k, 'keras.metrics.SparseTopKCategoricalAccuracy');
  const fn: Loss = (t, p) => {
    const ids = T.cast(T.reshape(t, [-1, 1]), 'int32');
    return inTopK(T.reshape(T.takeAlongAxis(p, ids, -1), [-1]), p, k);
  };
  return Object.assign(fn, { metricName: 'sparse_top_k_categorical_accuracy' });
}

/** Stateful metrics by the names compile takes (`metrics: ['precision', 'auc']`). */
export function statefulMetricByName(name: string): StatefulMetric | undefined {
  switch (name.replace(/[A-Z]/g, (c, i: number) => (i ? `_${c}` : c)).toLowerCase()) {
    case 'precision':
      return new Precision();
    case 'recall':
      return new Recall();
    case 'auc':
    case 'a_u_c':
      return new AUC();
    default:
      return undefined;
  }
}
