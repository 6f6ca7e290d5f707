// A trained classifier on disk: a tfjs layers model (model.json + weights.bin, which
// `tf.loadLayersModel('.../model.json')` loads in a browser) plus tlkit.json, the metadata `predict`
// needs and nothing else has: class names, class mode, preprocessing, input size, backbone, weights.
//
// Crash safety: a new directory is written under a temporary name and renamed into place. An existing
// directory (a run's model/ folder) gets each file written to a temporary name and renamed, with
// tlkit.json removed first and written last, so a directory with tlkit.json always holds a whole model.
import { createRequire } from 'node:module';
import { existsSync, realpathSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { tf, tfl } from '../engines/tfjs/tf.js';
import { FileError, formatValue } from '../core/errors.js';
import { LABEL_CLASS_MODES, type LabelClassMode } from '../core/names.js';
import type { PreprocessMode } from '../models/types.js';
import '../models/zoo.js'; // registers the zoo's custom layers, which a saved model may contain
import { atomicWrite, atomicWriteText } from '../core/atomic_write.js';

export const MODEL_FORMAT_VERSION = 1;
export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';
export const METADATA_JSON = 'tlkit.json';

const PREPROCESS_MODES: readonly PreprocessMode[] = ['tf', 'caffe', 'torch', 'none'];

/** tlkit.json. Unknown extra fields are kept (later versions may add some). */
export interface ModelMetadata {
  formatVersion: number;
  /** Index i is the name of output class i (sorted sub-folder names, as flow_from_directory gives them). */
  classNames: string[];
  classMode: LabelClassMode;
  /** keras.applications preprocess_input mode applied to 0-255 RGB pixels... */
  preprocess: PreprocessMode;
  /** ...then multiplied by this when set (Keras ImageDataGenerator `rescale`; the nsfwjs weights use 1/255). */
  rescale?: number;
  /** [height, width] the model takes. */
  inputSize: [number, number];
  /** Registry id, e.g. 'mobilenet_v2'. */
  backbone: string;
  /** 'imagenet', 'none', an offline source name, or the .h5 path the backbone started from. */
  weightsSource: string;
  /**
   * The last layer of the run's last frozen prefix: the layers up to it kept the weights the run started
   * from, so their features are in the feature store (`tlkit evaluate` reads them). Absent: none.
   */
  frozenPrefixEnd?: string;
  /** ISO 8601. */
  createdAt: string;
  tlkitVersion: string;
  [key: string]: unknown;
}

/** What a caller gives saveModel; the version fields and the date are filled in. */
export type ModelMetadataInput = Omit<ModelMetadata, 'formatVersion' | 'createdAt' | 'tlkitVersion'> & { createdAt?: string };

export function tlkitVersion(): string {
  return (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
}

function bad(path: string, field: string, received: unknown, expected: string): FileError {
  return new FileError(path, `invalid tlkit metadata: \`${field}\` must be ${expected}. Received: ${field}=${formatValue(received)}`);
}

/** Checks tlkit.json's content; `path` names the file in errors. Returns it typed. */
export function validateMetadata(value: unknown, path: string): ModelMetadata {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new FileError(path, `invalid tlkit metadata: expected a JSON object. Received: ${formatValue(value)}`);
  const m = value as Record<string, unknown>;
  if (m.formatVersion !== MODEL_FORMAT_VERSION) {
    throw bad(path, 'formatVersion', m.formatVersion, `${MODEL_FORMAT_VERSION} (this tlkit ${tlkitVersion()} reads format ${MODEL_FORMAT_VERSION}${typeof m.formatVersion === 'number' && m.formatVersion > MODEL_FORMAT_VERSION ? '; the model was saved by a newer tlkit' : ''})`);
  }
  const names = m.classNames;
  if (!Array.isArray(names) || names.length < 1 || !names.every((n) => typeof n === 'string' && n.length > 0)) throw bad(path, 'classNames', names, 'a non-empty list of non-empty strings');
  if (new Set(names).size !== names.length) throw bad(path, 'classNames', names, 'a list without duplicates');
  if (!(LABEL_CLASS_MODES as readonly unknown[]).includes(m.classMode)) throw bad(path, 'classMode', m.classMode, `one of ${LABEL_CLASS_MODES.join(', ')}`);
  if (m.classMode === 'binary' && names.length !== 2) throw bad(path, 'classNames', names, "2 names when classMode is 'binary'");
  if (!(PREPROCESS_MODES as readonly unknown[]).includes(m.preprocess)) throw bad(path, 'preprocess', m.preprocess, `one of ${PREPROCESS_MODES.join(', ')}`);
  if (m.rescale !== undefined && (typeof m.rescale !== 'number' || !Number.isFinite(m.rescale) || m.rescale === 0)) throw bad(path, 'rescale', m.rescale, 'a finite non-zero number when present');
  const size = m.inputSize;
  if (!Array.isArray(size) || size.length !== 2 || !size.every((d) => Number.isInteger(d) && d > 0)) throw bad(path, 'inputSize', size, '[height, width] with positive integers');
  for (const field of ['backbone', 'weightsSource', 'createdAt', 'tlkitVersion'] as const) {
    if (typeof m[field] !== 'string' || (m[field] as string).length === 0) throw bad(path, field, m[field], 'a non-empty string');
  }
  return m as ModelMetadata;
}

function joinWeights(data: tf.io.WeightData | undefined): Uint8Array {
  if (!data) return new Uint8Array(0);
  if (Array.isArray(data)) return new Uint8Array(tf.io.concatenateArrayBuffers(data));
  return new Uint8Array(data);
}

/** The number of output units the metadata implies: 1 for binary (sigmoid), else one per class. */
function expectedUnits(metadata: ModelMetadata): number {
  return metadata.classMode === 'binary' ? 1 : metadata.classNames.length;
}

function checkModelAgainstMetadata(model: tfl.LayersModel, metadata: ModelMetadata, where: string): void {
  const outShape = model.outputs[0]?.shape;
  const units = outShape?.[outShape.length - 1];
  if (model.outputs.length !== 1 || units !== expectedUnits(metadata)) {
    throw new FileError(where, `the model's output has ${formatValue(units)} units but the metadata says ${expectedUnits(metadata)} (classMode '${metadata.classMode}', ${metadata.classNames.length} class names)`);
  }
  const inShape = model.inputs[0]?.shape;
  if (model.inputs.length !== 1 || !inShape || inShape[1] !== metadata.inputSize[0] || inShape[2] !== metadata.inputSize[1]) {
    throw new FileError(where, `the model's input is ${formatValue(inShape?.slice(1))} but the metadata says inputSize ${formatValue(metadata.inputSize)}`);
  }
}

/**
 * Saves `model` as a tfjs layers model plus tlkit.json in `dir`. Validates the metadata against the
 * model before writing anything. Returns the metadata written.
 */
export async function saveModel(dir: string, model: tfl.LayersModel, metadata: ModelMetadataInput): Promise<ModelMetadata> {
  const full = validateMetadata(
    { ...metadata, formatVersion: MODEL_FORMAT_VERSION, createdAt: metadata.createdAt ?? new Date().toISOString(), tlkitVersion: tlkitVersion() },
    join(dir, METADATA_JSON),
  );
  checkModelAgainstMetadata(model, full, dir);

  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  const weights = joinWeights(artifacts!.weightData);
  const modelJson = {
    format: 'layers-model',
    generatedBy: `tlkit ${full.tlkitVersion}`,
    convertedBy: null,
    modelTopology: artifacts!.modelTopology,
    weightsManifest: [{ paths: [WEIGHTS_BIN], weights: artifacts!.weightSpecs ?? [] }],
  };
  const files: [string, Uint8Array][] = [
    [WEIGHTS_BIN, weights],
    [MODEL_JSON, new TextEncoder().encode(JSON.stringify(modelJson))],
  ];
  const metadataText = JSON.stringify(full, null, 2) + '\n';

  if (!existsSync(dir)) {
    const temp = join(dirname(dir), `.${basename(dir)}.tmp-${process.pid}-${Date.now()}`);
    try {
      await fs.mkdir(temp, { recursive: true });
      for (const [name, data] of files) await fs.writeFile(join(temp, name), data);
      await fs.writeFile(join(temp, METADATA_JSON), metadataText);
      await fs.rename(temp, dir);
    } catch (error) {
      await fs.rm(temp, { recursive: true, force: true }).catch(() => undefined);
      throw new FileError(dir, `cannot save the model (${(error as Error).message})`, { cause: error });
    }
    return full;
  }
  await fs.rm(join(dir, METADATA_JSON), { force: true });
  for (const [name, data] of files) await atomicWrite(join(dir, name), [data]);
  await atomicWriteText(join(dir, METADATA_JSON), metadataText);
  return full;
}

async function readJsonFile(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new FileError(path, code === 'ENOENT' ? `missing: ${what}` : `cannot read ${what} (${(error as Error).message})`, { cause: error });
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new FileError(path, `${what} is not valid JSON (${(error as Error).message})`, { cause: error });
  }
}

const BYTES_PER_DTYPE: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };

