// Keras .h5 weights into a tfjs-layers model, read with h5wasm. Understands both files Keras writes
// in the legacy HDF5 format: model.save_weights('x.h5') (the ImageNet files) and model.save('x.h5')
// (the same tree under /model_weights).
import { existsSync } from 'node:fs';
import type { tfl } from '../engines/tfjs/tf.js';
import { FileError } from '../core/errors.js';
import { assertHdf5, loadH5wasm, readStringAttr, readStringListAttr, type H5Group } from './h5.js';
import { applyStoredWeights, type ApplyWeightsOptions, type ApplyWeightsResult, type StoredLayer, type StoredWeights } from './stored_weights.js';

function asFloat32(value: unknown, path: string): Float32Array {
  if (value instanceof Float32Array) return value;
  if (value instanceof Float64Array || value instanceof Int32Array || value instanceof Uint8Array || value instanceof Int8Array || value instanceof Int16Array || value instanceof Uint16Array || value instanceof Uint32Array) {
    return Float32Array.from(value);
  }
  // Keras stores integer bookkeeping weights (Normalization's count) as int64, which h5wasm returns as BigInt.
  if (value instanceof BigInt64Array || value instanceof BigUint64Array) return Float32Array.from(value, Number);
  if (typeof value === 'number' || typeof value === 'bigint') return Float32Array.of(Number(value));
  throw new FileError(path, `dataset is not numeric (got ${typeof value}); only float weights can be loaded`);
}

/**
 * A dataset larger than this is refused by the eager reader: the largest Keras applications weight
 * (VGG16's fc1, 25088x4096) has 103M values; a forged header can declare billions.
 */
const MAX_EAGER_VALUES = 2 ** 28;

type H5File = InstanceType<Awaited<ReturnType<typeof loadH5wasm>>['File']>;

/**
 * Opens a Keras legacy .h5 and lists its layers, weight names and shapes. The values are read only
 * when a weight's `values` is used, so shapes can be checked against a model before any data is read
 * (a forged dataset shape must not make tlkit allocate it). Close the file when done.
 */
async function openKerasH5(path: string): Promise<{ stored: StoredWeights; file: H5File }> {
  if (!existsSync(path)) throw new FileError(path, 'no such weights file');
  assertHdf5(path);
  const h5 = await loadH5wasm();
  let file: H5File;
  try {
    file = new h5.File(path, 'r');
  } catch (error) {
    throw new FileError(path, `not a readable HDF5 file (${error instanceof Error ? error.message : String(error)})`, { cause: error });
  }
  try {
    let root: H5Group = file;
    if (!root.attrs['layer_names'] && !root.attrs['layer_names0'] && file.keys().includes('model_weights')) {
      root = file.get('model_weights') as H5Group;
    }
    const layerNames = readStringListAttr(root, 'layer_names');
    if (layerNames.length === 0) {
      throw new FileError(path, "has no 'layer_names' attribute: not weights in Keras's HDF5 layout (model.save_weights / model.save with .h5)");
    }
    const layers: StoredLayer[] = layerNames.map((layerName) => {
      const group = root.get(layerName) as H5Group | null;
      if (!group) throw new FileError(path, `lists layer '${layerName}' in layer_names but has no group for it`);
      const weightNames = readStringListAttr(group, 'weight_names');
      return {
        name: layerName,
        weights: weightNames.map((weightName) => {
          const dataset = group.get(weightName) as InstanceType<typeof h5.Dataset> | null;
          if (!dataset || !(dataset instanceof h5.Dataset)) throw new FileError(path, `layer '${layerName}' lists weight '${weightName}' but has no dataset for it`);
          const where = `${path}:${layerName}/${weightName}`;
          return {
            name: weightName,
            shape: (dataset.shape ?? []).map(Number),
            get values() {
              return asFloat32(dataset.value, where);
            },
          };
        }),
      };
    });
    return { stored: { source: path, layers, kerasVersion: readStringAttr(root, 'keras_version'), backend: readStringAttr(root, 'backend') }, file };
  } catch (error) {
    file.close();
    throw error;
  }
}

/** Reads every layer's weights from a Keras legacy .h5 file, in the file's layer order. */
export async function readKerasH5(path: string): Promise<StoredWeights> {
  const { stored, file } = await openKerasH5(path);
  try {
    const layers = stored.layers.map((layer) => ({
      name: layer.name,
      weights: layer.weights.map((w) => {
        const count = w.shape.reduce((a, b) => a * b, 1);
        if (count > MAX_EAGER_VALUES) throw new FileError(path, `weight '${w.name}' of layer '${layer.name}' declares shape [${w.shape}] (${count} values): too large to be a model weight; not read`);
        return { name: w.name, shape: w.shape, values: w.values };
      }),
    }));
    return { ...stored, layers };
  } finally {
    file.close();
  }
}

/**
 * Loads a Keras .h5 into `model`: by topological order with shape checks (Keras's default for .h5,
 * needed where layers are auto-named, e.g. InceptionV3), or by layer name with `byName`. Every shape
 * is checked against the model before any value is read.
 */
export async function loadH5Weights(model: tfl.LayersModel, path: string, options: ApplyWeightsOptions = {}): Promise<ApplyWeightsResult> {
  const { stored, file } = await openKerasH5(path);
  try {
    return applyStoredWeights(model, stored, options);
  } finally {
    file.close();
  }
}
