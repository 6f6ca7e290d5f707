// A tfjs-layers model written as Keras writes legacy .h5 (keras legacy_h5_format / Keras 2 hdf5_format:
// save_weights_to_hdf5_group, save_model_to_hdf5), so `model.load_weights('x.h5')` and, for a full
// model file, `keras.models.load_model('x.h5')` read it:
//
//   [root attrs: keras_version, backend, model_config]        (full model only)
//   [/model_weights]                                            (full model only; else this is the root)
//     attrs layer_names (every layer, model order), backend, keras_version
//     /<layer> attrs weight_names ['<layer>/kernel:0', ...]     (empty list for layers without weights)
//     /<layer>/<layer>/kernel:0                                 float32 dataset
import { createRequire } from 'node:module';
import { rename, rm } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { mkdirSync } from 'node:fs';
import type { tfl } from '../engines/tfjs/tf.js';
import { FileError } from '../core/errors.js';
import { loadH5wasm, writeStringListAttr, type H5Group } from './h5.js';
import { legacyWeights, weightShortName } from './stored_weights.js';

/**
 * Keras reads `keras_version` only to decide whether a file needs Keras 1 conversions; tlkit writes
 * the version whose layout it follows, and its own version in `tlkit_version`.
 */
export const KERAS_LAYOUT_VERSION = '2.15.0';

export interface SaveH5Options {
  /** Only the weights tree (model.save_weights layout) instead of a full model file. Default false. */
  weightsOnly?: boolean;
}

function tlkitVersion(): string {
  return (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
}

/** Weight names as tf.keras 2 names variables: '<layer>/kernel:0'. */
export function kerasWeightName(layer: tfl.layers.Layer, variable: tfl.LayerVariable): string {
  return `${layer.name}/${weightShortName(layer.name, variable)}:0`;
}

function writeWeightsTree(group: H5Group, model: tfl.LayersModel): void {
  writeStringListAttr(group, 'layer_names', model.layers.map((l) => l.name));
  group.create_attribute('backend', 'tensorflow');
  group.create_attribute('keras_version', KERAS_LAYOUT_VERSION);
  // Keras creates the groups in sorted name order; HDF5 lists them sorted either way.
  for (const layer of [...model.layers].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const g = group.create_group(layer.name);
    const variables = legacyWeights(layer);
    const names = variables.map((v) => kerasWeightName(layer, v));
    writeStringListAttr(g, 'weight_names', names);
    variables.forEach((variable, i) => {
      // The name is a path ('conv1/kernel:0'): h5py makes the inner groups itself, h5wasm needs them made.
      const parts = names[i]!.split('/');
      let parent: H5Group = g;
      for (const part of parts.slice(0, -1)) {
        parent = parent.keys().includes(part) ? (parent.get(part) as H5Group) : parent.create_group(part);
      }
      const values = variable.read().dataSync();
      const shape = [...variable.shape] as number[];
      const name = parts[parts.length - 1]!;
      if (variable.dtype === 'int32') {
        // Keras keeps integer weights (Normalization's count) as int64.
        parent.create_dataset({ name, data: BigInt64Array.from(values as Int32Array, (v) => BigInt(v)), shape, dtype: '<q' });
      } else {
        parent.create_dataset({ name, data: Float32Array.from(values as Float32Array), shape, dtype: '<f' });
      }
    });
  }
}

/**
 * Writes `model` to `path` in Keras's legacy HDF5 layout. Writes a temporary file next to `path`
 * and renames it, so a crash never leaves half a file.
 */
export async function saveH5(model: tfl.LayersModel, path: string, options: SaveH5Options = {}): Promise<void> {
  const h5 = await loadH5wasm();
  try {
    mkdirSync(dirname(path), { recursive: true });
  } catch (error) {
    throw new FileError(dirname(path), `cannot create the output directory (${(error as Error).message})`, { cause: error });
  }
  const temp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${Date.now()}`);
  try {
    const file = new h5.File(temp, 'w');
    try {
      if (options.weightsOnly) {
        writeWeightsTree(file, model);
        // Keras ignores it; `tlkit export` reads it to tell its own files from others before replacing one.
        file.create_attribute('tlkit_version', tlkitVersion());
      } else {
        file.create_attribute('keras_version', KERAS_LAYOUT_VERSION);
        file.create_attribute('backend', 'tensorflow');
        file.create_attribute('tlkit_version', tlkitVersion());
        // tfjs-layers serialises the graph in Keras's JSON config format; a variable-length string
        // attribute has no 64 KiB limit (h5py stores Keras's bytes the same way).
        // Keras's model_config is {class_name, config}; tfjs adds its own version fields, left out here.
        const { class_name, config } = model.toJSON(null, false) as { class_name: string; config: unknown };
        file.create_attribute('model_config', JSON.stringify({ class_name, config }));
        writeWeightsTree(file.create_group('model_weights'), model);
      }
    } finally {
      file.close();
    }
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    if (error instanceof FileError) throw error;
    throw new FileError(path, `cannot write the .h5 file (${error instanceof Error ? error.message : String(error)})`, { cause: error });
  }
}
