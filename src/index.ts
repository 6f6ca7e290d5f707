// tlkit's public API. Everything a user needs is exported here by name.
export { tf, tfl, initEngine } from './engines/tfjs/tf.js';
export type { BackendName } from './engines/tfjs/tf.js';
export { registerTrainingKernels } from './engines/tfjs/register_kernels.js';
export * from './core/errors.js';

// models
export { listBackbones, getBackbone } from './models/zoo.js';
export type { BackboneOptions, BackboneDefinition, Pooling, PreprocessMode } from './models/types.js';
// Keras application functions by their Keras names (also reachable as getBackbone(id).build)
export { MobileNet } from './models/mobilenet.js';
export { MobileNetV2 } from './models/mobilenet_v2.js';
export { EfficientNetB0 } from './models/efficientnet.js';
export { ResNet50 } from './models/resnet.js';
export { InceptionV3 } from './models/inception_v3.js';
export { Xception } from './models/xception.js';
// Keras's Normalization layer (EfficientNet's graph), registered as 'Normalization' for model.json loading
export { Normalization } from './models/layers/normalization.js';
export type { NormalizationArgs } from './models/layers/normalization.js';
// heads, classifier, summary, BatchNorm tools
export { parseHeadSpec, formatHeadSpec, validateHeadSpec, outputLayerFor, checkClassMode, checkClassesForMode, applyHead, DEFAULT_HEAD } from './models/heads.js';
export type { HeadLayerSpec, AppliedHead } from './models/heads.js';
export { CLASS_MODES, LABEL_CLASS_MODES, LOSS_NAMES, OPTIMIZER_NAMES, ENGINE_CHOICES, lossForClassMode, resolveLoss } from './core/names.js';
export type { ClassMode, LabelClassMode, LossName, OptimizerName, EngineChoice, StepEngineName, PhaseEngine } from './core/names.js';
export { buildClassifier, setTrainable } from './models/classifier.js';
export type { ClassifierOptions, Classifier, TrainableOptions } from './models/classifier.js';
export { summarize, formatSummary, explainNonTrainable, formatCount } from './models/summary.js';
export type { ModelSummary, LayerSummary, NonTrainableGroup } from './models/summary.js';
export { removeBatchNorm, foldBatchNorm, isFrozen, installFrozenBatchNormSemantics } from './models/batchnorm.js';
export { rewriteModel, cloneLayer } from './models/graph_rewrite.js';
export type { LayerRewrite, LayerRewriteContext, RewriteOptions } from './models/graph_rewrite.js';
export { weightKind, weightsByKind } from './models/layer_weights.js';

// fast engine (onnxruntime-node): ONNX export, frozen-prefix features, feature cache, native predict
export { exportOnnx } from './engines/onnx/export.js';
export type { ExportOnnxOptions } from './engines/onnx/export.js';
export { registerOnnxConverter, supportedLayerClasses } from './engines/onnx/layer_converters.js';
export { createOnnxRunner } from './engines/onnx/session.js';
export type { OnnxRunner, OnnxRunnerOptions, OnnxOutput } from './engines/onnx/session.js';
export { splitAtLayer } from './engines/onnx/split_at_layer.js';
export type { SplitModel } from './engines/onnx/split_at_layer.js';
export { createFrozenEngine } from './engines/onnx/frozen_features.js';
export { frozenPrefixEnd } from './engines/onnx/frozen_prefix.js';
export type { FrozenEngine, FrozenEngineOptions } from './engines/onnx/frozen_features.js';
export { FeatureCache } from './engines/onnx/feature_cache.js';
export type { FeatureCacheOptions, FeatureSource } from './engines/onnx/feature_cache.js';
export { createOnnxPredictor } from './engines/onnx/predictor.js';
export type { OnnxPredictor, OnnxPredictorOptions } from './engines/onnx/predictor.js';
// fast engine, stage 2: a whole training step (forward, loss, backward, Adam/SGD) compiled to ONNX
export { compileTrainingStep, canCompileTrainingStep } from './engines/onnx/training/compile_training_step.js';
export type { CompiledTrainingStep, CompileTrainingStepOptions, TrainingStepOptions, TrainingStepResult, OptimizerState as TrainingStepOptimizerState } from './engines/onnx/training/compile_training_step.js';
export { selectTrainingEngine, TRAINING_ENGINES } from './engines/onnx/training/select_engine.js';
export type { SelectedEngine, TrainingEngineChoice } from './engines/onnx/training/select_engine.js';

// weights: Keras .h5 in/out, ImageNet files like Keras (cache, URLs, hashes), offline nsfwjs weights, saved models
export { loadBackboneWeights, availableWeights, defaultWeights, parseWeightsFlag } from './weights/resolve.js';
export type { WeightsInfo, LoadBackboneWeightsOptions, DefaultWeights } from './weights/resolve.js';
export { readKerasH5, loadH5Weights } from './weights/h5_import.js';
export { NotHdf5Error } from './weights/h5.js';
export { saveH5, KERAS_LAYOUT_VERSION } from './weights/h5_export.js';
export type { SaveH5Options } from './weights/h5_export.js';
export { applyStoredWeights } from './weights/stored_weights.js';
export type { StoredWeights, StoredLayer, StoredWeight, ApplyWeightsOptions, ApplyWeightsResult, MatchMode } from './weights/stored_weights.js';
export { imagenetWeightsFile, imagenetBackbones, hasImagenetWeights, kerasCacheDir, cachedWeightsPath, fetchWeightsFile } from './weights/imagenet.js';
export type { WeightsFile, ImagenetQuery, FetchWeightsOptions } from './weights/imagenet.js';
export { NSFWJS_SOURCE, NSFWJS_INPUT, offlineSources, offlineSourcesFor, isOfflineSource, readNsfwjsModel, offlineBackboneWeights, loadOfflineWeights } from './weights/offline.js';
export type { OfflineSourceInfo, InputScaling, NsfwjsModel, NsfwjsVariant } from './weights/offline.js';
export { saveModel, loadModel, resolveModelDir, validateMetadata, MODEL_FORMAT_VERSION } from './weights/saved_model.js';
export type { ModelMetadata, ModelMetadataInput } from './weights/saved_model.js';

