import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import { setEpsilonValue } from '../runtime/config.js';

describe('T.compile: updates, givens and shared variables', () => {
  it('updates apply after outputs, all at once: an update reading another updated variable sees the old value', async () => {
    const a = T.shared(T.array([1], { dtype: 'float64' }), 'a');
    const b = T.shared(T.array([10], { dtype: 'float64' }), 'b');
    // swap a and b, and return a + b as computed before the swap
    const f = await T.compile([], T.add(a, b), {
      updates: [
        [a, b],
        [b, a],
      ],
    });
    const out = f();
    expect(out.toArray()).toEqual([11]);
    expect(a.get().toArray()).toEqual([10]);
    expect(b.get().toArray()).toEqual([1]);
    f();
    expect(a.get().toArray()).toEqual([1]);
  });

  it('an accumulator keeps state across calls, and set() is seen by the next call', async () => {
    const total = T.shared(T.array(0, { dtype: 'float64' }), 'total');
    const x = T.scalar('x', 'float64');
    const step = await T.compile([x], total, { updates: [[total, T.add(total, x)]] });
    expect(step(2).item()).toBe(0);
    expect(step(3).item()).toBe(2);
    expect(total.get().item()).toBe(5);
    total.set(100);
    expect(step(1).item()).toBe(100);
    expect(total.get().item()).toBe(101);
  });

  it('a function keeps updated shared values in its wasm memory; set(), other functions and get() still see the newest value', async () => {
    const w = T.shared(T.array([1, 2, 3, 4, 5]), 'w');
    const f = await T.compile([], T.sum(w), { updates: [[w, T.add(w, 1)]], mode: 'wasm' });
    const g = await T.compile([], T.sum(w), { updates: [[w, T.mul(w, 2)]], mode: 'wasm' });
    const read = await T.compile([], T.mul(w, 1), { mode: 'wasm' });
    expect(f().item()).toBe(15);
    expect(f().item()).toBe(20); // w = [2..6], kept in f's memory
    const snapshot = w.get();
    expect(snapshot.toArray()).toEqual([3, 4, 5, 6, 7]);
    expect(read().toArray()).toEqual([3, 4, 5, 6, 7]);
    expect(g().item()).toBe(25); // g reads f's newest value, then keeps w * 2
    expect(f().item()).toBe(50); // f reads g's value
    expect(snapshot.toArray()).toEqual([3, 4, 5, 6, 7]); // an earlier get() never changes
    w.set([0, 0, 0, 0, 1]);
    expect(f().item()).toBe(1);
    expect(read().toArray()).toEqual([1, 1, 1, 1, 2]);
    expect(w.get().toArray()).toEqual([1, 1, 1, 1, 2]);
  });

  it('outputs do not alias shared state', async () => {
    const w = T.shared(T.array([1, 2], { dtype: 'float64' }), 'w');
    const f = await T.compile([], w, { updates: [[w, T.mul(w, 2)]] });
    const first = f();
    f();
    expect(first.toArray()).toEqual([1, 2]);
  });

  it('an output listed twice comes back as two arrays, in both modes and for results copied straight out of wasm memory', async () => {
    const x = T.vector('x');
    const y = T.tanh(T.mul(x, 2));
    const X = T.randomUniform([1 << 17], { seed: 1, minval: -3, maxval: 3 });
    for (const mode of ['js', 'wasm'] as const) {
      const f = await T.compile([x], [y, y], { mode });
      const [a, b] = f(X);
      expect(a).not.toBe(b);
      expect(Array.from(b!.data)).toEqual(Array.from(a!.data));
      const before = b!.data[0];
      a!.data[0] = 123;
      expect(b!.data[0]).toBe(before);
    }
  });

  it('givens replaces a variable by an expression', async () => {
    const x = T.vector('x', 'float64');
    const y = T.vector('y', 'float64');
    const z = T.mul(x, 3);
    const f = await T.compile([y], z, { givens: [[x, T.add(y, 1)]] });
    expect(f([1, 2]).toArray()).toEqual([6, 9]);
  });

  it('givens can replace a shared variable (e.g. to evaluate with other weights)', async () => {
    const w = T.shared(T.array([1, 1], { dtype: 'float64' }), 'w');
    const x = T.vector('x', 'float64');
    const f = await T.compile([x], T.dot(x, w), { givens: [[w, T.mul(x, 0)]] });
    expect(f([3, 4]).item()).toBe(0);
  });

  it('several outputs come back as an array in order; an empty output list returns []', async () => {
    const x = T.vector('x', 'float64');
    const f = await T.compile([x], [T.sum(x), T.max(x)]);
    const [s, m] = f([1, 5, 2]);
    expect(s!.item()).toBe(8);
    expect(m!.item()).toBe(5);
    const c = T.shared(T.array(0, { dtype: 'float64' }), 'c');
    const g = await T.compile([], [], { updates: [[c, T.add(c, 1)]] });
    expect(g()).toEqual([]);
    expect(c.get().item()).toBe(1);
  });

  it('a float64 update expression is stored in a float32 shared variable', async () => {
    const w = T.shared(T.array([1, 2]), 'w');
    const f = await T.compile([], [], { updates: [[w, T.mul(w, T.constant(0.1, 'float64'))]] });
    f();
    expect(w.get().dtype).toBe('float32');
    expect(Array.from(w.get().data)).toEqual([0.1, 0.2].map(Math.fround));
  });

  it('stats and graph describe what was compiled', async () => {
    const x = T.vector('x');
    const f = await T.compile([x], T.exp(x));
    expect(f.stats.mode).toBe('wasm');
    expect(f.stats.kernels).toBe(1);
    expect(f.stats.wasmKernels).toBe(1);
    expect(f.stats.compileTimeMs).toBeGreaterThanOrEqual(0);
    expect(f.graph.outputs[0]!.op).toBe('exp');
  });

  it('calls accept numbers, nested arrays, typed arrays and NDArrays; lossless dtype changes are accepted', async () => {
    const x = T.vector('x', 'float64');
    const f = await T.compile([x], T.sum(x));
    expect(f([1, 2]).item()).toBe(3);
    expect(f(new Float64Array([1, 2])).item()).toBe(3);
    expect(f(new Float32Array([1, 2])).item()).toBe(3);
    expect(f(T.array([1, 2], { dtype: 'int32' })).item()).toBe(3);
  });
});

