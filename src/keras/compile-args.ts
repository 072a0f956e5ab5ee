/** What `model.compile` takes, checked and turned into each output's objective (loss, weight, metrics). */
import { ConfigError } from '../../runtime/errors.js';
import { lossByName, metricByName, type Loss } from './losses.js';
import { optimizerByName, type Optimizer } from './optimizers.js';

/** A loss as compile takes it: a Keras name, a name with options, or a function of (targets, predictions). */
export type LossSpec = string | { name: string; fromLogits?: boolean } | Loss;
/** Metric names: for every output, one list per output, or lists by output name. */
export type MetricsSpec =
  readonly string[] | readonly (readonly string[])[] | Readonly<Record<string, string | readonly string[]>>;

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
  readonly metrics: readonly { readonly name: string; readonly fn: Loss }[];
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

/** Metric names for each output: a flat list applies to every output, as in Keras. */
function metricsPerOutput(metrics: MetricsSpec | undefined, names: readonly string[]): (readonly string[])[] {
  if (metrics === undefined) return names.map(() => []);
  if (Array.isArray(metrics)) {
    if (metrics.every((m) => typeof m === 'string')) return names.map(() => metrics as readonly string[]);
    return perOutput(metrics as readonly (readonly string[])[], names, 'metrics');
  }
  return perOutput(metrics as Readonly<Record<string, string | readonly string[]>>, names, 'metrics').map((m) =>
    typeof m === 'string' ? [m] : m,
  );
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
      metrics: metrics[i]!.map((m) => ({ name: m, fn: metricByName(m, lossName) })),
    };
  });
  return { optimizer, outputs };
}
