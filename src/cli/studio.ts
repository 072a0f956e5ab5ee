/**
 * `tsano studio <saved model | model.onnx>`: the pictures of a model served on 127.0.0.1: its layers
 * (plotModel, for a Keras model), its prediction graph as built and as optimized (printGraph's pages),
 * and the optimized graph coloured by a profiled call on zeros. Pages are made once, then served
 * from memory until the server closes.
 */
import { createServer, type Server } from 'node:http';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as T from '../index.js';

export interface Studio {
  readonly url: string;
  readonly pages: readonly string[];
  close(): Promise<void>;
}

interface Page {
  readonly name: string;
  readonly title: string;
  readonly html: string;
}

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

/** A prediction function and its input shapes, for an ONNX file or a saved Keras model (folder, model.json, .keras, .h5). */
async function open(
  target: string,
): Promise<{ f: T.CompiledFunction<unknown>; shapes: number[][]; plot?: () => Promise<string> }> {
  const batch = (shape: readonly (number | null)[]) => shape.map((d) => d ?? 1);
  if (/\.onnx$/i.test(target)) {
    const { importOnnx } = await import('../onnx/import.js');
    const model = await importOnnx(target);
    return { f: await model.toFunction(), shapes: model.inputs.map((i) => batch(i.shape)) };
  }
  const file = existsSync(target) && statSync(target).isDirectory() ? path.join(target, 'model.json') : target;
  const { loadModel } = await import('../keras/files.js');
  const { plotModel } = await import('../keras/plot-model.js');
  const model = await loadModel(file);
  const f = model.makePredictFunction() as T.CompiledFunction<unknown>;
  const work = mkdtempSync(path.join(os.tmpdir(), 'tsano-studio-'));
  const plot = async () => {
    try {
      return await plotModel(model, path.join(work, 'model.html'), { showShapes: true, showParams: true });
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  };
  return { f, shapes: f.graph.inputs.map((x) => batch(x.shape)), plot };
}

/** Serves the pictures of `target` on 127.0.0.1 (`port` 0: any free port). */
export async function studio(target: string, port = 0): Promise<Studio> {
  await T.ready();
  const { f, shapes, plot } = await open(target);
  const zeros = shapes.map((s, k) => T.zeros(s, f.graph.inputs[k]!.dtype));
  const profile = f.profile(...zeros, { repeats: 5 });
  const name = path.basename(target);
  const pages: Page[] = [
    ...(plot ? [{ name: 'layers.html', title: 'layers (plotModel)', html: await plot() }] : []),
    {
      name: 'built.html',
      title: 'graph as built',
      html: await T.printGraph(f, { format: 'html', stage: 'built', title: `${name}: as built` }),
    },
    {
      name: 'optimized.html',
      title: 'graph optimized',
      html: await T.printGraph(f, { format: 'html', title: `${name}: optimized` }),
    },
    {
      name: 'profile.html',
      title: `profile (a call on zeros of shapes ${shapes.map((s) => `[${s.join(', ')}]`).join(', ')})`,
      html: await T.printGraph(f, {
        format: 'html',
        profile,
        title: `${name}: ${profile.meanCallMs.toFixed(3)} ms a call`,
      }),
    },
  ];
  const index = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>tsano studio: ${escape(name)}</title></head>
<body style="font: 14px Helvetica, Arial, sans-serif; margin: 24px"><h1>tsano studio</h1><p>${escape(target)}</p><ul>
${pages.map((p) => `<li><a href="${p.name}">${escape(p.title)}</a></li>`).join('\n')}
</ul></body></html>`;
  const byName = new Map(pages.map((p) => [p.name, p.html]));
  byName.set('', index);
  byName.set('index.html', index);
  const server: Server = createServer((request, response) => {
    const page = byName.get(path.posix.basename(new URL(request.url ?? '/', 'http://127.0.0.1').pathname));
    if (page === undefined) return void response.writeHead(404).end();
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
  return {
    url,
    pages: pages.map((p) => p.name),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
