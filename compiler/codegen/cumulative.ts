/**
 * Running sums and products as wasm SIMD kernels over float32 or float64 viewed as [outer, length,
 * inner], accumulated in float64 lanes like the reference (a float32 total keeps its digits).
 */
import type { Expr } from './binaryen.js';
import type { FunctionEmitter, Local } from './emitter.js';
import { narrow, widen } from './f64-lanes.js';

/**
 * Emits `cumulative(outer, length, inner, x, out)`. Along a contiguous row (inner = 1), four float32
 * (two float64) elements at a time: the prefix within the vector by one shuffle and add per float64
 * pair, then the running total added to all of them, so that the chain from one vector to the next is
 * one add and one splat instead of one add per element. Across rows (inner > 1), one running total per
 * column, vectors of columns side by side.
 */
export function emitCumulative(e: FunctionEmitter, op: 'sum' | 'prod', name: string, wide: boolean): void {
  const { m, b } = e;
  const f = m.f64x2;
  const identity = op === 'sum' ? 0 : 1;
  const combine = (a: Expr, c: Expr) => (op === 'sum' ? f.add(a, c) : f.mul(a, c));
  const combineOne = (a: Expr, c: Expr) => (op === 'sum' ? m.f64.add(a, c) : m.f64.mul(a, c));
  const E = wide ? 8 : 4;
  const { outer, length, inner, x, out } = e.named('cumulative');
  const { o, r, src, dst, rowBytes } = e.locals(['o', 'r', 'src', 'dst', 'rowBytes'], b.i32);
  const carry = e.local(b.v128);
  const scalarCarry = e.local(b.f64);
  const i32 = (v: number) => m.i32.const(v);
  const at = (base: Expr, index: Expr) => m.i32.add(base, m.i32.shl(index, i32(wide ? 3 : 2)));
  const identityPair = () => e.f64x2Const(identity).get();
  /** [p, q] → [p, p·q] (or p + q): the prefix of a float64 pair. */
  const pairPrefix = (v: Expr, again: Expr) =>
    combine(v, m.i8x16.shuffle(identityPair(), again, [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23]));
  const splatHigh = (v: Expr) => m.i8x16.shuffle(v, v, [8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15]);
  const loadScalar = (addr: Expr) => (wide ? m.f64.load(0, 8, addr) : m.f64.promote(m.f32.load(0, 4, addr)));
  const storeScalar = (addr: Expr, v: Expr) =>
    wide ? m.f64.store(0, 8, addr, v) : m.f32.store(0, 4, addr, m.f32.demote(v));

  // ---- a contiguous row ----
  const rowVector = (): Expr[] => {
    const stmts: Expr[] = [];
    const v = e.let(stmts, b.v128, m.v128.load(0, 4, at(src.get(), r.get())));
    if (wide) {
      const prefix = e.let(stmts, b.v128, pairPrefix(v.get(), v.get()));
      const total = e.let(stmts, b.v128, combine(prefix.get(), carry.get()));
      stmts.push(
        m.v128.store(0, 8, at(dst.get(), r.get()), total.get()),
        m.local.set(carry.index, splatHigh(total.get())),
      );
      return stmts;
    }
    const [low, high] = widen(e, stmts, v.get(), v.get());
    const lowPrefix = e.let(stmts, b.v128, pairPrefix(low!.get(), low!.get()));
    const highPrefix = e.let(stmts, b.v128, combine(pairPrefix(high!.get(), high!.get()), splatHigh(lowPrefix.get())));
    const lowTotal = e.let(stmts, b.v128, combine(lowPrefix.get(), carry.get()));
    const highTotal = e.let(stmts, b.v128, combine(highPrefix.get(), carry.get()));
    stmts.push(
      m.v128.store(0, 4, at(dst.get(), r.get()), narrow(e, lowTotal.get(), highTotal.get())),
      m.local.set(carry.index, splatHigh(highTotal.get())),
    );
    return stmts;
  };
  const rowTail = (): Expr[] => [
    m.local.set(scalarCarry.index, combineOne(scalarCarry.get(), loadScalar(at(src.get(), r.get())))),
    storeScalar(at(dst.get(), r.get()), scalarCarry.get()),
  ];
  const rowMode: Expr[] = [
    m.local.set(carry.index, identityPair()),
    e.countedLoop(r, i32(0), () => length.get(), wide ? 2 : 4, rowVector()),
    m.local.set(scalarCarry.index, f.extract_lane(carry.get(), 0)),
    e.countedLoop(r, undefined, () => length.get(), 1, rowTail()),
  ];

  // ---- columns: one running total per column, down the rows ----
  const accLow = e.local(b.v128);
  const accHigh = e.local(b.v128);
  const columnVector = (): Expr[] => {
    const stmts: Expr[] = [];
    const addr = src.get();
    const target = dst.get();
    if (wide) {
      stmts.push(m.local.set(accLow.index, combine(accLow.get(), m.v128.load(0, 8, addr))));
      stmts.push(m.v128.store(0, 8, target, accLow.get()));
    } else {
      const [low, high] = widen(e, stmts, m.v128.load(0, 4, addr), m.v128.load(0, 4, src.get()));
      stmts.push(m.local.set(accLow.index, combine(accLow.get(), low!.get())));
      stmts.push(m.local.set(accHigh.index, combine(accHigh.get(), high!.get())));
      stmts.push(m.v128.store(0, 4, target, narrow(e, accLow.get(), accHigh.get())));
    }
    return stmts;
  };
  /** The rows of one block of columns (src and dst start at its first column and walk down by rowBytes). */
  const columns = (body: () => Expr[]): Expr[] => [
    m.local.set(accLow.index, identityPair()),
    m.local.set(accHigh.index, identityPair()),
    m.local.set(scalarCarry.index, m.f64.const(identity)),
    e.countedLoop(r, i32(0), () => length.get(), 1, [
      ...body(),
      m.local.set(src.index, m.i32.add(src.get(), rowBytes.get())),
      m.local.set(dst.index, m.i32.add(dst.get(), rowBytes.get())),
    ]),
  ];
  const columnTail = (): Expr[] => [
    m.local.set(scalarCarry.index, combineOne(scalarCarry.get(), loadScalar(src.get()))),
    storeScalar(dst.get(), scalarCarry.get()),
  ];
  const lineStart = (column: Expr) => [
    m.local.set(src.index, at(m.i32.add(x.get(), m.i32.mul(m.i32.mul(o.get(), length.get()), rowBytes.get())), column)),
    m.local.set(
      dst.index,
      at(m.i32.add(out.get(), m.i32.mul(m.i32.mul(o.get(), length.get()), rowBytes.get())), column),
    ),
  ];
  const c = e.local(b.i32);
  // The block's columns are read at offset 0 from src/dst, which start at the block's first column.
  const blockMode: Expr[] = [
    e.countedLoop(c, i32(0), () => inner.get(), wide ? 2 : 4, [...lineStart(c.get()), ...columns(columnVector)]),
    e.countedLoop(c, undefined, () => inner.get(), 1, [...lineStart(c.get()), ...columns(columnTail)]),
  ];

  const lines = e.countedLoop(o, i32(0), () => outer.get(), 1, [
    m.local.set(rowBytes.index, m.i32.mul(inner.get(), i32(E))),
    m.if(
      m.i32.eq(inner.get(), i32(1)),
      m.block(null, [
        m.local.set(src.index, at(x.get(), m.i32.mul(o.get(), length.get()))),
        m.local.set(dst.index, at(out.get(), m.i32.mul(o.get(), length.get()))),
        ...rowMode,
      ]),
      m.block(null, blockMode),
    ),
  ]);
  e.finish(name, [lines]);
}
