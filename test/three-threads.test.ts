import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import { agreeF32 } from './helpers/agree.js';

// The process-wide pool is made by the first compile that wants threads: this file makes it with two
// helpers (more threads than the machine may have cores is still correct), so several helpers take
// chunks of one kernel from the same counter, and matmul bands and images split three ways.
process.env['TSANO_THREADS'] = '3';

describe('three threads: two helpers', () => {
  it('elementwise steps with copies, matmul and convolution agree with one thread and with the reference', async () => {
    const x = T.matrix('x');
    const w = T.matrix('w');
    const img = T.tensor4('img');
    const k = T.tensor('k', { shape: [3, 3, 8, 16] });
    const outputs = [
      T.sub(T.tanh(T.add(T.mul(x, 1.5), 0.5)), T.sigmoid(x)),
      T.relu(T.dot(x, w)),
      T.conv2d(img, k, { padding: 'same' }),
    ];
    const three = await T.compile([x, w, img, k], outputs);
    expect(three.stats.threads).toBe(3);
    process.env['TSANO_THREADS'] = '1';
    const one = await T.compile([x, w, img, k], outputs);
    process.env['TSANO_THREADS'] = '3';
    const js = await T.compile([x, w, img, k], outputs, { mode: 'js' });
    const args = [
      T.randomNormal([300, 700], { seed: 1, stddev: 3 }),
      T.randomNormal([700, 90], { seed: 2, stddev: 0.05 }),
      T.randomNormal([6, 20, 20, 8], { seed: 3 }),
      T.randomNormal([3, 3, 8, 16], { seed: 4, stddev: 0.2 }),
    ];
    const reference = js(...args);
    const single = one(...args);
    // Several calls: which thread takes which chunk changes between them; results must not.
    for (let call = 0; call < 3; call++) {
      const got = three(...args);
      expect(Array.from(got[0]!.data)).toEqual(Array.from(single[0]!.data));
      got.forEach((r, i) => expect(agreeF32(r.data, reference[i]!.data)).toBeUndefined());
    }
  });

  it('a float64 convolution and its gradients split three ways agree with the reference', async () => {
    const x = T.tensor('x', { shape: [null, 12, 12, 6], dtype: 'float64' });
    const k = T.tensor('k', { shape: [3, 3, 6, 16], dtype: 'float64' });
    const out = T.conv2d(x, k, { padding: 'same' });
    const outs = [out, ...T.grad(T.sum(T.mul(out, out)), [x, k])];
    const wasm = await T.compile([x, k], outs);
    const js = await T.compile([x, k], outs, { mode: 'js' });
    expect(wasm.stats.threads).toBe(3);
    const X = T.randomUniform([24, 12, 12, 6], { seed: 5, minval: -1, maxval: 1, dtype: 'float64' });
    const K = T.randomUniform([3, 3, 6, 16], { seed: 6, minval: -1, maxval: 1, dtype: 'float64' });
    const [a, b] = [wasm(X, K), js(X, K)];
    a.forEach((v, i) => expect(agreeF32(v.data, b[i]!.data, 1e-12, 1e-12)).toBeUndefined());
  });
});
