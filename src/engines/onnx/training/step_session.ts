// The onnxruntime session options of tlkit's compiled graphs (the training step and the BatchNorm
// batch-statistics pass): one place for the choices measured on them.
import * as ort from 'onnxruntime-node';
import { defaultThreadCount } from '../session.js';

export interface StepSessionOptions {
  intraOpNumThreads?: number;
  interOpNumThreads?: number;
  allowSpinning?: boolean;
  /** 'disabled' for a graph onnxruntime already optimised (a cache hit). Default 'all'. */
  level?: 'all' | 'disabled';
  /** Where onnxruntime writes the graph as it optimised it. */
  saveOptimizedTo?: string;
  profilePrefix?: string;
  /** Log errors only (a graph whose unused tail onnxruntime drops, with a warning per node). */
  quiet?: boolean;
}

export function createStepSession(modelBytes: Uint8Array, options: StepSessionOptions = {}): Promise<ort.InferenceSession> {
  const interOp = options.interOpNumThreads ?? 1;
  return ort.InferenceSession.create(modelBytes, {
    intraOpNumThreads: options.intraOpNumThreads ?? defaultThreadCount(),
    interOpNumThreads: interOp,
    executionMode: interOp > 1 ? 'parallel' : 'sequential',
    graphOptimizationLevel: options.level ?? 'all',
    // The memory pattern pre-plans one block for every intermediate of the step: 3.1 GB peak RSS
    // for mobilenet_v2@224 batch 16, against 1.7 GB without it, at the same speed (bench/train_onnx.ts).
    enableMemPattern: false,
    executionProviders: ['cpu'],
    // Idle intra-op threads sleep instead of spinning (as in session.ts): on the shared 2-core machine,
    // mobilenet_v2@224 b16 went from 1.09-1.55 to 1.82-1.94 img/s with spinning off (same process, steps
    // interleaved, load average ~20); the step also shares the cores with decoding and augmentation.
    extra: { session: { intra_op: { allow_spinning: options.allowSpinning ? '1' : '0' } } },
    ...(options.saveOptimizedTo ? { optimizedModelFilePath: options.saveOptimizedTo } : {}),
    ...(options.saveOptimizedTo || options.quiet ? { logSeverityLevel: 3 as const } : {}),
    ...(options.profilePrefix ? { enableProfiling: true, profileFilePrefix: options.profilePrefix } : {}),
  });
}
