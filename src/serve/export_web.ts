// `tlkit export RUN --format web`: a folder that classifies images in a browser, offline, served by any
// static file server. index.html, tlkit-web.js (the page script with tfjs, bundled), tfjs's .wasm files
// and the model beside them (model.json + weights.bin in plain tfjs form, tlkit.json): the folder is a tlkit
// model folder too (`tlkit predict DIR ...` reads it), and not a run directory (no model/ inside it).
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { FileError, invalidArgument } from '../core/errors.js';
import { atomicWrite } from '../core/atomic_write.js';
import { loadModel, saveModel, MODEL_JSON, WEIGHTS_BIN, type ModelMetadata } from '../weights/saved_model.js';
import { quantizeWeights, WEB_WEIGHT_QUANTIZATIONS, type WebWeightQuantization } from './quantize_weights.js';
import { bundlePageScript } from './bundle.js';
import { toPlainTfjsModel } from './plain_tfjs_model.js';
import { renderWebPage } from './web_page.js';
import type { WebPageConfig } from './web/page_config.js';

export const WEB_SCRIPT = 'tlkit-web.js';
/** tfjs-backend-wasm picks one of these at run time (SIMD or not; threads only when cross-origin isolated). */
const WASM_FILES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'];

export interface ExportWebAppOptions {
  /** Page title. Default: '<backbone> classifier: <classes>'. */
  title?: string;
  /** Classes listed per image. Default min(5, classes). */
  topK?: number;
  /**
   * Store the kernels as uint8 (4x smaller) or float16 (2x) with model.json's standard weight
   * quantization, which plain tfjs dequantizes on load. Default: float32.
   */
  quantize?: WebWeightQuantization;
}

export interface ExportWebAppResult {
  outDir: string;
  files: string[];
  /** Size of weights.bin as written, and as float32 it would be. */
  weightsBytes?: number;
  float32WeightsBytes?: number;
}

/** The page config for a model's metadata; `mode` says where classification happens. */
export function pageConfigFor(metadata: ModelMetadata, mode: WebPageConfig['mode'], options: ExportWebAppOptions = {}): WebPageConfig {
  const shown = metadata.classNames.length <= 4 ? metadata.classNames.join(', ') : `${metadata.classNames.length} classes`;
  return {
    mode,
    title: options.title ?? `${metadata.backbone} classifier: ${shown}`,
    classNames: metadata.classNames,
    classMode: metadata.classMode,
    inputSize: metadata.inputSize,
    preprocess: metadata.preprocess,
    rescale: metadata.rescale,
    backbone: metadata.backbone,
    topK: options.topK ?? Math.min(5, metadata.classNames.length),
  };
}

function wasmDir(): string {
  const require = createRequire(import.meta.url);
  return dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
}

/** Writes the web page for the model of `runDir` (a run directory or its model/ folder) into `outDir`. */
export async function exportWebApp(runDir: string, outDir: string, options: ExportWebAppOptions = {}): Promise<ExportWebAppResult> {
  if (options.quantize !== undefined && !WEB_WEIGHT_QUANTIZATIONS.includes(options.quantize)) throw invalidArgument('quantize', options.quantize, WEB_WEIGHT_QUANTIZATIONS.join(' or '));
  const { model, metadata } = await loadModel(runDir);
  let sizes: { weightsBytes: number; float32WeightsBytes: number } | undefined;
  const script = bundlePageScript('local');
  script.catch(() => undefined); // awaited below; this only keeps an early failure from going unhandled
  try {
    await mkdir(outDir, { recursive: true });
    const plain = toPlainTfjsModel(model);
    try {
      const { formatVersion: _f, tlkitVersion: _t, ...rest } = metadata;
      await saveModel(outDir, plain, rest);
      sizes = await quantizeSavedWeights(outDir, options.quantize);
    } finally {
      plain.dispose();
    }
  } catch (error) {
    if (error instanceof FileError || !(error instanceof Error)) throw error;
    throw new FileError(outDir, `cannot write the web page (${error.message})`, { cause: error });
  } finally {
    model.dispose();
  }
  const config: WebPageConfig = { ...pageConfigFor(metadata, 'local', options), modelUrl: 'model.json', wasmPath: './' };
  await writeFile(join(outDir, 'index.html'), renderWebPage(config, WEB_SCRIPT));
  await writeFile(join(outDir, WEB_SCRIPT), await script);
  const wasm = wasmDir();
  for (const f of WASM_FILES) await copyFile(join(wasm, f), join(outDir, f));
  return { outDir, files: ['index.html', WEB_SCRIPT, ...WASM_FILES, 'model.json', 'weights.bin', 'tlkit.json'], ...sizes };
}

/** Rewrites a saved model folder's weights with model.json's weight quantization; returns the sizes. */
async function quantizeSavedWeights(dir: string, dtype: WebWeightQuantization | undefined): Promise<{ weightsBytes: number; float32WeightsBytes: number }> {
  const data = new Uint8Array(await readFile(join(dir, WEIGHTS_BIN)));
  if (!dtype) return { weightsBytes: data.length, float32WeightsBytes: data.length };
  const json = JSON.parse(await readFile(join(dir, MODEL_JSON), 'utf8')) as { weightsManifest: { paths: string[]; weights: Parameters<typeof quantizeWeights>[0] }[] };
  if (json.weightsManifest.length !== 1) throw new Error(`internal: expected one weights group in ${MODEL_JSON}`);
  const quantized = quantizeWeights(json.weightsManifest[0].weights, data, dtype);
  json.weightsManifest[0].weights = quantized.specs;
  await atomicWrite(join(dir, WEIGHTS_BIN), [quantized.data]);
  await atomicWrite(join(dir, MODEL_JSON), [new TextEncoder().encode(JSON.stringify(json))]);
  return { weightsBytes: quantized.data.length, float32WeightsBytes: data.length };
}
