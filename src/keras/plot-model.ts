/**
 * keras.utils.plotModel: Keras's plot_model. A box per layer (name and class; with `showShapes` its
 * output shape; with `showParams` its parameter count), an edge per tensor a layer call reads, drawn by
 * the same Graphviz as T.printGraph. The format follows the file's extension (.svg, .html, .dot).
 */
import path from 'node:path';
import { dotAttributes, dotString, renderDot } from '../graph/print-graph.js';
import { ConfigError } from '../../runtime/errors.js';
import { checkOptionNames } from '../../runtime/options.js';
import type { AnyLayersModel } from './model.js';

export interface PlotModelOptions {
  /** Each layer's output shape under its name (Keras's show_shapes). */
  readonly showShapes?: boolean;
  /** Each layer's parameter count. */
  readonly showParams?: boolean;
  /** 'TB' (top to bottom, default) or 'LR' (Keras's rankdir). */
  readonly rankdir?: 'TB' | 'LR';
}

const FORMATS: Readonly<Record<string, 'svg' | 'html' | 'dot'>> = {
  '.svg': 'svg',
  '.html': 'html',
  '.dot': 'dot',
  '.gv': 'dot',
};

interface TopologyLayer {
  readonly name: string;
  readonly class_name: string;
  readonly inbound_nodes?: readonly (readonly (readonly [string, number, number, unknown])[])[];
}

/** Draws `model`'s layers and their connections into `file` (.svg, .html or .dot); returns the text written. */
export async function plotModel(
  model: AnyLayersModel,
  file = 'model.svg',
  options: PlotModelOptions = {},
): Promise<string> {
  checkOptionNames('plotModel', options, ['showShapes', 'showParams', 'rankdir']);
  const format = FORMATS[path.extname(file).toLowerCase()];
  if (!format) throw new ConfigError(`plotModel: ${file}: the file's extension says the format: .svg, .html or .dot`);
  const summary = new Map(model.layerSummary().map((l) => [l.name, l]));
  const topology = model.topology() as { class_name: string; config: { layers: TopologyLayer[] } };
  const layers = topology.config.layers;
  const shape = (s: readonly (number | null)[]) => `(${s.map((d) => (d === null ? 'None' : d)).join(', ')})`;
  const lines: string[] = [];
  const box = (name: string, className: string) => {
    const l = summary.get(name);
    const details = [
      options.showShapes && l ? `output ${shape(l.outputShape)}` : undefined,
      options.showParams && l ? `${l.params.toLocaleString('en-US')} params` : undefined,
    ].filter((d) => d !== undefined);
    lines.push(
      `${dotString(name)} ${dotAttributes({
        label: [`${name}: ${className}`, ...details].join('\n'),
        shape: 'box',
        style: 'filled,rounded',
        fillcolor: className === 'InputLayer' ? '#c8e6c9' : '#e3f2fd',
      })};`,
    );
  };
  if (topology.class_name === 'Sequential') {
    // A sequential model's first layer reads the input.
    const input = 'input';
    lines.push(
      `${dotString(input)} ${dotAttributes({ label: `input: InputLayer${options.showShapes ? `\n${shape(model.inputs[0]!.shape)}` : ''}`, shape: 'box', style: 'filled,rounded', fillcolor: '#c8e6c9' })};`,
    );
    layers.forEach((l, i) => {
      const name = (l as unknown as { config: { name: string } }).config.name ?? l.name;
      box(name, l.class_name);
      const previous =
        i === 0
          ? input
          : ((layers[i - 1] as unknown as { config: { name: string } }).config.name ?? layers[i - 1]!.name);
      lines.push(`${dotString(previous)} -> ${dotString(name)};`);
    });
  } else {
    for (const l of layers) {
      box(l.name, l.class_name);
      for (const call of l.inbound_nodes ?? [])
        for (const [from] of call) lines.push(`${dotString(from)} -> ${dotString(l.name)};`);
    }
  }
  const dot = [
    'digraph model {',
    `rankdir=${options.rankdir ?? 'TB'}; fontname="Helvetica";`,
    'node [fontname="Helvetica", fontsize=10]; edge [color="#546e7a", arrowsize=0.6];',
    ...lines,
    '}',
  ].join('\n');
  return renderDot(dot, format, `model ${model.modelName}`, file);
}
