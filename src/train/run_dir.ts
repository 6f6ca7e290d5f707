// The run directory: everything a finished (or interrupted) run leaves behind.
//   model/            the trained classifier: model.json + weights.bin (tfjs layers format) + tlkit.json
//   checkpoints/      last.ckpt (resumable) and best.ckpt
//   history.csv/json  one row per epoch
//   summary.txt       layers, params, final metrics
//   config.json       the options of the run: enough to repeat it (`tlkit train --resume` reads it)
//   evaluation.json   metrics on the validation data
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { tf, tfl } from '../engines/tfjs/tf.js';
import { FileError } from '../errors.js';
import { atomicWrite, atomicWriteText } from './atomic_write.js';

export interface RunDirLayout {
  root: string;
  model: string;
  checkpoints: string;
  lastCheckpoint: string;
  bestCheckpoint: string;
  historyCsv: string;
  historyJson: string;
  summary: string;
  config: string;
  evaluation: string;
}

export function runDirLayout(root: string): RunDirLayout {
  return {
    root,
    model: join(root, 'model'),
    checkpoints: join(root, 'checkpoints'),
    lastCheckpoint: join(root, 'checkpoints', 'last.ckpt'),
    bestCheckpoint: join(root, 'checkpoints', 'best.ckpt'),
    historyCsv: join(root, 'history.csv'),
    historyJson: join(root, 'history.json'),
    summary: join(root, 'summary.txt'),
    config: join(root, 'config.json'),
    evaluation: join(root, 'evaluation.json'),
  };
}

export async function createRunDir(root: string): Promise<RunDirLayout> {
  const layout = runDirLayout(root);
  for (const dir of [root, layout.model, layout.checkpoints]) {
    try {
      await fs.mkdir(dir, { recursive: true });
    } catch (error) {
      throw new FileError(dir, `cannot create the run directory (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { cause: error });
    }
  }
  return layout;
}

export async function writeJson(path: string, value: unknown): Promise<void> {
  await atomicWriteText(path, JSON.stringify(value, null, 2) + '\n');
}

export async function readJson<T>(path: string): Promise<T> {
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch (error) {
    throw new FileError(path, (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : (error as Error).message, { cause: error });
  }
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new FileError(path, `not valid JSON (${(error as Error).message})`, { cause: error });
  }
}

/** What a saved model needs besides its weights to classify a new image. */
export interface SavedModelMetadata {
  classNames: string[];
  classMode: string;
  /** preprocess_input mode ('tf', 'caffe', 'torch', 'none'), then x * rescale when rescale is set. */
  preprocess: string;
  rescale?: number;
  inputSize: [number, number];
  backbone: string;
  weightsSource?: string;
  [key: string]: unknown;
}

/** tfjs layers format on disk (model.json + weights.bin) plus tlkit.json, each file written atomically. */
export async function saveModelFiles(dir: string, model: tfl.LayersModel, metadata: SavedModelMetadata): Promise<void> {
  await fs.mkdir(dir, { recursive: true }).catch(() => undefined);
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weights = new Uint8Array(artifacts.weightData as ArrayBuffer);
      await atomicWrite(join(dir, 'weights.bin'), [weights]);
      const json = {
        format: 'layers-model',
        generatedBy: 'tlkit',
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }],
      };
      await atomicWriteText(join(dir, 'model.json'), JSON.stringify(json));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: weights.byteLength } };
    }),
  );
  await writeJson(join(dir, 'tlkit.json'), metadata);
}

export async function loadModelFiles(dir: string): Promise<{ model: tfl.LayersModel; metadata: SavedModelMetadata }> {
  const json = await readJson<{ modelTopology: object; weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[] }>(join(dir, 'model.json'));
  const metadata = await readJson<SavedModelMetadata>(join(dir, 'tlkit.json'));
  const buffers: Buffer[] = [];
  for (const group of json.weightsManifest) {
    for (const p of group.paths) {
      try {
        buffers.push(await fs.readFile(join(dir, p)));
      } catch (error) {
        throw new FileError(join(dir, p), `cannot read the model's weights (${(error as Error).message})`, { cause: error });
      }
    }
  }
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer;
  const specs = json.weightsManifest.flatMap((g) => g.weights);
  try {
    const model = await tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: specs, weightData }));
    return { model, metadata };
  } catch (error) {
    throw new FileError(dir, `cannot load the saved model (${(error as Error).message})`, { cause: error });
  }
}
