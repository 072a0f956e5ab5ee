/**
 * tsano: Theano-style symbolic graphs for TypeScript.
 * `import * as T from 'tsano'`: build expressions, differentiate them, compile them to functions.
 */
import './graph/methods.js';
import { configInForce } from './keras/config.js';

// keras.json configures tsano as it configures Keras, whichever namespace is imported first.
configInForce();

export * from '../compiler/ir/build.js';
export * from '../compiler/ir/indexing.js';
export * from '../compiler/ir/array-ops.js';
export * from '../compiler/ir/contractions.js';
export { cumsum, cumprod, type CumulativeOptions } from '../compiler/ir/scans.js';
export { argsort, sort, topk, takeAlongAxis, type SortOptions } from '../compiler/ir/sorting.js';
export { linalg, matrixInverse, type SolveTriangularOptions } from '../compiler/ir/linalg.js';
export { Node } from '../compiler/ir/node.js';
export type { Node as Variable } from '../compiler/ir/node.js';
export type { TensorLike } from '../compiler/ir/convert.js';
export type { Dim, Shape, TensorType } from '../compiler/ir/type.js';
export type { Origin } from '../compiler/ir/origin.js';
export { grad, Lop, Rop, type GradOptions } from './graph/grad.js';
export { jacobian, hessian } from './graph/jacobian.js';
export { tensor, scalar, vector, matrix, tensor3, tensor4, constant, shared } from './graph/variables.js';
export type { SharedVariable, TensorOptions } from './graph/variables.js';
export { ready, tierPolicy } from './graph/function.js';
export {
  compile,
  compileSync,
  inputWithDefault as In,
  type CopyOptions,
  type TheanoFunction,
} from './graph/theano-function.js';
export {
  scan,
  until,
  Until,
  type ScanOptions,
  type ScanSequence,
  type ScanOutputInfo,
  type ScanBodyResult,
} from './graph/scan.js';
export { fromFunction, FromFunctionError } from './graph/from-function.js';
export { ifelse } from './graph/ifelse.js';
export { jit, jitWith } from './graph/jit.js';
export * from './graph/theano.js';
export { setSubtensor, incSubtensor } from './graph/subtensor.js';
export type { CompileOptions, CompiledFunction, CompiledGraph, CompileStats, Mode, Tier } from './graph/function.js';
export type { OptimizerLevel, PhaseReport } from '../compiler/rewrite/pipeline.js';
export { RULE_NAMES } from '../compiler/rewrite/pipeline.js';
export { debugprint, pp, type DebugprintOptions } from './graph/debugprint.js';
export { printGraph, type PrintGraphOptions } from './graph/print-graph.js';
export { NDArray, full, randomNormal, randomUniform } from '../runtime/ndarray.js';
import { toNDArray, type ArrayOptions, type ArrayValue as Values } from '../runtime/ndarray.js';
import type { DType as ElementType } from '../runtime/dtype.js';
/**
 * An array from values: `T.array(values, { shape, dtype })`, or TensorFlow.js's positional form
 * `T.array(values, [2, 3], 'int32')`; a shape that does not fit the values is an error.
 */
export function array(value: Values, shapeOrOptions: ArrayOptions | readonly number[] = {}, dtype?: ElementType) {
  const options = Array.isArray(shapeOrOptions)
    ? { shape: shapeOrOptions as readonly number[], ...(dtype ? { dtype } : {}) }
    : (shapeOrOptions as ArrayOptions);
  return toNDArray(value, options);
}
export type { ArrayValue, NestedArray } from '../runtime/ndarray.js';
export type { DType } from '../runtime/dtype.js';
export { floatx, epsilon, imageDataFormat } from '../runtime/config.js';
export * from '../runtime/errors.js';
export type { Profile, StepProfile } from '../runtime/profile.js';
import { formatProfile, type Profile } from '../runtime/profile.js';
/** Prints a profile (from `f.profile(...)`) as a table, slowest steps first; returns the text. */
export function printProfile(
  profile: Profile,
  options: { limit?: number; print?: (text: string) => void } = {},
): string {
  const text = formatProfile(profile, options.limit);
  (options.print ?? console.log)(text);
  return text;
}

import { full } from '../runtime/ndarray.js';
import type { DType } from '../runtime/dtype.js';
/** An array of zeros (dtype defaults to floatx). */
export const zeros = (shape: readonly number[], dtype?: DType) => full(shape, 0, dtype, 'zeros');
/** An array of ones (dtype defaults to floatx). */
export const ones = (shape: readonly number[], dtype?: DType) => full(shape, 1, dtype, 'ones');
export {
  RandomStreams,
  type Size as RandomSize,
  type UniformOptions,
  type NormalOptions,
  type BinomialOptions,
  type ChoiceOptions,
} from './graph/random-streams.js';
