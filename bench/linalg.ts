/**
 * Dense linear algebra (the linear-algebra issue's rows): tsano's cholesky and solve of 512×512 in
 * float64 and float32 against ml-matrix, a maintained pure-JavaScript library (float64 only), in the
 * same process; medians of 7 calls.
 */
import { CholeskyDecomposition, Matrix, QrDecomposition, SingularValueDecomposition, solve } from 'ml-matrix';
import * as T from '../src/index.js';
import { tfjsWithWasm } from './peers.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
function time(run: () => unknown): number {
  run();
  return median(
    Array.from({ length: 7 }, () => {
      const t = performance.now();
      run();
      return performance.now() - t;
    }),
  );
}

export async function linalgBench(): Promise<void> {
  const n = 512;
  const m = Matrix.rand(n, n, { random: mulberry(7) });
  const spd = m.mmul(m.transpose()).add(Matrix.eye(n).mul(n));
  const rhs = Matrix.columnVector(Array.from({ length: n }, (_, i) => Math.sin(i)));
  const ml = { cholesky: time(() => new CholeskyDecomposition(spd)), solve: time(() => solve(spd, rhs)) };
  const rows: string[] = [];
  for (const dtype of ['float64', 'float32'] as const) {
    const a = T.tensor('a', { shape: [n, n], dtype });
    const b = T.tensor('b', { shape: [n, 1], dtype });
    const [chol, sol] = [await T.compile([a], T.linalg.cholesky(a)), await T.compile([a, b], T.linalg.solve(a, b))];
    const [A, B] = [T.array(spd.to2DArray(), { dtype }), T.array(rhs.to2DArray(), { dtype })];
    const [tc, ts] = [time(() => chol(A)), time(() => sol(A, B))];
    rows.push(
      `cholesky 512, ${dtype} | ${tc.toFixed(1)} ms | ${ml.cholesky.toFixed(1)} ms | ${(tc / ml.cholesky).toFixed(2)} | ${((n ** 3 / 3 / tc) * 1e-6).toFixed(2)} GFLOPS`,
      `solve 512, ${dtype} | ${ts.toFixed(1)} ms | ${ml.solve.toFixed(1)} ms | ${(ts / ml.solve).toFixed(2)} | ${(((2 * n ** 3) / 3 / ts) * 1e-6).toFixed(2)} GFLOPS`,
    );
  }
  // QR of 512×256 (TF.js has tf.linalg.qr) and the SVD of 256×256, float64 against ml-matrix, float32 against TF.js.
  const tall = Matrix.rand(512, 256, { random: mulberry(8) });
  const square = Matrix.rand(256, 256, { random: mulberry(9) });
  const x64 = T.tensor('x', { shape: [512, 256], dtype: 'float64' });
  const qr64 = await T.compile([x64], T.linalg.qr(x64).r);
  const s64 = T.tensor('s', { shape: [256, 256], dtype: 'float64' });
  const svd64 = await T.compile([s64], T.linalg.svd(s64).s);
  const [tq, mq] = [
    time(() => qr64(T.array(tall.to2DArray(), { dtype: 'float64' }))),
    time(() => new QrDecomposition(tall)),
  ];
  const [ts, ms] = [
    time(() => svd64(T.array(square.to2DArray(), { dtype: 'float64' }))),
    time(() => new SingularValueDecomposition(square)),
  ];
  rows.push(`qr 512×256, float64 | ${tq.toFixed(1)} ms | ${mq.toFixed(1)} ms | ${(tq / mq).toFixed(2)} |`);
  rows.push(`svd 256×256, float64 | ${ts.toFixed(1)} ms | ${ms.toFixed(1)} ms | ${(ts / ms).toFixed(2)} |`);
  const tfQr = await tfjsQr(tall);
  if (tfQr !== undefined) {
    const x32 = T.tensor('x', { shape: [512, 256] });
    const qr32 = await T.compile([x32], [T.linalg.qr(x32).q, T.linalg.qr(x32).r]);
    const t32 = time(() => qr32(T.array(tall.to2DArray())));
    rows.push(
      `qr 512×256, float32, against TF.js wasm's tf.linalg.qr | ${t32.toFixed(1)} ms | ${tfQr.toFixed(1)} ms (TF.js) | ${(t32 / tfQr).toFixed(2)} |`,
    );
  }
  console.log(['linear algebra | tsano | ml-matrix 6.15 (float64) | ratio | tsano', ...rows].join('\n'));
}

/** TF.js wasm's QR (Q and R read back) of the same matrix, or undefined where TF.js does not load. */
async function tfjsQr(a: Matrix): Promise<number | undefined> {
  try {
    const tf = await tfjsWithWasm();
    const x = tf.tensor2d(a.to2DArray());
    return time(() => {
      const [q, r] = tf.linalg.qr(x);
      q!.dataSync();
      r!.dataSync();
      q!.dispose();
      r!.dispose();
    });
  } catch {
    return undefined;
  }
}

/** A seeded generator, so every run factors the same matrix. */
function mulberry(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
