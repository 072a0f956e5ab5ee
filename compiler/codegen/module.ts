import { GeneratorNotLoadedError } from '../../runtime/errors.js';
import { kernelExports, tailLength, type KernelFunction, type KernelSpec } from '../../runtime/kernel-abi.js';
import { loadedBinaryen } from './binaryen.js';
import { emitStridedCopy } from './copy.js';
import { emitElementwise } from './elementwise.js';
import { FunctionEmitter } from './emitter.js';
import { emitMatmul } from './matmul.js';
import { emitAvgPool, emitAvgPoolGrad, emitMaxPool, emitMaxPoolGrad } from './pool.js';
import { emitIm2col, emitTranspose } from './im2col.js';
import { emitRun } from './run.js';
import { emitGather, emitGatherGrad, emitOneHot, emitRandomUniform, emitToInt32 } from './indexing.js';
import { emitArgReduce, emitReduce, emitSoftmax } from './reduce.js';
import { emitCumulative } from './cumulative.js';
import { emitArgsort, emitTakeAlong, emitTopk } from './topk.js';
import { emitCholesky, emitHouseholderQr, emitLuSolve, emitTriangularSolve } from './dense.js';

/** The pooling kernels: their kernel function (forward or gradient parameters) and emitter. */
const POOLING = {
  maxPool2d: ['pool', emitMaxPool],
  avgPool2d: ['pool', emitAvgPool],
  maxPool2dGrad: ['poolGrad', emitMaxPoolGrad],
  avgPool2dGrad: ['poolGrad', emitAvgPoolGrad],
} as const;

/** The code generator as the runtime takes it: a program's kernels to module bytes (shared memory, for threads). */
export const generateModule = (kernels: readonly KernelSpec[], relaxedSimd: boolean): Uint8Array =>
  buildModule(kernels, { relaxedSimd }).bytes;

/** wasm32's limit: 65536 pages of 64 KiB (4 GiB). The runtime's memory must declare the same maximum. */
export const MAX_PAGES = 65536;

/** A compiled wasm module: its bytes and the export name of each kernel, in the order given. */
export interface WasmModule {
  readonly bytes: Uint8Array;
  readonly exports: readonly string[];
}

/**
 * Builds one wasm module holding every kernel of a compiled function. Memory is imported, so the
 * runtime owns it (and can share it between threads later). Validated, not optimized: binaryen's
 * optimizer costs compile time without making these kernels faster (V8 allocates registers itself).
 */
