// The hostile-file corpus of the safety tests (issue 16), made at test time instead of committed
// binaries: files that lie about what they are, headers forged field by field, manifests that point
// outside their folder, images that are all broken.
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { loadH5wasm, writeStringListAttr } from '../../src/weights/h5.js';
import { encodeCheckpoint, type TrainingCheckpoint } from '../../src/train/loop/checkpoint.js';

/** A file named .h5 that is not HDF5 at all. */
export async function writeNotHdf5(path: string): Promise<void> {
  await fs.writeFile(path, 'this is a text file with an .h5 name\n'.repeat(40));
}

/**
 * A Keras-layout .h5 whose one layer 'conv1' declares a kernel of `shape` without storing it: chunked
 * and grown with resize, so the file stays a few KiB while reading the dataset would allocate
 * shape's product x 4 bytes (3x3x3x8e7: 8.6 GB).
 */
export async function writeHugeDeclaredH5(path: string, shape: number[]): Promise<void> {
  const h5 = await loadH5wasm();
  const file = new h5.File(path, 'w');
  try {
    writeStringListAttr(file, 'layer_names', ['conv1']);
    file.create_attribute('keras_version', '2.15.0');
    file.create_attribute('backend', 'tensorflow');
    const layer = file.create_group('conv1');
    writeStringListAttr(layer, 'weight_names', ['conv1/kernel:0']);
    const inner = layer.create_group('conv1');
    const small = shape.map((d, i) => (i === shape.length - 1 ? 1 : d));
    const dataset = inner.create_dataset({
      name: 'kernel:0',
      data: new Float32Array(small.reduce((a, b) => a * b, 1)),
      shape: small,
      dtype: '<f',
      maxshape: shape.map((d, i) => (i === shape.length - 1 ? null : d)),
      chunks: small,
    });
    dataset.resize(shape);
  } finally {
    file.close();
  }
}

/** A checkpoint file whose JSON header is `edit`ed after encoding (the data section stays valid). */
export async function writeEditedCheckpoint(path: string, checkpoint: TrainingCheckpoint, edit: (header: Record<string, unknown>) => void): Promise<void> {
  const [prefix, headerBytes, ...data] = encodeCheckpoint(checkpoint);
  const header = JSON.parse(new TextDecoder().decode(headerBytes)) as Record<string, unknown>;
  edit(header);
  const edited = new TextEncoder().encode(JSON.stringify(header));
  const newPrefix = Uint8Array.from(prefix!);
  new DataView(newPrefix.buffer).setUint32(8, edited.byteLength, true);
  await fs.writeFile(path, Buffer.concat([newPrefix, edited, ...data]));
}

/** A small valid checkpoint of `weights` arrays. */
export function smallCheckpoint(): TrainingCheckpoint {
  return {
    epoch: 1,
    batch: 0,
    epochs: 3,
    accumulators: { lossSum: 0, correct: 0, seen: 0, seconds: 0 },
    history: [{ epoch: 1, loss: 0.5, accuracy: 0.75 }],
    learningRate: 0.001,
    optimizerClass: 'Adam',
    seed: 1,
    callbacks: {},
    weights: [{ name: 'w', dtype: 'float32', shape: [2, 2], data: Float32Array.of(1, 2, 3, 4) }],
    optimizerWeights: [],
  };
}

/** `count` files per class with image names and broken contents: every one is skipped when decoded. */
export async function writeBrokenImages(root: string, classes: string[], count: number): Promise<void> {
  for (const c of classes) {
    await fs.mkdir(join(root, c), { recursive: true });
    for (let i = 0; i < count; i++) await fs.writeFile(join(root, c, `broken${i}.png`), `not a png ${i}`);
  }
}

/** Points every weightsManifest path of a saved model at `path`. */
export async function redirectManifest(modelDir: string, path: string): Promise<void> {
  const file = join(modelDir, 'model.json');
  const json = JSON.parse(await fs.readFile(file, 'utf8')) as { weightsManifest: { paths: string[] }[] };
  for (const group of json.weightsManifest) group.paths = [path];
  await fs.writeFile(file, JSON.stringify(json));
}
