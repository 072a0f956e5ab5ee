/**
 * Dense factorizations and solves as wasm kernels, one matrix per call, computed in float64 (float32
 * data is promoted into the float64 scratch and rounded once on the way out, as the reference does).
 * The solves run the reference's operations in the reference's order (row updates as f64x2 axpys), so
 * their results are the reference's to the bit; Cholesky's inner products are f64x2 dot products.
 */
import type { Expr } from './binaryen.js';
import type { FunctionEmitter, Local } from './emitter.js';

/** Loads, stores and loops over the float64 scratch, for either element type of the data. */
class Dense {
  readonly m: FunctionEmitter['m'];
  constructor(
    readonly e: FunctionEmitter,
    readonly wide: boolean,
  ) {
    this.m = e.m;
  }
  i32(v: number): Expr {
    return this.m.i32.const(v);
  }
  /** Address of float64 element `index` from `base`. */
  at(base: Expr, index: Expr): Expr {
    return this.m.i32.add(base, this.m.i32.shl(index, this.i32(3)));
  }
  /** Address of element (row, col) of a row-major float64 matrix of `cols` columns. */
  cell(base: Local, row: Expr, col: Expr, cols: Expr): Expr {
    return this.at(base.get(), this.m.i32.add(this.m.i32.mul(row, cols), col));
  }
  load(addr: Expr): Expr {
    return this.m.f64.load(0, 8, addr);
  }
  store(addr: Expr, v: Expr): Expr {
    return this.m.f64.store(0, 8, addr, v);
  }
  /** `count` elements of the data (float32 or float64) at `src` into float64 at `dst`. */
  promote(src: Local, dst: Local, count: Local, i: Local): Expr {
    const { m } = this;
    const value = this.wide
      ? m.f64.load(0, 8, this.at(src.get(), i.get()))
      : m.f64.promote(m.f32.load(0, 4, m.i32.add(src.get(), m.i32.shl(i.get(), this.i32(2)))));
    return this.e.countedLoop(i, this.i32(0), () => count.get(), 1, [this.store(this.at(dst.get(), i.get()), value)]);
  }
  /** `count` float64 elements at `src` into the data's type at `dst` (`keep(i)` false: written as 0). */
  demote(src: Local, dst: Local, count: Local, i: Local, keep?: () => Expr): Expr {
    const { m } = this;
    let value = this.load(this.at(src.get(), i.get()));
    if (keep) value = m.select(keep(), value, m.f64.const(0));
    const store = this.wide
      ? m.f64.store(0, 8, this.at(dst.get(), i.get()), value)
      : m.f32.store(0, 4, m.i32.add(dst.get(), m.i32.shl(i.get(), this.i32(2))), m.f32.demote(value));
    return this.e.countedLoop(i, this.i32(0), () => count.get(), 1, [store]);
  }
  /** row[0..len) −= f · other[0..len) over float64 rows, two lanes at a time (each element's one operation, as the reference's). */
  axpy(row: () => Expr, other: () => Expr, f: Local, len: Expr | (() => Expr), c: Local): Expr[] {
    const { m } = this;
    const end = typeof len === 'function' ? len : () => len;
    const at = (base: () => Expr) => this.at(base(), c.get());
    return [
      this.e.countedLoop(c, this.i32(0), end, 2, [
        m.v128.store(
          0,
          8,
          at(row),
          m.f64x2.sub(m.v128.load(0, 8, at(row)), m.f64x2.mul(m.f64x2.splat(f.get()), m.v128.load(0, 8, at(other)))),
        ),
      ]),
      this.e.countedLoop(c, undefined, end, 1, [
        this.store(at(row), m.f64.sub(this.load(at(row)), m.f64.mul(f.get(), this.load(at(other))))),
      ]),
    ];
  }
  /** A loop from `from` down to 0 inclusive: `counter` = from, from − 1, …, 0. */
  downTo(counter: Local, from: Expr, body: Expr[]): Expr {
    const { m } = this;
    const label = `down${downLoops++}`;
    return m.block(null, [
      m.local.set(counter.index, from),
      m.block(`${label}_exit`, [
        m.loop(
          `${label}_loop`,
          m.block(null, [
            m.br(`${label}_exit`, m.i32.lt_s(counter.get(), this.i32(0))),
            ...body,
            m.local.set(counter.index, m.i32.sub(counter.get(), this.i32(1))),
            m.br(`${label}_loop`),
          ]),
        ),
      ]),
    ]);
  }
}
let downLoops = 0;

