/**
 * Every op type the importer names in the issue, each in a small model written here and run by
 * ONNX Runtime (the oracle) and by importOnnx on the same random inputs.
 */
import ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import * as T from 'tsano';
import { importOnnx } from 'tsano/onnx';
import { encodeModel, ONNX_DTYPE } from '../../src/onnx/schema.js';
import { int64Tensor, tensorToProto } from '../../src/onnx/tensors.js';

beforeAll(() => T.ready());

type Attr = number | number[] | string | { floats: number[] } | { float: number };
interface Case {
  /** The node's op type, attributes, and operands: graph inputs (shapes) or constants (int64 lists or float arrays). */
  readonly op: string;
  readonly attrs?: Record<string, Attr>;
  readonly inputs: readonly (readonly number[] | { int64: readonly number[] } | { floats: T.NDArray } | '')[];
  readonly outputs?: number;
  readonly opset?: number;
  /** Input values drawn positive (for Sqrt, Pow). */
  readonly positive?: boolean;
}

const encoder = new TextEncoder();
function attribute(name: string, v: Attr): object {
  if (typeof v === 'string') return { name, type: 3, s: encoder.encode(v) };
  if (Array.isArray(v)) return { name, type: 7, ints: v };
  if (typeof v === 'object' && 'floats' in v) return { name, type: 6, floats: v.floats };
  if (typeof v === 'object' && 'float' in v) return { name, type: 1, f: v.float };
  return { name, type: 2, i: v };
}

/** A one-node model of `c`, with its graph inputs' names and shapes. */
function modelOf(c: Case): { bytes: Uint8Array; inputs: { name: string; shape: readonly number[] }[] } {
  const inputs: { name: string; shape: readonly number[] }[] = [];
  const initializer: object[] = [];
  const names = c.inputs.map((x, k) => {
    const name = `in${k}`;
    if (x === '') return '';
    if (Array.isArray(x)) inputs.push({ name, shape: x as readonly number[] });
    else if ('int64' in x) initializer.push(int64Tensor(name, x.int64));
    else initializer.push(tensorToProto(name, (x as { floats: T.NDArray }).floats));
    return name;
  });
  const outputs = Array.from({ length: c.outputs ?? 1 }, (_, k) => `out${k}`);
  const model = {
    ir_version: 8,
    opset_import: [{ domain: '', version: c.opset ?? 17 }],
    producer_name: 'test',
    graph: {
      name: c.op,
      node: [
        {
          op_type: c.op,
          input: names,
          output: outputs,
          attribute: Object.entries(c.attrs ?? {}).map(([k, v]) => attribute(k, v)),
        },
      ],
      initializer,
      input: inputs.map((i) => ({
        name: i.name,
        type: { tensor_type: { elem_type: ONNX_DTYPE.FLOAT, shape: { dim: i.shape.map((d) => ({ dim_value: d })) } } },
      })),
      output: outputs.map((name) => ({ name, type: { tensor_type: { elem_type: ONNX_DTYPE.FLOAT } } })),
    },
  };
  return { bytes: encodeModel(model), inputs };
}

const floats = (shape: number[], seed: number) => ({ floats: T.randomNormal(shape, { seed, dtype: 'float32' }) });

