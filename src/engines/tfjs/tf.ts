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

// On import, not at initEngine, before anything can start a backend: a model built before the engine
// starts already has Keras's frozen-BN semantics, and whichever backend ends up running (ours through
// initEngine, or a caller's own tf.setBackend / tf.ready) wasm has tlkit's training kernels and every
// backend the AvgPool gradient fix. The gradient replacements fall back to tfjs's own off wasm, so the
// cpu backend computes what it always did; BN without gamma/beta (InceptionV3) trains on every backend.
installBatchNormLayer();
registerTrainingKernels();
// tfjs's AvgPool gradient ignores 'same' padding's smaller border windows (InceptionV3).
installAvgPoolGradient();

export type BackendName = 'wasm' | 'cpu';

let initialised: Promise<BackendName> | undefined;
let initialisedWith: BackendName | undefined;

async function start(wanted: BackendName): Promise<BackendName> {
  try {
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
}

/**
 * Selects the compute backend: wasm (SIMD) by default, cpu as the fallback when wasm cannot start.
 * `TLKIT_BACKEND=cpu` forces the fallback. Importing 'tlkit' already calls it, so tensors can be made
 * right away; call it again with a backend to switch (an explicit choice replaces the default one).
 * Safe to call many times.
 */
export function initEngine(preferred?: BackendName): Promise<BackendName> {
  if (!initialised) {
    initialisedWith = preferred ?? ((process.env.TLKIT_BACKEND as BackendName | undefined) ?? 'wasm');
    initialised = start(initialisedWith);
  } else if (preferred !== undefined && preferred !== initialisedWith) {
    initialisedWith = preferred;
    initialised = initialised.then(() => start(preferred));
  }
  return initialised;
}
