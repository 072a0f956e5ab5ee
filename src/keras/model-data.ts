import * as T from '../index.js';
import { floatx } from '../../runtime/config.js';
import { InputError, ShapeError } from '../../runtime/errors.js';

/**
 * A model's inputs (or targets) as fit, evaluate and predict take them, as Keras and TensorFlow.js do:
 * one array for a model with one input, an array of arrays in the model's input order, or arrays by
 * input name.
 */
export type ModelData = T.ArrayValue | readonly T.ArrayValue[] | Readonly<Record<string, T.ArrayValue>>;

/** An array of samples in `dtype` (floatx unless an input says otherwise, as token ids do). */
export function asSamples(v: T.ArrayValue, what: string, dtype: T.DType = floatx()): T.NDArray {
  const a = v instanceof T.NDArray ? v : T.array(v);
  if (a.ndim === 0) throw new ShapeError(`${what}: expected a batch of samples, got a scalar`);
  return a.dtype === dtype ? a : a.astype(dtype);
}

const isByName = (v: ModelData): v is Readonly<Record<string, T.ArrayValue>> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v) && !(v instanceof T.NDArray);

/**
 * `data` as one array per name, in the order of `names` (the model's inputs or outputs). A plain
 * nested array given to a model with one input is that input's data; only an array of NDArrays (or
 * arrays, for a model with several inputs) is read as one entry per input.
 */
export function samplesByName(
  data: ModelData,
  names: readonly string[],
  kind: 'input' | 'output',
  what: string,
  dtypes: readonly T.DType[] = [],
): T.NDArray[] {
  if (isByName(data)) {
    const unknown = Object.keys(data).filter((k) => !names.includes(k));
    if (unknown.length)
      throw new InputError(
        `${what}: the model has no ${kind} named ${unknown.join(', ')} (its ${kind}s: ${names.join(', ')})`,
      );
    return names.map((name) => {
      const value = data[name];
      if (value === undefined) throw new InputError(`${what}: no data for the ${kind} '${name}'`);
      return asSamples(value, `${what}['${name}']`, dtypes[names.indexOf(name)]);
    });
  }
  const list = Array.isArray(data) && (names.length > 1 || (data.length === 1 && data[0] instanceof T.NDArray));
  if (!list) {
    if (names.length > 1)
      throw new InputError(
        `${what}: the model has ${names.length} ${kind}s (${names.join(', ')}); give an array of ${names.length} arrays, or arrays by name`,
      );
    return [asSamples(data as T.ArrayValue, what, dtypes[0])];
  }
  const entries = data as readonly T.ArrayValue[];
  if (entries.length !== names.length)
    throw new InputError(
      `${what}: the model has ${names.length} ${kind}s (${names.join(', ')}), got ${entries.length} arrays`,
    );
  return entries.map((v, i) => asSamples(v, `${what}[${i}] (${names[i]})`, dtypes[i]));
}

/** Rows `indices` of a [samples, ...] array, as a new contiguous array. */
export function takeRows(a: T.NDArray, indices: ArrayLike<number>): T.NDArray {
  const row = a.size / a.shape[0]!;
  const Ctor = a.data.constructor as new (n: number) => typeof a.data;
  const out = new Ctor(indices.length * row);
  for (let i = 0; i < indices.length; i++)
    out.set(a.data.subarray(indices[i]! * row, (indices[i]! + 1) * row), i * row);
  return T.array(out, { shape: [indices.length, ...a.shape.slice(1)] });
}

/** The consecutive indices start, start + 1, ... below end. */
export const range = (start: number, end: number): number[] => Array.from({ length: end - start }, (_, i) => start + i);
