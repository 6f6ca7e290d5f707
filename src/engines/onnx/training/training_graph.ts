// Builds the ONNX graph of one training step of a tfjs-layers functional model: forward (weights as
// graph inputs), loss, backward (reverse order over the traced layer calls, gradients summed where a
// value fans out), and either the optimizer update or the raw gradients as outputs.
import { TlkitError } from '../../../core/errors.js';
import type { LossName } from '../../../core/names.js';
import type { tfl } from '../../tfjs/tf.js';
import { onnx, OnnxGraphBuilder, type OnnxTypes, type OnnxValue } from '../graph_builder.js';
import type { LayersModel } from '../model_graph.js';
import { emitLoss } from './loss.js';
import { NCHWC_DOMAIN } from './nchwc.js';
import { Ops } from './ops.js';
import { emitUpdate, slotNames, stepScalarNames, type OptimizerSettings } from './optimizer_update.js';
import { onnxShape, type ParamLayout, type ParamSlot } from './params.js';
import { gradientForms } from './conv_gradients.js';
import { getLayerTable, trainableLayerClasses, UnsupportedLayer, type Backward, type FoldedNorm, type ParamHandle, type RuleContext } from '../layers/index.js';
import { traceModel, type LayerCall } from './trace.js';

export const TRAINING_OPSET = 17;
const IR_VERSION = 8;

export interface TrainingGraphOptions {
  batchSize: number;
  loss: LossName;
  /** The update to emit, or 'gradients' to output dL/dw of every trainable weight instead. */
  optimizer: OptimizerSettings | 'gradients';
}

export interface FlatUpdate {
  offsets: Map<ParamSlot, number>;
  size: number;
  weightOutput: string;
  slotInputs: string[];
  slotOutputs: string[];
}

export interface DropoutInput {
  input: string;
  shape: number[];
  rate: number;
}

export interface TrainingGraph {
  modelBytes: Uint8Array;
  /** Every weight the graph reads, in graph-input order. */
  params: ParamSlot[];
  /** The flat update (absent in 'gradients' mode). */
  flat?: FlatUpdate;
  /** Offset of each trainable weight in the flat vector of all trainable weights (graph order). */
  flatOffsets: Map<ParamSlot, number>;
  /** Output names: per state param its new value; in 'gradients' mode, per trainable param [gradient]. */
  paramOutputs: Map<ParamSlot, string[]>;
  dropout: DropoutInput[];
  stepScalars: string[];
  inputShape: number[];
  labelShape: number[];
  /** The model output's kind (decides how labels are encoded). */
  outputKind: 'softmax' | 'sigmoid';
}

export const GRAPH_NAMES = { x: 'x', labels: 'labels', sampleWeight: 'sample_weight', loss: 'loss', output: 'predictions' } as const;

/** A BatchNormalization layer that normalises with its batch's statistics, and the graph values holding them. */
export interface BatchStatisticsOutput {
  layer: tfl.layers.Layer;
  mean: string;
  variance: string;
  channels: number;
}

/** The forward pass of the model that outputs the batch statistics of its BatchNorm layers in training mode. */
export interface BatchStatisticsGraph {
  modelBytes: Uint8Array;
  /** Every weight the graph reads, in graph-input order. */
  params: ParamSlot[];
  dropout: DropoutInput[];
  inputShape: number[];
  /** Per BatchNorm layer in training mode (not frozen), its output names: batch mean and biased batch variance, [C]. */
  layers: BatchStatisticsOutput[];
}

/**
 * The forward pass alone, each BatchNormalization layer that is not frozen normalising with its batch's
 * statistics (as in training) and every other layer in inference mode (feed dropout masks of ones):
 * outputs the batch mean and variance of those layers, for BatchNorm recalibration.
 */
