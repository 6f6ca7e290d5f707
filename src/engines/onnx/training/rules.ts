// The contract between the training-graph builder and the per-layer-class gradient rules: a rule
// emits a layer call's forward nodes (weights as graph inputs) and returns a closure that emits the
// backward nodes for it, given the gradients of its outputs.
import type { tfl } from '../../tfjs/tf.js';
import type { OnnxValue } from '../graph_builder.js';
import type { Ops } from './ops.js';
import type { ParamLayout } from './params.js';

// Layer configs are plain JSON-like dictionaries; each rule reads the kwargs it knows.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Config = Record<string, any>;

export interface ParamHandle {
  /** Graph input holding the weight (ONNX layout). */
  name: string;
  /** Whether this weight takes gradient updates (false: frozen layer or non-trainable weight). */
  trainable: boolean;
}

export interface RuleContext {
  ops: Ops;
  layer: tfl.layers.Layer;
  config: Config;
  inputs: OnnxValue[];
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
  /** A ZeroPadding2D ([top, left, bottom, right]) folded into this 'valid' convolution's own pads. */
  inputPadding?: [number, number, number, number];
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

/** A layer config the training graph cannot express; it becomes the reason in canCompileTrainingStep. */
export class UnsupportedLayer extends Error {}

const rules = new Map<string, GradientRule>();

export function registerGradientRule(className: string, rule: GradientRule): void {
  rules.set(className, rule);
}

export function getGradientRule(className: string): GradientRule | undefined {
  return rules.get(className);
}

export function trainableLayerClasses(): string[] {
  return [...rules.keys()].sort();
}
