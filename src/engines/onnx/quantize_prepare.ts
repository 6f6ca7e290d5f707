// Float rewrites that come before quantization, each exact up to float rounding:
// - BatchNormalization after a Conv folded into the Conv's weights and bias (the int8 weights must be
//   the folded ones: onnxruntime cannot fold a BatchNorm into a Conv whose weights are dequantized);
// - a constant zero Pad before a Conv (Keras ZeroPadding2D) moved into the Conv's `pads`, so the Conv's
//   input is the one quantized tensor and QLinearConv pads with the zero point, which stands for 0.0;
// - a two-input Sum (the exporter's Keras Add) as Add, the op onnxruntime fuses into QLinearAdd.
import type { OnnxTypes } from './graph_builder.js';
import { dimsOf, EditableGraph, floatTensor, floatValues, int64Values, intsAttribute, setIntsAttribute, stringAttribute, attribute } from './onnx_graph.js';

export interface PrepareReport {
  foldedBatchNorms: number;
  foldedPads: number;
}

export function prepareForQuantization(g: EditableGraph): PrepareReport {
  const foldedBatchNorms = foldBatchNorms(g);
  const foldedPads = foldPads(g);
  for (const n of g.nodes) if (n.opType === 'Sum' && n.input?.length === 2) n.opType = 'Add';
  g.pruneInitializers();
  g.refresh();
  return { foldedBatchNorms, foldedPads };
}

function onlyConsumer(g: EditableGraph, value: string): OnnxTypes.INodeProto | undefined {
  const users = g.consumers.get(value) ?? [];
  return users.length === 1 && !g.isGraphOutput(value) ? users[0] : undefined;
}

function foldBatchNorms(g: EditableGraph): number {
  const removed = new Set<OnnxTypes.INodeProto>();
  for (const conv of g.nodes) {
    if (conv.opType !== 'Conv') continue;
    const bn = onlyConsumer(g, conv.output![0]);
    if (!bn || bn.opType !== 'BatchNormalization' || bn.output!.length !== 1) continue;
    const [, gammaName, betaName, meanName, varName] = bn.input!;
    const params = [gammaName, betaName, meanName, varName].map((n) => g.initializers.get(n));
    const weight = g.initializers.get(conv.input![1]);
    const bias = conv.input![2] ? g.initializers.get(conv.input![2]) : undefined;
    if (!weight || params.some((p) => !p) || (conv.input![2] && !bias)) continue;
    const [gamma, beta, mean, variance] = params.map((p) => floatValues(p!));
    const epsilon = attribute(bn, 'epsilon')?.f ?? 1e-5;
    const dims = dimsOf(weight);
    const w = floatValues(weight);
    const outChannels = dims[0];
    const perChannel = w.length / outChannels;
    const b = bias ? floatValues(bias) : new Float32Array(outChannels);
    const foldedW = new Float32Array(w.length);
    const foldedB = new Float32Array(outChannels);
    for (let c = 0; c < outChannels; c++) {
      const factor = gamma[c] / Math.sqrt(variance[c] + epsilon);
      for (let k = 0; k < perChannel; k++) foldedW[c * perChannel + k] = w[c * perChannel + k] * factor;
      foldedB[c] = (b[c] - mean[c]) * factor + beta[c];
    }
    const wName = g.addInitializer(floatTensor(`${weight.name}_folded`, foldedW, dims));
    const bName = g.addInitializer(floatTensor(`${bn.output![0]}/bias_folded`, foldedB, [outChannels]));
    conv.input = [conv.input![0], wName, bName];
    g.addAlias(conv, conv.output![0], bn.name ?? '');
    conv.output = [bn.output![0]];
    removed.add(bn);
  }
  g.nodes = g.nodes.filter((n) => !removed.has(n));
  g.refresh();
  return removed.size;
}

function foldPads(g: EditableGraph): number {
  const removed = new Set<OnnxTypes.INodeProto>();
  for (const pad of g.nodes) {
    if (pad.opType !== 'Pad') continue;
    const conv = onlyConsumer(g, pad.output![0]);
    if (!conv || conv.opType !== 'Conv') continue;
    if ((stringAttribute(pad, 'mode') ?? 'constant') !== 'constant') continue;
    const autoPad = stringAttribute(conv, 'auto_pad');
    if (autoPad && autoPad !== 'NOTSET') continue;
    const padsInit = g.initializers.get(pad.input![1]);
    if (!padsInit) continue;
    const value = pad.input![2] ? g.initializers.get(pad.input![2]) : undefined;
    if (pad.input![2] && (!value || floatValues(value).some((v) => v !== 0))) continue;
    if (pad.input![3]) continue; // axes given: not the exporter's form
    const pads = int64Values(padsInit);
    if (pads.length !== 8 || pads[0] || pads[1] || pads[4] || pads[5] || pads.some((p) => p < 0)) continue;
    const convPads = intsAttribute(conv, 'pads') ?? [0, 0, 0, 0];
    setIntsAttribute(conv, 'pads', [convPads[0] + pads[2], convPads[1] + pads[3], convPads[2] + pads[6], convPads[3] + pads[7]]);
    conv.input = [pad.input![0], ...conv.input!.slice(1)];
    g.addAlias(conv, pad.output![0]);
    removed.add(pad);
  }
  g.nodes = g.nodes.filter((n) => !removed.has(n));
  g.refresh();
  return removed.size;
}
