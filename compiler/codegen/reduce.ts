/**
 * Reductions and softmax as wasm SIMD kernels over float32 viewed as [outer, reduced, inner]
 * (the runtime maps any axis set onto one or more such views). Sums accumulate in float64 lanes, so
 * a long sum keeps float32's digits; max and min are exact and propagate NaN like Math.max.
 */
import type { Expr } from './binaryen.js';
import type { FunctionEmitter, Local } from './emitter.js';
import { SimdMath, type Stmts } from './simd-math.js';
import { narrow, SimdMathF64, widen } from './simd-math-f64.js';
import type { ReduceOp } from '../schedule/kernel-abi.js';

/** Above this, e^x overflows float64. */
const FLOAT64_EXP_OVERFLOW = 709.782712893384;

/** Loops, addressing and row passes shared by the kernels below. */
class Builder {
  readonly m: FunctionEmitter['m'];
  readonly s: SimdMath;
  private labels = 0;
  constructor(readonly e: FunctionEmitter, fma: boolean) {
    this.m = e.m;
    this.s = new SimdMath(e, fma);
  }
  i32(v: number): Expr {
    return this.m.i32.const(v);
  }
  set(l: Local, v: Expr): Expr {
    return this.m.local.set(l.index, v);
  }
  /** `for (counter = from; counter + step <= end; counter += step) body`; leaves counter where it stopped. */
  loop(counter: Local, from: Expr | undefined, end: () => Expr, step: number, body: Expr[]): Expr {
    const { m } = this;
    const label = `l${this.labels++}`;
    return m.block(null, [
      ...(from === undefined ? [] : [this.set(counter, from)]),
      m.block(`${label}_exit`, [m.loop(`${label}_loop`, m.block(null, [
        m.br(`${label}_exit`, m.i32.gt_u(m.i32.add(counter.get(), this.i32(step)), end())),
        ...body,
        this.set(counter, m.i32.add(counter.get(), this.i32(step))),
        m.br(`${label}_loop`),
      ]))]),
    ]);
  }
  /** Address of element `index` (4- or 8-byte elements) from `base` (bytes). */
  at(base: Expr, index: Expr, bytes = 4): Expr {
    return this.m.i32.add(base, this.m.i32.shl(index, this.i32(bytes === 8 ? 3 : 2)));
  }
  /** The high two float32 lanes moved low. */
  high(v: Expr): Expr {
    return this.m.i8x16.shuffle(v, v, [8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7]);
  }
  /** The four lanes of a float32 vector combined into one scalar. */
  horizontal(v: Local, combine: (a: Expr, b: Expr) => Expr): Expr {
    const lane = (i: number) => this.m.f32x4.extract_lane(v.get(), i);
    return combine(combine(lane(0), lane(1)), combine(lane(2), lane(3)));
  }

  /** Max (or min) of `count` floats at `row` into the f32 local `best`, four lanes then the tail. */
  rowExtremum(row: Local, count: Local, j: Local, best: Local, min: boolean): Expr[] {
    const { m, e } = this;
    const acc = e.local(e.b.v128);
    const vec = (a: Expr, c: Expr) => (min ? m.f32x4.min(a, c) : m.f32x4.max(a, c));
    const one = (a: Expr, c: Expr) => (min ? m.f32.min(a, c) : m.f32.max(a, c));
    return [
      this.set(acc, e.f32x4Const(min ? Infinity : -Infinity).get()),
      this.loop(j, this.i32(0), () => count.get(), 4, [this.set(acc, vec(acc.get(), m.v128.load(0, 4, this.at(row.get(), j.get()))))]),
      this.set(best, this.horizontal(acc, one)),
      this.loop(j, undefined, () => count.get(), 1, [this.set(best, one(best.get(), m.f32.load(0, 4, this.at(row.get(), j.get()))))]),
    ];
  }

