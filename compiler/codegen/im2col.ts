import type { Expr } from './binaryen.js';
import type { FunctionEmitter, Local } from './emitter.js';

/**
 * Emits `im2col(x, cols, n, h, w, c, oh, ow, kh, kw, sh, sw, dh, dw, ph, pw)` for channels-last
 * float32: row (b, oy, ox) of `cols` holds, tap by tap, the c channels of the input pixel under that
 * tap, or zeros where the tap falls in the padding. Each tap is one bulk memory.copy / memory.fill.
 */
export function emitIm2col(e: FunctionEmitter, name: string): void {
  const { m, b } = e;
  const [x, cols, n, h, w, c, oh, ow, kh, kw, sh, sw, dh, dw, ph, pw] = e.params as Local[];
  const i32 = (v: number) => m.i32.const(v);
  const add = (p: Expr, q: Expr) => m.i32.add(p, q);
  const mul = (p: Expr, q: Expr) => m.i32.mul(p, q);
  const set = (l: Local, v: Expr) => m.local.set(l.index, v);
  const loop = (label: string, exitWhen: Expr, stmts: Expr[]) =>
    m.block(`${label}_exit`, [m.loop(`${label}_loop`, m.block(null, [m.br(`${label}_exit`, exitWhen), ...stmts, m.br(`${label}_loop`)]))]);
  const [bi, oy, ox, i, j, iy, ix, dst, bytes] = Array.from({ length: 9 }, () => e.local(b.i32));

  const inside = m.i32.and(
    m.i32.and(m.i32.ge_s(iy.get(), i32(0)), m.i32.lt_s(iy.get(), h.get())),
    m.i32.and(m.i32.ge_s(ix.get(), i32(0)), m.i32.lt_s(ix.get(), w.get())),
  );
  const source = add(x.get(), m.i32.shl(mul(add(mul(add(mul(bi.get(), h.get()), iy.get()), w.get()), ix.get()), c.get()), i32(2)));
  const tap: Expr[] = [
    set(ix, m.i32.sub(add(mul(ox.get(), sw.get()), mul(j.get(), dw.get())), pw.get())),
    m.if(inside, m.memory.copy(dst.get(), source, bytes.get()), m.memory.fill(dst.get(), i32(0), bytes.get())),
    set(dst, add(dst.get(), bytes.get())),
    set(j, add(j.get(), i32(1))),
  ];
  const body = [
    set(bytes, m.i32.shl(c.get(), i32(2))),
    set(dst, cols.get()),
    set(bi, i32(0)),
    loop('b', m.i32.ge_s(bi.get(), n.get()), [
      set(oy, i32(0)),
      loop('oy', m.i32.ge_s(oy.get(), oh.get()), [
        set(ox, i32(0)),
        loop('ox', m.i32.ge_s(ox.get(), ow.get()), [
          set(i, i32(0)),
          loop('ki', m.i32.ge_s(i.get(), kh.get()), [
            set(iy, m.i32.sub(add(mul(oy.get(), sh.get()), mul(i.get(), dh.get())), ph.get())),
            set(j, i32(0)),
            loop('kj', m.i32.ge_s(j.get(), kw.get()), tap),
            set(i, add(i.get(), i32(1))),
          ]),
          set(ox, add(ox.get(), i32(1))),
        ]),
        set(oy, add(oy.get(), i32(1))),
      ]),
      set(bi, add(bi.get(), i32(1))),
    ]),
  ];
  e.finish(name, body);
}
