// tlkit's public API: what the README documents and what a library user needs, exported by name.
// Everything else under src/ is internal and may change. docs/api.md lists these names (a test keeps
// the two in step).
import { initEngine } from './engines/tfjs/tf.js';

// The engine: one tfjs instance (tensors and layers you make must come from it), ready on import.
export { tf, tfl, initEngine } from './engines/tfjs/tf.js';
export type { BackendName } from './engines/tfjs/tf.js';
export { TlkitError, UsageError, FileError, WeightsError, DataError, TrainingError } from './core/errors.js';
export type { ProgressEvent, ProgressCallback } from './core/progress.js';
export { CLASS_MODES, LABEL_CLASS_MODES, LOSS_NAMES, OPTIMIZER_NAMES, ENGINE_CHOICES, lossForClassMode, tfjsLossName } from './core/names.js';
export type { ClassMode, LabelClassMode, LossName, OptimizerName, EngineChoice, StepEngineName, PhaseEngineLabel, PhaseEngine } from './core/names.js';
// The one engine decision: a phase's EnginePlan (docs/training-engines.md).
export { planPhaseEngines, decideTrainingStep, describeEnginePlan } from './engines/engine_decision.js';
export type { EnginePlan, Runtime, PhaseEngines, PhaseEnginesRequest, TrainingStepDecision } from './engines/engine_decision.js';

// Models: the Keras applications zoo, classifiers (backbone + head), summaries, BatchNorm tools.
export { listBackbones, getBackbone } from './models/zoo.js';
export type { BackboneOptions, BackboneDefinition, Pooling, PreprocessMode } from './models/types.js';
export { MobileNet } from './models/mobilenet.js';
export { MobileNetV2 } from './models/mobilenet_v2.js';
export { EfficientNetB0 } from './models/efficientnet.js';
export { ResNet50 } from './models/resnet.js';
export { InceptionV3 } from './models/inception_v3.js';
export { Xception } from './models/xception.js';
export { parseHeadSpec, formatHeadSpec, DEFAULT_HEAD } from './models/heads.js';
export type { HeadLayerSpec } from './models/heads.js';
export { buildClassifier, setTrainable } from './models/classifier.js';
export type { ClassifierOptions, Classifier, TrainableOptions } from './models/classifier.js';
export { summarize, formatSummary, explainNonTrainable } from './models/summary.js';
export type { ModelSummary, LayerSummary, NonTrainableGroup } from './models/summary.js';
export { removeBatchNorm, foldBatchNorm } from './models/batchnorm.js';

// Weights: Keras .h5 in and out, ImageNet files as Keras keeps them, offline weights, saved models.
export { loadBackboneWeights, availableWeights } from './weights/resolve.js';
export type { WeightsInfo, LoadBackboneWeightsOptions } from './weights/resolve.js';
export { loadH5Weights } from './weights/h5_import.js';
export { NotHdf5Error } from './weights/h5.js';
export { saveH5 } from './weights/h5_export.js';
export type { SaveH5Options } from './weights/h5_export.js';
export { saveModel, loadModel } from './weights/saved_model.js';
export type { ModelMetadata, ModelMetadataInput } from './weights/saved_model.js';

// Fast engine (onnxruntime-node): ONNX export, frozen-prefix features and their cache, native predict,
// the compiled training step.
export { exportOnnx } from './engines/onnx/export.js';
export type { ExportOnnxOptions } from './engines/onnx/export.js';
export { quantizeOnnx, CALIBRATION_METHODS, NothingToQuantizeError } from './engines/onnx/quantize.js';
export type { ActivationType, CalibrationBatch, CalibrationData, CalibrationMethod, QuantizeOnnxOptions, QuantizationReport, QuantizedOnnx, TensorRange } from './engines/onnx/quantize.js';
export { registerOnnxConverter } from './engines/onnx/layers/index.js';
export { createFrozenEngine } from './engines/onnx/frozen_features.js';
export type { FrozenEngine, FrozenEngineOptions, FrozenBoundary } from './engines/onnx/frozen_features.js';

