// explain: Grad-CAM heatmaps of a trained classifier's decisions, per image file.
//
// The map is gradient x activation summed over channels, cell by cell (HiResCAM), by default: for a head
// that pools before its Dense layers the gradient is the same in every cell and this is Grad-CAM exactly;
// for a Flatten head it stays faithful where Grad-CAM's per-channel mean of the gradient cancels (a channel
// that is evidence for the class on the left and against it on the right). `method: 'gradcam'` gives the
// original weighting.
//
// The model is cut in two at its last convolutional block (the last layer with a rows x cols x channels
// output that every path to the output goes through), or, when that block's map is coarser than 7 x 7 (an
// input below the backbone's native size), at the last block one stride earlier (camLayer; `layer` picks
// another): the prefix (input -> feature
// map A) only runs forward, on onnxruntime when it can (engine 'auto'), and only the head (A -> class
// scores, a few layers) is differentiated, in tfjs, in inference mode (Dropout off, BatchNorm on its moving
// statistics). So an explanation costs about one forward pass of the model, not a full backward pass (at the
// last block; one stride earlier the head is about a quarter of the network: 5-9x a forward pass).
//
// The score differentiated is, by default, the log-odds of the class computed from the pre-softmax logits
// z: z_c - log(sum over j != c of exp z_j), which is z_c - z_other with two classes and, for a sigmoid
// unit, z for class 1 and -z for class 0. Why not z_c alone (Keras's Grad-CAM example): a softmax gives
// the same output when any function of the image is added to every logit, so training leaves that common
// part free, and its gradient (which has nothing to do with the decision) can dominate z_c's; measured on
// the pointing-game set, it did (docs/explain.md). `score: 'logit'` gives the example's choice. The logits
// are reached when the output layer is a softmax or sigmoid Dense (or an Activation after one); any other
// output layer: the output itself (`score: 'output'`).
import { basename, extname, join } from 'node:path';
import { mkdir, writeFile } from 'node:fs/promises';
import { tf, tfl, type SymbolicTensor } from '../engines/tfjs/tf.js';
import { TlkitError, UsageError, formatValue, invalidArgument } from '../core/errors.js';
import type { EngineChoice } from '../core/names.js';
import type { ProgressCallback } from '../core/progress.js';
import { atomicWriteText } from '../core/atomic_write.js';
import { openInferenceEngine, type InferenceEngine } from '../engines/inference_engine.js';
import { splitAtLayer } from '../engines/onnx/split_at_layer.js';
import { findLayerPath, isInputLayer, nodeInModel, producerNode, unknownLayer } from '../engines/onnx/model_graph.js';
import { loadModel, type ModelMetadata } from '../weights/saved_model.js';
import { listImageFiles, modelInputBatches } from './predict.js';
import { gradCam, gradCamPlusPlus, hiResCam, heatmapPeak, heatmapRows, resizeHeatmap, scaleToPeak, type Heatmap } from './grad_cam.js';
import { heatmapOverlayPng, type OverlayOptions } from './heatmap_overlay.js';
import { OCCLUSION_FILLS, classLogOdds, occludedCopies, occlusionGrid, occlusionHeatmap, type OcclusionFill } from './occlusion.js';

