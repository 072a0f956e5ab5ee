import type { Expr } from './binaryen.js';
import type { FunctionEmitter, Local } from './emitter.js';

/**
 * Emits `maxpool(x, out, n, h, w, c, oh, ow, kh, kw, sh, sw, ph, pw)` for channels-last float32
 * with c a multiple of 4: each output pixel is the lane-wise f32x4.max over the window's pixels
 * inside the image (padding ignored, as TensorFlow), four channels at a time. f32x4.max propagates NaN.
 */
export function emitMaxPool(e: FunctionEmitter, name: string): void {
  const { m, b } = e;
  const [x, out, n, h, w, c, oh, ow, kh, kw, sh, sw, ph, pw] = e.params as Local[];
  const i32 = (v: number) => m.i32.const(v);
  const add = (p: Expr, q: Expr) => m.i32.add(p, q);
  const sub = (p: Expr, q: Expr) => m.i32.sub(p, q);
  const mul = (p: Expr, q: Expr) => m.i32.mul(p, q);
  const set = (l: Local, v: Expr) => m.local.set(l.index, v);
  const max = (p: Expr, q: Expr) => m.select(m.i32.gt_s(p, q), p, q);
  const min = (p: Expr, q: Expr) => m.select(m.i32.lt_s(p, q), p, q);
  const loop = (label: string, exitWhen: Expr, stmts: Expr[]) =>
    m.block(`${label}_exit`, [m.loop(`${label}_loop`, m.block(null, [m.br(`${label}_exit`, exitWhen), ...stmts, m.br(`${label}_loop`)]))]);
  const [bi, oy, ox, y, xx, ch, y0, y1, x0, x1, base, dst] = Array.from({ length: 12 }, () => e.local(b.i32));
  const acc = e.local(b.v128);
  const negInf = e.f32x4Const(-Infinity);

  const pixel = (yy: Expr, xxx: Expr) => mul(add(mul(add(mul(bi.get(), h.get()), yy), w.get()), xxx), c.get());
  const window: Expr[] = [
    set(acc, negInf.get()),
    set(y, y0.get()),
    loop('wy', m.i32.ge_s(y.get(), y1.get()), [
      set(xx, x0.get()),
      loop('wx', m.i32.ge_s(xx.get(), x1.get()), [
        set(base, add(x.get(), m.i32.shl(add(pixel(y.get(), xx.get()), ch.get()), i32(2)))),
        set(acc, m.f32x4.max(acc.get(), m.v128.load(0, 4, base.get()))),
        set(xx, add(xx.get(), i32(1))),
      ]),
      set(y, add(y.get(), i32(1))),
    ]),
    m.v128.store(0, 4, add(dst.get(), m.i32.shl(ch.get(), i32(2))), acc.get()),
    set(ch, add(ch.get(), i32(4))),
  ];
  const body = [
    set(dst, out.get()),
    set(bi, i32(0)),
    loop('b', m.i32.ge_s(bi.get(), n.get()), [
      set(oy, i32(0)),
      loop('oy', m.i32.ge_s(oy.get(), oh.get()), [
        set(y0, max(sub(mul(oy.get(), sh.get()), ph.get()), i32(0))),
        set(y1, min(add(sub(mul(oy.get(), sh.get()), ph.get()), kh.get()), h.get())),
        set(ox, i32(0)),
        loop('ox', m.i32.ge_s(ox.get(), ow.get()), [
          set(x0, max(sub(mul(ox.get(), sw.get()), pw.get()), i32(0))),
          set(x1, min(add(sub(mul(ox.get(), sw.get()), pw.get()), kw.get()), w.get())),
          set(ch, i32(0)),
          loop('ch', m.i32.ge_s(ch.get(), c.get()), window),
          set(dst, add(dst.get(), m.i32.shl(c.get(), i32(2)))),
          set(ox, add(ox.get(), i32(1))),
        ]),
        set(oy, add(oy.get(), i32(1))),
      ]),
      set(bi, add(bi.get(), i32(1))),
    ]),
  ];
  e.finish(name, body);
}

/**
 * Emits `maxpoolgrad(x, g, dx, n, h, w, c, oh, ow, kh, kw, sh, sw, ph, pw)`, channels-last float32
 * with c a multiple of 4: dx is zeroed, then each window's gradient goes to the first position
 * holding its maximum (NaN never wins a comparison), four channels at a time: a lane-wise running
 * max with the index where it was found, then one scalar add per lane.
 */
