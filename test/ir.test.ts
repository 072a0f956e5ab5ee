import { describe, expect, it } from 'vitest';
import * as T from 'tsano';

describe('graph IR', () => {
  it('structurally equal expressions are the same node (hash-consing)', () => {
    const x = T.matrix('x');
    const w = T.matrix('w');
    const a = T.tanh(T.dot(x, w).add(1));
    const b = T.tanh(T.dot(x, w).add(1));
    expect(a).toBe(b);
    expect(T.exp(x)).not.toBe(T.exp(w));
    // different constants, or -0 and 0, are different nodes
    expect(T.add(x, 1)).not.toBe(T.add(x, 2));
    expect(T.mul(x, 0)).not.toBe(T.mul(x, -0));
  });

  it('every node records the user line that created it', () => {
    const x = T.vector('x');
    const y = T.sqrt(T.abs(x));
    // The line after y's (a formatter keeps one statement a line).
    const line = Number(new Error().stack!.split('\n')[1]!.match(/:(\d+):\d+\)?$/)![1]);
    expect(y.origin!.file).toMatch(/ir\.test\.ts$/);
    expect(y.origin!.line).toBe(line - 2);
    expect(x.origin!.file).toMatch(/ir\.test\.ts$/);
  });

  it('debugprint shows a Theano-style tree with ids, dtypes and shapes, and shared subexpressions once', () => {
    const x = T.matrix('x');
    const h = T.exp(x);
    const text = T.debugprint(T.add(h, T.sum(h, 1, true)).named('out'), { file: 'str' });
    expect(text.split('\n')).toEqual([
      "add [id A] 'out' float32 [?, ?]",
      ' |exp [id B] float32 [?, ?]',
      ' | |x [id C] float32 [?, ?]',
      ' |sum{axes=[1], keepdims} [id D] float32 [?, 1]',
      ' | |exp [id B]',
    ]);
  });

  it('debugprint of a compiled function lists outputs and updates', async () => {
    const w = T.shared(T.zeros([2]), 'w');
    const x = T.vector('x');
    const f = await T.compile([x], T.dot(x, w), { updates: [[w, T.add(w, x)]] });
    const text = T.debugprint(f, { file: 'str' });
    expect(text).toMatch(/^dot \[id A\] float32 \[\]/);
    expect(text).toMatch(/update of w:\nadd \[id [A-Z]+\] float32 \[2\]/);
  });

  it('chainable methods build the same nodes as functions', () => {
    const x = T.matrix('x');
    expect(x.T).toBe(T.transpose(x));
    expect(x.sum(0).exp()).toBe(T.exp(T.sum(x, 0)));
    expect(x.index(0)).toBe(T.index(x, 0));
  });
});
