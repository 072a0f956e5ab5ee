import * as T from '../index.js';
import { ConfigError } from '../../runtime/errors.js';

export type ActivationName =
  | 'relu'
  | 'relu6'
  | 'sigmoid'
  | 'hard_sigmoid'
  | 'tanh'
  | 'softmax'
  | 'elu'
  | 'selu'
  | 'gelu'
  | 'softplus'
  | 'softsign'
  | 'swish'
  | 'silu'
  | 'linear';

/** Keras's activations by name (snake_case and camelCase alike), as graph builders. */
export const ACTIVATIONS: Record<ActivationName, (x: T.Node) => T.Node> = {
  relu: T.relu,
  relu6: (x) => T.clip(x, 0, 6),
  sigmoid: T.sigmoid,
  // TensorFlow.js's and Keras 2's piecewise-linear sigmoid (the default recurrent activation of TF.js's LSTM and GRU)
  hard_sigmoid: (x) => T.clip(T.add(T.mul(x, 0.2), 0.5), 0, 1),
  tanh: T.tanh,
  softmax: (x) => T.softmax(x, -1),
  elu: (x) => T.elu(x, 1),
  selu: T.selu,
  gelu: T.gelu,
  softplus: T.softplus,
  softsign: (x) => T.div(x, T.add(T.abs(x), 1)),
  swish: (x) => T.mul(x, T.sigmoid(x)),
  silu: (x) => T.mul(x, T.sigmoid(x)),
  linear: (x) => x,
};

export function activation(name: string | undefined, where: string): (x: T.Node) => T.Node {
  // TensorFlow.js spells them in camelCase (hardSigmoid), Keras in snake_case.
  const key = (name ?? 'linear').replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) as ActivationName;
  const f = ACTIVATIONS[key];
  if (!f)
    throw new ConfigError(`${where}: unknown activation '${name}' (known: ${Object.keys(ACTIVATIONS).join(', ')})`);
  return f;
}
