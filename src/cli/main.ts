#!/usr/bin/env node
import { existsSync, realpathSync, statSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
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

/** `tsano export`: a saved model (its folder, or its model.json) as a standalone export. */
async function exportSaved(
  model: string,
  out: string,
  options: { batchSize: number; overwrite?: boolean },
): Promise<void> {
  const file = existsSync(model) && statSync(model).isDirectory() ? path.join(model, 'model.json') : model;
  const { loadModel } = await import('../keras/files.js');
  const { exportModel } = await import('../export/index.js');
  const loaded = await loadModel(file);
  const { bytes } = await exportModel(loaded, out, {
    batchSize: options.batchSize,
    overwrite: options.overwrite ?? false,
  });
  const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
  console.log(
    `exported ${file} to ${out}/: model.wasm ${kb(bytes.wasm)}, weights.bin ${kb(bytes.weights)}, model.mjs ${kb(bytes.loader)}, model.d.ts, manifest.json`,
  );
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
    .description('print the keras.json in force, the backend, SIMD, relaxed SIMD and thread support, the cache folder')
    .action(info);
  program
    .command('export')
    .description('export a saved model (TensorFlow.js layers format) as a standalone wasm module and loader')
    .argument('<model>', 'the saved model: its folder or its model.json')
    .argument('<outdir>', 'the folder to write: new, empty, or a previous export (whose files are replaced)')
    .option(
      '--overwrite',
      "write the export's five files into a folder that holds other files (they are left as they are)",
    )
    .option(
      '--batch-size <n>',
      'the batch the exported plan runs (predict takes any number of rows)',
      positiveInteger,
      32,
    )
    .action(exportSaved);
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
