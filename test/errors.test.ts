import { describe, expect, it } from 'vitest';
import * as T from 'tsano';

const thisFile = /errors\.test\.ts:\d+:\d+/;

describe('errors name the op, the shapes, the user variables and the user line', () => {
  it('broadcasting mismatch at build time', () => {
    const a = T.tensor('activations', { shape: [null, 10] });
    const b = T.tensor('bias', { shape: [5] });
    let message = '';
    try {
      T.add(a, b);
    } catch (e) {
      expect(e).toBeInstanceOf(T.ShapeError);
      message = String(e);
    }
    expect(message).toMatch(/ShapeError: add\(activations, bias\): shapes cannot be broadcast/);
    expect(message).toMatch(/activations is float32 \[\?, 10\], bias is float32 \[5\]/);
    expect(message).toMatch(thisFile);
  });

  it('shape mismatch only visible at call time names the op and where it was built', async () => {
    const a = T.vector('left', 'float64');
    const b = T.vector('right', 'float64');
    const f = await T.compile([a, b], T.mul(a, b));
    expect(() => f([1, 2, 3], [1, 2])).toThrow(T.ShapeError);
    expect(() => f([1, 2, 3], [1, 2])).toThrow(
      /mul\(left, right\).*cannot be broadcast.*left is \[3\], right is \[2\]/s,
    );
    expect(() => f([1, 2, 3], [1, 2])).toThrow(thisFile);
  });

  it('bad dtypes', async () => {
    expect(() => T.gather(T.matrix('table'), T.vector('ids'))).toThrow(T.DTypeError);
    expect(() => T.gather(T.matrix('table'), T.vector('ids'))).toThrow(
      /gather\(table, ids\): indices must be int32, got float32/,
    );
    expect(() => T.tensor('x', { dtype: 'float16' as never, shape: [] })).toThrow(/unknown dtype 'float16'/);
    const x = T.vector('x');
    const f = await T.compile([x], x);
    expect(() => f(T.array([1, 2], { dtype: 'float64' }))).toThrow(/input 0 \(x\): expected float32, got float64/);
    const i = T.vector('counts', 'int32');
    const g = await T.compile([i], i);
    expect(() => g([1.5])).toThrow(/input 0 \(counts\): expected int32 values/);
  });

  it('wrong input count and wrong shapes at call time', async () => {
    const x = T.tensor('img', { shape: [null, 28, 28] });
    const y = T.vector('label');
    const f = await T.compile([x, y], T.sum(x));
    expect(() => f(T.zeros([1, 28, 28]))).toThrow(T.InputError);
    expect(() => f(T.zeros([1, 28, 28]))).toThrow(/expected 2 inputs \(img, label\), got 1/);
    expect(() => f(T.zeros([1, 28, 27]), [1])).toThrow(
      /input 0 \(img\): expected shape \[\?, 28, 28\], got \[1, 28, 27\]/,
    );
    expect(() => f(T.zeros([28, 28]), [1])).toThrow(/expected shape \[\?, 28, 28\], got \[28, 28\]/);
  });

  it('gradient errors: non-scalar cost, disconnected variable, integer variable', () => {
    const x = T.vector('x');
    const unused = T.vector('unused');
    expect(() => T.grad(T.exp(x), x)).toThrow(T.GradError);
    expect(() => T.grad(T.exp(x), x)).toThrow(/cost must be a scalar, but exp\(x\) has shape \[\?\]/);
    expect(() => T.grad(T.sum(x), unused)).toThrow(/does not depend on unused.*disconnected: 'zero'/s);
    expect(T.grad(T.sum(x), unused, { disconnected: 'zero' }).op).toBe('broadcastLike');
    expect(() => T.grad(T.sum(x), T.vector('n', 'int32'))).toThrow(/only float variables have gradients/);
  });

  it('compile errors: missing input, bad update target, bad options', async () => {
    const x = T.vector('x');
    const y = T.vector('y');
    await expect(T.compile([x], T.add(x, y))).rejects.toThrow(/depend on y, which is not among the inputs \[x\]/);
    // Two variables with one name: the message tells them apart by where each was created (this file).
    const y2 = T.vector('y');
    await expect(T.compile([y2], T.add(y2, y))).rejects.toThrow(
      /depend on y \(a different variable named y from the input: this one was created at .*errors\.test\.ts:\d+:\d+, the input at .*errors\.test\.ts:\d+:\d+\), which is not among the inputs \[y\]/,
    );
    await expect(T.compile([x], x, { updates: [[x, x]] })).rejects.toThrow(
      /updates must target shared variables, but x is not one/,
    );
    const w = T.shared(T.zeros([3]), 'w');
    await expect(T.compile([], [], { updates: [[w, T.zeros([4]) as never]] })).rejects.toThrow(
      /must be a symbolic expression/,
    );
    await expect(T.compile([], [], { updates: [[w, T.constant(T.zeros([4]))]] })).rejects.toThrow(
      /w has shape \[3\], its update .* has shape \[4\]/,
    );
    await expect(T.compile([x], x, { mode: 'gpu' as never })).rejects.toThrow(/mode must be one of wasm, js/);
    await expect(T.compile([x, x], x)).rejects.toThrow(/input x is listed twice/);
  });

  it('shared set() keeps rank, may change shape (set_value), and refuses lossy dtype changes', () => {
    const w = T.shared(T.zeros([2, 2]), 'weights');
    expect(() => w.set(T.zeros([4]))).toThrow(/weights.set: weights has rank 2 \(shape \[2, 2\]\), got \[4\]/);
    w.set(T.zeros([3, 2]));
    expect(w.get().shape).toEqual([3, 2]);
    expect(() => w.set(T.zeros([2, 2], 'float64'))).toThrow(/weights is float32, got a float64 array/);
    w.set([
      [1, 2],
      [3, 4],
    ]);
    expect(w.get().toArray()).toEqual([
      [1, 2],
      [3, 4],
    ]);
  });

  it('ragged nested arrays and bad axes are caught early', () => {
    expect(() => T.array([[1, 2], [3]])).toThrow(/ragged/);
    expect(() => T.sum(T.matrix('m'), 2)).toThrow(/sum\(m\): axis 2 is out of range for rank 2/);
    expect(() => T.reshape(T.tensor('v', { shape: [6] }), [4, -1])).toThrow(
      /reshape\(v\): cannot reshape 6 elements into \[4, -1\]/,
    );
  });
});