export interface ExplainOptions {
  /**
   * The layer whose output is explained (a rows x cols x channels feature map). Default: the last convolutional
   * block's output, or the last block one stride earlier when that map has fewer than 7 x 7 cells (`camLayer`).
   */
  layer?: string;
  /** Explain this class (name or index) instead of each image's predicted class. */
  targetClass?: string | number;
  /** Which engine runs the layers up to `layer` (forward only; the head's gradient is always tfjs). Default 'auto'. */
  engine?: EngineChoice;
  /** What is differentiated: 'log-odds' (default) of the class from the logits, or the class's 'logit' alone (see the file comment). */
  score?: 'log-odds' | 'logit';
  /**
   * 'hirescam' (default): gradient times activation cell by cell (Draelos & Carin 2020), the same map as
   * Grad-CAM for heads that pool first (GAP -> Dense: tlkit's default head), faithful for heads that keep
   * positions (Flatten -> Dense). 'gradcam': each channel weighted by the spatial mean of its gradient
   * (Selvaraju et al. 2017), which can cancel out on such heads (docs/explain.md has the measurements).
   * 'gradcam++': channels weighted by their positive gradients only (Chattopadhay et al. 2018).
   * 'occlusion': no gradient; how far the class's log-odds falls when each patch of the image is hidden
   * (Zeiler & Fergus 2014; src/inference/occlusion.ts): it shows what the decision depends on, where
   * Grad-CAM shows where the evidence sits. About 50 model runs an image instead of one.
   */
  method?: ExplainMethod;
  /** With method 'occlusion': the patch side as a fraction of the image side (default 0.25; patches move by half a patch) and what fills it ('shuffle', default: pixels drawn at random from the whole image; 'surround': from the band around the patch; 'mean': the image's mean colour). */
  occlusion?: { patch?: number; fill?: OcclusionFill };
  /** Images per forward pass (default 8). */
  batchSize?: number;
  /**
   * Resolution of `heatmap` in the result: 'input' (default) resized to the model's input size, so a
   * cell is a pixel; 'features' the feature map's own grid (e.g. 7 x 7 for mobilenet_v2 at 224).
   */
  heatmapSize?: 'input' | 'features';
  /** Folder for the overlays (one PNG per image, named after it) and explain.json; nothing is written without it. */
  outDir?: string;
  overlay?: OverlayOptions;
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
}

export type CamMethod = 'gradcam' | 'hirescam' | 'gradcam++';
export const CAM_METHODS: readonly CamMethod[] = ['gradcam', 'hirescam', 'gradcam++'];
/** The Grad-CAM methods, and occlusion (model-agnostic: hides patches of the image, no gradient). */
export type ExplainMethod = CamMethod | 'occlusion';
export const EXPLAIN_METHODS: readonly ExplainMethod[] = [...CAM_METHODS, 'occlusion'];

export type ScoreKind = 'log-odds' | 'logit' | 'output';

export interface Explanation {
  file: string;
  /** The class explained: the predicted one, unless `targetClass` was given. */
  className: string;
  classIndex: number;
  /** The model's probability of `className`. */
  probability: number;
  /** The class the model predicts (the same as className unless targetClass was given). */
  predictedClass: string;
  /** The map (Grad-CAM's, or occlusion's falls), rows x cols, values in 0..1 (1 at the peak; all 0 when nothing speaks for the class). */
  heatmap: number[][];
  /** [height, width] of the model's input, the pixels the heatmap covers. */
  inputSize: [number, number];
  /** [rows, cols] of the explained layer's feature map (occlusion: of its grid of cells, half a patch each). */
  featureSize: [number, number];
  /** The centre of the feature map's highest cell in input pixels (x right, y down), and its row and column in `heatmap`. */
  peak: { row: number; col: number; x: number; y: number };
  /** The layer explained (occlusion: the model's input layer). */
  layer: string;
  /** What was differentiated: the class's log-odds or logit (from the pre-activation logits), or the model's output when no logit is reachable. */
  score: ScoreKind;
  /** The overlay PNG written, with `outDir`. */
  overlay?: string;
  /** Why this file has no explanation (unreadable, not an image...); the other fields are then empty. */
  error?: string;
}

/** An explainer bound to one loaded model: reuse it for many images, then dispose it (the model stays the caller's). */
export interface Explainer {
  layer: string;
  score: ScoreKind;
  /** The engine that runs the prefix. */
  engine: 'onnx' | 'tfjs';
  /** Why 'auto' fell back to tfjs, when it did. */
  note?: string;
  /** Explanations in file order (folders expanded); an unreadable file gets an entry with `error`. */
  explainFiles(paths: string[], options?: Pick<ExplainOptions, 'onProgress' | 'signal'>): Promise<Explanation[]>;
  /** Closes the prefix's onnxruntime session. */
  dispose(): Promise<void>;
}

/** The head: feature map -> [per-class scores, probabilities]. */
interface Head {
  /** [logits (or the outputs when unreachable), probabilities], each [n, units]. */
  run(features: tf.Tensor): [tf.Tensor, tf.Tensor];
  /** Whether run's first tensor holds logits. */
  logits: boolean;
}

const SQUASHING = new Set(['softmax', 'sigmoid']);

function activationOf(layer: tfl.layers.Layer): string | undefined {
  const a = (layer.getConfig() as { activation?: unknown }).activation;
  return typeof a === 'string' ? a : undefined;
}