/**
 * Emits `cholesky(n, a, out, scratch)`: the lower factor in place in the scratch (Crout, column by
 * column: each entry is its A entry less the dot product of two rows of L computed so far), then the
 * lower triangle out and zeros above. A non-positive pivot gives NaN, which spreads down its column.
 */
export function emitCholesky(e: FunctionEmitter, name: string, wide: boolean): void {
  const d = new Dense(e, wide);
  const { m, b } = { m: e.m, b: e.b };
  const { n, a, out, scratch } = e.named('cholesky');
  const { i, j, k, size } = e.locals(['i', 'j', 'k', 'size'], b.i32);
  const acc0 = e.local(b.v128);
  const acc1 = e.local(b.v128);
  const sum = e.local(b.f64);
  const pivot = e.local(b.f64);
  const row = (r: Expr) => d.cell(scratch, r, d.i32(0), n.get());
  /** sum = Σ_{k<j} S[p][k]·S[q][k], f64x2 with two accumulators, then the odd tail. */
  const dot = (p: () => Expr, q: () => Expr): Expr[] => {
    const at = (r: () => Expr, off: number) => m.i32.add(d.at(row(r()), k.get()), d.i32(off));
    const product = (off: number) => m.f64x2.mul(m.v128.load(0, 8, at(p, off)), m.v128.load(0, 8, at(q, off)));
    const lanes = (v: Local) => m.f64.add(m.f64x2.extract_lane(v.get(), 0), m.f64x2.extract_lane(v.get(), 1));
    return [
      m.local.set(acc0.index, e.f64x2Const(0).get()),
      m.local.set(acc1.index, e.f64x2Const(0).get()),
      e.countedLoop(k, d.i32(0), () => j.get(), 4, [
        m.local.set(acc0.index, m.f64x2.add(acc0.get(), product(0))),
        m.local.set(acc1.index, m.f64x2.add(acc1.get(), product(16))),
      ]),
      m.local.set(sum.index, m.f64.add(lanes(acc0), lanes(acc1))),
      e.countedLoop(k, undefined, () => j.get(), 1, [
        m.local.set(sum.index, m.f64.add(sum.get(), m.f64.mul(d.load(at(p, 0)), d.load(at(q, 0))))),
      ]),
    ];
  };
  const entry = (r: () => Expr, c: () => Expr) => d.cell(scratch, r(), c(), n.get());
  const columns = e.countedLoop(j, d.i32(0), () => n.get(), 1, [
    ...dot(
      () => j.get(),
      () => j.get(),
    ),
    m.local.set(
      pivot.index,
      m.f64.sub(
        d.load(
          entry(
            () => j.get(),
            () => j.get(),
          ),
        ),
        sum.get(),
      ),
    ),
    // pivot > 0 ? √pivot : NaN (a NaN pivot stays NaN).
    m.local.set(
      pivot.index,
      m.select(m.f64.gt(pivot.get(), m.f64.const(0)), m.f64.sqrt(pivot.get()), m.f64.const(NaN)),
    ),
    d.store(
      entry(
        () => j.get(),
        () => j.get(),
      ),
      pivot.get(),
    ),
    e.countedLoop(i, m.i32.add(j.get(), d.i32(1)), () => n.get(), 1, [
      ...dot(
        () => i.get(),
        () => j.get(),
      ),
      d.store(
        entry(
          () => i.get(),
          () => j.get(),
        ),
        m.f64.div(
          m.f64.sub(
            d.load(
              entry(
                () => i.get(),
                () => j.get(),
              ),
            ),
            sum.get(),
          ),
          pivot.get(),
        ),
      ),
    ]),
  ]);
  // Out: the lower triangle, zeros above (element i·n + c is kept when c ≤ i).
  const keep = () => m.i32.le_u(m.i32.rem_u(i.get(), n.get()), m.i32.div_u(i.get(), n.get()));
  e.finish(name, [
    m.local.set(size.index, m.i32.mul(n.get(), n.get())),
    d.promote(a, scratch, size, i),
    columns,
    d.demote(scratch, out, size, i, keep),
  ]);
}

