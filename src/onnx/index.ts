/**
 * tsano/onnx: ONNX models in and out. `importOnnx` reads a model (opsets 13 to 21) into a tsano graph
 * that predicts, differentiates and exports like any other; `exportOnnx` writes a compiled function
 * or a Keras model for ONNX Runtime, Triton or any ONNX consumer.
 */
export { importOnnx, OnnxModel, IMPORT_OPSETS, type ImportOptions, type OnnxTensorInfo } from './import.js';
export { OnnxError } from './schema.js';
export { exportOnnx, EXPORT_OPSETS, type ExportOnnxOptions, type OnnxExportSummary } from './export.js';
