/**
 * TF.js's `tf.data`: lazily evaluated, asynchronously iterated datasets (`array`, `generator`, `csv`)
 * with `batch shuffle map filter take skip repeat prefetch`, and the models' `fitDataset` and
 * `evaluateDataset` over datasets of `{ xs, ys }` batches.
 */
import { readFile } from 'node:fs/promises';
import * as T from '../index.js';
import { ConfigError } from '../../runtime/errors.js';
import { Random } from '../../runtime/random.js';
import { History, type AnyLayersModel, type Callback } from './model.js';

type Source<E> = () => AsyncIterator<E> | Iterator<E>;

/** A dataset: a recipe for an iteration over its elements, run anew by each `iterator()`. */
export class Dataset<E> {
  constructor(private readonly source: Source<E>) {}

  /** A fresh iteration over the elements. */
  async *iterator(): AsyncGenerator<E> {
    const it = this.source();
    for (;;) {
      const next = await it.next();
      if (next.done) return;
      yield next.value;
    }
  }

  /** Each element through `f`. */
  map<F>(f: (e: E) => F | Promise<F>): Dataset<F> {
    const self = this;
    return new Dataset(async function* () {
      for await (const e of self.iterator()) yield await f(e);
    });
  }

  /** The elements `keep` says yes to. */
  filter(keep: (e: E) => boolean | Promise<boolean>): Dataset<E> {
    const self = this;
    return new Dataset(async function* () {
      for await (const e of self.iterator()) if (await keep(e)) yield e;
    });
  }

  /** The first `count` elements. */
  take(count: number): Dataset<E> {
    const self = this;
    return new Dataset(async function* () {
      if (count <= 0) return;
      let n = 0;
      for await (const e of self.iterator()) {
        yield e;
        if (++n >= count) return;
      }
    });
  }

  /** All but the first `count` elements. */
  skip(count: number): Dataset<E> {
    const self = this;
    return new Dataset(async function* () {
      let n = 0;
      for await (const e of self.iterator()) if (n++ >= count) yield e;
    });
  }

  /** The elements `count` times over (for ever without a count). */
  repeat(count?: number): Dataset<E> {
    const self = this;
    return new Dataset(async function* () {
      for (let round = 0; count === undefined || round < count; round++) {
        let any = false;
        for await (const e of self.iterator()) {
          any = true;
          yield e;
        }
        if (!any) return;
      }
    });
  }

  /** Elements drawn at random from a buffer of `bufferSize` (TF.js's shuffle); a seed makes the order reproducible. */
  shuffle(bufferSize: number, seed?: string | number): Dataset<E> {
    if (!Number.isInteger(bufferSize) || bufferSize < 1)
      throw new ConfigError(`shuffle: bufferSize must be a positive integer, got ${bufferSize}`);
    const self = this;
    let epoch = 0;
    return new Dataset(async function* () {
      const random = new Random(seedOf(seed) + epoch++);
      const buffer: E[] = [];
      const draw = () => {
        const i = Math.floor(random.uniform() * buffer.length);
        const e = buffer[i]!;
        buffer[i] = buffer[buffer.length - 1]!;
        buffer.pop();
        return e;
      };
      for await (const e of self.iterator()) {
        buffer.push(e);
        if (buffer.length >= bufferSize) yield draw();
      }
      while (buffer.length) yield draw();
    });
  }

  /** Runs of `batchSize` elements stacked into tensors (numbers, arrays, tensors, or objects of them); the last run may be shorter. */
  batch(batchSize: number, smallLastBatch = true): Dataset<Batched<E>> {
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new ConfigError(`batch: batchSize must be a positive integer, got ${batchSize}`);
    const self = this;
    return new Dataset(async function* () {
      let run: E[] = [];
      for await (const e of self.iterator()) {
        run.push(e);
        if (run.length === batchSize) {
          yield stackElements(run) as Batched<E>;
          run = [];
        }
      }
      if (run.length && smallLastBatch) yield stackElements(run) as Batched<E>;
    });
  }

