/**
 * tsano/keras: the Keras-compatible layer API. The backend settings it reads from keras.json already
 * drive the core (floatx, epsilon, image data format); layers, models and training come next.
 */
import { epsilon, floatx, imageDataFormat, setEpsilonValue, setFloatxDType } from '../../runtime/config.js';

/** Keras's backend configuration functions over the values the core uses. */
export const backend = {
  floatx,
  setFloatx: (d: 'float32' | 'float64') => setFloatxDType(d),
  epsilon,
  setEpsilon: (e: number) => setEpsilonValue(e),
  imageDataFormat: () => (imageDataFormat() === 'channelsLast' ? 'channels_last' : 'channels_first'),
};
