/** Keras's functional model: a graph of layer calls from inputs to outputs. */
import * as T from '../index.js';
import { ConfigError } from '../../runtime/errors.js';
import { CALLS, type AnyLayer, type LayerCall, type Shape } from './layers/layer.js';
import { layerEntry, LayersModel } from './model.js';

const listOf = (v: T.Node | readonly T.Node[]): T.Node[] => (Array.isArray(v) ? [...v] : [v as T.Node]);

/**
 * A model from a graph of layer calls: `keras.model({ inputs, outputs })`, each one tensor or a list
 * of them (then predict returns a list, and fit takes a list or a dict of targets).
 */
export class Functional<Out extends T.NDArray | T.NDArray[] = T.NDArray> extends LayersModel<Out> {
  readonly layers: AnyLayer[];
  readonly modelName: string;
  protected readonly outputsAsList: boolean;
  private readonly shapes = new Map<AnyLayer, Shape>();
  private readonly inputList: T.Node[];
  private readonly outputList: T.Node[];

  constructor(inputs: T.Node | readonly T.Node[], outputs: T.Node | readonly T.Node[], name = 'model') {
    super();
    this.modelName = name;
    this.inputList = listOf(inputs);
    this.outputList = listOf(outputs);
    this.outputsAsList = Array.isArray(outputs);
    if (this.inputList.length === 0 || this.outputList.length === 0)
      throw new ConfigError('keras.model: a model needs at least one input and one output');
    this.inputList.forEach((n, i) => {
      if (!(n instanceof T.Node)) throw new ConfigError(`keras.model: inputs[${i}] is not a symbolic tensor`);
      if (CALLS.has(n))
        throw new ConfigError(
          `keras.model: input ${n.name ?? i} is a layer's output; inputs must come from keras.input`,
        );
    });
    const names = this.inputList.map((n) => n.name);
    const repeated = names.find((n, i) => n !== undefined && names.indexOf(n) !== i);
    if (repeated !== undefined)
      throw new ConfigError(`keras.model: two inputs are named '${repeated}'; give each keras.input a name of its own`);
    // Keras's layer order: deepest first (farthest from the outputs), ties in the order a walk from
    // the outputs first meets them. Weight lists, summaries and Keras files all follow it.
    const firstMet = new Map<AnyLayer, number>();
    const depth = new Map<AnyLayer, number>();
    const used = new Set<T.Node>();
    // Each tensor is walked again only from deeper down (a shared layer's calls are walked each).
    const reached = new Map<T.Node, number>();
    const visit = (n: T.Node, path: string, level: number) => {
      const call = CALLS.get(n);
      if (!call) {
        if (!this.inputList.includes(n))
          throw new ConfigError(
            `keras.model: ${path} depends on ${n.name ?? 'a tensor'}, which is neither one of the inputs (${this.inputList.map((x) => x.name).join(', ')}) nor a layer's output`,
          );
        used.add(n);
        return;
      }
      if (!firstMet.has(call.layer)) firstMet.set(call.layer, firstMet.size);
      if ((reached.get(n) ?? -1) >= level) return;
      reached.set(n, level);
      if ((depth.get(call.layer) ?? -1) < level) depth.set(call.layer, level);
      if (!this.shapes.has(call.layer)) this.shapes.set(call.layer, n.shape);
      call.inputs.forEach((i) => visit(i, path, level + 1));
    };
    this.outputList.forEach((o, i) => {
      if (!(o instanceof T.Node)) throw new ConfigError(`keras.model: outputs[${i}] is not a symbolic tensor`);
      if (!CALLS.has(o))
        throw new ConfigError(`keras.model: output ${i} (${o.name ?? 'a tensor'}) is not a layer's output`);
      visit(o, `output ${i} (${CALLS.get(o)!.layer.name})`, 0);
    });
    const unused = this.inputList.filter((n) => !used.has(n));
    if (unused.length)
      throw new ConfigError(
        `keras.model: no output depends on the input${unused.length > 1 ? 's' : ''} ${unused.map((n) => n.name).join(', ')}`,
      );
    const outputLayers = this.outputList.map((o) => CALLS.get(o)!.layer);
    const twice = outputLayers.find((l, i) => outputLayers.indexOf(l) !== i);
    if (twice)
      throw new ConfigError(`keras.model: layer '${twice.name}' gives two of the outputs; outputs go by layer name`);
    this.layers = [...firstMet.keys()].sort(
      (a, b) => depth.get(b)! - depth.get(a)! || firstMet.get(a)! - firstMet.get(b)!,
    );
  }

