// Static int8 quantization of an ONNX model, bytes in, bytes out: the QDQ format onnxruntime's own
// quantize_static writes. Weights become int8 initializers (symmetric, one scale per output channel)
// read through DequantizeLinear; each activation tensor around a quantized op passes through a
// QuantizeLinear -> DequantizeLinear pair whose scale and zero point come from calibration. The model
// stays a float-in, float-out ONNX model that any runtime can run; onnxruntime's graph optimiser
// (level 'extended' or 'all') turns DQ -> Conv -> Q into QLinearConv, DQ -> Add -> Q into QLinearAdd
// and so on, which run as integer kernels.
//
// Only the ONNX format is assumed, not the exporter's internals: what is quantized is chosen by op type
// (Conv, Add, pools, Concat; Gemm / MatMul on request), anything else stays float between a DQ and a Q.
import { invalidArgument, TlkitError } from '../../core/errors.js';
import type { ProgressCallback } from '../../core/progress.js';
import type { OnnxTypes } from './graph_builder.js';
import {
  decodeModel,
  dimsOf,
  EditableGraph,
  floatTensor,
  floatValues,
  int32Tensor,
  int8Tensor,
  intAttribute,
  uint8Tensor,
} from './onnx_graph.js';
import { calibrateRanges, type CalibrationData, type CalibrationMethod, type TensorRange } from './quantize_calibration.js';
import { prepareForQuantization } from './quantize_prepare.js';
import { kAxisOrder, quantizeWeightValues } from './weight_quantization.js';

export type { CalibrationBatch, CalibrationData, CalibrationMethod, TensorRange } from './quantize_calibration.js';
export { CALIBRATION_METHODS } from './quantize_calibration.js';

export type ActivationType = 'uint8' | 'int8';

/** Every op of the model is outside the quantized set or kept in float by the options. */
export class NothingToQuantizeError extends TlkitError {
  constructor() {
    super('quantizeOnnx: the model has no op it can quantize (Conv, Add, pools, Concat, or Gemm/MatMul with quantizeDense) that the options do not keep in float');
  }
}

export interface QuantizeOnnxOptions {
  /** Preprocessed input batches the activation ranges are measured on (a sample of training images). */
  calibration: CalibrationData;
  /** 'minmax' (default) or 'percentile'. */
  calibrationMethod?: CalibrationMethod;
  /** For 'percentile': the share of values, in percent, each range keeps. Default 99.99. */
  percentile?: number;
  /**
   * Activations as uint8 (default; asymmetric: the zero point follows the range, the u8 x s8 kernels
   * of onnxruntime's CPU provider) or int8 (asymmetric too).
   */
  activationType?: ActivationType;
  /** One weight scale per output channel (default true), or one per tensor. */
  perChannel?: boolean;
  /**
   * Weights as int8 (zero point 0, default) or uint8 (zero point 128), both symmetric. onnxruntime runs
   * uint8 activations x int8 weights in its fast u8 x s8 kernels: on x86 CPUs without AVX-512 VNNI
   * (AVX2 only) those add pairs of products in saturating 16-bit arithmetic, which `saturationSafe`
   * rules out. uint8 weights run in its u8 x u8 kernels, which widen first and were no faster than
   * float32 here (docs/deployment-quantization.md).
   */
  weightType?: ActivationType;
  /**
   * 7-bit weights ([-63, 63]): onnxruntime's reduce_range, another way to keep its u8 x s8 kernels
   * from saturating, at twice the rounding step everywhere (MobileNetV2 lost 11.6 points with it,
   * against 0.6 with saturationSafe). Default false.
   */
  reduceRange?: boolean;
  /**
   * With int8 weights: limit each pair of neighbouring same-sign weights along the reduction axis so
   * that, times the largest codes their input channels reached in calibration, it fits in 16 bits:
   * onnxruntime's u8 x s8 kernels on CPUs without VNNI then do not saturate, and 8-bit steps stay
   * everywhere else (weight_quantization.ts). Default true; ignored for uint8 weights.
   */
  saturationSafe?: boolean;
  /**
   * Add to each quantized layer's bias the mean error its rounded weights make on the calibration
   * inputs (sum over K of weight error x the input channel's mean), so rounding and pair limits do
   * not shift the outputs on average. Default true.
   */
  biasCorrection?: boolean;
  /** Quantize Gemm / MatMul too (the classifier head of a tlkit model). Default false. */
  quantizeDense?: boolean;
  /**
   * Quantize the first Conv (the one reading the image) too. Default false here; quantizeModel (`tlkit
   * export`) quantizes it unless that costs more accuracy than allowed ('auto'). Measured on MobileNetV2:
   * 0.7 against 0.6 points lost with int8 weights and bias correction (1.6 against 0.9 with uint8 weights),
   * and the int8 model ~9% faster, since onnxruntime then drops the layout conversions around a float
   * first Conv (docs/deployment-quantization.md).
   */
  quantizeFirstConv?: boolean;
  /**
   * Nodes left in float: node names or output value names (the exporter names a layer's output after
   * the Keras layer, e.g. 'Conv1' for MobileNetV2's first convolution, 'dense_1' for a Dense head).
   */
  keepFloat?: readonly string[];
  /** onnxruntime threads for calibration. */
  threads?: number;
  onProgress?: ProgressCallback;
}

