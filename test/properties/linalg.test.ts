import fc from 'fast-check';
import {
  CholeskyDecomposition,
  determinant,
  EigenvalueDecomposition,
  inverse,
  Matrix,
  pseudoInverse,
  SingularValueDecomposition,
  solve as mlSolve,
} from 'ml-matrix';
import { describe, expect, it } from 'vitest';
import * as T from 'tsano';
import { checkGradient } from '../helpers/gradcheck.js';

/**
 * T.linalg against ml-matrix (an independent float64 implementation): random well-conditioned matrices
 * (a random M with n added to its diagonal; SPD ones as M·Mᵀ + n·I), batches with broadcasting,
 * reconstruction identities, and gradients by finite differences.
 */

const L = T.linalg;
/** Entries in [-1, 1] in steps of 1/1000: zeros and rank deficiency happen, subnormal entries (which the oracle mishandles) do not. */
const entry = fc.integer({ min: -1000, max: 1000 }).map((v) => v / 1000);
const randomMatrix = (rows: number, cols: number) =>
  fc
    .array(entry, { minLength: rows * cols, maxLength: rows * cols })
    .map((d) => Array.from({ length: rows }, (_, i) => d.slice(i * cols, (i + 1) * cols)));
const wellConditioned = (n: number) =>
  randomMatrix(n, n).map((m) => m.map((row, i) => row.map((v, j) => v + (i === j ? n + 1 : 0))));
const spd = (n: number) =>
  randomMatrix(n, n).map((m) => {
    const a = new Matrix(m);
    return a.mmul(a.transpose()).add(Matrix.eye(n).mul(n)).to2DArray();
  });
const f64 = (rows: number[][]) => T.array(rows, { dtype: 'float64' });
const rowsOf = (a: T.NDArray) => a.arraySync() as number[][];

function expectClose(got: number[][], want: number[][], tolerance = 1e-10): void {
  expect(got.length).toBe(want.length);
  got.forEach((row, i) =>
    row.forEach((v, j) => {
      const w = want[i]![j]!;
      if (!(Object.is(v, w) || Math.abs(v - w) <= tolerance * Math.max(1, Math.abs(w))))
        throw new Error(`at ${i},${j}: got ${v}, want ${w}`);
    }),
  );
}

const sizes = fc.integer({ min: 1, max: 6 });

