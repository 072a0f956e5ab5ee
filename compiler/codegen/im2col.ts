import type { Expr } from './binaryen.js';
import type { FunctionEmitter, Local } from './emitter.js';
import { floatLanes } from './lane-math.js';

/**
 * Emits a walk over every (output pixel, kernel tap) of a channels-last float32 (float64, `wide`) convolution,
 * `(x, cols, n, h, w, c, oh, ow, kh, kw, sh, sw, dh, dw, ph, pw)`, where row (b, oy, ox) of `cols`
 * has one c-channel slot per tap.
 * - 'im2col' gathers: each slot gets the input pixel under its tap, or zeros
 *   where the tap falls in the padding.
 * - 'col2im' scatters back, the transpose: x (zeroed first) accumulates every slot whose tap is inside
 *   the image, four channels at a time (the input gradient of a convolution).
 */
export function emitIm2col(
  e: FunctionEmitter,
  name: string,
  direction: 'im2col' | 'col2im' = 'im2col',
  wide = false,
): void {
  const { m, b } = e;
  const { shift, lanes, scalar, fx, splat } = floatLanes(e, wide);
  const { x, cols, n, h, w, c, oh, ow, kh, kw, sh, sw, dh, dw, ph, pw } = e.named('im2col');
  const i32 = (v: number) => m.i32.const(v);
  const add = (p: Expr, q: Expr) => m.i32.add(p, q);
  const mul = (p: Expr, q: Expr) => m.i32.mul(p, q);
  const set = (l: Local, v: Expr) => m.local.set(l.index, v);
  const loop = (label: string, exitWhen: Expr, stmts: Expr[]) =>
    m.block(`${label}_exit`, [
      m.loop(`${label}_loop`, m.block(null, [m.br(`${label}_exit`, exitWhen), ...stmts, m.br(`${label}_loop`)])),
    ]);
  const { bi, oy, ox, i, j, iy, ix, dst, bytes, q } = e.locals(
    ['bi', 'oy', 'ox', 'i', 'j', 'iy', 'ix', 'dst', 'bytes', 'q'],
    b.i32,
  );

  const inside = m.i32.and(
    m.i32.and(m.i32.ge_s(iy.get(), i32(0)), m.i32.lt_s(iy.get(), h.get())),
    m.i32.and(m.i32.ge_s(ix.get(), i32(0)), m.i32.lt_s(ix.get(), w.get())),
  );
  const source = add(
    x.get(),
    m.i32.shl(mul(add(mul(add(mul(bi.get(), h.get()), iy.get()), w.get()), ix.get()), c.get()), i32(shift)),
  );
  const pixel = e.local(b.i32);
  // Over the c channels of one slot, a vector at a time then one at a time (a bulk memory.copy per slot
  // costs a call each, more than it moves for the few channels of a slot). `one` gets the byte offset.
  const channels = (label: string, vector: (at: Expr) => Expr, one: (at: Expr) => Expr, count: Local = c): Expr[] => [
    set(q, i32(0)),
    ...(
      [
        [lanes, vector],
        [1, one],
      ] as const
    ).map(([step, op]) =>
      loop(`${label}${step}`, m.i32.gt_s(add(q.get(), i32(step)), count.get()), [
        op(m.i32.shl(q.get(), i32(shift))),
        set(q, add(q.get(), i32(step))),
      ]),
    ),
  ];
  const at = (base: Local, offset: Expr) => add(base.get(), offset);
  const visit =
    direction === 'im2col'
      ? m.if(
          inside,
          m.block(null, [
            set(pixel, source),
            ...channels(
              'copy',
              (o) => m.v128.store(0, 4, at(dst, o), m.v128.load(0, 4, at(pixel, m.copyExpression(o)))),
              (o) => scalar.store(0, 4, at(dst, o), scalar.load(0, 4, at(pixel, m.copyExpression(o)))),
            ),
          ]),
          m.block(
            null,
            channels(
              'zero',
              (o) => m.v128.store(0, 4, at(dst, o), splat(0)),
              (o) => scalar.store(0, 4, at(dst, o), scalar.const(0)),
            ),
          ),
        )
      : // x[pixel + q] += cols[dst + q]
        m.if(
          inside,
          m.block(null, [
            set(pixel, source),
            ...channels(
              'acc',
              (o) =>
                m.v128.store(
                  0,
                  4,
                  at(pixel, o),
                  fx.add(
                    m.v128.load(0, 4, at(pixel, m.copyExpression(o))),
                    m.v128.load(0, 4, at(dst, m.copyExpression(o))),
                  ),
                ),
              (o) =>
                scalar.store(
                  0,
                  4,
                  at(pixel, o),
                  scalar.add(
                    scalar.load(0, 4, at(pixel, m.copyExpression(o))),
                    scalar.load(0, 4, at(dst, m.copyExpression(o))),
                  ),
                ),
            ),
          ]),
        );
  const tap: Expr[] = [
    set(ix, m.i32.sub(add(mul(ox.get(), sw.get()), mul(j.get(), dw.get())), pw.get())),
    visit,
    set(dst, add(dst.get(), bytes.get())),
    set(j, add(j.get(), i32(1))),
  ];
  // A kernel row whose taps are all inside the image and adjacent (no dilation) reads kw·c contiguous
  // floats: one copy instead of kw slots with their checks. 3x3 kernels, 64 images: 28x28x1 in 1.35 ms
  // instead of 3.1, 13x13x32 in 0.70 instead of 0.97, 28x28x3 'same' in 1.8 instead of 4.1.
  const rowFloats = e.local(b.i32);
  const wholeRow = () =>
    m.i32.and(
      m.i32.and(m.i32.eq(dw.get(), i32(1)), m.i32.and(m.i32.ge_s(iy.get(), i32(0)), m.i32.lt_s(iy.get(), h.get()))),
      m.i32.and(m.i32.ge_s(ix.get(), i32(0)), m.i32.le_s(add(ix.get(), kw.get()), w.get())),
    );
  const copyRow: Expr[] = [
    set(pixel, source),
    ...channels(
      'row',
      (o) => m.v128.store(0, 4, at(dst, o), m.v128.load(0, 4, at(pixel, m.copyExpression(o)))),
      (o) => scalar.store(0, 4, at(dst, o), scalar.load(0, 4, at(pixel, m.copyExpression(o)))),
      rowFloats,
    ),
    set(dst, add(dst.get(), m.i32.shl(rowFloats.get(), i32(shift)))),
  ];
  const body = [
    set(bytes, m.i32.shl(c.get(), i32(shift))),
    set(rowFloats, mul(kw.get(), c.get())),
    ...(direction === 'col2im'
      ? [m.memory.fill(x.get(), i32(0), mul(mul(mul(n.get(), h.get()), w.get()), bytes.get()))]
      : []),
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
            set(ix, m.i32.sub(mul(ox.get(), sw.get()), pw.get())),
            ...(direction === 'im2col'
              ? [
                  m.if(
                    wholeRow(),
                    m.block(null, copyRow),
                    m.block(null, [loop('kj', m.i32.ge_s(j.get(), kw.get()), tap)]),
                  ),
                ]
              : [loop('kj', m.i32.ge_s(j.get(), kw.get()), tap)]),
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

/**
 * Emits `transpose(src, dst, batch, rows, cols)`: each of `batch` float32 (float64, `wide`) matrices [rows, cols] at src
 * is written transposed, [cols, rows], at dst. NCHW to NHWC is this per image with rows = C and cols =
 * H·W, and back with rows = H·W and cols = C. 4x4 blocks are transposed in registers (four loads,
 * eight shuffles, four stores); the ragged edges go element by element.
 */
export function emitTranspose(e: FunctionEmitter, name: string, wide = false): void {
  const { m, b } = e;
  const { src, dst, batch, rows, cols } = e.named('transpose');
  const i32 = (v: number) => m.i32.const(v);
  const add = (p: Expr, q: Expr) => m.i32.add(p, q);
  const mul = (p: Expr, q: Expr) => m.i32.mul(p, q);
  const set = (l: Local, v: Expr) => m.local.set(l.index, v);
  const loop = (counter: Local, step: number, end: () => Expr, stmts: Expr[]) =>
    e.countedLoop(counter, undefined, end, step, stmts);
  const { bi, i, j, r, from, to } = e.locals(['bi', 'i', 'j', 'r', 'from', 'to'], b.i32);
  const quad = [0, 1, 2, 3].map(() => e.local(b.v128));
  const t = [0, 1, 2, 3].map(() => e.local(b.v128));
  const lanes = (...groups: number[]) => groups.flatMap((g) => [4 * g, 4 * g + 1, 4 * g + 2, 4 * g + 3]);
  const { shift, scalar } = floatLanes(e, wide);
  const at = (base: Local, row: Expr, col: Expr, width: Local) =>
    add(base.get(), m.i32.shl(add(mul(row, width.get()), col), i32(shift)));
  // dst[col, row] = src[row, col]
  const one = (row: Expr, col: Expr) =>
    scalar.store(
      0,
      4,
      at(to, m.copyExpression(col), m.copyExpression(row), rows),
      scalar.load(0, 4, at(from, row, col, cols)),
    );
  const block = [
    ...quad.map((v, k) => set(v, m.v128.load(0, 4, at(from, add(i.get(), i32(k)), j.get(), cols)))),
    set(t[0]!, m.i8x16.shuffle(quad[0]!.get(), quad[1]!.get(), lanes(0, 4, 1, 5))),
    set(t[1]!, m.i8x16.shuffle(quad[2]!.get(), quad[3]!.get(), lanes(0, 4, 1, 5))),
    set(t[2]!, m.i8x16.shuffle(quad[0]!.get(), quad[1]!.get(), lanes(2, 6, 3, 7))),
    set(t[3]!, m.i8x16.shuffle(quad[2]!.get(), quad[3]!.get(), lanes(2, 6, 3, 7))),
    ...(
      [
        [0, 1, lanes(0, 1, 4, 5)],
        [0, 1, lanes(2, 3, 6, 7)],
        [2, 3, lanes(0, 1, 4, 5)],
        [2, 3, lanes(2, 3, 6, 7)],
      ] as const
    ).map(([p, q, pattern], k) =>
      m.v128.store(
        0,
        4,
        at(to, add(j.get(), i32(k)), i.get(), rows),
        m.i8x16.shuffle(t[p]!.get(), t[q]!.get(), pattern),
      ),
    ),
  ];
  const matrixBytes = () => m.i32.shl(mul(rows.get(), cols.get()), i32(shift));
  e.finish(name, [
    set(bi, i32(0)),
    loop(bi, 1, () => batch.get(), [
      set(from, add(src.get(), mul(bi.get(), matrixBytes()))),
      set(to, add(dst.get(), mul(bi.get(), matrixBytes()))),
      set(i, i32(0)),
      // float64: element by element (its blocks would be 2x2).
      ...(wide
        ? []
        : [
            loop(i, 4, () => rows.get(), [
              set(j, i32(0)),
              loop(j, 4, () => cols.get(), block),
              loop(j, 1, () => cols.get(), [
                set(r, i32(0)),
                loop(r, 1, () => i32(4), [one(add(i.get(), r.get()), j.get())]),
              ]),
            ]),
          ]),
      loop(i, 1, () => rows.get(), [set(j, i32(0)), loop(j, 1, () => cols.get(), [one(i.get(), j.get())])]),
    ]),
  ]);
}
