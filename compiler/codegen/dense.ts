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

/**
 * Emits `householderQr(m, n, a, out, scratch, part, complete)` for one m×n matrix: the columns copied
 * into the float64 scratch (each contiguous), one Householder reflector per column (the column's norm
 * by a scaled sum of squares, so it neither under- nor overflows), each applied to the columns after
 * it as an f64x2 dot product and update; the reflector kept below the diagonal (its first element
 * apart). `part` 0 writes R (rows below the diagonal 0), 1 writes Q from the reflectors applied to the
 * identity's columns, last first; R's diagonal is made non-negative, with Q's columns to match.
 */
export function emitHouseholderQr(e: FunctionEmitter, name: string, wide: boolean): void {
  const d = new Dense(e, wide);
  const { m: mod, b } = { m: e.m, b: e.b };
  const { m, n, a, out, scratch, part, complete } = e.named('householderQr');
  const { i, j, c, k, tops, work, qCols, rRows, col } = e.locals(
    ['i', 'j', 'c', 'k', 'tops', 'work', 'qCols', 'rRows', 'col'],
    b.i32,
  );
  const [scale, sum, norm, alpha, s, factor, t] = ['scale', 'sum', 'norm', 'alpha', 's', 'factor', 't'].map(() =>
    e.local(b.f64),
  ) as [Local, Local, Local, Local, Local, Local, Local];
  const acc = e.local(b.v128);
  const i32 = (v: number) => d.i32(v);
  /** Address of element i of scratch column c (m elements each). */
  const at = (cc: Expr, ii: Expr) => d.at(scratch.get(), mod.i32.add(mod.i32.mul(cc, m.get()), ii));
  const top = (jj: Expr) => d.at(tops.get(), jj);
  const lanes = (v: Local) => mod.f64.add(mod.f64x2.extract_lane(v.get(), 0), mod.f64x2.extract_lane(v.get(), 1));
  /** sum = Σ_{i ≥ from} f(i) over a column range, two lanes at a time from an even offset, then one. */
  const columnSum = (from: Expr, vec: (ii: Expr) => Expr, one: (ii: Expr) => Expr): Expr[] => [
    mod.local.set(acc.index, e.f64x2Const(0).get()),
    mod.local.set(i.index, from),
    e.countedLoop(i, undefined, () => m.get(), 2, [mod.local.set(acc.index, mod.f64x2.add(acc.get(), vec(i.get())))]),
    mod.local.set(sum.index, lanes(acc)),
    e.countedLoop(i, undefined, () => m.get(), 1, [mod.local.set(sum.index, mod.f64.add(sum.get(), one(i.get())))]),
  ];
  const load2 = (addr: Expr) => mod.v128.load(0, 8, addr);
  // v's elements: its first at tops[j], the rest below the diagonal of column j.
  /** column cc −= s·v over rows j + 1 … m − 1 (and row j by the first element). */
  const update = (cc: () => Expr): Expr[] => [
    d.store(at(cc(), j.get()), mod.f64.sub(d.load(at(cc(), j.get())), mod.f64.mul(s.get(), d.load(top(j.get()))))),
    mod.local.set(i.index, mod.i32.add(j.get(), i32(1))),
    e.countedLoop(i, undefined, () => m.get(), 2, [
      mod.v128.store(
        0,
        8,
        at(cc(), i.get()),
        mod.f64x2.sub(load2(at(cc(), i.get())), mod.f64x2.mul(mod.f64x2.splat(s.get()), load2(at(j.get(), i.get())))),
      ),
    ]),
    e.countedLoop(i, undefined, () => m.get(), 1, [
      d.store(
        at(cc(), i.get()),
        mod.f64.sub(d.load(at(cc(), i.get())), mod.f64.mul(s.get(), d.load(at(j.get(), i.get())))),
      ),
    ]),
  ];
  /** s = v·(column cc) over rows j … m − 1. */
  const dotWithV = (cc: () => Expr): Expr[] => [
    ...columnSum(
      mod.i32.add(j.get(), i32(1)),
      (ii) => mod.f64x2.mul(load2(at(cc(), ii)), load2(at(j.get(), ii))),
      (ii) => mod.f64.mul(d.load(at(cc(), ii)), d.load(at(j.get(), ii))),
    ),
    mod.local.set(s.index, mod.f64.add(sum.get(), mod.f64.mul(d.load(top(j.get())), d.load(at(cc(), j.get()))))),
  ];
  const reflect = e.countedLoop(j, i32(0), () => k.get(), 1, [
    // The column's largest magnitude, then its norm as scale·√Σ(x/scale)².
    mod.local.set(scale.index, mod.f64.const(0)),
    e.countedLoop(i, j.get(), () => m.get(), 1, [
      mod.local.set(scale.index, mod.f64.max(scale.get(), mod.f64.abs(d.load(at(j.get(), i.get()))))),
    ]),
    mod.if(
      mod.i32.or(mod.f64.eq(scale.get(), mod.f64.const(0)), mod.f64.ne(scale.get(), scale.get())),
      d.store(top(j.get()), mod.f64.const(0)), // no reflector: the column is already zero (or NaN, which stays)
      mod.block(null, [
        mod.local.set(sum.index, mod.f64.const(0)),
        e.countedLoop(i, j.get(), () => m.get(), 1, [
          mod.local.set(t.index, mod.f64.div(d.load(at(j.get(), i.get())), scale.get())),
          mod.local.set(sum.index, mod.f64.add(sum.get(), mod.f64.mul(t.get(), t.get()))),
        ]),
        mod.local.set(norm.index, mod.f64.mul(scale.get(), mod.f64.sqrt(sum.get()))),
        mod.local.set(
          alpha.index,
          mod.select(mod.f64.gt(d.load(at(j.get(), j.get())), mod.f64.const(0)), mod.f64.const(-1), mod.f64.const(1)),
        ),
        // v = x/‖x‖ − α·e₁, then scaled so that vᵀv = 2 (H = I − v·vᵀ).
        d.store(top(j.get()), mod.f64.sub(mod.f64.div(d.load(at(j.get(), j.get())), norm.get()), alpha.get())),
        mod.local.set(sum.index, mod.f64.mul(d.load(top(j.get())), d.load(top(j.get())))),
        e.countedLoop(i, mod.i32.add(j.get(), i32(1)), () => m.get(), 1, [
          mod.local.set(t.index, mod.f64.div(d.load(at(j.get(), i.get())), norm.get())),
          d.store(at(j.get(), i.get()), t.get()),
          mod.local.set(sum.index, mod.f64.add(sum.get(), mod.f64.mul(t.get(), t.get()))),
        ]),
        mod.local.set(factor.index, mod.f64.sqrt(mod.f64.div(mod.f64.const(2), sum.get()))),
        d.store(top(j.get()), mod.f64.mul(d.load(top(j.get())), factor.get())),
        e.countedLoop(i, mod.i32.add(j.get(), i32(1)), () => m.get(), 1, [
          d.store(at(j.get(), i.get()), mod.f64.mul(d.load(at(j.get(), i.get())), factor.get())),
        ]),
        e.countedLoop(c, mod.i32.add(j.get(), i32(1)), () => n.get(), 1, [
          ...dotWithV(() => c.get()),
          ...update(() => c.get()),
        ]),
        // H·x = α·‖x‖·e₁: the diagonal of R.
        d.store(at(j.get(), j.get()), mod.f64.mul(alpha.get(), norm.get())),
      ]),
    ),
  ]);
  const negative = (ii: Expr) => mod.f64.lt(d.load(at(ii, ii)), mod.f64.const(0));
  const store = (index: Expr, value: Expr) =>
    wide
      ? mod.f64.store(0, 8, d.at(out.get(), index), value)
      : mod.f32.store(0, 4, mod.i32.add(out.get(), mod.i32.shl(index, i32(2))), mod.f32.demote(value));
  // R: row r, column cc is column cc's element r at or above the diagonal (r < k), else 0; a row whose diagonal is negative flips.
  const writeR = e.countedLoop(i, i32(0), () => rRows.get(), 1, [
    e.countedLoop(c, i32(0), () => n.get(), 1, [
      store(
        mod.i32.add(mod.i32.mul(i.get(), n.get()), c.get()),
        mod.select(
          mod.i32.and(mod.i32.le_u(i.get(), c.get()), mod.i32.lt_u(i.get(), k.get())),
          mod.select(negative(i.get()), mod.f64.neg(d.load(at(c.get(), i.get()))), d.load(at(c.get(), i.get()))),
          mod.f64.const(0),
        ),
      ),
    ]),
  ]);
  // Q: each column of the identity through H_k … H_1 applied last first (on the work vector), sign-matched to R.
  const writeQ = e.countedLoop(col, i32(0), () => qCols.get(), 1, [
    e.countedLoop(i, i32(0), () => m.get(), 1, [d.store(d.at(work.get(), i.get()), mod.f64.const(0))]),
    d.store(d.at(work.get(), col.get()), mod.f64.const(1)),
    d.downTo(j, mod.i32.sub(k.get(), i32(1)), [
      mod.if(
        mod.f64.ne(d.load(top(j.get())), mod.f64.const(0)),
        mod.block(null, [
          mod.local.set(s.index, mod.f64.mul(d.load(top(j.get())), d.load(d.at(work.get(), j.get())))),
          e.countedLoop(i, mod.i32.add(j.get(), i32(1)), () => m.get(), 1, [
            mod.local.set(
              s.index,
              mod.f64.add(s.get(), mod.f64.mul(d.load(at(j.get(), i.get())), d.load(d.at(work.get(), i.get())))),
            ),
          ]),
          d.store(
            d.at(work.get(), j.get()),
            mod.f64.sub(d.load(d.at(work.get(), j.get())), mod.f64.mul(s.get(), d.load(top(j.get())))),
          ),
          e.countedLoop(i, mod.i32.add(j.get(), i32(1)), () => m.get(), 1, [
            d.store(
              d.at(work.get(), i.get()),
              mod.f64.sub(d.load(d.at(work.get(), i.get())), mod.f64.mul(s.get(), d.load(at(j.get(), i.get())))),
            ),
          ]),
        ]),
      ),
    ]),
    mod.local.set(
      t.index,
      mod.select(
        mod.i32.and(mod.i32.lt_u(col.get(), k.get()), negative(col.get())),
        mod.f64.const(-1),
        mod.f64.const(1),
      ),
    ),
    e.countedLoop(i, i32(0), () => m.get(), 1, [
      store(
        mod.i32.add(mod.i32.mul(i.get(), qCols.get()), col.get()),
        mod.f64.mul(t.get(), d.load(d.at(work.get(), i.get()))),
      ),
    ]),
  ]);
  const load = (index: Expr) =>
    wide
      ? mod.f64.load(0, 8, d.at(a.get(), index))
      : mod.f64.promote(mod.f32.load(0, 4, mod.i32.add(a.get(), mod.i32.shl(index, i32(2)))));
  e.finish(name, [
    mod.local.set(k.index, mod.select(mod.i32.lt_u(m.get(), n.get()), m.get(), n.get())),
    mod.local.set(qCols.index, mod.select(complete.get(), m.get(), k.get())),
    mod.local.set(rRows.index, mod.select(complete.get(), m.get(), k.get())),
    mod.local.set(tops.index, d.at(scratch.get(), mod.i32.mul(m.get(), n.get()))),
    mod.local.set(work.index, d.at(tops.get(), k.get())),
    // Column c of A into scratch column c.
    e.countedLoop(c, i32(0), () => n.get(), 1, [
      e.countedLoop(i, i32(0), () => m.get(), 1, [
        d.store(at(c.get(), i.get()), load(mod.i32.add(mod.i32.mul(i.get(), n.get()), c.get()))),
      ]),
    ]),
    reflect,
    mod.if(mod.i32.eqz(part.get()), writeR, writeQ),
  ]);
}