/**
 * The head of `rest` (the model after the cut) as a function returning the logits beside the
 * probabilities when the output layer squashes them (softmax / sigmoid Dense, or such an Activation).
 */
function buildHead(rest: tfl.LayersModel): Head {
  const output = rest.outputs[0];
  const layer = output.sourceLayer;
  const input = producerNode(output).inputTensors[0] as SymbolicTensor | undefined;
  const activation = activationOf(layer);
  const kind = layer.getClassName();
  const direct: Head = { run: (a) => tf.tidy(() => { const y = rest.apply(a, { training: false }) as tf.Tensor; return [y, y.clone()]; }), logits: false };
  if (!input || !activation || !SQUASHING.has(activation) || input.id === rest.inputs[0].id) return direct;
  if (kind === 'Activation') {
    const both = tfl.model({ inputs: rest.inputs, outputs: [input, output] });
    return { run: (a) => both.apply(a, { training: false }) as [tf.Tensor, tf.Tensor], logits: true };
  }
  if (kind === 'Dense' && input.shape.length === 2) {
    const both = tfl.model({ inputs: rest.inputs, outputs: [input, output] });
    const [kernel, bias] = layer.getWeights();
    const useBias = (layer.getConfig() as { useBias?: boolean }).useBias !== false;
    return {
      run: (a) =>
        tf.tidy(() => {
          const [h, y] = both.apply(a, { training: false }) as [tf.Tensor2D, tf.Tensor];
          const z = tf.matMul(h, kernel as tf.Tensor2D);
          return [useBias && bias ? tf.add(z, bias) : z, y];
        }),
      logits: true,
    };
  }
  return direct;
}

/** The output shape of a top-level layer, when it has a single output. */
function outputShape(model: tfl.LayersModel, layer: tfl.layers.Layer): (number | null)[] | undefined {
  const out = nodeInModel(model, layer).outputTensors;
  return out.length === 1 ? out[0].shape : undefined;
}

/** Whether the model can be cut right after `layer` (not through a residual block). */
function canCut(model: tfl.LayersModel, layer: tfl.layers.Layer): boolean {
  try {
    // The trial cut re-applies the layers after it (a reference on each): release it.
    splitAtLayer(model, layer.name).rest.dispose();
    return true;
  } catch {
    return false; // a cut through a residual block
  }
}

/** Top-level layers with a rows x cols x channels output, from the output back, that are not an output themselves. */
function* featureMapLayers(model: tfl.LayersModel): Generator<{ layer: tfl.layers.Layer; rows: number; cols: number }> {
  for (let i = model.layers.length - 1; i >= 0; i--) {
    const layer = model.layers[i];
    const shape = outputShape(model, layer);
    if (isInputLayer(layer) || !shape || shape.length !== 4) continue;
    if (model.outputs.some((t) => t.sourceLayer === layer)) continue;
    yield { layer, rows: shape[1] ?? 0, cols: shape[2] ?? 0 };
  }
}

function noFeatureMap(model: tfl.LayersModel): TlkitError {
  return new TlkitError(`Grad-CAM needs a convolutional feature map (rows x cols x channels) before the output, and model '${model.name}' has none that every path goes through`);
}

/** The last top-level layer with a 4-D output that the model can be cut at (a nested backbone counts as one layer). */
export function lastConvolutionalLayer(model: tfl.LayersModel): string {
  for (const { layer } of featureMapLayers(model)) if (canCut(model, layer)) return layer.name;
  throw noFeatureMap(model);
}

/**
 * Cells per side under which the last block's map is too coarse to point at an object: an ImageNet backbone
 * gives 7 x 7 (8 x 8, 10 x 10 at 299) at its native input size, and fewer below it (4 x 4 for mobilenet_v2
 * at 128 px, where every cell sees the whole image).
 */
const MIN_CAM_CELLS = 7;

// Padding and cropping layers shift the grid against the image: a cell there is not where `peak` would put it.
const SHIFTED_GRID = new Set(['ZeroPadding2D', 'Cropping2D']);

/**
 * The layer `explain` explains by default: the last convolutional block (`lastConvolutionalLayer`) when its
 * map has at least 7 x 7 cells; otherwise (an input smaller than the backbone's native size) the last block
 * one stride earlier, with a finer grid (mobilenet_v2 at 128 px: `block_13_expand_relu`, 8 x 8, instead of
 * `out_relu`, 4 x 4), when the model can be cut there. docs/explain.md has the measurements behind it.
 */