  /** Elements computed ahead (the iteration here is already lazy: a no-op kept for TF.js's spelling). */
  prefetch(_bufferSize: number): Dataset<E> {
    return this;
  }

  async forEachAsync(f: (e: E) => void | Promise<void>): Promise<void> {
    for await (const e of this.iterator()) await f(e);
  }

  async toArray(): Promise<E[]> {
    const out: E[] = [];
    for await (const e of this.iterator()) out.push(e);
    return out;
  }
}

/** What batching makes of an element type: tensors in place of numbers and arrays, recursively for objects. */
export type Batched<E> = E extends number | T.NDArray | readonly unknown[]
  ? T.NDArray
  : E extends object
    ? { [K in keyof E]: Batched<E[K]> }
    : T.NDArray;

const seedOf = (seed: string | number | undefined): number =>
  seed === undefined
    ? 0
    : typeof seed === 'number'
      ? seed
      : [...seed].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7);

/** A run of elements stacked along a new first axis (objects field by field). */
function stackElements(run: readonly unknown[]): unknown {
  const first = run[0];
  if (first instanceof T.NDArray) {
    const shape = [run.length, ...first.shape];
    const data = new Float64Array(run.length * first.size);
    run.forEach((e, i) => data.set((e as T.NDArray).data, i * first.size));
    return T.array(data, { shape, dtype: first.dtype });
  }
  if (typeof first === 'number' || Array.isArray(first)) return T.array(run as T.ArrayValue);
  if (first && typeof first === 'object')
    return Object.fromEntries(
      Object.keys(first).map((k) => [k, stackElements(run.map((e) => (e as Record<string, unknown>)[k]))]),
    );
  throw new ConfigError(`batch: cannot stack elements of type ${typeof first}`);
}

/** tf.data.array(items). */
export const array = <E>(items: readonly E[]): Dataset<E> => new Dataset(() => items[Symbol.iterator]());

/** tf.data.generator(fn): each iteration calls fn for a fresh (sync or async) iterator. */
export const generator = <E>(fn: () => Iterator<E> | AsyncIterator<E>): Dataset<E> => new Dataset(fn);

export interface CsvConfig {
  /** The first line names the columns (default true). */
  hasHeader?: boolean;
  /** Column names, where the file has no header. */
  columnNames?: readonly string[];
  /** Per column: `isLabel` puts it in `ys` (the element becomes `{ xs, ys }`). */
  columnConfigs?: Readonly<Record<string, { isLabel?: boolean }>>;
  delimiter?: string;
}

/**
 * tf.data.csv(path): a local CSV file's rows as objects of numbers (or strings where a value is not a
 * number), `{ xs, ys }` when a column is a label. Quoted fields may hold the delimiter.
 */
export function csv(
  path: string,
  config: CsvConfig = {},
): Dataset<
  Record<string, number | string> | { xs: Record<string, number | string>; ys: Record<string, number | string> }
> {
  const { hasHeader = true, delimiter = ',' } = config;
  return new Dataset(async function* () {
    const text = await readFile(path.startsWith('file://') ? new URL(path) : path, 'utf8');
    const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
    const names = hasHeader ? splitLine(lines[0] ?? '', delimiter) : (config.columnNames ?? []);
    if (!names.length) throw new ConfigError(`csv(${path}): no column names (give hasHeader or columnNames)`);
    const labels = Object.entries(config.columnConfigs ?? {}).flatMap(([k, c]) => (c.isLabel ? [k] : []));
    for (const line of lines.slice(hasHeader ? 1 : 0)) {
      const fields = splitLine(line, delimiter);
      if (fields.length !== names.length)
        throw new ConfigError(`csv(${path}): a row has ${fields.length} fields for ${names.length} columns: ${line}`);
      const row = Object.fromEntries(names.map((n, i) => [n, valueOf(fields[i]!)]));
      if (!labels.length) yield row;
      else
        yield {
          xs: Object.fromEntries(Object.entries(row).filter(([k]) => !labels.includes(k))),
          ys: Object.fromEntries(labels.map((k) => [k, row[k]!])),
        };
    }
  });
}
const valueOf = (field: string): number | string =>
  field.trim() !== '' && Number.isFinite(Number(field)) ? Number(field) : field;