// The on-disk feature store (docs/feature-store.md): frozen-prefix features kept per image and reused.
export { openFeatureStore, featureStoreDir, readStoreMeta, FeatureStore, FeatureStoreFullError } from './engines/feature_store/feature_store.js';
export type { FeaturePrecision, FeatureStoreDescription, FeatureStoreOptions, FeatureStoreMeta, RecordWrite } from './engines/feature_store/feature_store.js';
export { fileIdentityKey, fileIdentityKeys } from './engines/feature_store/file_identity.js';
export type { FileIdentityMode } from './engines/feature_store/file_identity.js';
export { listCache, pruneCache } from './engines/feature_store/cache_admin.js';
export type { CacheItem, CacheListing, PruneOptions } from './engines/feature_store/cache_admin.js';
export { RunFeatureStores } from './train/run/run_feature_stores.js';
export type { FeatureStoreSettings } from './train/run/run_feature_stores.js';
export { evaluateFromStore } from './train/run/evaluate_from_store.js';
export { predictFromStore } from './train/run/predict_from_store.js';
export type { PredictFromStoreOptions, StorePredictions } from './train/run/predict_from_store.js';
export type { StoreEvaluation } from './train/run/evaluate_from_store.js';
export { cachedLinearProbe, probeKey, probeCacheDir } from './train/probes/probe_cache.js';
export { createOnnxPredictor } from './engines/onnx/predictor.js';
export type { OnnxPredictor, OnnxPredictorOptions } from './engines/onnx/predictor.js';
export { compileTrainingStep, canCompileTrainingStep } from './engines/onnx/training/compile_training_step.js';
export type { CompiledTrainingStep, CompileTrainingStepOptions } from './engines/onnx/training/compile_training_step.js';
export { defaultCacheDir } from './engines/onnx/compiled_cache.js';
export type { CompileInfo } from './engines/onnx/compiled_cache.js';

// Data: ImageDataGenerator with Keras semantics, flowFromDirectory / flow, decoding, preprocess_input.
export { ImageDataGenerator } from './data/image_data_generator.js';
export type { ImageDataGeneratorOptions, GeneratorFitOptions, TransformParams, ShiftRange } from './data/image_data_generator.js';
export { DirectoryIterator } from './data/directory_iterator.js';
export type { FlowFromDirectoryOptions } from './data/directory_iterator.js';
export { ArrayIterator } from './data/array_iterator.js';
export type { FlowOptions } from './data/array_iterator.js';
export type { Batch, BatchIterator } from './data/batch.js';
export type { ImageBatch, SkippedFile, IteratorState } from './data/sample_iterator.js';
export { preprocessInput } from './data/preprocess_input.js';
export type { PreprocessingFunction } from './data/preprocess_input.js';
export { decodeImageFile, decodeImageBuffer } from './data/decode.js';
export type { ColorMode, Interpolation, DecodeOptions, DecodedImage } from './data/decode.js';
export { inspectDirectory } from './data/inspect_directory.js';
export type { DatasetReport, InspectOptions } from './data/inspect_directory.js';
export * as transforms from './data/transforms/index.js';

// Training: fit / evaluate / predict, callbacks, checkpoints, a whole run (trainRun).
export { fit } from './train/loop/fit.js';
export type { FitOptions, FitResult } from './train/loop/fit.js';
export type { EpochLogs, History, ClassWeight } from './train/loop/types.js';
export { evaluate, DEFAULT_MISCLASSIFIED_LIMIT } from './inference/evaluate.js';
export type { Evaluation, EvaluateOptions, ClassReport, Misclassified } from './inference/evaluate.js';
export { predict, predictFiles, predictFilesStream } from './inference/predict.js';
export type { Prediction, ClassProbability, PredictOptions, PredictFilesOptions } from './inference/predict.js';
export { quantizeModel, exportQuantizedOnnx, AccuracyDropError } from './inference/quantize_model.js';
export type { QuantizeModelOptions, QuantizeModelResult, PrecisionAccuracy, SkippedImage } from './inference/quantize_model.js';
export { openQuantizedEngine } from './inference/quantized_engine.js';
export { QUANTIZED_ONNX, quantizedOnnxPath, readQuantizedOnnx } from './weights/quantized_onnx.js';
export type { ServingPrecision } from './weights/quantized_onnx.js';
// Explanations: Grad-CAM heatmaps of a saved model's decisions, and their overlays.
export { explain, createExplainer, writeExplanations, lastConvolutionalLayer, camLayer } from './inference/explain.js';
export type { Explanation, ExplainOptions, Explainer, ExplainMethod, CamMethod } from './inference/explain.js';
export type { OcclusionFill } from './inference/occlusion.js';
export { gradCam, resizeHeatmap, heatmapPeak } from './inference/grad_cam.js';
export type { Heatmap } from './inference/grad_cam.js';
export { heatmapOverlayPng } from './inference/heatmap_overlay.js';
export type { OverlayOptions } from './inference/heatmap_overlay.js';
export { trainRun } from './train/run/run.js';
export type { TrainRunOptions, TrainRunHooks, TrainRunResult } from './train/run/run.js';
export { planRun } from './train/run/run_plan.js';
export type { RunPlan, PhasePlan } from './train/run/run_plan.js';
export { runDirLayout } from './train/run/run_dir.js';
export { RunLockedError } from './train/run/run_lock.js';
export type { RunDirLayout } from './train/run/run_dir.js';
export { readCheckpoint } from './train/loop/checkpoint.js';
export type { TrainingCheckpoint } from './train/loop/checkpoint.js';
export type { Callback, TrainingContext, BatchLogs } from './train/loop/callbacks/callback.js';
export { EarlyStopping } from './train/loop/callbacks/early_stopping.js';
export type { EarlyStoppingOptions } from './train/loop/callbacks/early_stopping.js';
export { ModelCheckpoint } from './train/loop/callbacks/model_checkpoint.js';
export type { ModelCheckpointOptions } from './train/loop/callbacks/model_checkpoint.js';
export { HistoryLogger } from './train/loop/callbacks/history_logger.js';
export { ReduceLROnPlateau } from './train/loop/callbacks/reduce_lr_on_plateau.js';
// the default recipe's parts: the linear-probe baseline, --epochs auto, BatchNorm recalibration
export { linearProbe, runLinearProbe, fitLogisticRegression, predictClasses, stratifiedSubsample } from './train/probes/linear_probe.js';
export type { LinearProbeOptions, LinearProbeResult, LogisticRegressionOptions, LogisticModel, DenseRows } from './train/probes/linear_probe.js';
export { planEpochs, AUTO_EPOCHS_CAP, AUTO_EPOCHS_PATIENCE, AUTO_EPOCHS_FIXED } from './train/run/epochs_auto.js';
export type { Epochs, EpochPlan } from './train/run/epochs_auto.js';
export { recalibrateBatchNorm } from './train/recalibration/recalibrate_batchnorm.js';
export type { RecalibrationOptions, RecalibrationResult } from './train/recalibration/recalibrate_batchnorm.js';
export { VALIDATION_RECALIBRATION_SAMPLES, VALIDATION_RECALIBRATION_MAX_COST, VALIDATION_RECALIBRATION_CHEAP_SECONDS } from './train/recalibration/recalibrate_after_phase.js';
export type { PhaseRecalibration, ValidationRecalibrationSettings } from './train/recalibration/recalibrate_after_phase.js';
export type { ReduceLROnPlateauOptions } from './train/loop/callbacks/reduce_lr_on_plateau.js';
export { ProgressReporter } from './train/loop/callbacks/progress.js';