  get outputNames(): string[] {
    return this.outputList.map((o) => CALLS.get(o)!.layer.name);
  }

  /** Replays the recorded layer calls, so training mode reaches dropout and batch normalization. */
  protected forward(training: boolean): { xs: T.Node[]; ys: T.Node[] } {
    const memo = new Map<T.Node, T.Node>(this.inputList.map((x) => [x, x]));
    // Each call once: a layer with several outputs (returnState) is applied once for all of them, and a
    // layer called on several inputs (shared weights) once per call.
    const applied = new Map<number, T.Node | T.Node[]>();
    const rebuild = (n: T.Node): T.Node => {
      const done = memo.get(n);
      if (done) return done;
      const call = CALLS.get(n)!;
      let result = applied.get(call.call);
      if (!result) {
        const inputs = call.inputs.map(rebuild);
        result = call.layer.apply(inputs.length === 1 ? inputs[0]! : inputs, training);
        applied.set(call.call, result);
      }
      const out = Array.isArray(result) ? result[call.index]! : result;
      memo.set(n, out);
      return out;
    };
    return { xs: this.inputList, ys: this.outputList.map(rebuild) };
  }

  protected layerOutputShape(layer: AnyLayer): Shape {
    return this.shapes.get(layer) ?? [];
  }

  /** An InputLayer per input, then each layer with its calls (inbound nodes): the tensors each call reads. */
  topology(): Record<string, unknown> {
    const inputNames = this.inputNames;
    // Each layer's calls in the order they were made: a call's place is its node index in Keras's files.
    const callsOf = new Map<AnyLayer, Map<number, T.Node[]>>();
    const collect = (n: T.Node) => {
      const call = CALLS.get(n);
      if (!call) return;
      const known = callsOf.get(call.layer) ?? new Map<number, T.Node[]>();
      callsOf.set(call.layer, known);
      if (known.has(call.call)) return;
      known.set(call.call, call.inputs);
      call.inputs.forEach(collect);
    };
    this.outputList.forEach(collect);
    const nodeIndex = (call: LayerCall) =>
      [...callsOf.get(call.layer)!.keys()].sort((a, b) => a - b).indexOf(call.call);
    /** A tensor as Keras topologies name it: [layer, node, tensor index]. */
    const ref = (n: T.Node): [string, number, number] => {
      const input = this.inputList.indexOf(n);
      if (input >= 0) return [inputNames[input]!, 0, 0];
      const call = CALLS.get(n)!;
      return [call.layer.name, nodeIndex(call), call.index];
    };
    const layers: Record<string, unknown>[] = this.inputList.map((x, i) => ({
      class_name: 'InputLayer',
      name: inputNames[i],
      config: { name: inputNames[i], batch_input_shape: x.shape, dtype: 'float32' },
      inbound_nodes: [],
    }));
    // In model.layers order, which Keras uses to name the weights of a .keras file.
    for (const layer of this.layers) {
      const nodes = [...callsOf.get(layer)!].sort(([a], [b]) => a - b);
      layers.push({
        ...layerEntry(layer, false),
        name: layer.name,
        inbound_nodes: nodes.map(([, inputs]) => inputs.map((i) => [...ref(i), {}])),
      });
    }
    return {
      class_name: 'Model',
      config: {
        name: this.modelName,
        layers,
        input_layers: inputNames.map((name) => [name, 0, 0]),
        output_layers: this.outputList.map(ref),
      },
      keras_version: 'tsano',
      backend: 'tsano',
    };
  }
}
