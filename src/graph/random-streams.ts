/**
 * Theano's RandomStreams: symbolic random variables from one seed. Each variable draws from a stream
 * whose state lives outside any compiled function, as Theano's shared RandomState does: every function
 * that computes the variable continues its sequence, a fresh draw per call, and `seed()` restarts them all.
 */
import * as B from '../../compiler/ir/build.js';
import { asNode, constantNode, type TensorLike } from '../../compiler/ir/convert.js';
import { Node } from '../../compiler/ir/node.js';
import { captureOrigin } from '../../compiler/ir/origin.js';
import { floatx } from '../../runtime/config.js';
import { isDType, isFloat, type DType } from '../../runtime/dtype.js';
import { DTypeError, ShapeError } from '../../runtime/errors.js';
import { full, NDArray } from '../../runtime/ndarray.js';
import { slice } from '../../compiler/ir/indexing.js';
import { checkOptionNames } from '../../runtime/options.js';
import { nextSeed, RandomStream } from '../../runtime/random.js';

/** The shape of a draw: sizes (numbers, or `T.shape(x)`'s scalars), or a tensor whose shape to take. */
export type Size = readonly (number | Node)[] | Node;

export interface UniformOptions {
  size: Size;
  low?: TensorLike;
  high?: TensorLike;
  dtype?: DType;
}
export interface NormalOptions {
  size: Size;
  avg?: TensorLike;
  std?: TensorLike;
  dtype?: DType;
}
export interface BinomialOptions {
  size: Size;
  /** Trials per element (a small whole number). */
  n?: number;
  p?: TensorLike;
  dtype?: DType;
}
export interface ChoiceOptions {
  size: Size;
  /** Draw from 0..a-1, or from the values of a vector. */
  a: number | TensorLike;
  /** Probabilities of each choice (normalised here); uniform when omitted. */
  p?: TensorLike;
  /** Only drawing with replacement is supported. */
  replace?: boolean;
  dtype?: DType;
}

const OPTION_NAMES = {
  uniform: ['size', 'low', 'high', 'dtype'],
  normal: ['size', 'avg', 'std', 'dtype'],
  binomial: ['size', 'n', 'p', 'dtype'],
  choice: ['size', 'a', 'p', 'replace', 'dtype'],
} as const;

/** The k-th stream's seed under a master seed (distinct streams, reproducible from the one seed). */
const derivedSeed = (seed: number, k: number) => (Math.floor(seed) ^ Math.imul(k + 1, 0x9e3779b1)) >>> 0;

export class RandomStreams {
  private readonly streams: RandomStream[] = [];

  constructor(private masterSeed: number = nextSeed()) {
    if (!Number.isFinite(masterSeed)) throw new ShapeError(`RandomStreams: seed must be a number, got ${masterSeed}`);
  }

  /** Restarts every variable drawn from these streams from a new seed (Theano's `srng.seed`). */
  seed(seed: number): void {
    if (!Number.isFinite(seed)) throw new ShapeError(`RandomStreams.seed: seed must be a number, got ${seed}`);
    this.masterSeed = seed;
    this.streams.forEach((s, k) => s.reseed(derivedSeed(seed, k)));
  }

  /** Uniform in [low, high). */
  uniform(options: UniformOptions): Node {
    const { size, low = 0, high = 1 } = this.check('uniform', options);
    const dtype = floatDType('uniform', options.dtype);
    const u = this.draw(size, 'uniform', dtype);
    return B.add(B.mul(u, B.sub(high, low)), low);
  }

  /** Normal with mean `avg` and standard deviation `std` (Box–Muller over two uniform draws). */
  normal(options: NormalOptions): Node {
    const { size, avg = 0, std = 1 } = this.check('normal', options);
    const dtype = floatDType('normal', options.dtype);
    // 1 - u is in (0, 1]: its log is finite.
    const radius = B.sqrt(B.mul(B.log(B.sub(1, this.draw(size, 'normal', dtype))), -2));
    const angle = B.mul(this.draw(size, 'normal', dtype), 2 * Math.PI);
    return B.add(B.mul(B.mul(radius, B.cos(angle)), std), avg);
  }

  /** Successes in `n` trials of probability `p` (n = 1: Bernoulli masks, as dropout uses them); int32 unless given. */
  binomial(options: BinomialOptions): Node {
    const { size, n = 1, p = 0.5 } = this.check('binomial', options);
    const dtype = options.dtype ?? 'int32';
    if (!isDType(dtype)) throw new DTypeError(`binomial: unknown dtype '${String(dtype)}'`);
    if (!Number.isInteger(n) || n < 1 || n > 1024)
      throw new ShapeError(`binomial: n must be a whole number from 1 to 1024, got ${n}`);
    let successes: Node | undefined;
    for (let k = 0; k < n; k++) {
      const hit = B.cast(B.lt(this.draw(size, 'binomial', floatx()), p), 'int32');
      successes = successes ? B.add(successes, hit) : hit;
    }
    return B.cast(successes!, dtype);
  }

