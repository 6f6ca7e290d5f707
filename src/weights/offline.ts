/**
 * Offline pretrained weights from the npm package `nsfwjs` (v4), source name 'nsfwjs'.
 *
 * What they are: nsfwjs bundles Keras-trained image classifiers as tfjs layers models: a MobileNetV2
 * (alpha 1.0, 224x224) and an InceptionV3 (299x299), each a keras.applications backbone (Keras 2.2.4
 * layer names, e.g. `Conv1/kernel`, `batch_normalization_1/beta`) plus a small head
 * (AveragePooling2D -> Flatten -> Dense(256, relu) -> Dropout -> Dense(128, relu) -> Dropout ->
 * Dense(5, softmax)). They were fine-tuned from ImageNet weights on 60+ GB of web photos and drawings
 * (GantMan/nsfw_model, data from alexkimxyz/nsfw_data_scraper) to sort images into 5 content classes
 * (drawing, hentai, neutral, porn, sexy). tlkit uses only the backbone, as a pretrained feature
 * extractor that works without internet; its features are photo features, but not ImageNet's.
 * Inputs: RGB scaled to [0, 1] (x / 255), as nsfwjs feeds them: preprocess 'none' with rescale 1/255
 * (Keras ImageDataGenerator's rescale), not ImageNet's 'tf' mode.
 *
 * How they ship: each model is a UMD JS module holding model.json (`model.min.js`) and base64 JS
 * modules holding the weight shards (`group1-shardNofM.min.js`), every weight uint8-quantised
 * (value = q * scale + min, tfjs's weight quantisation). tlkit decodes and dequantises them here.
 *
 * Licence: nsfwjs is MIT licensed, "Copyright (c) 2019 Infinite Red, Inc." (node_modules/nsfwjs/LICENSE);
 * the model files are part of that package. See docs/weights.md.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { existsSync } from 'node:fs';
import type { tfl } from '../engines/tfjs/tf.js';
import { WeightsError } from '../core/errors.js';
import { NSFWJS_SOURCE, offlineRecord, offlineSources, type NsfwjsVariant, type OfflineWeights } from './catalog.js';
import { applyStoredWeights, type ApplyWeightsResult, type StoredLayer, type StoredWeights } from './stored_weights.js';

export { NSFWJS_SOURCE, NSFWJS_INPUT, isOfflineSource, offlineSources, offlineSourcesFor, offlineInputSize } from './catalog.js';
export type { InputScaling, OfflineSourceInfo, NsfwjsVariant } from './catalog.js';

interface WeightSpec {
  name: string;
  shape: number[];
  dtype: 'float32';
  quantization?: { dtype: 'uint8' | 'uint16' | 'float16'; scale?: number; min?: number };
}

interface NsfwjsModelJson {
  modelTopology: {
    keras_version: string;
    model_config: { class_name: string; config: { layers: { name: string; class_name: string }[] } };
  };
  weightsManifest: { paths: string[]; weights: WeightSpec[] }[];
}

/** The package's model as tfjs model artifacts: quantised specs and raw bytes, as tf.io.fromMemory takes them. */
export interface NsfwjsModel {
  variant: NsfwjsVariant;
  modelTopology: NsfwjsModelJson['modelTopology'];
  weightSpecs: WeightSpec[];
  weightData: ArrayBuffer;
  /** Every layer with its dequantised weights, in the model's layer order. */
  layers: StoredLayer[];
}

function nsfwjsModelsDir(): string {
  const require = createRequire(import.meta.url);
  let entry: string;
  try {
    entry = require.resolve('nsfwjs');
  } catch (error) {
    throw new WeightsError("The offline weights source 'nsfwjs' needs the npm package nsfwjs@4 (npm install nsfwjs@4); it is not installed.", { cause: error });
  }
  // entry: <pkg>/dist/cjs/index.js; the models live in <pkg>/dist/models.
  const dir = join(dirname(dirname(entry)), 'models');
  if (!existsSync(dir)) throw new WeightsError(`The installed nsfwjs has no bundled models at ${dir}; tlkit needs nsfwjs@4, which bundles them.`);
  return dir;
}

// Keras's legacy per-layer weight order; the manifest lists weights alphabetically instead.
const WEIGHT_ORDER = ['kernel', 'depthwise_kernel', 'pointwise_kernel', 'bias', 'gamma', 'beta', 'moving_mean', 'moving_variance'];
const orderOf = (short: string) => {
  const i = WEIGHT_ORDER.indexOf(short);
  return i < 0 ? WEIGHT_ORDER.length : i;
};