  /**
   * Σ value(x[j]) over `count` floats at `row` into the f64 local `sum`; `value` sees four lanes (or,
   * in the tail, one value splatted) and may append stores of its own at element j.
   */
  rowSum(row: Local, count: Local, j: Local, sum: Local, value: (v: Expr, out: Stmts, vector: boolean) => Expr): Expr[] {
    const { m, e } = this;
    const acc0 = e.local(e.b.v128);
    const acc1 = e.local(e.b.v128);
    const vec: Stmts = [];
    const v = this.s.set(vec, value(m.v128.load(0, 4, this.at(row.get(), j.get())), vec, true));
    vec.push(
      this.set(acc0, m.f64x2.add(acc0.get(), m.f64x2.promote_low_f32x4(v.get()))),
      this.set(acc1, m.f64x2.add(acc1.get(), m.f64x2.promote_low_f32x4(this.high(v.get())))),
    );
    const tail: Stmts = [];
    const t = this.s.set(tail, value(m.v128.load32_splat(0, 4, this.at(row.get(), j.get())), tail, false));
    tail.push(this.set(sum, m.f64.add(sum.get(), m.f64.promote(m.f32x4.extract_lane(t.get(), 0)))));
    const lane = (a: Local, i: number) => m.f64x2.extract_lane(a.get(), i);
    return [
      this.set(acc0, e.f64x2Const(0).get()),
      this.set(acc1, e.f64x2Const(0).get()),
      this.loop(j, this.i32(0), () => count.get(), 4, vec),
      this.set(sum, m.f64.add(m.f64.add(lane(acc0, 0), lane(acc0, 1)), m.f64.add(lane(acc1, 0), lane(acc1, 1)))),
      this.loop(j, undefined, () => count.get(), 1, tail),
    ];
  }

  /** An f32 value: `best` where finite, else 0 (the shift softmax and logsumexp subtract). */
  finiteOrZero(best: Local): Expr {
    const { m } = this;
    return m.select(m.f32.eq(m.f32.sub(best.get(), best.get()), m.f32.const(0)), best.get(), m.f32.const(0));
  }

  /** log of an f64 sum, in float64 (the reference combines max and log-sum in float64 too). */
  logOf(out: Stmts, sum: Local): Expr {
    const d = new SimdMathF64(this.e);
    return this.m.f64x2.extract_lane(d.log(out, d.set(out, this.m.f64x2.splat(sum.get()))).get(), 0);
  }
}

/**
 * Emits `reduce(outer, reduced, inner, x, out, scratch)`: out[o, i] = op over r of x[o, r, i].
 * inner = 1 reduces contiguous rows with vector accumulators; inner > 1 accumulates whole rows
 * (sums in float64 `scratch`, inner doubles; extrema in `out` itself). logsumexp needs inner = 1.
 */
