import type { Expr } from './binaryen.js';
import type { FunctionEmitter, Local } from './emitter.js';
import { relaxedMadd, SimdMath } from './simd-math.js';
import { SimdMathF64 } from './simd-math-f64.js';
import { evaluate, floatValue } from './elementwise.js';
import type { FloatLanes } from './lowering.js';
import type { MatmulEpilogue } from '../../runtime/kernel-abi.js';
// The register tile: 4 rows of A times two vectors of B (8 float32 or 4 float64 columns), 8 accumulators (V8 has 16 vector registers).
import { CONV_BLOCK_ROWS, CONV_DIRECT_CHANNELS, TILE_ROWS, tileCols } from '../../runtime/kernel-abi.js';

/**
 * Depth of one cache block: a 4 x KC slice of packed A (8 KiB) and a KC x 8 slice of packed B (16 KiB)
 * stay in L1. 512 was 1-4% faster than 256 on the Intel VM (a conv's k = 288 in one block, not 256 + 32).
 */
export const KC = 512;
/** Rows of one cache block: an MC x KC block of packed A (128 KiB) stays in L2 while every panel of B passes. */
const MC = 64;
/** Panels of B packed side by side: four 32-byte panel rows are two cache lines of a row of B. */
const B_PACK_PANELS = 4;

type Loop = (label: string, exitWhen: Expr, stmts: Expr[]) => Expr;

/**
 * Emits `matmul(A, B, C, n, k, m, scratch, aRowStride, aDepthStride, bDepthStride, bColStride)`:
 * C[rows, cols] = A[n, k] · B[k, m] into a C padded to whole tiles (rows = n rounded up to 4, cols =
 * m rounded up to 8), with A[i, l] at A + (i·aRowStride + l·aDepthStride) floats and B[l, j] at
 * B + (l·bDepthStride + j·bColStride): a transposed operand is read in place. The kernel packs A into
 * [row block][k][4] and B into [panel][k][8] (zero-padded), then runs XNNPACK's 4x8 loadsplat
 * micro-kernel over blocks of KC along k and MC rows, so the packed slices stay in cache.
 * `source: 'conv'` emits the direct convolution instead (`convDirect`'s parameters, see convLoops):
 * the same packing of B and the same micro-kernel, with A's rows read from an image.
 */
