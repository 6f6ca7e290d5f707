// What the compiled-step cache (../compiled_cache.ts) stores besides the optimised graph: the model's
// fingerprint that keys it, and a JSON record of the TrainingGraph's bookkeeping (which graph input
// holds which weight, the flat optimizer layout, dropout inputs...), so a hit needs neither the graph
// builder nor onnxruntime's optimiser. Weights are graph inputs, so they are not part of the key.
import type { LossName } from '../../../core/names.js';
import type { tfl } from '../../tfjs/tf.js';
import { describeArchitecture } from '../compiled_cache.js';
import type { LayersModel } from '../model_graph.js';
import { gradientForms } from './conv_gradients.js';
import type { OptimizerSettings } from './optimizer_update.js';
import type { ParamLayout, ParamSlot } from './params.js';
import type { DropoutInput, TrainingGraph } from './training_graph.js';

/**
 * Everything the training graph's bytes depend on, as JSON: the architecture (with the trainable set),
 * the batch size, loss, optimizer constants and the gradient-form settings.
 */
export function describeTrainingStep(model: LayersModel, options: { batchSize: number; loss: LossName; optimizer: OptimizerSettings | 'gradients' }): unknown {
  return {
    architecture: describeArchitecture(model),
    batchSize: options.batchSize,
    loss: options.loss,
    optimizer: options.optimizer,
    gradientForms: { ...gradientForms },
  };
}

/** A ParamSlot with its variable given as an index into model.weights. */
interface ParamRecord {
  weight: number;
  shapeOfWeight: number[];
  input: string;
  layout: ParamLayout;
  shape: number[];
  kerasShape: number[];
  trainable: boolean;
  stateOutput?: string;
}

/** TrainingGraph without its bytes, params by index into `params`. */
export interface TrainingGraphRecord {
  params: ParamRecord[];
  flat?: { offsets: [number, number][]; size: number; weightOutput: string; slotInputs: string[]; slotOutputs: string[] };
  flatOffsets: [number, number][];
  paramOutputs: [number, string[]][];
  dropout: DropoutInput[];
  stepScalars: string[];
  inputShape: number[];
  labelShape: number[];
  outputKind: 'softmax' | 'sigmoid';
}

export function trainingGraphRecord(graph: TrainingGraph, model: LayersModel): TrainingGraphRecord {
  const weightIndex = new Map(model.weights.map((w, i) => [w.id, i]));
  const paramIndex = new Map(graph.params.map((slot, i) => [slot, i]));
  const byIndex = <T>(entries: Iterable<[ParamSlot, T]>): [number, T][] => [...entries].map(([slot, value]) => [paramIndex.get(slot)!, value]);
  return {
    params: graph.params.map((slot) => {
      const weight = weightIndex.get(slot.variable.id);
      if (weight === undefined) throw new Error(`internal: '${slot.variable.name}' is not among the model's weights`);
      return { weight, shapeOfWeight: slot.variable.shape as number[], input: slot.input, layout: slot.layout, shape: slot.shape, kerasShape: slot.kerasShape, trainable: slot.trainable, stateOutput: slot.stateOutput };
    }),
    flat: graph.flat && { offsets: byIndex(graph.flat.offsets), size: graph.flat.size, weightOutput: graph.flat.weightOutput, slotInputs: graph.flat.slotInputs, slotOutputs: graph.flat.slotOutputs },
    flatOffsets: byIndex(graph.flatOffsets),
    paramOutputs: byIndex(graph.paramOutputs),
    dropout: graph.dropout,
    stepScalars: graph.stepScalars,
    inputShape: graph.inputShape,
    labelShape: graph.labelShape,
    outputKind: graph.outputKind,
  };
}

/**
 * The TrainingGraph of a record, its variables taken from `model` (same architecture: the key says so),
 * with `modelBytes` the cached optimised graph. Undefined when the record does not fit the model.
 */
export function trainingGraphFromRecord(record: TrainingGraphRecord, model: LayersModel, modelBytes: Uint8Array): TrainingGraph | undefined {
  const weights: tfl.LayerVariable[] = model.weights;
  const params: ParamSlot[] = [];
  for (const p of record.params) {
    const variable = weights[p.weight];
    if (!variable || JSON.stringify(variable.shape) !== JSON.stringify(p.shapeOfWeight)) return undefined;
    params.push({ variable, input: p.input, layout: p.layout, shape: p.shape, kerasShape: p.kerasShape, trainable: p.trainable, stateOutput: p.stateOutput });
  }
  const toMap = <T>(entries: [number, T][]): Map<ParamSlot, T> | undefined => {
    const map = new Map<ParamSlot, T>();
    for (const [index, value] of entries) {
      const slot = params[index];
      if (!slot) return undefined;
      map.set(slot, value);
    }
    return map;
  };
  const flatOffsets = toMap(record.flatOffsets);
  const paramOutputs = toMap(record.paramOutputs);
  const flatMap = record.flat && toMap(record.flat.offsets);
  if (!flatOffsets || !paramOutputs || (record.flat && !flatMap)) return undefined;
  return {
    modelBytes,
    params,
    flat: record.flat && { ...record.flat, offsets: flatMap! },
    flatOffsets,
    paramOutputs,
    dropout: record.dropout,
    stepScalars: record.stepScalars,
    inputShape: record.inputShape,
    labelShape: record.labelShape,
    outputKind: record.outputKind,
  };
}
