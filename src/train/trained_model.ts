// Opens a trained model by the path a user gives: a run directory or its model/ folder.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { tfl } from '../engines/tfjs/tf.js';
import { FileError } from '../errors.js';
import { loadModelFiles, type SavedModelMetadata } from './run_dir.js';

export async function loadTrainedModel(path: string): Promise<{ model: tfl.LayersModel; metadata: SavedModelMetadata }> {
  const dir = existsSync(join(path, 'model.json')) ? path : join(path, 'model');
  if (!existsSync(join(dir, 'model.json'))) {
    throw new FileError(path, 'no trained model here: expected a run directory (with model/model.json) or a model folder (with model.json and tlkit.json)');
  }
  return loadModelFiles(dir);
}
