// Optimizer state moved between tlkit's two training engines, so a checkpoint written by one resumes
// on the other. Both engines run the same update rules (optimizer_update.ts follows tf.train.adam and
// tf.train.momentum), so the state is the same numbers stored two ways:
//   tfjs:      'iter', then one array per trainable variable and slot, in Keras layout, grouped by slot
//              (every m, then every v: the order of tfjs's getWeights), matched to variables by position;
//   onnx-step: the step count, then one flat Float32Array per slot over every trainable weight, each
//              weight at its offset in the compiled graph's ONNX layout (conv kernels OIHW...).
// Converting is therefore a per-variable copy with a layout permutation; nothing is approximated.
import { kerasToOnnx, onnxToKeras, type ParamLayout } from '../../engines/onnx/training/params.js';
import type { tfl } from '../../engines/tfjs/tf.js';
import { TrainingError } from '../../core/errors.js';
import type { SavedArray } from './optimizers.js';

/** Optimizers whose state both engines hold (tfjs class names Adam, Momentum, SGD). */
export type ConvertibleOptimizer = 'adam' | 'momentum' | 'sgd';

/** Per-variable slot names of each optimizer, as tfjs suffixes them ('<variable>/m'). */
const SLOTS: Record<ConvertibleOptimizer, string[]> = { adam: ['m', 'v'], momentum: ['momentum'], sgd: [] };

const TFJS_CLASS: Record<string, ConvertibleOptimizer> = { Adam: 'adam', Momentum: 'momentum', SGD: 'sgd' };

/** The convertible optimizer a tfjs class name stands for ('Adam' -> 'adam'), or undefined. */
export function convertibleOptimizerOf(className: string): ConvertibleOptimizer | undefined {
  return TFJS_CLASS[className];
}

/** One trainable weight's place in the compiled step's flat vectors. */
export interface FlatSlotEntry {
  /** Position among the trained model's trainable weights: the tfjs optimizer's slot order. */
  index: number;
  /** The weight's name in the model (LayerVariable.originalName), for messages. */
  name: string;
  kerasShape: number[];
  layout: ParamLayout;
  offset: number;
}

/** How the compiled step lays out its flat slots; stored in onnx-step checkpoints. */
export interface FlatSlotLayout {
  size: number;
  entries: FlatSlotEntry[];
}

/** The compiled step's optimizer state (CompiledTrainingStep.getOptimizerState). */
export interface FlatOptimizerState {
  iterations: number;
  slots: Float32Array[];
}

/** A trainable weight of the model being trained, in the tfjs engine's order. */
export interface TrainableWeightInfo {
  /** tf.Variable name: tfjs names its slots '<name>/m'. */
  variableName: string;
  /** LayerVariable.originalName, as flat layouts record it. */
  name: string;
  shape: number[];
}

/** The model's trainable weights in the order fit hands them to a tfjs optimizer. */
export function trainableWeightInfos(model: tfl.LayersModel): TrainableWeightInfo[] {
  return model.trainableWeights.map((w) => ({ variableName: w.name, name: w.originalName, shape: w.shape.slice() as number[] }));
}

/**
 * The flat layout of a compiled step's placements (CompiledTrainingStep.flatLayout), with each weight's
 * position among the model's trainable weights.
 */
export function flatSlotLayoutOf(model: tfl.LayersModel, placements: { variable: tfl.LayerVariable; offset: number; kerasShape: number[]; layout: ParamLayout }[]): FlatSlotLayout {
  const position = new Map(model.trainableWeights.map((w, i) => [w.id, i]));
  let size = 0;
  const entries = placements.map((p): FlatSlotEntry => {
    const index = position.get(p.variable.id);
    if (index === undefined) throw new TrainingError(`internal: the compiled step trains ${p.variable.originalName}, which is not among the model's trainable weights`);
    size = Math.max(size, p.offset + sizeOf(p.kerasShape));
    return { index, name: p.variable.originalName, kerasShape: p.kerasShape.slice(), layout: p.layout, offset: p.offset };
  });
  return { size, entries };
}

const FLAT_ITERATIONS = 'onnx_step/iterations';

/** The compiled step's state as checkpoint arrays: the step count first, then the flat slots. */
export function flatStateToSaved(state: FlatOptimizerState): SavedArray[] {
  return [
    { name: FLAT_ITERATIONS, dtype: 'int32', shape: [1], data: Int32Array.of(state.iterations) },
    ...state.slots.map((slot, i): SavedArray => ({ name: `onnx_step/slot_${i}`, dtype: 'float32', shape: [slot.length], data: slot })),
  ];
}

export function flatStateFromSaved(saved: SavedArray[]): FlatOptimizerState {
  if (saved.length === 0) return { iterations: 0, slots: [] };
  if (saved[0].name !== FLAT_ITERATIONS) throw new TrainingError(`the checkpoint's optimizer state is not the compiled step's (first array '${saved[0].name}', expected '${FLAT_ITERATIONS}')`);
  return { iterations: Number(saved[0].data[0]), slots: saved.slice(1).map((s) => Float32Array.from(s.data)) };
}

