// The images of a test folder prepared exactly as the saved model's training data was (same decoder,
// resize, preprocess_input mode and rescale, through the data module's flowFromDirectory), labelled with
// the model's class names so indices match; unreadable files are skipped with their reason.
import { ImageDataGenerator } from '../data/image_data_generator.js';
import type { DirectoryIterator } from '../data/directory_iterator.js';
import { preprocessInput } from '../data/preprocess_input.js';
import type { ModelMetadata } from '../weights/saved_model.js';

export function evaluationIterator(directory: string, metadata: ModelMetadata, options: { batchSize?: number; onWarning?: (m: string) => void } = {}): DirectoryIterator {
  const generator = new ImageDataGenerator({
    preprocessingFunction: metadata.preprocess === 'none' ? null : preprocessInput(metadata.preprocess),
    rescale: metadata.rescale ?? null,
    onWarning: options.onWarning,
  });
  return generator.flowFromDirectory(directory, {
    targetSize: metadata.inputSize,
    classes: metadata.classNames,
    classMode: 'sparse',
    shuffle: false,
    batchSize: options.batchSize ?? 16,
    onWarning: options.onWarning,
    // One pass: decoded pixels would never be read again.
    readOnce: true,
  });
}
