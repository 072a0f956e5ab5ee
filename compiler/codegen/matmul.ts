import type { Expr } from './binaryen.js';
import type { FunctionEmitter } from './emitter.js';

/** Register tile: 4 rows of A times 8 columns of B, 8 f32x4 accumulators (V8 has 16 vector registers). */
export const TILE_ROWS = 4;
export const TILE_COLS = 8;

/**
 * Emits `matmul(A, Bpacked, C, rows, k, cols)`: C[rows, cols] = A[rows, k] · B[k, cols], where rows
 * and cols are multiples of the tile and B is packed in panels of 8 columns ([panel][k][8]), so the
 * inner loop streams B contiguously and broadcasts one element of A per row (XNNPACK's 4x8 loadsplat shape).
 */
export function emitMatmul(e: FunctionEmitter, name: string): void {
  const { m, b } = e;
  const [A, Bp, C, rows, k, cols] = e.params as [ReturnType<FunctionEmitter['local']>, ...ReturnType<FunctionEmitter['local']>[]];
  const i32 = (c: number) => m.i32.const(c);
  const panel = e.local(b.i32);
  const i = e.local(b.i32);
  const l = e.local(b.i32);
  const bPtr = e.local(b.i32);
  const aPtrs = Array.from({ length: TILE_ROWS }, () => e.local(b.i32));
  const acc = Array.from({ length: TILE_ROWS * 2 }, () => e.local(b.v128));
  const b0 = e.local(b.v128);
  const b1 = e.local(b.v128);
  const a = e.local(b.v128);
  const zero = e.f32x4Const(0);

  const loop = (label: string, exitWhen: Expr, stmts: Expr[]) =>
    m.block(`${label}_exit`, [m.loop(`${label}_loop`, m.block(null, [m.br(`${label}_exit`, exitWhen), ...stmts, m.br(`${label}_loop`)]))]);

  const kBytes = () => m.i32.shl(k!.get(), i32(2));
  const inner: Expr[] = [
    m.local.set(b0.index, m.v128.load(0, 4, bPtr.get())),
    m.local.set(b1.index, m.v128.load(16, 4, bPtr.get())),
  ];
  aPtrs.forEach((p, r) => {
    inner.push(m.local.set(a.index, m.v128.load32_splat(0, 4, p.get())));
    inner.push(m.local.set(acc[2 * r]!.index, m.f32x4.add(acc[2 * r]!.get(), m.f32x4.mul(a.get(), b0.get()))));
    inner.push(m.local.set(acc[2 * r + 1]!.index, m.f32x4.add(acc[2 * r + 1]!.get(), m.f32x4.mul(a.get(), b1.get()))));
    inner.push(m.local.set(p.index, m.i32.add(p.get(), i32(4))));
  });
  inner.push(m.local.set(bPtr.index, m.i32.add(bPtr.get(), i32(32))));
  inner.push(m.local.set(l.index, m.i32.add(l.get(), i32(1))));

  const panelBase = () => m.i32.add(Bp!.get(), m.i32.mul(panel.get(), m.i32.shl(kBytes(), i32(3))));
  const tile: Expr[] = [
    ...aPtrs.map((p, r) => m.local.set(p.index, m.i32.add(A!.get(), m.i32.mul(m.i32.add(i.get(), i32(r)), kBytes())))),
    ...acc.map((v) => m.local.set(v.index, zero.get())),
    m.local.set(bPtr.index, panelBase()),
    m.local.set(l.index, i32(0)),
    loop('k', m.i32.ge_u(l.get(), k!.get()), inner),
  ];
  for (let r = 0; r < TILE_ROWS; r++) {
    const rowStart = m.i32.add(C!.get(), m.i32.shl(m.i32.add(m.i32.mul(m.i32.add(i.get(), i32(r)), cols!.get()), m.i32.shl(panel.get(), i32(3))), i32(2)));
    const rowStart2 = m.i32.add(C!.get(), m.i32.shl(m.i32.add(m.i32.mul(m.i32.add(i.get(), i32(r)), cols!.get()), m.i32.shl(panel.get(), i32(3))), i32(2)));
    tile.push(m.v128.store(0, 4, rowStart, acc[2 * r]!.get()));
    tile.push(m.v128.store(16, 4, rowStart2, acc[2 * r + 1]!.get()));
  }
  tile.push(m.local.set(i.index, m.i32.add(i.get(), i32(TILE_ROWS))));

  const body = [
    m.local.set(panel.index, i32(0)),
    loop('panel', m.i32.ge_u(m.i32.shl(panel.get(), i32(3)), cols!.get()), [
      m.local.set(i.index, i32(0)),
      loop('rows', m.i32.ge_u(i.get(), rows!.get()), tile),
      m.local.set(panel.index, m.i32.add(panel.get(), i32(1))),
    ]),
  ];
  e.finish(name, body);
}