export function emitReduce(e: FunctionEmitter, op: ReduceOp, name: string, fma: boolean): void {
  const k = new Builder(e, fma);
  const { m, s } = k;
  const b = e.b;
  const [outer, reduced, inner, x, out, scratch] = e.params as Local[];
  const [o, j, r, row, dst] = Array.from({ length: 5 }, () => e.local(b.i32));
  const sum = e.local(b.f64);
  const best = e.local(b.f32);
  const isSum = op === 'sum' || op === 'mean';
  const min = op === 'min';
  const total = (v: Expr): Expr => (op === 'mean' ? m.f32.demote(m.f64.div(v, m.f64.convert_u.i32(reduced.get()))) : m.f32.demote(v));
  const store = (v: Expr) => m.f32.store(0, 4, k.at(out.get(), o.get()), v);

  let rows: Expr[];
  if (op === 'logsumexp') {
    // max, then max + log Σ e^(x − max); a non-finite max is the answer itself (as the reference).
    const logStmts: Stmts = [];
    const logSum = k.logOf(logStmts, sum);
    rows = [
      ...k.rowExtremum(row, reduced, j, best, false),
      ...k.rowSum(row, reduced, j, sum, (v, out) => s.exp(out, s.set(out, m.f32x4.sub(v, m.f32x4.splat(best.get())))).get()),
      ...logStmts,
      store(m.select(m.f32.eq(m.f32.sub(best.get(), best.get()), m.f32.const(0)), m.f32.demote(m.f64.add(m.f64.promote(best.get()), logSum)), best.get())),
    ];
  } else if (isSum) {
    rows = [...k.rowSum(row, reduced, j, sum, (v) => v), store(total(sum.get()))];
  } else {
    rows = [...k.rowExtremum(row, reduced, j, best, min), store(best.get())];
  }
  const rowMode = k.loop(o, k.i32(0), () => outer.get(), 1, [k.set(row, k.at(x.get(), m.i32.mul(o.get(), reduced.get()))), ...rows]);
  if (op === 'logsumexp') return e.finish(name, [rowMode]);

  // inner > 1: accumulate rows of `inner` elements, four columns at a time, then the tail columns.
  const acc = isSum ? scratch! : dst;
  const src = (i: Expr) => k.at(row.get(), i);
  const accAt = (i: Expr) => k.at(acc.get(), i, isSum ? 8 : 4);
  const extremum = (a: Expr, c: Expr) => (min ? m.f32x4.min(a, c) : m.f32x4.max(a, c));
  const scalarExtremum = (a: Expr, c: Expr) => (min ? m.f32.min(a, c) : m.f32.max(a, c));
  const columns = (vec: (i: Expr) => Expr[], one: (i: Expr) => Expr[]): Expr[] => [
    k.loop(j, k.i32(0), () => inner.get(), 4, vec(j.get())),
    k.loop(j, undefined, () => inner.get(), 1, one(j.get())),
  ];
  const init = columns(
    (i) => (isSum ? [m.v128.store(0, 8, accAt(i), e.f64x2Const(0).get()), m.v128.store(16, 8, accAt(i), e.f64x2Const(0).get())]
      : [m.v128.store(0, 4, accAt(i), e.f32x4Const(min ? Infinity : -Infinity).get())]),
    (i) => [isSum ? m.f64.store(0, 8, accAt(i), m.f64.const(0)) : m.f32.store(0, 4, accAt(i), m.f32.const(min ? Infinity : -Infinity))],
  );
  const accumulate = columns(
    (i) => (isSum
      ? [
        m.v128.store(0, 8, accAt(i), m.f64x2.add(m.v128.load(0, 8, accAt(i)), m.f64x2.promote_low_f32x4(m.v128.load(0, 4, src(i))))),
        m.v128.store(16, 8, accAt(i), m.f64x2.add(m.v128.load(16, 8, accAt(i)), m.f64x2.promote_low_f32x4(k.high(m.v128.load(0, 4, src(i)))))),
      ]
      : [m.v128.store(0, 4, accAt(i), extremum(m.v128.load(0, 4, accAt(i)), m.v128.load(0, 4, src(i))))]),
    (i) => [isSum ? m.f64.store(0, 8, accAt(i), m.f64.add(m.f64.load(0, 8, accAt(i)), m.f64.promote(m.f32.load(0, 4, src(i)))))
      : m.f32.store(0, 4, accAt(i), scalarExtremum(m.f32.load(0, 4, accAt(i)), m.f32.load(0, 4, src(i))))],
  );
  const columnMode = k.loop(o, k.i32(0), () => outer.get(), 1, [
    k.set(dst, k.at(out.get(), m.i32.mul(o.get(), inner.get()))),
    ...init,
    k.loop(r, k.i32(0), () => reduced.get(), 1, [
      k.set(row, k.at(x.get(), m.i32.mul(m.i32.add(m.i32.mul(o.get(), reduced.get()), r.get()), inner.get()))),
      ...accumulate,
    ]),
    ...(isSum ? [k.loop(j, k.i32(0), () => inner.get(), 1, [m.f32.store(0, 4, k.at(dst.get(), j.get()), total(m.f64.load(0, 8, accAt(j.get()))))])] : []),
  ]);
  e.finish(name, [m.if(m.i32.eq(inner.get(), k.i32(1)), rowMode, columnMode)]);
}

/**
 * Emits `softmax(outer, reduced, x, out)` over contiguous rows: the row max (a non-finite max shifts
 * by 0, as the reference), e^(x − max) stored while summing in float64, then a division by the sum;
 * the log form stores (x − max) − log Σ instead.
 */
