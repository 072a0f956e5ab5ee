/**
 * The k largest elements of each row as a wasm kernel: a sorted buffer of k values (in `scratch`)
 * and their indices (written straight into the output row), and a vector test that skips the
 * elements that cannot enter it, so most of a long row costs one compare per vector.
 */
import type { Expr } from './binaryen.js';
import type { FunctionEmitter } from './emitter.js';

/**
 * Emits `topk(rows, n, k, x, out, scratch)` over float32 (float64, `wide`) rows. NaN ranks above every
 * number; equal values keep their order (an element displaces only those it beats strictly).
 */
export function emitTopk(e: FunctionEmitter, name: string, wide: boolean): void {
  const { m, b } = e;
  const E = wide ? 8 : 4;
  const W = wide ? 2 : 4;
  const scalar = wide ? m.f64 : m.f32;
  const scalarType = wide ? b.f64 : b.f32;
  const lanes = wide ? m.f64x2 : m.f32x4;
  const { rows, n, k, x, out, scratch } = e.named('topk');
  const { r, j, p, filled, base, row } = e.locals(['r', 'j', 'p', 'filled', 'base', 'row'], b.i32);
  const v = e.local(scalarType);
  const i32 = (c: number) => m.i32.const(c);
  const load = (addr: Expr) => scalar.load(0, E, addr);
  const value = (at: Expr) => load(m.i32.add(scratch.get(), m.i32.mul(at, i32(E))));
  const storeValue = (at: Expr, val: Expr) => scalar.store(0, E, m.i32.add(scratch.get(), m.i32.mul(at, i32(E))), val);
  const index = (at: Expr) => m.i32.load(0, 4, m.i32.add(row.get(), m.i32.shl(at, i32(2))));
  const storeIndex = (at: Expr, val: Expr) => m.i32.store(0, 4, m.i32.add(row.get(), m.i32.shl(at, i32(2))), val);
  /** a beats c: a is NaN and c is not, or a > c. */
  const beats = (a: () => Expr, c: () => Expr) =>
    m.i32.or(m.i32.and(scalar.ne(a(), a()), scalar.eq(c(), c())), scalar.gt(a(), c()));
  const last = () => value(m.i32.sub(k.get(), i32(1)));
  const full = () => m.i32.eq(filled.get(), k.get());

  // One element at j: into the buffer if it beats the last held (or the buffer is not full yet).
  const element = m.block('element', [
    m.local.set(v.index, load(m.i32.add(base.get(), m.i32.mul(j.get(), i32(E))))),
    m.br('element', m.i32.and(full(), m.i32.eqz(beats(() => v.get(), last)))),
    m.if(
      full(),
      m.local.set(p.index, m.i32.sub(k.get(), i32(1))),
      m.block(null, [m.local.set(p.index, filled.get()), m.local.set(filled.index, m.i32.add(filled.get(), i32(1)))]),
    ),
    m.block('placed', [
      m.loop(
        'shift',
        m.block(null, [
          m.br('placed', m.i32.eqz(p.get())),
          m.br(
            'placed',
            m.i32.eqz(
              beats(
                () => v.get(),
                () => value(m.i32.sub(p.get(), i32(1))),
              ),
            ),
          ),
          storeValue(p.get(), value(m.i32.sub(p.get(), i32(1)))),
          storeIndex(p.get(), index(m.i32.sub(p.get(), i32(1)))),
          m.local.set(p.index, m.i32.sub(p.get(), i32(1))),
          m.br('shift'),
        ]),
      ),
    ]),
    storeValue(p.get(), v.get()),
    storeIndex(p.get(), j.get()),
  ]);

  // A vector none of whose elements beats the last held is skipped whole (NaN lanes always go one by one).
  const vector = lanes.splat(last());
  const loaded = () => m.v128.load(0, E, m.i32.add(base.get(), m.i32.mul(j.get(), i32(E))));
  const candidates = m.v128.or(lanes.gt(loaded(), vector), lanes.ne(loaded(), loaded()));
  const elements = m.block('done', [
    m.loop(
      'next',
      m.block(null, [
        m.br('done', m.i32.ge_u(j.get(), n.get())),
        m.if(
          m.i32.and(full(), m.i32.le_u(m.i32.add(j.get(), i32(W)), n.get())),
          m.if(
            m.i32.eqz(m.v128.any_true(candidates)),
            m.block(null, [m.local.set(j.index, m.i32.add(j.get(), i32(W))), m.br('next')]),
          ),
        ),
        element,
        m.local.set(j.index, m.i32.add(j.get(), i32(1))),
        m.br('next'),
      ]),
    ),
  ]);

  const body = e.countedLoop(r, i32(0), () => rows.get(), 1, [
    m.local.set(base.index, m.i32.add(x.get(), m.i32.mul(m.i32.mul(r.get(), n.get()), i32(E)))),
    m.local.set(row.index, m.i32.add(out.get(), m.i32.shl(m.i32.mul(r.get(), k.get()), i32(2)))),
    m.local.set(filled.index, i32(0)),
    m.local.set(j.index, i32(0)),
    elements,
  ]);
  e.finish(name, [m.if(m.i32.gt_u(k.get(), i32(0)), body)]);
}

