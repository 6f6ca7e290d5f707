/// <reference lib="dom" />
// The exported page's script: loads the model with plain tfjs (wasm backend, cpu if wasm cannot start)
// and classifies in the browser, offline. Bundled by esbuild into tlkit-web.js; its exports become the
// global `tlkit`, so an app that includes the script calls `await tlkit.classify(img)`.
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { resizeNearest } from '../../data/resize_nearest.js';
import { modelInputFromRgb } from '../../data/model_input.js';
import { classProbabilities, topOf, type ClassProbability } from '../../inference/top_classes.js';
import { readPageConfig, rgbPixels, type ImageSource } from './dom.js';
import { mountUi, setStatus } from './ui.js';

export const config = readPageConfig();
let model: tfl.LayersModel | undefined;

async function load(): Promise<void> {
  setWasmPaths(new URL(config.wasmPath ?? './', document.baseURI).href);
  let backend = 'wasm';
  try {
    if (!(await tf.setBackend('wasm'))) throw new Error('wasm backend did not initialise');
  } catch {
    backend = 'cpu';
    await tf.setBackend('cpu');
  }
  await tf.ready();
  model = await tfl.loadLayersModel(new URL(config.modelUrl ?? 'model.json', document.baseURI).href);
  document.body.dataset.backend = backend;
}

/** Resolves when the model is loaded; rejects with the reason it could not be. */
export const ready: Promise<void> = load();

/**
 * Every class of `image` with its probability, most probable first. The image is taken at its natural
 * size, resized like tlkit (PIL's nearest), preprocessed as the run was trained (tlkit.json).
 */
export async function classify(image: ImageSource, topK = config.classNames.length): Promise<ClassProbability[]> {
  await ready;
  const [h, w] = config.inputSize;
  const pixels = rgbPixels(image);
  const rgb = resizeNearest(pixels.data, pixels.height, pixels.width, 3, h, w, false);
  const input = modelInputFromRgb(rgb, config);
  const x = tf.tensor4d(input, [1, h, w, 3]);
  let y: tf.Tensor | undefined;
  try {
    y = model!.predict(x) as tf.Tensor;
    return topOf(classProbabilities(await y.data()), config.classNames, topK);
  } finally {
    x.dispose();
    y?.dispose();
  }
}

mountUi(config, (_file, image) => classify(image));
ready.then(
  () => setStatus(`Ready: ${config.backbone}, ${config.classNames.length} classes, runs in this page (${document.body.dataset.backend}).`, 'ready'),
  (error: unknown) => setStatus(`The model could not be loaded: ${error instanceof Error ? error.message : String(error)}`, 'error'),
);
