/** Keras's Sequential model: a linear stack of layers. */
import * as T from '../index.js';
import { ConfigError } from '../../runtime/errors.js';
import type { AnyLayer, Shape } from './layers/layer.js';
import { layerEntry, LayersModel } from './model.js';

/** A linear stack of layers. */
export class Sequential extends LayersModel<T.NDArray> {
  readonly layers: AnyLayer[] = [];
  readonly modelName = 'sequential';
  protected readonly outputsAsList = false;
  private input?: T.Node;

  constructor(args: { layers?: readonly AnyLayer[]; name?: string } = {}) {
    super();
    for (const l of args.layers ?? []) this.add(l);
  }

  add(layer: AnyLayer): void {
    if (this.layers.length === 0 && !layer.batchInputShape) {
      throw new ConfigError(
        `the first layer of a sequential model needs inputShape (e.g. { inputShape: [784] }), ${layer.name} has none`,
      );
    }
    this.layers.push(layer);
    this.structureChanged();
  }

  get outputNames(): string[] {
    return [this.layers[this.layers.length - 1]?.name ?? 'output'];
  }

  protected forward(training: boolean): { xs: T.Node[]; ys: T.Node[] } {
    if (this.layers.length === 0) throw new ConfigError('the sequential model has no layers: add one first');
    this.input ??= T.tensor('input', { shape: this.layers[0]!.batchInputShape! });
    let h = this.input;
    for (const l of this.layers) {
      const out = l.apply(h, training);
      if (Array.isArray(out))
        throw new ConfigError(
          `sequential: layer ${l.name} returns ${out.length} tensors (returnState); a sequential model passes one tensor from layer to layer: use the functional API`,
        );
      h = out;
    }
    return { xs: [this.input], ys: [h] };
  }

  topology(): Record<string, unknown> {
    return {
      class_name: 'Sequential',
      config: { name: 'sequential', layers: this.layers.map((l, i) => layerEntry(l, i === 0)) },
      keras_version: 'tsano',
      backend: 'tsano',
    };
  }

  protected layerOutputShape(layer: AnyLayer): Shape {
    let s: Shape = this.layers[0]!.batchInputShape!;
    for (const l of this.layers) {
      s = l.computeOutputShape(s);
      if (l === layer) break;
    }
    return s;
  }
}
