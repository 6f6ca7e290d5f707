// Keras-style model summary, counted from weight shapes, plus a plain answer to the question the Keras
// lesson asks: what are the non-trainable params? (BatchNormalization moving statistics, and the weights
// of frozen layers.)
import { tfl } from '../engines/tfjs/tf.js';
import { weightKind } from './layer_weights.js';
import { formatCount } from '../core/format.js';

type Layer = tfl.layers.Layer;
type Shape = (number | null)[];

export interface LayerSummary {
  name: string;
  className: string;
  /** The layer's output shape with null for the batch axis; a list of shapes for multi-output layers. */
  outputShape: Shape | Shape[];
  params: number;
  /** False when the layer (or the model) is frozen. */
  trainable: boolean;
  /** Keras's "Connected to": 'layer[node][tensor]' for each input, in order. */
  connectedTo?: string[];
}

export interface NonTrainableGroup {
  /** e.g. 'BatchNormalization'. */
  layerClass: string;
  /** e.g. 'moving_mean', 'kernel'. */
  weightKind: string;
  /** How many layers hold such a weight. */
  layers: number;
  params: number;
  /** True for weights that would train but whose layer is frozen; false for weights that never train by gradient. */
  frozen: boolean;
}

export interface ModelSummary {
  name: string;
  totalParams: number;
  trainableParams: number;
  nonTrainableParams: number;
  layers: LayerSummary[];
  nonTrainableBreakdown: NonTrainableGroup[];
}

interface WeightRecord {
  variable: tfl.LayerVariable;
  owner: Layer;
  trainable: boolean;
  /** Created trainable (gradients could update it) — false for moving statistics. */
  trainableByDesign: boolean;
}

function size(shape: readonly (number | null)[]): number {
  return shape.reduce<number>((a, b) => a * (b ?? 1), 1);
}

function isContainer(layer: Layer): layer is tfl.LayersModel {
  return Array.isArray((layer as unknown as { layers?: unknown }).layers);
}

/** Every weight under `layer`, with trainable = every enclosing model, the owning layer and the weight are trainable. */
function collectWeights(layer: Layer, enclosingTrainable: boolean): WeightRecord[] {
  if (isContainer(layer)) return layer.layers.flatMap((sub) => collectWeights(sub, enclosingTrainable && layer.trainable));
  const internals = layer as unknown as { _trainableWeights?: tfl.LayerVariable[]; _nonTrainableWeights?: tfl.LayerVariable[] };
  const byDesign = internals._trainableWeights ?? layer.weights.filter((w) => w.trainable);
  const statistics = internals._nonTrainableWeights ?? layer.weights.filter((w) => !w.trainable);
  const on = enclosingTrainable && layer.trainable;
  return [
    ...byDesign.map((variable) => ({ variable, owner: layer, trainable: on && variable.trainable, trainableByDesign: true })),
    ...statistics.map((variable) => ({ variable, owner: layer, trainable: false, trainableByDesign: false })),
  ];
}

function outputShapeOf(layer: Layer): Shape | Shape[] {
  try {
    return layer.outputShape as Shape | Shape[];
  } catch {
    // A layer applied several times with different shapes has no single output shape.
    const nodes = (layer as unknown as { inboundNodes: { outputShapes: Shape | Shape[] }[] }).inboundNodes;
    return nodes[0]?.outputShapes ?? [];
  }
}

function connectionsOf(layer: Layer): string[] {
  const nodes = (layer as unknown as {
    inboundNodes: { inboundLayers: Layer[]; nodeIndices: number[]; tensorIndices: number[] }[];
  }).inboundNodes;
  return nodes.flatMap((node) => node.inboundLayers.map((inbound, i) => `${inbound.name}[${node.nodeIndices[i]}][${node.tensorIndices[i]}]`));
}

export function summarize(model: tfl.LayersModel): ModelSummary {
  const seen = new Set<number>();
  let totalParams = 0;
  let trainableParams = 0;
  const groups = new Map<string, { group: NonTrainableGroup; owners: Set<Layer> }>();
  const layers: LayerSummary[] = model.layers.map((layer) => {
    const records = collectWeights(layer, model.trainable);
    for (const r of records) {
      // A weight shared by two layers counts once in the totals, as in Keras.
      if (seen.has(r.variable.id)) continue;
      seen.add(r.variable.id);
      const n = size(r.variable.shape);
      totalParams += n;
      if (r.trainable) {
        trainableParams += n;
        continue;
      }
      const layerClass = r.owner.getClassName();
      const kind = weightKind(r.variable);
      const key = `${layerClass}\u0000${kind}\u0000${r.trainableByDesign}`;
      const entry = groups.get(key) ?? { group: { layerClass, weightKind: kind, layers: 0, params: 0, frozen: r.trainableByDesign }, owners: new Set<Layer>() };
      entry.owners.add(r.owner);
      entry.group.layers = entry.owners.size;
      entry.group.params += n;
      groups.set(key, entry);
    }
    const connectedTo = connectionsOf(layer);
    return {
      name: layer.name,
      className: layer.getClassName(),
      outputShape: outputShapeOf(layer),
      params: records.reduce((sum, r) => sum + size(r.variable.shape), 0),
      trainable: model.trainable && layer.trainable,
      ...(connectedTo.length > 0 ? { connectedTo } : {}),
    };
  });
  return {
    name: model.name,
    totalParams,
    trainableParams,
    nonTrainableParams: totalParams - trainableParams,
    layers,
    nonTrainableBreakdown: [...groups.values()].map((e) => e.group),
  };
}