export function emitSoftmax(e: FunctionEmitter, log: boolean, name: string, fma: boolean): void {
  const k = new Builder(e, fma);
  const { m, s } = k;
  const b = e.b;
  const [outer, reduced, x, out] = e.params as Local[];
  const [o, j, row, dst] = Array.from({ length: 4 }, () => e.local(b.i32));
  const sum = e.local(b.f64);
  const best = e.local(b.f32);
  const shift = e.local(b.f32);
  const scale = e.local(b.f32);
  const logSum64 = e.local(b.f64);
  const storeAt = (vector: boolean, value: Expr) => (vector
    ? m.v128.store(0, 4, k.at(dst.get(), j.get()), value)
    : m.v128.store32_lane(0, 4, 0, k.at(dst.get(), j.get()), value));
  const shifted = (v: Expr) => m.f32x4.sub(v, m.f32x4.splat(shift.get()));
  const exps = (v: Expr, out: Stmts, vector: boolean) => {
    // Only a row whose max is +Inf (shift 0) has z above 0. The reference computes e^z in float64:
    // values below its overflow give e^z / Inf = 0, so they are capped below float32's overflow;
    // values above it (and +Inf) give Inf, then NaN.
    const z = s.set(out, shifted(v));
    const capped = s.exp(out, s.set(out, m.f32x4.min(z.get(), s.c(88))));
    const ez = s.select(out, s.c(Infinity), capped.get(), m.f32x4.gt(z.get(), s.c(FLOAT64_EXP_OVERFLOW)));
    if (!log) out.push(storeAt(vector, ez.get()));
    return ez.get();
  };
  const logStmts: Stmts = [];
  const logSum = log ? k.logOf(logStmts, sum) : undefined;
  const finalPass = (vector: boolean): Expr[] => {
    const out: Stmts = [];
    const v = s.set(out, vector ? m.v128.load(0, 4, k.at(log ? row.get() : dst.get(), j.get())) : m.v128.load32_splat(0, 4, k.at(log ? row.get() : dst.get(), j.get())));
    if (!log) return [...out, storeAt(vector, m.f32x4.div(v.get(), m.f32x4.splat(scale.get())))];
    // (x − shift) − log Σ in float64, rounded once, as the reference computes it.
    const halves = widen(e, out, v.get(), v.get()).map((h) =>
      m.f64x2.sub(m.f64x2.sub(h.get(), m.f64x2.splat(m.f64.promote(shift.get()))), m.f64x2.splat(logSum64.get())));
    return [...out, storeAt(vector, narrow(e, halves[0]!, halves[1]!))];
  };
  const rows = k.loop(o, k.i32(0), () => outer.get(), 1, [
    k.set(row, k.at(x.get(), m.i32.mul(o.get(), reduced.get()))),
    k.set(dst, k.at(out.get(), m.i32.mul(o.get(), reduced.get()))),
    ...k.rowExtremum(row, reduced, j, best, false),
    k.set(shift, k.finiteOrZero(best)),
    ...k.rowSum(row, reduced, j, sum, exps),
    ...logStmts,
    log ? k.set(logSum64, logSum!) : k.set(scale, m.f32.demote(sum.get())),
    k.loop(j, k.i32(0), () => reduced.get(), 4, finalPass(true)),
    k.loop(j, undefined, () => reduced.get(), 1, finalPass(false)),
  ]);
  e.finish(name, [rows]);
}

/**
 * Emits `argreduce(outer, reduced, inner, x, out)`: out[o, i] (int32) = the index r of the first
 * largest (argmax) or smallest (argmin) x[o, r, i]; the first NaN wins, as in NumPy.
 */
export function emitArgReduce(e: FunctionEmitter, op: 'argmax' | 'argmin', name: string): void {
  const k = new Builder(e, false);
  const { m } = k;
  const b = e.b;
  const [outer, reduced, inner, x, out] = e.params as Local[];
  const [o, j, r, at, index] = Array.from({ length: 5 }, () => e.local(b.i32));
  const best = e.local(b.f32);
  const v = e.local(b.f32);
  const better = (p: Expr, q: Expr) => (op === 'argmax' ? m.f32.gt(p, q) : m.f32.lt(p, q));
  const isNaN = (l: Local) => m.f32.ne(l.get(), l.get());
  const column = [
    // x[o, 0, j], then down the reduced axis with a stride of `inner` elements.
    k.set(at, k.at(x.get(), m.i32.add(m.i32.mul(m.i32.mul(o.get(), reduced.get()), inner.get()), j.get()))),
    k.set(best, m.f32.load(0, 4, at.get())),
    k.set(index, k.i32(0)),
    m.if(m.i32.eqz(isNaN(best)), m.block('scan_exit', [k.loop(r, k.i32(1), () => reduced.get(), 1, [
      k.set(at, m.i32.add(at.get(), m.i32.shl(inner.get(), k.i32(2)))),
      k.set(v, m.f32.load(0, 4, at.get())),
      m.if(isNaN(v), m.block(null, [k.set(index, r.get()), m.br('scan_exit')])),
      m.if(better(v.get(), best.get()), m.block(null, [k.set(best, v.get()), k.set(index, r.get())])),
    ])])),
    m.i32.store(0, 4, k.at(out.get(), m.i32.add(m.i32.mul(o.get(), inner.get()), j.get())), index.get()),
  ];
  e.finish(name, [k.loop(o, k.i32(0), () => outer.get(), 1, [k.loop(j, k.i32(0), () => inner.get(), 1, column)])]);
}
