import type { Expr } from './binaryen.js';
import type { FunctionEmitter, Local } from './emitter.js';

/**
 * Kernels driven by int32 indices read from memory: gather (rows picked by index), its gradient
 * (rows scatter-added) and oneHot. An index outside its axis stops gather and its gradient with the
 * offending index in `status` (status[0] = 1, status[1] = the index), for the runtime to report after
 * the call (and clear: the kernels only ever set it). Indices may be negative, counted from the end, as in the reference.
 */

/** Sets `j` to the index at `indices[k]` counted from the end when negative; true (as an i32) when it is outside [0, n). */
function readIndex(e: FunctionEmitter, into: Expr[], raw: Local, j: Local, indices: Local, k: Local, n: Local): Expr {
  const { m } = e;
  into.push(
    m.local.set(raw.index, m.i32.load(0, 4, m.i32.add(indices.get(), m.i32.shl(k.get(), m.i32.const(2))))),
    m.local.set(j.index, m.select(m.i32.lt_s(raw.get(), m.i32.const(0)), m.i32.add(raw.get(), n.get()), raw.get())),
  );
  return m.i32.ge_u(j.get(), n.get());
}

/** Stores the failure and returns. */
const fail = (e: FunctionEmitter, status: Local, raw: Local): Expr =>
  e.m.block(null, [
    e.m.i32.store(0, 4, status.get(), e.m.i32.const(1)),
    e.m.i32.store(4, 4, status.get(), raw.get()),
    e.m.return(),
  ]);

/** out[o, k, :] = x[o, indices[k], :] for `outer` × `count` rows of `rowBytes` (any dtype). */
export function emitGather(e: FunctionEmitter, name: string): void {
  const { m, b } = e;
  const { x, indices, out, outer, count, n, rowBytes, status } = e.named('gather');
  const { o, k, raw, j, dst } = e.locals(['o', 'k', 'raw', 'j', 'dst'], b.i32);
  const row: Expr[] = [];
  const bad = readIndex(e, row, raw, j, indices, k, n);
  row.push(
    m.if(bad, fail(e, status, raw)),
    m.memory.copy(
      dst.get(),
      m.i32.add(x.get(), m.i32.mul(m.i32.add(m.i32.mul(o.get(), n.get()), j.get()), rowBytes.get())),
      rowBytes.get(),
    ),
    m.local.set(dst.index, m.i32.add(dst.get(), rowBytes.get())),
  );
  e.finish(name, [
    m.local.set(dst.index, out.get()),
    e.countedLoop(o, m.i32.const(0), () => outer.get(), 1, [
      e.countedLoop(k, m.i32.const(0), () => count.get(), 1, row),
    ]),
  ]);
}

/**
 * The adjoint of gather: g's rows added into zeros shaped like x, in float64 (`acc`) and in g's
 * order, then rounded to the output type once, as the reference does (repeated indices accumulate).
 */
export function emitGatherGrad(e: FunctionEmitter, name: string, float64: boolean): void {
  const { m, b } = e;
  const { g, indices, out, acc, outer, count, n, inner, status } = e.named('gatherGrad');
  const { o, k, raw, j, i, src, dst, total } = e.locals(['o', 'k', 'raw', 'j', 'i', 'src', 'dst', 'total'], b.i32);
  const width = float64 ? 8 : 4;
  const readG = () => (float64 ? m.f64.load(0, 8, src.get()) : m.f64.promote(m.f32.load(0, 4, src.get())));
  const at = (base: Local, index: Expr, bytes: number) => m.i32.add(base.get(), m.i32.mul(index, m.i32.const(bytes)));
  const row: Expr[] = [];
  const bad = readIndex(e, row, raw, j, indices, k, n);
  row.push(
    m.if(bad, fail(e, status, raw)),
    m.local.set(dst.index, at(acc, m.i32.mul(m.i32.add(m.i32.mul(o.get(), n.get()), j.get()), inner.get()), 8)),
    e.countedLoop(i, m.i32.const(0), () => inner.get(), 1, [
      m.f64.store(0, 8, dst.get(), m.f64.add(m.f64.load(0, 8, dst.get()), readG())),
      m.local.set(dst.index, m.i32.add(dst.get(), m.i32.const(8))),
      m.local.set(src.index, m.i32.add(src.get(), m.i32.const(width))),
    ]),
  );
  const round = (index: Expr) =>
    float64
      ? m.f64.store(0, 8, at(out, index, 8), m.f64.load(0, 8, at(acc, i.get(), 8)))
      : m.f32.store(0, 4, at(out, index, 4), m.f32.demote(m.f64.load(0, 8, at(acc, i.get(), 8))));
  e.finish(name, [
    m.local.set(total.index, m.i32.mul(m.i32.mul(outer.get(), n.get()), inner.get())),
    m.memory.fill(acc.get(), m.i32.const(0), m.i32.shl(total.get(), m.i32.const(3))),
    m.local.set(src.index, g.get()),
    e.countedLoop(o, m.i32.const(0), () => outer.get(), 1, [
      e.countedLoop(k, m.i32.const(0), () => count.get(), 1, row),
    ]),
    e.countedLoop(i, m.i32.const(0), () => total.get(), 1, [round(i.get())]),
  ]);
}