export function emitMaxPoolGrad(e: FunctionEmitter, name: string): void {
  const { m, b } = e;
  const [x, g, dx, n, h, w, c, oh, ow, kh, kw, sh, sw, ph, pw] = e.params as Local[];
  const i32 = (v: number) => m.i32.const(v);
  const add = (p: Expr, q: Expr) => m.i32.add(p, q);
  const sub = (p: Expr, q: Expr) => m.i32.sub(p, q);
  const mul = (p: Expr, q: Expr) => m.i32.mul(p, q);
  const set = (l: Local, v: Expr) => m.local.set(l.index, v);
  const max = (p: Expr, q: Expr) => m.select(m.i32.gt_s(p, q), p, q);
  const min = (p: Expr, q: Expr) => m.select(m.i32.lt_s(p, q), p, q);
  const loop = (label: string, exitWhen: Expr, stmts: Expr[]) =>
    m.block(`${label}_exit`, [m.loop(`${label}_loop`, m.block(null, [m.br(`${label}_exit`, exitWhen), ...stmts, m.br(`${label}_loop`)]))]);
  const [bi, oy, ox, y, xx, ch, y0, y1, x0, x1, at, gAt] = Array.from({ length: 12 }, () => e.local(b.i32));
  const best = e.local(b.v128);
  const bestAt = e.local(b.v128);
  const v = e.local(b.v128);
  const better = e.local(b.v128);
  // Element offset (channel 0) of pixel (yy, xxx) of image bi.
  const pixel = (yy: Expr, xxx: Expr) => mul(add(mul(add(mul(bi.get(), h.get()), yy), w.get()), xxx), c.get());
  const laneOffsets = m.v128.const([0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0]);
  const window: Expr[] = [
    set(at, add(pixel(y0.get(), x0.get()), ch.get())),
    set(best, m.v128.load(0, 4, add(x.get(), m.i32.shl(at.get(), i32(2))))),
    set(bestAt, m.i32x4.add(m.i32x4.splat(at.get()), laneOffsets)),
    set(y, y0.get()),
    loop('wy', m.i32.ge_s(y.get(), y1.get()), [
      set(xx, x0.get()),
      loop('wx', m.i32.ge_s(xx.get(), x1.get()), [
        set(at, add(pixel(y.get(), xx.get()), ch.get())),
        set(v, m.v128.load(0, 4, add(x.get(), m.i32.shl(at.get(), i32(2))))),
        set(better, m.f32x4.gt(v.get(), best.get())),
        set(best, m.v128.bitselect(v.get(), best.get(), better.get())),
        set(bestAt, m.v128.bitselect(m.i32x4.add(m.i32x4.splat(at.get()), m.copyExpression(laneOffsets)), bestAt.get(), better.get())),
        set(xx, add(xx.get(), i32(1))),
      ]),
      set(y, add(y.get(), i32(1))),
    ]),
    ...[0, 1, 2, 3].map((lane) => {
      const target = add(dx.get(), m.i32.shl(m.i32x4.extract_lane(bestAt.get(), lane), i32(2)));
      return m.f32.store(0, 4, target, m.f32.add(m.f32.load(0, 4, m.copyExpression(target)), m.f32.load(lane * 4, 4, add(g.get(), m.i32.shl(add(gAt.get(), ch.get()), i32(2))))));
    }),
    set(ch, add(ch.get(), i32(4))),
  ];
  const body = [
    m.memory.fill(dx.get(), i32(0), m.i32.shl(mul(mul(mul(n.get(), h.get()), w.get()), c.get()), i32(2))),
    set(gAt, i32(0)),
    set(bi, i32(0)),
    loop('b', m.i32.ge_s(bi.get(), n.get()), [
      set(oy, i32(0)),
      loop('oy', m.i32.ge_s(oy.get(), oh.get()), [
        set(y0, max(sub(mul(oy.get(), sh.get()), ph.get()), i32(0))),
        set(y1, min(add(sub(mul(oy.get(), sh.get()), ph.get()), kh.get()), h.get())),
        set(ox, i32(0)),
        loop('ox', m.i32.ge_s(ox.get(), ow.get()), [
          set(x0, max(sub(mul(ox.get(), sw.get()), pw.get()), i32(0))),
          set(x1, min(add(sub(mul(ox.get(), sw.get()), pw.get()), kw.get()), w.get())),
          set(ch, i32(0)),
          loop('ch', m.i32.ge_s(ch.get(), c.get()), window),
          set(gAt, add(gAt.get(), c.get())),
          set(ox, add(ox.get(), i32(1))),
        ]),
        set(oy, add(oy.get(), i32(1))),
      ]),
      set(bi, add(bi.get(), i32(1))),
    ]),
  ];
  e.finish(name, body);
}