export { formatCount };
function formatShape(shape: Shape | Shape[]): string {
  const one = (s: Shape): string => `(${s.map((d) => (d === null ? 'None' : String(d))).join(', ')}${s.length === 1 ? ',' : ''})`;
  if (shape.length > 0 && Array.isArray(shape[0])) return `[${(shape as Shape[]).map(one).join(', ')}]`;
  return one(shape as Shape);
}

/** Keras prints the "Connected to" column unless the model is a plain chain. */
function isChain(summary: ModelSummary): boolean {
  return summary.layers.every((l, i) => {
    const inputs = l.connectedTo ?? [];
    if (i === 0) return inputs.length === 0;
    return inputs.length === 1 && inputs[0].startsWith(`${summary.layers[i - 1].name}[`);
  });
}

function pad(text: string, width: number): string {
  return text.length >= width ? text : text + ' '.repeat(width - text.length);
}

/** Phrases for non-trainable weights that never take gradients; other kinds get a generic phrase. */
const STATISTICS_MEANING: Record<string, string> = {
  BatchNormalization: 'running statistics, updated by forward passes in training, not by gradients',
  Normalization: 'input normalisation statistics; EfficientNet keeps its preprocessing in the graph',
};

function joinKinds(kinds: string[]): string {
  return kinds.length <= 1 ? kinds.join('') : `${kinds.slice(0, -1).join(', ')} and ${kinds[kinds.length - 1]}`;
}

function plural(n: number, word: string): string {
  return `${formatCount(n)} ${word}${n === 1 ? '' : 's'}`;
}

/** The plain answer to "what is non-trainable here", one line per cause. */
export function explainNonTrainable(summary: ModelSummary): string[] {
  if (summary.nonTrainableParams === 0) return ['Nothing is non-trainable here: every weight takes gradient updates.'];
  const lines = ['What is non-trainable here:'];
  const byClass = new Map<string, NonTrainableGroup[]>();
  for (const g of summary.nonTrainableBreakdown.filter((g) => !g.frozen)) byClass.set(g.layerClass, [...(byClass.get(g.layerClass) ?? []), g]);
  const statistics = [...byClass].map(([layerClass, gs]) => ({ layerClass, gs, params: gs.reduce((s, g) => s + g.params, 0) }));
  for (const { layerClass, gs, params } of statistics.sort((a, b) => b.params - a.params)) {
    const layers = Math.max(...gs.map((g) => g.layers));
    const meaning = STATISTICS_MEANING[layerClass] ?? 'weights created non-trainable';
    lines.push(`  ${formatCount(params)}: ${joinKinds(gs.map((g) => g.weightKind))} of ${plural(layers, `${layerClass} layer`)} (${meaning})`);
  }
  const frozen = summary.nonTrainableBreakdown.filter((g) => g.frozen);
  if (frozen.length > 0) {
    const params = frozen.reduce((s, g) => s + g.params, 0);
    const frozenLayers = summary.layers.filter((l) => !l.trainable && l.params > 0).length;
    const perClass = new Map<string, NonTrainableGroup[]>();
    for (const g of frozen) perClass.set(g.layerClass, [...(perClass.get(g.layerClass) ?? []), g]);
    const parts = [...perClass].map(([cls, gs]) => `${joinKinds(gs.map((g) => g.weightKind))} of ${plural(Math.max(...gs.map((g) => g.layers)), `${cls} layer`)}`);
    lines.push(`  ${formatCount(params)}: weights of ${plural(frozenLayers, 'frozen layer')} (trainable=false): ${parts.join('; ')}`);
  }
  return lines;
}

/** A Keras-style table ending in Total / Trainable / Non-trainable params, then the non-trainable explanation. */
export function formatSummary(summary: ModelSummary): string {
  const chain = isChain(summary);
  const headers = chain ? ['Layer (type)', 'Output Shape', 'Param #'] : ['Layer (type)', 'Output Shape', 'Param #', 'Connected to'];
  const rows = summary.layers.map((l) => {
    const cells = [`${l.name} (${l.className})`, formatShape(l.outputShape), formatCount(l.params)];
    return chain ? [cells] : [[...cells, l.connectedTo?.[0] ?? ''], ...(l.connectedTo ?? []).slice(1).map((c) => ['', '', '', c])];
  });
  // Keras's column split (line_length 65 or 98), widened where a name or shape would not fit.
  const kerasWidths = chain ? [29, 26, 10] : [32, 21, 12, 33];
  const widths = kerasWidths.map((w, i) => Math.max(w, headers[i].length + 2, ...rows.flat().map((r) => r[i].length + 2)));
  const lineLength = widths.reduce((a, b) => a + b, 0) + 1;
  const line = (cells: string[]): string => (' ' + cells.map((c, i) => pad(c, widths[i])).join('')).trimEnd();
  const out = [`Model: "${summary.name}"`, '_'.repeat(lineLength), line(headers), '='.repeat(lineLength)];
  rows.forEach((layerRows, i) => {
    for (const r of layerRows) out.push(line(r));
    if (i < rows.length - 1) out.push('');
  });
  out.push('='.repeat(lineLength));
  out.push(`Total params: ${formatCount(summary.totalParams)}`);
  out.push(`Trainable params: ${formatCount(summary.trainableParams)}`);
  out.push(`Non-trainable params: ${formatCount(summary.nonTrainableParams)}`);
  out.push('_'.repeat(lineLength));
  out.push(...explainNonTrainable(summary));
  return out.join('\n');
}