export function emitMatmul(
  e: FunctionEmitter,
  name: string,
  fma = false,
  epilogue?: MatmulEpilogue,
  dtype: 'float32' | 'float64' = 'float32',
  source: 'matrix' | 'conv' | 'pooledConv' = 'matrix',
): void {
  const { m, b } = e;
  // float64: the same 32-byte panels hold 4 columns of two-lane vectors instead of 8 of four-lane ones.
  const wide = dtype === 'float64';
  const E = wide ? 8 : 4; // bytes per element
  const ES = wide ? 3 : 2; // log2 E
  const TC = tileCols(dtype);
  const CS = wide ? 2 : 3; // log2 TC
  const fx = wide ? m.f64x2 : m.f32x4;
  const scalar = wide ? m.f64 : m.f32;
  const conv = source !== 'matrix';
  const {
    a: A,
    b: B,
    c: C,
    n,
    k,
    cols: cols0,
    scratch,
    aRow,
    aDepth,
    bDepth,
    bCol,
  } = conv ? convOperands(e) : e.named('matmul');
  const epilogueInputs = e.tail(conv ? 'convDirect' : 'matmul');
  const i32 = (c: number) => m.i32.const(c);
  const add = (x: Expr, y: Expr) => m.i32.add(x, y);
  const mul = (x: Expr, y: Expr) => m.i32.mul(x, y);
  const shl = (x: Expr, s: number) => m.i32.shl(x, i32(s));
  const set = (l: Local, v: Expr) => m.local.set(l.index, v);
  const loop: Loop = (label, exitWhen, stmts) =>
    m.block(`${label}_exit`, [
      m.loop(`${label}_loop`, m.block(null, [m.br(`${label}_exit`, exitWhen), ...stmts, m.br(`${label}_loop`)])),
    ]);

  // while (cond) { body }, compiled as if (cond) do { body } while (cond): one branch per iteration.
  const doWhile = (label: string, cond: Expr, stmts: Expr[]) => {
    const again = m.copyExpression(cond);
    return m.if(cond, m.loop(`${label}_loop`, m.block(null, [...stmts, m.br(`${label}_loop`, again)])));
  };
  const rows = e.local(b.i32);
  const cols = e.local(b.i32);
  const packedA = e.local(b.i32);
  const packedB = e.local(b.i32);
  const i = e.local(b.i32);
  const l = e.local(b.i32);
  const p = e.local(b.i32);
  const r = e.local(b.i32);
  const c = e.local(b.i32);
  const k0 = e.local(b.i32);
  const kEnd = e.local(b.i32);
  const ic = e.local(b.i32);
  const icEnd = e.local(b.i32);
  const src = e.local(b.i32);
  const dst = e.local(b.i32);
  const aPtr = e.local(b.i32);
  const bPtr = e.local(b.i32);
  const cPtr = e.local(b.i32);
  const acc = Array.from({ length: TILE_ROWS * 2 }, () => e.local(b.v128));
  const b0 = e.local(b.v128);
  const b1 = e.local(b.v128);
  const a = e.local(b.v128);
  const zero = wide ? e.f64x2Const(0) : e.f32x4Const(0);
  const stmts: Expr[] = [];
  if (conv) {
    const g = e.named('convDirect');
    stmts.push(
      set(k, mul(mul(g.kh.get(), g.kw.get()), g.cin.get())),
      set(n, m.i32.sub(g.row1.get(), g.row0.get())),
      set(bCol, i32(1)),
    );
  }

  stmts.push(set(rows, m.i32.and(add(n.get(), i32(TILE_ROWS - 1)), i32(-TILE_ROWS))));
  stmts.push(set(cols, m.i32.and(add(cols0.get(), i32(TC - 1)), i32(-TC))));
  stmts.push(set(packedA, scratch.get()));
  // A convolution reads its rows from the image through pointers, and packs only B.
  stmts.push(set(packedB, conv ? scratch.get() : add(scratch.get(), shl(mul(rows.get(), k.get()), ES))));

  // Pack A: packedA[(i/4)*k*4 + l*4 + r] = A[(i+r)*aRow + l*aDepth], zero for rows past n.
  // Row by row when A's rows are contiguous:
  // Four whole float32 rows with contiguous depth: 4x4 blocks transposed in registers (four loads,
  // eight shuffles, four stores) instead of sixteen scalar copies.
  const rowBytes = e.local(b.i32);
  const quad = [0, 1, 2, 3].map(() => e.local(b.v128));
  const lanes = (...groups: number[]) => groups.flatMap((g) => [4 * g, 4 * g + 1, 4 * g + 2, 4 * g + 3]);
  const transposeBlock = (): Expr[] => {
    const [r0, r1, r2, r3] = quad as [Local, Local, Local, Local];
    const low = (p: Local, q: Local) => m.i8x16.shuffle(p.get(), q.get(), lanes(0, 4, 1, 5));
    const high = (p: Local, q: Local) => m.i8x16.shuffle(p.get(), q.get(), lanes(2, 6, 3, 7));
    const [t0, t1, t2, t3] = [0, 1, 2, 3].map(() => e.local(b.v128)) as [Local, Local, Local, Local];
    return [
      ...quad.map((v, row) =>
        set(v, m.v128.load(0, 4, add(add(src.get(), mul(rowBytes.get(), i32(row))), shl(l.get(), 2)))),
      ),
      set(t0, low(r0, r1)),
      set(t1, low(r2, r3)),
      set(t2, high(r0, r1)),
      set(t3, high(r2, r3)),
      m.v128.store(0, 4, dst.get(), m.i8x16.shuffle(t0.get(), t1.get(), lanes(0, 1, 4, 5))),
      m.v128.store(16, 4, dst.get(), m.i8x16.shuffle(t0.get(), t1.get(), lanes(2, 3, 6, 7))),
      m.v128.store(32, 4, dst.get(), m.i8x16.shuffle(t2.get(), t3.get(), lanes(0, 1, 4, 5))),
      m.v128.store(48, 4, dst.get(), m.i8x16.shuffle(t2.get(), t3.get(), lanes(2, 3, 6, 7))),
      set(dst, add(dst.get(), i32(64))),
      set(l, add(l.get(), i32(4))),
    ];
  };
  const packFour = m.block(null, [
    set(rowBytes, shl(aRow.get(), 2)),
    set(src, add(A.get(), mul(i.get(), rowBytes.get()))),
    set(dst, add(packedA.get(), shl(mul(i.get(), k.get()), 2))),
    set(l, i32(0)),
    loop('pack4_l', m.i32.gt_u(add(l.get(), i32(4)), k.get()), transposeBlock()),
    loop('pack4_t', m.i32.ge_u(l.get(), k.get()), [
      ...[0, 1, 2, 3].map((row) =>
        m.f32.store(
          row * 4,
          4,
          dst.get(),
          m.f32.load(0, 4, add(add(src.get(), mul(rowBytes.get(), i32(row))), shl(l.get(), 2))),
        ),
      ),
      set(dst, add(dst.get(), i32(16))),
      set(l, add(l.get(), i32(1))),
    ]),
  ]);
  const packRowwise = m.block(null, [
    set(i, i32(0)),
    loop('packa_i', m.i32.ge_u(i.get(), rows.get()), [
      ...(wide
        ? []
        : [
            m.if(
              m.i32.and(m.i32.eq(aDepth.get(), i32(1)), m.i32.le_u(add(i.get(), i32(TILE_ROWS)), n.get())),
              m.block(null, [packFour, set(i, add(i.get(), i32(TILE_ROWS))), m.br('packa_i_loop')]),
            ),
          ]),
      set(r, i32(0)),
      loop('packa_r', m.i32.ge_u(r.get(), i32(TILE_ROWS)), [
        set(dst, add(packedA.get(), shl(add(mul(i.get(), k.get()), r.get()), ES))),
        m.if(
          m.i32.lt_u(add(i.get(), r.get()), n.get()),
          m.block(null, [
            set(src, add(A.get(), shl(mul(add(i.get(), r.get()), aRow.get()), ES))),
            set(l, i32(0)),
            loop('packa_l', m.i32.ge_u(l.get(), k.get()), [
              scalar.store(0, E, dst.get(), scalar.load(0, E, src.get())),
              set(src, add(src.get(), shl(aDepth.get(), ES))),
              set(dst, add(dst.get(), i32(TILE_ROWS * E))),
              set(l, add(l.get(), i32(1))),
            ]),
          ]),
          m.block(null, [
            set(l, i32(0)),
            loop('packa_z', m.i32.ge_u(l.get(), k.get()), [
              scalar.store(0, E, dst.get(), scalar.const(0)),
              set(dst, add(dst.get(), i32(TILE_ROWS * E))),
              set(l, add(l.get(), i32(1))),
            ]),
          ]),
        ),
        set(r, add(r.get(), i32(1))),
      ]),
      set(i, add(i.get(), i32(TILE_ROWS))),
    ]),
  ]);
  // A read transposed (aRow = 1: its columns are contiguous): depth by depth, four rows in one vector
  // load where they exist, so the source is read once, in order, however many rows there are.
  const packDepthwise = m.block(null, [
    set(l, i32(0)),
    loop('packt_l', m.i32.ge_u(l.get(), k.get()), [
      set(src, add(A.get(), shl(mul(l.get(), aDepth.get()), ES))),
      set(dst, add(packedA.get(), shl(shl(l.get(), 2), ES))),
      set(i, i32(0)),
      loop('packt_i', m.i32.ge_u(i.get(), rows.get()), [
        m.if(
          m.i32.le_u(add(i.get(), i32(TILE_ROWS)), n.get()),
          wide
            ? m.block(null, [
                m.v128.store(0, 8, dst.get(), m.v128.load(0, 8, src.get())),
                m.v128.store(16, 8, dst.get(), m.v128.load(16, 8, src.get())),
              ])
            : m.v128.store(0, 4, dst.get(), m.v128.load(0, 4, src.get())),
          m.block(null, [
            set(r, i32(0)),
            loop('packt_r', m.i32.ge_u(r.get(), i32(TILE_ROWS)), [
              scalar.store(
                0,
                E,
                add(dst.get(), shl(r.get(), ES)),
                m.if(
                  m.i32.lt_u(add(i.get(), r.get()), n.get()),
                  scalar.load(0, E, add(src.get(), shl(r.get(), ES))),
                  scalar.const(0),
                ),
              ),
              set(r, add(r.get(), i32(1))),
            ]),
          ]),
        ),
        set(src, add(src.get(), i32(TILE_ROWS * E))),
        set(dst, add(dst.get(), shl(shl(k.get(), 2), ES))),
        set(i, add(i.get(), i32(TILE_ROWS))),
      ]),
      set(l, add(l.get(), i32(1))),
    ]),
  ]);
  if (!conv) stmts.push(m.if(m.i32.eq(aRow.get(), i32(1)), packDepthwise, packRowwise));

  // Pack B: packedB[p*k*8 + l*8 + c] = B[l*bDepth + (p*8 + c)*bCol], zero for columns past m.
  // Four panels at a time, depth by depth: where B's columns are contiguous and all four panels are
  // whole, each row of B is read 128 bytes at once into the four panels' next 32 bytes, with running
  // pointers. Depth-major over all panels (writes a panel apart, k·32 bytes: the same cache sets when
  // k is a power of two) took 1.7 ms for a 1024² B and 0.24 ms for 784x512; this 0.6 and 0.2.
  const group = e.local(b.i32);
  const groupEnd = e.local(b.i32);
  const panelBytes = e.local(b.i32);
  const rowBytesB = e.local(b.i32);
  const panelRow = (at: Expr, to: Expr) => [
    m.v128.store(0, 4, to, m.v128.load(0, 4, at)),
    m.v128.store(16, 4, m.copyExpression(to), m.v128.load(16, 4, m.copyExpression(at))),
  ];
  const wholeGroup = m.block(null, [
    set(src, add(B.get(), shl(shl(group.get(), CS), ES))),
    set(dst, add(packedB.get(), mul(group.get(), panelBytes.get()))),
    set(l, i32(0)),
    loop('packb_fast', m.i32.ge_u(l.get(), k.get()), [
      ...Array.from({ length: B_PACK_PANELS }, (_, j) =>
        panelRow(add(src.get(), i32(32 * j)), j === 0 ? dst.get() : add(dst.get(), mul(panelBytes.get(), i32(j)))),
      ).flat(),
      set(src, add(src.get(), rowBytesB.get())),
      set(dst, add(dst.get(), i32(32))),
      set(l, add(l.get(), i32(1))),
    ]),
  ]);
  const anyGroup = m.block(null, [
    set(l, i32(0)),
    loop('packb_l', m.i32.ge_u(l.get(), k.get()), [
      set(p, group.get()),
      loop('packb_p', m.i32.ge_u(p.get(), groupEnd.get()), [
        set(dst, add(packedB.get(), shl(add(shl(mul(p.get(), k.get()), CS), shl(l.get(), CS)), ES))),
        set(src, add(B.get(), shl(add(mul(l.get(), bDepth.get()), mul(shl(p.get(), CS), bCol.get())), ES))),
        set(c, i32(0)),
        loop('packb_c', m.i32.ge_u(c.get(), i32(TC)), [
          scalar.store(
            0,
            E,
            add(dst.get(), shl(c.get(), ES)),
            m.if(
              m.i32.lt_u(add(shl(p.get(), CS), c.get()), cols0.get()),
              scalar.load(0, E, add(src.get(), shl(mul(c.get(), bCol.get()), ES))),
              scalar.const(0),
            ),
          ),
          set(c, add(c.get(), i32(1))),
        ]),
        set(p, add(p.get(), i32(1))),
      ]),
      set(l, add(l.get(), i32(1))),
    ]),
  ]);
  stmts.push(set(panelBytes, shl(mul(k.get(), i32(TC)), ES)));
  stmts.push(set(rowBytesB, shl(bDepth.get(), ES)));
  stmts.push(set(group, i32(0)));
  stmts.push(
    loop('packb_g', m.i32.ge_u(shl(group.get(), CS), cols.get()), [
      set(
        groupEnd,
        m.select(
          m.i32.lt_u(shl(add(group.get(), i32(B_PACK_PANELS)), CS), cols.get()),
          add(group.get(), i32(B_PACK_PANELS)),
          m.i32.shr_u(cols.get(), i32(CS)),
        ),
      ),
      m.if(
        m.i32.and(m.i32.eq(bCol.get(), i32(1)), m.i32.le_u(shl(add(group.get(), i32(B_PACK_PANELS)), CS), cols0.get())),
        wholeGroup,
        anyGroup,
      ),
      set(group, groupEnd.get()),
    ]),
  );

  // Micro-kernel over KC-deep blocks; the first block starts from zero, later ones accumulate into C.
  // One step of k for the whole tile, reading A and B at constant offsets from the running pointers.
  const step = (u: number, aLoad = (row: number) => aLoadPacked(u, row)): Expr[] => {
    const out: Expr[] = [set(b0, m.v128.load(u * 32, 4, bPtr.get())), set(b1, m.v128.load(u * 32 + 16, 4, bPtr.get()))];
    // acc + a * b: one fused relaxed_madd where the engine has relaxed SIMD, else mul then add.
    const madd = (x: Expr, y: Expr, z: Expr): Expr =>
      fma && !wide ? relaxedMadd(e, x, y, z) : fx.add(z, fx.mul(x, y));
    for (let row = 0; row < TILE_ROWS; row++) {
      out.push(set(a, aLoad(row)));
      out.push(set(acc[2 * row]!, madd(a.get(), b0.get(), acc[2 * row]!.get())));
      out.push(set(acc[2 * row + 1]!, madd(a.get(), b1.get(), acc[2 * row + 1]!.get())));
    }
    return out;
  };
  const splatAt = (offset: number, ptr: Expr) =>
    wide ? m.v128.load64_splat(offset, 8, ptr) : m.v128.load32_splat(offset, 4, ptr);
  const aLoadPacked = (u: number, row: number) => splatAt(u * TILE_ROWS * E + row * E, aPtr.get());
  const advance = (steps: number): Expr[] => [
    set(aPtr, add(aPtr.get(), i32(TILE_ROWS * E * steps))),
    set(bPtr, add(bPtr.get(), i32(32 * steps))),
    set(l, add(l.get(), i32(steps))),
  ];
  // Unrolling k (by 2, 4 or 8, with separate or shared temporaries), shuffle-based broadcasts of A and
  // the tile as a separate function all measured no faster than this plain loop under V8 11.3
  // (interleaved in one process, 256^3 to 1024^3).
  const single: Expr[] = [...step(0), ...advance(1)];

  const cRow = (row: number) => add(cPtr.get(), shl(mul(i32(row), cols.get()), ES));
  const storeRaw = (): Expr[] => acc.map((v, q) => m.v128.store((q % 2) * 16, 4, cRow(Math.floor(q / 2)), v.get()));
  /** The epilogue on each accumulator (row r of the tile, columns p·TC + h·(lanes) …), then the store. */
  /** Accumulator q after the epilogue (row r of the tile, columns p·TC + h·(lanes) …); its statements go to `out`. */
  const epilogueValue = (ep: MatmulEpilogue, q: number, out: Expr[]): Expr => {
    const s = wide ? new SimdMathF64(e) : new SimdMath(e, fma);
    const splat = (at: Expr) => (wide ? m.v128.load64_splat(0, 8, at) : m.v128.load32_splat(0, 4, at));
    const v = acc[q]!;
    {
      const [r, h] = [Math.floor(q / 2), q % 2];
      const loaded = [
        floatValue(v),
        ...ep.layouts.map((layout, t) => {
          const ptr = epilogueInputs[t]!.get();
          const value =
            layout === 'row'
              ? m.v128.load(h * 16, E, add(ptr, shl(shl(p.get(), CS), ES)))
              : layout === 'column'
                ? splat(add(ptr, shl(add(i.get(), i32(r)), ES)))
                : splat(ptr);
          return floatValue(s.set(out, value));
        }),
      ];
      const values = evaluate(s, out, ep.instrs, loaded, m, fx as FloatLanes);
      return values[ep.output]!.v.get();
    }
  };
  const storeWithEpilogue = (ep: MatmulEpilogue): Expr[] =>
    acc.flatMap((_, q) => {
      const out: Expr[] = [];
      const value = epilogueValue(ep, q, out);
      out.push(m.v128.store((q % 2) * 16, 4, cRow(Math.floor(q / 2)), value));
      return out;
    });
  // A pooled convolution's tile is one 2x2 window: the lane-wise max of its four rows (NaN propagates,
  // as in the pooling kernel), stored as one row.
  const storePooled = (): Expr[] =>
    [0, 1].flatMap((h) => {
      const out: Expr[] = [];
      const rows = [0, 1, 2, 3].map((r) => {
        const q = 2 * r + h;
        return e.let(out, b.v128, epilogue ? epilogueValue(epilogue, q, out) : acc[q]!.get());
      });
      const max = rows.slice(1).reduce((x, y) => fx.max(x, y.get()), rows[0]!.get());
      out.push(m.v128.store(h * 16, 4, cPtr.get(), max));
      return out;
    });
  if (conv) {
    const storeConv = () =>
      source === 'pooledConv' ? storePooled() : epilogue ? storeWithEpilogue(epilogue) : storeRaw();
    // A packed row block's depth loop (few channels): the plain matmul loop over the whole depth.
    const packedDepth = (): Expr =>
      m.block(null, [set(l, i32(0)), doWhile('kp', m.i32.lt_u(l.get(), k.get()), [...step(0), ...advance(1)])]);
    stmts.push(
      ...convLoops(e, {
        pooled: source === 'pooledConv',
        acc,
        zero,
        step,
        store: storeConv,
        packedDepth,
        aPtr,
        rows,
        cols,
        packedB,
        bPtr,
        cPtr,
        i,
        p,
        ic,
        icEnd,
        k,
        E,
        ES,
        CS,
        TC,
      }),
    );
    e.finish(name, stmts);
    return;
  }
  const store = epilogue
    ? [m.if(m.i32.eq(kEnd.get(), k.get()), m.block(null, storeWithEpilogue(epilogue)), m.block(null, storeRaw()))]
    : storeRaw();
  const tile: Expr[] = [
    set(cPtr, add(C.get(), shl(add(mul(i.get(), cols.get()), shl(p.get(), CS)), ES))),
    ...acc.map((v, q) =>
      set(v, m.select(m.i32.eqz(k0.get()), zero.get(), m.v128.load((q % 2) * 16, 4, cRow(Math.floor(q / 2))))),
    ),
    set(aPtr, add(packedA.get(), shl(add(mul(i.get(), k.get()), shl(k0.get(), 2)), ES))),
    set(bPtr, add(packedB.get(), shl(add(shl(mul(p.get(), k.get()), CS), shl(k0.get(), CS)), ES))),
    set(l, k0.get()),
    doWhile('k', m.i32.lt_u(l.get(), kEnd.get()), single),
    ...store,
    set(i, add(i.get(), i32(TILE_ROWS))),
  ];
  stmts.push(set(k0, i32(0)));
  stmts.push(
    loop('kc', m.i32.and(m.i32.ge_u(k0.get(), k.get()), m.i32.ne(k0.get(), i32(0))), [
      set(kEnd, m.select(m.i32.lt_u(add(k0.get(), i32(KC)), k.get()), add(k0.get(), i32(KC)), k.get())),
      set(ic, i32(0)),
      loop('mc', m.i32.ge_u(ic.get(), rows.get()), [
        set(icEnd, m.select(m.i32.lt_u(add(ic.get(), i32(MC)), rows.get()), add(ic.get(), i32(MC)), rows.get())),
        set(p, i32(0)),
        loop('panel', m.i32.ge_u(shl(p.get(), CS), cols.get()), [
          set(i, ic.get()),
          loop('rows', m.i32.ge_u(i.get(), icEnd.get()), tile),
          set(p, add(p.get(), i32(1))),
        ]),
        set(ic, add(ic.get(), i32(MC))),
      ]),
      set(k0, add(k0.get(), i32(KC))),
    ]),
  );
  e.finish(name, stmts);
}

