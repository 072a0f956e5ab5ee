import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import { printKernels, printProgram } from '../compiler/schedule/program.js';

// Golden printouts of what three compiled functions run: the optimized graph, the scheduled steps and
// the kernels. A refactor that changes none of them shows no diff; one that does shows exactly what
// changed. TSANO_UPDATE_GOLDEN=1 rewrites the files (review the diff before committing it).
const golden = (name: string) => fileURLToPath(new URL(`./golden/${name}.txt`, import.meta.url));

function matchesGolden(name: string, f: T.CompiledFunction<unknown>): void {
  const text = [
    `# ${name}: optimized graph`,
    T.debugprint(f, { file: 'str' }).trimEnd(),
    '',
    '# steps',
    printProgram(f.program),
    '',
    '# kernels',
    printKernels(f.program),
    '',
  ].join('\n');
  if (process.env['TSANO_UPDATE_GOLDEN'] === '1') writeFileSync(golden(name), text);
  expect(text).toBe(readFileSync(golden(name), 'utf8'));
}

const glorot = (shape: [number, number], seed: number) =>
  T.shared(T.randomUniform(shape, { seed, minval: -0.1, maxval: 0.1 }), `w${seed}`);

describe('golden printouts of compiled programs', () => {
  it('an MLP training step (784-64-10, softmax crossentropy, SGD with momentum)', async () => {
    const x = T.matrix('x');
    const y = T.matrix('y');
    const [w1, w2] = [glorot([784, 64], 1), glorot([64, 10], 2)];
    const b1 = T.shared(T.zeros([64]), 'b1');
    const b2 = T.shared(T.zeros([10]), 'b2');
    const logits = T.add(T.dot(T.relu(T.add(T.dot(x, w1), b1)), w2), b2);
    const p = T.softmax(logits);
    const cost = T.mean(T.neg(T.sum(T.mul(y, T.log(T.clip(p, 1e-7, 1 - 1e-7))), -1)));
    const params = [w1, w2, b1, b2];
    const grads = T.grad(cost, params);
    const velocities = params.map((w, i) => T.shared(T.zeros(w.get().shape as number[]), `v${i}`));
    const updates = params.flatMap((w, i): [T.Node, T.Node][] => {
      const v = T.sub(T.mul(velocities[i]!, 0.9), T.mul(grads[i]!, 0.01));
      return [
        [velocities[i]!, v],
        [w, T.add(w, v)],
      ];
    });
    matchesGolden('mlp-train-step', await T.compile([x, y], cost, { updates }));
  });

  it('a CNN forward pass (conv-relu-pool twice, dense, softmax)', async () => {
    const img = T.tensor('img', { shape: [null, 28, 28, 1] });
    const conv = (x: T.Node, cin: number, cout: number, seed: number) =>
      T.maxPool2d(
        T.relu(
          T.add(
            T.conv2d(x, T.shared(T.randomNormal([3, 3, cin, cout], { seed, stddev: 0.1 }), `k${seed}`), {
              padding: 'same',
              dataFormat: 'channelsLast',
            }),
            T.shared(T.zeros([cout]), `c${seed}`),
          ),
        ),
        { poolSize: 2, dataFormat: 'channelsLast' },
      );
    const h = T.reshape(conv(conv(img, 1, 8, 1), 8, 16, 2), [-1, 7 * 7 * 16]);
    matchesGolden(
      'cnn-forward',
      await T.compile([img], T.softmax(T.add(T.dot(h, glorot([784, 10], 3)), T.shared(T.zeros([10]), 'd')))),
    );
  });

  it("PERFORMANCE.md's elementwise chain", async () => {
    const x = T.vector('x');
    matchesGolden(
      'elementwise-chain',
      await T.compile([x], T.sub(T.mul(T.tanh(T.add(T.mul(x, 1.5), 0.5)), T.sigmoid(x)), T.log(T.add(1, T.exp(x))))),
    );
  });
});