export interface QuantizationReport {
  /** Quantized nodes by op type, e.g. { Conv: 52, Add: 10 }. */
  quantized: Record<string, number>;
  /** Nodes left in float by op type (outside the quantized set or kept by `keepFloat`). */
  float: Record<string, number>;
  /** Names of the nodes `keepFloat` (or quantizeDense / quantizeFirstConv: false) kept in float. */
  keptFloat: string[];
  foldedBatchNorms: number;
  foldedPads: number;
  /** Relu / Clip nodes absorbed into the following QuantizeLinear (its range starts at zero). */
  fusedActivations: number;
  /** Activation tensors given a QuantizeLinear / DequantizeLinear pair. */
  quantizedTensors: number;
  calibrationMethod: CalibrationMethod;
  activationType: ActivationType;
  weightType: ActivationType;
  perChannel: boolean;
  reduceRange: boolean;
  saturationSafe: boolean;
  biasCorrection: boolean;
  /** Bytes of the model before and after. */
  bytesBefore: number;
  bytesAfter: number;
}

export interface QuantizedOnnx {
  model: Uint8Array;
  report: QuantizationReport;
}

const WEIGHTED = new Set(['Conv', 'Gemm', 'MatMul']);
const DENSE = new Set(['Gemm', 'MatMul']);
/** Ops whose quantized form takes quantized inputs and writes a quantized output with its own scale. */
const ACTIVATION_OPS = new Set(['Add', 'GlobalAveragePool', 'AveragePool', 'Concat']);
/** Ops that only move or pick values: the output keeps the input's scale, so onnxruntime runs them on the integers. */
const PASS_THROUGH = new Set(['MaxPool']);
/** Activations a quantized op absorbs when the QuantizeLinear after it clamps at zero anyway. */
const FUSABLE_ACTIVATIONS = new Set(['Relu', 'Clip']);

interface Plan {
  quantized: OnnxTypes.INodeProto[];
  /** Activation node -> the quantized node that absorbs it. */
  fused: Map<OnnxTypes.INodeProto, OnnxTypes.INodeProto>;
  /** Tensors that get a Q/DQ pair, in graph order. */
  tensors: string[];
  /** Output of a pass-through op -> the tensor whose scale it reuses. */
  sharedScale: Map<string, string>;
  keptFloat: string[];
}

interface QuantParams {
  scale: number;
  zeroPoint: number;
}

