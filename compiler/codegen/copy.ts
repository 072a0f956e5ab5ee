import type { FunctionEmitter } from './emitter.js';

/**
 * The strided copy behind the shape ops (transpose, slice and its gradient, pad): `rank` axes of
 * sizes shape[a], element i read at src + Σ i_a·srcStrides[a] and written at dst + Σ i_a·dstStrides[a].
 * Sizes and byte strides are i32 arrays in memory; `index` is scratch for the axis counters; `bytes`
 * per element is 1, 4 or 8, so one kernel serves every dtype. A last axis contiguous on both sides is
 * one memory.copy a row; otherwise elements move one at a time. The caller never passes an empty shape.
 */
export function emitStridedCopy(e: FunctionEmitter, name: string): void {
  const { m, b } = e;
  const { src, dst, rank, shape, srcStrides, dstStrides, index, bytes } = e.named('stridedCopy');
  const { s, d, a, j, inner, sIn, dIn } = e.locals(['s', 'd', 'a', 'j', 'inner', 'sIn', 'dIn'], b.i32);
  const i32 = (v: number) => m.i32.const(v);
  const add = m.i32.add.bind(m.i32);
  const mul = m.i32.mul.bind(m.i32);
  const sub = m.i32.sub.bind(m.i32);
  const set = (l: { index: number }, v: number) => m.local.set(l.index, v);
  const at = (array: { get(): number }, axis: number) => add(array.get(), m.i32.shl(axis, i32(2)));
  const load = (array: { get(): number }, axis: () => number) => m.i32.load(0, 4, at(array, axis()));
  const last = () => sub(rank.get(), i32(1));
  // One element of 1, 4 or 8 bytes, from s + j·sIn to d + j·dIn.
  const element = (width: 1 | 4 | 8) => {
    const from = add(s.get(), mul(j.get(), sIn.get()));
    const to = add(d.get(), mul(j.get(), dIn.get()));
    if (width === 1) return m.i32.store8(0, 1, to, m.i32.load8_u(0, 1, from));
    if (width === 4) return m.i32.store(0, 1, to, m.i32.load(0, 1, from));
    return m.i64.store(0, 1, to, m.i64.load(0, 1, from));
  };
  const elements = (width: 1 | 4 | 8) =>
    m.block(`${width}_exit`, [
      set(j, i32(0)),
      m.loop(
        `${width}_loop`,
        m.block(null, [
          m.br(`${width}_exit`, m.i32.ge_s(j.get(), inner.get())),
          element(width),
          set(j, add(j.get(), i32(1))),
          m.br(`${width}_loop`),
        ]),
      ),
    ]);
  const row = m.if(
    m.i32.and(m.i32.eq(sIn.get(), bytes.get()), m.i32.eq(dIn.get(), bytes.get())),
    m.memory.copy(d.get(), s.get(), mul(inner.get(), bytes.get())),
    m.if(m.i32.eq(bytes.get(), i32(8)), elements(8), m.if(m.i32.eq(bytes.get(), i32(4)), elements(4), elements(1))),
  );
  // After a row: the counters of the axes before the last move on like an odometer, each carrying
  // into the one before it when it wraps; past the first axis, the copy is done.
  const carry = m.loop(
    'carry',
    m.block(null, [
      m.br('rows_exit', m.i32.lt_s(a.get(), i32(0))),
      m.i32.store(
        0,
        4,
        at(index, a.get()),
        add(
          load(index, () => a.get()),
          i32(1),
        ),
      ),
      set(
        s,
        add(
          s.get(),
          load(srcStrides, () => a.get()),
        ),
      ),
      set(
        d,
        add(
          d.get(),
          load(dstStrides, () => a.get()),
        ),
      ),
      m.br(
        'rows',
        m.i32.lt_s(
          load(index, () => a.get()),
          load(shape, () => a.get()),
        ),
      ),
      set(
        s,
        sub(
          s.get(),
          mul(
            load(srcStrides, () => a.get()),
            load(shape, () => a.get()),
          ),
        ),
      ),
      set(
        d,
        sub(
          d.get(),
          mul(
            load(dstStrides, () => a.get()),
            load(shape, () => a.get()),
          ),
        ),
      ),
      m.i32.store(0, 4, at(index, a.get()), i32(0)),
      set(a, sub(a.get(), i32(1))),
      m.br('carry'),
    ]),
  );
  const body = [
    set(inner, load(shape, last)),
    set(sIn, load(srcStrides, last)),
    set(dIn, load(dstStrides, last)),
    m.memory.fill(index.get(), i32(0), m.i32.shl(rank.get(), i32(2))),
    set(s, src.get()),
    set(d, dst.get()),
    m.block('rows_exit', [m.loop('rows', m.block(null, [row, set(a, sub(rank.get(), i32(2))), carry]))]),
  ];
  e.finish(name, body);
}
