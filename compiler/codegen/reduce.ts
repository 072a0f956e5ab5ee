/**
 * Reductions and softmax as wasm SIMD kernels over float32 or float64 viewed as [outer, reduced,
 * inner] (the runtime maps any axis set onto one or more such views). Sums accumulate in float64
 * lanes, so a long float32 sum keeps its digits; max and min are exact and propagate NaN like Math.max.
 */
import type { Expr } from './binaryen.js';
import type { FunctionEmitter, Local } from './emitter.js';
import { SimdMath, type Stmts } from './simd-math.js';
import type { FloatLanes } from './lowering.js';
import { narrow, widen } from './f64-lanes.js';
import { SimdMathF64 } from './simd-math-f64.js';
import type { ReduceOp } from '../../runtime/kernel-abi.js';

/** Above this, e^x overflows float64. */
const FLOAT64_EXP_OVERFLOW = 709.782712893384;

/** Loops, addressing and row passes shared by the kernels below, for float32 or float64 data. */
class Builder {
  readonly m: FunctionEmitter['m'];
  readonly s: SimdMath | SimdMathF64;
  /** Bytes per element, lanes per vector, and the lane and scalar operations of the data's type. */
  readonly E: number;
  readonly W: number;
  readonly fx: FloatLanes;
  readonly scalar: FunctionEmitter['m']['f32'] & FunctionEmitter['m']['f64'];
  readonly scalarType: number;
  constructor(
    readonly e: FunctionEmitter,
    fma: boolean,
    readonly wide = false,
  ) {
    this.m = e.m;
    this.s = wide ? new SimdMathF64(e) : new SimdMath(e, fma);
    this.E = wide ? 8 : 4;
    this.W = wide ? 2 : 4;
    this.fx = (wide ? e.m.f64x2 : e.m.f32x4) as FloatLanes;
    this.scalar = (wide ? e.m.f64 : e.m.f32) as Builder['scalar'];
    this.scalarType = wide ? e.b.f64 : e.b.f32;
  }
  i32(v: number): Expr {
    return this.m.i32.const(v);
  }
  set(l: Local, v: Expr): Expr {
    return this.m.local.set(l.index, v);
  }
  /** A splatted constant of the data's type. */
  splat(v: number): Expr {
    return (this.wide ? this.e.f64x2Const(v) : this.e.f32x4Const(v)).get();
  }
  /** `for (counter = from; counter + step <= end; counter += step) body`; leaves counter where it stopped. */
  loop(counter: Local, from: Expr | undefined, end: () => Expr, step: number, body: Expr[]): Expr {
    return this.e.countedLoop(counter, from, end, step, body);
  }
  /** Address of element `index` of `bytes`-byte elements (the data's by default) from `base`. */
  at(base: Expr, index: Expr, bytes = this.E): Expr {
    return this.m.i32.add(base, this.m.i32.shl(index, this.i32(bytes === 8 ? 3 : 2)));
  }
  /** One element splatted across a vector. */
  loadOne(addr: Expr): Expr {
    return this.wide ? this.m.v128.load64_splat(0, 8, addr) : this.m.v128.load32_splat(0, 4, addr);
  }
  /** The high two float32 lanes moved low. */
  high(v: Expr): Expr {
    return this.m.i8x16.shuffle(v, v, [8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7]);
  }
  /** The lanes of a vector combined into one scalar. */
  horizontal(v: Local, combine: (a: Expr, b: Expr) => Expr): Expr {
    const lane = (i: number) => this.fx.extract_lane(v.get(), i);
    return this.wide ? combine(lane(0), lane(1)) : combine(combine(lane(0), lane(1)), combine(lane(2), lane(3)));
  }

  /** Max (or min) of `count` elements at `row` into the scalar local `best`, vectors then the tail. */
  rowExtremum(row: Local, count: Local, j: Local, best: Local, min: boolean): Expr[] {
    const { m, e, fx, scalar } = this;
    const acc = e.local(e.b.v128);
    const vec = (a: Expr, c: Expr) => (min ? fx.min(a, c) : fx.max(a, c));
    const one = (a: Expr, c: Expr) => (min ? scalar.min(a, c) : scalar.max(a, c));
    return [
      this.set(acc, this.splat(min ? Infinity : -Infinity)),
      this.loop(j, this.i32(0), () => count.get(), this.W, [
        this.set(acc, vec(acc.get(), m.v128.load(0, 4, this.at(row.get(), j.get())))),
      ]),
      this.set(best, this.horizontal(acc, one)),
      this.loop(j, undefined, () => count.get(), 1, [
        this.set(best, one(best.get(), scalar.load(0, this.E, this.at(row.get(), j.get())))),
      ]),
    ];
  }

