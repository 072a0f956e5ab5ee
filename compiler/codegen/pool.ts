import type { Expr } from './binaryen.js';
import type { FunctionEmitter, Local } from './emitter.js';
import { floatLanes } from './lane-math.js';

/** What a pooling kernel's body sees of the window it is at. */
interface Window {
  /** Element offset (channel 0) of the output pixel, and of the channel group being done. */
  readonly outAt: Local;
  readonly ch: Local;
  /** The number of window positions inside the image. */
  readonly count: () => Expr;
  /** `body(at)` for every position inside the image, `at` the element offset of its channel 0. */
  readonly forEachPosition: (body: (at: Local) => Expr[]) => Expr;
  /** Address of element `at + ch` of the float array at `base`. */
  readonly address: (base: Local, at: Local) => Expr;
  /** `body()` for every vector of channels (`ch` set), for kernels that walk channels inside a window. */
  readonly forEachGroup: (body: () => Expr[]) => Expr;
}

/**
 * The pooling kernels' common walk, channels-last float32 (float64, `wide`) with c a multiple of the
 * lanes, a vector of channels at a time: `(a, b, n, h, w, c, oh, ow, kh, kw, sh, sw, ph, pw)` for the
 * forward kernels (a input, b output) or `(x, g, dx, n, …)` for the gradients (dx zeroed first).
 * Windows keep to the image (padding is ignored, as TensorFlow).
 */
