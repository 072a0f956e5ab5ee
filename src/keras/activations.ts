import * as T from '../index.js';
import { ConfigError } from '../../runtime/errors.js';

export type ActivationName = 'relu' | 'sigmoid' | 'tanh' | 'softmax' | 'elu' | 'selu' | 'gelu' | 'softplus' | 'linear';

/** Keras's activations by name (snake_case and camelCase alike), as graph builders. */
export const ACTIVATIONS: Record<ActivationName, (x: T.Node) => T.Node> = {
  relu: T.relu,
  sigmoid: T.sigmoid,
  tanh: T.tanh,
  softmax: (x) => T.softmax(x, -1),
  elu: (x) => T.elu(x, 1),
  selu: T.selu,
  gelu: T.gelu,
  softplus: T.softplus,
  linear: (x) => x,
};

export function activation(name: string | undefined, where: string): (x: T.Node) => T.Node {
  const key = (name ?? 'linear') as ActivationName;
  const f = ACTIVATIONS[key];
  if (!f)
    throw new ConfigError(`${where}: unknown activation '${name}' (known: ${Object.keys(ACTIVATIONS).join(', ')})`);
  return f;
}