  /**
   * The float64 sum (or, `product`, product) over `count` elements at `row` into the f64 local `sum`:
   * `terms` gives, for the element(s) at j (a vector, or in the tail one element), the float64 vectors
   * to add (in the tail, lane 0 of the first counts).
   */
  private sumLoop(
    row: Local,
    count: Local,
    j: Local,
    sum: Local,
    terms: (addr: () => Expr, out: Stmts, vector: boolean) => Expr[],
    product = false,
  ): Expr[] {
    const { m, e } = this;
    const [lanes, one] = product ? [m.f64x2.mul, m.f64.mul] : [m.f64x2.add, m.f64.add];
    const acc = [e.local(e.b.v128), e.local(e.b.v128)];
    const addr = () => this.at(row.get(), j.get());
    const vec: Stmts = [];
    terms(addr, vec, true).forEach((t, i) => vec.push(this.set(acc[i]!, lanes(acc[i]!.get(), t))));
    const tail: Stmts = [];
    tail.push(this.set(sum, one(sum.get(), m.f64x2.extract_lane(terms(addr, tail, false)[0]!, 0))));
    const lane = (a: Local, i: number) => m.f64x2.extract_lane(a.get(), i);
    return [
      ...acc.map((a) => this.set(a, e.f64x2Const(product ? 1 : 0).get())),
      this.loop(j, this.i32(0), () => count.get(), this.W, vec),
      this.set(sum, one(one(lane(acc[0]!, 0), lane(acc[0]!, 1)), one(lane(acc[1]!, 0), lane(acc[1]!, 1)))),
      this.loop(j, undefined, () => count.get(), 1, tail),
    ];
  }

  /** Data as float64 vectors: itself in float64, its low and (for a whole vector) high halves widened in float32. */
  private float64Halves(v: Local, vector: boolean): Expr[] {
    const { m } = this;
    if (this.wide) return [v.get()];
    const low = m.f64x2.promote_low_f32x4(v.get());
    return vector ? [low, m.f64x2.promote_low_f32x4(this.high(v.get()))] : [low];
  }

  /**
   * Σ value(x[j]) over `count` elements at `row` into the f64 local `sum`; `value` sees a vector (or,
   * in the tail, one value splatted) of the data's type and may append stores of its own at element j.
   * float32 values are widened to float64 lanes before they are added.
   */
  rowSum(
    row: Local,
    count: Local,
    j: Local,
    sum: Local,
    value: (v: Expr, out: Stmts, vector: boolean) => Expr,
  ): Expr[] {
    return this.sumLoop(row, count, j, sum, (addr, out, vector) =>
      this.float64Halves(
        this.s.set(out, value(vector ? this.m.v128.load(0, 4, addr()) : this.loadOne(addr()), out, vector)),
        vector,
      ),
    );
  }

  /**
   * Σ value(x[j]) over `count` elements at `row` into the f64 local `sum`, where `value` works on float64
   * lanes (float32 data is widened first): logsumexp's exponentials in float64, as the reference.
   */
  rowSum64(
    row: Local,
    count: Local,
    j: Local,
    sum: Local,
    value: (v: Expr, out: Stmts) => Expr,
    product = false,
  ): Expr[] {
    return this.sumLoop(
      row,
      count,
      j,
      sum,
      (addr, out, vector) =>
        this.float64Halves(this.s.set(out, vector ? this.m.v128.load(0, 4, addr()) : this.loadOne(addr())), vector).map(
          (h) => value(h, out),
        ),
      product,
    );
  }

  /** True where the scalar `best` is finite. */
  finite(best: Local): Expr {
    return this.scalar.eq(this.scalar.sub(best.get(), best.get()), this.scalar.const(0));
  }

  /** log of an f64 sum, in float64 (the reference combines max and log-sum in float64 too). */
  logOf(out: Stmts, sum: Local): Expr {
    const d = new SimdMathF64(this.e);
    return this.m.f64x2.extract_lane(d.log(out, d.set(out, this.m.f64x2.splat(sum.get()))).get(), 0);
  }

