/** What `model.compile` takes, checked and turned into each output's objective (loss, weight, metrics). */
import { ConfigError } from '../../runtime/errors.js';
import { lossByName, metricByName, type Loss } from './losses.js';
import { optimizerByName, type Optimizer } from './optimizers.js';
import { StatefulMetric, statefulMetricByName } from './metrics.js';

/** A loss as compile takes it: a Keras name, a name with options, or a function of (targets, predictions). */
export type LossSpec = string | { name: string; fromLogits?: boolean } | Loss;
/** A metric: a Keras name, a metric object (keras.metrics.precision(), ...), or a mean metric function. */
export type MetricSpec = string | StatefulMetric | (Loss & { metricName: string });
/** Metrics: for every output, one list per output, or lists by output name. */
export type MetricsSpec =
  | readonly MetricSpec[]
  | readonly (readonly MetricSpec[])[]
  | Readonly<Record<string, MetricSpec | readonly MetricSpec[]>>;

export interface CompileArgs {
  optimizer: string | Optimizer;
  /** One loss for every output, one per output, or losses by output name. */
  loss: LossSpec | readonly LossSpec[] | Readonly<Record<string, LossSpec>>;
  metrics?: MetricsSpec;
  /** How much each output's loss counts in the total (Keras's loss_weights); 1 each when left out. */
  lossWeights?: readonly number[] | Readonly<Record<string, number>>;
}

const snakeCase = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** What one output contributes to training: its loss, that loss's weight in the total, and its metrics. */
export interface OutputObjective {
  readonly name: string;
  readonly loss: Loss;
  /** Targets are class indices (sparse categorical crossentropy): one per sample. */
  readonly sparse: boolean;
  readonly weight: number;
  /** A mean of per-sample values (`fn`), or statistics summed over batches (`stateful`). */
  readonly metrics: readonly (
    { readonly name: string; readonly fn: Loss } | { readonly name: string; readonly stateful: StatefulMetric }
  )[];
}

const isRecordOf = (v: unknown, names: readonly string[]): v is Readonly<Record<string, unknown>> =>
  typeof v === 'object' &&
  v !== null &&
  !Array.isArray(v) &&
  Object.keys(v).length > 0 &&
  Object.keys(v).every((k) => names.includes(k));

/** A compile argument given once for all outputs, as a list in output order, or by output name: one value per output. */
function perOutput<V>(
  value: V | readonly V[] | Readonly<Record<string, V>>,
  names: readonly string[],
  what: string,
): V[] {
  if (Array.isArray(value)) {
    if (value.length !== names.length)
      throw new ConfigError(
        `compile: ${what} has ${value.length} entries for ${names.length} outputs (${names.join(', ')})`,
      );
    return [...(value as readonly V[])];
  }
  if (isRecordOf(value, names)) {
    return names.map((name) => {
      if (!(name in value))
        throw new ConfigError(`compile: ${what} has no entry for the output '${name}' (outputs: ${names.join(', ')})`);
      return (value as Readonly<Record<string, V>>)[name]!;
    });
  }
  if (typeof value === 'object' && value !== null && names.length > 1 && !('name' in value))
    throw new ConfigError(
      `compile: ${what} names ${Object.keys(value).join(', ')}, not outputs of the model (outputs: ${names.join(', ')})`,
    );
  return names.map(() => value as V);
}

/** Metrics for each output: a flat list applies to every output, as in Keras. */
function metricsPerOutput(metrics: MetricsSpec | undefined, names: readonly string[]): (readonly MetricSpec[])[] {
  if (metrics === undefined) return names.map(() => []);
  if (Array.isArray(metrics)) {
    if (metrics.every((m) => !Array.isArray(m))) return names.map(() => metrics as readonly MetricSpec[]);
    return perOutput(metrics as readonly (readonly MetricSpec[])[], names, 'metrics');
  }
  return perOutput(metrics as Readonly<Record<string, MetricSpec | readonly MetricSpec[]>>, names, 'metrics').map(
    (m) => (Array.isArray(m) ? (m as readonly MetricSpec[]) : [m as MetricSpec]),
  );
}

/** One metric of one output, resolved: a stateful metric, or a mean of a per-sample function. */
function resolveMetric(m: MetricSpec, lossName: string): OutputObjective['metrics'][number] {
  if (m instanceof StatefulMetric) return { name: m.name, stateful: m };
  if (typeof m === 'function') return { name: m.metricName, fn: m };
  const stateful = statefulMetricByName(m);
  return stateful ? { name: m, stateful } : { name: m, fn: metricByName(m, lossName) };
}

/** The optimizer and each output's objective from compile's arguments, for outputs `names`. */
export function compiledObjectives(
  args: CompileArgs,
  names: readonly string[],
): { optimizer: Optimizer; outputs: readonly OutputObjective[] } {
  const optimizer = typeof args.optimizer === 'string' ? optimizerByName(args.optimizer) : args.optimizer;
  const losses = perOutput<LossSpec>(args.loss, names, 'loss');
  const weights =
    args.lossWeights === undefined ? names.map(() => 1) : perOutput(args.lossWeights, names, 'lossWeights');
  weights.forEach((w, i) => {
    if (typeof w !== 'number' || !Number.isFinite(w))
      throw new ConfigError(`compile: lossWeights for '${names[i]}' must be a finite number, got ${String(w)}`);
  });
  const metrics = metricsPerOutput(args.metrics, names);
  const outputs = names.map((name, i): OutputObjective => {
    const spec = losses[i]!;
    const lossName = typeof spec === 'string' ? spec : typeof spec === 'function' ? '' : spec.name;
    const loss = typeof spec === 'function' ? spec : lossByName(lossName, typeof spec === 'string' ? {} : spec);
    return {
      name,
      loss,
      sparse: snakeCase(lossName) === 'sparse_categorical_crossentropy',
      weight: weights[i]!,
      metrics: metrics[i]!.map((m) => resolveMetric(m, lossName)),
    };
  });
  return { optimizer, outputs };
}
