import fc from 'fast-check';
import * as T from 'tsano';
import { inRange } from './arbitraries.js';

export type Spec = readonly [string, number[], T.DType?];
export interface Example {
  inputs: Spec[];
  build: (xs: T.Node[]) => T.Node;
  /** Values drawn for every input (default: anything, extremes included). */
  domain?: fc.Arbitrary<number>;
  /** Stability rules: the exact value elementwise (float64, independent of tsano), and hard inputs where float32 breaks. */
  exact?: (v: number) => number;
  hard?: number[];
  /** What the rewritten graph must be, node for node (interning makes this `toBe`). */
  expected?: (xs: T.Node[]) => T.Node;
  /** Stability rules: what `T.grad` of the naive form must give. */
  gradient?: GradientExample;
}

type Values = readonly number[];
/** The gradient of sum(w * f(x)) with respect to x, where f is a stability rule's naive form. */
export interface GradientExample {
  /** The exact form's gradient in float64, from the calculus and independent of tsano: one value per element of x. */
  exact: (x: Values, w: Values, shape: readonly number[]) => number[];
  /** How large the terms the gradient sums are, per element (float32 rounds each of them); default |exact|. */
  scale?: (x: Values, w: Values, shape: readonly number[]) => number[];
  /** Values of x, random and extreme (|x| up to 1e4, tiny, next to the domain's edges), where the exact gradient is finite in float32. */
  domain: fc.Arbitrary<number>;
  /** Where the form is singular, if anywhere: finite differences stay on this side of it. */
  edge?: number;
}

const v3: Spec = ['x', [3]];
const m23: Spec = ['x', [2, 3]];
export const eps = 1e-7;
const sigmoid = (v: number) => (v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v)));
const softplus = (v: number) => (v > 0 ? v + Math.log1p(Math.exp(-v)) : Math.log1p(Math.exp(v)));
/** Values of magnitude 0.5 to 5, either sign: where Keras's epsilon guards are inactive. */
const awayFromZero = fc.tuple(inRange(0.5, 5), fc.boolean()).map(([v, s]) => (s ? v : -v));
const node = (op: string, inputs: T.Node[]) => T.Node.make(op as 'sumLike', inputs, {});

const sum = (v: Values) => v.reduce((a, b) => a + b, 0);
/** 10^e for e uniform between the exponents of lo and hi. */
const magnitude = (lo: number, hi: number) =>
  fc.double({ min: Math.log10(lo), max: Math.log10(hi), noNaN: true }).map((e) => 10 ** e);
const eitherSign = (a: fc.Arbitrary<number>) => fc.tuple(a, fc.boolean()).map(([v, s]) => (s ? v : -v));
/** Ordinary values, magnitudes from 1e-30 to 1e4 of either sign, and the edges themselves. */
const extreme = fc.oneof(
  inRange(-10, 10),
  eitherSign(magnitude(1e-30, 1e4)),
  fc.constantFrom(0, 1e4, -1e4, 100, -100, 1e-30, -1e-30),
);
const nonNegative = fc.oneof(inRange(0, 10), magnitude(1e-30, 1e4), fc.constantFrom(0, 1e-30, 1e4));
/** Above -1: up to 1e4, tiny either way, and within 1e-7 of -1. */
const aboveMinusOne = fc.oneof(
  nonNegative,
  inRange(-0.999, 0),
  eitherSign(magnitude(1e-30, 1e-3)),
  magnitude(1e-7, 0.1).map((e) => e - 1),
);

/** The gradient of an elementwise form: w times its derivative. */
const pointwise = (derivative: (v: number) => number) => (x: Values, w: Values) =>
  x.map((v, i) => w[i]! * derivative(v));