  /** A scalar of the data's type from an f64 value, and back. */
  narrow(v: Expr): Expr {
    return this.wide ? v : this.m.f32.demote(v);
  }
  widen(v: Expr): Expr {
    return this.wide ? v : this.m.f64.promote(v);
  }
}

/**
 * Emits `reduce(outer, reduced, inner, x, out, scratch)`: out[o, i] = op over r of x[o, r, i], in
 * float32 or float64. inner = 1 reduces contiguous rows with vector accumulators; inner > 1
 * accumulates whole rows (sums in float64 `scratch`, inner doubles; extrema in `out` itself).
 * logsumexp needs inner = 1.
 */
export function emitReduce(
  e: FunctionEmitter,
  op: ReduceOp,
  name: string,
  fma: boolean,
  dtype: 'float32' | 'float64' = 'float32',
): void {
  const k = new Builder(e, fma, dtype === 'float64');
  const { m, s, fx, scalar, E, W } = k;
  const b = e.b;
  const { outer, reduced, inner, x, out, scratch } = e.named('reduce');
  const { o, j, r, row, dst } = e.locals(['o', 'j', 'r', 'row', 'dst'], b.i32);
  const sum = e.local(b.f64);
  const best = e.local(k.scalarType);
  // Sums and products accumulate in float64 (in `scratch` when inner > 1), extrema in the data's type.
  const product = op === 'prod';
  const inFloat64 = op === 'sum' || op === 'mean' || product;
  const [combine64, combineOne] = product ? [m.f64x2.mul, m.f64.mul] : [m.f64x2.add, m.f64.add];
  const identity64 = product ? 1 : 0;
  const min = op === 'min';
  const total = (v: Expr): Expr => k.narrow(op === 'mean' ? m.f64.div(v, m.f64.convert_u.i32(reduced.get())) : v);
  const store = (v: Expr) => scalar.store(0, E, k.at(out.get(), o.get()), v);

  let rows: Expr[];
  if (op === 'logsumexp') {
    // max, then max + log Σ e^(x − max); a non-finite max is the answer itself (as the reference).
    const logStmts: Stmts = [];
    const logSum = k.logOf(logStmts, sum);
    const d = new SimdMathF64(e);
    rows = [
      ...k.rowExtremum(row, reduced, j, best, false),
      ...k.rowSum64(row, reduced, j, sum, (v, out) =>
        d.exp(out, d.set(out, m.f64x2.sub(v, m.f64x2.splat(k.widen(best.get()))))).get(),
      ),
      ...logStmts,
      store(m.select(k.finite(best), k.narrow(m.f64.add(k.widen(best.get()), logSum)), best.get())),
    ];
  } else if (inFloat64) {
    rows = [...k.rowSum64(row, reduced, j, sum, (v) => v, product), store(total(sum.get()))];
  } else {
    rows = [...k.rowExtremum(row, reduced, j, best, min), store(best.get())];
  }
  const rowMode = k.loop(o, k.i32(0), () => outer.get(), 1, [
    k.set(row, k.at(x.get(), m.i32.mul(o.get(), reduced.get()))),
    ...rows,
  ]);
  if (op === 'logsumexp') return e.finish(name, [rowMode]);

  // inner > 1: accumulate rows of `inner` elements, a vector of columns at a time, then the tail columns.
  const acc = inFloat64 ? scratch! : dst;
  const src = (i: Expr) => k.at(row.get(), i);
  const accAt = (i: Expr) => k.at(acc.get(), i, inFloat64 ? 8 : E);
  const extremum = (a: Expr, c: Expr) => (min ? fx.min(a, c) : fx.max(a, c));
  const scalarExtremum = (a: Expr, c: Expr) => (min ? scalar.min(a, c) : scalar.max(a, c));
  const columns = (vec: (i: Expr) => Expr[], one: (i: Expr) => Expr[]): Expr[] => [
    k.loop(j, k.i32(0), () => inner.get(), W, vec(j.get())),
    k.loop(j, undefined, () => inner.get(), 1, one(j.get())),
  ];
  const identity = min ? Infinity : -Infinity;
  // float32 columns add into two float64 vectors per four lanes; float64 columns into one per two.
  const halves = k.wide ? [0] : [0, 16];
  const init = columns(
    (i) =>
      inFloat64
        ? halves.map((off) => m.v128.store(off, 8, accAt(i), e.f64x2Const(identity64).get()))
        : [m.v128.store(0, 4, accAt(i), k.splat(identity))],
    (i) => [
      inFloat64
        ? m.f64.store(0, 8, accAt(i), m.f64.const(identity64))
        : scalar.store(0, E, accAt(i), scalar.const(identity)),
    ],
  );
  const widened = (i: Expr, half: number) =>
    k.wide
      ? m.v128.load(0, 8, src(i))
      : m.f64x2.promote_low_f32x4(half ? k.high(m.v128.load(0, 4, src(i))) : m.v128.load(0, 4, src(i)));
  const accumulate = columns(
    (i) =>
      inFloat64
        ? halves.map((off, half) =>
            m.v128.store(off, 8, accAt(i), combine64(m.v128.load(off, 8, accAt(i)), widened(i, half))),
          )
        : [m.v128.store(0, 4, accAt(i), extremum(m.v128.load(0, 4, accAt(i)), m.v128.load(0, 4, src(i))))],
    (i) => [
      inFloat64
        ? m.f64.store(0, 8, accAt(i), combineOne(m.f64.load(0, 8, accAt(i)), k.widen(scalar.load(0, E, src(i)))))
        : scalar.store(0, E, accAt(i), scalarExtremum(scalar.load(0, E, accAt(i)), scalar.load(0, E, src(i)))),
    ],
  );
  const columnMode = k.loop(o, k.i32(0), () => outer.get(), 1, [
    k.set(dst, k.at(out.get(), m.i32.mul(o.get(), inner.get()))),
    ...init,
    k.loop(r, k.i32(0), () => reduced.get(), 1, [
      k.set(row, k.at(x.get(), m.i32.mul(m.i32.add(m.i32.mul(o.get(), reduced.get()), r.get()), inner.get()))),
      ...accumulate,
    ]),
    ...(inFloat64
      ? [
          k.loop(j, k.i32(0), () => inner.get(), 1, [
            scalar.store(0, E, k.at(dst.get(), j.get()), total(m.f64.load(0, 8, accAt(j.get())))),
          ]),
        ]
      : []),
  ]);
  e.finish(name, [m.if(m.i32.eq(inner.get(), k.i32(1)), rowMode, columnMode)]);
}

