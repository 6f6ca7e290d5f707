// tlkit's public API. Everything a user needs is exported here by name.
export { tf, tfl, initEngine } from './engines/tfjs/tf.js';
export type { BackendName } from './engines/tfjs/tf.js';
export * from './errors.js';

// models
export { listBackbones, getBackbone } from './models/zoo.js';
export type { BackboneOptions, BackboneDefinition, Pooling, PreprocessMode } from './models/types.js';

// fast engine (onnxruntime-node): ONNX export, frozen-prefix features, feature cache, native predict
export { exportOnnx } from './engines/onnx/export.js';
export type { ExportOnnxOptions } from './engines/onnx/export.js';
export { registerOnnxConverter, supportedLayerClasses } from './engines/onnx/layer_converters.js';
export { createOnnxRunner } from './engines/onnx/session.js';
export type { OnnxRunner, OnnxRunnerOptions, OnnxOutput } from './engines/onnx/session.js';
export { splitAtLayer } from './engines/onnx/split_at_layer.js';
export type { SplitModel } from './engines/onnx/split_at_layer.js';
export { createFrozenEngine } from './engines/onnx/frozen_features.js';
export type { FrozenEngine, FrozenEngineOptions } from './engines/onnx/frozen_features.js';
export { FeatureCache } from './engines/onnx/feature_cache.js';
export type { FeatureCacheOptions, FeatureSource } from './engines/onnx/feature_cache.js';
export { createOnnxPredictor } from './engines/onnx/predictor.js';
export type { OnnxPredictor, OnnxPredictorOptions } from './engines/onnx/predictor.js';
