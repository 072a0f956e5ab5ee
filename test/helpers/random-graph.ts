import fc from 'fast-check';
import * as T from 'tsano';
import { anyValue } from './arbitraries.js';

/** One step of a random program: an op choice plus the numbers it needs, interpreted against the nodes built so far. */
const stepArb = fc.record({
  kind: fc.constantFrom(
    'unary',
    'binary',
    'reduce',
    'transpose',
    'reshape',
    'softmax',
    'matmul',
    'where',
    'constant',
    'index',
    'concat',
    'pattern',
    'pattern',
  ),
  a: fc.nat(),
  b: fc.nat(),
  c: fc.nat(),
  flag: fc.boolean(),
  value: anyValue,
});

const UNARY = [
  T.neg,
  T.exp,
  T.log,
  T.log1p,
  T.sqrt,
  T.tanh,
  T.sigmoid,
  T.softplus,
  T.relu,
  T.abs,
  T.square,
  T.erf,
  T.gelu,
  T.expm1,
];
const BINARY = [T.add, T.sub, T.mul, T.div, T.maximum, T.minimum, T.pow];
const REDUCE = [T.sum, T.mean, T.max, T.min, T.logsumexp, T.prod];
/** Expressions the optimizer has rules for, as users write them, so random graphs exercise the rewrites. */
const PATTERNS: ((x: T.Node, y: T.Node, c: number) => T.Node)[] = [
  (x) => T.log(T.add(1, x)),
  (x) => T.sub(T.exp(x), 1),
  (x) => T.log(T.add(1, T.exp(x))),
  (x) => T.log(T.sigmoid(x)),
  (x) => T.log(T.sub(1, T.sigmoid(x))),
  (x) => T.sub(1, T.sigmoid(x)),
  (x) => T.div(1, T.add(1, T.exp(T.neg(x)))),
  (x) => T.div(T.exp(x), T.add(1, T.exp(x))),
  (x) => T.exp(T.log(x)),
  (x) => T.log(T.exp(x)),
  (x) => T.neg(T.neg(x)),
  (x) => T.mul(T.mul(x, 3), 0.25),
  (x) => T.add(T.mul(x, 1), 0),
  (x) => T.div(x, 4),
  (x, _y, c) => T.pow(x, [2, 0.5, -1, 3, 1, -0.5][Number.isFinite(c) ? Math.abs(Math.trunc(c)) % 6 : 0]!),
  (x) => T.mul(x, x),
  (x, y) => T.where(T.gt(x, y), x, x),
  (x) => T.transpose(T.transpose(x)),
  (x) => (x.ndim ? T.log(T.softmax(x, -1)) : x),
  (x) => (x.ndim ? T.log(T.sum(T.exp(x), -1)) : x),
  (x) => (x.ndim ? T.div(T.exp(x), T.sum(T.exp(x), -1, true)) : x),
  (x, y) => T.sub(x, T.neg(y)),
];

export interface RandomGraph {
  /** Inputs with fully known shapes; the graph is built (and type-checked) on these. */
  inputs: T.Node[];
  shapes: number[][];
  /** The same inputs with some sizes declared unknown, for rebuilding the graph through givens. */
  looseInputs: T.Node[];
  output: T.Node;
}

/**
 * Well-typed random graphs over a float64 or float32 op set: random input shapes (some sizes unknown
 * at build time), broadcasting, reductions, reshapes, matmul and constants including 0, 1, huge and tiny.
 * Steps that would be ill-typed are skipped, so every generated graph builds.
 */
