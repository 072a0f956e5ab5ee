/**
 * The spellings Theano users type: typed variable constructors (`iscalar`, `fmatrix`…), `neq` and
 * `T.nnet`'s functions, each the tsano op it names (`onesLike` and `zerosLike` are ops of their own).
 */
import * as B from '../../compiler/ir/build.js';
import type { TensorLike } from '../../compiler/ir/convert.js';
import type { DType } from '../../runtime/dtype.js';
import { matrix, scalar, tensor3, tensor4, vector } from './variables.js';

/** Theano's dtype prefixes: i int32 (tsano has no int64), f float32, d float64, b bool. */
const typed =
  <R>(make: (name?: string, dtype?: DType) => R, dtype: DType) =>
  (name = '') =>
    make(name, dtype);

export const iscalar = typed(scalar, 'int32');
export const ivector = typed(vector, 'int32');
export const imatrix = typed(matrix, 'int32');
export const itensor3 = typed(tensor3, 'int32');
export const itensor4 = typed(tensor4, 'int32');
export const fscalar = typed(scalar, 'float32');
export const fvector = typed(vector, 'float32');
export const fmatrix = typed(matrix, 'float32');
export const ftensor3 = typed(tensor3, 'float32');
export const ftensor4 = typed(tensor4, 'float32');
export const dscalar = typed(scalar, 'float64');
export const dvector = typed(vector, 'float64');
export const dmatrix = typed(matrix, 'float64');
export const dtensor3 = typed(tensor3, 'float64');
export const dtensor4 = typed(tensor4, 'float64');
export const bvector = typed(vector, 'bool');
export const bmatrix = typed(matrix, 'bool');

/** Theano's plural constructors: `T.dscalars('x', 'y')` is `[T.dscalar('x'), T.dscalar('y')]`. */
const plural =
  <R>(one: (name?: string) => R) =>
  (...names: string[]): R[] =>
    names.map((n) => one(n));
export const iscalars = plural(iscalar);
export const ivectors = plural(ivector);
export const imatrices = plural(imatrix);
export const fscalars = plural(fscalar);
export const fvectors = plural(fvector);
export const fmatrices = plural(fmatrix);
export const dscalars = plural(dscalar);
export const dvectors = plural(dvector);
export const dmatrices = plural(dmatrix);
export const scalars = plural((name?: string) => scalar(name));
export const vectors = plural((name?: string) => vector(name));
export const matrices = plural((name?: string) => matrix(name));

/** Theano's spelling of `ne`. */
export const neq = B.ne;

/** theano.tensor.nnet: the neural-network functions under their Theano names. */
export const nnet = {
  sigmoid: B.sigmoid,
  softplus: B.softplus,
  relu: B.relu,
  softmax: (x: TensorLike) => B.softmax(x, -1),
  logSoftmax: (x: TensorLike) => B.logSoftmax(x, -1),
  /** −Σ target·log(coding) over the last axis (Theano's categorical_crossentropy; the optimizer stabilizes a softmax coding). */
  categoricalCrossentropy: (coding: TensorLike, target: TensorLike) => B.neg(B.sum(B.mul(target, B.log(coding)), -1)),
  /** −(target·log(output) + (1 − target)·log(1 − output)), elementwise (Theano's binary_crossentropy). */
  binaryCrossentropy: (output: TensorLike, target: TensorLike) =>
    B.neg(B.add(B.mul(target, B.log(output)), B.mul(B.sub(1, target), B.log(B.sub(1, output))))),
  conv2d: B.conv2d,
};

/** Theano's `T.switch(cond, ift, iff)`: the elementwise choice (`where`), spelled as Theano spells it. */
const theanoSwitch = B.where;
export { theanoSwitch as switch };

/** Theano's (and NumPy's) names of the inverse trigonometric and hyperbolic functions, and of `//`. */
export const arcsin = B.asin;
export const arccos = B.acos;
export const arctan = B.atan;
export const arctan2 = B.atan2;
export const arcsinh = B.asinh;
export const arccosh = B.acosh;
export const arctanh = B.atanh;
export const intDiv = B.floorDiv;
