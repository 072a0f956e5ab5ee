import v8 from 'node:v8';
import vm from 'node:vm';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import { threadPool } from '../runtime/wasm/threads.js';

// This file's process makes the pool with one helper, and can force garbage collections.
process.env['TSANO_THREADS'] = '2';
v8.setFlagsFromString('--expose-gc');
const collect = vm.runInNewContext('gc') as () => void;

describe('the thread pool', () => {
  it('helpers drop the modules (and memories) of compiled functions that were garbage collected', async () => {
    const X = T.randomUniform([1 << 17], { seed: 1 });
    // Each function splits its kernel with the helper, which instantiates its module on its memory.
    const compileAndRun = async (i: number) => {
      const x = T.vector('x');
      const f = await T.compile([x], T.add(T.mul(x, i + 2), 1));
      expect(f.stats.threads).toBe(2);
      expect(f(X).data[0]).toBeCloseTo(X.data[0]! * (i + 2) + 1, 4);
    };
    for (let i = 0; i < 40; i++) await compileAndRun(i);
    const pool = threadPool()!;
    expect(pool.heldModules[0]).toBeGreaterThanOrEqual(20);
    // The functions are gone: collected here, their finalizers post drops, and the helper applies them
    // (and collects) before its next job.
    for (let round = 0; round < 3; round++) {
      collect();
      await sleep(20);
    }
    await compileAndRun(100);
    expect(pool.heldModules[0]).toBeLessThanOrEqual(3);
  });
});
