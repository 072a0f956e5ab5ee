/**
 * The bench's elementwise chain, tanh(1.5x + 0.5)·sigmoid(x) − log(1 + exp(x)), written by hand as one
 * f32x4 loop over tsano's own SIMD math (the stable softplus, as the optimizer makes of the last term):
 * what fusion and code generation must come close to. Same process, same inputs, one thread.
 */
import { loadBinaryen } from '../compiler/codegen/binaryen.js';
import { FunctionEmitter } from '../compiler/codegen/emitter.js';
import { SimdMath, type Stmts } from '../compiler/codegen/simd-math.js';

/** The chain's module, with relaxed-SIMD multiply-adds or plain SIMD128. */
async function chainModule(size: number, relaxed: boolean): Promise<Uint8Array | undefined> {
  const b = await loadBinaryen();
  const m = new b.Module();
  try {
    m.setFeatures(b.Features.MVP | b.Features.SIMD128 | (relaxed ? b.Features.RelaxedSIMD : 0));
    const pages = Math.ceil((size * 8) / 65536) + 1;
    m.setMemory(pages, pages, 'memory');
    const e = new FunctionEmitter(b, m, [b.i32, b.i32, b.i32]);
    const [src, dst, end] = [e.params[0]!, e.params[1]!, e.params[2]!];
    const math = new SimdMath(e, relaxed);
    const offset = e.local(b.i32);
    const out: Stmts = [];
    const x = math.set(out, m.v128.load(0, 16, m.i32.add(src.get(), offset.get())));
    const t = math.tanh(out, math.set(out, math.madd(x.get(), math.c(1.5), math.c(0.5))));
    const s = math.sigmoid(out, x);
    const sp = math.softplus(out, x);
    const body = [
      m.local.set(offset.index, m.i32.const(0)),
      m.loop(
        'next',
        m.block(null, [
          ...out,
          m.v128.store(0, 16, m.i32.add(dst.get(), offset.get()), m.f32x4.sub(m.f32x4.mul(t.get(), s.get()), sp.get())),
          m.local.set(offset.index, m.i32.add(offset.get(), m.i32.const(16))),
          m.br('next', m.i32.lt_u(offset.get(), end.get())),
        ]),
      ),
    ];
    e.finish('chain', body);
    return m.validate() ? m.emitBinary() : undefined;
  } finally {
    m.dispose();
  }
}

/** A runner for `size` floats (a multiple of 4), or undefined where the engine lacks what it needs. */
export async function handFusedChain(size: number, data: Float32Array): Promise<(() => void) | undefined> {
  for (const relaxed of [true, false]) {
    try {
      const bytes = await chainModule(size, relaxed);
      if (!bytes) continue;
      const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes));
      const memory = instance.exports['memory'] as WebAssembly.Memory;
      const chain = instance.exports['chain'] as (src: number, dst: number, end: number) => void;
      // Inputs are copied in and the result read out, as a compiled function's call does.
      return () => {
        new Float32Array(memory.buffer, 0, size).set(data.subarray(0, size));
        chain(0, size * 4, size * 4);
        new Float32Array(memory.buffer, size * 4, size).slice();
      };
    } catch {
      // An engine without relaxed SIMD rejects the module: the plain one is tried next.
    }
  }
  return undefined;
}
