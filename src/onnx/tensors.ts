/**
 * ONNX tensors and types in tsano's terms: TensorProto ↔ NDArray (inline, raw little-endian or
 * external data), element types ↔ dtypes. int64 becomes int32 with a range check, the narrow
 * integer types widen to int32, float16 widens to float32.
 */
import { readFileSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import type { DType } from '../../runtime/dtype.js';
import { NDArray, sizeOf } from '../../runtime/ndarray.js';
import { ONNX_DTYPE, OnnxError, type TensorProto, type TypeProto } from './schema.js';

const NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(ONNX_DTYPE).map(([name, code]) => [code, name.toLowerCase()]),
);
/** ONNX's name of an element type code, e.g. 'int64' (for messages). */
export const onnxTypeName = (code: number): string => NAMES[code] ?? `element type ${code}`;

/** The dtype an ONNX element type is read as, or undefined when tsano has none for it. */
export function dtypeOfOnnx(code: number): DType | undefined {
  switch (code) {
    case ONNX_DTYPE.FLOAT:
    case ONNX_DTYPE.FLOAT16:
      return 'float32';
    case ONNX_DTYPE.DOUBLE:
      return 'float64';
    case ONNX_DTYPE.INT64:
    case ONNX_DTYPE.INT32:
    case ONNX_DTYPE.INT16:
    case ONNX_DTYPE.UINT16:
    case ONNX_DTYPE.INT8:
    case ONNX_DTYPE.UINT8:
      return 'int32';
    case ONNX_DTYPE.BOOL:
      return 'bool';
    default:
      return undefined;
  }
}

/** The ONNX element type tsano writes for a dtype (int32 as INT32: ONNX Runtime takes it everywhere tsano uses it). */
export const ONNX_OF_DTYPE: Readonly<Record<DType, number>> = {
  float32: ONNX_DTYPE.FLOAT,
  float64: ONNX_DTYPE.DOUBLE,
  int32: ONNX_DTYPE.INT32,
  bool: ONNX_DTYPE.BOOL,
};

/** A symbolic or fixed dimension of an ONNX value: null where the file names a parameter or leaves it out. */
export interface OnnxDim {
  readonly size: number | null;
  readonly param?: string;
}

/** The element type and dims of a graph input or output, as its ValueInfoProto declares them. */
export function tensorTypeOf(type: TypeProto | null | undefined, what: string): { elem: number; dims: OnnxDim[] } {
  const tensor = type?.tensor_type;
  if (!tensor)
    throw new OnnxError(`${what}: only tensor inputs and outputs are supported (got ${type?.value ?? 'no type'})`);
  const dims = (tensor.shape?.dim ?? []).map((d): OnnxDim => {
    if (d.value === 'dim_value') {
      if (!Number.isSafeInteger(d.dim_value) || d.dim_value! < 0)
        throw new OnnxError(`${what}: field 'dim_value' is ${d.dim_value}, not a size`);
      return { size: d.dim_value! };
    }
    return d.value === 'dim_param' ? { size: null, param: d.dim_param! } : { size: null };
  });
  return { elem: tensor.elem_type, dims };
}

/** Where external data is read from: the model's folder, unless given. */
export interface ExternalDataSource {
  readonly dir?: string;
  /** Bytes of the external files by location, for models given as bytes. */
  readonly files?: Readonly<Record<string, Uint8Array>>;
}

const MAX_ELEMENTS = 2 ** 31 - 1;

function checkedDims(t: TensorProto, what: string): number[] {
  for (const d of t.dims)
    if (!Number.isSafeInteger(d) || d < 0 || d > MAX_ELEMENTS)
      throw new OnnxError(`${what}: field 'dims' holds ${d}, not a size`);
  const size = sizeOf(t.dims);
  if (size > MAX_ELEMENTS) throw new OnnxError(`${what}: field 'dims' [${t.dims.join(', ')}] is too large`);
  return t.dims;
}

function externalBytes(t: TensorProto, source: ExternalDataSource, what: string): Uint8Array {
  const entry = (key: string) => t.external_data.find((e) => e.key === key)?.value;
  const location = entry('location');
  if (!location) throw new OnnxError(`${what}: external data without a 'location'`);
  const offset = Number(entry('offset') ?? 0);
  const length = entry('length') === undefined ? undefined : Number(entry('length'));
  let file: Uint8Array;
  if (source.files && Object.hasOwn(source.files, location)) file = source.files[location]!;
  else {
    if (source.dir === undefined)
      throw new OnnxError(
        `${what}: its data is in '${location}'; a model given as bytes needs { externalData: { '${location}': bytes } }`,
      );
    const target = path.resolve(source.dir, location);
    const dir = realpathSync(source.dir);
    let real: string;
    try {
      real = realpathSync(target);
    } catch {
      throw new OnnxError(`${what}: external data file '${location}' not found beside the model`);
    }
    if (path.relative(dir, real).startsWith('..') || path.isAbsolute(path.relative(dir, real)))
      throw new OnnxError(`${what}: external data '${location}' lies outside the model's folder`);
    if (!statSync(real).isFile()) throw new OnnxError(`${what}: external data '${location}' is not a file`);
    file = readFileSync(real);
  }
  if (
    !Number.isSafeInteger(offset) ||
    offset < 0 ||
    (length !== undefined && (!Number.isSafeInteger(length) || length < 0))
  )
    throw new OnnxError(`${what}: external data offset ${offset} / length ${length} are not sizes`);
  const end = length === undefined ? file.byteLength : offset + length;
  if (end > file.byteLength)
    throw new OnnxError(`${what}: external data '${location}' has ${file.byteLength} bytes, the tensor needs ${end}`);
  return file.subarray(offset, end);
}