/** Quantizes a float ONNX model (e.g. exportOnnx's bytes) to QDQ int8, calibrated on `options.calibration`. */
export async function quantizeOnnx(modelBytes: Uint8Array, options: QuantizeOnnxOptions): Promise<QuantizedOnnx> {
  const activationType = options.activationType ?? 'uint8';
  if (activationType !== 'uint8' && activationType !== 'int8') throw invalidArgument('activationType', activationType, "'uint8' or 'int8'");
  const calibrationMethod = options.calibrationMethod ?? 'minmax';
  const perChannel = options.perChannel ?? true;
  const weightType = options.weightType ?? 'int8';
  if (weightType !== 'uint8' && weightType !== 'int8') throw invalidArgument('weightType', weightType, "'uint8' or 'int8'");
  const reduceRange = options.reduceRange ?? false;
  const saturationSafe = weightType === 'int8' && (options.saturationSafe ?? true);
  const biasCorrection = options.biasCorrection ?? true;

  const g = new EditableGraph(decodeModel(modelBytes));
  const opset = g.model.opsetImport?.find((o) => !o.domain)?.version;
  if (opset !== undefined && opset !== null && Number(opset) < 13) throw new TlkitError(`quantizeOnnx needs opset 13 or later (per-channel DequantizeLinear); the model has opset ${Number(opset)}`);
  const prepared = prepareForQuantization(g);
  const plan = planQuantization(g, options);
  if (plan.quantized.length === 0) throw new NothingToQuantizeError();

  const calibrated = plan.tensors.filter((t) => !plan.sharedScale.has(t));
  const ranges = await calibrateRanges(g.encode(), calibrated, options.calibration, {
    method: calibrationMethod,
    percentile: options.percentile,
    threads: options.threads,
    onProgress: options.onProgress,
    // How high each input channel's codes go sets the pair limit of the int8 weights reading it; its
    // mean, the bias correction.
    channelStatsOf: plan.quantized.filter((n) => WEIGHTED.has(n.opType!)).map((n) => n.input![0]),
  });
  const params = new Map<string, QuantParams>();
  for (const t of plan.tensors) {
    const source = rootOf(plan.sharedScale, t);
    if (!params.has(source)) params.set(source, activationParams(ranges.get(source)!, activationType));
    params.set(t, params.get(source)!);
  }
  const inputCodeMax = new Map<string, Float32Array>();
  const inputMean = new Map<string, Float32Array>();
  for (const [t, range] of ranges) {
    if (range.channelMax && saturationSafe && activationType === 'uint8') inputCodeMax.set(t, codeMaxima(range.channelMax, params.get(t)!));
    if (range.channelMean && biasCorrection) inputMean.set(t, range.channelMean);
  }
  const fusedActivations = rewrite(g, plan, params, { activationType, weightType, perChannel, reduceRange, saturationSafe, inputCodeMax, inputMean });
  const model = g.encode();
  return {
    model,
    report: {
      quantized: countBy(plan.quantized),
      float: countBy(g.nodes.filter((n) => !plan.quantized.includes(n) && n.opType !== 'QuantizeLinear' && n.opType !== 'DequantizeLinear')),
      keptFloat: plan.keptFloat,
      ...prepared,
      fusedActivations,
      quantizedTensors: plan.tensors.length,
      calibrationMethod,
      activationType,
      weightType,
      perChannel,
      reduceRange,
      saturationSafe,
      biasCorrection,
      bytesBefore: modelBytes.byteLength,
      bytesAfter: model.byteLength,
    },
  };
}

function rootOf(shared: Map<string, string>, tensor: string): string {
  let t = tensor;
  while (shared.has(t)) t = shared.get(t)!;
  return t;
}

function countBy(nodes: OnnxTypes.INodeProto[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of nodes) out[n.opType!] = (out[n.opType!] ?? 0) + 1;
  return out;
}