export function buildBatchStatisticsGraph(model: LayersModel, batchSize: number): BatchStatisticsGraph {
  const { builder, params, dropout, batchStatistics, graphInputs, graphOutputs, inputShape } = emitForward(model, batchSize);
  const layers = batchStatistics.map((b, i) => {
    const out = (value: string, name: string): string => {
      const outName = builder.reserve(name);
      builder.node('Identity', [value], outName, {}, [outName]);
      graphOutputs.push(valueInfo(outName, [b.channels]));
      return outName;
    };
    return { layer: b.layer, channels: b.channels, mean: out(b.mean, `bn${i}_${b.layer.name}:mean`), variance: out(b.variance, `bn${i}_${b.layer.name}:variance`) };
  });
  const proto = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    producerName: 'tlkit',
    opsetImport: [{ domain: '', version: TRAINING_OPSET }, ...(builder.nodes.some((n) => n.domain === NCHWC_DOMAIN) ? [{ domain: NCHWC_DOMAIN, version: 1 }] : [])],
    graph: { name: `${model.name}_batch_statistics`, node: builder.nodes, initializer: builder.initializers, input: graphInputs, output: graphOutputs },
  });
  return { modelBytes: onnx.ModelProto.encode(proto).finish(), params: [...params.values()], dropout, inputShape, layers };
}