/**
 * Emits `argsort(lines, n, inner, x, out, scratch, descending)`: for each line of n elements (stride
 * `inner` elements, lines at (o·n)·inner + i), its values copied into the float64 scratch and its
 * positions sorted by a bottom-up merge sort (stable: the left run wins ties), NaN after every number
 * ascending and before it descending, as the reference's order; the positions written out as int32.
 */
export function emitArgsort(e: FunctionEmitter, name: string, wide: boolean): void {
  const { m, b } = e;
  const { lines, n, inner, x, out, scratch, descending } = e.named('argsort');
  const { line, o, i, j, width, left, mid, right, p, q, k, src, dst, values, base } = e.locals(
    ['line', 'o', 'i', 'j', 'width', 'left', 'mid', 'right', 'p', 'q', 'k', 'src', 'dst', 'values', 'base'],
    b.i32,
  );
  const a = e.local(b.f64);
  const c = e.local(b.f64);
  const i32 = (v: number) => m.i32.const(v);
  const at4 = (base_: Expr, index: Expr) => m.i32.add(base_, m.i32.shl(index, i32(2)));
  const at8 = (base_: Expr, index: Expr) => m.i32.add(base_, m.i32.shl(index, i32(3)));
  const value = (position: Expr) => m.f64.load(0, 8, at8(values.get(), position));
  const min = (u: Expr, v: () => Expr) => m.select(m.i32.lt_u(u, v()), u, v());
  /** c comes strictly before a (the right run's element before the left's). */
  const rightFirst = () =>
    m.select(
      descending.get(),
      m.i32.or(m.i32.and(m.f64.ne(c.get(), c.get()), m.f64.eq(a.get(), a.get())), m.f64.gt(c.get(), a.get())),
      m.i32.or(m.i32.and(m.f64.ne(a.get(), a.get()), m.f64.eq(c.get(), c.get())), m.f64.lt(c.get(), a.get())),
    );
  const element = (index: Expr) =>
    wide
      ? m.f64.load(0, 8, m.i32.add(x.get(), m.i32.shl(index, i32(3))))
      : m.f64.promote(m.f32.load(0, 4, m.i32.add(x.get(), m.i32.shl(index, i32(2)))));
  // The line's k-th element is at base + k·inner.
  const position = (kk: Expr) => m.i32.add(base.get(), m.i32.mul(kk, inner.get()));
  const merge = e.countedLoop(left, i32(0), () => n.get(), 1, [
    // Runs [left, mid) and [mid, right), merged from src into dst; `left` then jumps to right (the loop adds 1).
    m.local.set(
      mid.index,
      min(m.i32.add(left.get(), width.get()), () => n.get()),
    ),
    m.local.set(
      right.index,
      min(m.i32.add(mid.get(), width.get()), () => n.get()),
    ),
    m.local.set(p.index, left.get()),
    m.local.set(q.index, mid.get()),
    e.countedLoop(k, left.get(), () => right.get(), 1, [
      m.if(
        // The right run's next element goes first when there is one and the left run is spent or it comes strictly before.
        m.if(
          m.i32.lt_u(q.get(), right.get()),
          m.if(
            m.i32.ge_u(p.get(), mid.get()),
            i32(1),
            m.block(
              null,
              [
                m.local.set(a.index, value(m.i32.load(0, 4, at4(src.get(), p.get())))),
                m.local.set(c.index, value(m.i32.load(0, 4, at4(src.get(), q.get())))),
                rightFirst(),
              ],
              b.i32,
            ),
          ),
          i32(0),
        ),
        m.block(null, [
          m.i32.store(0, 4, at4(dst.get(), k.get()), m.i32.load(0, 4, at4(src.get(), q.get()))),
          m.local.set(q.index, m.i32.add(q.get(), i32(1))),
        ]),
        m.block(null, [
          m.i32.store(0, 4, at4(dst.get(), k.get()), m.i32.load(0, 4, at4(src.get(), p.get()))),
          m.local.set(p.index, m.i32.add(p.get(), i32(1))),
        ]),
      ),
    ]),
    m.local.set(left.index, m.i32.sub(right.get(), i32(1))),
  ]);
  const perLine = [
    m.local.set(o.index, m.i32.div_u(line.get(), inner.get())),
    m.local.set(
      base.index,
      m.i32.add(m.i32.mul(m.i32.mul(o.get(), n.get()), inner.get()), m.i32.rem_u(line.get(), inner.get())),
    ),
    e.countedLoop(i, i32(0), () => n.get(), 1, [
      m.f64.store(0, 8, at8(values.get(), i.get()), element(position(i.get()))),
      m.i32.store(0, 4, at4(src.get(), i.get()), i.get()),
    ]),
    m.local.set(width.index, i32(1)),
    m.block('sorted', [
      m.loop(
        'widths',
        m.block(null, [
          m.br('sorted', m.i32.ge_u(width.get(), n.get())),
          merge,
          // The merged runs are in dst: it becomes the next pass's source.
          m.local.set(j.index, src.get()),
          m.local.set(src.index, dst.get()),
          m.local.set(dst.index, j.get()),
          m.local.set(width.index, m.i32.shl(width.get(), i32(1))),
          m.br('widths'),
        ]),
      ),
    ]),
    e.countedLoop(i, i32(0), () => n.get(), 1, [
      m.i32.store(0, 4, at4(out.get(), position(i.get())), m.i32.load(0, 4, at4(src.get(), i.get()))),
    ]),
  ];
  e.finish(name, [
    m.local.set(values.index, scratch.get()),
    e.countedLoop(line, i32(0), () => lines.get(), 1, [
      // Two index buffers after the values: src and dst swap roles pass by pass.
      m.local.set(src.index, m.i32.add(values.get(), m.i32.shl(n.get(), i32(3)))),
      m.local.set(dst.index, m.i32.add(src.get(), m.i32.shl(n.get(), i32(2)))),
      ...perLine,
    ]),
  ]);
}

