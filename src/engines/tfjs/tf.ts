// The one tfjs instance tlkit computes with. Callers import `tf` / `tfl` from tlkit so that tensors
// and layers they make belong to the same engine as ours.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tfl from '@tensorflow/tfjs-layers';
import { installAvgPoolGradient } from './avg_pool_gradient.js';
import { installBatchNormLayer } from './batch_norm_layer.js';
import { registerTrainingKernels } from './register_kernels.js';

export { tf, tfl };

/** A symbolic (graph) tensor of a tfjs-layers functional model. */
export type SymbolicTensor = tfl.SymbolicTensor;

// On import, not at initEngine: a model built before the engine starts already has Keras's frozen-BN
// semantics, and on every backend BN without gamma/beta (InceptionV3) trains (the fast path is wasm's).
installBatchNormLayer();

export type BackendName = 'wasm' | 'cpu';

let initialised: Promise<BackendName> | undefined;

/**
 * Selects the compute backend: wasm (SIMD) by default, cpu as the fallback when wasm cannot start.
 * `TLKIT_BACKEND=cpu` forces the fallback. Safe to call many times; the first call wins.
 */
export function initEngine(preferred?: BackendName): Promise<BackendName> {
  if (!initialised) {
    const wanted = preferred ?? ((process.env.TLKIT_BACKEND as BackendName | undefined) ?? 'wasm');
    initialised = (async () => {
      try {
        // Before the backend starts, so that training works on wasm from the first step.
        if (wanted === 'wasm') registerTrainingKernels();
        // tfjs's AvgPool gradient ignores 'same' padding's smaller border windows (InceptionV3).
        installAvgPoolGradient();
        if (await tf.setBackend(wanted)) {
          await tf.ready();
          return wanted;
        }
      } catch {
        // fall through to cpu
      }
      await tf.setBackend('cpu');
      await tf.ready();
      return 'cpu';
    })();
  }
  return initialised;
}