/** `f` applied to each last-axis row of x (with the matching row of w, or its one weight when the row was reduced). */
const rowwise = (f: (x: number[], w: number[]) => number[]) => (x: Values, w: Values, shape: readonly number[]) => {
  const n = shape[shape.length - 1]!;
  const rows = x.length / n;
  return Array.from({ length: rows }, (_, r) =>
    f(x.slice(r * n, r * n + n), w.length === rows ? [w[r]!] : w.slice(r * n, r * n + n)),
  ).flat();
};
const softmaxRow = (z: Values) => {
  const top = Math.max(...z);
  const e = z.map((v) => Math.exp(v - top));
  return e.map((v) => v / sum(e));
};
/** d/dz sum(w * logSoftmax(z)) = w - softmax(z) * sum(w). */
const logSoftmaxGradient: GradientExample = {
  exact: rowwise((z, w) => softmaxRow(z).map((s, i) => w[i]! - s * sum(w))),
  scale: rowwise((z, w) => softmaxRow(z).map((s, i) => Math.abs(w[i]!) + s * sum(w.map(Math.abs)))),
  domain: extreme,
};
const sigmoidSlope = (v: number) => sigmoid(v) * sigmoid(-v);
const logSigmoidGradient: GradientExample = { exact: pointwise((v) => sigmoid(-v)), domain: extreme };
const log1mSigmoidGradient: GradientExample = { exact: pointwise((v) => -sigmoid(v)), domain: extreme };
const identityGradient = (domain: fc.Arbitrary<number>): GradientExample => ({ exact: pointwise(() => 1), domain });

/** One example graph per rule: the test below checks that every rule has one. */
/** 4 on the diagonal: a + it is diagonally dominant for entries of a in [-1, 1] (well conditioned, positive determinant). */
const shiftBy4 = T.constant(
  T.array(
    [
      [4, 0, 0],
      [0, 4, 0],
      [0, 0, 4],
    ],
    { dtype: 'float64' },
  ),
);