/**
 * Emits `takeAlong(lines, n, m, inner, x, indices, out, wide)`: out[o, j, i] = x[o, indices[o, j, i], i]
 * over [lines / inner, m, inner] (x's axis has n elements), elements of 4 bytes or (wide) 8 copied as
 * they are. Only indices the program's own argsort or topk made reach it: they are in range.
 */
export function emitTakeAlong(e: FunctionEmitter, name: string): void {
  const { m, b } = e;
  const { lines, n, m: count, inner, x, indices, out, wide } = e.named('takeAlong');
  const { line, o, i, j, at, from } = e.locals(['line', 'o', 'i', 'j', 'at', 'from'], b.i32);
  const i32 = (v: number) => m.i32.const(v);
  const shift = () => m.select(wide.get(), i32(3), i32(2));
  e.finish(name, [
    e.countedLoop(line, i32(0), () => lines.get(), 1, [
      m.local.set(o.index, m.i32.div_u(line.get(), inner.get())),
      m.local.set(i.index, m.i32.rem_u(line.get(), inner.get())),
      e.countedLoop(j, i32(0), () => count.get(), 1, [
        m.local.set(
          at.index,
          m.i32.add(m.i32.mul(m.i32.add(m.i32.mul(o.get(), count.get()), j.get()), inner.get()), i.get()),
        ),
        m.local.set(
          from.index,
          m.i32.add(
            m.i32.mul(
              m.i32.add(
                m.i32.mul(o.get(), n.get()),
                m.i32.load(0, 4, m.i32.add(indices.get(), m.i32.shl(at.get(), i32(2)))),
              ),
              inner.get(),
            ),
            i.get(),
          ),
        ),
        m.if(
          wide.get(),
          m.i64.store(
            0,
            8,
            m.i32.add(out.get(), m.i32.shl(at.get(), i32(3))),
            m.i64.load(0, 8, m.i32.add(x.get(), m.i32.shl(from.get(), i32(3)))),
          ),
          m.i32.store(
            0,
            4,
            m.i32.add(out.get(), m.i32.shl(at.get(), shift())),
            m.i32.load(0, 4, m.i32.add(x.get(), m.i32.shl(from.get(), shift()))),
          ),
        ),
      ]),
    ]),
  ]);
}
