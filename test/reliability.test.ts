import { describe, expect, it } from 'vitest';
import * as T from 'tsano';

const MODES = ['js', 'wasm'] as const;
const HERE = /reliability\.test\.ts:\d+:\d+/;

/** Runs `f`, returning its error and how long it took to fail. */
async function failure(f: () => unknown): Promise<{ error: Error; ms: number }> {
  const started = performance.now();
  try {
    await f();
  } catch (error) {
    return { error: error as Error, ms: performance.now() - started };
  }
  throw new Error('expected an error');
}

describe('sizes nobody can allocate are refused at once, with the size', () => {
  it('array constructors', async () => {
    for (const [make, name] of [
      [() => T.zeros([1e9, 1e9]), 'zeros'],
      [() => T.ones([3e9]), 'ones'],
      [() => T.randomNormal([1e5, 1e5]), 'randomNormal'],
      [() => T.randomUniform([1e5, 1e5], { dtype: 'float64' }), 'randomUniform'],
    ] as const) {
      const { error, ms } = await failure(make);
      expect(error).toBeInstanceOf(T.ShapeError);
      expect(error.message).toMatch(
        new RegExp(
          `^${name}: shape \\[.*\\] has [\\d.e]+ elements of float(32|64) \\([\\d.]+ [GT]iB\\), more than one array may hold \\(2 GiB\\)`,
        ),
      );
      expect(ms).toBeLessThan(100);
    }
  });

  it('symbolic shapes and the nodes built on them, at build time, naming the op', async () => {
    expect(() => T.tensor('huge', { shape: [null, 1e6, 1e6] })).toThrow(
      /tensor\('huge'\): shape \[\?, 1000000, 1000000\] has 1e12 elements/,
    );
    const a = T.tensor('a', { shape: [100000] });
    const { error } = await failure(() => T.outer(a, a));
    expect(error).toBeInstanceOf(T.ShapeError);
    expect(error.message).toMatch(/the result \[100000, 100000\] would have 1e10 elements of float32 \(37\.3 GiB\)/);
    expect(error.message).toMatch(HERE);
  });

  for (const mode of MODES) {
    it(`a result too large at call time (pad to 2e9 elements), ${mode}`, async () => {
      const x = T.vector('x');
      const f = await T.compile([x], T.pad(x, [[0, 2e9]]), { mode });
      const { error, ms } = await failure(() => f([1, 2]));
      expect(error).toBeInstanceOf(T.ShapeError);
      expect(error.message).toMatch(/pad\(x\): the result would have 2e9 elements of float32 \(7\.45 GiB\)/);
      expect(error.message).toMatch(HERE);
      expect(ms).toBeLessThan(1000);
    });
  }
});

describe('values that are not numbers', () => {
  it('strings as input values are a DTypeError that says so', async () => {
    const x = T.vector('x');
    const f = await T.compile([x], T.exp(x));
    expect(() => f(['1', '2'] as never)).toThrow(T.DTypeError);
    expect(() => f(['1', '2'] as never)).toThrow(
      /input 0 \(x\): arrays hold numbers or booleans, found the string "1"/,
    );
    expect(() =>
      T.array([
        [1, 2],
        [3, {}],
      ] as never),
    ).toThrow(/found an object at depth 2/);
  });
});

describe('errors inside fused kernels name the user expression and line', () => {
  for (const mode of MODES) {
    it(mode, async () => {
      const x = T.vector('x');
      const y = T.vector('y');
      const f = await T.compile([x, y], T.exp(T.add(T.mul(x, 2), y)), { mode });
      expect(f.stats.rewrites['elementwise_fusion']).toBe(1);
      const { error } = await failure(() => f([1, 2, 3], [1, 2, 3, 4]));
      expect(error).toBeInstanceOf(T.ShapeError);
      expect(error.message).toMatch(
        /^exp\(add\(mul\(x, 2\), y\)\): shapes \[3\] and \[4\] cannot be broadcast \(at call time: x is \[3\], 2 is \[\], y is \[4\]\)/,
      );
      expect(error.message).toMatch(HERE);
      expect(error.message).not.toMatch(/fused|id \d/);
    });
  }
});