// Compare: several backbones under one config, the reference table, a recommendation by your rule.
export { compareBackbones, planComparison } from './compare/compare.js';
export type { CompareOptions, CompareHooks, ComparisonPlan, ComparisonRun, ComparisonQueue } from './compare/compare.js';
// Sweeps: backbones x a grid of recipes; and the same comparison on several machines (BullMQ + Redis).
export { expandSweep, gridAxes, SWEEPABLE_OPTIONS } from './compare/sweep.js';
export type { SweepAxis, PlannedRun, SweepableOptions } from './compare/sweep.js';
export { connectQueue } from './queue/submit.js';
export type { QueueClient, QueueClientOptions, ComparisonStatus, RunStatus } from './queue/submit.js';
export { startWorker } from './queue/worker.js';
export type { WorkerOptions, QueueWorker } from './queue/worker.js';
export type { CompareResult, CompareRow, BackboneResult, FailedBackbone, Recommendation } from './compare/types.js';
export { parseSelectionRule } from './compare/selection_rule.js';
export type { SelectionRule, TieBreak } from './compare/selection_rule.js';
export { writeCompareReport } from './report/write_compare_report.js';
export type { CompareReportFiles } from './report/write_compare_report.js';
export { formatCompareTable } from './report/compare_table.js';

// Data audit: likely label errors, duplicates and train/validation leaks, outliers, class balance; and
// the exclude lists that retrain without chosen files.
export { auditDataset, auditFindings, auditView } from './train/audit/audit.js';
export type { AuditDatasetOptions, AuditSettings, AuditFindingsInput, AuditView, AuditSplitData, AuditBackboneFeatures } from './train/audit/audit.js';
export type { AuditResult, AuditCounts, AuditFile, AuditSplit, LabelIssue, DuplicateGroup, DuplicateKind, Outlier, ClassBalance } from './train/audit/types.js';
export { writeAuditReport, auditCsv } from './report/audit_report.js';
export type { AuditReportFiles, AuditFolders } from './report/audit_report.js';
export { readExcludeList, parseExcludeList } from './data/exclude_list.js';
export type { ExcludeList } from './data/exclude_list.js';

// Deploy: the trained classifier as an offline web page, and as an HTTP service.
export { exportWebApp } from './serve/export_web.js';
export type { ExportWebAppOptions, ExportWebAppResult } from './serve/export_web.js';
export type { WebWeightQuantization } from './serve/quantize_weights.js';
export { toPlainTfjsModel } from './serve/plain_tfjs_model.js';
export { createServer } from './serve/server.js';
export type { ServedRoute, ServeOptions, TlkitServer } from './serve/server.js';

// Importing tlkit leaves tf ready: the wasm backend with tlkit's gradient kernels (or the cpu fallback),
// so no tensor is ever made on a backend that is not initialised or lacks those kernels.
await initEngine();