describe('T.linalg against ml-matrix', () => {
  it('cholesky: the factor of SPD matrices, L·Lᵀ = A; NaN for a matrix that is not positive definite', async () => {
    const a = T.matrix('a', 'float64');
    const f = await T.compile([a], L.cholesky(a));
    await fc.assert(
      fc.asyncProperty(sizes.chain(spd), async (m) => {
        const got = rowsOf(f(f64(m)));
        expectClose(got, new CholeskyDecomposition(new Matrix(m)).lowerTriangularMatrix.to2DArray());
        expectClose(new Matrix(got).mmul(new Matrix(got).transpose()).to2DArray(), m);
      }),
      { numRuns: 30 },
    );
    expect(
      Number.isNaN(
        rowsOf(
          f(
            f64([
              [1, 2],
              [2, 1],
            ]),
          ),
        )[1]![1],
      ),
    ).toBe(true);
  });

  it('solveTriangular: lower and upper, transposed, unit diagonal; T·X = B', async () => {
    for (const lower of [true, false])
      for (const transpose of [false, true])
        for (const unitDiagonal of [false, true]) {
          const [t, b] = [T.matrix('t', 'float64'), T.matrix('b', 'float64')];
          const f = await T.compile([t, b], L.solveTriangular(t, b, { lower, transpose, unitDiagonal }));
          await fc.assert(
            fc.asyncProperty(
              sizes.chain((n) => fc.tuple(wellConditioned(n), randomMatrix(n, 2))),
              async ([m, rhs]) => {
                const n = m.length;
                const tri = m.map((row, i) =>
                  row.map((v, j) => (i === j ? (unitDiagonal ? 1 : v) : (lower ? i > j : i < j) ? v : 0)),
                );
                const x = rowsOf(f(f64(m), f64(rhs)));
                const used = new Matrix(tri);
                const lhs = (transpose ? used.transpose() : used).mmul(new Matrix(x));
                expectClose(lhs.to2DArray(), rhs);
                expectClose(x, mlSolve(transpose ? used.transpose() : used, new Matrix(rhs)).to2DArray());
                expect(x.length).toBe(n);
              },
            ),
            { numRuns: 10 },
          );
        }
  });

  it('solve, inv and slogdet / det agree with LU in ml-matrix', async () => {
    const [a, b] = [T.matrix('a', 'float64'), T.matrix('b', 'float64')];
    await fc.assert(
      fc.asyncProperty(
        sizes.chain((n) => fc.tuple(wellConditioned(n), randomMatrix(n, 3))),
        async ([m, rhs]) => {
          const n = m.length;
          const square = T.tensor('s', { shape: [n, n], dtype: 'float64' });
          const f = await T.compile([a, b], L.solve(a, b));
          const g = await T.compile(
            [square],
            [L.inv(square), L.det(square), L.slogdet(square).logAbsDet, L.slogdet(square).sign],
          );
          expectClose(rowsOf(f(f64(m), f64(rhs))), mlSolve(new Matrix(m), new Matrix(rhs)).to2DArray());
          const [inverseOf, d, logAbs, sign] = g(f64(m));
          expectClose(rowsOf(inverseOf!), inverse(new Matrix(m)).to2DArray());
          const want = determinant(new Matrix(m));
          expectClose([[d!.item()]], [[want]]);
          expectClose([[logAbs!.item()]], [[Math.log(Math.abs(want))]]);
          expect(sign!.item()).toBe(Math.sign(want));
        },
      ),
      { numRuns: 25 },
    );
  });

  it('batches broadcast as NumPy: [2, 3, 3] against a [3, 2] right-hand side, a vector right-hand side gives a vector', async () => {
    const mats = [
      [
        [4, 1, 0],
        [1, 3, 1],
        [0, 1, 2],
      ],
      [
        [2, 0, 1],
        [0, 5, 2],
        [1, 2, 6],
      ],
    ];
    const rhs = [
      [1, 2],
      [3, 4],
      [5, 6],
    ];
    const [a, b, v] = [T.tensor3('a', 'float64'), T.matrix('b', 'float64'), T.vector('v', 'float64')];
    const f = await T.compile([a, b, v], [L.solve(a, b), L.cholesky(a), L.solve(T.index(a, 0), v)]);
    const [x, chol, col] = f(T.array(mats, { dtype: 'float64' }), f64(rhs), T.array([1, 2, 3], { dtype: 'float64' }));
    mats.forEach((m, k) => {
      expectClose((x!.arraySync() as number[][][])[k]!, mlSolve(new Matrix(m), new Matrix(rhs)).to2DArray());
      expectClose(
        (chol!.arraySync() as number[][][])[k]!,
        new CholeskyDecomposition(new Matrix(m)).lowerTriangularMatrix.to2DArray(),
      );
    });
    expect(col!.shape).toEqual([3]);
    expectClose([Array.from(col!.data)], [mlSolve(new Matrix(mats[0]!), Matrix.columnVector([1, 2, 3])).to1DArray()]);
  });

  it('gradients by finite differences: cholesky, solveTriangular (every form), solve, inv, slogdet and det', async () => {
    const m = [
      [4, 1, 0.5],
      [1, 3, 0.2],
      [0.5, 0.2, 2],
    ];
    const rhs = [
      [1, -2],
      [0.5, 3],
      [-1, 0.25],
    ];
    const flat = (rows: number[][]) => ({ shape: [rows.length, rows[0]!.length], data: rows.flat() });
    await checkGradient([flat(m)], ([a]) => L.cholesky(a!));
    for (const lower of [true, false])
      for (const transpose of [false, true])
        for (const unitDiagonal of [false, true])
          await checkGradient([flat(m), flat(rhs)], ([t, b]) =>
            L.solveTriangular(t!, b!, { lower, transpose, unitDiagonal }),
          );
    await checkGradient([flat(m), flat(rhs)], ([a, b]) => L.solve(a!, b!));
    await checkGradient([flat(m)], ([a]) => L.slogdet(a!).logAbsDet);
    await checkGradient([flat(m)], ([a]) => L.det(a!));
    await checkGradient([flat(m)], ([a]) => L.inv(T.reshape(a!, [3, 3])));
  });

  it('names the op and the shapes when a matrix is not square or the right-hand side does not fit', () => {
    expect(() => L.cholesky(T.tensor('a', { shape: [2, 3] }))).toThrow(/cholesky needs square matrices, got 2×3/);
    expect(() => L.solve(T.tensor('a', { shape: [3, 3] }), T.tensor('b', { shape: [2, 1] }))).toThrow(
      /a 3×3 matrix against a right-hand side of 2 rows/,
    );
    expect(() => L.solveTriangular(T.matrix('a'), T.matrix('b'), { lowr: true } as never)).toThrow(/lowr/);
  });
});