describe('errors caught at build time when sizes are known', () => {
  it('max over a statically empty axis', () => {
    expect(() => T.max(T.tensor('none', { shape: [0, 3] }), 0)).toThrow(
      /max\(none\): reduction over an empty axis has no identity/,
    );
  });

  it('a misspelt option is an error naming the known ones, wherever options are taken', () => {
    const v = T.vector('v');
    const m = T.matrix('m');
    const image = T.tensor4('image');
    const kernel = T.tensor('kernel', { shape: [3, 3, 1, 2] });
    const cases: [() => unknown, RegExp][] = [
      [() => T.grad(T.sum(v), v, { disconected: 'zero' } as never), /grad: unknown option 'disconected'/],
      [() => T.tensor('t', { shape: [2], dtpye: 'int32' } as never), /tensor\('t'\): unknown option 'dtpye'/],
      [() => T.shared(1, 'n', { dtpye: 'int32' } as never), /shared\('n'\): unknown option 'dtpye'/],
      [() => T.dropout(v, 0.5, { sed: 1 } as never), /dropout: unknown option 'sed' \(known: seed\)/],
      [() => T.matmul(m, m, { transposeC: true } as never), /matmul: unknown option 'transposeC'/],
      [() => T.conv2d(image, kernel, { stride: 2 } as never), /conv2d: unknown option 'stride'/],
      [() => T.maxPool2d(image, { pool: 2 } as never), /maxPool2d: unknown option 'pool'/],
      [
        () => new T.RandomStreams(1).uniform({ size: [2], hi: 3 } as never),
        /RandomStreams.uniform: unknown option 'hi'/,
      ],
      [() => T.compileSync([v], v, { mode: 'js', noDefaultUpdate: true } as never), /unknown option 'noDefaultUpdate'/],
    ];
    for (const [call, message] of cases) expect(call).toThrow(message);
  });
});
