/**
 * ONNX's protobuf messages, as far as tsano reads and writes them: written from onnx.proto's field
 * numbers and types (ONNX 1.17, IR version 10) and read and written by protobufjs. Fields tsano does
 * not use are still declared where a reader would otherwise misread a neighbour; unknown fields are
 * skipped by protobufjs, so newer files decode.
 */
import protobuf from 'protobufjs';
import { TsanoError } from '../../runtime/errors.js';

/** A damaged or unsupported ONNX file or graph: names the node, op type and opset, or the field. */
export class OnnxError extends TsanoError {}

const ONNX_PROTO = `
syntax = "proto3";
package onnx;
message StringStringEntryProto { string key = 1; string value = 2; }
message OperatorSetIdProto { string domain = 1; int64 version = 2; }
message TensorShapeProto {
  message Dimension {
    oneof value { int64 dim_value = 1; string dim_param = 2; }
    string denotation = 3;
  }
  repeated Dimension dim = 1;
}
message TypeProto {
  message Tensor { int32 elem_type = 1; TensorShapeProto shape = 2; }
  message Sequence { TypeProto elem_type = 1; }
  message Map { int32 key_type = 1; TypeProto value_type = 2; }
  message Optional { TypeProto elem_type = 1; }
  message SparseTensor { int32 elem_type = 1; TensorShapeProto shape = 2; }
  oneof value {
    Tensor tensor_type = 1;
    Sequence sequence_type = 4;
    Map map_type = 5;
    Optional optional_type = 9;
    SparseTensor sparse_tensor_type = 8;
  }
  string denotation = 6;
}
message ValueInfoProto {
  string name = 1;
  TypeProto type = 2;
  string doc_string = 3;
  repeated StringStringEntryProto metadata_props = 4;
}
message TensorProto {
  message Segment { int64 begin = 1; int64 end = 2; }
  repeated int64 dims = 1;
  int32 data_type = 2;
  Segment segment = 3;
  repeated float float_data = 4 [packed = true];
  repeated int32 int32_data = 5 [packed = true];
  repeated bytes string_data = 6;
  repeated int64 int64_data = 7 [packed = true];
  string name = 8;
  string doc_string = 12;
  bytes raw_data = 9;
  repeated StringStringEntryProto external_data = 13;
  int32 data_location = 14;
  repeated double double_data = 10 [packed = true];
  repeated uint64 uint64_data = 11 [packed = true];
  repeated StringStringEntryProto metadata_props = 16;
}
message AttributeProto {
  string name = 1;
  string ref_attr_name = 21;
  string doc_string = 13;
  int32 type = 20;
  float f = 2;
  int64 i = 3;
  bytes s = 4;
  TensorProto t = 5;
  GraphProto g = 6;
  repeated float floats = 7;
  repeated int64 ints = 8;
  repeated bytes strings = 9;
  repeated TensorProto tensors = 10;
  repeated GraphProto graphs = 11;
}
message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  string name = 3;
  string op_type = 4;
  string domain = 7;
  string overload = 8;
  repeated AttributeProto attribute = 5;
  string doc_string = 6;
  repeated StringStringEntryProto metadata_props = 9;
}
message GraphProto {
  repeated NodeProto node = 1;
  string name = 2;
  repeated TensorProto initializer = 5;
  string doc_string = 10;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
  repeated ValueInfoProto value_info = 13;
  repeated StringStringEntryProto metadata_props = 16;
}
message ModelProto {
  int64 ir_version = 1;
  repeated OperatorSetIdProto opset_import = 8;
  string producer_name = 2;
  string producer_version = 3;
  string domain = 4;
  int64 model_version = 5;
  string doc_string = 6;
  GraphProto graph = 7;
  repeated StringStringEntryProto metadata_props = 14;
}
`;

/** ONNX's TensorProto.DataType codes that tsano reads or writes. */
export const ONNX_DTYPE = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
} as const;

/** AttributeProto.AttributeType codes. */
export const ATTRIBUTE_TYPE = {
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
} as const;

export interface StringEntry {
  key: string;
  value: string;
}
export interface TensorProto {
  dims: number[];
  data_type: number;
  float_data: number[];
  int32_data: number[];
  int64_data: number[];
  double_data: number[];
  uint64_data: number[];
  string_data: Uint8Array[];
  name: string;
  raw_data: Uint8Array;
  external_data: StringEntry[];
  data_location: number;
  segment?: object | null;
}
export interface Dimension {
  dim_value?: number;
  dim_param?: string;
  value?: 'dim_value' | 'dim_param';
}
export interface TypeProto {
  tensor_type?: { elem_type: number; shape?: { dim: Dimension[] } | null } | null;
  value?: string;
}
export interface ValueInfoProto {
  name: string;
  type?: TypeProto | null;
}
export interface AttributeProto {
  name: string;
  type: number;
  ref_attr_name: string;
  f: number;
  i: number;
  s: Uint8Array;
  t?: TensorProto | null;
  g?: GraphProto | null;
  floats: number[];
  ints: number[];
  strings: Uint8Array[];
  tensors: TensorProto[];
  graphs: GraphProto[];
}
export interface NodeProto {
  input: string[];
  output: string[];
  name: string;
  op_type: string;
  domain: string;
  attribute: AttributeProto[];
}
export interface GraphProto {
  node: NodeProto[];
  name: string;
  initializer: TensorProto[];
  input: ValueInfoProto[];
  output: ValueInfoProto[];
  value_info: ValueInfoProto[];
}
export interface ModelProto {
  ir_version: number;
  opset_import: { domain: string; version: number }[];
  producer_name: string;
  producer_version: string;
  graph?: GraphProto | null;
  metadata_props: StringEntry[];
}

let root: protobuf.Root | undefined;
function modelType(): protobuf.Type {
  root ??= protobuf.parse(ONNX_PROTO, { keepCase: true }).root;
  return root.lookupType('onnx.ModelProto');
}

/**
 * The model in `bytes` as plain objects (int64 fields as numbers: every size and attribute tsano
 * reads fits in a double exactly; larger ones are refused where they are used), or an OnnxError
 * saying where the bytes stopped making sense.
 */
export function decodeModel(bytes: Uint8Array, file: string): ModelProto {
  const type = modelType();
  let message: protobuf.Message;
  try {
    message = type.decode(bytes);
  } catch (e) {
    throw new OnnxError(`${file}: not an ONNX model (${(e as Error).message})`);
  }
  const model = type.toObject(message, {
    longs: Number,
    bytes: Uint8Array as unknown as typeof String,
    defaults: true,
    arrays: true,
    oneofs: true,
  }) as ModelProto;
  if (!model.graph) throw new OnnxError(`${file}: not an ONNX model (field 'graph' is missing)`);
  return model;
}

/** The bytes of `model` (a plain object in ModelProto's field names). */
export function encodeModel(model: object): Uint8Array {
  const type = modelType();
  const problem = type.verify(model);
  if (problem) throw new OnnxError(`exportOnnx: the model does not fit ONNX's schema (${problem})`);
  return type.encode(type.fromObject(model)).finish();
}