/** float16 bits as a number. */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

const RAW_READERS: Readonly<Record<number, [number, (v: DataView, at: number) => number]>> = {
  [ONNX_DTYPE.FLOAT]: [4, (v, at) => v.getFloat32(at, true)],
  [ONNX_DTYPE.DOUBLE]: [8, (v, at) => v.getFloat64(at, true)],
  [ONNX_DTYPE.FLOAT16]: [2, (v, at) => halfToFloat(v.getUint16(at, true))],
  [ONNX_DTYPE.INT64]: [8, (v, at) => Number(v.getBigInt64(at, true))],
  [ONNX_DTYPE.INT32]: [4, (v, at) => v.getInt32(at, true)],
  [ONNX_DTYPE.INT16]: [2, (v, at) => v.getInt16(at, true)],
  [ONNX_DTYPE.UINT16]: [2, (v, at) => v.getUint16(at, true)],
  [ONNX_DTYPE.INT8]: [1, (v, at) => v.getInt8(at)],
  [ONNX_DTYPE.UINT8]: [1, (v, at) => v.getUint8(at)],
  [ONNX_DTYPE.BOOL]: [1, (v, at) => (v.getUint8(at) ? 1 : 0)],
};

/** The values of a TensorProto as numbers, from whichever field holds them. */
function valuesOf(t: TensorProto, size: number, source: ExternalDataSource, what: string): ArrayLike<number> {
  const raw = t.data_location === 1 ? externalBytes(t, source, what) : t.raw_data;
  if (t.data_location === 1 || raw.byteLength > 0) {
    const reader = RAW_READERS[t.data_type];
    if (!reader) throw new OnnxError(`${what}: element type ${onnxTypeName(t.data_type)} is not supported`);
    const [width, read] = reader;
    if (raw.byteLength !== size * width)
      throw new OnnxError(
        `${what}: field 'raw_data' has ${raw.byteLength} bytes, [${t.dims.join(', ')}] needs ${size * width}`,
      );
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const out = new Float64Array(size);
    for (let i = 0; i < size; i++) out[i] = read(view, i * width);
    return out;
  }
  const field =
    t.data_type === ONNX_DTYPE.FLOAT
      ? t.float_data
      : t.data_type === ONNX_DTYPE.DOUBLE
        ? t.double_data
        : t.data_type === ONNX_DTYPE.INT64
          ? t.int64_data
          : t.data_type === ONNX_DTYPE.FLOAT16
            ? t.int32_data.map(halfToFloat)
            : t.int32_data;
  if (field.length !== size)
    throw new OnnxError(`${what}: holds ${field.length} values, its dims [${t.dims.join(', ')}] need ${size}`);
  return field;
}

/** int64's largest magnitudes as doubles (2^63 − 1 and −2^63 both round to ±2^63). */
const INT64_EXTREME = 2 ** 63;

/** A TensorProto as an NDArray (int64 values outside int32's range are an OnnxError naming the tensor). */
export function tensorFromProto(t: TensorProto, source: ExternalDataSource, what = `tensor '${t.name}'`): NDArray {
  if (t.segment) throw new OnnxError(`${what}: segmented tensors are not supported`);
  const dtype = dtypeOfOnnx(t.data_type);
  if (!dtype) throw new OnnxError(`${what}: element type ${onnxTypeName(t.data_type)} is not supported`);
  const dims = checkedDims(t, what);
  const size = sizeOf(dims);
  const values = valuesOf(t, size, source, what);
  const out = new NDArray(
    dtype === 'float32'
      ? new Float32Array(size)
      : dtype === 'float64'
        ? new Float64Array(size)
        : dtype === 'int32'
          ? new Int32Array(size)
          : new Uint8Array(size),
    dims,
    dtype,
  );
  for (let i = 0; i < size; i++) {
    let v = values[i]!;
    if (dtype === 'int32' && !(v >= -(2 ** 31) && v < 2 ** 31)) {
      // int64's extremes are how exporters spell "to the end" (Slice bounds): int32's extremes say the same.
      if (Math.abs(v) >= INT64_EXTREME) v = v > 0 ? 2 ** 31 - 1 : -(2 ** 31);
      else throw new OnnxError(`${what}: value ${v} at ${i} is outside int32's range (tsano reads int64 as int32)`);
    }
    out.data[i] = v;
  }
  return out;
}

/** An NDArray as a TensorProto with raw little-endian data. */
export function tensorToProto(name: string, x: NDArray): object {
  const bytes = new Uint8Array(x.data.buffer, x.data.byteOffset, x.data.byteLength).slice();
  return { name, dims: [...x.shape], data_type: ONNX_OF_DTYPE[x.dtype], raw_data: bytes };
}

/** An int64 TensorProto of `values` (shape [n], or a scalar when `scalar`): ONNX's shape, axis and bound operands. */
export function int64Tensor(name: string, values: readonly number[], scalar = false): object {
  const raw = new Uint8Array(values.length * 8);
  const view = new DataView(raw.buffer);
  values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(Math.trunc(v)), true));
  return { name, dims: scalar ? [] : [values.length], data_type: ONNX_DTYPE.INT64, raw_data: raw };
}