/** The model folder a user means: `path` itself, or the model/ folder of a run directory. */
export function resolveModelDir(path: string): string {
  if (existsSync(join(path, METADATA_JSON)) || existsSync(join(path, MODEL_JSON))) return path;
  if (existsSync(join(path, 'model', METADATA_JSON))) return join(path, 'model');
  return path;
}

/**
 * Loads a model saved by saveModel (`path`: its folder, or a run directory holding it in model/) and
 * checks that its metadata is complete and fits the model.
 */
export async function loadModel(path: string): Promise<{ model: tfl.LayersModel; metadata: ModelMetadata }> {
  const dir = resolveModelDir(path);
  if (!existsSync(dir)) throw new FileError(dir, 'no such model directory');
  const metadataPath = join(dir, METADATA_JSON);
  if (!existsSync(metadataPath)) {
    throw new FileError(dir, `not a tlkit model: no ${METADATA_JSON} (a tlkit model directory holds ${MODEL_JSON}, ${WEIGHTS_BIN} and ${METADATA_JSON}; an interrupted save leaves it out)`);
  }
  const metadata = validateMetadata(await readJsonFile(metadataPath, 'the tlkit metadata'), metadataPath);
  const modelJsonPath = join(dir, MODEL_JSON);
  const json = (await readJsonFile(modelJsonPath, 'the tfjs model')) as Partial<tf.io.ModelJSON>;
  if (!json.modelTopology || !Array.isArray(json.weightsManifest)) throw new FileError(modelJsonPath, 'not a tfjs layers model.json: needs modelTopology and weightsManifest');
  const buffers: Buffer[] = [];
  for (const group of json.weightsManifest) {
    if (!group || !Array.isArray(group.paths) || !Array.isArray(group.weights)) throw new FileError(modelJsonPath, 'weightsManifest entries need `paths` and `weights` lists');
    for (const p of group.paths) {
      const file = weightsFilePath(dir, p, modelJsonPath);
      try {
        buffers.push(await fs.readFile(file));
      } catch (error) {
        throw new FileError(file, `cannot read the model's weights (${(error as Error).message})`, { cause: error });
      }
    }
  }
  const data = Buffer.concat(buffers);
  const specs = json.weightsManifest.flatMap((g) => g.weights);
  const expectedBytes = specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1) * (BYTES_PER_DTYPE[s.quantization?.dtype ?? s.dtype] ?? 4), 0);
  if (expectedBytes !== data.length) {
    throw new FileError(join(dir, WEIGHTS_BIN), `holds ${data.length} bytes but ${MODEL_JSON} describes ${expectedBytes}: the files do not belong together`);
  }
  let model: tfl.LayersModel;
  try {
    const weightData = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
    model = await tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: specs, weightData }));
  } catch (error) {
    throw new FileError(modelJsonPath, `cannot build the model (${(error as Error).message})`, { cause: error });
  }
  checkModelAgainstMetadata(model, metadata, dir);
  try {
    checkFiniteWeights(model, join(dir, WEIGHTS_BIN));
  } catch (error) {
    model.dispose();
    throw error;
  }
  return { model, metadata };
}