/**
 * Emits `luSolve(n, k, a, b, out, scratch)`: LU with partial pivoting of A in the scratch (rows of the
 * right-hand side X, after A there, swapped along), then forward and back substitution on X's rows.
 */
export function emitLuSolve(e: FunctionEmitter, name: string, wide: boolean): void {
  const d = new Dense(e, wide);
  const { m, b } = { m: e.m, b: e.b };
  const { n, k, a, b: rhs, out, scratch } = e.named('luSolve');
  const { i, j, c, p, size, xs, count } = e.locals(['i', 'j', 'c', 'p', 'size', 'xs', 'count'], b.i32);
  const f = e.local(b.f64);
  const pivot = e.local(b.f64);
  const tmp = e.local(b.f64);
  const sRow = (r: Expr) => d.cell(scratch, r, d.i32(0), n.get());
  const xRow = (r: Expr) => d.cell(xs, r, d.i32(0), k.get());
  const s = (r: Expr, col: Expr) => d.cell(scratch, r, col, n.get());
  /** Rows r and q of a float64 matrix of `cols` columns swapped. */
  const swap = (base: (r: Expr) => Expr, cols: () => Expr): Expr =>
    e.countedLoop(c, d.i32(0), cols, 1, [
      m.local.set(tmp.index, d.load(d.at(base(j.get()), c.get()))),
      d.store(d.at(base(j.get()), c.get()), d.load(d.at(base(p.get()), c.get()))),
      d.store(d.at(base(p.get()), c.get()), tmp.get()),
    ]);
  const eliminate = e.countedLoop(j, d.i32(0), () => n.get(), 1, [
    // The first row with the largest |S[i][j]| (i ≥ j) becomes the pivot row.
    m.local.set(p.index, j.get()),
    e.countedLoop(i, m.i32.add(j.get(), d.i32(1)), () => n.get(), 1, [
      m.if(
        m.f64.gt(m.f64.abs(d.load(s(i.get(), j.get()))), m.f64.abs(d.load(s(p.get(), j.get())))),
        m.local.set(p.index, i.get()),
      ),
    ]),
    m.if(m.i32.ne(p.get(), j.get()), m.block(null, [swap(sRow, () => n.get()), swap(xRow, () => k.get())])),
    m.local.set(pivot.index, d.load(s(j.get(), j.get()))),
    m.if(
      m.f64.ne(pivot.get(), m.f64.const(0)),
      e.countedLoop(i, m.i32.add(j.get(), d.i32(1)), () => n.get(), 1, [
        m.local.set(f.index, m.f64.div(d.load(s(i.get(), j.get())), pivot.get())),
        d.store(s(i.get(), j.get()), f.get()),
        m.if(
          m.f64.ne(f.get(), m.f64.const(0)),
          m.block(
            null,
            d.axpy(
              () => s(i.get(), m.i32.add(j.get(), d.i32(1))),
              () => s(j.get(), m.i32.add(j.get(), d.i32(1))),
              f,
              () => m.i32.sub(n.get(), m.i32.add(j.get(), d.i32(1))),
              c,
            ),
          ),
        ),
      ]),
    ),
  ]);
  const forward = e.countedLoop(i, d.i32(0), () => n.get(), 1, [
    e.countedLoop(j, d.i32(0), () => i.get(), 1, [
      m.local.set(f.index, d.load(s(i.get(), j.get()))),
      ...d.axpy(
        () => xRow(i.get()),
        () => xRow(j.get()),
        f,
        () => k.get(),
        c,
      ),
    ]),
  ]);
  const backward = d.downTo(i, m.i32.sub(n.get(), d.i32(1)), [
    e.countedLoop(j, m.i32.add(i.get(), d.i32(1)), () => n.get(), 1, [
      m.local.set(f.index, d.load(s(i.get(), j.get()))),
      ...d.axpy(
        () => xRow(i.get()),
        () => xRow(j.get()),
        f,
        () => k.get(),
        c,
      ),
    ]),
    m.local.set(pivot.index, d.load(s(i.get(), i.get()))),
    e.countedLoop(c, d.i32(0), () => k.get(), 1, [
      d.store(d.at(xRow(i.get()), c.get()), m.f64.div(d.load(d.at(xRow(i.get()), c.get())), pivot.get())),
    ]),
  ]);
  e.finish(name, [
    m.local.set(size.index, m.i32.mul(n.get(), n.get())),
    m.local.set(xs.index, d.at(scratch.get(), size.get())),
    m.local.set(count.index, m.i32.mul(n.get(), k.get())),
    d.promote(a, scratch, size, i),
    d.promote(rhs, xs, count, i),
    eliminate,
    forward,
    backward,
    d.demote(xs, out, count, i),
  ]);
}