/** Rows of `depth` zeros with a one at each in-range index (an index outside [0, depth) leaves its row zero, as in TensorFlow). */
export function emitOneHot(e: FunctionEmitter, name: string, dtype: 'float32' | 'float64' | 'int32' | 'bool'): void {
  const { m, b } = e;
  const { indices, out, count, depth } = e.named('oneHot');
  const { k, v, at } = e.locals(['k', 'v', 'at'], b.i32);
  const bytes = { float32: 4, float64: 8, int32: 4, bool: 1 }[dtype];
  const one = (ptr: Expr) =>
    dtype === 'float32'
      ? m.f32.store(0, 4, ptr, m.f32.const(1))
      : dtype === 'float64'
        ? m.f64.store(0, 8, ptr, m.f64.const(1))
        : dtype === 'int32'
          ? m.i32.store(0, 4, ptr, m.i32.const(1))
          : m.i32.store8(0, 1, ptr, m.i32.const(1));
  e.finish(name, [
    m.memory.fill(out.get(), m.i32.const(0), m.i32.mul(m.i32.mul(count.get(), depth.get()), m.i32.const(bytes))),
    e.countedLoop(k, m.i32.const(0), () => count.get(), 1, [
      m.local.set(v.index, m.i32.load(0, 4, m.i32.add(indices.get(), m.i32.shl(k.get(), m.i32.const(2))))),
      m.if(
        m.i32.lt_u(v.get(), depth.get()),
        m.block(null, [
          m.local.set(
            at.index,
            m.i32.add(out.get(), m.i32.mul(m.i32.add(m.i32.mul(k.get(), depth.get()), v.get()), m.i32.const(bytes))),
          ),
          one(at.get()),
        ]),
      ),
    ]),
  ]);
}

/**
 * `count` uniform values in [0, 1) from the mulberry32 stream whose state is the i32 at `state`
 * (advanced in place): the reference's generator step for step, so both modes draw the same numbers.
 */
export function emitRandomUniform(e: FunctionEmitter, name: string, float64: boolean): void {
  const { m, b } = e;
  const { state, out, count } = e.named('randomUniform');
  const { k, t, s, dst } = e.locals(['k', 't', 's', 'dst'], b.i32);
  const i32 = (c: number) => m.i32.const(c | 0);
  const xorShift = (x: Local, by: number) => m.i32.xor(x.get(), m.i32.shr_u(x.get(), i32(by)));
  // t ^ (t >>> 14), as an unsigned 32-bit integer over 2^32.
  const value = () => m.f64.mul(m.f64.convert_u.i32(xorShift(t, 14)), m.f64.const(2 ** -32));
  e.finish(name, [
    m.local.set(s.index, m.i32.load(0, 4, state.get())),
    m.local.set(dst.index, out.get()),
    e.countedLoop(k, i32(0), () => count.get(), 1, [
      m.local.set(s.index, m.i32.add(s.get(), i32(0x6d2b79f5))),
      m.local.set(t.index, s.get()),
      m.local.set(t.index, m.i32.mul(xorShift(t, 15), m.i32.or(t.get(), i32(1)))),
      m.local.set(
        t.index,
        m.i32.xor(t.get(), m.i32.add(t.get(), m.i32.mul(xorShift(t, 7), m.i32.or(t.get(), i32(61))))),
      ),
      float64 ? m.f64.store(0, 8, dst.get(), value()) : m.f32.store(0, 4, dst.get(), m.f32.demote(value())),
      m.local.set(dst.index, m.i32.add(dst.get(), i32(float64 ? 8 : 4))),
    ]),
    m.i32.store(0, 4, state.get(), s.get()),
  ]);
}

/**
 * Floats to int32 exactly as JavaScript's ToInt32 (what storing into an Int32Array does): truncated
 * toward zero, then taken modulo 2^32 (in float64, where every step is exact); NaN and infinities give 0.
 */
export function emitToInt32(e: FunctionEmitter, name: string, float64: boolean): void {
  const { m, b } = e;
  const { x, out, count } = e.named('toInt32');
  const { k } = e.locals(['k'], b.i32);
  const { v } = e.locals(['v'], b.f64);
  const width = float64 ? 8 : 4;
  const read = () => {
    const at = m.i32.add(x.get(), m.i32.mul(k.get(), m.i32.const(width)));
    return float64 ? m.f64.load(0, 8, at) : m.f64.promote(m.f32.load(0, 4, at));
  };
  const wrapped = () =>
    m.f64.sub(v.get(), m.f64.mul(m.f64.floor(m.f64.mul(v.get(), m.f64.const(2 ** -32))), m.f64.const(2 ** 32)));
  e.finish(name, [
    e.countedLoop(k, m.i32.const(0), () => count.get(), 1, [
      m.local.set(v.index, m.f64.trunc(read())),
      m.i32.store(
        0,
        4,
        m.i32.add(out.get(), m.i32.shl(k.get(), m.i32.const(2))),
        m.select(m.f64.lt(m.f64.abs(v.get()), m.f64.const(Infinity)), m.i32.trunc_u_sat.f64(wrapped()), m.i32.const(0)),
      ),
    ]),
  ]);
}
