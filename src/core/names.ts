// The words every layer shares, defined once: what a user chooses (class mode, loss, optimizer, engine)
// and what a run reports back (which engine computed a phase).
import { invalidArgument } from './errors.js';

/**
 * Keras's `class_mode` of flow_from_directory: the labels an iterator yields. 'binary' and 'sparse' are
 * class indices as floats, 'categorical' one-hot rows, 'input' the images themselves, 'none' no labels.
 */
export type ClassMode = 'binary' | 'sparse' | 'categorical' | 'input' | 'none';
export const CLASS_MODES: readonly ClassMode[] = ['binary', 'sparse', 'categorical', 'input', 'none'];

/** The class modes a classifier head can be trained on (the ones that carry class labels). */
export type LabelClassMode = Extract<ClassMode, 'binary' | 'sparse' | 'categorical'>;
export const LABEL_CLASS_MODES: readonly LabelClassMode[] = ['binary', 'sparse', 'categorical'];

/** Keras loss names; the model's last layer is softmax (categorical, sparse) or sigmoid (binary). */
export type LossName = 'binary_crossentropy' | 'sparse_categorical_crossentropy' | 'categorical_crossentropy';
export const LOSS_NAMES: readonly LossName[] = ['binary_crossentropy', 'sparse_categorical_crossentropy', 'categorical_crossentropy'];

/** A loss by its Keras name or its camelCase spelling ('sparseCategoricalCrossentropy', tfjs's). */
export function resolveLoss(loss: string): LossName {
  const snake = loss.replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase();
  if ((LOSS_NAMES as readonly string[]).includes(snake)) return snake as LossName;
  throw invalidArgument('loss', loss, LOSS_NAMES.join(', '));
}

/** The loss that goes with a class mode, as in Keras. */
export function lossForClassMode(mode: LabelClassMode): LossName {
  return mode === 'binary' ? 'binary_crossentropy' : mode === 'sparse' ? 'sparse_categorical_crossentropy' : 'categorical_crossentropy';
}

/** The same loss as tfjs-layers' `model.compile` spells it ('sparseCategoricalCrossentropy'). */
export function tfjsLossName(loss: LossName): string {
  return loss.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

export type OptimizerName = 'adam' | 'sgd' | 'rmsprop';
export const OPTIMIZER_NAMES: readonly OptimizerName[] = ['adam', 'sgd', 'rmsprop'];

/**
 * Where the numbers are computed, as a user asks for it. 'auto': the fastest engine that supports the
 * work (onnxruntime for frozen layers, inference and, where it compiles, the training step); 'onnx': the
 * same, but a failure to use onnxruntime is an error; 'tfjs': the reference engine for everything.
 */
export type EngineChoice = 'auto' | 'onnx' | 'tfjs';
export const ENGINE_CHOICES: readonly EngineChoice[] = ['auto', 'onnx', 'tfjs'];

/** Which StepEngine computed a training step: tfjs, or the compiled ONNX training step. Stored in checkpoints. */
export type StepEngineName = 'tfjs' | 'onnx-step';

/**
 * A phase's engine plan in one word, as results and checkpoints record it: tfjs alone, the frozen
 * prefix on onnxruntime feeding a trained head ('onnx-frozen'), or the compiled ONNX training step of
 * the whole model.
 */
export type PhaseEngineLabel = 'tfjs' | 'onnx-frozen' | 'onnx-step';

/** @deprecated Renamed PhaseEngineLabel (a label of a phase's EnginePlan). */
export type PhaseEngine = PhaseEngineLabel;
