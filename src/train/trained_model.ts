// Opens a trained model by the path a user gives: a run directory or its model/ folder.
import type { tfl } from '../engines/tfjs/tf.js';
import { loadModel, resolveModelDir, type ModelMetadata } from '../weights/saved_model.js';

export async function loadTrainedModel(path: string): Promise<{ model: tfl.LayersModel; metadata: ModelMetadata }> {
  return loadModel(resolveModelDir(path));
}