function planQuantization(g: EditableGraph, options: QuantizeOnnxOptions): Plan {
  const keep = new Set(options.keepFloat ?? []);
  const keptFloat: string[] = [];
  const isActivation = (name: string) => !g.initializers.has(name);
  const candidates: OnnxTypes.INodeProto[] = [];
  for (const n of g.nodes) {
    const op = n.opType!;
    const candidate =
      (WEIGHTED.has(op) && g.initializers.has(n.input![1]) && isActivation(n.input![0]) && (!n.input![2] || g.initializers.has(n.input![2])) && weightedSupported(n)) ||
      (op === 'Add' && n.input!.length === 2 && n.input!.every(isActivation)) ||
      ((ACTIVATION_OPS.has(op) || PASS_THROUGH.has(op)) && op !== 'Add' && n.input!.every(isActivation) && n.output!.length === 1);
    if (candidate) candidates.push(n);
  }

  // A quantized Conv / Add / Dense absorbs the Relu or ReLU6 right after it.
  const fused = new Map<OnnxTypes.INodeProto, OnnxTypes.INodeProto>();
  const outputOf = new Map<OnnxTypes.INodeProto, string>();
  for (const n of candidates) {
    let out = n.output![0];
    const users = g.consumers.get(out) ?? [];
    const act = users[0];
    if ((WEIGHTED.has(n.opType!) || n.opType === 'Add') && users.length === 1 && !g.isGraphOutput(out) && FUSABLE_ACTIVATIONS.has(act.opType!) && clampsAtZero(g, act)) {
      fused.set(act, n);
      g.addAlias(n, ...g.namesOf(act));
      out = act.output![0];
    }
    outputOf.set(n, out);
    // The exporter writes a Keras GlobalAveragePooling2D layer as GlobalAveragePool (to 'NAME_4d') and a
    // Flatten to 'NAME': the layer's name is the Flatten's, so `keepFloat: ['NAME']` must keep the pool.
    if (n.opType === 'GlobalAveragePool' && users.length === 1 && (users[0].opType === 'Flatten' || users[0].opType === 'Reshape')) g.addAlias(n, ...g.namesOf(users[0]));
  }

  const known = new Set(g.nodes.flatMap((n) => g.namesOf(n)));
  const unknown = [...keep].filter((k) => !known.has(k));
  if (unknown.length > 0) throw invalidArgument('keepFloat', unknown, `node or value names of the model (e.g. ${g.nodes.slice(1, 4).map((n) => n.output![0]).join(', ')})`);
  const quantized: OnnxTypes.INodeProto[] = [];
  const firstConv = g.nodes.find((n) => n.opType === 'Conv');
  for (const n of candidates) {
    if (g.namesOf(n).some((name) => keep.has(name)) || (DENSE.has(n.opType!) && !options.quantizeDense) || (n === firstConv && !options.quantizeFirstConv)) {
      keptFloat.push(n.name!);
      for (const [act, owner] of fused) if (owner === n) fused.delete(act);
      continue;
    }
    quantized.push(n);
  }

  const tensors: string[] = [];
  const seen = new Set<string>();
  const add = (t: string) => {
    if (!seen.has(t)) {
      seen.add(t);
      tensors.push(t);
    }
  };
  const sharedScale = new Map<string, string>();
  for (const n of quantized) {
    const activationInputs = WEIGHTED.has(n.opType!) ? [n.input![0]] : n.input!;
    for (const i of activationInputs) add(i);
    const out = outputOf.get(n)!;
    add(out);
    if (PASS_THROUGH.has(n.opType!)) sharedScale.set(out, n.input![0]);
  }
  return { quantized, fused, tensors, sharedScale, keptFloat };
}

function weightedSupported(n: OnnxTypes.INodeProto): boolean {
  if (n.opType !== 'Gemm') return true;
  // Gemm as a Dense layer: Y = X @ B + C, no transposed A, unit alpha and beta.
  const f = (name: string) => n.attribute?.find((a) => a.name === name)?.f ?? 1;
  return intAttribute(n, 'transA', 0) === 0 && f('alpha') === 1 && f('beta') === 1;
}

/** Relu, or Clip whose lower bound is 0 (ReLU6): a QuantizeLinear whose range starts at 0 does the same. */
function clampsAtZero(g: EditableGraph, act: OnnxTypes.INodeProto): boolean {
  if (act.opType === 'Relu') return true;
  const min = act.input![1] ? g.initializers.get(act.input![1]) : undefined;
  if (!min) return false;
  const values = floatValues(min);
  return values.length === 1 && values[0] === 0;
}

export function activationParams(range: TensorRange, type: ActivationType): QuantParams {
  // The range always holds 0, so 0.0 is exact (zero padding, ReLU's floor).
  const rmin = Math.min(range.min, 0);
  const rmax = Math.max(range.max, 0);
  const [qmin, qmax] = type === 'uint8' ? [0, 255] : [-128, 127];
  if (!(rmax > rmin)) return { scale: 1, zeroPoint: type === 'uint8' ? 0 : 0 };
  const scale = (rmax - rmin) / (qmax - qmin);
  const zeroPoint = Math.min(qmax, Math.max(qmin, Math.round(qmin - rmin / scale)));
  return { scale, zeroPoint };
}

/**
 * The largest uint8 code each channel reached in calibration. An image that drives a channel higher
 * can still saturate a pair; measured on MobileNetV2's held-out images, the integer kernels agreed with
 * the same model computed in float on 98.1% of them, as often as uint8 weights (which cannot saturate).
 */
function codeMaxima(channelMax: Float32Array, p: QuantParams): Float32Array {
  return Float32Array.from(channelMax, (m) => Math.min(255, p.zeroPoint + Math.ceil(Math.max(0, m) / p.scale)));
}

