import { checkedSize } from './limits.js';
import { checkOptionNames } from './options.js';
import {
  allocate,
  allocateForOverwrite,
  coerce,
  dtypeOfTypedArray,
  isDType,
  type DType,
  type TypedArray,
} from './dtype.js';
import { ConfigError, DTypeError, ShapeError } from './errors.js';
import { floatx } from './config.js';
import { Random, nextSeed } from './random.js';

/** Nested JS arrays of numbers or booleans, as users write literals. */
export type NestedArray = number | boolean | readonly NestedArray[];
/** Everything tsano accepts where an array value is expected. */
export type ArrayValue = NDArray | NestedArray | TypedArray;

export const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Row-major strides in elements. */
export function stridesOf(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  return strides;
}

/** A dense, row-major, immutable-by-convention n-dimensional array. */
export class NDArray {
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly data: TypedArray;

  constructor(data: TypedArray, shape: readonly number[], dtype?: DType) {
    const inferred = dtype ?? dtypeOfTypedArray(data);
    if (!inferred) throw new DTypeError('NDArray: unsupported typed array');
    if (dtypeOfTypedArray(data) !== inferred) {
      throw new DTypeError(`NDArray: ${data.constructor.name} cannot hold dtype ${inferred}`);
    }
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new ShapeError(`NDArray: invalid shape [${shape.join(', ')}]`);
    }
    if (sizeOf(shape) !== data.length) {
      throw new ShapeError(
        `NDArray: shape [${shape.join(', ')}] needs ${sizeOf(shape)} elements, data has ${data.length}`,
      );
    }
    this.shape = Object.freeze([...shape]);
    this.dtype = inferred;
    this.data = data;
  }

  get size(): number {
    return this.data.length;
  }
  get ndim(): number {
    return this.shape.length;
  }

  /** Nested JS arrays (booleans for bool arrays); a plain number or boolean for a scalar. */
  toArray(): NestedArray {
    const read = (i: number): number | boolean => (this.dtype === 'bool' ? this.data[i] !== 0 : this.data[i]!);
    const build = (axis: number, offset: number, strides: number[]): NestedArray => {
      if (axis === this.shape.length) return read(offset);
      const out: NestedArray[] = [];
      for (let i = 0; i < this.shape[axis]!; i++) out.push(build(axis + 1, offset + i * strides[axis]!, strides));
      return out;
    };
    return build(0, 0, stridesOf(this.shape));
  }

  /** The value of a one-element array. */
  item(): number {
    if (this.size !== 1)
      throw new ShapeError(`item(): array of shape [${this.shape.join(', ')}] has ${this.size} elements`);
    return this.data[0]!;
  }

  /** A copy converted to `dtype` (float to int truncates toward zero, as NumPy's astype). */
  astype(dtype: DType): NDArray {
    const out = allocate(dtype, this.size);
    for (let i = 0; i < this.size; i++) out[i] = coerce(this.data[i]!, dtype);
    return new NDArray(out, this.shape, dtype);
  }

  /** Same data viewed with another shape of the same size. */
  /** The same elements in another shape; one -1 takes the size the others leave (NumPy, TF.js). */
  reshape(shape: readonly number[]): NDArray {
    const free = shape.filter((d) => d === -1).length;
    const known = shape.filter((d) => d !== -1).reduce((p, d) => p * d, 1);
    const resolved = free === 1 && known > 0 ? shape.map((d) => (d === -1 ? this.size / known : d)) : shape;
    if (free > 1 || resolved.some((d) => !Number.isInteger(d) || d < 0) || sizeOf(resolved) !== this.size)
      throw new ShapeError(
        `reshape: an array of ${this.size} elements [${this.shape.join(', ')}] cannot take the shape [${shape.join(', ')}]`,
      );
    return new NDArray(this.data, resolved, this.dtype);
  }

  clone(): NDArray {
    return new NDArray(copyOf(this.data), this.shape, this.dtype);
  }

  /** The values, flat (TensorFlow.js's dataSync: the typed array itself). */
  dataSync(): TypedArray {
    return this.data;
  }

  /** The values as nested arrays, or the number of a scalar (TensorFlow.js's arraySync). */
  arraySync(): NestedArray | number {
    return this.ndim === 0 ? this.item() : this.toArray();
  }

  /** arraySync as a promise, for code written for TensorFlow.js's array(). */
  async array(): Promise<NestedArray | number> {
    return this.arraySync();
  }

  toString(): string {
    return `NDArray(${this.dtype}, [${this.shape.join(', ')}]) ${JSON.stringify(this.toArray())}`;
  }
}

function nestedShape(value: NestedArray): number[] {
  const shape: number[] = [];
  let v: NestedArray = value;
  while (Array.isArray(v)) {
    shape.push(v.length);
    if (v.length === 0) break;
    v = v[0] as NestedArray;
  }
  return shape;
}

function flattenNested(value: NestedArray, shape: readonly number[], out: number[], axis: number, where: string): void {
  if (axis === shape.length) {
    if (typeof value === 'number') out.push(value);
    else if (typeof value === 'boolean') out.push(value ? 1 : 0);
    else if (Array.isArray(value))
      throw new ShapeError(`${where}: ragged nested array (expected a number at depth ${axis}, found an array)`);
    else
      throw new DTypeError(
        `${where}: arrays hold numbers or booleans, found ${describeValue(value as unknown)} at depth ${axis}`,
      );
    return;
  }
  if (!Array.isArray(value) || value.length !== shape[axis]) {
    throw new ShapeError(`${where}: ragged nested array (expected length ${shape[axis]} at depth ${axis})`);
  }
  for (const item of value as readonly NestedArray[]) flattenNested(item, shape, out, axis + 1, where);
}

