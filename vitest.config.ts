import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Tests import the package by its public name, as users do, but run against the sources.
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      { find: /^tsano$/, replacement: here('./src/index.ts') },
      { find: /^tsano\/keras$/, replacement: here('./src/keras/index.ts') },
      { find: /^tsano\/export$/, replacement: here('./src/export/index.ts') },
      { find: /^tsano\/tf$/, replacement: here('./src/eager/index.ts') },
      { find: /^tsano\/onnx$/, replacement: here('./src/onnx/index.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    // Check graph invariants after every optimizer phase.
    // Keras's configuration comes from a private folder, not the user's ~/.keras.
    // Never the disk cache: a module cached by an older build of the code generator would hide changes.
    env: {
      TSANO_VERIFY: '1',
      TSANO_CACHE: 'off',
      KERAS_HOME: fileURLToPath(new URL('./test/.generated/keras-home/', import.meta.url)),
    },
    testTimeout: 60_000,
  },
});
