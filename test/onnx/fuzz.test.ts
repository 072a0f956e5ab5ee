/**
 * Damaged ONNX files end in an OnnxError (or, where the damage leaves a valid model, in a model),
 * never in another exception, a crash or a hang.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import * as T from 'tsano';
import { importOnnx, OnnxError } from 'tsano/onnx';
import { decodeModel, encodeModel, type ModelProto } from '../../src/onnx/schema.js';

beforeAll(() => T.ready());

const FIXTURES = ['mlp', 'cnn'].map(
  (name) => new Uint8Array(readFileSync(path.resolve('test/fixtures/onnx', name, 'model.onnx'))),
);
const INPUT_SHAPES = [
  [2, 8],
  [2, 3, 12, 12],
];

/** Imports `bytes` and predicts once; an OnnxError (or a TsanoError from predict's own checks) is the only way out. */
async function importAndRun(bytes: Uint8Array, shape: number[]): Promise<'ok' | 'refused'> {
  const started = performance.now();
  try {
    const model = await importOnnx(bytes);
    if (model.inputs.length === 1 && model.inputs[0]!.dtype === 'float32') {
      try {
        await model.predict(T.zeros(shape));
      } catch (e) {
        if (!(e instanceof T.TsanoError)) throw e;
      }
    }
    return 'ok';
  } catch (e) {
    if (!(e instanceof OnnxError)) throw e;
    return 'refused';
  } finally {
    expect(performance.now() - started).toBeLessThan(5000);
  }
}

/** The fixture decoded, changed by `damage`, and encoded again. */
function damaged(index: number, damage: (m: ModelProto) => void): Uint8Array {
  const model = decodeModel(FIXTURES[index]!, 'fixture');
  damage(model);
  return encodeModel(model);
}

describe('importOnnx on damaged files', () => {
  it('truncated and bit-flipped files (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 1 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 8 }),
        fc.option(fc.nat(), { nil: undefined }),
        async (which, flips, cut) => {
          const bytes = FIXTURES[which]!.slice();
          for (const f of flips) bytes[f % bytes.length]! ^= 1 << (f % 8);
          const input = cut === undefined ? bytes : bytes.subarray(0, cut % bytes.length);
          await importAndRun(input, INPUT_SHAPES[which]!);
        },
      ),
      { numRuns: 300, seed: 42 },
    );
  });

  const CASES: Record<string, [number, (m: ModelProto) => void, RegExp]> = {
    'an absurd initializer size': [
      0,
      (m) => (m.graph!.initializer[0]!.dims = [2 ** 40, 8]),
      /initializer 'fc1.weight': field 'dims' holds 1099511627776, not a size/,
    ],
    'raw data shorter than its dims': [
      0,
      (m) => (m.graph!.initializer[1]!.raw_data = m.graph!.initializer[1]!.raw_data.subarray(0, 10)),
      /initializer 'fc1.bias': field 'raw_data' has 10 bytes, \[16\] needs 64/,
    ],
    'an element type tsano has no dtype for': [
      0,
      (m) => (m.graph!.initializer[0]!.data_type = 8),
      /initializer 'fc1.weight': element type string is not supported/,
    ],
    'a cycle between two nodes': [
      0,
      (m) => {
        const [first, second] = m.graph!.node;
        first!.input[0] = second!.output[0]!;
      },
      /operand '.*' is not defined before it is used \(the graph is not in topological order, or has a cycle\)/,
    ],
    'an attribute of the wrong type': [
      1,
      (m) => {
        const attr = m.graph!.node[0]!.attribute.find((a) => a.name === 'strides')!;
        attr.type = 1;
      },
      /node '\/conv1\/Conv' \(Conv, opset 17\): attribute 'strides' has type 1, expected 7/,
    ],
    'an op type tsano does not read': [
      0,
      (m) => (m.graph!.node[1]!.op_type = 'NonMaxSuppression'),
      /node '.*' \(NonMaxSuppression, opset 17\): op type 'NonMaxSuppression' is not supported/,
    ],
    'a custom domain': [
      0,
      (m) => (m.graph!.node[1]!.domain = 'com.microsoft'),
      /operators of domain 'com\.microsoft' are not supported/,
    ],
    'an opset outside 13 to 21': [
      0,
      (m) => (m.opset_import[0]!.version = 9),
      /opset 9 is not supported \(tsano reads opsets 13 to 21\)/,
    ],
    'a Gemm whose weight has the wrong shape': [
      0,
      (m) => {
        const w = m.graph!.initializer[0]!;
        w.dims = [16, 4];
        w.raw_data = w.raw_data.subarray(0, 256);
      },
      /node '.*' \(Gemm, opset 17\): .*matmul/,
    ],
    'an output no node computes': [
      0,
      (m) => (m.graph!.output[0]!.name = 'nowhere'),
      /output 'nowhere' is not computed by any node/,
    ],
  };
  for (const [name, [which, damage, message]] of Object.entries(CASES)) {
    it(`${name}: an OnnxError that says where`, async () => {
      const bytes = damaged(which, damage);
      await expect(importOnnx(bytes)).rejects.toThrow(OnnxError);
      await expect(importOnnx(bytes)).rejects.toThrow(message);
    });
  }
});
