import { PARALLEL_IMPORT, RUN_EXPORT, TAPE } from '../../runtime/tape.js';
import type { Binaryen, Expr, Module } from './binaryen.js';
import { FunctionEmitter } from './emitter.js';

/**
 * The module's entry point: `run(tape)` executes a call tape (runtime/tape.ts) record by record,
 * every kernel call, copy and scratch write of a whole program, so JavaScript makes one call per
 * function call. Records are dispatched by one `br_table` on the opcode; a kernel record calls its
 * function directly with arguments loaded from the tape. `parallel` records go to the host's thread
 * pool through an import (only kernels big enough to split use it, so the crossing costs nothing
 * against their work).
 */
export function emitRun(b: Binaryen, m: Module, functions: readonly string[]): void {
  m.addFunctionImport(PARALLEL_IMPORT, 'env', PARALLEL_IMPORT, b.i32, b.none);
  const e = new FunctionEmitter(b, m, [b.i32]);
  const p = e.params[0]!;
  const { i, dst, src, n } = e.locals(['i', 'dst', 'src', 'n'], b.i32);
  const i32 = (v: number) => m.i32.const(v);
  const word = (k: number) => m.i32.load(4 * k, 4, p.get());
  const advance = (words: Expr) => m.local.set(p.index, m.i32.add(p.get(), m.i32.shl(words, i32(2))));
  const next = 'next';
  // The operands of a three-word record (dst, src/bytes, count) into locals.
  const operands = () => [
    m.local.set(dst.index, word(1)),
    m.local.set(src.index, word(2)),
    m.local.set(n.index, word(3)),
  ];
  const addLoop = (width: 4 | 8) => {
    const t = width === 4 ? m.f32 : m.f64;
    const vector = width === 4 ? m.f32x4 : m.f64x2;
    const lanes = 16 / width;
    const at = (base: { get(): Expr }) => m.i32.add(base.get(), m.i32.mul(i.get(), i32(width)));
    return [
      ...operands(),
      m.local.set(i.index, i32(0)),
      // Whole vectors first (a loop's gradient adds a weight's cotangent every step), then the tail.
      m.block(`vadd${width}_exit`, [
        m.loop(
          `vadd${width}_loop`,
          m.block(null, [
            m.br(`vadd${width}_exit`, m.i32.gt_u(m.i32.add(i.get(), i32(lanes)), n.get())),
            m.v128.store(0, width, at(dst), vector.add(m.v128.load(0, width, at(dst)), m.v128.load(0, width, at(src)))),
            m.local.set(i.index, m.i32.add(i.get(), i32(lanes))),
            m.br(`vadd${width}_loop`),
          ]),
        ),
      ]),
      m.block(`add${width}_exit`, [
        m.loop(
          `add${width}_loop`,
          m.block(null, [
            m.br(`add${width}_exit`, m.i32.ge_u(i.get(), n.get())),
            t.store(0, width, at(dst), t.add(t.load(0, width, at(dst)), t.load(0, width, at(src)))),
            m.local.set(i.index, m.i32.add(i.get(), i32(1))),
            m.br(`add${width}_loop`),
          ]),
        ),
      ]),
      advance(i32(4)),
    ];
  };
  const fixed: Record<number, Expr[]> = {
    [TAPE.end]: [m.return()],
    [TAPE.parallel]: [m.call(PARALLEL_IMPORT, [p.get()], b.none), advance(word(1))],
    [TAPE.copy]: [...operands(), m.memory.copy(dst.get(), src.get(), n.get()), advance(i32(4))],
    [TAPE.addFloat32]: addLoop(4),
    [TAPE.addFloat64]: addLoop(8),
    [TAPE.store]: [
      m.local.set(dst.index, word(1)),
      m.local.set(n.index, word(2)),
      m.memory.copy(dst.get(), m.i32.add(p.get(), i32(12)), m.i32.shl(n.get(), i32(2))),
      advance(m.i32.add(n.get(), i32(3))),
    ],
    [TAPE.bump]: [
      m.local.set(n.index, word(1)),
      m.local.set(i.index, m.i32.add(p.get(), i32(8))),
      m.local.set(p.index, m.i32.add(i.get(), m.i32.shl(n.get(), i32(3)))),
      m.block('bump_exit', [
        m.loop(
          'bump_loop',
          m.block(null, [
            m.br('bump_exit', m.i32.ge_u(i.get(), p.get())),
            m.local.set(dst.index, m.i32.load(0, 4, i.get())),
            m.i32.store(0, 4, dst.get(), m.i32.add(m.i32.load(0, 4, dst.get()), m.i32.load(4, 4, i.get()))),
            m.local.set(i.index, m.i32.add(i.get(), i32(8))),
            m.br('bump_loop'),
          ]),
        ),
      ]),
    ],
    [TAPE.repeat]: [
      m.local.set(n.index, m.i32.sub(word(1), i32(1))),
      m.i32.store(4, 4, p.get(), n.get()),
      m.local.set(src.index, word(3)),
      // The stop byte is read only when there is one (-1 is no address).
      m.local.set(dst.index, m.if(m.i32.eq(src.get(), i32(-1)), i32(0), m.i32.load8_u(0, 1, src.get()))),
      m.if(
        m.i32.and(m.i32.ne(n.get(), i32(0)), m.i32.eqz(dst.get())),
        m.local.set(p.index, m.i32.sub(p.get(), m.i32.shl(word(2), i32(2)))),
        advance(i32(4)),
      ),
    ],
    [TAPE.zero]: [
      m.local.set(dst.index, word(1)),
      m.local.set(n.index, word(2)),
      m.memory.fill(dst.get(), i32(0), n.get()),
      advance(i32(3)),
    ],
  };
  const cases: Expr[][] = [];
  for (let op = 0; op < TAPE.firstKernel + functions.length; op++) {
    const fn = functions[op - TAPE.firstKernel];
    if (fn === undefined) {
      cases.push(fixed[op] ?? [m.unreachable()]);
      continue;
    }
    const arity = b.expandType(b.getFunctionInfo(m.getFunction(fn)).params).length;
    cases.push([
      m.call(
        fn,
        Array.from({ length: arity }, (_, k) => word(k + 1)),
        b.none,
      ),
      advance(i32(arity + 1)),
    ]);
  }
  // br_table into nested blocks: case k's code follows the end of block k, then loops back.
  const labels = cases.map((_, k) => `case${k}`);
  let dispatch = m.block(labels[0]!, [m.switch(labels, 'bad', m.i32.load(0, 4, p.get()))]);
  cases.forEach((code, k) => {
    const label = k + 1 < cases.length ? labels[k + 1]! : 'bad';
    dispatch = m.block(label, [dispatch, ...code, m.br(next)]);
  });
  e.finish(RUN_EXPORT, [m.loop(next, m.block(null, [dispatch, m.unreachable()]))]);
}