export function camLayer(model: tfl.LayersModel): string {
  const last = lastConvolutionalLayer(model);
  const maps = [...featureMapLayers(model)];
  const at = maps.findIndex((m) => m.layer.name === last);
  const { rows, cols } = maps[at];
  if (rows >= MIN_CAM_CELLS && cols >= MIN_CAM_CELLS) return last;
  for (const m of maps.slice(at + 1)) {
    if (m.rows <= rows || m.cols <= cols || SHIFTED_GRID.has(m.layer.getClassName())) continue;
    // The first finer grid met going back: the last block at the previous stride (or a cut through a residual block: keep looking).
    if (canCut(model, m.layer)) return m.layer.name;
  }
  return last;
}

function checkLayer(model: tfl.LayersModel, name: unknown): string {
  if (typeof name !== 'string' || name.length === 0) throw invalidArgument('layer', name, 'a layer name');
  const found = findLayerPath(model, name);
  if (!found) throw unknownLayer('layer', name, model);
  const owner = found.owners[found.owners.length - 1];
  const shape = nodeInModel(owner, found.layer).outputTensors[0]?.shape;
  if (!shape || shape.length !== 4) {
    throw new UsageError(`Invalid value for \`layer\`: Grad-CAM explains a layer with a rows x cols x channels output, and '${name}' outputs ${formatValue(shape?.slice(1))}. Received: layer=${JSON.stringify(name)}`, 'layer');
  }
  return name;
}

function classIndexOf(target: string | number, metadata: ModelMetadata): number {
  const names = metadata.classNames;
  const index = typeof target === 'number' ? target : names.indexOf(target);
  if (!Number.isInteger(index) || index < 0 || index >= names.length) throw invalidArgument('targetClass', target, `a class name (${names.join(', ')}) or an index 0..${names.length - 1}`);
  return index;
}

/** Probability of each class from one output row: softmax rows as they are, a sigmoid unit as [1 - p, p]. */
function classProbabilities(row: Float32Array | number[], binary: boolean): number[] {
  return binary ? [1 - row[0], row[0]] : Array.from(row);
}