// data: ImageDataGenerator (Keras semantics), flowFromDirectory / flow iterators, decoding, kernels, preprocess_input
export { ImageDataGenerator } from './data/image_data_generator.js';
export type { ImageDataGeneratorOptions, TransformParams, ShiftRange, FitOptions } from './data/image_data_generator.js';
export { DirectoryIterator } from './data/directory_iterator.js';
export type { FlowFromDirectoryOptions } from './data/directory_iterator.js';
export { ArrayIterator } from './data/array_iterator.js';
export type { FlowOptions } from './data/array_iterator.js';
export { BatchIterator } from './data/batch_iterator.js';
export type { Batch, SkippedFile, IteratorState } from './data/batch_iterator.js';
export { preprocessInput, preprocessInputArray, PREPROCESS_MODES } from './data/preprocess_input.js';
export type { PreprocessingFunction } from './data/preprocess_input.js';
export { decodeImageFile, decodeImageBuffer, DecodeFailure, DEFAULT_LIMIT_INPUT_PIXELS } from './data/decode.js';
export type { ColorMode, Interpolation, DecodeOptions, DecodedImage, SourceInfo } from './data/decode.js';
export { scanDirectory, IMAGE_EXTENSIONS } from './data/scan_directory.js';
export type { DirectoryListing, ScanOptions, Subset } from './data/scan_directory.js';
export { inspectDirectory } from './data/inspect_directory.js';
export type { DatasetReport, InspectOptions } from './data/inspect_directory.js';
export { Random, mixSeed } from './core/random.js';
export type { RandomState } from './core/random.js';
export * as transforms from './data/transforms/index.js';

// training: fit / evaluate / predict over iterators, callbacks, checkpoints, the whole run (trainRun)
export { fit } from './train/fit.js';
export type { FitOptions as ModelFitOptions, FitResult } from './train/fit.js';
export type { FitEngineChoice, StepEngineName } from './train/onnx_step_engine.js';
export type { BatchIterator as TrainingIterator, Batch as TrainingBatch, EpochLogs, History, ClassWeight } from './train/types.js';
export type { LossName, OptimizerName } from './core/names.js';
export { evaluate, classificationReport, inferLoss } from './train/evaluate.js';
export type { Evaluation, EvaluateOptions, ClassReport, Misclassified } from './train/evaluate.js';
export { predict, predictFiles, listImageFiles, loadImageForModel } from './train/predict.js';
export type { Prediction, ClassProbability, PredictOptions, PredictFilesOptions } from './train/predict.js';
export { trainRun } from './train/run.js';
export { RunLockedError } from './train/run_lock.js';
export type { TrainRunOptions, TrainRunHooks, TrainRunResult, EngineChoice, PhaseEngine } from './train/run.js';
export { loadTrainedModel } from './train/trained_model.js';
export { openInferenceEngine } from './train/inference_engine.js';
export type { InferenceEngine, InferenceEngineChoice } from './train/inference_engine.js';
export { evaluationIterator } from './train/evaluation_data.js';
export { runDirLayout } from './train/run_dir.js';
export type { RunDirLayout } from './train/run_dir.js';
export { readCheckpoint, writeCheckpoint, captureWeights, restoreWeights } from './train/checkpoint.js';
export type { TrainingCheckpoint, CallbackState, EpochAccumulators } from './train/checkpoint.js';
export { tfjsToFlatState, flatToTfjsState, trainableWeightInfos } from './train/optimizer_state_convert.js';
export type { FlatSlotLayout, FlatSlotEntry, FlatOptimizerState, ConvertibleOptimizer, TrainableWeightInfo } from './train/optimizer_state_convert.js';
export { createOptimizer, getLearningRate, setLearningRate, DEFAULT_LEARNING_RATE } from './train/optimizers.js';
export { balancedClassWeight } from './train/class_weight.js';
export type { Callback, TrainingContext, BatchLogs } from './train/callbacks/callback.js';
export { ProgressReporter } from './train/callbacks/progress.js';
export { EarlyStopping } from './train/callbacks/early_stopping.js';
export type { EarlyStoppingOptions } from './train/callbacks/early_stopping.js';
export { ModelCheckpoint, LAST_CHECKPOINT, BEST_CHECKPOINT } from './train/callbacks/model_checkpoint.js';
export type { ModelCheckpointOptions } from './train/callbacks/model_checkpoint.js';
export { HistoryLogger, historyToCsv } from './train/callbacks/history_logger.js';
export { ReduceLROnPlateau } from './train/callbacks/reduce_lr_on_plateau.js';
export type { ReduceLROnPlateauOptions } from './train/callbacks/reduce_lr_on_plateau.js';