function splitLine(line: string, delimiter: string): string[] {
  const out: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') ((field += '"'), i++);
      else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === delimiter) (out.push(field), (field = ''));
    else field += ch;
  }
  out.push(field);
  return out;
}

/** A batch as fitDataset reads it: `{ xs, ys }` of tensors, or arrays of tensors for several inputs or outputs. */
interface XY {
  xs: T.NDArray | T.NDArray[];
  ys: T.NDArray | T.NDArray[];
}

export interface FitDatasetArgs {
  epochs?: number;
  /** Batches per epoch; without it an epoch is one pass over the dataset. */
  batchesPerEpoch?: number;
  validationData?: Dataset<XY>;
  callbacks?: readonly Callback[] | Callback;
  verbose?: 0 | 1;
}

/** model.fitDataset(dataset, args): trainOnBatch over each batch, the epoch's mean of each loss and metric in the History. */
export async function fitDataset(
  model: AnyLayersModel,
  dataset: Dataset<XY>,
  args: FitDatasetArgs = {},
): Promise<History> {
  const { epochs = 1, batchesPerEpoch } = args;
  const callbacks =
    args.callbacks === undefined ? [] : Array.isArray(args.callbacks) ? args.callbacks : [args.callbacks as Callback];
  const history = new History();
  for (const cb of callbacks) cb.setModel?.(model as never);
  for (const cb of callbacks) await cb.onTrainBegin?.({});
  let iterator = dataset.iterator();
  for (let epoch = 0; epoch < epochs; epoch++) {
    const sums = new Map<string, number>();
    let batches = 0;
    for (;;) {
      if (batchesPerEpoch !== undefined && batches >= batchesPerEpoch) break;
      let next = await iterator.next();
      if (next.done) {
        // An epoch without a count is one pass; with one, a finished dataset starts over.
        iterator = dataset.iterator();
        if (batchesPerEpoch === undefined) break;
        next = await iterator.next();
        if (next.done) break;
      }
      const { xs, ys } = next.value;
      const values = await model.trainOnBatch(xs, ys);
      const logs = logsOf(model, values);
      for (const [k, v] of Object.entries(logs)) sums.set(k, (sums.get(k) ?? 0) + v);
      for (const cb of callbacks) await cb.onBatchEnd?.(batches, logs);
      batches++;
    }
    const epochLogs = Object.fromEntries([...sums].map(([k, v]) => [k, v / Math.max(1, batches)]));
    if (args.validationData) {
      const validation = await evaluateDataset(model, args.validationData);
      Object.entries(logsOf(model, validation)).forEach(([k, v]) => (epochLogs[`val_${k}`] = v));
    }
    history.record(epoch, epochLogs);
    for (const cb of callbacks) await cb.onEpochEnd?.(epoch, epochLogs);
    if (model.stopTraining || callbacks.some((cb) => (cb as { stopTraining?: boolean }).stopTraining)) break;
  }
  for (const cb of callbacks) await cb.onTrainEnd?.(history.history);
  return history;
}

/** model.evaluateDataset(dataset): the loss (and metrics) averaged over the dataset's batches, weighted by batch size. */
export async function evaluateDataset(model: AnyLayersModel, dataset: Dataset<XY>): Promise<number | number[]> {
  let total: number[] | undefined;
  let samples = 0;
  for await (const { xs, ys } of dataset.iterator()) {
    const size = (Array.isArray(xs) ? xs[0]! : xs).shape[0] ?? 1;
    const values = [model.testOnBatch(xs, ys)].flat();
    total = total ? total.map((t, i) => t + values[i]! * size) : values.map((v) => v * size);
    samples += size;
  }
  if (!total) throw new ConfigError('evaluateDataset: the dataset has no batches');
  const means = total.map((t) => t / samples);
  return means.length === 1 ? means[0]! : means;
}

const logsOf = (model: AnyLayersModel, values: number | number[]): Record<string, number> =>
  Object.fromEntries([values].flat().map((v, i) => [model.metricsNames[i] ?? `output_${i}`, v]));