/**
 * Emits `triangularSolve(n, k, t, b, out, scratch, lower, transpose, unit)`: substitution on the rows of
 * X (in the scratch after T), forward for a lower T (an upper one transposed), backward otherwise.
 */
export function emitTriangularSolve(e: FunctionEmitter, name: string, wide: boolean): void {
  const d = new Dense(e, wide);
  const { m, b } = { m: e.m, b: e.b };
  const { n, k, t, b: rhs, out, scratch, lower, transpose, unit } = e.named('triangularSolve');
  const { i, j, c, step, step2, size, xs, count } = e.locals(
    ['i', 'j', 'c', 'step', 'step2', 'size', 'xs', 'count'],
    b.i32,
  );
  const f = e.local(b.f64);
  const forwardFlag = e.local(b.i32);
  const xRow = (r: Expr) => d.cell(xs, r, d.i32(0), k.get());
  // T[i][j], or T[j][i] when solving with the transpose.
  const entry = (r: () => Expr, col: () => Expr) =>
    d.load(m.select(transpose.get(), d.cell(scratch, col(), r(), n.get()), d.cell(scratch, r(), col(), n.get())));
  const ordered = (s: Local) => m.select(forwardFlag.get(), s.get(), m.i32.sub(m.i32.sub(n.get(), d.i32(1)), s.get()));
  const solveRows = e.countedLoop(step, d.i32(0), () => n.get(), 1, [
    m.local.set(i.index, ordered(step)),
    e.countedLoop(step2, d.i32(0), () => step.get(), 1, [
      m.local.set(j.index, ordered(step2)),
      m.local.set(
        f.index,
        entry(
          () => i.get(),
          () => j.get(),
        ),
      ),
      ...d.axpy(
        () => xRow(i.get()),
        () => xRow(j.get()),
        f,
        () => k.get(),
        c,
      ),
    ]),
    m.if(
      m.i32.eqz(unit.get()),
      m.block(null, [
        m.local.set(
          f.index,
          entry(
            () => i.get(),
            () => i.get(),
          ),
        ),
        e.countedLoop(c, d.i32(0), () => k.get(), 1, [
          d.store(d.at(xRow(i.get()), c.get()), m.f64.div(d.load(d.at(xRow(i.get()), c.get())), f.get())),
        ]),
      ]),
    ),
  ]);
  e.finish(name, [
    m.local.set(size.index, m.i32.mul(n.get(), n.get())),
    m.local.set(xs.index, d.at(scratch.get(), size.get())),
    m.local.set(count.index, m.i32.mul(n.get(), k.get())),
    // A lower T runs forward, and so does an upper one transposed.
    m.local.set(forwardFlag.index, m.i32.ne(lower.get(), transpose.get())),
    d.promote(t, scratch, size, i),
    d.promote(rhs, xs, count, i),
    solveRows,
    d.demote(xs, out, count, i),
  ]);
}