/**
 * A weights file named by model.json, confined to the model folder: a manifest path may not climb out
 * ('../../secret.bin'), be absolute, or reach outside through a symbolic link.
 */
function weightsFilePath(dir: string, path: unknown, modelJsonPath: string): string {
  const refuse = (why: string) => new FileError(modelJsonPath, `weightsManifest path ${formatValue(path)} ${why}: a model's weights files must lie inside its folder ${dir}`);
  if (typeof path !== 'string' || path.length === 0 || path.includes('\0')) throw refuse('is not a file name');
  if (isAbsolute(path)) throw refuse('is absolute');
  const root = resolve(dir);
  const file = resolve(root, path);
  if (!file.startsWith(root + sep)) throw refuse('leaves the folder');
  if (existsSync(file)) {
    const real = realpathSync(file);
    const realRoot = realpathSync(root);
    if (!real.startsWith(realRoot + sep)) throw refuse(`is a link to ${real}, outside the folder`);
  }
  return file;
}

/** NaN or infinite weights (a diverged or damaged model) would make every prediction NaN. */
function checkFiniteWeights(model: tfl.LayersModel, where: string): void {
  for (const w of model.weights) {
    const values = w.read().dataSync();
    let bad = 0;
    for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) bad++;
    if (bad > 0) throw new FileError(where, `weight ${w.originalName} holds ${bad} non-finite value(s) (NaN or Infinity) of ${values.length}: this model cannot predict; retrain it or restore its files`);
  }
}
