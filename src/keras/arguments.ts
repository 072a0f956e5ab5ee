import * as T from '../index.js';
import { ConfigError, InputError } from '../../runtime/errors.js';
import { firstNonFinite } from '../../runtime/nan-guard.js';
import { checkOptionNames } from '../../runtime/options.js';

/** What one option may be. */
export type OptionRule =
  | { readonly kind: 'integer'; readonly min: number; readonly max?: number }
  | {
      readonly kind: 'number';
      readonly min: number;
      readonly max: number;
      readonly below?: boolean;
      readonly above?: boolean;
    }
  | { readonly kind: 'boolean' }
  | { readonly kind: 'oneOf'; readonly values: readonly unknown[] }
  | { readonly kind: 'list' }
  /** A list of callbacks, or one object of hooks. */
  | { readonly kind: 'callbacks' }
  | { readonly kind: 'pair' }
  /** A plain object of numbers by key (class weights). */
  | { readonly kind: 'record' }
  /** An array of numbers or an NDArray (sample weights). */
  | { readonly kind: 'values' };

const describeRule = (r: OptionRule): string => {
  switch (r.kind) {
    case 'integer':
      return r.max === undefined ? `an integer >= ${r.min}` : `an integer from ${r.min} to ${r.max}`;
    case 'number':
      return `a number ${r.above ? '>' : '>='} ${r.min} and ${r.below ? '<' : '<='} ${r.max}`;
    case 'boolean':
      return 'true or false';
    case 'oneOf':
      return `one of ${r.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'list':
      return 'an array';
    case 'callbacks':
      return 'an array of callbacks or one object of hooks';
    case 'pair':
      return 'a pair [x, y]';
    case 'record':
      return 'an object of numbers by class';
    case 'values':
      return 'an array of numbers or an NDArray';
  }
};

function accepts(r: OptionRule, v: unknown): boolean {
  switch (r.kind) {
    case 'integer':
      return Number.isInteger(v) && (v as number) >= r.min && (r.max === undefined || (v as number) <= r.max);
    case 'number': {
      if (typeof v !== 'number' || Number.isNaN(v)) return false;
      const lowOk = r.above ? v > r.min : v >= r.min;
      const highOk = r.below ? v < r.max : v <= r.max;
      return lowOk && highOk;
    }
    case 'boolean':
      return typeof v === 'boolean';
    case 'oneOf':
      return r.values.includes(v);
    case 'list':
      return Array.isArray(v);
    case 'callbacks':
      return Array.isArray(v) || (typeof v === 'object' && v !== null);
    case 'pair':
      return Array.isArray(v) && v.length === 2;
    case 'record':
      return (
        typeof v === 'object' &&
        v !== null &&
        !Array.isArray(v) &&
        Object.values(v).every((w) => typeof w === 'number' && Number.isFinite(w) && w >= 0)
      );
    case 'values':
      return Array.isArray(v) || v instanceof T.NDArray || ArrayBuffer.isView(v);
  }
}

/**
 * Checks an options object against its rules before any work: unknown keys and impossible values are a
 * ConfigError naming the function, the option, the value and what is allowed. Undefined means "default".
 */
export function checkOptions(
  where: string,
  options: object | undefined,
  rules: Readonly<Record<string, OptionRule>>,
): void {
  if (options === undefined) return;
  checkOptionNames(where, options, Object.keys(rules));
  for (const [key, value] of Object.entries(options)) {
    const rule = rules[key]!;
    if (value !== undefined && !accepts(rule, value)) {
      throw new ConfigError(
        `${where}: ${key} must be ${describeRule(rule)}, got ${typeof value === 'number' || typeof value === 'boolean' ? String(value) : (JSON.stringify(value) ?? typeof value)}`,
      );
    }
  }
}

export const FIT_OPTIONS: Readonly<Record<string, OptionRule>> = {
  epochs: { kind: 'integer', min: 0 },
  batchSize: { kind: 'integer', min: 1 },
  shuffle: { kind: 'boolean' },
  seed: { kind: 'integer', min: 0 },
  validationSplit: { kind: 'number', min: 0, max: 1, below: true },
  validationData: { kind: 'pair' },
  callbacks: { kind: 'callbacks' },
  verbose: { kind: 'oneOf', values: [0, 1, 2] },
  classWeight: { kind: 'record' },
  sampleWeight: { kind: 'values' },
};
export const EVALUATE_OPTIONS: Readonly<Record<string, OptionRule>> = {
  batchSize: FIT_OPTIONS['batchSize']!,
  verbose: FIT_OPTIONS['verbose']!,
};
export const PREDICT_OPTIONS = EVALUATE_OPTIONS;

/** Training data must be finite: a NaN in x or y would make every loss NaN from the first batch on. */
export function checkFinite(a: T.NDArray, what: string): void {
  const i = firstNonFinite(a);
  if (i < 0) return;
  const row = a.shape.length > 0 ? Math.floor(i / (a.size / a.shape[0]!)) : 0;
  throw new InputError(`${what}: sample ${row} holds ${a.data[i]} (element ${i}); training data must be finite`);
}

/** Sparse labels must be class indices: integers in [0, classes). */
export function checkSparseLabels(labels: T.NDArray, classes: number, what: string): void {
  const data = labels.data;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (!Number.isInteger(v) || v < 0 || v >= classes) {
      throw new InputError(
        `${what}: label ${v} of sample ${i} is not a class index of the model's ${classes} classes (integers 0 to ${classes - 1})`,
      );
    }
  }
}
