import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import { anyValue, dataFor, inRange, nonEmptyShape } from '../helpers/arbitraries.js';
import { closeTo, naiveReduce, ravel, size, unravel, type Dense } from '../helpers/naive.js';
import { evaluate } from '../helpers/run.js';

const tabulate = (shape: number[], f: (idx: number[]) => number): Dense => ({
  shape,
  data: Array.from({ length: size(shape) }, (_, i) => f(unravel(i, shape))),
});

/** TensorFlow's documented 'same'/'valid' window rule for one axis. */
function axisWindow(n: number, k: number, s: number, d: number, padding: 'same' | 'valid') {
  const span = (k - 1) * d + 1;
  if (padding === 'valid') return { out: Math.floor((n - span) / s) + 1, before: 0 };
  const out = Math.ceil(n / s);
  return { out, before: Math.floor(Math.max((out - 1) * s + span - n, 0) / 2) };
}

const toNHWC = (x: Dense): Dense => {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  return tabulate([n, h, w, c], ([b, y, xx, ch]) => x.data[ravel([b!, ch!, y!, xx!], x.shape)]!);
};
const fromNHWC = (x: Dense): Dense => {
  const [n, h, w, c] = x.shape as [number, number, number, number];
  return tabulate([n, c, h, w], ([b, ch, y, xx]) => x.data[ravel([b!, y!, xx!, ch!], x.shape)]!);
};

interface ConvCase {
  strides: [number, number];
  dilation: [number, number];
  padding: 'same' | 'valid';
  channelsFirst: boolean;
}

function naiveConv(xIn: Dense, w: Dense, c: ConvCase): Dense {
  const x = c.channelsFirst ? toNHWC(xIn) : xIn;
  const [n, h, wd] = x.shape as [number, number, number, number];
  const [kh, kw, cin, cout] = w.shape as [number, number, number, number];
  const gh = axisWindow(h, kh, c.strides[0], c.dilation[0], c.padding);
  const gw = axisWindow(wd, kw, c.strides[1], c.dilation[1], c.padding);
  const out = tabulate([n, gh.out, gw.out, cout], ([b, oy, ox, o]) => {
    let s = 0;
    for (let i = 0; i < kh; i++)
      for (let j = 0; j < kw; j++) {
        const iy = oy! * c.strides[0] + i * c.dilation[0] - gh.before;
        const ix = ox! * c.strides[1] + j * c.dilation[1] - gw.before;
        if (iy < 0 || ix < 0 || iy >= h || ix >= wd) continue;
        for (let ch = 0; ch < cin; ch++)
          s += x.data[ravel([b!, iy, ix, ch], x.shape)]! * w.data[ravel([i, j, ch, o!], w.shape)]!;
      }
    return s;
  });
  return c.channelsFirst ? fromNHWC(out) : out;
}

function naivePool(
  xIn: Dense,
  k: [number, number],
  s: [number, number],
  padding: 'same' | 'valid',
  kind: 'max' | 'avg',
  channelsFirst: boolean,
): Dense {
  const x = channelsFirst ? toNHWC(xIn) : xIn;
  const [n, h, wd, ch] = x.shape as [number, number, number, number];
  const gh = axisWindow(h, k[0], s[0], 1, padding);
  const gw = axisWindow(wd, k[1], s[1], 1, padding);
  const out = tabulate([n, gh.out, gw.out, ch], ([b, oy, ox, c]) => {
    const vals: number[] = [];
    for (let i = 0; i < k[0]; i++)
      for (let j = 0; j < k[1]; j++) {
        const iy = oy! * s[0] + i - gh.before;
        const ix = ox! * s[1] + j - gw.before;
        if (iy >= 0 && ix >= 0 && iy < h && ix < wd) vals.push(x.data[ravel([b!, iy, ix, c!], x.shape)]!);
      }
    return kind === 'max' ? Math.max(...vals) : vals.reduce((a, v) => a + v, 0) / vals.length;
  });
  return channelsFirst ? fromNHWC(out) : out;
}

const convCase = fc.record({
  strides: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
  dilation: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
  padding: fc.constantFrom('same' as const, 'valid' as const),
  channelsFirst: fc.boolean(),
});
const small = inRange(-3, 3);