describe('T.linalg in wasm', () => {
  it('cholesky, solve and solveTriangular run as wasm kernels (no reference step), batched, in both float types; the solves equal the reference to the bit', async () => {
    for (const dtype of ['float64', 'float32'] as const) {
      const a = T.tensor('a', { shape: [2, 5, 5], dtype });
      const b = T.tensor('b', { shape: [5, 3], dtype });
      const outs = [
        L.cholesky(a),
        L.solve(a, b),
        L.solveTriangular(a, b, { lower: true }),
        L.solveTriangular(a, b, { transpose: true, unitDiagonal: true }),
      ];
      const wasm = await T.compile([a, b], outs, { mode: 'wasm' });
      const js = await T.compile([a, b], outs, { mode: 'js' });
      expect(wasm.stats.referenceSteps).toBe(0);
      await fc.assert(
        fc.asyncProperty(fc.tuple(wellConditioned(5), spd(5), randomMatrix(5, 3)), async ([m1, m2, rhs]) => {
          const inputs = [T.array([m2, m1], { dtype }), T.array(rhs, { dtype })] as const;
          const [got, want] = [wasm(...inputs), js(...inputs)];
          // The Cholesky factor's inner products sum in pairs: equal within rounding.
          Array.from(got[0]!.data).forEach((v, i) =>
            expect(Math.abs(v - want[0]!.data[i]!)).toBeLessThanOrEqual(
              (dtype === 'float64' ? 1e-13 : 1e-6) * Math.max(1, Math.abs(want[0]!.data[i]!)),
            ),
          );
          for (let o = 1; o < outs.length; o++) expect(Array.from(got[o]!.data)).toEqual(Array.from(want[o]!.data));
        }),
        { numRuns: 10 },
      );
    }
  });
});

