import { CholeskyDecomposition, inverse, Matrix } from 'ml-matrix';
import { describe, expect, it } from 'vitest';
import * as T from 'tsano';

/**
 * docs/linalg.md's worked example, as a Theano user writes it: Gaussian-process regression's negative
 * log marginal likelihood through cholesky and solveTriangular, its gradient with respect to the
 * hyperparameters, and gradient descent on them; checked against ml-matrix in float64.
 */
const xs = Array.from({ length: 12 }, (_, i) => i / 3);
const ys = xs.map((x) => Math.sin(2 * x) + 0.1 * Math.cos(7 * x));
const NOISE = 0.01;

/** The same model in float64 with ml-matrix: the likelihood and its analytic gradient ½·tr((K⁻¹ − ααᵀ)·∂K). */
function independent(logLength: number, logVariance: number): { nll: number; grad: [number, number] } {
  const [ell, s2] = [Math.exp(logLength), Math.exp(logVariance)];
  const n = xs.length;
  const d2 = (i: number, j: number) => (xs[i]! - xs[j]!) ** 2;
  const k = Matrix.from1DArray(
    n,
    n,
    Array.from({ length: n * n }, (_, q) => {
      const [i, j] = [Math.floor(q / n), q % n];
      return s2 * Math.exp(-d2(i, j) / (2 * ell * ell)) + (i === j ? NOISE : 0);
    }),
  );
  const chol = new CholeskyDecomposition(k).lowerTriangularMatrix;
  const kInv = inverse(k);
  const alpha = kInv.mmul(Matrix.columnVector(ys));
  const logDet = 2 * Array.from({ length: n }, (_, i) => Math.log(chol.get(i, i))).reduce((a, b) => a + b, 0);
  const nll =
    0.5 * alpha.transpose().mmul(Matrix.columnVector(ys)).get(0, 0) + 0.5 * logDet + 0.5 * n * Math.log(2 * Math.PI);
  const w = kInv.sub(alpha.mmul(alpha.transpose()));
  const dK = (f: (i: number, j: number) => number) =>
    Matrix.from1DArray(
      n,
      n,
      Array.from({ length: n * n }, (_, q) => f(Math.floor(q / n), q % n)),
    );
  const rbf = (i: number, j: number) => s2 * Math.exp(-d2(i, j) / (2 * ell * ell));
  const trace = (m: Matrix) => Array.from({ length: n }, (_, i) => m.get(i, i)).reduce((a, b) => a + b, 0);
  const gLength = 0.5 * trace(w.mmul(dK((i, j) => rbf(i, j) * (d2(i, j) / (ell * ell)))));
  const gVariance = 0.5 * trace(w.mmul(dK(rbf)));
  return { nll, grad: [gLength, gVariance] };
}

describe('Gaussian-process regression with T.linalg', () => {
  it('the negative log marginal likelihood and its gradient agree with ml-matrix within 1e-9, and gradient descent lowers it', async () => {
    const x = T.vector('x', 'float64');
    const y = T.vector('y', 'float64');
    const logLength = T.shared(T.array(0, { dtype: 'float64' }), 'logLength');
    const logVariance = T.shared(T.array(0, { dtype: 'float64' }), 'logVariance');
    const n = T.cast(T.shape(x, 0), 'float64');
    const diff = T.sub(T.expandDims(x, 1), T.expandDims(x, 0));
    const k = T.add(
      T.mul(T.exp(logVariance), T.exp(T.div(T.neg(T.square(diff)), T.mul(2, T.exp(T.mul(2, logLength)))))),
      T.mul(NOISE, T.eye(12, 12, 0, 'float64')),
    );
    const chol = T.linalg.cholesky(k);
    const alpha = T.linalg.solveTriangular(chol, T.linalg.solveTriangular(chol, y, { lower: true }), {
      lower: true,
      transpose: true,
    });
    const logDet = T.mul(2, T.sum(T.log(T.diagonal(chol))));
    const nll = T.add(T.add(T.mul(0.5, T.dot(y, alpha)), T.mul(0.5, logDet)), T.mul(0.5 * Math.log(2 * Math.PI), n));
    const grads = T.grad(nll, [logLength, logVariance]);
    const evaluate = await T.compile([x, y], [nll, ...grads]);
    const data = [T.array(xs, { dtype: 'float64' }), T.array(ys, { dtype: 'float64' })] as const;

    const [value, gl, gv] = evaluate(...data);
    const want = independent(0, 0);
    expect(Math.abs(value!.item() - want.nll)).toBeLessThan(1e-9 * Math.abs(want.nll));
    expect(Math.abs(gl!.item() - want.grad[0])).toBeLessThan(1e-9 * Math.max(1, Math.abs(want.grad[0])));
    expect(Math.abs(gv!.item() - want.grad[1])).toBeLessThan(1e-9 * Math.max(1, Math.abs(want.grad[1])));

    const step = await T.compile([x, y], nll, {
      updates: [
        [logLength, T.sub(logLength, T.mul(0.01, grads[0]!))],
        [logVariance, T.sub(logVariance, T.mul(0.01, grads[1]!))],
      ],
    });
    const losses = Array.from({ length: 20 }, () => step(...data).item());
    // A step of 0.01: the noise of 0.01 makes the likelihood stiff along the length scale.
    expect(losses[losses.length - 1]).toBeLessThan(losses[0]! - 0.1);
    const after = independent(logLength.get().item(), logVariance.get().item());
    expect(Math.abs(evaluate(...data)[0]!.item() - after.nll)).toBeLessThan(1e-9 * Math.abs(after.nll));
  });
});
