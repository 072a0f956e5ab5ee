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
 * `checked` is the same expression with every intermediate value passed through `finite`, which
 * throws on an infinity or NaN: where it throws, JavaScript's own evaluation overflowed (or divided by
 * a sum that rounded to zero, as x / log(|x| + 1) does for |x| below 2^-53), and its answer is no
 * reference for the optimized graph. `exact` spells log(|a| + 1) as log1p(|a|), the same function
 * without the rounding of 1 + |a| (the optimizer's rewrite): where |a| is below 2^-53 only that
 * spelling keeps its value, so the optimized graph must agree with one of the two.
 */
interface Source {
  readonly src: string;
  readonly checked: string;
  readonly exact: string;
}
const leaf = (c: string): Source => ({ src: c, checked: c, exact: c });
const wrap = (make: (...parts: string[]) => string, ...parts: Source[]): Source => ({
  src: make(...parts.map((p) => p.src)),
  checked: `finite(${make(...parts.map((p) => p.checked))})`,
  exact: make(...parts.map((p) => p.exact)),
});
const expressionOf = (jumps: boolean): fc.Arbitrary<Source> =>
  fc.letrec<{ e: Source }>((tie) => ({
    e: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.constantFrom('x', 'y', '2', '0.5', '-1.5', 'Math.PI').map(leaf),
      fc
        .tuple(fc.constantFrom('+', '-', '*', '/'), tie('e'), tie('e'))
        .map(([op, a, b]) => wrap((p, q) => `(${p} ${op} ${q})`, a, b)),
      fc
        .tuple(fc.constantFrom('exp', 'tanh', 'sin', 'cos', 'abs', 'expm1', ...(jumps ? ['sign'] : [])), tie('e'))
        .map(([f, a]) => wrap((p) => `Math.${f}(${p})`, a)),
      fc.tuple(fc.constantFrom('log', 'sqrt', 'log1p'), tie('e')).map(([f, a]) => ({
        ...wrap((p) => `Math.${f}(Math.abs(${p}) + 1)`, a),
        exact: f === 'log' ? `Math.log1p(Math.abs(${a.exact}))` : `Math.${f}(Math.abs(${a.exact}) + 1)`,
      })),
      fc
        .tuple(fc.constantFrom('max', 'min'), tie('e'), tie('e'))
        .map(([f, a, b]) => wrap((p, q) => `Math.${f}(${p}, ${q})`, a, b)),
      ...(jumps
        ? [
            fc
              .tuple(fc.constantFrom('<', '>=', '===', '!=='), tie('e'), tie('e'), tie('e'), tie('e'))
              .map(([op, a, b, c, d]) => wrap((p, q, r, t) => `(${p} ${op} ${q} ? ${r} : ${t})`, a, b, c, d)),
          ]
        : []),
      tie('e').map((a) => wrap((p) => `(- ${p})`, a)),
    ),
  })).e;

const source = (body: string, withConst: boolean) =>
  withConst ? `function (x, y) {\n  const t = ${body};\n  return t * 0.5 + x;\n}` : `(x, y) => ${body}`;

/** Whether JavaScript evaluates the checked source at (x, y) without an infinite or NaN intermediate. */
function evaluatesFinitely(checked: string, x: number, y: number): boolean {
  const finite = (v: number) => {
    if (!Number.isFinite(v)) throw new RangeError('not finite');
    return v;
  };
  const f = new Function('finite', `return (${checked})`)(finite) as (x: number, y: number) => number;
  try {
    f(x, y);
    return true;
  } catch (e) {
    if (e instanceof RangeError) return false;
    throw e;
  }
}

async function agree(
  body: Source,
  withConst: boolean,
  xs: number[],
  ys: number[],
  optimizer: 'none' | 'fast_run',
  mode: 'js' | 'wasm',
) {
  const src = source(body.src, withConst);
  const run = (text: string) => new Function(`return (${text})`)() as (x: number, y: number) => number;
  const f = run(src);
  const exact = run(source(body.exact, withConst));
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
    else if (Number.isFinite(expected) && evaluatesFinitely(source(body.checked, withConst), xv, ys[i]!)) {
      const close = (reference: number) =>
        Object.is(got, reference) || Math.abs(got - reference) <= 1e-9 * Math.max(1, Math.abs(reference));
      expect(close(expected) || close(exact(xv, ys[i]!)), message).toBe(true);
    }
  });
}

const values = fc.array(fc.double({ min: -20, max: 20, noNaN: true }), { minLength: 4, maxLength: 4 });

describe('T.fromFunction', () => {
  it('random functions: as written, the interpreter gives what JavaScript gives, bit for bit', () =>
    fc.assert(
      fc.asyncProperty(expressionOf(true), fc.boolean(), values, values, (body, withConst, xs, ys) =>
        agree(body, withConst, xs, ys, 'none', 'js'),
      ),
      { numRuns: 150 },
    ));

  // Optimized, in the interpreter: the rewrites (log1p, softplus…) change last places, never more; the
  // wasm kernels of the same ops have their own properties (a float64 exp within 2e-15 would fail here
  // where the source cancels large terms, as exp(x) − expm1(x) does).
  it('random functions without jumps, optimized: close to what JavaScript gives', () =>
    fc.assert(
      fc.asyncProperty(expressionOf(false), fc.boolean(), values, values, (body, withConst, xs, ys) =>
        agree(body, withConst, xs, ys, 'fast_run', 'js'),
      ),
      { numRuns: 60 },
    ));

  it('where JavaScript divides by a sum that rounded to zero, the optimized graph does not: x / log(|x| + 1) is -1 at x = -5e-324', async () => {
    const src = '(x, y) => (Math.exp((x / Math.log(Math.abs(x) + 1))) + x)';
    const [x, y] = [T.vector('x', 'float64'), T.vector('y', 'float64')];
    const g = await T.compile([x, y], T.fromFunction(src)(x, y), { mode: 'js' });
    const got = (g(T.array(Float64Array.from([-5e-324])), T.array(Float64Array.from([0]))) as T.NDArray).data[0]!;
    // log(1 + |x|) is |x| to first order, so the quotient is -1; JavaScript's 1 + |x| rounds to 1 and gives -Infinity.
    expect(got).toBeCloseTo(Math.exp(-1), 15);
    // JavaScript's own answer is x itself, and the checked evaluation sees its infinite quotient.
    expect((new Function(`return (${src})`)() as (x: number, y: number) => number)(-5e-324, 0)).toBe(-5e-324);
    expect(evaluatesFinitely('(x, y) => Math.exp(finite(x / Math.log(Math.abs(x) + 1))) + x', -5e-324, 0)).toBe(false);
    expect(evaluatesFinitely('(x, y) => Math.exp(finite(x / Math.log(Math.abs(x) + 1))) + x', -0.5, 0)).toBe(true);
  });

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
      // Math.round rounds halves up, T.round to even (NumPy): no op means what it means.
      ['(x) => Math.round(x)', /Math\.round has no tsano op/],
      ['(x) => x >>> 2', /the operator >>> is not supported/],
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