export function buildModule(
  kernels: readonly KernelSpec[],
  options: { relaxedSimd?: boolean; sharedMemory?: boolean } = {},
): WasmModule {
  const b = loadedBinaryen();
  if (!b)
    throw new GeneratorNotLoadedError(
      'compiling to wasm needs the code generator loaded: await T.ready() (or keras.ready()) first, or use the async T.compile',
    );
  const m = new b.Module();
  try {
    const relaxed = options.relaxedSimd ? b.Features.RelaxedSIMD : 0;
    m.setFeatures(
      b.Features.MVP |
        b.Features.SIMD128 |
        b.Features.BulkMemory |
        b.Features.BulkMemoryOpt |
        b.Features.NontrappingFPToInt |
        b.Features.SignExt |
        b.Features.Atomics |
        relaxed,
    );
    // Shared, so worker threads run kernels on the same memory (and growing it never detaches views);
    // an exported module runs on one thread, in pages that need no cross-origin isolation.
    m.setMemory(1, MAX_PAGES, null, [], options.sharedMemory !== false, false, '0');
    m.addMemoryImport('0', 'env', 'memory');
    const exports = kernels.map((spec, i) => {
      const name = `k${i}`;
      const emit = (fn: KernelFunction, body: (e: FunctionEmitter) => void, tail = 0) =>
        body(FunctionEmitter.forKernel(b, m, fn, tail));
      // The batched transpose companion (kernel-abi's COMPANIONS and reduce companions say which kinds have one).
      const emitTransposeCompanion = (dtype: 'float32' | 'float64' = 'float32') =>
        emit('transpose', (e) => emitTranspose(e, `${name}_transpose`, dtype === 'float64'));
      switch (spec.kind) {
        case 'conv2d':
        case 'conv2dGradFilter':
        case 'conv2dGradInput': {
          // A convolution and its gradients: the matmul kernel, the im2col walk (col2im for the input's
          // gradient) and the channels-first transpose, in the convolution's float type.
          const dtype = spec.dtype ?? 'float32';
          const epilogue = spec.kind === 'conv2d' ? spec.epilogue : undefined;
          emit('matmul', (e) => emitMatmul(e, name, options.relaxedSimd, epilogue, dtype), tailLength(spec));
          const walk = spec.kind === 'conv2dGradInput' ? 'col2im' : 'im2col';
          emit('im2col', (e) => emitIm2col(e, `${name}_${walk}`, walk, dtype === 'float64'));
          emitTransposeCompanion(dtype);
          if (spec.kind === 'conv2d')
            emit(
              'convDirect',
              (e) =>
                emitMatmul(
                  e,
                  `${name}_direct`,
                  options.relaxedSimd,
                  epilogue,
                  dtype,
                  spec.pool ? 'pooledConv' : 'conv',
                ),
              tailLength(spec),
            );
          break;
        }
        case 'matmul':
          emit('matmul', (e) => emitMatmul(e, name, options.relaxedSimd, spec.epilogue, spec.dtype), tailLength(spec));
          break;
        case 'maxPool2d':
        case 'avgPool2d':
        case 'maxPool2dGrad':
        case 'avgPool2dGrad': {
          const [fn, emitPool] = POOLING[spec.kind];
          emit(fn, (e) => emitPool(e, name, spec.dtype === 'float64'));
          emitTransposeCompanion(spec.dtype);
          break;
        }
        case 'elementwise':
          emit('elementwise', (e) => emitElementwise(e, spec, name, options.relaxedSimd), tailLength(spec));
          break;
        case 'reduce': {
          const map = spec.map;
          emit('reduce', (e) => emitReduce(e, spec.op, name, !!options.relaxedSimd, spec.dtype));
          if (map)
            emit('elementwise', (e) => emitElementwise(e, map, `${name}_map`, options.relaxedSimd), tailLength(map));
          // logsumexp reduces whole rows: axes with kept ones after them are moved last first.
          if (spec.op === 'logsumexp') emitTransposeCompanion(spec.dtype);
          break;
        }
        case 'argReduce':
          emit('argReduce', (e) => emitArgReduce(e, spec.op, name, spec.dtype === 'float64'));
          break;
        case 'stridedCopy':
          emit('stridedCopy', (e) => emitStridedCopy(e, name));
          break;
        case 'gather':
          emit('gather', (e) => emitGather(e, name));
          break;
        case 'gatherGrad':
          emit('gatherGrad', (e) => emitGatherGrad(e, name, spec.dtype === 'float64'));
          break;
        case 'oneHot':
          emit('oneHot', (e) => emitOneHot(e, name, spec.dtype));
          break;
        case 'toInt32':
          emit('toInt32', (e) => emitToInt32(e, name, spec.dtype === 'float64'));
          break;
        case 'randomUniform':
          emit('randomUniform', (e) => emitRandomUniform(e, name, spec.dtype === 'float64'));
          break;
        case 'cholesky':
          emit('cholesky', (e) => emitCholesky(e, name, spec.dtype === 'float64'));
          break;
        case 'luSolve':
          emit('luSolve', (e) => emitLuSolve(e, name, spec.dtype === 'float64'));
          break;
        case 'householderQr':
          emit('householderQr', (e) => emitHouseholderQr(e, name, spec.dtype === 'float64'));
          break;
        case 'triangularSolve':
          emit('triangularSolve', (e) => emitTriangularSolve(e, name, spec.dtype === 'float64'));
          break;
        case 'takeAlong':
          emit('takeAlong', (e) => emitTakeAlong(e, name));
          break;
        case 'argsort':
          emit('argsort', (e) => emitArgsort(e, name, spec.dtype === 'float64'));
          break;
        case 'topk':
          emit('topk', (e) => emitTopk(e, name, spec.dtype === 'float64'));
          break;
        case 'cumulative':
          emit('cumulative', (e) => emitCumulative(e, spec.op, name, spec.dtype === 'float64'));
          break;
        case 'softmax':
          emit('softmax', (e) => emitSoftmax(e, spec.log, name, !!options.relaxedSimd, spec.dtype));
          // Along an axis other than the last: that axis moved last and back around the kernel.
          emitTransposeCompanion(spec.dtype);
          break;
        default:
          spec satisfies never;
      }
      return name;
    });
    // The entry point dispatches to every exported function, in the runtime's export order.
    emitRun(b, m, kernelExports(kernels));
    if (!m.validate()) throw new Error('internal: generated wasm does not validate');
    return { bytes: m.emitBinary(), exports };
  } finally {
    m.dispose();
  }
}