function emitPoolWalk(
  e: FunctionEmitter,
  name: string,
  pointers: 2 | 3,
  window: (ptrs: Local[], w: Window) => Expr[],
  groupsOutside = true,
  wide = false,
): void {
  const { m, b } = e;
  const { shift, lanes } = floatLanes(e, wide);
  const params = pointers === 2 ? e.named('pool') : e.named('poolGrad');
  const ptrs = 'out' in params ? [params.x, params.out] : [params.x, params.g, params.dx];
  const { n, h, w, c, oh, ow, kh, kw, sh, sw, ph, pw } = params;
  const i32 = (v: number) => m.i32.const(v);
  const add = (p: Expr, q: Expr) => m.i32.add(p, q);
  const sub = (p: Expr, q: Expr) => m.i32.sub(p, q);
  const mul = (p: Expr, q: Expr) => m.i32.mul(p, q);
  const set = (l: Local, v: Expr) => m.local.set(l.index, v);
  const max = (p: Expr, q: Expr) => m.select(m.i32.gt_s(p, q), p, q);
  const min = (p: Expr, q: Expr) => m.select(m.i32.lt_s(p, q), p, q);
  const loop = (label: string, exitWhen: Expr, stmts: Expr[]) =>
    m.block(`${label}_exit`, [
      m.loop(`${label}_loop`, m.block(null, [m.br(`${label}_exit`, exitWhen), ...stmts, m.br(`${label}_loop`)])),
    ]);
  const { bi, oy, ox, y, xx, ch, y0, y1, x0, x1, at, outAt } = e.locals(
    ['bi', 'oy', 'ox', 'y', 'xx', 'ch', 'y0', 'y1', 'x0', 'x1', 'at', 'outAt'],
    b.i32,
  );
  const pixel = (yy: Expr, xxx: Expr) => mul(add(mul(add(mul(bi.get(), h!.get()), yy), w!.get()), xxx), c!.get());
  const view: Window = {
    outAt,
    ch,
    count: () => mul(sub(y1.get(), y0.get()), sub(x1.get(), x0.get())),
    forEachPosition: (body) =>
      m.block(null, [
        set(y, y0.get()),
        loop('wy', m.i32.ge_s(y.get(), y1.get()), [
          set(xx, x0.get()),
          loop('wx', m.i32.ge_s(xx.get(), x1.get()), [
            set(at, pixel(y.get(), xx.get())),
            ...body(at),
            set(xx, add(xx.get(), i32(1))),
          ]),
          set(y, add(y.get(), i32(1))),
        ]),
      ]),
    address: (base, where) => add(base.get(), m.i32.shl(add(where.get(), ch.get()), i32(shift))),
    forEachGroup: (body) => e.countedLoop(ch, i32(0), () => c!.get(), lanes, body()),
  };
  const body = [
    ...(pointers === 3
      ? [
          m.memory.fill(
            ptrs[2]!.get(),
            i32(0),
            m.i32.shl(mul(mul(mul(n!.get(), h!.get()), w!.get()), c!.get()), i32(shift)),
          ),
        ]
      : []),
    set(outAt, i32(0)),
    set(bi, i32(0)),
    loop('b', m.i32.ge_s(bi.get(), n!.get()), [
      set(oy, i32(0)),
      loop('oy', m.i32.ge_s(oy.get(), oh!.get()), [
        set(y0, max(sub(mul(oy.get(), sh!.get()), ph!.get()), i32(0))),
        set(y1, min(add(sub(mul(oy.get(), sh!.get()), ph!.get()), kh!.get()), h!.get())),
        set(ox, i32(0)),
        loop('ox', m.i32.ge_s(ox.get(), ow!.get()), [
          set(x0, max(sub(mul(ox.get(), sw!.get()), pw!.get()), i32(0))),
          set(x1, min(add(sub(mul(ox.get(), sw!.get()), pw!.get()), kw!.get()), w!.get())),
          ...(groupsOutside ? [view.forEachGroup(() => window(ptrs, view))] : window(ptrs, view)),
          set(outAt, add(outAt.get(), c!.get())),
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
 * Forward pooling, one output pixel at a time: the output's channels start at `start`, then each
 * window position's address is computed once and `combine`d into all of them (per channel group
 * and position, as many address computations as loads made the window walk twice as slow).
 */
function emitPoolForward(
  e: FunctionEmitter,
  name: string,
  wide: boolean,
  start: () => Expr,
  combine: (acc: Expr, v: Expr) => Expr,
  finish?: (acc: Expr, count: Expr) => Expr,
): void {
  const { m } = e;
  emitPoolWalk(
    e,
    name,
    2,
    ([x, out], w) => {
      const slot = () => w.address(out!, w.outAt);
      return [
        w.forEachGroup(() => [m.v128.store(0, 4, slot(), start())]),
        w.forEachPosition((at) => [
          w.forEachGroup(() => [
            m.v128.store(0, 4, slot(), combine(m.v128.load(0, 4, slot()), m.v128.load(0, 4, w.address(x!, at)))),
          ]),
        ]),
        ...(finish
          ? [w.forEachGroup(() => [m.v128.store(0, 4, slot(), finish(m.v128.load(0, 4, slot()), w.count()))])]
          : []),
      ];
    },
    false,
    wide,
  );
}

/** Max pooling: the lane-wise max over the window (which propagates NaN). */
export function emitMaxPool(e: FunctionEmitter, name: string, wide = false): void {
  const l = floatLanes(e, wide);
  emitPoolForward(
    e,
    name,
    wide,
    () => l.splat(-Infinity),
    (acc, v) => l.fx.max(acc, v),
  );
}

/** Average pooling: the window's sum divided by the number of its positions inside the image. */
export function emitAvgPool(e: FunctionEmitter, name: string, wide = false): void {
  const l = floatLanes(e, wide);
  emitPoolForward(
    e,
    name,
    wide,
    () => l.splat(0),
    (acc, v) => l.fx.add(acc, v),
    (acc, count) => l.fx.div(acc, l.splatCount(count)),
  );
}

/**
 * The max pooling gradient: each window's gradient goes to the first position holding its maximum
 * (NaN never wins a comparison): a lane-wise running max with the index where it was found, then one
 * scalar add per lane.
 */
export function emitMaxPoolGrad(e: FunctionEmitter, name: string, wide = false): void {
  const { m, b } = e;
  const { fx, scalar, bytes: E, shift, lanes } = floatLanes(e, wide);
  const [best, bestAt, v, better] = [0, 1, 2, 3].map(() => e.local(b.v128)) as [Local, Local, Local, Local];
  const first = e.local(b.i32);
  const set = (l: Local, value: Expr) => m.local.set(l.index, value);
  // Element indices per lane, as i32 lanes (float32) or i64 lanes (float64: the masks are 64 bits wide).
  const index = (k: Expr) =>
    wide
      ? m.i64x2.add(m.i64x2.splat(m.i64.extend_s(k)), m.v128.const([0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]))
      : m.i32x4.add(m.i32x4.splat(k), m.v128.const([0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0]));
  const indexAt = (lane: number) =>
    wide ? m.i32.wrap(m.i64x2.extract_lane(bestAt.get(), lane)) : m.i32x4.extract_lane(bestAt.get(), lane);
  emitPoolWalk(
    e,
    name,
    3,
    ([x, g, dx], w) => [
      set(first, m.i32.const(1)),
      w.forEachPosition((at) => [
        set(v, m.v128.load(0, 4, w.address(x!, at))),
        // The first position starts the search; later ones replace it only when strictly greater.
        set(better, m.v128.or(m.i32x4.splat(m.i32.sub(m.i32.const(0), first.get())), fx.gt(v.get(), best.get()))),
        set(best, m.v128.bitselect(v.get(), best.get(), better.get())),
        set(bestAt, m.v128.bitselect(index(m.i32.add(at.get(), w.ch.get())), bestAt.get(), better.get())),
        set(first, m.i32.const(0)),
      ]),
      ...Array.from({ length: lanes }, (_, lane) => {
        const target = () => m.i32.add(dx!.get(), m.i32.shl(indexAt(lane), m.i32.const(shift)));
        return scalar.store(
          0,
          E,
          target(),
          scalar.add(scalar.load(0, E, target()), scalar.load(lane * E, E, w.address(g!, w.outAt))),
        );
      }),
    ],
    true,
    wide,
  );
}

/** The average pooling gradient: each window's gradient divided evenly over its positions inside the image. */
export function emitAvgPoolGrad(e: FunctionEmitter, name: string, wide = false): void {
  const { m, b } = e;
  const { fx, splatCount } = floatLanes(e, wide);
  const share = e.local(b.v128);
  emitPoolWalk(
    e,
    name,
    3,
    ([, g, dx], w) => [
      m.local.set(share.index, fx.div(m.v128.load(0, 4, w.address(g!, w.outAt)), splatCount(w.count()))),
      w.forEachPosition((at) => [
        m.v128.store(0, 4, w.address(dx!, at), fx.add(m.v128.load(0, 4, w.address(dx!, at)), share.get())),
      ]),
    ],
    true,
    wide,
  );
}
