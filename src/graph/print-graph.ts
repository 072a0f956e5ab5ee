/**
 * T.printGraph: a graph as Theano's pydotprint drew it (ops with their arguments, shapes and dtypes;
 * inputs, shared variables and constants told apart; updates as dashed edges back into the variable
 * they replace; fused regions as one box holding their ops), in Graphviz's dot language, as SVG (laid
 * out by Graphviz compiled to wasm, loaded only when asked for), or as an HTML page that zooms, pans,
 * searches, shows each node's shape and the user's line on hover, and opens a fused box on a click.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { toposort } from '../../compiler/ir/graph.js';
import { Node } from '../../compiler/ir/node.js';
import type { FusedArgs, FusedInstr } from '../../compiler/ir/ops.js';
import { formatOrigin } from '../../compiler/ir/origin.js';
import { nodeLabel } from '../../compiler/ir/print.js';
import { formatShape } from '../../compiler/ir/type.js';
import { rewriteOf } from '../../compiler/rewrite/provenance.js';
import { nodeOfStep } from '../../compiler/schedule/program.js';
import type { Profile } from '../../runtime/profile.js';
import { ConfigError } from '../../runtime/errors.js';
import { checkOptionNames } from '../../runtime/options.js';
import type { CompiledFunction } from './function.js';

export interface PrintGraphOptions {
  /** 'dot' (Graphviz's language, default), 'svg' (laid out) or 'html' (an interactive page). */
  readonly format?: 'dot' | 'svg' | 'html';
  /** For a compiled function: the graph as the optimizer left it (default) or as it was built. */
  readonly stage?: 'optimized' | 'built';
  /** Also write the result to this file. */
  readonly file?: string;
  /** The page's and the drawing's title. */
  readonly title?: string;
  /** `f.profile(...)`'s result: each step's time on its node, the slowest reddest (optimized stage). */
  readonly profile?: Profile;
}

/** What the graph drawing is made of: roots with headings (outputs, updates of shared variables), and each node's time. */
interface Drawing {
  readonly outputs: readonly Node[];
  readonly updates: readonly (readonly [Node, Node])[];
  readonly times?: ReadonlyMap<Node, { readonly ms: number; readonly share: number }>;
}

/** A share of the time as a colour from white (none) to red (all of it). */
const heat = (share: number) => {
  const g = Math.round(255 - 200 * Math.min(1, Math.max(0, share * 2)));
  return `#ff${g.toString(16).padStart(2, '0')}${g.toString(16).padStart(2, '0')}`;
};
const timeText = (t: { ms: number; share: number }) => `${t.ms.toFixed(3)} ms (${(t.share * 100).toFixed(1)}%)`;
/** What the optimizer did to a node, as a line of its label. */
const story = (n: Node) => {
  const rule = rewriteOf(n);
  return rule ? `\n⟵ ${rule}` : '';
};

const COLORS = {
  input: '#c8e6c9',
  shared: '#bbdefb',
  constant: '#eeeeee',
  op: '#ffffff',
  fused: '#fff3e0',
  output: '#ffe0b2',
  rewritten: '#6a1b9a',
} as const;