interface RewriteOptions {
  activationType: ActivationType;
  weightType: ActivationType;
  perChannel: boolean;
  reduceRange: boolean;
  saturationSafe: boolean;
  /** Per-channel largest uint8 code of weighted ops' inputs, by tensor name (codeMaxima). */
  inputCodeMax: Map<string, Float32Array>;
  /** Per-channel calibration mean of weighted ops' inputs, by tensor name, for bias correction. */
  inputMean: Map<string, Float32Array>;
}

/** Inserts the Q/DQ pairs and the int8 weights; returns the number of activations absorbed. */
function rewrite(g: EditableGraph, plan: Plan, params: Map<string, QuantParams>, options: RewriteOptions): number {
  // Absorb fused activations: the quantized op writes the activation's output directly.
  for (const [act, owner] of plan.fused) owner.output = [act.output![0]];
  const kept = g.nodes.filter((n) => !plan.fused.has(n));

  const pairs = new Map<string, string>(); // tensor -> its dequantized name
  const scaleNames = new Map<string, [string, string]>();
  const activationScale = (t: string): [string, string] => {
    let names = scaleNames.get(t);
    if (!names) {
      const p = params.get(t)!;
      const zp = options.activationType === 'uint8' ? uint8Tensor(`${t}/zero_point`, Uint8Array.of(p.zeroPoint), []) : int8Tensor(`${t}/zero_point`, Int8Array.of(p.zeroPoint), []);
      names = [g.addInitializer(floatTensor(`${t}/scale`, Float32Array.of(p.scale), [])), g.addInitializer(zp)];
      scaleNames.set(t, names);
    }
    return names;
  };
  const qdqNodes = (t: string): OnnxTypes.INodeProto[] => {
    const [scale, zp] = activationScale(t);
    const q = g.uniqueName(`${t}/quantized`);
    const dq = g.uniqueName(`${t}/dequantized`);
    pairs.set(t, dq);
    return [
      { opType: 'QuantizeLinear', name: g.uniqueName(`${t}/QuantizeLinear`), input: [t, scale, zp], output: [q] },
      { opType: 'DequantizeLinear', name: g.uniqueName(`${t}/DequantizeLinear`), input: [q, scale, zp], output: [dq] },
    ];
  };
  const wanted = new Set(plan.tensors);
  const out: OnnxTypes.INodeProto[] = [];
  for (const input of g.graph.input ?? []) if (wanted.has(input.name!)) out.push(...qdqNodes(input.name!));
  const quantized = new Set(plan.quantized);
  for (const n of kept) {
    if (quantized.has(n) && WEIGHTED.has(n.opType!)) out.push(...weightNodes(g, n, params.get(n.input![0])!, options));
    out.push(n);
    for (const o of n.output ?? []) if (wanted.has(o)) out.push(...qdqNodes(o));
  }
  // Every reader of a quantized tensor reads its dequantized value, float readers included: the
  // model then computes what calibration and the accuracy check measured.
  for (const n of out) {
    if (n.opType === 'QuantizeLinear') continue;
    n.input = n.input!.map((i) => pairs.get(i) ?? i);
  }
  for (const o of g.graph.output ?? []) if (pairs.has(o.name!)) throw new Error(`internal: graph output ${o.name} would be quantized`);
  g.nodes = out;
  g.pruneInitializers();
  g.refresh();
  return plan.fused.size;
}

