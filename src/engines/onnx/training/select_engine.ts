// Which engine trains a model: the compiled ONNX step when it can compile the model (it is the fast
// one: bench/train_onnx.ts), else tfjs, with a message the CLI prints as is.
import { invalidArgument } from '../../../core/errors.js';
import type { LossName } from '../../../core/names.js';
import type { LayersModel } from '../model_graph.js';
import { canCompileTrainingStep } from './compile_training_step.js';

export type TrainingEngineChoice = 'auto' | 'onnx' | 'tfjs';
export const TRAINING_ENGINES: readonly TrainingEngineChoice[] = ['auto', 'onnx', 'tfjs'];

export interface SelectedEngine {
  engine: 'onnx' | 'tfjs';
  /** One line for the user: what runs and why. */
  message: string;
  /** Set when the ONNX step was wanted but cannot compile the model. */
  fallbackReason?: string;
}

export function selectTrainingEngine(model: LayersModel, requested: TrainingEngineChoice, options: { loss?: LossName | string } = {}): SelectedEngine {
  if (!(TRAINING_ENGINES as readonly string[]).includes(requested)) throw invalidArgument('engine', requested, TRAINING_ENGINES.join(', '));
  if (requested === 'tfjs') return { engine: 'tfjs', message: 'engine: tfjs (requested)' };
  const verdict = canCompileTrainingStep(model, options);
  if (verdict.ok) {
    return { engine: 'onnx', message: requested === 'onnx' ? 'engine: onnx (compiled training step, requested)' : 'engine: onnx (compiled training step, the fastest engine that supports this model)' };
  }
  return {
    engine: 'tfjs',
    message: `engine: tfjs (the ONNX training step cannot compile this model: ${verdict.reason}; falling back to tfjs)`,
    fallbackReason: verdict.reason,
  };
}