/** The forward pass of every traced layer call, with what the backward pass and the outputs need. */
function emitForward(model: LayersModel, n: number) {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new UnsupportedLayer(`the model has ${model.inputs.length} inputs and ${model.outputs.length} outputs (one of each is compiled)`);
  }
  const builder = new OnnxGraphBuilder();
  const o = new Ops(builder);
  const traced = traceModel(model);
  const trainableIds = new Set(model.trainableWeights.map((w) => w.id));

  const graphInputs: OnnxTypes.IValueInfoProto[] = [];
  const graphOutputs: OnnxTypes.IValueInfoProto[] = [];
  const addInput = (name: string, shape: number[]): string => {
    builder.reserve(name);
    graphInputs.push(valueInfo(name, shape));
    return name;
  };

  const inputShape = [n, ...(model.inputs[0].shape.slice(1) as number[])];
  if (inputShape.some((d) => d === null || d === undefined)) throw new UnsupportedLayer(`input shape ${JSON.stringify(model.inputs[0].shape)} has unknown dims`);
  const values = new Map<number, OnnxValue>();
  values.set(traced.inputs[0], { name: addInput(GRAPH_NAMES.x, inputShape), shape: inputShape, layout: 'native' });

  // Which values depend on a trainable weight: only those need gradients.
  const needsGrad = new Set<number>();
  for (const call of traced.calls) {
    const ownTrainable = call.layer.trainableWeights.some((w) => trainableIds.has(w.id));
    if (ownTrainable || call.inputs.some((k) => needsGrad.has(k))) call.outputs.forEach((k) => needsGrad.add(k));
  }

  const folded = foldablePaddings(traced);
  const foldedNorms = gradientForms.foldFrozenBatchNorm === 'auto' ? foldableBatchNorms(traced, trainableIds) : new Map<LayerCall, LayerCall>();
  const normsFolded = new Set(foldedNorms.values());

  const params = new Map<tfl.LayerVariable, ParamSlot>();
  const paramGradParts = new Map<ParamSlot, string[]>();
  const dropout: DropoutInput[] = [];
  const logits = new Map<string, { logits: OnnxValue; kind: 'softmax' | 'sigmoid' }>();
  const logitGrads = new Map<string, OnnxValue>();
  const backwards: { backward: Backward; inputs: number[]; outputs: number[] }[] = [];
  const batchStatistics: BatchStatisticsOutput[] = [];

  /** The graph input of `owner`'s weight in `field` (created on first use). */
  const readParam = (owner: tfl.layers.Layer, field: string, layout: ParamLayout): ParamHandle | undefined => {
    const variable = variableOf(owner, field);
    if (!variable) return undefined;
    let slot = params.get(variable);
    if (!slot) {
      const kerasShape = variable.shape as number[];
      const shape = onnxShape(kerasShape, layout);
      const input = addInput(`w${params.size}_${variable.name}`.replace(/[^A-Za-z0-9_./:-]/g, '_'), shape);
      slot = { variable, input, layout, shape, kerasShape, trainable: trainableIds.has(variable.id) };
      params.set(variable, slot);
    }
    return { name: slot.input, trainable: slot.trainable };
  };
  const foldedNormOf = (norm: tfl.layers.Layer): FoldedNorm => ({
    param: (field) => readParam(norm, field, 'plain'),
    epsilon: norm.getConfig().epsilon as number ?? 1e-3,
    name: norm.name,
  });

  for (const call of traced.calls) {
    const layer = call.layer;
    const className = layer.getClassName();
    if (className === 'InputLayer') continue;
    if (folded.skip.has(call) || normsFolded.has(call)) {
      // The padding happens inside the consuming convolution (its pads), the frozen BatchNorm inside the
      // convolution before it (foldedNorm); the value passes through.
      values.set(call.outputs[0], values.get(call.inputs[0])!);
      backwards.push({ backward: (dys, need) => [need[0] ? dys[0] : undefined], inputs: call.inputs, outputs: call.outputs });
      continue;
    }
    const rule = getLayerTable(className)?.gradient;
    if (!rule) throw new UnsupportedLayer(`layer '${layer.name}' (${className}) has no training rule; trainable classes: ${trainableLayerClasses().join(', ')}`);
    const layerConfig = layer.getConfig();
    for (const key of ['kernelRegularizer', 'biasRegularizer', 'activityRegularizer', 'depthwiseRegularizer', 'pointwiseRegularizer', 'betaRegularizer', 'gammaRegularizer']) {
      if (layerConfig[key]) throw new UnsupportedLayer(`layer '${layer.name}' (${className}) has ${key} (regularisation losses are not compiled)`);
    }
    const own = layer.trainableWeights;
    const frozen = !layer.trainable || (own.length > 0 && own.every((w) => !trainableIds.has(w.id)));
    const fieldVariable = (field: string): tfl.LayerVariable | undefined => variableOf(layer, field);
    const slotOf = (field: string): ParamSlot => {
      const variable = fieldVariable(field);
      const slot = variable && params.get(variable);
      if (!slot) throw new Error(`internal: '${layer.name}.${field}' was not read as a param`);
      return slot;
    };
    const context: RuleContext = {
      builder,
      ops: o,
      layer,
      config: layer.getConfig(),
      inputs: call.inputs.map((k) => {
        const v = values.get(k);
        if (!v) throw new Error(`internal: value ${k} used before it was computed`);
        return v;
      }),
      outputShapes: call.outputShapes.map((s) => [n, ...(s.slice(1) as number[])]),
      frozen,
      inputPadding: folded.pads.get(call),
      foldedNorm: foldedNorms.has(call) ? foldedNormOf(foldedNorms.get(call)!.layer) : undefined,
      param: (field: string, layout: ParamLayout = 'plain') => readParam(layer, field, layout),
      // The weights are graph inputs, fed each step: nothing to fold at build time.
      weight: (field, layout) => readParam(layer, field, layout)?.name,
      constant: () => undefined,
      blockedDepthwise: true,
      paramGrad(field, grad) {
        const slot = slotOf(field);
        const parts = paramGradParts.get(slot) ?? [];
        parts.push(grad);
        paramGradParts.set(slot, parts);
      },
      stateUpdate(field, value) {
        slotOf(field).stateOutput = value;
      },
      batchStatistics(mean, variance, channels) {
        batchStatistics.push({ layer, mean, variance, channels });
      },
      dropoutMask(shape, rate) {
        const input = addInput(`dropout${dropout.length}_${layer.name}`, shape);
        dropout.push({ input, shape, rate });
        return input;
      },
      registerLogits(y, x, kind) {
        logits.set(y.name, { logits: x, kind });
      },
      logitGrad(y) {
        return logitGrads.get(y.name);
      },
    };
    let result;
    try {
      result = rule(context);
    } catch (error) {
      if (error instanceof UnsupportedLayer) throw new UnsupportedLayer(`layer '${layer.name}' (${className}): ${error.message}`);
      throw error;
    }
    call.outputs.forEach((k, i) => values.set(k, { ...result.outputs[i], shape: context.outputShapes[i] }));
    backwards.push({ backward: result.backward, inputs: call.inputs, outputs: call.outputs });
  }

  return { builder, o, traced, values, params, paramGradParts, dropout, logits, logitGrads, backwards, needsGrad, graphInputs, graphOutputs, addInput, inputShape, batchStatistics };
}

