#!/usr/bin/env node
import { existsSync, realpathSync, statSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { runLogisticDemo } from '../demo/logistic.js';

/** A positive integer option (commander hands options over as strings). */
function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a positive integer, got '${value}'`);
  return n;
}

/** What `tsano info` prints: the keras.json in force and what this engine supports. */
async function info(): Promise<void> {
  // Loading tsano/keras reads keras.json exactly as a user's program would.
  const { loadKerasConfig } = await import('../keras/config.js');
  const { threadCount } = await import('../../runtime/wasm/threads.js');
  const config = loadKerasConfig();
  // One-function modules using v128, and f32x4.relaxed_madd (after the flag Node 20 needs for it):
  // each validates only where the engine supports it.
  const simd = WebAssembly.validate(
    new Uint8Array([
      0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11,
    ]),
  );
  const v8 = await import('node:v8');
  v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  const v128Zero = [253, 12, ...new Array<number>(16).fill(0)];
  const body = [0, ...v128Zero, ...v128Zero, ...v128Zero, 253, 133, 2, 11];
  const relaxed = WebAssembly.validate(
    new Uint8Array([
      0,
      97,
      115,
      109,
      1,
      0,
      0,
      0,
      1,
      5,
      1,
      96,
      0,
      1,
      123,
      3,
      2,
      1,
      0,
      10,
      body.length + 2,
      1,
      body.length,
      ...body,
    ]),
  );
  const os = await import('node:os');
  console.log(
    JSON.stringify(
      {
        kerasJson: config.file,
        floatx: config.floatx,
        epsilon: config.epsilon,
        imageDataFormat: config.imageDataFormat,
        backend: config.backend,
        node: process.version,
        wasmSimd: simd,
        relaxedSimd: relaxed,
        threads: threadCount(),
        sharedMemory: typeof SharedArrayBuffer === 'function',
        moduleCache:
          process.env['TSANO_CACHE'] === 'off'
            ? 'off'
            : process.env['TSANO_CACHE'] || path.join(os.homedir(), '.cache', 'tsano'),
      },
      null,
      2,
    ),
  );
  for (const w of config.warnings) console.error(w);
}

const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;

/** `tsano export`: a saved model (its folder, model.json, .keras or .h5) as a standalone export or an ONNX file. */
async function exportSaved(
  model: string,
  out: string,
  options: { batchSize: number; overwrite?: boolean; format: string; opset?: number },
): Promise<void> {
  const file = existsSync(model) && statSync(model).isDirectory() ? path.join(model, 'model.json') : model;
  const { loadModel } = await import('../keras/files.js');
  const loaded = await loadModel(file);
  if (options.format === 'onnx') {
    const { exportOnnx } = await import('../onnx/export.js');
    const target = existsSync(out) && statSync(out).isDirectory() ? path.join(out, 'model.onnx') : out;
    const summary = await exportOnnx(loaded, target, options.opset ? { opset: options.opset } : {});
    const ops = Object.entries(summary.ops)
      .map(([op, n]) => `${op} ${n}`)
      .join(', ');
    console.log(`exported ${file} to ${target} (${kb(summary.bytes)}, opset ${summary.opset}): ${ops}`);
    return;
  }
  const { exportModel } = await import('../export/index.js');
  const { bytes } = await exportModel(loaded, out, {
    batchSize: options.batchSize,
    overwrite: options.overwrite ?? false,
  });
  console.log(
    `exported ${file} to ${out}/: model.wasm ${kb(bytes.wasm)}, weights.bin ${kb(bytes.weights)}, model.mjs ${kb(bytes.loader)}, model.d.ts, manifest.json`,
  );
}

/** `tsano import-onnx`: an ONNX model as a standalone wasm export (the batch axis fixed to `batchSize`). */
async function importOnnxModel(file: string, out: string, options: { batchSize: number; overwrite?: boolean }) {
  const { importOnnx } = await import('../onnx/import.js');
  const { exportFunction } = await import('../export/index.js');
  const model = await importOnnx(file);
  const shapes = model.inputs.map((input) =>
    input.shape.map((d, axis) => {
      if (d !== null) return d;
      if (axis === 0) return options.batchSize;
      throw new Error(
        `input '${input.name}' has a size known only at call time on axis ${axis} (${input.params[axis] ?? 'unnamed'}); only the batch axis can be fixed here`,
      );
    }),
  );
  const f = await model.toFunction();
  const { bytes } = await exportFunction(f, out, {
    shapes: [shapes],
    inputNames: model.inputs.map((i) => i.name),
    outputNames: model.outputs.map((o) => o.name),
    overwrite: options.overwrite ?? false,
  });
  console.log(
    `imported ${file} (opset ${model.opset}) and exported it to ${out}/ for inputs ${shapes.map((s) => `[${s.join(', ')}]`).join(', ')}: model.wasm ${kb(bytes.wasm)}, weights.bin ${kb(bytes.weights)}, model.mjs ${kb(bytes.loader)}`,
  );
}

/** `tsano info <file.onnx>`: an ONNX model's inputs, outputs, opset and op types. */
async function onnxInfo(file: string): Promise<void> {
  const { readFileSync } = await import('node:fs');
  const { decodeModel } = await import('../onnx/schema.js');
  const { importOnnx } = await import('../onnx/import.js');
  const proto = decodeModel(readFileSync(file), file);
  const ops: Record<string, number> = {};
  for (const n of proto.graph!.node) ops[n.op_type] = (ops[n.op_type] ?? 0) + 1;
  const tensor = (t: {
    name: string;
    dtype: string;
    shape: readonly (number | null)[];
    params: readonly (string | null)[];
  }) => `${t.name}: ${t.dtype} [${t.shape.map((d, i) => d ?? t.params[i] ?? '?').join(', ')}]`;
  const opsets = proto.opset_import.map((o) => `${o.domain || 'ai.onnx'} ${o.version}`).join(', ');
  console.log(
    `${file}: ONNX IR ${proto.ir_version}, opset ${opsets}, made by ${proto.producer_name || 'unknown'} ${proto.producer_version}`,
  );
  console.log(
    `ops: ${Object.entries(ops)
      .map(([op, n]) => `${op} ${n}`)
      .join(', ')}`,
  );
  try {
    const model = await importOnnx(file);
    console.log(`inputs: ${model.inputs.map(tensor).join('; ')}`);
    console.log(`outputs: ${model.outputs.map(tensor).join('; ')}`);
    console.log('tsano reads every op of it');
  } catch (e) {
    console.log(`tsano cannot read it yet: ${(e as Error).message}`);
  }
}

/** `tsano bench`: the benchmark script of a source checkout (it compares against peers installed as devDependencies). */
async function bench(args: readonly string[]): Promise<void> {
  const script = new URL('../../bench/run.js', import.meta.url);
  if (!existsSync(script))
    throw new Error('the benchmarks are part of a source checkout: run `npm run bench` there (it builds them first)');
  const { execFileSync } = await import('node:child_process');
  execFileSync(process.execPath, [script.pathname, ...args], { stdio: 'inherit' });
}

export function cli(): Command {
  const program = new Command('tsano')
    .description('Theano-style symbolic graphs compiled to WebAssembly, with a Keras-compatible layer API')
    .showHelpAfterError()
    .exitOverride();
  program
    .command('demo')
    .description('train a small convnet on the bundled MNIST digits with the Keras API, export it and run the export')
    .option('--epochs <n>', 'epochs to train (default 10, or 3 with --rnn)', positiveInteger)
    .option('--rnn', 'instead, an LSTM reading each digit row by row (28 steps of 28 pixels)')
    .option(
      '--transformer',
      "instead, a character-level transformer trained on the repository's docs, then a generated sample",
    )
    .option('--steps <n>', 'training steps of the transformer (default 300)', positiveInteger)
    .action(async (options: { epochs?: number; rnn?: boolean; transformer?: boolean; steps?: number }) => {
      if (options.transformer) {
        const { runTransformerDemo } = await import('../demo/transformer.js');
        await runTransformerDemo({ steps: options.steps ?? 300 });
        return;
      }
      if (options.rnn) {
        const { runRnnDemo } = await import('../demo/rnn.js');
        await runRnnDemo({ epochs: options.epochs ?? 3 });
        return;
      }
      const { runMnistDemo } = await import('../demo/mnist.js');
      await runMnistDemo({ epochs: options.epochs ?? 10 });
    });
  program
    .command('graph-demo')
    .description('train a logistic regression defined with T.grad and updates, printing the loss per step')
    .action(async () => {
      await runLogisticDemo();
    });
  program
    .command('info')
    .description(
      'print the keras.json in force, the backend, SIMD, relaxed SIMD and thread support, the cache folder; or, given an .onnx file, its inputs, outputs, opset and ops',
    )
    .argument('[file]', 'an ONNX model to describe')
    .action((file?: string) => (file ? onnxInfo(file) : info()));
  program
    .command('export')
    .description('export a saved model as a standalone wasm module and loader, or as an ONNX model')
    .argument('<model>', 'the saved model: its folder, its model.json, a .keras or an .h5 file')
    .argument(
      '<outdir>',
      'the folder to write (new, empty, or a previous export); with --format onnx, the .onnx file or its folder',
    )
    .option('--overwrite', "write the export's files into a folder that holds other files (they are left as they are)")
    .option(
      '--batch-size <n>',
      'the batch the exported plan runs (predict takes any number of rows)',
      positiveInteger,
      32,
    )
    .addOption(
      new Option('--format <format>', 'wasm (a standalone module and loader) or onnx (an ONNX model file)')
        .choices(['wasm', 'onnx'])
        .default('wasm'),
    )
    .option('--opset <n>', 'the ONNX opset, 17 to 21 (with --format onnx)', positiveInteger)
    .action(exportSaved);
  program
    .command('import-onnx')
    .description('read an ONNX model and export it as a standalone wasm module and loader')
    .argument('<file>', 'the .onnx file (external data beside it)')
    .argument('<outdir>', 'the folder to write: new, empty, or a previous export')
    .option('--batch-size <n>', 'the size the export fixes for a symbolic batch axis', positiveInteger, 1)
    .option('--overwrite', "write the export's files into a folder that holds other files")
    .action(importOnnxModel);
  program
    .command('studio')
    .description(
      "serve a model's pictures on 127.0.0.1: its layers, its graph as built and optimized, and a profile on the graph",
    )
    .argument('<model>', 'a saved model (its folder, model.json, a .keras or .h5 file) or an .onnx file')
    .option('--port <n>', 'the port (default: any free one)', positiveInteger)
    .action(async (model: string, options: { port?: number }) => {
      const { studio } = await import('./studio.js');
      const served = await studio(model, options.port ?? 0);
      console.log(`tsano studio: ${served.url} (${served.pages.join(', ')}); Ctrl-C stops it`);
      await new Promise<void>((resolve) => process.once('SIGINT', () => void served.close().then(resolve)));
    });
  program
    .command('bench')
    .description('run the benchmarks against TensorFlow.js and jax-js (source checkout)')
    .option('--quick', 'three runs instead of eleven')
    .option('--only <text>', 'only the workloads whose name contains the text')
    .action((options: { quick?: boolean; only?: string }) =>
      bench([...(options.quick ? ['--quick'] : []), ...(options.only ? ['--only', options.only] : [])]),
    );
  return program;
}

/** Runs the command line; resolves to the exit code (0, 1 for a failed command, 2 for wrong usage). */
export async function main(argv: readonly string[]): Promise<number> {
  const program = cli();
  if (argv.length === 0) {
    program.outputHelp();
    return 0;
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    console.error(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
    return 1;
  }
}

// Run when executed (the `tsano` bin, through its symlink too), not when imported by a test.
if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  main(process.argv.slice(2)).then((code) => (process.exitCode = code));
}