describe('neural ops against plain loops', () => {
  it('softmax and logSoftmax along any axis (stable for huge logits)', async () => {
    const arb = nonEmptyShape(1, 3).chain((shape) =>
      fc.record({
        shape: fc.constant(shape),
        data: dataFor(shape, fc.oneof(inRange(-1000, 1000), inRange(-5, 5))),
        axis: fc.integer({ min: -shape.length, max: shape.length - 1 }),
      }),
    );
    await fc.assert(
      fc.asyncProperty(arb, async (c) => {
        const axis = c.axis < 0 ? c.axis + c.shape.length : c.axis;
        const lse = naiveReduce(c, [axis], true, (v) => {
          const m = Math.max(...v);
          return m + Math.log(v.reduce((s, x) => s + Math.exp(x - m), 0));
        });
        const expectedLog = tabulate(
          c.shape,
          (idx) =>
            c.data[ravel(idx, c.shape)]! -
            lse.data[
              ravel(
                idx.map((v, a) => (a === axis ? 0 : v)),
                lse.shape,
              )
            ]!,
        );
        const { out: logOut } = await evaluate([c], ([x]) => T.logSoftmax(x!, c.axis));
        const { out: soft } = await evaluate([c], ([x]) => T.softmax(x!, c.axis));
        expect(closeTo(logOut.data, expectedLog.data, 1e-12, 1e-9)).toBeUndefined();
        expect(closeTo(soft.data, expectedLog.data.map(Math.exp), 1e-9, 1e-300)).toBeUndefined();
      }),
      { numRuns: 60 },
    );
  });

  it('conv2d: strides, dilation, same/valid padding, both data formats', async () => {
    const arb = fc
      .tuple(
        convCase,
        fc.integer({ min: 1, max: 2 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 3 }),
      )
      .filter(
        ([c, , h, w, kh, kw]) =>
          c.padding === 'same' || ((kh - 1) * c.dilation[0] + 1 <= h && (kw - 1) * c.dilation[1] + 1 <= w),
      )
      .chain(([c, n, h, w, kh, kw, cin, cout]) => {
        const xShape = c.channelsFirst ? [n, cin, h, w] : [n, h, w, cin];
        const wShape = [kh, kw, cin, cout];
        return fc.tuple(
          fc.constant(c),
          fc.record({ shape: fc.constant(xShape), data: dataFor(xShape, small) }),
          fc.record({ shape: fc.constant(wShape), data: dataFor(wShape, small) }),
        );
      });
    await fc.assert(
      fc.asyncProperty(arb, async ([c, x, w]) => {
        const dataFormat = c.channelsFirst ? 'channelsFirst' : 'channelsLast';
        const { out, node } = await evaluate([x, w], ([a, k]) =>
          T.conv2d(a!, k!, { strides: c.strides, dilation: c.dilation, padding: c.padding, dataFormat }),
        );
        const expected = naiveConv(x, w, c);
        expect(out.shape).toEqual(expected.shape);
        expect(node.shape).toEqual(expected.shape);
        expect(closeTo(out.data, expected.data, 1e-12, 1e-12)).toBeUndefined();
      }),
      { numRuns: 80 },
    );
  });

  it('max and average pooling ignore padding, as TensorFlow', async () => {
    const arb = fc
      .tuple(
        fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
        fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
        fc.constantFrom('same' as const, 'valid' as const),
        fc.boolean(),
        fc.integer({ min: 3, max: 6 }),
        fc.integer({ min: 3, max: 6 }),
        fc.integer({ min: 1, max: 2 }),
      )
      .chain(([k, s, padding, cf, h, w, ch]) => {
        const shape = cf ? [1, ch, h, w] : [1, h, w, ch];
        return fc.tuple(
          fc.constant({ k, s, padding, cf }),
          fc.record({
            shape: fc.constant(shape),
            data: dataFor(
              shape,
              anyValue.filter((v) => Number.isFinite(v)),
            ),
          }),
        );
      });
    await fc.assert(
      fc.asyncProperty(arb, async ([p, x]) => {
        const options = {
          poolSize: p.k,
          strides: p.s,
          padding: p.padding,
          dataFormat: p.cf ? ('channelsFirst' as const) : ('channelsLast' as const),
        };
        const { out: mx } = await evaluate([x], ([a]) => T.maxPool2d(a!, options));
        const { out: av } = await evaluate([x], ([a]) => T.avgPool2d(a!, options));
        const em = naivePool(x, p.k, p.s, p.padding, 'max', p.cf);
        const ea = naivePool(x, p.k, p.s, p.padding, 'avg', p.cf);
        expect(mx.shape).toEqual(em.shape);
        expect(closeTo(mx.data, em.data, 0, 0)).toBeUndefined();
        expect(closeTo(av.data, ea.data, 1e-12, 1e-12)).toBeUndefined();
      }),
      { numRuns: 60 },
    );
  });

  it('conv2d channel mismatch is a build-time error naming both operands', () => {
    const img = T.tensor('img', { shape: [null, 28, 28, 1] });
    const k = T.tensor('kernel', { shape: [3, 3, 2, 8] });
    expect(() => T.conv2d(img, k)).toThrow(/conv2d\(img, kernel\): input has 1 channels, kernel expects 2/);
  });

  it('dropout keeps about 1-rate of the values, scales them, and draws a new mask each call', async () => {
    const x = T.vector('x', 'float64');
    const f = await T.compile([x], T.dropout(x, 0.25, { seed: 3 }));
    const ones = new Float64Array(4000).fill(1);
    const a = f(ones);
    const b = f(ones);
    const kept = Array.from(a.data).filter((v) => v !== 0);
    expect(kept.every((v) => Math.abs(v - 1 / 0.75) < 1e-12)).toBe(true);
    expect(Math.abs(kept.length / 4000 - 0.75)).toBeLessThan(0.03);
    expect(Array.from(a.data)).not.toEqual(Array.from(b.data));
  });
});
