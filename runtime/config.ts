import type { DType } from './dtype.js';

/**
 * Process-wide defaults that Keras's keras.json controls: the float dtype of new arrays and variables,
 * the fuzz factor epsilon, and the image data format. tsano/keras loads them from the file.
 */
export type FloatX = 'float32' | 'float64';
export type DataFormat = 'channelsLast' | 'channelsFirst';

/** Where compiled functions run by default: keras.json's backend. */
export type Backend = 'wasm' | 'js';

const state: { floatx: FloatX; epsilon: number; imageDataFormat: DataFormat; backend: Backend; halfStorage: boolean } =
  {
    floatx: 'float32',
    halfStorage: false,
    epsilon: 1e-7,
    imageDataFormat: 'channelsLast',
    backend: 'wasm',
  };

export const floatx = (): FloatX => state.floatx;
export const epsilon = (): number => state.epsilon;
export const imageDataFormat = (): DataFormat => state.imageDataFormat;
export const defaultBackend = (): Backend => state.backend;
/** Keras floatx 'float16': values are stored rounded to half precision and computed in float32. */
export const halfStorage = (): boolean => state.halfStorage;
export function setHalfStorage(on: boolean): void {
  state.halfStorage = on;
}
export function setDefaultBackend(b: Backend): void {
  state.backend = b;
}

export function setFloatxDType(d: DType): void {
  if (d !== 'float32' && d !== 'float64') throw new Error(`floatx must be float32 or float64, got ${d}`);
  state.floatx = d;
}
export function setEpsilonValue(e: number): void {
  state.epsilon = e;
}
export function setImageDataFormatValue(f: DataFormat): void {
  state.imageDataFormat = f;
}