export function buildTrainingGraph(model: LayersModel, options: TrainingGraphOptions): TrainingGraph {
  const n = options.batchSize;
  const { builder, o, traced, values, params, paramGradParts, dropout, logits, logitGrads, backwards, needsGrad, graphInputs, graphOutputs, addInput, inputShape } = emitForward(model, n);

  // Loss on the output.
  const output = builder.toLayout(values.get(traced.outputs[0])!, 'native');
  const outputInfo = logits.get(values.get(traced.outputs[0])!.name);
  if (!outputInfo) throw new UnsupportedLayer(`the model output must come from a softmax or sigmoid activation (cross-entropy losses on probabilities)`);
  const units = output.shape[1] as number;
  const labelShape = [n, units];
  const labels = addInput(GRAPH_NAMES.labels, labelShape);
  const sampleWeight = addInput(GRAPH_NAMES.sampleWeight, [n]);
  const lossNodes = emitLoss(o, options.loss, outputInfo.kind, output, labels, sampleWeight, n);
  logitGrads.set(values.get(traced.outputs[0])!.name, lossNodes.logitGrad);
  builder.node('Identity', [lossNodes.loss], GRAPH_NAMES.loss, {}, [builder.reserve(GRAPH_NAMES.loss)]);
  graphOutputs.push(valueInfo(GRAPH_NAMES.loss, []));
  // The predictions, for the training loop's accuracy.
  builder.node('Identity', [output.name], GRAPH_NAMES.output, {}, [builder.reserve(GRAPH_NAMES.output)]);
  graphOutputs.push(valueInfo(GRAPH_NAMES.output, labelShape));

  // Backward, in reverse call order. The model output is seeded by the loss (its activation returns
  // dL/dlogits), so its incoming gradient is a placeholder that no rule reads.
  const gradParts = new Map<number, OnnxValue[]>();
  const seed: OnnxValue = { ...values.get(traced.outputs[0])!, name: '' };
  gradParts.set(traced.outputs[0], [seed]);
  const gradientOf = (key: number): OnnxValue | undefined => {
    const parts = gradParts.get(key);
    if (!parts || parts.length === 0) return undefined;
    const target = values.get(key)!;
    if (parts.length === 1 && parts[0].name === '') return parts[0];
    const aligned = parts.map((p) => builder.toLayout(p, target.layout));
    if (aligned.length === 1) return aligned[0];
    return { ...target, name: o.op('Sum', aligned.map((p) => p.name), `grad_sum_${key}`) };
  };
  for (let i = backwards.length - 1; i >= 0; i--) {
    const { backward, inputs, outputs } = backwards[i];
    const dys = outputs.map(gradientOf);
    if (dys.every((d) => d === undefined)) continue;
    const need = inputs.map((k) => needsGrad.has(k));
    const dxs = backward(dys, need);
    inputs.forEach((k, j) => {
      const dx = dxs[j];
      if (!need[j] || !dx) return;
      const list = gradParts.get(k) ?? [];
      list.push(dx);
      gradParts.set(k, list);
    });
  }

  // Outputs. The optimizer updates every trainable weight at once on one flat vector (weights, gradients
  // and slots concatenated): a few large elementwise ops instead of ~10 tiny ones per weight, and three
  // outputs instead of three per weight. Updated state (BN statistics) and, in 'gradients' mode, the
  // per-weight gradients are outputs of their own.
  const paramOutputs = new Map<ParamSlot, string[]>();
  const stepScalars = options.optimizer === 'gradients' ? [] : stepScalarNames(options.optimizer).map((name) => addInput(name, []));
  const flatOffsets = new Map<ParamSlot, number>();
  const flatWeights: string[] = [];
  const flatGrads: string[] = [];
  let flatSize = 0;
  let index = 0;
  const addOutput = (value: string, name: string, shape: number[]): string => {
    const outName = builder.reserve(name);
    builder.node('Identity', [value], outName, {}, [outName]);
    graphOutputs.push(valueInfo(outName, shape));
    return outName;
  };
  for (const slot of params.values()) {
    const hint = `p${index++}`;
    if (slot.trainable) {
      const parts = paramGradParts.get(slot);
      if (!parts || parts.length === 0) throw new TlkitError(`internal: trainable weight '${slot.variable.name}' got no gradient`);
      const grad = parts.length === 1 ? parts[0] : o.op('Sum', parts, `${hint}_grad_sum`);
      slot.grad = grad;
      const size = slot.shape.reduce((a, b) => a * b, 1);
      flatOffsets.set(slot, flatSize);
      flatSize += size;
      if (options.optimizer === 'gradients') {
        paramOutputs.set(slot, [addOutput(grad, `${slot.input}:grad`, slot.shape)]);
      } else {
        flatWeights.push(o.reshape(slot.input, [size], `${hint}_flat`));
        flatGrads.push(o.reshape(grad, [size], `${hint}_grad_flat`));
      }
    } else if (slot.stateOutput) {
      paramOutputs.set(slot, [addOutput(slot.stateOutput, `${slot.input}:state`, slot.shape)]);
    }
  }
  let flat: FlatUpdate | undefined;
  if (options.optimizer !== 'gradients' && flatSize > 0) {
    const weights = flatWeights.length === 1 ? flatWeights[0] : o.op('Concat', flatWeights, 'all_weights', { axis: 0 });
    const grads = flatGrads.length === 1 ? flatGrads[0] : o.op('Concat', flatGrads, 'all_grads', { axis: 0 });
    const slotInputs = slotNames(options.optimizer).map((name) => addInput(`optimizer_${name}`, [flatSize]));
    const [newWeights, ...newSlots] = emitUpdate(o, options.optimizer, weights, grads, slotInputs, 'update');
    flat = {
      offsets: flatOffsets,
      size: flatSize,
      weightOutput: addOutput(newWeights, 'updated_weights', [flatSize]),
      slotInputs,
      slotOutputs: newSlots.map((v, i) => addOutput(v, `updated_optimizer_${slotNames(options.optimizer as OptimizerSettings)[i]}`, [flatSize])),
    };
  }

  const proto = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    producerName: 'tlkit',
    opsetImport: [{ domain: '', version: TRAINING_OPSET }, ...(builder.nodes.some((n) => n.domain === NCHWC_DOMAIN) ? [{ domain: NCHWC_DOMAIN, version: 1 }] : [])],
    graph: {
      name: `${model.name}_training_step`,
      node: builder.nodes,
      initializer: builder.initializers,
      input: graphInputs,
      output: graphOutputs,
    },
  });
  return {
    modelBytes: onnx.ModelProto.encode(proto).finish(),
    params: [...params.values()],
    flat,
    flatOffsets,
    paramOutputs,
    dropout,
    stepScalars,
    inputShape,
    labelShape,
    outputKind: outputInfo.kind,
  };
}

