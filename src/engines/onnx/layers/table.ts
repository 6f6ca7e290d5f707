// One table per Keras layer class: the ONNX forward that export and the training graph both emit, and
// the gradient rule beside it.
//
// The forward is the inference-mode one and receives the layer's weights as graph values in ONNX
// layout (conv kernels OIHW, depthwise kernels as grouped-conv weights, see training/params.ts): an
// export makes them initializers (constants), the training graph makes them graph inputs fed each
// step. The gradient rule emits the training graph's forward, usually by calling the same forward (or
// its pieces), and returns a closure that emits the backward. Where training needs another forward
// (BatchNorm with batch statistics, Dropout with a mask, MaxPool keeping its argmax, onnxruntime's
// blocked depthwise kernels) the rule says so and reuses the shared pieces.
//
// Adding a layer class: one entry (className, forward, gradient) in the file of its kind under layers/,
// listed in layers/index.ts. Export-only layers (no gradient) are fine: the training step then refuses
// the model with a reason naming the class. A user's custom layer can be taught to the exporter with
// registerOnnxConverter.
import type { tfl } from '../../tfjs/tf.js';
import type { OnnxGraphBuilder, OnnxValue } from '../graph_builder.js';
import type { Ops } from '../training/ops.js';
import type { ParamLayout } from '../training/params.js';

export type Layer = tfl.layers.Layer;
// Layer configs are plain JSON-like dictionaries; each table reads the kwargs it knows.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Config = Record<string, any>;

/** What a converter of a layer call sees (the public, export-only form: see registerOnnxConverter). */
export interface ConverterContext {
  builder: OnnxGraphBuilder;
  layer: Layer;
  config: Config;
  inputs: OnnxValue[];
  /** Keras output shapes of this call of the layer (batch first). */
  outputShapes: (number | null)[][];
}

/** Returns the layer's outputs. Throws `UnsupportedConfig` for kwargs it cannot express. */
export type LayerConverter = (context: ConverterContext) => OnnxValue[];

/** What a table's forward sees: the call, and its weights as graph values whoever provides them. */
export interface ForwardContext extends ConverterContext {
  ops: Ops;
  /**
   * The layer's weight in its field (`kernel`, `gamma`, ...) as a graph value in ONNX `layout`: an
   * initializer called `name` in an exported graph, a graph input in the training graph. undefined
   * when the layer has no such weight.
   */
  weight(field: string, layout: ParamLayout, name: string): string | undefined;
  /**
   * The weight's values (Keras layout) when the graph holds it as a constant (export, frozen prefix),
   * so a forward may fold arithmetic on it; undefined in the training graph, where it is an input.
   */
  constant(field: string): Float32Array | undefined;
  /** A ZeroPadding2D ([top, left, bottom, right]) folded into this 'valid' convolution's own pads (training graph). */
  inputPadding?: [number, number, number, number];
  /** Depthwise convolutions may run on onnxruntime's blocked (NCHWc) kernels (training graph: weights computed in the graph). */
  blockedDepthwise?: boolean;
}

/** The inference-mode forward of one layer call. */
export type ForwardEmitter = (context: ForwardContext) => OnnxValue[];

export interface ParamHandle {
  /** Graph input holding the weight (ONNX layout). */
  name: string;
  /** Whether this weight takes gradient updates (false: frozen layer or non-trainable weight). */
  trainable: boolean;
}

/** What a gradient rule sees in the training graph: the forward context plus the step's bookkeeping. */
export interface RuleContext extends ForwardContext {
  /** Keras output shapes of this call, batch dimension filled in. */
  outputShapes: number[][];
  /** The weight held in the layer's field (`kernel`, `gamma`, ...), as a graph input; undefined if absent. */
  param(field: string, layout?: ParamLayout): ParamHandle | undefined;
  /** Adds a contribution to a weight's gradient (summed over every call that uses the weight). */
  paramGrad(field: string, grad: string): void;
  /** Declares the new value of a non-trainable state weight (BatchNorm moving statistics). */
  stateUpdate(field: string, value: string): void;
  /** A BatchNorm in training mode names its batch mean and (biased) variance, [C] (for recalibration). */
  batchStatistics(mean: string, variance: string, channels: number): void;
  /** Frozen layers (Keras: trainable=False) run in inference mode: BatchNorm uses its moving statistics. */
  frozen: boolean;
  /**
   * A frozen BatchNormalization that is this convolution's only consumer, folded into it: the rule
   * emits conv(x, W * scale) + bias * scale + shift and the BatchNorm layer emits nothing.
   */
  foldedNorm?: FoldedNorm;
  /** A graph input carrying a dropout keep-mask: 0 or 1/(1-rate), drawn by tlkit each step. */
  dropoutMask(physicalShape: number[], rate: number): string;
  /** Marks `y` as softmax/sigmoid(logits): the loss then gives dL/dlogits directly. */
  registerLogits(y: OnnxValue, logits: OnnxValue, kind: 'softmax' | 'sigmoid'): void;
  /** The loss's gradient w.r.t. the logits of `y`, when `y` is the model output. */
  logitGrad(y: OnnxValue): OnnxValue | undefined;
}

/** An inference-mode BatchNormalization folded into the convolution before it (frozen: no gradients). */
export interface FoldedNorm {
  /** The BatchNorm layer's weight in `field` (gamma, beta, movingMean, movingVariance); undefined if absent. */
  param(field: string): ParamHandle | undefined;
  epsilon: number;
  name: string;
}

/** Gradients of the outputs (undefined: the output does not reach the loss). */
export type Backward = (dys: (OnnxValue | undefined)[], needInputGrad: boolean[]) => (OnnxValue | undefined)[];

export interface RuleResult {
  outputs: OnnxValue[];
  backward: Backward;
}

export type GradientRule = (context: RuleContext) => RuleResult;

export interface LayerTable {
  /** The layer's class name (`getClassName()`). */
  className: string;
  forward: ForwardEmitter;
  /** Training graph: forward + backward. Absent: the layer is exported but not trained by the compiled step. */
  gradient?: GradientRule;
}

/**
 * A layer config the ONNX graphs cannot express. Export turns it into a TlkitError naming the layer; the
 * training graph into the reason of canCompileTrainingStep.
 */
export class UnsupportedLayer extends Error {}

/** The name export's converters have used for it. */
export { UnsupportedLayer as UnsupportedConfig };

const tables = new Map<string, LayerTable>();

export function registerLayerTable(table: LayerTable): void {
  tables.set(table.className, table);
}

/**
 * Teaches the exporter a layer class (e.g. a custom layer of your own): the converter emits the
 * layer's inference forward with `context.builder` and returns its outputs. The class name is the
 * layer's `getClassName()`. This adds (or replaces) the export forward only: a class with a gradient
 * rule keeps it, a new class is exported but not trained by the compiled ONNX step.
 */
export function registerOnnxConverter(className: string, converter: LayerConverter): void {
  const existing = tables.get(className);
  tables.set(className, { className, forward: converter, gradient: existing?.gradient });
}

export function getLayerTable(className: string): LayerTable | undefined {
  return tables.get(className);
}

/** Classes the exporter converts. */
export function supportedLayerClasses(): string[] {
  return [...tables.keys()].sort();
}

/** Classes the training graph differentiates. */
export function trainableLayerClasses(): string[] {
  return [...tables.values()].filter((t) => t.gradient).map((t) => t.className).sort();
}

export function requireValue<T>(value: T | undefined, field: string): T {
  if (value === undefined) throw new UnsupportedLayer(`layer has no '${field}' weight (was it built?)`);
  return value;
}