describe('T.linalg: qr, eigh, svd, pinv, lstsq, matrixPower', () => {
  const tall = fc
    .tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 3 }))
    .chain(([n, extra]) => randomMatrix(n + extra, n));
  const product = (a: number[][], b: number[][]) => new Matrix(a).mmul(new Matrix(b)).to2DArray();
  const transposed = (a: number[][]) => new Matrix(a).transpose().to2DArray();
  const identity = (n: number) => Matrix.eye(n).to2DArray();

  it('qr: Q·R = A, QᵀQ = I, R upper triangular with a non-negative diagonal, reduced and complete', async () => {
    const a = T.matrix('a', 'float64');
    const reduced = L.qr(a);
    const complete = L.qr(a, { mode: 'complete' });
    const f = await T.compile([a], [reduced.q, reduced.r, complete.q, complete.r]);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          tall,
          sizes.chain((n) => randomMatrix(n, n + 2)),
        ),
        async (m) => {
          const [q, r, qc, rc] = f(f64(m)).map(rowsOf);
          for (const [qq, rr] of [
            [q!, r!],
            [qc!, rc!],
          ] as const) {
            expectClose(product(qq, rr), m, 1e-12);
            expectClose(product(transposed(qq), qq), identity(qq[0]!.length), 1e-12);
            rr.forEach((row, i) =>
              row.forEach((v, j) => (j < i ? expect(v).toBe(0) : i === j && expect(v).toBeGreaterThanOrEqual(0))),
            );
          }
          expect(qc!.length).toBe(m.length);
          expect(qc![0]!.length).toBe(m.length);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('eigh: A·V = V·diag(w), w ascending as ml-matrix finds them, V orthonormal', async () => {
    const a = T.matrix('a', 'float64');
    const { values, vectors } = L.eigh(a);
    const f = await T.compile([a], [values, vectors]);
    await fc.assert(
      fc.asyncProperty(
        sizes.chain((n) => randomMatrix(n, n)),
        async (m) => {
          const sym = m.map((row, i) => row.map((v, j) => (j <= i ? v : m[j]![i]!)));
          const [w, v] = f(f64(sym));
          const vr = rowsOf(v!);
          const wr = Array.from(w!.data);
          expectClose(
            product(sym, vr),
            vr.map((row) => row.map((x, j) => x * wr[j]!)),
            1e-10,
          );
          expectClose(product(transposed(vr), vr), identity(m.length), 1e-10);
          const oracle = new EigenvalueDecomposition(new Matrix(sym), { assumeSymmetric: true }).realEigenvalues.sort(
            (p, q) => p - q,
          );
          expectClose([wr], [oracle], 1e-10);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('svd: U·diag(s)·Vᵀ = A, s descending as ml-matrix finds them; pinv and lstsq from it; matrixPower', async () => {
    const a = T.matrix('a', 'float64');
    const { u, s, vt } = L.svd(a);
    const f = await T.compile([a], [u, s, vt, L.pinv(a)]);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          tall,
          sizes.chain((n) => randomMatrix(n, n + 2)),
        ),
        async (m) => {
          const [ur, sr, vr, pr] = f(f64(m));
          const sv = Array.from(sr!.data);
          expectClose(
            product(
              rowsOf(ur!).map((row) => row.map((x, j) => x * sv[j]!)),
              rowsOf(vr!),
            ),
            m,
            1e-10,
          );
          const oracle = new SingularValueDecomposition(new Matrix(m), { autoTranspose: true }).diagonal;
          expectClose([sv], [oracle.slice(0, sv.length)], 1e-10);
          expectClose(rowsOf(pr!), pseudoInverse(new Matrix(m)).to2DArray(), 1e-8);
        },
      ),
      { numRuns: 25 },
    );
    const [b, c] = [T.tensor('b', { shape: [3, 3], dtype: 'float64' }), T.vector('c', 'float64')];
    const g = await T.compile([b, c], [L.lstsq(b, c), L.matrixPower(b, 3), L.matrixPower(b, -2), L.matrixPower(b, 0)]);
    const m = [
      [2, 1, 0],
      [1, 3, 1],
      [0, 1, 4],
    ];
    const [x, cube, inverseSquare, zeroth] = g(f64(m), T.array([1, 2, 3], { dtype: 'float64' }));
    expectClose([Array.from(x!.data)], [mlSolve(new Matrix(m), Matrix.columnVector([1, 2, 3])).to1DArray()], 1e-10);
    expectClose(rowsOf(cube!), product(product(m, m), m));
    expectClose(rowsOf(inverseSquare!), inverse(new Matrix(product(m, m))).to2DArray());
    expectClose(rowsOf(zeroth!), identity(3));
  });

  it('gradients by finite differences: qr (both factors), eigh (values and vectors, distinct eigenvalues), svd (every factor, distinct singular values), pinv, lstsq, matrixPower', async () => {
    const tallData = { shape: [4, 3], data: [2, 0.5, -1, 0.3, 1.5, 0.2, -0.7, 0.4, 1.8, 0.9, -0.3, 0.6] };
    const sym = { shape: [3, 3], data: [4, 1, 0.5, 1, 2, 0.3, 0.5, 0.3, -1] };
    await checkGradient([tallData], ([a]) => L.qr(a!).q);
    await checkGradient([tallData], ([a]) => L.qr(a!).r);
    await checkGradient([sym], ([a]) => L.eigh(a!).values);
    await checkGradient([sym], ([a]) => L.eigh(a!).vectors);
    await checkGradient([tallData], ([a]) => L.svd(a!).s);
    await checkGradient([tallData], ([a]) => L.svd(a!).u);
    await checkGradient([tallData], ([a]) => L.svd(a!).vt);
    const wide = { shape: [3, 4], data: [1.2, -0.4, 0.7, 0.1, 0.3, 2.1, -0.5, 0.8, -0.9, 0.2, 1.6, -0.3] };
    await checkGradient([wide], ([a]) => L.svd(a!).u);
    await checkGradient([wide], ([a]) => L.svd(a!).vt);
    await checkGradient([tallData], ([a]) => L.pinv(a!));
    await checkGradient([tallData, { shape: [4], data: [1, -2, 0.5, 3] }], ([a, b]) => L.lstsq(a!, b!));
    await checkGradient([sym], ([a]) => L.matrixPower(T.reshape(a!, [3, 3]), -2));
  });
});

describe('T.linalg failures', () => {
  it('are values by default (NaN, ±Infinity, as NumPy and jax), and LinalgErrors naming the op and the batch index with check: true', async () => {
    const a = T.tensor3('a', 'float64');
    const matrices = T.array(
      [
        [
          [4, 1],
          [1, 3],
        ],
        [
          [1, 2],
          [2, 1],
        ],
      ],
      { dtype: 'float64' },
    );
    for (const mode of ['js', 'wasm'] as const) {
      const quiet = await T.compile([a], L.cholesky(a), { mode });
      const values = Array.from(quiet(matrices).data);
      expect(values.slice(0, 4).every(Number.isFinite)).toBe(true);
      expect(values.slice(4).some(Number.isNaN)).toBe(true);
      const loud = await T.compile([a], L.cholesky(a, { check: true }), { mode });
      expect(() => loud(matrices)).toThrow(T.LinalgError);
      expect(() => loud(matrices)).toThrow(
        /cholesky\(a \[\?, \?, \?\]\): not positive definite for the matrix at batch index 1/,
      );
      const singular = T.array(
        [
          [1, 2],
          [2, 4],
        ],
        { dtype: 'float64' },
      );
      const m = T.tensor('m', { shape: [2, 2], dtype: 'float64' });
      const inverse = await T.compile([m], L.inv(m, { check: true }), { mode });
      expect(() => inverse(singular)).toThrow(/inv\(m \[2, 2\]\): singular for the matrix at batch index 0/);
      const solved = await T.compile(
        [m],
        L.solve(m, T.constant(T.array([1, 1], { dtype: 'float64' })), { check: true }),
        { mode },
      );
      expect(() => solved(singular)).toThrow(T.LinalgError);
    }
  });
});