/** A dot string literal. */
const quote = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
const attrs = (a: Record<string, string | undefined>) =>
  `[${Object.entries(a)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${quote(v!)}`)
    .join(', ')}]`;

const typeOf = (n: Node) => `${n.dtype} ${formatShape(n.shape)}`;
/** Where the user built a node, relative to the working folder when inside it (shorter, and the same on every machine). */
function where(n: Node): string {
  if (!n.origin) return 'built by tsano';
  const at = formatOrigin(n.origin).replace(/^file:\/\//, '');
  const relative = path.relative(process.cwd(), at);
  return `built at ${relative.startsWith('..') || path.isAbsolute(relative) ? at : relative}`;
}

function leafStyle(n: Node): Record<string, string> {
  switch (n.op) {
    case 'input':
      return { shape: 'ellipse', fillcolor: COLORS.input, class: 'input' };
    case 'shared':
      return { shape: 'box', style: 'filled,rounded', fillcolor: COLORS.shared, class: 'shared' };
    case 'constant':
      return { shape: 'note', fillcolor: COLORS.constant, class: 'constant' };
    default:
      return { shape: 'box', fillcolor: COLORS.op, class: 'op' };
  }
}

/** The ops inside a fused region, each its own node in a cluster, wired to the region's operands. */
function fusedCluster(
  n: Node<'fused'>,
  id: string,
  region: number,
  operand: (k: number) => string,
  lines: string[],
  time: { ms: number; share: number } | undefined,
): string {
  const a = n.args as FusedArgs;
  const inner = (k: number) => `${id}_i${k}`;
  const cls = `op region-${region}`;
  const body: string[] = [];
  // With a product, region input 0 is the product of the node's first two operands.
  let regionInput = (k: number) => operand(k);
  if (a.product) {
    const product = `${id}_product`;
    body.push(
      `${product} ${attrs({ label: a.product.op, shape: 'box', class: cls, tooltip: 'the product the region follows' })};`,
    );
    lines.push(`${operand(0)} -> ${product};`, `${operand(1)} -> ${product};`);
    regionInput = (k) => (k === 0 ? product : operand(k + 1));
  }
  a.instrs.forEach((instr: FusedInstr, k) => {
    const rule = rewriteOf(instr);
    body.push(
      `${inner(k)} ${attrs({ label: `${instr.op}\n${instr.dtype}${rule ? `\n⟵ ${rule}` : ''}`, shape: 'box', class: cls, ...(rule ? { color: COLORS.rewritten, penwidth: '2' } : {}) })};`,
    );
    for (const ref of instr.inputs)
      lines.push(`${ref.from === 'instr' ? inner(ref.index) : regionInput(ref.index)} -> ${inner(k)};`);
  });
  let result = inner(a.outputs[0]!);
  for (const [step, label] of [
    [a.reduce, a.reduce && `${a.reduce.op}{axes=[${a.reduce.axes.join(',')}]}`],
    [a.pool, a.pool && 'maxPool2d 2x2'],
  ] as const) {
    if (!step) continue;
    const next = `${id}_${label!.split('{')[0]!.replace(/\W/g, '')}`;
    body.push(`${next} ${attrs({ label: label!, shape: 'box', class: cls })};`);
    lines.push(`${result} -> ${next};`);
    result = next;
  }
  const count = a.instrs.length + (a.product ? 1 : 0) + (a.reduce ? 1 : 0) + (a.pool ? 1 : 0);
  const rule = rewriteOf(n);
  const label = [`fused: ${count} ops → ${typeOf(n)}`, rule && `(${rule})`, time && timeText(time)]
    .filter(Boolean)
    .join('\n');
  lines.push(
    `subgraph cluster_${id} {`,
    `label=${quote(label)}; style="filled,rounded"; fillcolor=${quote(time ? heat(time.share) : COLORS.fused)}; class=${quote(`fused region-${region}`)}; tooltip=${quote(where(n))};`,
    ...body,
    '}',
  );
  return result;
}

/** The graph in dot. */
function toDot(d: Drawing, title: string): string {
  const roots = [...d.outputs, ...d.updates.map(([, e]) => e)];
  const order = toposort(roots, () => true);
  const ids = new Map<Node, string>();
  const lines: string[] = [];
  let regions = 0;
  for (const n of order) {
    const id = `n${ids.size}`;
    // A fused node's other outputs are values of instructions inside its box.
    if (n.op === 'fusedOutput') {
      const owner = n.inputs[0]!;
      const k = (n as Node<'fusedOutput'>).args.index;
      const a = owner.args as FusedArgs;
      ids.set(n, k === 0 ? ids.get(owner)! : `${ids.get(owner)!.split('_')[0]}_i${a.outputs[k]}`);
      continue;
    }
    if (n.op === 'fused') {
      const result = fusedCluster(
        n as Node<'fused'>,
        id,
        regions++,
        (k) => ids.get(n.inputs[k]!)!,
        lines,
        d.times?.get(n),
      );
      ids.set(n, result);
      continue;
    }
    ids.set(n, id);
    const name = n.name && n.op !== 'input' && n.op !== 'shared' ? `'${n.name}'\n` : '';
    const time = d.times?.get(n);
    const rewritten = rewriteOf(n) !== undefined;
    lines.push(
      `${id} ${attrs({
        label: `${name}${nodeLabel(n)}\n${typeOf(n)}${story(n)}${time ? `\n${timeText(time)}` : ''}`,
        style: 'filled',
        ...leafStyle(n),
        ...(time ? { fillcolor: heat(time.share) } : {}),
        ...(rewritten ? { color: COLORS.rewritten, penwidth: '2' } : {}),
        tooltip: `${nodeLabel(n)}: ${typeOf(n)}; ${where(n)}`,
      })};`,
    );
    for (const input of n.inputs) lines.push(`${ids.get(input)!} -> ${id};`);
  }
  d.outputs.forEach((o, i) => {
    const id = `out${i}`;
    lines.push(
      `${id} ${attrs({ label: d.outputs.length > 1 ? `output ${i}` : 'output', shape: 'cds', style: 'filled', fillcolor: COLORS.output, class: 'output' })};`,
      `${ids.get(o)!} -> ${id};`,
    );
  });
  for (const [variable, expression] of d.updates)
    lines.push(
      `${ids.get(expression)!} -> ${ids.get(variable) ?? quote(variable.name ?? 'shared')} ${attrs({ style: 'dashed', label: 'update', color: '#1565c0', constraint: 'false' })};`,
    );
  return [
    `digraph tsano {`,
    `label=${quote(title)}; labelloc="t"; fontname="Helvetica";`,
    `node [fontname="Helvetica", fontsize=10]; edge [color="#546e7a", arrowsize=0.6];`,
    ...lines,
    '}',
  ].join('\n');
}

let viz: Promise<{ renderString(dot: string, options: { format: string }): string }> | undefined;
/** Graphviz (compiled to wasm), loaded the first time a drawing is laid out. */
async function layout(dot: string): Promise<string> {
  viz ??= import('@viz-js/viz').then((m) => m.instance());
  return (await viz).renderString(dot, { format: 'svg' });
}

/** An HTML page around the SVG: zoom (wheel), pan (drag), search, hover for details, fused boxes open on a click. */
function toHtml(svg: string, title: string): string {
  const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title>
<style>
body { margin: 0; font: 13px Helvetica, Arial, sans-serif; }
header { padding: 6px 10px; background: #263238; color: #eceff1; display: flex; gap: 12px; align-items: center; }
header input { padding: 3px 6px; }
#view { overflow: hidden; height: calc(100vh - 38px); cursor: grab; }
#view svg { transform-origin: 0 0; }
.found polygon, .found ellipse, .found path { stroke: #d50000; stroke-width: 3px; }
.closed.op { display: none; }
.cluster { cursor: pointer; }
</style></head><body>
<header><b>${escape(title)}</b><input id="search" placeholder="search ops, names, shapes"><span id="count"></span><span>wheel: zoom · drag: pan · click a fused box: open or close it</span></header>
<div id="view">${svg.replace(/^[\s\S]*?<svg/, '<svg')}</div>
<script>
const view = document.getElementById('view');
const svg = view.querySelector('svg');
let scale = 1, x = 0, y = 0, drag;
const place = () => (svg.style.transform = 'translate(' + x + 'px,' + y + 'px) scale(' + scale + ')');
view.addEventListener('wheel', (e) => { e.preventDefault(); scale *= e.deltaY < 0 ? 1.1 : 1 / 1.1; place(); });
view.addEventListener('mousedown', (e) => (drag = [e.clientX - x, e.clientY - y]));
addEventListener('mouseup', () => (drag = undefined));
addEventListener('mousemove', (e) => { if (drag) { x = e.clientX - drag[0]; y = e.clientY - drag[1]; place(); } });
const search = document.getElementById('search');
search.addEventListener('input', () => {
  const text = search.value.trim().toLowerCase();
  let n = 0;
  for (const g of svg.querySelectorAll('g.node')) {
    const hit = text !== '' && g.textContent.toLowerCase().includes(text);
    g.classList.toggle('found', hit);
    n += hit ? 1 : 0;
  }
  document.getElementById('count').textContent = text ? n + ' found' : '';
});
for (const cluster of svg.querySelectorAll('g.cluster')) {
  const region = [...cluster.classList].find((c) => c.startsWith('region-'));
  const members = () => svg.querySelectorAll('g.node.' + region);
  members().forEach((g) => g.classList.add('closed'));
  cluster.addEventListener('click', () => members().forEach((g) => g.classList.toggle('closed')));
}
</script></body></html>
`;
}

function drawingOf(
  target: Node | readonly Node[] | CompiledFunction<unknown>,
  stage: 'optimized' | 'built',
  profile: Profile | undefined,
): Drawing {
  if (target instanceof Node) return { outputs: [target], updates: [] };
  if (Array.isArray(target)) return { outputs: target as readonly Node[], updates: [] };
  if (typeof target === 'function' && 'graph' in target) {
    const g = stage === 'built' ? target.graphBefore : target.graph;
    if (!profile) return { outputs: g.outputs, updates: g.updates };
    if (stage === 'built')
      throw new ConfigError("printGraph: a profile is drawn on the optimized graph (stage 'optimized')");
    // Each step's time on the node it computes.
    const times = new Map<Node, { ms: number; share: number }>();
    for (const s of profile.steps) {
      const step = target.program.steps[s.index];
      const node = step && nodeOfStep(step);
      if (node) times.set(node, { ms: s.meanMs, share: s.share });
    }
    return { outputs: g.outputs, updates: g.updates, times };
  }
  throw new ConfigError('printGraph: expected an expression, an array of expressions or a compiled function');
}

/**
 * Draws an expression, several, or a compiled function's graph (`stage`: the optimized one, default,
 * or as built) as dot, SVG or an interactive HTML page; writes it to `file` when given.
 */
export async function printGraph(
  target: Node | readonly Node[] | CompiledFunction<unknown>,
  options: PrintGraphOptions = {},
): Promise<string> {
  checkOptionNames('printGraph', options, ['format', 'stage', 'file', 'title', 'profile']);
  const format = options.format ?? 'dot';
  const stage = options.stage ?? 'optimized';
  if (!['dot', 'svg', 'html'].includes(format))
    throw new ConfigError(`printGraph: format must be 'dot', 'svg' or 'html', got ${JSON.stringify(format)}`);
  if (stage !== 'optimized' && stage !== 'built')
    throw new ConfigError(`printGraph: stage must be 'optimized' or 'built', got ${JSON.stringify(stage)}`);
  const drawing = drawingOf(target, stage, options.profile);
  const title = options.title ?? (typeof target === 'function' ? `compiled function (${stage})` : 'expression');
  return renderDot(toDot(drawing, title), format, title, options.file);
}

/** A drawing in dot as `format` (SVG laid out by Graphviz; HTML around it), written to `file` when given. */
export async function renderDot(
  dot: string,
  format: 'dot' | 'svg' | 'html',
  title: string,
  file?: string,
): Promise<string> {
  const text = format === 'dot' ? dot : format === 'svg' ? await layout(dot) : toHtml(await layout(dot), title);
  if (file) writeFileSync(file, text);
  return text;
}

/** Dot's quoting and attribute lists, for other drawings (Keras's plotModel). */
export { quote as dotString, attrs as dotAttributes };
