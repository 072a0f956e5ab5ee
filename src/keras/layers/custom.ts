/**
 * Custom layers with TensorFlow.js's contract: subclass `keras.layers.Layer`, give it a static
 * `className`, and write `build(inputShape)` (weights through `addWeight`), `call(inputs, kwargs)`,
 * `computeOutputShape` and `getConfig`; `keras.serialization.registerClass(MyLayer)` lets saved models
 * holding it load again.
 */
import * as T from '../../index.js';
import type { SharedVariable } from '../../graph/variables.js';
import { ConfigError } from '../../../runtime/errors.js';
import { Layer as BaseLayer, type LayerArgs, type Regularizer, type Shape } from './layer.js';

/** What `call` receives besides its inputs. */
export interface CallKwargs {
  /** True in fit's training step (dropout and the like apply). */
  training: boolean;
}

/** An initializer as addWeight takes it: a Keras name, or a function of the shape. */
export type InitializerLike = string | ((shape: readonly number[]) => T.NDArray);

/** The constructor of a custom layer, as registerClass takes it. */
export interface CustomLayerClass {
  new (config: Record<string, unknown>): CustomLayer;
  readonly className: string;
}

/** The base of layers written by users (TensorFlow.js's tf.layers.Layer). */
export abstract class CustomLayer extends BaseLayer {
  constructor(config: LayerArgs & Record<string, unknown> = {}) {
    const className = (new.target as unknown as { className?: unknown }).className;
    if (typeof className !== 'string' || className === '')
      throw new ConfigError(
        `${new.target.name}: a custom layer needs a static className (static className = '${new.target.name}'), which saved models name it by`,
      );
    super(className, config);
  }

  /** Creates the layer's weights for inputs of `inputShape` (with the batch axis); the default makes none. */
  override build(_inputShape: Shape): void {}

  /** The layer's computation on symbolic tensors: one input, or a list for a layer of several inputs. */
  abstract call(inputs: T.Node | T.Node[], kwargs: CallKwargs): T.Node;

  /** The output shape for an input shape; by default the same shape. */
  computeOutputShape(inputShape: Shape): Shape {
    return inputShape;
  }

  /** The options the layer is built from, which a saved model keeps; add your own to the base's. */
  getConfig(): Record<string, unknown> {
    return { name: this.name };
  }

  /**
   * Adds a weight (TensorFlow.js's addWeight): `initializer` is a Keras name (default glorot_uniform)
   * or a function of the shape; a loaded model takes the saved value instead.
   */
  addWeight(
    name: string,
    shape: readonly number[],
    _dtype?: string,
    initializer: InitializerLike = 'glorot_uniform',
    regularizer?: Regularizer,
    trainable = true,
  ): SharedVariable {
    return this.createWeight(name, shape, initializer, regularizer, trainable);
  }

  protected forward(x: T.Node | T.Node[], training: boolean): T.Node {
    return this.call(x, { training });
  }
}

/** Custom layer classes saved models may name, by class name. */
export const CUSTOM_LAYERS = new Map<string, CustomLayerClass>();

/** Makes a custom layer class known to model loading (TensorFlow.js's serialization.registerClass). */
export function registerClass(cls: CustomLayerClass): void {
  if (typeof cls !== 'function' || !(cls.prototype instanceof CustomLayer))
    throw new ConfigError('registerClass: expected a class extending keras.layers.Layer');
  if (typeof cls.className !== 'string' || cls.className === '')
    throw new ConfigError(`registerClass: ${cls.name} needs a static className`);
  CUSTOM_LAYERS.set(cls.className, cls);
}
