import { describe, expect, it } from 'vitest';
import * as T from 'tsano';

/** What Theano users type works as they expect: typed constructors, neq, onesLike/zerosLike, T.nnet, updates as a Map. */

describe("Theano's spellings", () => {
  it('typed variable constructors carry their dtype and rank', () => {
    const cases: [T.Node, T.DType, number][] = [
      [T.iscalar('i'), 'int32', 0],
      [T.ivector('v'), 'int32', 1],
      [T.fmatrix('m'), 'float32', 2],
      [T.dtensor3('t'), 'float64', 3],
      [T.ftensor4('u'), 'float32', 4],
      [T.bvector('b'), 'bool', 1],
    ];
    for (const [node, dtype, rank] of cases) {
      expect(node.dtype).toBe(dtype);
      expect(node.ndim).toBe(rank);
    }
  });

  it('neq is ne; onesLike and zerosLike take the shape (known at call time too) and dtype, whatever the values', async () => {
    const x = T.dmatrix('x');
    const f = await T.compile([x], [T.neq(x, 1), T.onesLike(x), T.zerosLike(x)], { mode: 'js' });
    const value = T.array(Float64Array.from([1, NaN, Infinity, -0, 2, 1]), { shape: [2, 3] });
    const [ne, ones, zeros] = f(value) as T.NDArray[];
    expect(Array.from(ne!.data)).toEqual([0, 1, 1, 1, 1, 0]);
    expect(ones!.dtype).toBe('float64');
    expect(ones!.shape).toEqual([2, 3]);
    expect(Array.from(ones!.data)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(Array.from(zeros!.data)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it("T.switch(cond, ift, iff) chooses elementwise, as Theano's switch", async () => {
    const [c, a] = [T.dvector('c'), T.dvector('a')];
    const f = await T.compile([c, a], T.switch(T.gt(c, 0), a, T.neg(a)), { mode: 'js' });
    const out = f([1, -1, 0, 2], [5, 6, 7, 8]);
    expect(Array.from(out.data)).toEqual([5, -6, -7, 8]);
  });

  it('T.nnet computes what tensor.nnet does (the crossentropies from their formulas)', async () => {
    const [p, t] = [T.dmatrix('p'), T.dmatrix('t')];
    const f = await T.compile(
      [p, t],
      [
        T.nnet.softmax(p),
        T.nnet.categoricalCrossentropy(T.nnet.softmax(p), t),
        T.nnet.binaryCrossentropy(T.nnet.sigmoid(p), t),
      ],
      { mode: 'js' },
    );
    const logits = [
      [0.5, -1, 2],
      [3, 0, -2],
    ];
    const target = [
      [0, 0, 1],
      [1, 0, 0],
    ];
    const [soft, cce, bce] = f(
      T.array(logits, { dtype: 'float64' }),
      T.array(target, { dtype: 'float64' }),
    ) as T.NDArray[];
    logits.forEach((row, i) => {
      const z = row.map(Math.exp);
      const sum = z.reduce((a, b) => a + b, 0);
      row.forEach((_, j) => expect(soft!.data[i * 3 + j]).toBeCloseTo(z[j]! / sum, 12));
      const expected = -target[i]!.reduce((acc, tj, j) => acc + tj * Math.log(z[j]! / sum), 0);
      expect(cce!.data[i]).toBeCloseTo(expected, 12);
      row.forEach((v, j) => {
        const s = 1 / (1 + Math.exp(-v));
        const tj = target[i]![j]!;
        expect(bce!.data[i * 3 + j]).toBeCloseTo(-(tj * Math.log(s) + (1 - tj) * Math.log(1 - s)), 12);
      });
    });
  });

  it('updates given as a Map, as Theano takes an OrderedDict', async () => {
    const count = T.shared(T.array([0]), 'count');
    const f = await T.compile([], T.sum(count), { updates: new Map([[count, T.add(count, 1)]]) });
    f();
    f();
    expect(Array.from(count.get().data)).toEqual([2]);
  });

  it("dimshuffle follows Theano: 'x' adds an axis, the kept axes in their new order, left-out axes of size 1", async () => {
    const v = T.tensor('v', { shape: [3] });
    const m = T.tensor('m', { shape: [2, 1, 3] });
    expect(v.dimshuffle('x', 0).shape).toEqual([1, 3]);
    expect(v.dimshuffle(0, 'x').shape).toEqual([3, 1]);
    expect(m.dimshuffle(2, 'x', 0).shape).toEqual([3, 1, 2]);
    const f = await T.compile([m], m.dimshuffle(2, 'x', 0));
    const values = T.array([1, 2, 3, 4, 5, 6], [2, 1, 3]);
    const out = f(values);
    // out[k, 0, i] = m[i, 0, k]
    for (let i = 0; i < 2; i++) for (let k = 0; k < 3; k++) expect(out.data[k * 2 + i]).toBe(values.data[i * 3 + k]);
    expect(() => m.dimshuffle(0, 1)).toThrow(/axis 2 is left out, so it must have size 1, not 3/);
    expect(() => v.dimshuffle(0, 0)).toThrow(/an axis is listed twice/);
  });

  it('shared(0) is int32 as its value says; an int32 variable refuses a value it would truncate', () => {
    const counter = T.shared(0, 'counter');
    expect(counter.dtype).toBe('int32');
    expect(T.shared(0.5, 'rate').dtype).toBe(T.floatx());
    expect(T.shared(0, 'f', { dtype: 'float64' }).dtype).toBe('float64');
    counter.set(3);
    expect(counter.get().item()).toBe(3);
    expect(() => counter.set(2.5)).toThrow(/counter is int32, got a value that is not an integer \(2.5\)/);
    expect(counter.get().item()).toBe(3);
  });
});

describe("Theano's names of the new ops", () => {
  it('arcsin … arctanh and intDiv are the declared ops they name', () => {
    const x = T.vector('x');
    const y = T.vector('y');
    const pairs: [T.Node, T.Node][] = [
      [T.arcsin(x), T.asin(x)],
      [T.arccos(x), T.acos(x)],
      [T.arctan(x), T.atan(x)],
      [T.arctan2(y, x), T.atan2(y, x)],
      [T.arcsinh(x), T.asinh(x)],
      [T.arccosh(x), T.acosh(x)],
      [T.arctanh(x), T.atanh(x)],
      [T.intDiv(y, x), T.floorDiv(y, x)],
    ];
    for (const [theano, tsano] of pairs) expect(theano).toBe(tsano);
  });
});

describe("theano.function's extras", () => {
  it('T.In gives an input a default value; f.copy swaps shared variables and can drop the updates', async () => {
    const [x, y] = [T.dscalar('x'), T.dscalar('y')];
    const f = await T.compile([x, T.In(y, { value: 10 })], T.add(x, y));
    expect(f(1).item()).toBe(11);
    expect(f(1, 2).item()).toBe(3);
    expect(f.stats.kernels).toBeGreaterThan(0);
    expect(() => T.compileSync([T.In(x, { value: 1 }), y], T.add(x, y))).toThrow(
      /without a default value follows one with a default/,
    );

    const state = T.shared(T.array(0, { dtype: 'float64' }), 'state');
    const other = T.shared(T.array(100, { dtype: 'float64' }), 'other');
    const inc = await T.compile([x], state, { updates: [[state, T.add(state, x)]] });
    inc(1);
    inc(2);
    expect(state.get().item()).toBe(3);
    const onOther = inc.copy({ swap: [[state, other]] });
    expect(onOther(5).item()).toBe(100);
    expect(other.get().item()).toBe(105);
    expect(state.get().item()).toBe(3);
    const readOnly = inc.copy({ deleteUpdates: true });
    readOnly(7);
    expect(state.get().item()).toBe(3);
  });
});