/** The matmul kernel's operands as a direct convolution has them: B is the kernel as [kh·kw·cin, cout]; A is never packed. */
function convOperands(e: FunctionEmitter) {
  const g = e.named('convDirect');
  const unused = e.local(e.b.i32);
  return {
    a: unused,
    b: g.b,
    c: g.c,
    n: e.local(e.b.i32),
    k: e.local(e.b.i32),
    cols: g.cout,
    scratch: g.scratch,
    aRow: unused,
    aDepth: unused,
    bDepth: g.cout,
    bCol: e.local(e.b.i32),
  };
}

interface ConvTile {
  pooled: boolean;
  acc: readonly Local[];
  zero: Local;
  step: (u: number, aLoad: (row: number) => Expr) => Expr[];
  store: () => Expr[];
  packedDepth: () => Expr;
  aPtr: Local;
  rows: Local;
  cols: Local;
  packedB: Local;
  bPtr: Local;
  cPtr: Local;
  i: Local;
  p: Local;
  ic: Local;
  icEnd: Local;
  k: Local;
  E: number;
  ES: number;
  CS: number;
  TC: number;
}

/**
 * A convolution as an implicit matmul (XNNPACK's indirect convolution): output pixels are the rows, and
 * a row's depth is its receptive field, read straight from the channels-last image. For each block
 * of CONV_BLOCK_ROWS rows, an indirection table gives, per tile of four rows and per kernel tap, the address of the
 * four pixels under the tap (a zeroed row of channels where the tap falls in the padding); the tile
 * then runs the matmul micro-kernel over every tap's channels against the packed kernel. No im2col
 * copy is written or read back, and the sums run in im2col's order (tap by tap, channel by channel),
 * so the results are those of the im2col product bit for bit.
 *
 * With fewer than CONV_DIRECT_CHANNELS channels a tap is too short to pay for four addresses (a first
 * layer's one to three): the block's rows are gathered instead into the matmul's packed layout
 * ([tile][depth][4], in L1) and the plain micro-kernel runs over the whole depth.
 */
