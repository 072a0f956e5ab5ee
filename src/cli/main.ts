#!/usr/bin/env node
import { runLogisticDemo } from '../demo/logistic.js';

const USAGE = `usage: tsano <command>

commands:
  demo        train a small convnet on the bundled MNIST digits with the Keras API, print test accuracy
  graph-demo  train a logistic regression defined with T.grad and updates, printing the loss per step
  info        print the keras.json in force, the backend, SIMD and thread support
  help    show this text`;

async function main(argv: readonly string[]): Promise<number> {
  const [command = 'help'] = argv;
  switch (command) {
    case 'demo': {
      const { runMnistDemo } = await import('../demo/mnist.js');
      await runMnistDemo();
      return 0;
    }
    case 'graph-demo':
      await runLogisticDemo();
      return 0;
    case 'info': {
      // Loading tsano/keras reads keras.json exactly as a user's program would.
      const { loadKerasConfig } = await import('../keras/config.js');
      const { threadCount } = await import('../../runtime/wasm/threads.js');
      const config = loadKerasConfig();
      // A one-function module using v128: validates only where SIMD128 is supported.
      const simd = WebAssembly.validate(
        new Uint8Array([
          0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11,
        ]),
      );
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
            threads: threadCount(),
          },
          null,
          2,
        ),
      );
      for (const w of config.warnings) console.error(w);
      return 0;
    }
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return 0;
    default:
      console.error(`tsano: unknown command '${command}'\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (error: unknown) => {
    console.error(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
    process.exitCode = 1;
  },
);