function sizeOf(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * The entries in tfjs order, checked to cover every trainable weight once with the same shape. Weights
 * match by position, as restoreWeights does: names of auto-named layers change with every build.
 */
function entriesByWeight(layout: FlatSlotLayout, weights: TrainableWeightInfo[]): FlatSlotEntry[] {
  if (layout.entries.length !== weights.length) {
    throw new TrainingError(`the compiled step's optimizer state covers ${layout.entries.length} trainable weights but the model trains ${weights.length}: it was saved with a different model or trainable set`);
  }
  const byIndex: FlatSlotEntry[] = new Array(weights.length);
  for (const entry of layout.entries) {
    const weight = weights[entry.index];
    if (!weight || byIndex[entry.index]) throw new TrainingError(`the compiled step's optimizer layout names trainable weight #${entry.index} (${entry.name}) twice or out of range (the model trains ${weights.length})`);
    if (weight.shape.join(',') !== entry.kerasShape.join(',')) {
      throw new TrainingError(`trainable weight #${entry.index} is ${weight.name} [${weight.shape}] in the model but ${entry.name} [${entry.kerasShape}] in the compiled step's optimizer state`);
    }
    if (entry.offset < 0 || entry.offset + sizeOf(entry.kerasShape) > layout.size) {
      throw new TrainingError(`the compiled step's optimizer layout puts ${entry.name} at ${entry.offset}..${entry.offset + sizeOf(entry.kerasShape)}, outside its ${layout.size} values`);
    }
    byIndex[entry.index] = entry;
  }
  return byIndex;
}

/**
 * tfjs optimizer weights (saveOptimizerState) -> the compiled step's flat state. A tfjs optimizer that
 * has not stepped yet holds no slots: the flat state then has none either (the step keeps its zeros).
 */
export function tfjsToFlatState(saved: SavedArray[], optimizer: ConvertibleOptimizer, layout: FlatSlotLayout, weights: TrainableWeightInfo[]): FlatOptimizerState {
  if (saved.length === 0 || saved[0].name !== 'iter') {
    throw new TrainingError(`the checkpoint's optimizer state is not a tfjs optimizer's (first array '${saved[0]?.name ?? 'none'}', expected 'iter')`);
  }
  const iterations = Number(saved[0].data[0]);
  const slotNames = SLOTS[optimizer];
  const arrays = saved.slice(1);
  if (arrays.length === 0) return { iterations, slots: [] };
  if (arrays.length !== slotNames.length * weights.length) {
    throw new TrainingError(`the checkpoint's tfjs ${optimizer} state has ${arrays.length} slot arrays; expected ${slotNames.length} per trainable weight (${slotNames.length * weights.length} for this model)`);
  }
  const entries = entriesByWeight(layout, weights);
  const slots = slotNames.map((slotName, s) => {
    const flat = new Float32Array(layout.size);
    weights.forEach((weight, i) => {
      const array = arrays[s * weights.length + i];
      if (array.shape.join(',') !== weight.shape.join(',')) {
        throw new TrainingError(`the checkpoint's tfjs slot '${array.name}' has shape [${array.shape}] but its weight ${weight.name} has [${weight.shape}] (slot ${slotName} of weight #${i})`);
      }
      const entry = entries[i];
      flat.set(kerasToOnnx(Float32Array.from(array.data), entry.kerasShape, entry.layout), entry.offset);
    });
    return flat;
  });
  return { iterations, slots };
}

/**
 * The compiled step's flat state -> tfjs optimizer weights for loadOptimizerState. No slots (a step
 * that never ran) gives the iteration count alone, which tfjs reads as zero slots.
 */
export function flatToTfjsState(state: FlatOptimizerState, optimizer: ConvertibleOptimizer, layout: FlatSlotLayout, weights: TrainableWeightInfo[]): SavedArray[] {
  const slotNames = SLOTS[optimizer];
  const iter: SavedArray = { name: 'iter', dtype: 'int32', shape: [], data: Int32Array.of(state.iterations) };
  if (state.slots.length === 0) return [iter];
  if (state.slots.length !== slotNames.length) {
    throw new TrainingError(`the compiled step's optimizer state has ${state.slots.length} slots; ${optimizer} has ${slotNames.length} (${slotNames.join(', ') || 'none'})`);
  }
  state.slots.forEach((slot, s) => {
    if (slot.length !== layout.size) throw new TrainingError(`the compiled step's slot ${slotNames[s]} has ${slot.length} values; its layout says ${layout.size}`);
  });
  const entries = entriesByWeight(layout, weights);
  const out: SavedArray[] = [iter];
  slotNames.forEach((slotName, s) => {
    weights.forEach((weight, i) => {
      const entry = entries[i];
      const view = state.slots[s].subarray(entry.offset, entry.offset + sizeOf(entry.kerasShape));
      out.push({ name: `${weight.variableName}/${slotName}`, dtype: 'float32', shape: weight.shape.slice(), data: onnxToKeras(view, entry.kerasShape, entry.layout) });
    });
  });
  return out;
}

/** One line for logs: what a conversion carried over. */
export function describeConversion(from: string, to: string, optimizer: ConvertibleOptimizer, iterations: number, weights: number): string {
  const slots = SLOTS[optimizer];
  const what = slots.length > 0 ? `${slots.join(' and ')} of ${weights} trainable weights` : 'no slots';
  return `optimizer state: converted the checkpoint's ${from} state to the ${to} engine's (${optimizer}, step ${iterations}, ${what})`;
}