const CASES: Record<string, Case> = {
  Gemm: { op: 'Gemm', attrs: { transA: 1, alpha: { float: 0.5 }, beta: { float: 2 } }, inputs: [[4, 3], [4, 5], [5]] },
  MatMul: {
    op: 'MatMul',
    inputs: [
      [2, 3, 4],
      [4, 5],
    ],
  },
  Add: { op: 'Add', inputs: [[2, 3], [3]] },
  Sub: {
    op: 'Sub',
    inputs: [
      [2, 1],
      [1, 3],
    ],
  },
  Mul: {
    op: 'Mul',
    inputs: [
      [2, 3],
      [2, 3],
    ],
  },
  Div: { op: 'Div', inputs: [[3], [2, 3]], positive: true },
  Relu: { op: 'Relu', inputs: [[4, 5]] },
  LeakyRelu: { op: 'LeakyRelu', attrs: { alpha: { float: 0.2 } }, inputs: [[4, 5]] },
  Sigmoid: { op: 'Sigmoid', inputs: [[4, 5]] },
  Tanh: { op: 'Tanh', inputs: [[4, 5]] },
  Softmax: { op: 'Softmax', attrs: { axis: 1 }, inputs: [[3, 4, 2]] },
  Erf: { op: 'Erf', inputs: [[4, 5]] },
  'Gelu (tanh)': { op: 'Gelu', attrs: { approximate: 'tanh' }, inputs: [[4, 5]], opset: 20 },
  Gelu: { op: 'Gelu', inputs: [[4, 5]], opset: 20 },
  'Conv (pads, strides, dilations)': {
    op: 'Conv',
    attrs: { pads: [1, 0, 2, 1], strides: [2, 1], dilations: [1, 2] },
    inputs: [[2, 3, 7, 8], floats([4, 3, 3, 2], 1), floats([4], 2)],
  },
  'Conv (group)': {
    op: 'Conv',
    attrs: { group: 2, pads: [1, 1, 1, 1] },
    inputs: [[1, 4, 5, 5], floats([6, 2, 3, 3], 3)],
  },
  'Conv (SAME_UPPER)': {
    op: 'Conv',
    attrs: { auto_pad: 'SAME_UPPER', strides: [2, 2] },
    inputs: [[1, 2, 7, 6], floats([3, 2, 3, 3], 4)],
  },
  ConvTranspose: {
    op: 'ConvTranspose',
    attrs: { strides: [2, 2], pads: [1, 1, 0, 1] },
    inputs: [[1, 3, 4, 5], floats([3, 2, 3, 3], 5), floats([2], 6)],
  },
  'Conv (1-D)': {
    op: 'Conv',
    attrs: { pads: [1, 2], strides: [2] },
    inputs: [[2, 3, 9], floats([4, 3, 3], 20), floats([4], 21)],
  },
  'MaxPool (1-D)': { op: 'MaxPool', attrs: { kernel_shape: [3], strides: [2] }, inputs: [[2, 3, 9]] },
  'AveragePool (1-D)': {
    op: 'AveragePool',
    attrs: { kernel_shape: [2], pads: [1, 1], count_include_pad: 1 },
    inputs: [[2, 3, 8]],
  },
  'Resize (nearest, scales)': {
    op: 'Resize',
    inputs: [[1, 2, 3, 4], '', { floats: T.array([1, 1, 2, 3], [4], 'float32') }],
  },
  'Resize (nearest, asymmetric, sizes)': {
    op: 'Resize',
    attrs: { coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' },
    inputs: [[2, 3, 2, 2], '', '', { int64: [2, 3, 4, 6] }],
  },
  'Constant (value_floats)': { op: 'Constant', attrs: { value_floats: { floats: [1.5, -2, 0.25] } }, inputs: [] },
  'MaxPool (pads)': {
    op: 'MaxPool',
    attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] },
    inputs: [[2, 3, 7, 7]],
  },
  'AveragePool (SAME_UPPER)': {
    op: 'AveragePool',
    attrs: { kernel_shape: [2, 3], auto_pad: 'SAME_UPPER' },
    inputs: [[2, 3, 5, 7]],
  },
  'AveragePool (count_include_pad)': {
    op: 'AveragePool',
    attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1], count_include_pad: 1 },
    inputs: [[1, 2, 5, 5]],
  },
  GlobalAveragePool: { op: 'GlobalAveragePool', inputs: [[2, 3, 4, 5]] },
  BatchNormalization: {
    op: 'BatchNormalization',
    attrs: { epsilon: { float: 1e-3 } },
    inputs: [
      [2, 3, 4, 4],
      floats([3], 7),
      floats([3], 8),
      floats([3], 9),
      { floats: T.array([0.5, 1, 2], [3], 'float32') },
    ],
  },
  LayerNormalization: {
    op: 'LayerNormalization',
    attrs: { axis: -2 },
    inputs: [[2, 3, 4], floats([3, 4], 10), floats([3, 4], 11)],
  },
  Flatten: { op: 'Flatten', attrs: { axis: 2 }, inputs: [[2, 3, 4, 5]] },
  Reshape: { op: 'Reshape', inputs: [[2, 3, 4], { int64: [0, -1, 2] }] },
  Transpose: { op: 'Transpose', attrs: { perm: [2, 0, 1] }, inputs: [[2, 3, 4]] },
  Squeeze: { op: 'Squeeze', inputs: [[2, 1, 4, 1], { int64: [-1, 1] }] },
  Unsqueeze: { op: 'Unsqueeze', inputs: [[2, 3], { int64: [0, 3] }] },
  Concat: {
    op: 'Concat',
    attrs: { axis: -1 },
    inputs: [
      [2, 3],
      [2, 1],
      [2, 2],
    ],
  },
  Split: { op: 'Split', attrs: { axis: 1 }, inputs: [[2, 6], { int64: [1, 2, 3] }], outputs: 3 },
  'Split (num_outputs)': { op: 'Split', attrs: { axis: 0, num_outputs: 2 }, inputs: [[5, 2]], outputs: 2, opset: 18 },
  Slice: {
    op: 'Slice',
    inputs: [[6, 5], { int64: [1, -1] }, { int64: [5, -6] }, { int64: [0, 1] }, { int64: [2, -2] }],
  },
  Gather: { op: 'Gather', attrs: { axis: 1 }, inputs: [[3, 4], { int64: [3, -1, 0] }] },
  Clip: {
    op: 'Clip',
    inputs: [[4, 5], { floats: T.array(-0.5, [], 'float32') }, { floats: T.array(0.7, [], 'float32') }],
  },
  'Clip (max only)': { op: 'Clip', inputs: [[4, 5], '', { floats: T.array(0.2, [], 'float32') }] },
  ReduceMean: { op: 'ReduceMean', attrs: { axes: [1, -1], keepdims: 0 }, inputs: [[2, 3, 4]] },
  'ReduceMean (opset 18)': { op: 'ReduceMean', inputs: [[2, 3, 4], { int64: [0] }], opset: 18 },
  ReduceSum: { op: 'ReduceSum', inputs: [[2, 3, 4], { int64: [1] }] },
  'ReduceSum (all)': { op: 'ReduceSum', attrs: { keepdims: 0 }, inputs: [[2, 3, 4]] },
  Pow: { op: 'Pow', inputs: [[3, 4], [4]], positive: true },
  Sqrt: { op: 'Sqrt', inputs: [[3, 4]], positive: true },
  Expand: { op: 'Expand', inputs: [[3, 1], { int64: [2, 3, 4] }] },
  Identity: { op: 'Identity', inputs: [[3, 4]] },
  Dropout: { op: 'Dropout', inputs: [[3, 4]] },
  Max: { op: 'Max', inputs: [[3, 4], [4], [3, 1]] },
  Mean: { op: 'Mean', inputs: [[3, 4], [4]] },
  Exp: { op: 'Exp', inputs: [[3, 4]] },
  Log: { op: 'Log', inputs: [[3, 4]], positive: true },
  Abs: { op: 'Abs', inputs: [[3, 4]] },
  Neg: { op: 'Neg', inputs: [[3, 4]] },
  Elu: { op: 'Elu', attrs: { alpha: { float: 0.7 } }, inputs: [[3, 4]] },
  HardSigmoid: { op: 'HardSigmoid', inputs: [[3, 4]] },
  LogSoftmax: { op: 'LogSoftmax', inputs: [[3, 4]] },
  Tile: { op: 'Tile', inputs: [[2, 3], { int64: [2, 1] }] },
  Pad: { op: 'Pad', inputs: [[2, 3], { int64: [1, 0, 0, 2] }, { floats: T.array(1.5, [], 'float32') }] },
  CumSum: { op: 'CumSum', attrs: { reverse: 1 }, inputs: [[3, 4], { int64: [1] }] },
  Einsum: {
    op: 'Einsum',
    attrs: { equation: 'ij,jk->ik' },
    inputs: [
      [2, 3],
      [3, 4],
    ],
  },
};

