/** Keras's training callbacks, with Keras's defaults and rules. */
import { appendFileSync, existsSync, statSync, writeFileSync } from 'node:fs';
import { ConfigError } from '../../runtime/errors.js';
import { Callback, type AnyLayersModel } from './model.js';

type Mode = 'min' | 'max' | 'auto';

/** Keras's "auto": accuracy-like values improve upwards, everything else downwards. */
const direction = (mode: Mode, monitor: string): 'min' | 'max' =>
  mode === 'auto' ? (/acc|auc|precision|recall/.test(monitor) ? 'max' : 'min') : mode;

/** Whether `current` improves on `best` by more than `minDelta` in the monitored direction. */
const improves = (current: number, best: number, minDelta: number, toward: 'min' | 'max') =>
  toward === 'min' ? current < best - minDelta : current > best + minDelta;

function optimizerOf(model: AnyLayersModel | undefined, who: string) {
  const optimizer = model?.optimizer;
  if (!optimizer) throw new ConfigError(`${who}: the model has no optimizer (compile it before fit)`);
  return optimizer;
}

/** Lowers the learning rate by `factor` when the monitored value has not improved for `patience` epochs. */
export class ReduceLROnPlateau extends Callback {
  private best: number;
  private wait = 0;
  private cooldownLeft = 0;
  private readonly toward: 'min' | 'max';
  private readonly config: Required<Omit<ReduceLROnPlateauArgs, 'mode'>>;

  constructor(args: ReduceLROnPlateauArgs = {}) {
    super();
    this.config = {
      monitor: args.monitor ?? 'val_loss',
      factor: args.factor ?? 0.1,
      patience: args.patience ?? 10,
      minDelta: args.minDelta ?? 1e-4,
      cooldown: args.cooldown ?? 0,
      minLr: args.minLr ?? 0,
      verbose: args.verbose ?? 0,
    };
    if (!(this.config.factor > 0 && this.config.factor < 1))
      throw new ConfigError(`reduceLROnPlateau: factor must be in (0, 1), got ${this.config.factor}`);
    this.toward = direction(args.mode ?? 'auto', this.config.monitor);
    this.best = this.toward === 'min' ? Infinity : -Infinity;
  }

  override onEpochEnd(epoch: number, logs: Record<string, number>): void {
    const current = logs[this.config.monitor];
    if (current === undefined) return;
    const optimizer = optimizerOf(this.model, 'reduceLROnPlateau');
    if (this.cooldownLeft > 0) (this.cooldownLeft--, (this.wait = 0));
    if (improves(current, this.best, this.config.minDelta, this.toward)) {
      this.best = current;
      this.wait = 0;
    } else if (this.cooldownLeft === 0 && ++this.wait >= this.config.patience) {
      const old = optimizer.learningRate;
      // Keras compares with the float32 minimum rate.
      if (old > Math.fround(this.config.minLr)) {
        optimizer.learningRate = Math.max(old * this.config.factor, this.config.minLr);
        if (this.config.verbose)
          console.log(`Epoch ${epoch + 1}: ReduceLROnPlateau reducing learning rate to ${optimizer.learningRate}.`);
        this.cooldownLeft = this.config.cooldown;
        this.wait = 0;
      }
    }
  }
}

export interface ReduceLROnPlateauArgs {
  monitor?: string;
  factor?: number;
  patience?: number;
  minDelta?: number;
  cooldown?: number;
  minLr?: number;
  mode?: Mode;
  verbose?: 0 | 1;
}

/** Sets the learning rate at the start of each epoch from `schedule(epoch, current rate)`. */
export class LearningRateScheduler extends Callback {
  constructor(
    private readonly schedule: (epoch: number, learningRate: number) => number,
    private readonly verbose: 0 | 1 = 0,
  ) {
    super();
    if (typeof schedule !== 'function')
      throw new ConfigError('learningRateScheduler: expected a function (epoch, lr) => lr');
  }
  override onEpochBegin(epoch: number): void {
    const optimizer = optimizerOf(this.model, 'learningRateScheduler');
    const next = this.schedule(epoch, optimizer.learningRate);
    if (typeof next !== 'number' || !Number.isFinite(next))
      throw new ConfigError(
        `learningRateScheduler: the schedule returned ${String(next)} for epoch ${epoch}, not a number`,
      );
    optimizer.learningRate = next;
    if (this.verbose) console.log(`Epoch ${epoch + 1}: LearningRateScheduler setting learning rate to ${next}.`);
  }
}