/**
 * Emits `softmax(outer, reduced, x, out)` over contiguous rows, float32 or float64: the row max (a
 * non-finite max shifts by 0, as the reference), e^(x − max) stored while summing in float64, then a
 * division by the sum; the log form stores (x − max) − log Σ instead, combined in float64.
 */
export function emitSoftmax(
  e: FunctionEmitter,
  log: boolean,
  name: string,
  fma: boolean,
  dtype: 'float32' | 'float64' = 'float32',
): void {
  const k = new Builder(e, fma, dtype === 'float64');
  const { m, s, fx, W } = k;
  const b = e.b;
  const { outer, reduced, x, out } = e.named('softmax');
  const { o, j, row, dst } = e.locals(['o', 'j', 'row', 'dst'], b.i32);
  const sum = e.local(b.f64);
  const best = e.local(k.scalarType);
  const shift = e.local(k.scalarType);
  const scale = e.local(k.scalarType);
  const logSum64 = e.local(b.f64);
  const storeAt = (vector: boolean, value: Expr) =>
    vector
      ? m.v128.store(0, 4, k.at(dst.get(), j.get()), value)
      : k.wide
        ? m.v128.store64_lane(0, 8, 0, k.at(dst.get(), j.get()), value)
        : m.v128.store32_lane(0, 4, 0, k.at(dst.get(), j.get()), value);
  const shifted = (v: Expr) => fx.sub(v, fx.splat(shift.get()));
  const exps = (v: Expr, out: Stmts, vector: boolean) => {
    const z = s.set(out, shifted(v));
    let ez;
    if (k.wide) {
      ez = s.exp(out, z);
    } else {
      // Only a row whose max is +Inf (shift 0) has z above 0. The reference computes e^z in float64:
      // values below its overflow give e^z / Inf = 0, so they are capped below float32's overflow;
      // values above it (and +Inf) give Inf, then NaN.
      const capped = s.exp(out, s.set(out, s.atMost(z.get(), 88)));
      ez = s.select(out, s.c(Infinity), capped.get(), m.f32x4.gt(z.get(), s.c(FLOAT64_EXP_OVERFLOW)));
    }
    if (!log) out.push(storeAt(vector, ez.get()));
    return ez.get();
  };
  const logStmts: Stmts = [];
  const logSum = log ? k.logOf(logStmts, sum) : undefined;
  const finalPass = (vector: boolean): Expr[] => {
    const out: Stmts = [];
    const source = k.at(log ? row.get() : dst.get(), j.get());
    const v = s.set(out, vector ? m.v128.load(0, 4, source) : k.loadOne(source));
    if (!log) return [...out, storeAt(vector, fx.div(v.get(), fx.splat(scale.get())))];
    // (x − shift) − log Σ in float64, rounded once, as the reference computes it.
    if (k.wide) return [...out, storeAt(vector, m.f64x2.sub(shifted(v.get()), m.f64x2.splat(logSum64.get())))];
    const halves = widen(e, out, v.get(), v.get()).map((h) =>
      m.f64x2.sub(m.f64x2.sub(h.get(), m.f64x2.splat(m.f64.promote(shift.get()))), m.f64x2.splat(logSum64.get())),
    );
    return [...out, storeAt(vector, narrow(e, halves[0]!, halves[1]!))];
  };
  const rows = k.loop(o, k.i32(0), () => outer.get(), 1, [
    k.set(row, k.at(x.get(), m.i32.mul(o.get(), reduced.get()))),
    k.set(dst, k.at(out.get(), m.i32.mul(o.get(), reduced.get()))),
    ...k.rowExtremum(row, reduced, j, best, false),
    k.set(shift, m.select(k.finite(best), best.get(), k.scalar.const(0))),
    ...k.rowSum(row, reduced, j, sum, exps),
    ...logStmts,
    log ? k.set(logSum64, logSum!) : k.set(scale, k.narrow(sum.get())),
    k.loop(j, k.i32(0), () => reduced.get(), W, finalPass(true)),
    k.loop(j, undefined, () => reduced.get(), 1, finalPass(false)),
  ]);
  e.finish(name, [rows]);
}

