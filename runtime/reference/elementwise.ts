import { allocate, type DType } from '../dtype.js';
import { NDArray } from '../ndarray.js';
import { broadcastConcrete, broadcastStrides, forEachIndex } from './layout.js';

/** Applies a scalar function over broadcast operands, computing in float64 and storing in `dtype`. */
export function mapBroadcast(inputs: readonly NDArray[], dtype: DType, fn: (...v: number[]) => number): NDArray {
  const shape = broadcastConcrete(inputs.map((x) => x.shape));
  const out = allocate(
    dtype,
    shape.reduce((a, b) => a * b, 1),
  );
  const strides = inputs.map((x) => broadcastStrides(x.shape, shape));
  const data = inputs.map((x) => x.data);
  const values = new Array<number>(inputs.length);
  const toBool = dtype === 'bool';
  forEachIndex(shape, strides, (i, offsets) => {
    for (let k = 0; k < data.length; k++) values[k] = data[k]![offsets[k]!]!;
    const v = fn(...values);
    out[i] = toBool ? (v !== 0 ? 1 : 0) : v;
  });
  return new NDArray(out, shape, dtype);
}