describe('importOnnx: each op against ONNX Runtime', () => {
  for (const [name, c] of Object.entries(CASES)) {
    it(name, async () => {
      const { bytes, inputs } = modelOf(c);
      const values = inputs.map((i, k) => {
        const v = T.randomNormal([...i.shape], { seed: 100 + k, dtype: 'float32' });
        return c.positive
          ? T.array(
              Array.from(v.data, (x) => Math.abs(x) + 0.1),
              [...i.shape],
              'float32',
            )
          : v;
      });
      const session = await ort.InferenceSession.create(bytes);
      const feeds = Object.fromEntries(
        inputs.map((i, k) => [i.name, new ort.Tensor('float32', values[k]!.data, [...i.shape])]),
      );
      const theirs = await session.run(feeds);
      const model = await importOnnx(bytes);
      const mine = await model.predict(...values);
      const list = Array.isArray(mine) ? mine : [mine];
      expect(list.length).toBe(c.outputs ?? 1);
      list.forEach((y, k) => {
        const t = theirs[`out${k}`]!;
        expect([...y.shape]).toEqual(t.dims);
        const want = t.data as Float32Array;
        for (let i = 0; i < want.length; i++)
          expect(Math.abs(y.data[i]! - want[i]!), `${name}[${i}]`).toBeLessThanOrEqual(
            2e-5 + 2e-5 * Math.abs(want[i]!),
          );
      });
    });
  }

  it('Shape, Gather, Concat and Reshape with a symbolic batch fold at import (TorchScript flatten), Cast and Where', async () => {
    const dim = (d: number | string) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d });
    const model = {
      ir_version: 8,
      opset_import: [{ domain: '', version: 17 }],
      graph: {
        name: 'shapes',
        node: [
          { op_type: 'Shape', input: ['x'], output: ['s'] },
          {
            op_type: 'Constant',
            input: [],
            output: ['zero'],
            attribute: [{ name: 'value', type: 4, t: int64Tensor('zero', [0], true) }],
          },
          { op_type: 'Gather', input: ['s', 'zero'], output: ['n'], attribute: [{ name: 'axis', type: 2, i: 0 }] },
          { op_type: 'Unsqueeze', input: ['n', 'axes'], output: ['n1'] },
          {
            op_type: 'Concat',
            input: ['n1', 'minus1'],
            output: ['target'],
            attribute: [{ name: 'axis', type: 2, i: 0 }],
          },
          { op_type: 'Reshape', input: ['x', 'target'], output: ['flat'] },
          {
            op_type: 'Cast',
            input: ['flat'],
            output: ['ints'],
            attribute: [{ name: 'to', type: 2, i: ONNX_DTYPE.INT64 }],
          },
          {
            op_type: 'Cast',
            input: ['ints'],
            output: ['back'],
            attribute: [{ name: 'to', type: 2, i: ONNX_DTYPE.FLOAT }],
          },
          { op_type: 'Greater', input: ['flat', 'back'], output: ['more'] },
          { op_type: 'Where', input: ['more', 'flat', 'back'], output: ['y'] },
        ],
        initializer: [int64Tensor('axes', [0]), int64Tensor('minus1', [-1])],
        input: [{ name: 'x', type: { tensor_type: { elem_type: 1, shape: { dim: [dim('batch'), dim(3), dim(4)] } } } }],
        output: [{ name: 'y', type: { tensor_type: { elem_type: 1, shape: { dim: [dim('batch'), dim(12)] } } } }],
      },
    };
    const bytes = encodeModel(model);
    const imported = await importOnnx(bytes);
    expect(imported.outputs[0]!.shape).toEqual([null, 12]);
    const session = await ort.InferenceSession.create(bytes);
    for (const rows of [1, 5]) {
      const x = T.randomNormal([rows, 3, 4], { seed: rows, dtype: 'float32' });
      const theirs = (await session.run({ x: new ort.Tensor('float32', x.data, [rows, 3, 4]) }))['y']!;
      const mine = (await imported.predict(x)) as T.NDArray;
      expect([...mine.shape]).toEqual(theirs.dims);
      expect(Array.from(mine.data)).toEqual(Array.from(theirs.data as Float32Array));
    }
  });

  /** A model computing a condition by `nodes` from x, then If(cond) { Exp(x) } else { Neg(x) }. */
  function ifModel(nodes: object[], initializer: object[], dims: object[]): Uint8Array {
    const branch = (name: string, op: string) => ({
      name,
      node: [{ op_type: op, input: ['x'], output: [`${name}_y`] }],
      output: [{ name: `${name}_y`, type: { tensor_type: { elem_type: 1 } } }],
    });
    const choose = {
      op_type: 'If',
      input: ['cond'],
      output: ['y'],
      attribute: [
        { name: 'then_branch', type: 5, g: branch('then', 'Exp') },
        { name: 'else_branch', type: 5, g: branch('else', 'Neg') },
      ],
    };
    return encodeModel({
      ir_version: 8,
      opset_import: [{ domain: '', version: 17 }],
      graph: {
        name: 'if',
        node: [...nodes, choose],
        initializer,
        input: [{ name: 'x', type: { tensor_type: { elem_type: 1, shape: { dim: dims } } } }],
        output: [{ name: 'y', type: { tensor_type: { elem_type: 1 } } }],
      },
    });
  }

  /** importOnnx and ONNX Runtime agree on `bytes` for input `x`. */
  async function expectIfAgrees(bytes: Uint8Array, x: T.NDArray) {
    const imported = await importOnnx(bytes);
    const session = await ort.InferenceSession.create(bytes);
    const theirs = (await session.run({ x: new ort.Tensor('float32', x.data, [...x.shape]) }))['y']!;
    const mine = (await imported.predict(x)) as T.NDArray;
    mine.data.forEach((v, i) =>
      expect(Math.abs(v - (theirs.data as Float32Array)[i]!)).toBeLessThan(1e-6 * (1 + Math.abs(v))),
    );
    return mine;
  }

  it('an If with a condition known only at run time is a lazy ifelse: each call runs its branch', async () => {
    const bytes = ifModel(
      [
        { op_type: 'ReduceSum', input: ['x'], output: ['total'], attribute: [{ name: 'keepdims', type: 2, i: 0 }] },
        { op_type: 'Greater', input: ['total', 'zero'], output: ['cond'] },
      ],
      [tensorToProto('zero', T.array(0, [], 'float32'))],
      [{ dim_param: 'n' }],
    );
    for (const values of [
      [1, 2, -0.5],
      [-1, -2, 0.5, 0.25],
    ])
      await expectIfAgrees(bytes, T.array(values, [values.length], 'float32'));
  });

  it('an If whose condition is computed from sizes known at import time is its branch', async () => {
    const bytes = ifModel(
      [
        { op_type: 'Shape', input: ['x'], output: ['s'] },
        { op_type: 'ReduceProd', input: ['s'], output: ['size'], attribute: [{ name: 'keepdims', type: 2, i: 0 }] },
        { op_type: 'Greater', input: ['size', 'ten'], output: ['cond'] },
      ],
      [int64Tensor('ten', [10], true)],
      [{ dim_value: 3 }, { dim_value: 4 }],
    );
    const x = T.randomNormal([3, 4], { seed: 4, dtype: 'float32' });
    const mine = await expectIfAgrees(bytes, x);
    expect(mine.data[0]).toBeCloseTo(Math.exp(x.data[0]!), 5);
  });
});
