import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from 'tsano';

/**
 * T.fromFunction reads JavaScript functions of numbers into graphs. Random functions are generated as
 * source text, run by JavaScript itself on random numbers, and compared with their graphs compiled
 * as written (optimizer 'none', the interpreter: the same Math functions in float64, so the same bits)
 * and as optimized (close wherever JavaScript's own evaluation does not overflow).
 */

/**
 * Random expression source over x and y, with its depth bounded. `jumps`: also comparisons and sign,
 * whose value jumps: compared with the optimized graph, a last-place difference may flip them.
 */
const expressionOf = (jumps: boolean): fc.Arbitrary<string> =>
  fc.letrec<{ e: string }>((tie) => ({
    e: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.constantFrom('x', 'y', '2', '0.5', '-1.5', 'Math.PI'),
      fc.tuple(fc.constantFrom('+', '-', '*', '/'), tie('e'), tie('e')).map(([op, a, b]) => `(${a} ${op} ${b})`),
      fc
        .tuple(fc.constantFrom('exp', 'tanh', 'sin', 'cos', 'abs', 'expm1', ...(jumps ? ['sign'] : [])), tie('e'))
        .map(([f, a]) => `Math.${f}(${a})`),
      fc.tuple(fc.constantFrom('log', 'sqrt', 'log1p'), tie('e')).map(([f, a]) => `Math.${f}(Math.abs(${a}) + 1)`),
      fc.tuple(fc.constantFrom('max', 'min'), tie('e'), tie('e')).map(([f, a, b]) => `Math.${f}(${a}, ${b})`),
      ...(jumps
        ? [
            fc
              .tuple(fc.constantFrom('<', '>=', '===', '!=='), tie('e'), tie('e'), tie('e'), tie('e'))
              .map(([op, a, b, c, d]) => `(${a} ${op} ${b} ? ${c} : ${d})`),
          ]
        : []),
      tie('e').map((a) => `(- ${a})`),
    ),
  })).e;

const source = (body: string, withConst: boolean) =>
  withConst ? `function (x, y) {\n  const t = ${body};\n  return t * 0.5 + x;\n}` : `(x, y) => ${body}`;

async function agree(src: string, xs: number[], ys: number[], optimizer: 'none' | 'fast_run', mode: 'js' | 'wasm') {
  const f = new Function(`return (${src})`)() as (x: number, y: number) => number;
  const [x, y] = [T.vector('x', 'float64'), T.vector('y', 'float64')];
  const g = await T.compile([x, y], T.fromFunction(src)(x, y), { mode, optimizer });
  const out = g(T.array(Float64Array.from(xs)), T.array(Float64Array.from(ys))) as T.NDArray;
  xs.forEach((xv, i) => {
    const expected = f(xv, ys[i]!);
    // A function that depends on no argument gives a scalar.
    const got = out.size === 1 ? out.data[0]! : out.data[i]!;
    const message = `${src} at x=${xv}, y=${ys[i]}: JavaScript ${expected}, graph ${got}`;
    if (optimizer === 'none' && mode === 'js')
      expect(Object.is(got, expected) || (got === 0 && expected === 0), message).toBe(true);
    else if (Number.isFinite(expected))
      expect(Math.abs(got - expected), message).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(expected)));
  });
}

const values = fc.array(fc.double({ min: -20, max: 20, noNaN: true }), { minLength: 4, maxLength: 4 });

describe('T.fromFunction', () => {
  it('random functions: as written, the interpreter gives what JavaScript gives, bit for bit', () =>
    fc.assert(
      fc.asyncProperty(expressionOf(true), fc.boolean(), values, values, (body, withConst, xs, ys) =>
        agree(source(body, withConst), xs, ys, 'none', 'js'),
      ),
      { numRuns: 150 },
    ));

  // Optimized, in the interpreter: the rewrites (log1p, softplus…) change last places, never more; the
  // wasm kernels of the same ops have their own properties (a float64 exp within 2e-15 would fail here
  // where the source cancels large terms, as exp(x) − expm1(x) does).
  it('random functions without jumps, optimized: close to what JavaScript gives', () =>
    fc.assert(
      fc.asyncProperty(expressionOf(false), fc.boolean(), values, values, (body, withConst, xs, ys) =>
        agree(source(body, withConst), xs, ys, 'fast_run', 'js'),
      ),
      { numRuns: 60 },
    ));

  it('log(1 + exp(x)) * y becomes one fused kernel computing the stable softplus', async () => {
    const [x, y] = [T.vector('x'), T.vector('y')];
    const f = await T.compile([x, y], T.fromFunction((x, y) => Math.log(1 + Math.exp(x)) * y)(x, y));
    expect(f.stats.rewrites['softplus'] ?? 0).toBeGreaterThan(0);
    expect(f.program.steps.filter((s) => s.kernel !== undefined)).toHaveLength(1);
    expect(Array.from((f(T.array([100, 0]), T.array([2, 1])) as T.NDArray).data)).toEqual([
      200,
      Math.fround(Math.log(2)),
    ]);
  });

  it('reads local consts, the ternary, && and !, and Math constants', async () => {
    const x = T.vector('x', 'float64');
    const build = T.fromFunction(`function (x) {
      const big = x > 1 && !(x > 3);
      const r = big ? x * Math.E : Math.max(x, -Math.PI, 0.5);
      return r ** 2;
    }`);
    const f = await T.compile([x], build(x), { mode: 'js' });
    const js = (v: number) => (v > 1 && !(v > 3) ? v * Math.E : Math.max(v, -Math.PI, 0.5)) ** 2;
    const xs = [-5, 0, 2, 3, 4];
    expect(Array.from((f(T.array(Float64Array.from(xs))) as T.NDArray).data)).toEqual(xs.map(js));
  });

  it('refuses what it cannot read, naming the line and column', () => {
    const cases: [string, RegExp][] = [
      [
        '(x) => { let s = 0; for (let i = 0; i < 3; i++) s += x; return s; }',
        /a variable declaration is not supported.*line 1, column 10/s,
      ],
      ['(x) => k * x', /'k' is not a parameter or a local const.*line 1, column 8/s],
      ['(x) => Math.floor(x)', /Math\.floor has no tsano op/],
      ['(x) => x % 2', /the operator % is not supported/],
      ["(x) => x + 'a'", /the literal 'a' is not a number/],
      ['(x) => { x = 2; return x; }', /an expression statement is not supported.*line 1, column 10/s],
      ['function (x) {\n  const y = x;\n  return foo(y);\n}', /only Math functions can be called at line 3, column 10/],
      ['(x = 1) => x', /only plain parameters/],
      ['(x) => x && 1', /&& needs comparisons on both sides/],
      ['x =>', /does not parse/],
    ];
    for (const [src, message] of cases) expect(() => T.fromFunction(src)(T.vector('x')), src).toThrow(message);
    expect(() => T.fromFunction((x: number, y: number) => x + y)(T.vector('x'))).toThrow(
      /takes 2 arguments \(x, y\), got 1/,
    );
  });
});