export const randomGraph = (dtype: 'float32' | 'float64' = 'float64') =>
  fc
    .record({
      shapes: fc.array(fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 3 }), { minLength: 1, maxLength: 3 }),
      unknown: fc.array(fc.boolean(), { minLength: 9, maxLength: 9 }),
      steps: fc.array(stepArb, { minLength: 1, maxLength: 10 }),
    })
    .map(({ shapes, unknown, steps }): RandomGraph => {
      const inputs = shapes.map((s, i) => T.tensor(`in${i}`, { dtype, shape: s }));
      const looseInputs = shapes.map((s, i) =>
        T.tensor(`loose${i}`, { dtype, shape: s.map((d, a) => (unknown[i * 3 + a] ? null : d)) }),
      );
      const nodes: T.Node[] = [...inputs];
      const pick = (k: number) => nodes[k % nodes.length]!;
      for (const st of steps) {
        const x = pick(st.a);
        const y = pick(st.b);
        let next: T.Node | undefined;
        try {
          switch (st.kind) {
            case 'unary':
              next = UNARY[st.c % UNARY.length]!(x);
              break;
            case 'binary':
              next = BINARY[st.c % BINARY.length]!(x, y);
              break;
            case 'reduce':
              next = x.ndim === 0 ? undefined : REDUCE[st.c % REDUCE.length]!(x, st.b % x.ndim, st.flag);
              break;
            case 'transpose':
              next = T.transpose(x);
              break;
            case 'reshape':
              next = x.shape.every((d) => d !== null) ? T.reshape(x, [-1]) : undefined;
              break;
            case 'softmax':
              next = x.ndim === 0 ? undefined : (st.flag ? T.softmax : T.logSoftmax)(x, st.b % x.ndim);
              break;
            case 'matmul':
              next = x.ndim >= 1 && y.ndim >= 1 ? T.matmul(x, y) : undefined;
              break;
            case 'where':
              next = T.where(T.gt(x, y), x, st.value);
              break;
            case 'constant':
              next = T.mul(x, st.value);
              break;
            case 'index':
              next = x.ndim === 0 ? undefined : T.index(x, st.flag ? '::-1' : '1:');
              break;
            case 'concat':
              next = x.ndim === 0 ? undefined : T.concat([x, x], st.b % x.ndim);
              break;
            case 'pattern':
              next = PATTERNS[st.c % PATTERNS.length]!(x, y, st.value);
              break;
          }
        } catch (e) {
          if (!(e instanceof T.ShapeError)) throw e;
        }
        if (next) nodes.push(next);
      }
      return { inputs, shapes, looseInputs, output: nodes[nodes.length - 1]! };
    });

/** Ops whose result (or gradient) jumps where their two operands meet: comparisons, and the ties of maximum and minimum. */
const COMPARISONS = new Set(['gt', 'lt', 'ge', 'le', 'eq', 'ne', 'maximum', 'minimum', 'relu', 'abs', 'sign']);
/** Of those, the ones whose jump is where their operand is 0 (its size is the gap). */
const AT_ZERO = new Set(['relu', 'abs', 'sign']);

/**
 * The closest call any comparison (or maximum, minimum) of the graph makes on these values: the
 * smallest relative gap between its operands (1 when the graph compares nothing). Two modes may round a value differently
 * in its last place; where a comparison is that close, they may take different branches, both correctly.
 */
export async function closestComparison(g: RandomGraph, values: readonly T.NDArray[]): Promise<number> {
  const { toposort } = await import('../../compiler/ir/graph.js');
  const comparisons = toposort([g.output]).filter((n) => COMPARISONS.has(n.op));
  if (comparisons.length === 0) return 1;
  const gaps = comparisons.map((n) => {
    if (AT_ZERO.has(n.op)) return T.abs(n.inputs[0]!);
    const [a, b] = n.inputs as [T.Node, T.Node];
    return T.div(T.abs(T.sub(a, b)), T.maximum(T.maximum(T.abs(a), T.abs(b)), 1e-30));
  });
  const f = await T.compile(g.inputs, gaps, { mode: 'js', optimizer: 'none' });
  const got = f(...values) as T.NDArray[];
  return Math.min(1, ...got.flatMap((a) => Array.from(a.data).filter((v) => !Number.isNaN(v))));
}