const PADDED_CONVOLUTIONS = new Set(['Conv2D', 'DepthwiseConv2D', 'SeparableConv2D']);

/**
 * ZeroPadding2D layers whose only consumer is a 'valid' convolution (MobileNet, MobileNetV2, ResNet50,
 * EfficientNet stems and strided blocks): the convolution pads by itself, which saves a Pad pass over
 * the activation forward and a Slice backward.
 */
function foldablePaddings(traced: ReturnType<typeof traceModel>): { skip: Set<LayerCall>; pads: Map<LayerCall, [number, number, number, number]> } {
  const consumers = new Map<number, LayerCall[]>();
  for (const call of traced.calls) for (const k of call.inputs) consumers.set(k, [...(consumers.get(k) ?? []), call]);
  const skip = new Set<LayerCall>();
  const pads = new Map<LayerCall, [number, number, number, number]>();
  for (const call of traced.calls) {
    if (call.layer.getClassName() !== 'ZeroPadding2D' || traced.outputs.includes(call.outputs[0])) continue;
    const users = consumers.get(call.outputs[0]) ?? [];
    if (users.length !== 1) continue;
    const user = users[0];
    const config = user.layer.getConfig();
    if (!PADDED_CONVOLUTIONS.has(user.layer.getClassName()) || config.padding !== 'valid' || pads.has(user)) continue;
    if (config.dataFormat !== undefined && config.dataFormat !== 'channelsLast') continue;
    const [[top, bottom], [left, right]] = call.layer.getConfig().padding as [[number, number], [number, number]];
    skip.add(call);
    pads.set(user, [top, left, bottom, right]);
  }
  return { skip, pads };
}