/** A short description of a value that is not a number: `the string "abc"`, `an object`, `undefined`. */
function describeValue(v: unknown): string {
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 20 ? `${v.slice(0, 20)}…` : v)}`;
  if (v === null || v === undefined) return String(v);
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

function isBoolNested(value: NestedArray): boolean {
  let v: NestedArray = value;
  while (Array.isArray(v)) {
    if (v.length === 0) return false;
    v = v[0] as NestedArray;
  }
  return typeof v === 'boolean';
}

export interface ArrayOptions {
  dtype?: DType;
  shape?: readonly number[];
}

/**
 * Converts any accepted value into an NDArray. Numbers become floatx unless `dtype` says otherwise;
 * an NDArray of another dtype is converted (callers that must not convert check dtypes first).
 */
export function toNDArray(value: ArrayValue, options: ArrayOptions = {}, where = 'array'): NDArray {
  checkOptionNames(where, options, ['dtype', 'shape']);
  if (options.dtype !== undefined && !isDType(options.dtype)) {
    throw new DTypeError(`${where}: unknown dtype '${String(options.dtype)}' (use float32, float64, int32 or bool)`);
  }
  if (value instanceof NDArray) {
    let out = options.dtype && options.dtype !== value.dtype ? value.astype(options.dtype) : value;
    if (options.shape) out = out.reshape(options.shape);
    return out;
  }
  const typedDType = dtypeOfTypedArray(value);
  if (typedDType) {
    const typed = value as TypedArray;
    const shape = options.shape ?? [typed.length];
    const arr = new NDArray(typed, shape, typedDType);
    return options.dtype && options.dtype !== typedDType ? arr.astype(options.dtype) : arr;
  }
  if (ArrayBuffer.isView(value)) throw new DTypeError(`${where}: unsupported typed array ${value.constructor.name}`);
  const nested = value as NestedArray;
  const shape = nestedShape(nested);
  const flat: number[] = [];
  flattenNested(nested, shape, flat, 0, where);
  const dtype = options.dtype ?? (isBoolNested(nested) ? 'bool' : floatx());
  const data = allocate(dtype, flat.length);
  for (let i = 0; i < flat.length; i++) data[i] = coerce(flat[i]!, dtype);
  return new NDArray(data, options.shape ?? shape, dtype);
}

/** An array filled with one value. */
export function full(shape: readonly number[], value: number, dtype: DType = floatx(), where = 'full'): NDArray {
  if (!isDType(dtype))
    throw new DTypeError(`${where}: unknown dtype '${String(dtype)}' (use float32, float64, int32 or bool)`);
  const data = allocate(dtype, checkedSize(shape, dtype, where));
  data.fill(coerce(value, dtype));
  return new NDArray(data, shape, dtype);
}

export interface RandomOptions {
  seed?: number;
  dtype?: DType;
}

/** Rejects unknown option names and values that are not finite numbers (or integers, for `integers`) before any work. */
function checkNumericOptions(
  where: string,
  options: object,
  known: readonly string[],
  integers: readonly string[] = [],
): void {
  checkOptionNames(where, options, known);
  for (const [key, value] of Object.entries(options)) {
    if (key === 'dtype' || value === undefined) continue;
    const ok = integers.includes(key)
      ? Number.isSafeInteger(value)
      : typeof value === 'number' && Number.isFinite(value);
    if (!ok)
      throw new ConfigError(
        `${where}: ${key} must be ${integers.includes(key) ? 'an integer' : 'a finite number'}, got ${JSON.stringify(value) ?? String(value)}`,
      );
  }
}

function randomArray(
  shape: readonly number[],
  options: RandomOptions,
  where: string,
  draw: (r: Random) => number,
): NDArray {
  const dtype = options.dtype ?? floatx();
  if (!isDType(dtype))
    throw new DTypeError(`${where}: unknown dtype '${String(dtype)}' (use float32, float64, int32 or bool)`);
  const data = allocate(dtype, checkedSize(shape, dtype, where));
  const rng = new Random(options.seed ?? nextSeed());
  for (let i = 0; i < data.length; i++) data[i] = coerce(draw(rng), dtype);
  return new NDArray(data, shape, dtype);
}

/** Normal samples with the given mean and standard deviation. */
export function randomNormal(
  shape: readonly number[],
  options: RandomOptions & { mean?: number; stddev?: number } = {},
): NDArray {
  checkNumericOptions('randomNormal', options, ['seed', 'dtype', 'mean', 'stddev'], ['seed']);
  const { mean = 0, stddev = 1 } = options;
  if (stddev < 0) throw new ConfigError(`randomNormal: stddev must be >= 0, got ${stddev}`);
  return randomArray(shape, options, 'randomNormal', (r) => mean + stddev * r.normal());
}

/** Uniform samples in [minval, maxval). */
export function randomUniform(
  shape: readonly number[],
  options: RandomOptions & { minval?: number; maxval?: number } = {},
): NDArray {
  checkNumericOptions('randomUniform', options, ['seed', 'dtype', 'minval', 'maxval'], ['seed']);
  const { minval = 0, maxval = 1 } = options;
  if (!(minval <= maxval)) throw new ConfigError(`randomUniform: minval ${minval} is above maxval ${maxval}`);
  return randomArray(shape, options, 'randomUniform', (r) => minval + (maxval - minval) * r.uniform());
}

/**
 * A copy of typed data in a new (unshared) buffer. Not `slice()`: on a view of a SharedArrayBuffer
 * (wasm memory shared with worker threads) V8 copies element by element, ~7x slower than `set`.
 */
export function copyOf<T extends TypedArray>(data: T): T {
  const copy = allocateForOverwrite(dtypeOfTypedArray(data)!, data.length) as T;
  copy.set(data as never);
  return copy;
}