function argMax(values: number[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/** One batch of preprocessed images explained: per image, its map and the class explained. */
type BatchExplainer = (x: tf.Tensor4D) => Promise<{ map: Heatmap; classIndex: number; probability: number; predicted: number }[]>;

/** What a method needs to explain batches: the batch function, what it explains, and how to release it. */
interface MethodRunner {
  explainBatch: BatchExplainer;
  layer: string;
  score: ScoreKind;
  engine: InferenceEngine;
  dispose(): Promise<void>;
}

/**
 * An explainer for a loaded model and its metadata: cuts the model at `layer` (default: the last
 * convolutional block) and opens the engine for the part before it (Grad-CAM methods), or opens the whole
 * model (occlusion). Reuse it for many images; dispose it.
 */
export async function createExplainer(model: tfl.LayersModel, metadata: ModelMetadata, options: Omit<ExplainOptions, 'outDir' | 'onProgress' | 'signal'> = {}): Promise<Explainer> {
  const method = options.method ?? 'hirescam';
  if (!EXPLAIN_METHODS.includes(method)) throw invalidArgument('method', method, EXPLAIN_METHODS.join(', '));
  const batchSize = options.batchSize ?? (method === 'occlusion' ? 2 : 8);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw invalidArgument('batchSize', batchSize, 'an integer >= 1');
  const heatmapSize = options.heatmapSize ?? 'input';
  if (heatmapSize !== 'input' && heatmapSize !== 'features') throw invalidArgument('heatmapSize', heatmapSize, "'input' or 'features'");
  const scoreOption = options.score ?? 'log-odds';
  if (scoreOption !== 'log-odds' && scoreOption !== 'logit') throw invalidArgument('score', scoreOption, "'log-odds' or 'logit'");
  const target = options.targetClass === undefined ? undefined : classIndexOf(options.targetClass, metadata);
  const runner = method === 'occlusion' ? await occlusionRunner(model, metadata, options, target) : await gradCamRunner(model, metadata, options, method, scoreOption, target);
  const { explainBatch, engine } = runner;
  const [h, w] = metadata.inputSize;

  return {
    layer: runner.layer,
    score: runner.score,
    engine: engine.name,
    note: engine.note,
    async explainFiles(paths, callOptions = {}) {
      const files = await listImageFiles(paths);
      const out: Explanation[] = [];
      callOptions.signal?.throwIfAborted();
      for await (const { files: chunk, start, loaded, x, errors } of modelInputBatches(files, metadata, batchSize)) {
        callOptions.signal?.throwIfAborted();
        const byIndex = new Map<number, Explanation>();
        if (x) {
          (await explainBatch(x)).forEach((r, k) => {
            const peak = peakOf(r.map, heatmapSize, h, w);
            const shown = heatmapSize === 'input' ? peakAt(scaleToPeak(resizeHeatmap(r.map, h, w)), peak) : r.map;
            byIndex.set(loaded[k], {
              file: chunk[loaded[k]],
              className: metadata.classNames[r.classIndex],
              classIndex: r.classIndex,
              probability: r.probability,
              predictedClass: metadata.classNames[r.predicted],
              heatmap: heatmapRows(shown),
              inputSize: [h, w],
              featureSize: [r.map.rows, r.map.cols],
              peak,
              layer: runner.layer,
              score: runner.score,
            });
          });
        }
        chunk.forEach((file, i) => out.push(byIndex.get(i) ?? failed(file, errors.get(i) ?? 'not explained', [h, w], runner.layer, runner.score)));
        callOptions.onProgress?.({ task: 'explain', current: Math.min(files.length, start + batchSize), total: files.length, unit: 'img', done: start + batchSize >= files.length });
      }
      return out;
    },
    dispose: () => runner.dispose(),
  };
}

/** The class explained for one output row: the target, else the predicted class; with its probability. */
function pickClass(row: number[] | Float32Array, binary: boolean, target: number | undefined): { predicted: number; classIndex: number; probability: number } {
  const p = classProbabilities(row, binary);
  const predicted = argMax(p);
  const classIndex = target ?? predicted;
  return { predicted, classIndex, probability: p[classIndex] };
}

/** Grad-CAM methods: the model cut at the explained layer, the prefix on the engine, the head differentiated in tfjs. */
async function gradCamRunner(model: tfl.LayersModel, metadata: ModelMetadata, options: ExplainOptions, method: CamMethod, scoreOption: 'log-odds' | 'logit', target: number | undefined): Promise<MethodRunner> {
  const layer = options.layer === undefined ? camLayer(model) : checkLayer(model, options.layer);
  const cam = method === 'gradcam' ? gradCam : method === 'gradcam++' ? gradCamPlusPlus : hiResCam;
  const { prefix, rest, boundaryLayer } = splitAtLayer(model, layer);
  const head = buildHead(rest);
  const binary = metadata.classMode === 'binary';
  // With one unit (sigmoid) the logit is already the log-odds; a softmax over one class has no odds.
  const score: ScoreKind = !head.logits ? 'output' : binary || metadata.classNames.length < 2 ? 'logit' : scoreOption;
  const engine: InferenceEngine = await openInferenceEngine(prefix, options.engine ?? 'auto');
  const features = async (x: tf.Tensor4D): Promise<tf.Tensor> => (engine.predictor ? engine.predictor(x) : tf.tidy(() => prefix.apply(x, { training: false }) as tf.Tensor));

  /** Grad-CAM for a batch of preprocessed images. */
  const explainBatch = async (x: tf.Tensor4D): Promise<{ map: Heatmap; classIndex: number; probability: number; predicted: number }[]> => {
    const a = await features(x);
    try {
      const [rows, cols, channels] = a.shape.slice(1) as [number, number, number];
      const [forwardScores, probs] = head.run(a);
      const probRows = (await probs.array()) as number[][];
      tf.dispose([forwardScores, probs]);
      const picked = probRows.map((row) => pickClass(row, binary, target));
      // d(sum over the batch of each image's score)/dA: images do not interact in inference mode, so row i is image i's gradient.
      const units = probRows[0].length;
      const mask = tf.tensor2d(
        picked.flatMap(({ classIndex }) => (binary ? [classIndex === 1 ? 1 : -1] : Array.from({ length: units }, (_, u) => (u === classIndex ? 1 : 0)))),
        [picked.length, units],
      );
      const grads = tf.tidy(() =>
        tf.grad((input: tf.Tensor) => {
          const [z, p] = head.run(input);
          p.dispose();
          const picked = tf.sum(tf.mul(z, mask));
          if (score !== 'log-odds') return picked;
          // Minus log(sum over the other classes of exp z_j): the class's own logit pushed far below the rest.
          return tf.sub(picked, tf.sum(tf.logSumExp(tf.sub(z, tf.mul(mask, 1e9)), 1)));
        })(a),
      );
      mask.dispose();
      const [aData, gData] = await Promise.all([a.data() as Promise<Float32Array>, grads.data() as Promise<Float32Array>]);
      grads.dispose();
      const per = rows * cols * channels;
      return picked.map((p, i) => ({ ...p, map: cam(aData.subarray(i * per, (i + 1) * per), gData.subarray(i * per, (i + 1) * per), rows, cols, channels) }));
    } finally {
      a.dispose();
    }
  };

  return {
    explainBatch,
    layer: boundaryLayer.name,
    score,
    engine,
    async dispose() {
      await engine.dispose();
      // Cutting re-applied the layers after the cut, one more reference on each: release it, so that
      // disposing the model later frees their weights (the prefix reuses the model's graph as it is).
      rest.dispose();
    },
  };
}

/** Images per model run while occluding (each a full-size copy of the image). */
const OCCLUSION_RUN_BATCH = 16;

/** Occlusion: the whole model on the engine, run on copies of each image with one patch hidden at a time. */
async function occlusionRunner(model: tfl.LayersModel, metadata: ModelMetadata, options: ExplainOptions, target: number | undefined): Promise<MethodRunner> {
  if (options.layer !== undefined) throw new UsageError('Invalid value for `layer`: occlusion hides parts of the input image and explains no layer; leave `layer` out or choose a Grad-CAM method', 'layer');
  if (options.score === 'logit') throw new UsageError("Invalid value for `score`: occlusion reads the class's log-odds from the model's probabilities; 'logit' needs a Grad-CAM method", 'score');
  const patch = options.occlusion?.patch ?? 0.25;
  if (!(patch > 0 && patch <= 1)) throw invalidArgument('occlusion.patch', patch, 'a fraction of the image side in (0, 1]');
  const fill = options.occlusion?.fill ?? 'shuffle';
  if (!OCCLUSION_FILLS.includes(fill)) throw invalidArgument('occlusion.fill', fill, OCCLUSION_FILLS.join(' or '));
  // About 50 model runs an image: a throughput workload (one single-thread session per core).
  const engine = await openInferenceEngine(model, options.engine ?? 'auto', { manyImages: true });
  const [h, w] = metadata.inputSize;
  const grid = occlusionGrid(h, w, patch);
  const binary = metadata.classMode === 'binary';
  const size = h * w * 3;
  const run = async (data: Float32Array, n: number): Promise<Float32Array> => {
    const x = tf.tensor4d(data, [n, h, w, 3]);
    try {
      const y = engine.predictor ? await engine.predictor(x) : (model.predict(x) as tf.Tensor);
      try {
        return (await y.data()) as Float32Array;
      } finally {
        y.dispose();
      }
    } finally {
      x.dispose();
    }
  };
  const explainBatch: BatchExplainer = async (x) => {
    const images = (await x.data()) as Float32Array;
    const n = x.shape[0];
    const outputs = await run(images, n);
    const units = outputs.length / n;
    const results = [];
    for (let i = 0; i < n; i++) {
      const row = outputs.subarray(i * units, (i + 1) * units);
      const picked = pickClass(row, binary, target);
      const base = classLogOdds(row, picked.classIndex, binary);
      const image = images.subarray(i * size, (i + 1) * size);
      const falls = new Float32Array(grid.positions.length);
      for (let start = 0; start < grid.positions.length; start += OCCLUSION_RUN_BATCH) {
        const positions = grid.positions.slice(start, start + OCCLUSION_RUN_BATCH);
        const scores = await run(occludedCopies(image, grid, positions, fill), positions.length);
        positions.forEach((_, k) => (falls[start + k] = base - classLogOdds(scores.subarray(k * units, (k + 1) * units), picked.classIndex, binary)));
      }
      results.push({ ...picked, map: occlusionHeatmap(falls, grid) });
    }
    return results;
  };
  return { explainBatch, layer: model.inputs[0].sourceLayer.name, score: 'log-odds', engine, dispose: () => engine.dispose() };
}

/**
 * The centre of the feature map's highest cell, in input pixels, and where that falls in the heatmap
 * returned. Taken on the feature grid, not the resized map: there a border cell's value fills the whole
 * margin up to the image edge, and the first maximum would sit at the edge instead of the cell's centre.
 */
function peakOf(map: Heatmap, heatmapSize: 'input' | 'features', h: number, w: number): Explanation['peak'] {
  const cell = heatmapPeak(map, h, w);
  if (heatmapSize === 'features') return cell;
  return { row: Math.min(h - 1, Math.floor(cell.y)), col: Math.min(w - 1, Math.floor(cell.x)), x: cell.x, y: cell.y };
}

/** The largest value in JSON (3 decimals) below the peak's 1. */
const BELOW_PEAK = 0.999;

/**
 * The resized map with its one maximum at `peak`, the centre of the highest cell: 1 there, at most 0.999
 * elsewhere. Bilinear resizing holds a border cell's value flat out to the image edge, and rounding to 3
 * decimals flattens the top of any cell, so the map's first maximum (what a reader taking the argmax of
 * `heatmap` finds) would otherwise sit at the edge or the corner of that plateau, up to half a cell away.
 */
function peakAt(map: Heatmap, peak: Explanation['peak']): Heatmap {
  if (map.data[peak.row * map.cols + peak.col] <= 0) return map; // all zero: nothing to point at
  for (let p = 0; p < map.data.length; p++) if (map.data[p] > BELOW_PEAK) map.data[p] = BELOW_PEAK;
  map.data[peak.row * map.cols + peak.col] = 1;
  return map;
}

function failed(file: string, error: string, inputSize: [number, number], layer: string, score: ScoreKind): Explanation {
  return { file, className: '', classIndex: -1, probability: Number.NaN, predictedClass: '', heatmap: [], inputSize, featureSize: [0, 0], peak: { row: -1, col: -1, x: Number.NaN, y: Number.NaN }, layer, score, error };
}

/** The heatmap of an explanation as a Heatmap (for overlays). */
export function explanationHeatmap(e: Pick<Explanation, 'heatmap'>): Heatmap {
  const rows = e.heatmap.length;
  const cols = rows > 0 ? e.heatmap[0].length : 0;
  return { rows, cols, data: Float32Array.from(e.heatmap.flat()) };
}

/** Overlay file names: the image's name with .png, numbered when two images share a name. */
function overlayNames(files: string[]): string[] {
  const used = new Map<string, number>();
  return files.map((f) => {
    const stem = basename(f, extname(f)) || 'image';
    const n = (used.get(stem) ?? 0) + 1;
    used.set(stem, n);
    return n === 1 ? `${stem}.png` : `${stem}-${n}.png`;
  });
}

/** Writes one overlay PNG per explained image and explain.json into `outDir`; sets each explanation's `overlay`. */
export async function writeExplanations(explanations: Explanation[], outDir: string, options: OverlayOptions = {}): Promise<string> {
  await mkdir(outDir, { recursive: true });
  const names = overlayNames(explanations.map((e) => e.file));
  for (const [i, e] of explanations.entries()) {
    if (e.error) continue;
    const path = join(outDir, names[i]);
    await writeFile(path, await heatmapOverlayPng(e.file, explanationHeatmap(e), options));
    e.overlay = path;
  }
  const json = join(outDir, 'explain.json');
  await atomicWriteText(json, JSON.stringify(explanations) + '\n');
  return json;
}

/**
 * Grad-CAM heatmaps for image files (and folders of them) with a saved model (its folder, or a run
 * directory). With `outDir`, also writes overlays and explain.json there.
 */
export async function explain(modelPath: string, paths: string[], options: ExplainOptions = {}): Promise<Explanation[]> {
  const { model, metadata } = await loadModel(modelPath);
  try {
    const explainer = await createExplainer(model, metadata, options);
    try {
      const explanations = await explainer.explainFiles(paths, options);
      if (options.outDir !== undefined) await writeExplanations(explanations, options.outDir, options.overlay);
      return explanations;
    } finally {
      await explainer.dispose();
    }
  } finally {
    model.dispose();
  }
}