/** DequantizeLinear nodes for a weighted node's int8 weight and int32 bias; rewires the node to them. */
function weightNodes(g: EditableGraph, n: OnnxTypes.INodeProto, input: QuantParams, options: RewriteOptions): OnnxTypes.INodeProto[] {
  const weight = g.initializers.get(n.input![1])!;
  const dims = dimsOf(weight);
  const w = floatValues(weight);
  // Output channels: Conv [M, C/group, kh, kw] axis 0; Gemm B [K, N] (transB 0) axis 1, [N, K] axis 0; MatMul [K, N] axis 1.
  const axis = n.opType === 'Conv' ? 0 : n.opType === 'Gemm' && intAttribute(n, 'transB', 0) === 1 ? 0 : dims.length - 1;
  // onnxruntime's QGemm / MatMul integer fusions take one weight scale: Dense layers get per-tensor scales.
  const perChannel = options.perChannel && n.opType === 'Conv';
  const channels = perChannel ? dims[axis] : 1;
  const order = kAxisOrder(n, dims);
  const { q: signed, scales } = quantizeWeightValues(w, order, perChannel, {
    qmax: options.reduceRange ? 63 : 127,
    // Only onnxruntime's u8 x s8 GEMM adds products in pairs; a depthwise Conv (one input channel per
    // group) runs in its own kernel, which widens to 16 bits before multiplying.
    pairSafe: options.weightType === 'int8' && options.saturationSafe && !(n.opType === 'Conv' && dims[1] === 1 && intAttribute(n, 'group', 1) > 1),
    inputCodeMax: options.inputCodeMax.get(n.input![0]),
  });
  // Symmetric either way: uint8 weights are int8 ones shifted by a zero point of 128.
  const offset = options.weightType === 'uint8' ? 128 : 0;
  const q = options.weightType === 'uint8' ? Uint8Array.from(signed, (v) => v + 128) : signed;
  const scaleDims = perChannel ? [channels] : [];
  const base = n.input![1];
  const qName = g.addInitializer(q instanceof Uint8Array ? uint8Tensor(`${base}/quantized`, q, dims) : int8Tensor(`${base}/quantized`, q, dims));
  const sName = g.addInitializer(floatTensor(`${base}/scale`, scales, scaleDims));
  const zeros = q instanceof Uint8Array ? uint8Tensor(`${base}/zero_point`, new Uint8Array(channels).fill(offset), scaleDims) : int8Tensor(`${base}/zero_point`, new Int8Array(channels), scaleDims);
  const zName = g.addInitializer(zeros);
  const axisAttr = perChannel ? [{ name: 'axis', type: 2, i: axis }] : [];
  const dqWeight = g.uniqueName(`${base}/dequantized`);
  const nodes: OnnxTypes.INodeProto[] = [{ opType: 'DequantizeLinear', name: g.uniqueName(`${base}/DequantizeLinear`), input: [qName, sName, zName], output: [dqWeight], attribute: axisAttr }];
  const inputs = [n.input![0], dqWeight];
  const biasName = n.input![2];
  if (biasName) {
    const bias = Float32Array.from(floatValues(g.initializers.get(biasName)!));
    const mean = options.inputMean.get(n.input![0]);
    if (mean) {
      order.forEach(({ index, inputChannel }, o) => {
        const scale = scales[perChannel ? o : 0];
        let shift = 0;
        for (let k = 0; k < index.length; k++) shift += (w[index[k]] - signed[index[k]] * scale) * mean[inputChannel[k]];
        bias[o] += shift;
      });
    }
    // int32 bias at scale input_scale * weight_scale: what the integer accumulator adds it to.
    const biasScales = Float32Array.from({ length: perChannel ? bias.length : 1 }, (_, c) => input.scale * scales[perChannel ? c : 0]);
    const qb = Int32Array.from(bias, (b, c) => Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, Math.round(b / biasScales[perChannel ? c : 0]))));
    const bq = g.addInitializer(int32Tensor(`${biasName}/quantized`, qb, [bias.length]));
    const bs = g.addInitializer(floatTensor(`${biasName}/scale`, biasScales, perChannel ? [bias.length] : []));
    const bz = g.addInitializer(int32Tensor(`${biasName}/zero_point`, new Int32Array(perChannel ? bias.length : 1), perChannel ? [bias.length] : []));
    const dqBias = g.uniqueName(`${biasName}/dequantized`);
    nodes.push({ opType: 'DequantizeLinear', name: g.uniqueName(`${biasName}/DequantizeLinear`), input: [bq, bs, bz], output: [dqBias], attribute: perChannel ? [{ name: 'axis', type: 2, i: 0 }] : [] });
    inputs.push(dqBias);
  }
  n.input = inputs;
  return nodes;
}

/** How many initializers of each ONNX data type a model holds (a quantized model has INT8 ones). */
export function initializerTypes(modelBytes: Uint8Array): Record<string, number> {
  const model = decodeModel(modelBytes);
  const out: Record<string, number> = {};
  for (const t of model.graph?.initializer ?? []) {
    const name = Object.entries(onnxDataTypes).find(([, v]) => v === t.dataType)?.[0] ?? String(t.dataType);
    out[name] = (out[name] ?? 0) + 1;
  }
  return out;
}

const onnxDataTypes: Record<string, number> = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7 };