function variableOf(layer: tfl.layers.Layer, field: string): tfl.LayerVariable | undefined {
  return (layer as unknown as Record<string, tfl.LayerVariable | null | undefined>)[field] ?? undefined;
}

const FOLDING_CONVOLUTIONS = new Set(['Conv2D', 'DepthwiseConv2D']);

/**
 * Convolution calls whose output only a frozen BatchNormalization over the channels reads (MobileNet,
 * MobileNetV2, ResNet50... fine-tuned with frozen BatchNorm, tlkit's default fine-tune phase), mapped to
 * that BatchNorm call. Inference-mode BatchNorm is a per-channel affine map, so it folds into the
 * convolution's weights and bias.
 */
function foldableBatchNorms(traced: ReturnType<typeof traceModel>, trainableIds: Set<number>): Map<LayerCall, LayerCall> {
  const consumers = new Map<number, LayerCall[]>();
  for (const call of traced.calls) for (const k of call.inputs) consumers.set(k, [...(consumers.get(k) ?? []), call]);
  const folds = new Map<LayerCall, LayerCall>();
  for (const call of traced.calls) {
    const config = call.layer.getConfig();
    if (!FOLDING_CONVOLUTIONS.has(call.layer.getClassName()) || (config.activation ?? 'linear') !== 'linear') continue;
    if (traced.outputs.includes(call.outputs[0])) continue;
    const users = consumers.get(call.outputs[0]) ?? [];
    if (users.length !== 1 || users[0].layer.getClassName() !== 'BatchNormalization') continue;
    const norm = users[0].layer;
    const axis = norm.getConfig().axis as number | number[] | undefined;
    const channelsLast = axis === undefined || axis === -1 || axis === 3 || (Array.isArray(axis) && axis.length === 1 && (axis[0] === -1 || axis[0] === 3));
    const frozen = !norm.trainable || norm.trainableWeights.every((w) => !trainableIds.has(w.id));
    if (!channelsLast || !frozen || norm.weights.some((w) => trainableIds.has(w.id))) continue;
    folds.set(call, users[0]);
  }
  return folds;
}

function valueInfo(name: string, shape: number[]): OnnxTypes.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: shape.map((d) => ({ dimValue: d })) } } },
  };
}

