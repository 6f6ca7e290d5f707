// The images of a test folder prepared exactly as the saved model's training data was (same decoder,
// resize, preprocess_input mode and rescale, through the data module's flowFromDirectory), labelled with
// the model's class names so indices match; unreadable files are skipped with their reason.
import { ImageDataGenerator } from '../data/image_data_generator.js';
import { describeModelPixels, type DirectoryIterator } from '../data/directory_iterator.js';
import { preprocessInput } from '../data/preprocess_input.js';
import { otherFilesNote } from '../data/scan_directory.js';
import type { ModelMetadata } from '../weights/saved_model.js';

/** How a saved model's training run decoded its images (flowFromDirectory's defaults, as `tlkit train` runs it). */
const TRAINING_DECODE = { colorMode: 'rgb', interpolation: 'nearest', keepAspectRatio: false, autoOrient: true } as const;

/** The standardization of the model's training data: its preprocess_input mode, then its rescale. */
export function evaluationGenerator(metadata: ModelMetadata, onWarning?: (m: string) => void): ImageDataGenerator {
  return new ImageDataGenerator({
    preprocessingFunction: metadata.preprocess === 'none' ? null : preprocessInput(metadata.preprocess),
    rescale: metadata.rescale ?? null,
    onWarning,
  });
}

/**
 * What turns a file into this model's input, as the feature store keys on it (the description an
 * evaluationIterator's describePixels gives); undefined when the model's standardization cannot be described.
 */
export function evaluationPixels(metadata: ModelMetadata): Record<string, unknown> | undefined {
  const standardization = evaluationGenerator(metadata).pixelStandardization();
  return standardization ? describeModelPixels({ targetSize: metadata.inputSize, ...TRAINING_DECODE }, standardization) : undefined;
}

/**
 * The test folder's images, labelled with the model's classes. The folder may hold some of them only (a
 * class without a folder or images has an empty row in the report); folders that are not classes of the
 * model are left out. Both are said through `onWarning`.
 */
export function evaluationIterator(directory: string, metadata: ModelMetadata, options: { batchSize?: number; onWarning?: (m: string) => void } = {}): DirectoryIterator {
  const iterator = evaluationGenerator(metadata, options.onWarning).flowFromDirectory(directory, {
    targetSize: metadata.inputSize,
    ...TRAINING_DECODE,
    classes: metadata.classNames,
    classMode: 'sparse',
    shuffle: false,
    batchSize: options.batchSize ?? 16,
    onWarning: options.onWarning,
    // One pass: decoded pixels would never be read again.
    readOnce: true,
    allowEmptyClasses: true,
  });
  const present = new Set(iterator.classes);
  const absent = metadata.classNames.filter((_, c) => !present.has(c));
  if (absent.length > 0) {
    options.onWarning?.(`${iterator.directory}: no images of ${absent.length === 1 ? 'class' : 'classes'} ${absent.join(', ')}: evaluated on the other ${metadata.classNames.length - absent.length} of the model's ${metadata.classNames.length}`);
  }
  const otherFiles = otherFilesNote(iterator.otherFiles);
  if (otherFiles) options.onWarning?.(`${iterator.directory}: ${otherFiles}`);
  const others = iterator.otherFolders;
  if (others.length > 0) {
    options.onWarning?.(`${iterator.directory}: left out ${others.length === 1 ? 'folder' : 'folders'} ${others.join(', ')}, not ${others.length === 1 ? 'a class' : 'classes'} of the model (${metadata.classNames.join(', ')})`);
  }
  return iterator;
}
