/**
 * The machine's wasm SIMD ceiling, measured in the same run as the benchmarks: a loop of 12
 * independent f32x4 multiply-adds (no memory traffic, enough accumulators to hide latency), once
 * as mul + add and once as relaxed_madd where the engine has it. Matmul's GFLOPS are read against it.
 */
import { loadBinaryen } from '../compiler/codegen/binaryen.js';
import { FunctionEmitter } from '../compiler/codegen/emitter.js';
import { relaxedMadd } from '../compiler/codegen/simd-math.js';

const ACCUMULATORS = 12;
const ITERATIONS = 20_000_000;

async function peakModule(fma: boolean): Promise<(iterations: number) => number> {
  const b = await loadBinaryen();
  const m = new b.Module();
  m.setFeatures(b.Features.MVP | b.Features.SIMD128 | (fma ? b.Features.RelaxedSIMD : 0));
  const e = new FunctionEmitter(b, m, [b.i32]);
  const [count] = e.params;
  const acc = Array.from({ length: ACCUMULATORS }, () => e.local(b.v128));
  const x = e.f32x4Const(1.0000001);
  const y = e.f32x4Const(0.9999999);
  const madd = (a: number, p: number, q: number) => (fma ? relaxedMadd(e, p, q, a) : m.f32x4.add(a, m.f32x4.mul(p, q)));
  const body = [
    ...acc.map((v, i) => m.local.set(v.index, e.f32x4Const(i).get())),
    m.loop(
      'again',
      m.block(null, [
        ...acc.map((v) => m.local.set(v.index, madd(v.get(), x.get(), y.get()))),
        m.local.set(count!.index, m.i32.sub(count!.get(), m.i32.const(1))),
        m.br('again', count!.get()),
      ]),
    ),
    // One lane of the sum, so the work cannot be optimized away.
    m.return(
      m.f32x4.extract_lane(
        acc.reduce<number | undefined>((s, v) => (s === undefined ? v.get() : m.f32x4.add(s, v.get())), undefined)!,
        0,
      ),
    ),
  ];
  e.finish('peak', body, b.f32);
  if (!m.validate()) throw new Error('peak module does not validate');
  const bytes = m.emitBinary();
  m.dispose();
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes));
  return instance.exports['peak'] as (iterations: number) => number;
}

/** A probe that measures the ceiling once per call (GFLOPS), or undefined where the engine lacks the instruction. */
export async function peakProbe(fma: boolean): Promise<(() => number) | undefined> {
  let run: (iterations: number) => number;
  try {
    run = await peakModule(fma);
  } catch {
    return undefined;
  }
  run(1000);
  return () => {
    const t = performance.now();
    run(ITERATIONS);
    return (ITERATIONS * ACCUMULATORS * 8) / (performance.now() - t) / 1e6;
  };
}

/** A probe's best of five runs (GFLOPS), or undefined without a probe. */
export const bestOfFive = (probe: (() => number) | undefined): number | undefined =>
  probe && Math.max(...Array.from({ length: 5 }, probe));
