import * as T from '../index.js';
import { ConfigError } from '../../runtime/errors.js';
import { floatx } from '../../runtime/config.js';

export type InitializerName =
  | 'glorot_uniform'
  | 'glorot_normal'
  | 'he_normal'
  | 'he_uniform'
  | 'zeros'
  | 'ones'
  | 'random_normal'
  | 'random_uniform'
  | 'orthogonal'
  | 'variance_scaling'
  | 'lecun_normal'
  | 'lecun_uniform';

/** Fan-in and fan-out of a weight shape, as Keras computes them (receptive field times channels for kernels). */
function fans(shape: readonly number[]): [number, number] {
  if (shape.length < 2) return [shape[0] ?? 1, shape[0] ?? 1];
  const receptive = shape.slice(0, -2).reduce((a, b) => a * b, 1);
  return [shape[shape.length - 2]! * receptive, shape[shape.length - 1]! * receptive];
}

/** Keras's snake_case name of an initializer TF.js spells in camelCase (its `leCunNormal` is Keras's `lecun_normal`). */
const snakeCase = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`).replace(/^le_cun_/, 'lecun_');

/** A weight array for `name` (snake_case or camelCase), seeded for reproducible models. */
export function initialize(name: string, shape: readonly number[], seed: number, where: string): T.NDArray {
  const [fanIn, fanOut] = fans(shape);
  const dtype = floatx();
  switch (snakeCase(name) as InitializerName) {
    case 'glorot_uniform': {
      const limit = Math.sqrt(6 / (fanIn + fanOut));
      return T.randomUniform(shape, { seed, minval: -limit, maxval: limit, dtype });
    }
    case 'glorot_normal':
      return truncatedNormal(shape, Math.sqrt(2 / (fanIn + fanOut)), seed);
    case 'he_normal':
      return truncatedNormal(shape, Math.sqrt(2 / fanIn), seed);
    case 'he_uniform': {
      const limit = Math.sqrt(6 / fanIn);
      return T.randomUniform(shape, { seed, minval: -limit, maxval: limit, dtype });
    }
    case 'zeros':
      return T.zeros(shape, dtype);
    case 'ones':
      return T.ones(shape, dtype);
    case 'random_normal':
      return T.randomNormal(shape, { seed, stddev: 0.05, dtype });
    case 'random_uniform':
      return T.randomUniform(shape, { seed, minval: -0.05, maxval: 0.05, dtype });
    case 'orthogonal':
      return orthogonal(shape, seed);
    case 'variance_scaling': // its defaults: scale 1, fan in, truncated normal
    case 'lecun_normal':
      return truncatedNormal(shape, Math.sqrt(1 / fanIn), seed);
    case 'lecun_uniform': {
      const limit = Math.sqrt(3 / fanIn);
      return T.randomUniform(shape, { seed, minval: -limit, maxval: limit, dtype });
    }
    default:
      throw new ConfigError(`${where}: unknown initializer '${name}'`);
  }
}

/** Keras's truncated normal: redraw beyond two standard deviations (stddev corrected by 0.8796…). */
function truncatedNormal(shape: readonly number[], stddev: number, seed: number): T.NDArray {
  const base = T.randomNormal(shape, { seed, dtype: 'float64' });
  const extra = T.randomNormal([base.size * 4 + 16], { seed: seed + 1, dtype: 'float64' });
  let k = 0;
  const s = stddev / 0.87962566103423978;
  const out = new Float64Array(base.size);
  base.data.forEach((v, i) => {
    let z = v;
    while (Math.abs(z) > 2 && k < extra.size) z = extra.data[k++]!;
    out[i] = Math.max(-2, Math.min(2, z)) * s;
  });
  return T.array(out, { shape, dtype: floatx() });
}

/**
 * Keras's orthogonal initializer (gain 1): the Q of a QR factorisation of a normal matrix, signs fixed by
 * R's diagonal, for the shape flattened to [rows, last axis] (transposed when there are fewer rows).
 */
function orthogonal(shape: readonly number[], seed: number): T.NDArray {
  const cols = shape[shape.length - 1] ?? 1;
  const rows = shape.reduce((a, b) => a * b, 1) / cols;
  const [m, n] = rows < cols ? [cols, rows] : [rows, cols];
  const a = T.randomNormal([m, n], { seed, dtype: 'float64' }).data as Float64Array;
  // Modified Gram-Schmidt on the n columns of the m x n matrix a (row-major): q holds the columns.
  const q = Float64Array.from(a);
  for (let j = 0; j < n; j++) {
    for (let k = 0; k < j; k++) {
      let dotted = 0;
      for (let i = 0; i < m; i++) dotted += q[i * n + k]! * q[i * n + j]!;
      for (let i = 0; i < m; i++) q[i * n + j]! -= dotted * q[i * n + k]!;
    }
    let norm = 0;
    for (let i = 0; i < m; i++) norm += q[i * n + j]! ** 2;
    // r_jj is this norm, positive: the sign correction Keras makes by diag(R) is already in place.
    norm = Math.sqrt(norm) || 1;
    for (let i = 0; i < m; i++) q[i * n + j]! /= norm;
  }
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++)
    for (let j = 0; j < cols; j++) out[i * cols + j] = rows < cols ? q[j * n + i]! : q[i * n + j]!;
  return T.array(out, { shape, dtype: floatx() });
}