function dequantise(spec: WeightSpec, bytes: Uint8Array, offset: number): { values: Float32Array; byteLength: number } {
  const size = spec.shape.reduce((a, b) => a * b, 1);
  const q = spec.quantization;
  if (!q) return { values: new Float32Array(bytes.buffer.slice(bytes.byteOffset + offset, bytes.byteOffset + offset + size * 4)), byteLength: size * 4 };
  if (q.dtype === 'uint8' || q.dtype === 'uint16') {
    const width = q.dtype === 'uint8' ? 1 : 2;
    const raw = q.dtype === 'uint8' ? bytes.subarray(offset, offset + size) : new Uint16Array(bytes.buffer.slice(bytes.byteOffset + offset, bytes.byteOffset + offset + size * 2));
    const scale = q.scale ?? 1;
    const min = q.min ?? 0;
    const values = new Float32Array(size);
    for (let i = 0; i < size; i++) values[i] = raw[i]! * scale + min;
    return { values, byteLength: size * width };
  }
  throw new WeightsError(`nsfwjs weight ${spec.name} uses ${q.dtype} quantisation, which tlkit does not decode`);
}

const cache = new Map<NsfwjsVariant, NsfwjsModel>();

/** Decodes one of the package's models (cached per process: InceptionV3's shards are 30 MB of base64). */
export function readNsfwjsModel(variant: NsfwjsVariant): NsfwjsModel {
  const hit = cache.get(variant);
  if (hit) return hit;
  const dir = join(nsfwjsModelsDir(), variant);
  const require = createRequire(import.meta.url);
  const json = require(join(dir, 'model.min.js')) as NsfwjsModelJson;
  const shards = json.weightsManifest.flatMap((group) =>
    group.paths.map((p) => Buffer.from(require(join(dir, `${p}.min.js`)) as string, 'base64')),
  );
  const data = Buffer.concat(shards);
  const weightSpecs = json.weightsManifest.flatMap((g) => g.weights);
  const byLayer = new Map<string, { short: string; weight: StoredLayer['weights'][number] }[]>();
  let offset = 0;
  for (const spec of weightSpecs) {
    const { values, byteLength } = dequantise(spec, data, offset);
    offset += byteLength;
    const cut = spec.name.lastIndexOf('/');
    const layer = spec.name.slice(0, cut);
    const short = spec.name.slice(cut + 1);
    const list = byLayer.get(layer) ?? [];
    list.push({ short, weight: { name: spec.name, shape: spec.shape, values } });
    byLayer.set(layer, list);
  }
  if (offset !== data.length) throw new WeightsError(`nsfwjs ${variant}: the weight shards hold ${data.length} bytes but the manifest describes ${offset}`);
  const layers: StoredLayer[] = json.modelTopology.model_config.config.layers.map((l) => ({
    name: l.name,
    weights: (byLayer.get(l.name) ?? []).sort((a, b) => orderOf(a.short) - orderOf(b.short)).map((w) => w.weight),
  }));
  const model: NsfwjsModel = {
    variant,
    modelTopology: json.modelTopology,
    weightSpecs,
    weightData: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer,
    layers,
  };
  cache.set(variant, model);
  return model;
}

function backboneEntry(source: string, backboneId: string): OfflineWeights {
  const known = offlineSources().find((s) => s.name === source);
  if (!known) {
    throw new WeightsError(`Unknown offline weights source '${source}'. Offline sources: ${offlineSources().map((s) => s.name).join(', ')}`);
  }
  const entry = offlineRecord(source, backboneId);
  if (!entry) {
    throw new WeightsError(`The offline source '${source}' has no weights for backbone '${backboneId}'; it has: ${known.backbones.join(', ')}`);
  }
  return entry;
}

/** The backbone part of an offline model's weights (the head's layers left out). */
export function offlineBackboneWeights(source: string, backboneId: string): StoredWeights {
  const entry = backboneEntry(source, backboneId);
  const model = readNsfwjsModel(entry.variant as NsfwjsVariant);
  const last = model.layers.findIndex((l) => l.name === entry.lastBackboneLayer);
  if (last < 0) throw new WeightsError(`nsfwjs ${entry.variant}: layer '${entry.lastBackboneLayer}' not found; is this nsfwjs@4?`);
  return { source: `${source}:${entry.variant}`, layers: model.layers.slice(0, last + 1), kerasVersion: model.modelTopology.keras_version };
}

/** Loads an offline source's backbone weights into a tlkit backbone (built with includeTop: false). */
export function loadOfflineWeights(backbone: tfl.LayersModel, source: string, backboneId: string): ApplyWeightsResult {
  const entry = backboneEntry(source, backboneId);
  return applyStoredWeights(backbone, offlineBackboneWeights(source, backboneId), { byName: entry.byName });
}
