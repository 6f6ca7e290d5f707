// A plain, unshuffled, unaugmented iterator over a class-folder listing, prepared the way a saved
// model's metadata says: what evaluate needs for a trained model on a test folder.
import { tf } from '../engines/tfjs/tf.js';
import { scanDirectory, type DirectoryListing } from '../data/scan_directory.js';
import { loadImageForModel } from './predict.js';
import type { ModelMetadata } from '../weights/saved_model.js';
import type { Batch, BatchIterator } from './types.js';

export class FileListIterator implements BatchIterator {
  private position = 0;
  readonly classNames: string[];
  readonly classes: Int32Array;
  readonly filepaths: string[];

  constructor(
    readonly listing: DirectoryListing,
    private readonly metadata: Pick<ModelMetadata, 'inputSize' | 'preprocess' | 'rescale'>,
    readonly batchSize = 16,
  ) {
    this.classNames = listing.classNames;
    this.classes = listing.classes;
    this.filepaths = listing.filepaths;
  }

  /** The folder's images, labelled with the saved model's class names (so indices match training). */
  static forModel(directory: string, metadata: ModelMetadata, batchSize?: number): FileListIterator {
    return new FileListIterator(scanDirectory(directory, { classes: metadata.classNames }), metadata, batchSize);
  }

  get samples(): number {
    return this.filepaths.length;
  }

  get length(): number {
    return Math.ceil(this.samples / this.batchSize);
  }

  async next(): Promise<Batch> {
    if (this.position >= this.samples) this.position = 0;
    const indices = Array.from({ length: Math.min(this.batchSize, this.samples - this.position) }, (_, i) => this.position + i);
    this.position += indices.length;
    const [h, w] = this.metadata.inputSize;
    const data = new Float32Array(indices.length * h * w * 3);
    const arrays = await Promise.all(indices.map((i) => loadImageForModel(this.filepaths[i], this.metadata)));
    arrays.forEach((a, i) => data.set(a, i * h * w * 3));
    return {
      x: tf.tensor4d(data, [indices.length, h, w, 3]),
      y: tf.tensor1d(indices.map((i) => this.classes[i]), 'float32'),
      indices,
    };
  }

  reset(): void {
    this.position = 0;
  }
}