function convLoops(e: FunctionEmitter, t: ConvTile): Expr[] {
  const { m, b } = e;
  const g = e.named('convDirect');
  const { E, ES, CS, TC } = t;
  const i32 = (v: number) => m.i32.const(v);
  const add = (x: Expr, y: Expr) => m.i32.add(x, y);
  const sub = (x: Expr, y: Expr) => m.i32.sub(x, y);
  const mul = (x: Expr, y: Expr) => m.i32.mul(x, y);
  const shl = (x: Expr, s: number) => m.i32.shl(x, i32(s));
  const set = (l: Local, v: Expr) => m.local.set(l.index, v);
  const { taps, zeroRow, table, entry, tap, q, ohw, imageBytes, ki, kj, global, image, rem, oy, ox } = e.locals(
    [
      'taps',
      'zeroRow',
      'table',
      'entry',
      'tap',
      'q',
      'ohw',
      'imageBytes',
      'ki',
      'kj',
      'global',
      'image',
      'rem',
      'oy',
      'ox',
    ],
    b.i32,
  );
  const y0 = [0, 1, 2, 3].map(() => e.local(b.i32));
  const x0 = [0, 1, 2, 3].map(() => e.local(b.i32));
  const base = [0, 1, 2, 3].map(() => e.local(b.i32));
  const ptr = [0, 1, 2, 3].map(() => e.local(b.i32));
  const loop = (counter: Local, from: Expr, end: () => Expr, step: number, body: Expr[]) =>
    e.countedLoop(counter, from, end, step, body);

  // Where each of a tile's four rows starts: its image, and the top-left input pixel of its window
  // (a row past the band's end gets a window far outside the image, so every tap reads zeros).
  // Divisions once per tile: the other rows step from the first (a pooled tile is one window).
  const rowOrigins = (): Expr[] => [
    set(global, add(g.row0.get(), t.i.get())),
    ...(t.pooled
      ? // Row 4·w + s is pixel s (row-major) of pooled pixel w's 2x2 window: oy, ox hold w's place.
        [
          set(image, m.i32.div_u(m.i32.shr_u(global.get(), i32(2)), ohw.get())),
          set(rem, sub(m.i32.shr_u(global.get(), i32(2)), mul(image.get(), ohw.get()))),
          set(oy, m.i32.div_u(rem.get(), m.i32.shr_u(g.ow.get(), i32(1)))),
          set(ox, sub(rem.get(), mul(oy.get(), m.i32.shr_u(g.ow.get(), i32(1))))),
        ]
      : [
          set(image, m.i32.div_u(global.get(), ohw.get())),
          set(rem, sub(global.get(), mul(image.get(), ohw.get()))),
          set(oy, m.i32.div_u(rem.get(), g.ow.get())),
          set(ox, sub(rem.get(), mul(oy.get(), g.ow.get()))),
        ]),
    ...[0, 1, 2, 3].flatMap((r) => {
      const [pixelY, pixelX] = t.pooled
        ? [add(shl(oy.get(), 1), i32(r >> 1)), add(shl(ox.get(), 1), i32(r & 1))]
        : [oy.get(), ox.get()];
      // the next pixel in row-major order, wrapping to the next row and image
      const step: Expr[] =
        t.pooled || r === 3
          ? []
          : [
              set(ox, add(ox.get(), i32(1))),
              set(oy, m.select(m.i32.ge_u(ox.get(), g.ow.get()), add(oy.get(), i32(1)), oy.get())),
              set(ox, m.select(m.i32.ge_u(ox.get(), g.ow.get()), i32(0), ox.get())),
              set(image, m.select(m.i32.ge_u(oy.get(), g.oh.get()), add(image.get(), i32(1)), image.get())),
              set(oy, m.select(m.i32.ge_u(oy.get(), g.oh.get()), i32(0), oy.get())),
            ];
      return [
        set(base[r]!, add(g.x.get(), mul(image.get(), imageBytes.get()))),
        set(
          y0[r]!,
          m.select(
            m.i32.lt_u(add(global.get(), i32(r)), g.row1.get()),
            sub(mul(pixelY, g.sh.get()), g.ph.get()),
            i32(-(1 << 30)),
          ),
        ),
        set(x0[r]!, sub(mul(pixelX, g.sw.get()), g.pw.get())),
        ...step,
      ];
    }),
  ];
  // The input row under kernel row ki for tile row r.
  const tapRow = (r: number): Expr => add(y0[r]!.get(), mul(ki.get(), g.dh.get()));
  const tapAddress = (r: number): Expr => tapAddressAt(r, mul(kj.get(), g.dw.get()));
  function tapAddressAt(r: number, dx: Expr): Expr {
    const iy = tapRow(r);
    const ix = add(x0[r]!.get(), dx);
    const inside = m.i32.and(
      m.i32.lt_u(iy, g.h.get()), // unsigned: a negative row is out too
      m.i32.lt_u(ix, g.w.get()),
    );
    const address = add(
      base[r]!.get(),
      shl(mul(add(mul(m.copyExpression(iy), g.w.get()), m.copyExpression(ix)), g.cin.get()), ES),
    );
    return m.select(inside, address, zeroRow.get());
  }
  const buildTable: Expr[] = [
    set(entry, table.get()),
    loop(t.i, t.ic.get(), () => t.icEnd.get(), 4, [
      ...rowOrigins(),
      loop(ki, i32(0), () => g.kh.get(), 1, [
        loop(kj, i32(0), () => g.kw.get(), 1, [
          ...[0, 1, 2, 3].map((r) => m.i32.store(r * 4, 4, entry.get(), tapAddress(r))),
          set(entry, add(entry.get(), i32(16))),
        ]),
      ]),
    ]),
  ];

  // One step of depth: each row's value from its own pixel pointer. Unrolling this loop (by 2, 4 or
  // 8, with constant offsets) made it 2x slower under V8 11.3; counted down, it needs no compare.
  const channels: Expr[] = [
    ...ptr.map((pt, r) => set(pt, m.i32.load(r * 4, 4, entry.get()))),
    set(entry, add(entry.get(), i32(16))),
    set(q, g.cin.get()),
    m.loop(
      'channel',
      m.block(null, [
        ...t.step(0, (row) =>
          E === 8 ? m.v128.load64_splat(0, 8, ptr[row]!.get()) : m.v128.load32_splat(0, 4, ptr[row]!.get()),
        ),
        ...ptr.map((pt) => set(pt, add(pt.get(), i32(E)))),
        set(t.bPtr, add(t.bPtr.get(), i32(32))),
        set(q, sub(q.get(), i32(1))),
        m.br('channel', q.get()),
      ]),
    ),
  ];
  const tileStart = (): Expr[] => [
    // A pooled tile stores one row (its window's maximum).
    set(
      t.cPtr,
      add(
        g.c.get(),
        shl(add(mul(t.pooled ? m.i32.shr_u(t.i.get(), i32(2)) : t.i.get(), t.cols.get()), shl(t.p.get(), CS)), ES),
      ),
    ),
    ...t.acc.map((v) => set(v, t.zero.get())),
    set(t.bPtr, add(t.packedB.get(), shl(shl(mul(t.p.get(), t.k.get()), CS), ES))),
  ];
  const indirectTile: Expr[] = [
    ...tileStart(),
    set(entry, add(table.get(), mul(sub(t.i.get(), t.ic.get()), shl(taps.get(), 2)))),
    loop(tap, i32(0), () => taps.get(), 1, channels),
    ...t.store(),
  ];
  // Few channels: gather each tile's four rows into [depth][4] at the block's packed A, tap by tap.
  const packedA = table; // the same scratch, used one way or the other
  // A kernel row whose taps are adjacent (no dilation) and inside the image for all four rows reads
  // kw·cin contiguous values per row: one loop over them, not kw taps with their addresses.
  const rowInside = (r: number): Expr =>
    m.i32.and(
      m.i32.and(m.i32.lt_u(tapRow(r), g.h.get()), m.i32.ge_s(x0[r]!.get(), i32(0))),
      m.i32.le_s(add(x0[r]!.get(), g.kw.get()), g.w.get()),
    );
  const wholeRows = m.i32.and(
    m.i32.eq(g.dw.get(), i32(1)),
    [0, 1, 2, 3].map(rowInside).reduce((x, y) => m.i32.and(x, y)),
  );
  // `count` values from each row's pointer, interleaved into the packed block ([depth][4]) at entry.
  const gather = (count: () => Expr): Expr =>
    loop(q, i32(0), count, 1, [
      ...ptr.map((pt, r) =>
        E === 8
          ? m.f64.store(r * 8, 8, entry.get(), m.f64.load(0, 8, add(pt.get(), shl(q.get(), ES))))
          : m.f32.store(r * 4, 4, entry.get(), m.f32.load(0, 4, add(pt.get(), shl(q.get(), ES)))),
      ),
      set(entry, add(entry.get(), i32(4 * E))),
    ]);
  const copyRows: Expr[] = [
    ...ptr.map((pt, r) => set(pt, tapAddressAt(r, i32(0)))),
    gather(() => mul(g.kw.get(), g.cin.get())),
  ];
  const gatherBlock: Expr[] = [
    set(entry, packedA.get()),
    loop(t.i, t.ic.get(), () => t.icEnd.get(), 4, [
      ...rowOrigins(),
      loop(ki, i32(0), () => g.kh.get(), 1, [
        m.if(
          wholeRows,
          m.block(null, copyRows),
          m.block(null, [
            loop(kj, i32(0), () => g.kw.get(), 1, [
              ...ptr.map((pt, r) => set(pt, tapAddress(r))),
              gather(() => g.cin.get()),
            ]),
          ]),
        ),
      ]),
    ]),
  ];
  const packedTile: Expr[] = [
    ...tileStart(),
    set(t.aPtr, add(packedA.get(), mul(sub(t.i.get(), t.ic.get()), shl(t.k.get(), ES)))),
    t.packedDepth(),
    ...t.store(),
  ];
  const block = (prepare: Expr[], tile: Expr[]) =>
    m.block(null, [
      ...prepare,
      loop(t.p, i32(0), () => m.i32.shr_u(t.cols.get(), i32(CS)), 1, [
        loop(t.i, t.ic.get(), () => t.icEnd.get(), 4, tile),
      ]),
    ]);
  return [
    set(taps, mul(g.kh.get(), g.kw.get())),
    // pixels per image (pooled pixels for a pooled convolution)
    set(
      ohw,
      t.pooled ? mul(m.i32.shr_u(g.oh.get(), i32(1)), m.i32.shr_u(g.ow.get(), i32(1))) : mul(g.oh.get(), g.ow.get()),
    ),
    set(imageBytes, shl(mul(mul(g.h.get(), g.w.get()), g.cin.get()), ES)),
    set(zeroRow, add(t.packedB.get(), shl(mul(t.cols.get(), t.k.get()), ES))),
    m.memory.fill(zeroRow.get(), i32(0), shl(g.cin.get(), ES)),
    set(table, add(zeroRow.get(), m.i32.and(add(shl(g.cin.get(), ES), i32(15)), i32(-16)))),
    loop(t.ic, i32(0), () => t.rows.get(), 1, [
      // countedLoop steps by a constant: blocks of CONV_BLOCK_ROWS rows, the last one short.
      set(
        t.icEnd,
        m.select(
          m.i32.lt_u(add(t.ic.get(), i32(CONV_BLOCK_ROWS)), t.rows.get()),
          add(t.ic.get(), i32(CONV_BLOCK_ROWS)),
          t.rows.get(),
        ),
      ),
      m.if(
        m.i32.ge_u(g.cin.get(), i32(CONV_DIRECT_CHANNELS)),
        block(buildTable, indirectTile),
        block(gatherBlock, packedTile),
      ),
      set(t.ic, sub(t.icEnd.get(), i32(1))),
    ]),
  ];
}