describe('the NaN guard', () => {
  for (const mode of MODES) {
    it(`names the first op that produced a NaN, where it was built, and its operands (${mode})`, async () => {
      const x = T.vector('x');
      const y = T.mul(T.sqrt(T.log(T.add(x, 1))), 2);
      const guarded = await T.compile([x], T.sum(y), { mode, nanGuard: true });
      expect(guarded.stats.nanGuard).toBe(true);
      expect(guarded([1, 2, 3]).item()).toBeCloseTo(2 * [2, 3, 4].reduce((s, v) => s + Math.sqrt(Math.log(v)), 0), 4);
      const { error } = await failure(() => guarded([1, 2, -0.5]));
      expect(error).toBeInstanceOf(T.NanError);
      expect(error.message).toMatch(
        /^nanGuard: sqrt\(log1p\(x\)\) produced NaN at element 2 \(1 of 3 elements not finite\); its operands: log1p\(x\) is float32 \[3\], min -0\.69\d+, max 1\.09\d+/,
      );
      expect(error.message).toMatch(HERE);
      // Off by default: the NaN flows through, as it does in NumPy and Theano.
      const plain = await T.compile([x], T.sum(y), { mode });
      expect(plain.stats.nanGuard).toBe(false);
      expect(plain([1, 2, -0.5]).item()).toBeNaN();
    });

    it(`catches NaN in inputs, shared variables and constants such as log(-1) (${mode})`, async () => {
      const x = T.vector('x');
      const f = await T.compile([x], T.exp(x), { mode, nanGuard: true });
      await expect(failure(() => f([1, NaN])).then((r) => r.error.message)).resolves.toMatch(
        /input 0 \(x\) holds NaN at element 1/,
      );
      const w = T.shared(T.array([1, Infinity]), 'w');
      const g = await T.compile([x], T.add(x, w), { mode, nanGuard: true });
      await expect(failure(() => g([1, 2])).then((r) => r.error.message)).resolves.toMatch(
        /the shared variable w holds Infinity at element 1/,
      );
      const h = await T.compile([x], T.add(x, T.log(T.constant(-1))), { mode, nanGuard: true });
      const { error } = await failure(() => h([1]));
      expect(error.message).toMatch(/a constant \(NaN, folded or written\) holds NaN/);
      expect(error.message).toMatch(HERE);
    });
  }

  it('TSANO_NANGUARD=1 turns it on at compile time; unknown compile options are refused', async () => {
    const x = T.vector('x');
    process.env['TSANO_NANGUARD'] = '1';
    try {
      const f = await T.compile([x], T.log(x));
      expect(() => f([-1])).toThrow(T.NanError);
    } finally {
      delete process.env['TSANO_NANGUARD'];
    }
    await expect(T.compile([x], x, { nanguard: true } as never)).rejects.toThrow(
      /compile: unknown option 'nanguard' \(known: .*nanGuard/,
    );
  });
});

describe('the profiler', () => {
  for (const mode of MODES) {
    it(`reports every step with its kernel, the user's ops, time, share and rate (${mode})`, async () => {
      const x = T.matrix('x');
      const w = T.shared(T.randomNormal([16, 8], { seed: 1 }), 'w');
      const f = await T.compile([x], T.sum(T.exp(T.mul(T.tanh(T.dot(x, w)), 0.5)), 1), { mode });
      const data = T.randomNormal([32, 16], { seed: 2 });
      const p = f.profile(data, { repeats: 7 });
      expect(p.calls).toBe(7);
      expect(p.steps).toHaveLength(f.program.steps.length);
      const shares = p.steps.reduce((s, st) => s + st.share, 0);
      expect(shares).toBeGreaterThan(0);
      expect(shares).toBeLessThanOrEqual(1.0001);
      for (const st of p.steps) {
        expect(st.calls).toBe(7);
        expect(st.meanMs).toBeCloseTo(st.totalMs / 7, 9);
        expect(st.kernel).toMatch(mode === 'wasm' ? /^wasm / : /^reference /);
      }
      const product = p.steps.find((st) => /dot\(x, w\)/.test(st.ops))!;
      expect(product.gflops).toBeGreaterThan(0);
      expect(product.shape).toEqual([32, 8]);
      expect(p.steps.filter((st) => st !== product).every((st) => st.gbps !== undefined)).toBe(true);
      // The same values as a plain call: profiling runs the function itself.
      expect(Array.from(f(data).data)).toEqual(Array.from(f(data).data));
      const lines: string[] = [];
      const text = T.printProfile(p, { print: (t) => lines.push(t) });
      expect(lines).toEqual([text]);
      expect(text).toMatch(/^Profile: 7 calls, [\d.]+ ms in all/);
      expect(text).toMatch(/GFLOPS .*dot\(x, w\)/);
      expect(() => f.profile(data, { repeats: 0 })).toThrow(/repeats must be an integer >= 1/);
    });
  }

  it('Keras models profile their predict and training functions', async () => {
    const keras = await import('tsano/keras');
    const model = keras.sequential({
      layers: [keras.layers.dense({ units: 4, activation: 'relu', inputShape: [3] }), keras.layers.dense({ units: 2 })],
    });
    model.compile({ optimizer: 'sgd', loss: 'mse' });
    const x = T.randomNormal([5, 3], { seed: 1 });
    const predict = await model.profilePredict(x, { repeats: 3 });
    expect(predict.calls).toBe(3);
    expect(predict.steps.some((s) => s.gflops !== undefined)).toBe(true);
    const train = await model.profileTrain(x, T.zeros([5, 2]), { repeats: 2 });
    expect(train.calls).toBe(2);
    expect(train.steps.length).toBeGreaterThan(predict.steps.length);
  });
});

describe('array constructors check their options', () => {
  it('unknown options, impossible values and dtypes are ConfigError or DTypeError naming the option', () => {
    expect(() => T.randomNormal([2], { stdev: 2 } as never)).toThrow(
      /randomNormal: unknown option 'stdev' \(known: seed, dtype, mean, stddev\)/,
    );
    expect(() => T.randomNormal([2], { stddev: -1 })).toThrow(/stddev must be >= 0, got -1/);
    expect(() => T.randomNormal([2], { mean: NaN })).toThrow(/mean must be a finite number/);
    expect(() => T.randomUniform([2], { minval: 3, maxval: 1 })).toThrow(/minval 3 is above maxval 1/);
    expect(() => T.randomUniform([2], { seed: 1.5 })).toThrow(/seed must be an integer, got 1.5/);
    expect(() => T.zeros([2], 'float16' as never)).toThrow(T.DTypeError);
    expect(() => T.array([1, 2], { dtyp: 'float64' } as never)).toThrow(/unknown option 'dtyp'/);
    expect(() => T.zeros([2, -1])).toThrow(/zeros: shape must list non-negative integers, got \[2,-1\]/);
  });
});