/**
 * Saves the model after each epoch (or only when the monitored value improves) to `filepath`, in
 * which `{epoch}` and the names of logs are replaced as Keras formats them (`model-{epoch:02d}`).
 */
export class ModelCheckpoint extends Callback {
  private best: number;
  private readonly toward: 'min' | 'max';
  readonly saved: string[] = [];

  constructor(private readonly args: { filepath: string; monitor?: string; saveBestOnly?: boolean; mode?: Mode }) {
    super();
    if (typeof args?.filepath !== 'string' || args.filepath === '')
      throw new ConfigError('modelCheckpoint: filepath is required');
    this.toward = direction(args.mode ?? 'auto', args.monitor ?? 'val_loss');
    this.best = this.toward === 'min' ? Infinity : -Infinity;
  }
  override async onEpochEnd(epoch: number, logs: Record<string, number>): Promise<void> {
    if (this.args.saveBestOnly) {
      const current = logs[this.args.monitor ?? 'val_loss'];
      if (current === undefined || !improves(current, this.best, 0, this.toward)) return;
      this.best = current;
    }
    const path = this.args.filepath.replace(/\{(\w+)(?::0?(\d+)d)?\}/g, (whole, key: string, width?: string) => {
      const value = key === 'epoch' ? epoch + 1 : logs[key];
      if (value === undefined) return whole;
      return width ? String(value).padStart(Number(width), '0') : String(value);
    });
    if (!this.model) throw new ConfigError('modelCheckpoint: no model to save');
    await this.model.save(path);
    this.saved.push(path);
  }
}

/** Appends each epoch's logs to a CSV file: a header `epoch,<names in order>`, then one row per epoch. */
export class CSVLogger extends Callback {
  private keys: string[] | undefined;
  constructor(
    private readonly filename: string,
    private readonly options: { separator?: string; append?: boolean } = {},
  ) {
    super();
    if (typeof filename !== 'string' || filename === '') throw new ConfigError('csvLogger: a file name is required');
  }
  private headerWritten = false;
  override onTrainBegin(): void {
    // Appending to a file that already has rows keeps its header (as Keras does).
    this.headerWritten = this.options.append === true && existsSync(this.filename) && statSync(this.filename).size > 0;
    if (!this.options.append) writeFileSync(this.filename, '');
    this.keys = undefined;
  }
  override onEpochEnd(epoch: number, logs: Record<string, number>): void {
    const sep = this.options.separator ?? ',';
    this.keys ??= Object.keys(logs).sort();
    const header = this.headerWritten ? '' : ['epoch', ...this.keys].join(sep) + '\n';
    this.headerWritten = true;
    appendFileSync(this.filename, header + [epoch, ...this.keys.map((k) => logs[k] ?? '')].join(sep) + '\n');
  }
}

/** Stops fit when a monitored value stops improving. */
export class EarlyStopping extends Callback {
  override stopTraining = false;
  private best: number;
  private wait = 0;
  private readonly monitor: string;
  /** Without a mode, values named like accuracy improve upwards, the rest downwards. */
  private readonly toward: 'min' | 'max';
  constructor(
    private readonly args: { monitor?: string; patience?: number; minDelta?: number; mode?: 'min' | 'max' } = {},
  ) {
    super();
    this.monitor = args.monitor ?? 'val_loss';
    this.toward = args.mode ?? (this.monitor.includes('acc') ? 'max' : 'min');
    this.best = this.toward === 'max' ? -Infinity : Infinity;
  }
  override onEpochEnd(_epoch: number, logs: Record<string, number>): void {
    const raw = logs[this.monitor] ?? logs['loss'];
    if (raw === undefined) return;
    if (improves(raw, this.best, this.args.minDelta ?? 0, this.toward)) {
      this.best = raw;
      this.wait = 0;
    } else if (++this.wait > (this.args.patience ?? 0)) {
      this.stopTraining = true;
    }
  }
}

/** Stops fit at the first batch whose loss is NaN or infinite (Keras's TerminateOnNaN). */
export class TerminateOnNaN extends Callback {
  override stopTraining = false;
  override onBatchEnd(batch: number, logs: Record<string, number>): void {
    const loss = logs['loss'];
    if (loss !== undefined && !Number.isFinite(loss)) {
      console.log(`Batch ${batch}: Invalid loss, terminating training`);
      this.stopTraining = true;
    }
  }
}