describe('compiled module cache', () => {
  it('compiling the same function again reuses the compiled module', async () => {
    const x = T.vector('x');
    const first = await T.compile([x], T.tanh(T.mul(x, 3.25)));
    const again = await T.compile([x], T.tanh(T.mul(x, 3.25)));
    expect(first.stats.moduleCache).toBeDefined();
    expect(again.stats.moduleCache).toBe('memory');
    expect(Array.from(again([0.5]).data)).toEqual(Array.from(first([0.5]).data));
  });

  it('compiling the same expression again reuses the optimized program, unless the options or epsilon differ', async () => {
    const x = T.vector('x');
    const normalized = T.div(x, T.sqrt(T.sum(T.square(x))));
    const first = await T.compile([x], normalized);
    const again = await T.compile([x], normalized);
    expect(again.program).toBe(first.program);
    expect(again.graph.outputs[0]).toBe(first.graph.outputs[0]);
    expect(Array.from(again([3, 4]).data)).toEqual(Array.from(first([3, 4]).data));
    expect((await T.compile([x], normalized, { exclude: ['stabilize'] })).program).not.toBe(first.program);
    expect((await T.compile([x], normalized, { mode: 'js' })).program).not.toBe(first.program);
    // l2_normalize_epsilon puts Keras's epsilon into the optimized graph: another epsilon, another program.
    const saved = T.epsilon();
    setEpsilonValue(1e-3);
    try {
      const other = await T.compile([x], normalized);
      expect(other.program).not.toBe(first.program);
      expect(Array.from(other([0, 0]).data)).toEqual([0, 0]);
    } finally {
      setEpsilonValue(saved);
    }
  });
});