export const EXAMPLES: Record<string, Example> = {
  constant_folding: {
    inputs: [v3],
    build: ([x]) => T.add(x!, T.mul(T.constant(2, 'float64'), T.constant(3, 'float64'))),
  },
  // A diagonally dominant 3×3 matrix (entries of a in [-1, 1] plus 4 on the diagonal): positive determinant, well conditioned.
  log_det: {
    inputs: [['a', [3, 3]]],
    build: ([a]) => T.log(T.linalg.det(T.add(a!, shiftBy4))),
    domain: inRange(-1, 1),
  },
  // log(det(L·Lᵀ)) for the Cholesky factor of a·aᵀ + 4·I (positive definite whatever a is).
  logdet_cholesky_product: {
    inputs: [['a', [3, 3]]],
    build: ([a]) => {
      const l = T.linalg.cholesky(T.add(T.matmul(a!, T.transpose(a!)), shiftBy4));
      return T.log(T.linalg.det(T.matmul(l, T.transpose(l))));
    },
    domain: inRange(-1, 1),
  },
  inv_matmul: {
    inputs: [
      ['a', [3, 3]],
      ['b', [3, 2]],
    ],
    build: ([a, b]) => T.matmul(T.linalg.inv(T.add(a!, shiftBy4)), b!),
    expected: ([a, b]) => T.linalg.solve(T.add(a!, shiftBy4), b!),
    domain: inRange(-1, 1),
  },
  // A composite expanded into its declared form: sin over cos, not the cotangent's cos over sin.
  decompose_composites: {
    inputs: [v3],
    build: ([x]) => T.tan(x!),
    expected: ([x]) => T.div(T.sin(x!), T.cos(x!)),
  },
  constant_right: { inputs: [v3], build: ([x]) => T.mul(2, x!), expected: ([x]) => T.mul(x!, 2) },
  mul_one: { inputs: [m23], build: ([x]) => T.exp(T.mul(x!, 1)), expected: ([x]) => T.exp(x!) },
  add_zero: { inputs: [m23], build: ([x]) => T.exp(T.add(x!, 0)), expected: ([x]) => T.exp(x!) },
  sub_zero: { inputs: [m23], build: ([x]) => T.exp(T.sub(x!, 0)), expected: ([x]) => T.exp(x!) },
  div_one: { inputs: [m23], build: ([x]) => T.exp(T.div(x!, 1)), expected: ([x]) => T.exp(x!) },
  mul_zero_int: {
    inputs: [['n', [3], 'int32']],
    build: ([n]) => T.mul(n!, 0),
    domain: fc.integer({ min: -9, max: 9 }),
  },
  neg_neg: { inputs: [v3], build: ([x]) => T.exp(T.neg(T.neg(x!))), expected: ([x]) => T.exp(x!) },
  sub_neg: { inputs: [v3, ['y', [3]]], build: ([x, y]) => T.sub(x!, T.neg(y!)) },
  mul_constants: { inputs: [v3], build: ([x]) => T.mul(T.mul(x!, 3), 0.5) },
  // Permutations that do not undo each other, so composing them in the wrong order ([0, 2, 1]) shows.
  transpose_transpose: {
    inputs: [['x', [2, 3, 4]]],
    build: ([x]) => T.exp(T.transpose(T.transpose(x!, [1, 2, 0]), [1, 0, 2])),
    expected: ([x]) => T.exp(T.transpose(x!, [2, 1, 0])),
  },
  transpose_identity: { inputs: [m23], build: ([x]) => T.exp(T.transpose(x!, [0, 1])), expected: ([x]) => T.exp(x!) },
  reshape_reshape: {
    inputs: [m23],
    build: ([x]) => T.reshape(T.reshape(x!, [6]), [3, 2]),
    expected: ([x]) => T.reshape(x!, [3, 2]),
  },
  stop_gradient_remove: {
    inputs: [m23],
    build: ([x]) => T.exp(T.stopGradient(x!)),
    expected: ([x]) => T.exp(x!),
  },
  slice_of_concat: {
    inputs: [m23, ['y', [2, 4]]],
    build: ([x, y]) => T.exp(T.index(T.concat([x!, y!], 1), null, '4:6')),
    expected: ([, y]) => T.exp(T.index(y!, null, '1:3')),
  },
  add_row_before_reshape: {
    inputs: [
      ['x', [6, 4]],
      ['b', [4]],
    ],
    build: ([x, b]) => T.exp(T.add(T.reshape(x!, [2, 3, 4]), b!)),
    expected: ([x, b]) => T.exp(T.reshape(T.add(x!, b!), [2, 3, 4])),
  },
  sub_row_before_reshape: {
    inputs: [
      ['x', [6, 4]],
      ['b', [4]],
    ],
    build: ([x, b]) => T.exp(T.sub(T.reshape(x!, [2, 3, 4]), b!)),
    expected: ([x, b]) => T.exp(T.reshape(T.sub(x!, b!), [2, 3, 4])),
  },
  mul_row_before_reshape: {
    inputs: [
      ['x', [6, 4]],
      ['b', [1]],
    ],
    build: ([x, b]) => T.exp(T.mul(T.reshape(x!, [3, 2, 4]), b!)),
    expected: ([x, b]) => T.exp(T.reshape(T.mul(x!, b!), [3, 2, 4])),
  },
  div_row_before_reshape: {
    inputs: [
      ['x', [6, 4]],
      ['b', [4]],
    ],
    build: ([x, b]) => T.exp(T.div(T.reshape(x!, [2, 3, 4]), b!)),
    expected: ([x, b]) => T.exp(T.reshape(T.div(x!, b!), [2, 3, 4])),
  },
  dim_of_known: { inputs: [m23], build: ([x]) => T.mul(x!, T.Node.make('dimOf', [x!], { axis: 1 })) },
  identity_remove: {
    inputs: [m23],
    build: ([x]) => T.exp(T.Node.make('identity', [x!], { label: 'dropout:1' })),
    expected: ([x]) => T.exp(x!),
  },
  reshape_noop: { inputs: [m23], build: ([x]) => T.exp(T.reshape(x!, [2, 3])), expected: ([x]) => T.exp(x!) },
  broadcast_into_elementwise: {
    inputs: [m23, ['y', [2, 3]]],
    build: ([x, y]) => T.exp(T.add(x!, node('broadcastLike', [T.constant(2, 'float32'), y!]))),
    expected: ([x]) => T.exp(T.add(x!, T.constant(2, 'float32'))),
  },
  broadcastLike_shape_source: {
    inputs: [
      ['x', [3]],
      ['y', [2, 3]],
    ],
    build: ([x, y]) => T.exp(node('broadcastLike', [x!, T.abs(y!)])),
    expected: ([x, y]) => T.exp(node('broadcastLike', [x!, y!])),
  },
  sumLike_shape_source: {
    inputs: [m23, ['y', [1, 3]]],
    build: ([x, y]) => T.exp(node('sumLike', [x!, T.square(y!)])),
    expected: ([x, y]) => T.exp(node('sumLike', [x!, y!])),
  },
  reshapeLike_shape_source: {
    inputs: [
      ['x', [6]],
      ['y', [2, 3]],
    ],
    build: ([x, y]) => T.exp(node('reshapeLike', [x!, T.neg(y!)])),
    expected: ([x, y]) => T.exp(node('reshapeLike', [x!, y!])),
  },
  useless_broadcastLike: { inputs: [m23, ['y', [2, 3]]], build: ([x, y]) => T.exp(node('broadcastLike', [x!, y!])) },
  useless_sumLike: { inputs: [m23, ['y', [2, 3]]], build: ([x, y]) => T.exp(node('sumLike', [x!, y!])) },
  useless_reshapeLike: { inputs: [m23, ['y', [2, 3]]], build: ([x, y]) => T.exp(node('reshapeLike', [x!, y!])) },
  sum_of_broadcast: {
    inputs: [
      ['s', []],
      ['y', [2, 3]],
    ],
    build: ([s, y]) => T.sum(node('broadcastLike', [s!, y!])),
  },
  dot_identity_right: {
    inputs: [m23],
    build: ([x]) =>
      T.dot(
        x!,
        T.constant(
          [
            [1, 0, 0],
            [0, 1, 0],
            [0, 0, 1],
          ],
          'float64',
        ),
      ),
  },
  dot_identity_left: {
    inputs: [m23],
    build: ([x]) =>
      T.dot(
        T.constant(
          [
            [1, 0],
            [0, 1],
          ],
          'float64',
        ),
        x!,
      ),
  },
  where_same: { inputs: [v3, ['y', [3]]], build: ([x, y]) => T.where(T.gt(x!, y!), x!, x!) },

  log1p: {
    inputs: [v3],
    build: ([x]) => T.log(T.add(1, x!)),
    exact: Math.log1p,
    hard: [1e-10, -1e-10, 1e-30, 1e-5],
    domain: inRange(-0.99, 10),
    gradient: { exact: pointwise((v) => 1 / (1 + v)), domain: aboveMinusOne, edge: -1 },
  },
  log1p_of_sub: {
    inputs: [v3],
    build: ([x]) => T.log(T.sub(1, x!)),
    exact: (v) => Math.log1p(-v),
    hard: [1e-10, -1e-10, 1e-30],
    domain: inRange(-10, 0.99),
    gradient: { exact: pointwise((v) => -1 / (1 - v)), domain: aboveMinusOne.map((v) => -v), edge: 1 },
  },
  expm1: {
    inputs: [v3],
    build: ([x]) => T.sub(T.exp(x!), 1),
    exact: Math.expm1,
    hard: [1e-10, -1e-10, 1e-30],
    gradient: {
      exact: pointwise(Math.exp),
      domain: fc.oneof(
        extreme.filter((v) => v <= 88),
        fc.constant(88),
      ),
    },
  },
  expm1_of_add: {
    inputs: [v3],
    build: ([x]) => T.add(T.exp(x!), -1),
    exact: Math.expm1,
    hard: [1e-10, -1e-12],
    gradient: {
      exact: pointwise(Math.exp),
      domain: fc.oneof(
        extreme.filter((v) => v <= 88),
        fc.constant(88),
      ),
    },
  },
  softplus: {
    inputs: [v3],
    build: ([x]) => T.log(T.add(1, T.exp(x!))),
    exact: softplus,
    hard: [100, 1000, -100, 30],
    gradient: { exact: pointwise(sigmoid), domain: extreme },
  },
  log1mexp: {
    inputs: [v3],
    build: ([x]) => T.log1p(T.neg(T.exp(x!))),
    exact: (v) => (v > -Math.LN2 ? Math.log(-Math.expm1(v)) : Math.log1p(-Math.exp(v))),
    hard: [-1e-10, -1e-5, -50],
    domain: inRange(-20, -1e-3),
    gradient: {
      exact: pointwise((v) => -1 / Math.expm1(-v)),
      domain: fc.oneof(
        inRange(-10, -1e-3),
        magnitude(1e-30, 1e4).map((v) => -v),
      ),
      edge: 0,
    },
  },
  log_sigmoid: {
    inputs: [v3],
    build: ([x]) => T.log(T.sigmoid(x!)),
    exact: (v) => -softplus(-v),
    hard: [-100, -1000, -90],
    gradient: logSigmoidGradient,
  },
  log1m_sigmoid: {
    inputs: [v3],
    build: ([x]) => T.log1p(T.neg(T.sigmoid(x!))),
    exact: (v) => -softplus(v),
    hard: [100, 1000, 50],
    gradient: log1mSigmoidGradient,
  },
  one_minus_sigmoid: {
    inputs: [v3],
    build: ([x]) => T.sub(1, T.sigmoid(x!)),
    exact: (v) => sigmoid(-v),
    hard: [20, 50, 80],
    gradient: { exact: pointwise((v) => -sigmoidSlope(v)), domain: extreme },
  },
  sigmoid_of_exp_ratio: {
    inputs: [v3],
    build: ([x]) => T.div(T.exp(x!), T.add(1, T.exp(x!))),
    exact: sigmoid,
    hard: [100, 1000, -100],
    gradient: { exact: pointwise(sigmoidSlope), domain: extreme },
  },
  sigmoid_of_reciprocal: {
    inputs: [v3],
    build: ([x]) => T.div(1, T.add(1, T.exp(T.neg(x!)))),
    exact: sigmoid,
    hard: [-100, -1000],
    gradient: { exact: pointwise(sigmoidSlope), domain: extreme },
  },
  sigmoid_neg_of_reciprocal: {
    inputs: [v3],
    build: ([x]) => T.div(1, T.add(1, T.exp(x!))),
    exact: (v) => sigmoid(-v),
    hard: [100, 1000],
    gradient: { exact: pointwise((v) => -sigmoidSlope(v)), domain: extreme },
  },
  log_softmax: {
    inputs: [m23],
    build: ([x]) => T.log(T.softmax(x!)),
    expected: ([x]) => T.logSoftmax(x!),
    gradient: logSoftmaxGradient,
  },
  softmax_of_exp_ratio: {
    inputs: [m23],
    build: ([x]) => T.div(T.exp(x!), T.sum(T.exp(x!), 1, true)),
    expected: ([x]) => T.softmax(x!, 1),
    gradient: {
      exact: rowwise((z, w) => {
        const s = softmaxRow(z);
        const mean = sum(s.map((p, i) => p * w[i]!));
        return s.map((p, i) => p * (w[i]! - mean));
      }),
      scale: rowwise((z, w) => {
        const s = softmaxRow(z);
        const mean = sum(s.map((p, i) => Math.abs(p * w[i]!)));
        return s.map((p, i) => p * (Math.abs(w[i]!) + mean));
      }),
      domain: extreme,
    },
  },
  logsumexp: {
    inputs: [m23],
    build: ([x]) => T.log(T.sum(T.exp(x!), 1)),
    expected: ([x]) => T.logsumexp(x!, 1),
    gradient: { exact: rowwise((z, [w]) => softmaxRow(z).map((s) => s * w!)), domain: extreme },
  },
  log_exp: {
    inputs: [v3],
    build: ([x]) => T.log(T.exp(x!)),
    exact: (v) => v,
    hard: [100, 1000, -1000, 1e-30],
    gradient: identityGradient(extreme),
  },
  exp_log: { inputs: [v3], build: ([x]) => T.exp(T.log(x!)), gradient: identityGradient(nonNegative) },
  exp_log1p: { inputs: [v3], build: ([x]) => T.exp(T.log1p(x!)), gradient: identityGradient(aboveMinusOne) },
  keras_log_softmax_clipped: {
    inputs: [m23],
    build: ([z]) => T.log(T.clip(T.softmax(z!), eps, 1 - eps)),
    domain: inRange(-5, 5),
    gradient: logSoftmaxGradient,
  },
  keras_log_softmax_normalized: {
    inputs: [m23],
    domain: inRange(-5, 5),
    build: ([z]) => T.log(T.clip(T.div(T.softmax(z!), T.sum(T.softmax(z!), -1, true)), eps, 1 - eps)),
    gradient: logSoftmaxGradient,
  },
  keras_log_sigmoid_eps: {
    inputs: [v3],
    build: ([z]) => T.log(T.add(T.sigmoid(z!), eps)),
    domain: inRange(-3, 3),
    gradient: logSigmoidGradient,
  },
  keras_log_sigmoid_clipped: {
    inputs: [v3],
    build: ([z]) => T.log(T.clip(T.sigmoid(z!), eps, 1 - eps)),
    domain: inRange(-3, 3),
    exact: (v) => -softplus(-v),
    hard: [-50, -100],
    gradient: logSigmoidGradient,
  },
  keras_log_sigmoid_clipped_eps: {
    inputs: [v3],
    build: ([z]) => T.log(T.add(T.clip(T.sigmoid(z!), eps, 1 - eps), eps)),
    domain: inRange(-3, 3),
    gradient: logSigmoidGradient,
  },
  keras_log1m_sigmoid_clipped: {
    inputs: [v3],
    build: ([z]) => T.log(T.sub(1, T.clip(T.sigmoid(z!), eps, 1 - eps))),
    domain: inRange(-3, 3),
    exact: (v) => -softplus(v),
    hard: [50, 100],
    gradient: log1mSigmoidGradient,
  },
  keras_log1m_sigmoid_clipped_eps: {
    inputs: [v3],
    build: ([z]) => T.log(T.add(T.sub(1, T.clip(T.sigmoid(z!), eps, 1 - eps)), eps)),
    domain: inRange(-3, 3),
    gradient: log1mSigmoidGradient,
  },
  l2_normalize_epsilon: {
    inputs: [m23],
    build: ([x]) => T.div(x!, T.sqrt(T.sum(T.square(x!), 1, true))),
    domain: awayFromZero,
    gradient: {
      // x * rsqrt(max(sum(x^2), eps)): below eps the norm is the constant sqrt(eps). Values keep sum(x^2) far from eps.
      exact: rowwise((x, w) => {
        const ss = sum(x.map((v) => v * v));
        if (ss < eps) return w.map((v) => v / Math.sqrt(eps));
        const n = Math.sqrt(ss);
        const wx = sum(x.map((v, i) => v * w[i]!));
        return x.map((v, i) => w[i]! / n - (v * wx) / n ** 3);
      }),
      scale: rowwise((x, w) => {
        const n = Math.max(Math.sqrt(sum(x.map((v) => v * v))), Math.sqrt(eps));
        const wx = sum(x.map((v, i) => Math.abs(v * w[i]!)));
        return x.map((v, i) => Math.abs(w[i]!) / n + (Math.abs(v) * wx) / n ** 3);
      }),
      domain: fc.oneof(eitherSign(magnitude(1e-2, 1e4)), eitherSign(magnitude(1e-30, 1e-10)), fc.constant(0)),
    },
  },
  std_epsilon: {
    inputs: [m23],
    build: ([x]) => {
      const c = T.sub(x!, T.mean(x!, 1, true));
      return T.div(c, T.sqrt(T.mean(T.square(c), 1, true)));
    },
    domain: fc.integer({ min: -5, max: 5 }),
    gradient: {
      // c / s with c = x - mean(x), s = sqrt(mean(c^2) + eps): (w - mean(w)) / s - c * sum(w c) / (n s^3)
      exact: rowwise((x, w) => {
        const n = x.length;
        const c = x.map((v) => v - sum(x) / n);
        const s = Math.sqrt(sum(c.map((v) => v * v)) / n + eps);
        const wc = sum(c.map((v, i) => v * w[i]!));
        return c.map((v, i) => (w[i]! - sum(w) / n) / s - (v * wc) / (n * s ** 3));
      }),
      scale: rowwise((x, w) => {
        const n = x.length;
        const c = x.map((v) => v - sum(x) / n);
        const s = Math.sqrt(sum(c.map((v) => v * v)) / n + eps);
        const wc = sum(c.map((v, i) => Math.abs(v * w[i]!)));
        return c.map((v, i) => (Math.abs(w[i]!) + sum(w.map(Math.abs)) / n) / s + (Math.abs(v) * wc) / (n * s ** 3));
      }),
      // Whole multiples of a step, so float32 centres them exactly: from tiny (the epsilon dominates) to 1e4.
      domain: fc
        .tuple(fc.integer({ min: -50, max: 50 }), fc.constantFrom(1e-30, 1e-5, 1, 200))
        .map(([k, step]) => k * step),
    },
  },

  pow_specialize: {
    inputs: [v3],
    build: ([x]) => T.add(T.pow(x!, 2), T.pow(T.abs(x!), 0.5)),
    expected: ([x]) => T.add(T.square(x!), T.sqrt(T.abs(x!))),
  },
  div_by_power_of_two: { inputs: [v3], build: ([x]) => T.div(x!, 4), expected: ([x]) => T.mul(x!, 0.25) },
  mul_self_to_square: { inputs: [v3], build: ([x]) => T.mul(x!, x!), expected: ([x]) => T.square(x!) },
  mul_minus_one: { inputs: [v3], build: ([x]) => T.exp(T.mul(x!, -1)), expected: ([x]) => T.exp(T.neg(x!)) },
  add_neg_to_sub: {
    inputs: [v3, ['y', [3]]],
    build: ([x, y]) => T.add(x!, T.neg(y!)),
    expected: ([x, y]) => T.sub(x!, y!),
  },
  matmul_transposed_operand: {
    inputs: [m23, ['y', [2, 4]]],
    build: ([x, y]) => T.matmul(T.transpose(x!), y!),
    expected: ([x, y]) => T.matmul(x!, y!, { transposeA: true }),
    domain: inRange(-5, 5),
  },
  dot_fold_leading_axes: {
    inputs: [
      ['x', [2, 3, 4]],
      ['y', [4, 5]],
    ],
    build: ([x, y]) => T.dot(x!, y!),
    expected: ([x, y]) => T.reshape(T.dot(T.reshape(x!, [6, 4]), y!), [2, 3, 5]),
    domain: inRange(-5, 5),
  },
  sum_mul_to_dot: {
    inputs: [m23, ['y', [3]]],
    build: ([x, y]) => T.sum(T.mul(x!, y!), 1),
    expected: ([x, y]) => T.dot(x!, y!),
    domain: inRange(-5, 5),
  },

  elementwise_fusion: { inputs: [v3], build: ([x]) => T.mul(T.tanh(x!), T.sigmoid(x!)) },
  matmul_epilogue_fusion: {
    inputs: [
      ['x', [3, 5], 'float32'],
      ['w', [5, 9], 'float32'],
      ['b', [9], 'float32'],
    ],
    build: ([x, w, b]) => T.relu(T.add(T.dot(x!, w!), b!)),
  },
  conv_pool_fusion: {
    inputs: [
      ['x', [2, 7, 6, 3], 'float32'],
      ['k', [3, 2, 3, 5], 'float32'],
      ['b', [5], 'float32'],
    ],
    build: ([x, k, b]) =>
      T.maxPool2d(T.relu(T.add(T.conv2d(x!, k!, { dataFormat: 'channelsLast', padding: 'same' }), b!)), {
        poolSize: 2,
        strides: 2,
        padding: 'valid',
        dataFormat: 'channelsLast',
      }),
  },
};