  /** Elements drawn with replacement from 0..a-1 (or from the vector `a`), with probabilities `p` if given. */
  choice(options: ChoiceOptions): Node {
    const { size, a, p, replace = true } = this.check('choice', options);
    if (replace !== true)
      throw new ShapeError('choice: drawing without replacement is not supported; use replace: true');
    const values = typeof a === 'number' ? undefined : asNode(a);
    const count = typeof a === 'number' ? a : values!.ndim === 1 ? values!.shape[0] : undefined;
    if (values && values.ndim !== 1)
      throw new ShapeError(`choice: a must be a number or a vector, got rank ${values.ndim}`);
    if (count === null || count === undefined || !Number.isInteger(count) || count < 1) {
      throw new ShapeError(`choice: the number of choices must be a positive whole number known now, got ${count}`);
    }
    const u = this.draw(size, 'choice', 'float64');
    let picked: Node;
    if (p === undefined) {
      // u < 1, so u·count truncates to 0..count-1.
      picked = B.cast(B.minimum(B.mul(u, count), count - 1), 'int32');
    } else {
      const probabilities = B.cast(asNode(p), 'float64');
      if (probabilities.ndim !== 1 || (probabilities.shape[0] !== null && probabilities.shape[0] !== count)) {
        throw new ShapeError(`choice: p must be a vector of ${count} probabilities, got [${probabilities.shape}]`);
      }
      // Cumulative probabilities by one product with an upper-triangular matrix of ones; the pick is how
      // many of the first count - 1 boundaries the uniform draw has passed.
      const upper = constantNode(
        new NDArray(
          Float64Array.from({ length: count * count }, (_, i) => (Math.floor(i / count) <= i % count ? 1 : 0)),
          [count, count],
          'float64',
        ),
      );
      const cdf = B.div(B.dot(probabilities, upper), B.sum(probabilities));
      const boundaries = slice(cdf, [0], [count - 1]);
      picked = B.cast(B.sum(B.ge(B.expandDims(u, -1), boundaries), -1), 'int32');
    }
    const result = values ? B.gather(values, picked) : picked;
    return options.dtype === undefined ? result : B.cast(result, options.dtype);
  }

  private check<O extends object>(kind: keyof typeof OPTION_NAMES, options: O): O {
    checkOptionNames(`RandomStreams.${kind}`, options, OPTION_NAMES[kind]);
    if (!('size' in options)) throw new ShapeError(`RandomStreams.${kind}: a size is required (e.g. { size: [2, 3] })`);
    return options;
  }

  /** Uniform numbers in [0, 1) of `dtype`, shaped by `size`, from a new stream of these streams. */
  private draw(size: Size, kind: string, dtype: DType): Node {
    const stream = new RandomStream(derivedSeed(this.masterSeed, this.streams.length));
    this.streams.push(stream);
    const like = shapeSource(size, `RandomStreams.${kind}`, dtype);
    const u = Node.make('randomUniformLike', [like], { seed: stream.uid, stream }, captureOrigin());
    return B.cast(u, dtype);
  }
}

function floatDType(kind: string, dtype: DType | undefined): DType {
  const d = dtype ?? floatx();
  if (!isDType(d) || !isFloat(d))
    throw new DTypeError(`RandomStreams.${kind}: dtype must be float32 or float64, got '${String(d)}'`);
  return d;
}

/**
 * A tensor with the draw's shape: the tensor given, the tensor whose `T.shape` the sizes are, or a
 * constant when every size is a number.
 */
function shapeSource(size: Size, where: string, dtype: DType): Node {
  if (size instanceof Node) return size;
  if (!Array.isArray(size))
    throw new ShapeError(`${where}: size must be a list of sizes or a tensor, got ${String(size)}`);
  const known = size.map((d) =>
    typeof d === 'number' ? d : d.op === 'constant' && d.ndim === 0 ? staticValue(d) : undefined,
  );
  if (known.every((d): d is number => d !== undefined)) {
    if (known.some((d) => !Number.isInteger(d) || d < 0))
      throw new ShapeError(`${where}: sizes must be non-negative whole numbers, got [${known}]`);
    return constantNode(full(known, 0, dtype));
  }
  // Sizes read at call time: they must all be the sizes of one tensor, axis by axis (`T.shape(x)`).
  const sources = new Set(size.flatMap((d) => (d instanceof Node && d.op === 'dimOf' ? [d.inputs[0]!] : [])));
  const [source] = sources;
  const matches =
    sources.size === 1 &&
    source!.ndim === size.length &&
    size.every((d, i) =>
      d instanceof Node && d.op === 'dimOf' ? (d.args as { axis: number }).axis === i : known[i] === source!.shape[i],
    );
  if (!matches) {
    throw new ShapeError(
      `${where}: sizes known only at call time must be one tensor's shape (size: T.shape(x)), or pass that tensor as size`,
    );
  }
  return source!;
}

const staticValue = (n: Node): number => (n.args as { value: { data: ArrayLike<number> } }).value.data[0]!;