/**
 * Emits `argreduce(outer, reduced, inner, x, out)`: out[o, i] (int32) = the index r of the first
 * largest (argmax) or smallest (argmin) x[o, r, i], x float32 (float64, `wide`); the first NaN wins,
 * as in NumPy.
 */
export function emitArgReduce(e: FunctionEmitter, op: 'argmax' | 'argmin', name: string, wide = false): void {
  const k = new Builder(e, false, wide);
  const { m, scalar, E } = k;
  const b = e.b;
  const { outer, reduced, inner, x, out } = e.named('argReduce');
  const { o, j, r, at, index } = e.locals(['o', 'j', 'r', 'at', 'index'], b.i32);
  const best = e.local(k.scalarType);
  const v = e.local(k.scalarType);
  const better = (p: Expr, q: Expr) => (op === 'argmax' ? scalar.gt(p, q) : scalar.lt(p, q));
  const isNaN = (l: Local) => scalar.ne(l.get(), l.get());
  const column = [
    // x[o, 0, j], then down the reduced axis with a stride of `inner` elements.
    k.set(at, k.at(x.get(), m.i32.add(m.i32.mul(m.i32.mul(o.get(), reduced.get()), inner.get()), j.get()))),
    k.set(best, scalar.load(0, E, at.get())),
    k.set(index, k.i32(0)),
    m.if(
      m.i32.eqz(isNaN(best)),
      m.block('scan_exit', [
        k.loop(r, k.i32(1), () => reduced.get(), 1, [
          k.set(at, m.i32.add(at.get(), m.i32.shl(inner.get(), k.i32(wide ? 3 : 2)))),
          k.set(v, scalar.load(0, E, at.get())),
          m.if(isNaN(v), m.block(null, [k.set(index, r.get()), m.br('scan_exit')])),
          m.if(better(v.get(), best.get()), m.block(null, [k.set(best, v.get()), k.set(index, r.get())])),
        ]),
      ]),
    ),
    m.i32.store(0, 4, k.at(out.get(), m.i32.add(m.i32.mul(o.get(), inner.get()), j.get()), 4), index.get()),
  ];
  e.finish(name, [k.loop(o, k.i32(0), () => outer.get(), 1, [k.loop(j, k.i32(0), () => inner.get(), 1, column)])]);
}
