// ImageNet weights the way Keras gets them: the same file names, the same URLs, the same cache
// directory, the same hash checks (keras/src/applications/*.py + keras/src/utils/file_utils.py get_file).
// So an existing Keras cache is reused, and a file copied there by hand works offline.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { WeightsError, invalidArgument } from '../core/errors.js';
import type { ProgressCallback } from '../core/progress.js';

/** One weights file Keras downloads: the name it caches it under, where it comes from, its checksum. */
export interface WeightsFile {
  fileName: string;
  url: string;
  /** Keras's file_hash when Keras has one (md5 hex, or sha256 hex when 64 characters long). */
  fileHash?: string;
}

export interface ImagenetQuery {
  /** Width multiplier (MobileNet, MobileNetV2). Default 1.0. */
  alpha?: number;
  /** Input rows = cols. Default: the family's default size. */
  inputSize?: number;
  /** The ImageNet classifier too (Keras `include_top`). Default false: transfer learning drops it. */
  includeTop?: boolean;
}

const STORAGE = 'https://storage.googleapis.com/tensorflow/keras-applications/';

interface ImagenetEntry {
  /** Why a request cannot be served, or the file; `null` from a family means "no ImageNet weights". */
  file(query: Required<Pick<ImagenetQuery, 'alpha' | 'includeTop'>> & { inputSize?: number }): WeightsFile;
}

/** Keras picks the 224 file when the size has no file of its own (no-top weights do not depend on it). */
function kerasRows(inputSize: number | undefined, sizes: number[], includeTop: boolean, backboneId: string): number {
  if (inputSize === undefined || sizes.includes(inputSize)) return inputSize ?? 224;
  if (includeTop) {
    throw new WeightsError(
      `ImageNet weights for ${backboneId} with includeTop need an input size of ${sizes.join(', ')}; received inputSize=${inputSize}. ` +
        'Use includeTop=false (the size then does not matter) or one of those sizes.',
    );
  }
  return 224;
}

function alphaIn(backboneId: string, alpha: number, allowed: number[]): void {
  if (!allowed.includes(alpha)) {
    throw invalidArgument('alpha', alpha, `one of ${allowed.join(', ')} for ImageNet weights of ${backboneId}`);
  }
}

/** Formats alpha the way Python's str(float(alpha)) does: 1 -> '1.0', 0.35 -> '0.35'. */
function pythonFloat(x: number): string {
  return Number.isInteger(x) ? x.toFixed(1) : String(x);
}

function topOrNot(includeTop: boolean, name: string, top: string | undefined, notop: string | undefined, base: string): WeightsFile {
  const fileName = includeTop ? `${name}.h5` : `${name}_notop.h5`;
  const fileHash = includeTop ? top : notop;
  return { fileName, url: base + fileName, ...(fileHash ? { fileHash } : {}) };
}

/** keras.applications weights, by tlkit backbone id. Hashes copied from the Keras sources named per entry. */
const IMAGENET: Record<string, ImagenetEntry> = {
  // keras/src/applications/mobilenet.py: no hash in Keras.
  mobilenet: {
    file({ alpha, inputSize, includeTop }) {
      alphaIn('mobilenet', alpha, [0.25, 0.5, 0.75, 1.0]);
      const rows = kerasRows(inputSize, [128, 160, 192, 224], includeTop, 'mobilenet');
      const alphaText = { 1: '1_0', 0.75: '7_5', 0.5: '5_0', 0.25: '2_5' }[alpha];
      const fileName = `mobilenet_${alphaText}_${rows}_tf${includeTop ? '' : '_no_top'}.h5`;
      return { fileName, url: `${STORAGE}mobilenet/${fileName}` };
    },
  },
  // keras/src/applications/mobilenet_v2.py: no hash in Keras.
  mobilenet_v2: {
    file({ alpha, inputSize, includeTop }) {
      alphaIn('mobilenet_v2', alpha, [0.35, 0.5, 0.75, 1.0, 1.3, 1.4]);
      const rows = kerasRows(inputSize, [96, 128, 160, 192, 224], includeTop, 'mobilenet_v2');
      const fileName = includeTop
        ? `mobilenet_v2_weights_tf_dim_ordering_tf_kernels_${pythonFloat(alpha)}_${rows}.h5`
        : `mobilenet_v2_weights_tf_dim_ordering_tf_kernels_${pythonFloat(alpha)}_${rows}_no_top.h5`;
      return { fileName, url: `${STORAGE}mobilenet_v2/${fileName}` };
    },
  },
  // keras/src/applications/resnet.py WEIGHTS_HASHES['resnet50'].
  resnet50: {
    file({ includeTop, inputSize }) {
      if (includeTop) kerasRows(inputSize, [224], true, 'resnet50');
      return topOrNot(includeTop, 'resnet50_weights_tf_dim_ordering_tf_kernels', '2cb95161c43110f7111970584f804107', '4d473c1dd8becc155b73f8504c6f6626', `${STORAGE}resnet/`);
    },
  },
  // keras/src/applications/inception_v3.py.
  inception_v3: {
    file({ includeTop, inputSize }) {
      if (includeTop) kerasRows(inputSize, [299], true, 'inception_v3');
      return topOrNot(includeTop, 'inception_v3_weights_tf_dim_ordering_tf_kernels', '9a0d58056eeedaa3f26cb7ebd46da564', 'bcbd6486424b2319ff4ef7d526e38f63', `${STORAGE}inception_v3/`);
    },
  },
  // keras/src/applications/xception.py.
  xception: {
    file({ includeTop, inputSize }) {
      if (includeTop) kerasRows(inputSize, [299], true, 'xception');
      return topOrNot(includeTop, 'xception_weights_tf_dim_ordering_tf_kernels', '0a58e3b7378bc2990ea3b43d5981f1f6', 'b0042744bf5b25fce3cb969f33bebb97', `${STORAGE}xception/`);
    },
  },
  // keras/src/applications/efficientnet.py: name 'efficientnetb0', WEIGHTS_HASHES['b0'], a different bucket.
  efficientnet_b0: {
    file({ includeTop, inputSize }) {
      if (includeTop) kerasRows(inputSize, [224], true, 'efficientnet_b0');
      return topOrNot(includeTop, 'efficientnetb0', '902e53a9f72be733fc0bcb005b3ebbac', '50bc09e76180e00e4465e1a485ddc09d', 'https://storage.googleapis.com/keras-applications/');
    },
  },
};

/** Backbone ids that have ImageNet weights in Keras. */
export function imagenetBackbones(): string[] {
  return Object.keys(IMAGENET);
}

export function hasImagenetWeights(backboneId: string): boolean {
  return backboneId in IMAGENET;
}

/** The file Keras would download for this backbone and options. Throws WeightsError when Keras has none. */
export function imagenetWeightsFile(backboneId: string, query: ImagenetQuery = {}): WeightsFile {
  const entry = IMAGENET[backboneId];
  if (!entry) {
    throw new WeightsError(`Keras has no ImageNet weights for backbone '${backboneId}'. Backbones with ImageNet weights: ${imagenetBackbones().join(', ')}`);
  }
  return entry.file({ alpha: query.alpha ?? 1.0, includeTop: query.includeTop ?? false, inputSize: query.inputSize });
}

/** `$KERAS_HOME/models`, else `~/.keras/models`: where Keras's get_file(cache_subdir='models') puts weights. */
export function kerasCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const home = env.KERAS_HOME && env.KERAS_HOME.length > 0 ? env.KERAS_HOME : join(homedir(), '.keras');
  return join(home, 'models');
}

/** Keras's hash_algorithm='auto': sha256 for 64 hex characters, md5 otherwise. */
export function hashAlgorithm(fileHash: string): 'sha256' | 'md5' {
  return fileHash.length === 64 ? 'sha256' : 'md5';
}

export async function hashFile(path: string, algorithm: 'sha256' | 'md5'): Promise<string> {
  const hash = createHash(algorithm);
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

async function hashMatches(path: string, fileHash: string | undefined): Promise<boolean> {
  if (!fileHash) return true;
  return (await hashFile(path, hashAlgorithm(fileHash))) === fileHash.toLowerCase();
}

/** The cached copy's path when it exists (its hash is checked on use, not here). */
export function cachedWeightsPath(file: WeightsFile, cacheDir = kerasCacheDir()): string | null {
  const path = join(cacheDir, file.fileName);
  return existsSync(path) ? path : null;
}

export interface FetchWeightsOptions {
  cacheDir?: string;
  onProgress?: ProgressCallback;
  /** False: never download, only use the cache (the error then says where the file comes from). Default true. */
  allowDownload?: boolean;
}

function whereToPut(file: WeightsFile, cacheDir: string): string {
  return `Download ${file.url} on a machine with internet access and copy it to ${join(cacheDir, file.fileName)} ` +
    `(the Keras cache: $KERAS_HOME/models, else ~/.keras/models), or pass the .h5 file's path as the weights.`;
}

/**
 * The local path of a weights file: the cached copy when its hash matches, else a fresh download
 * (to a temporary file in the cache directory, hash-checked, then renamed into place, as Keras does).
 */
export async function fetchWeightsFile(file: WeightsFile, options: FetchWeightsOptions = {}): Promise<string> {
  const cacheDir = options.cacheDir ?? kerasCacheDir();
  const target = join(cacheDir, file.fileName);
  if (existsSync(target)) {
    if (await hashMatches(target, file.fileHash)) return target;
    // Keras re-downloads a cached file whose hash is wrong (incomplete or outdated); so do we.
  }
  if (options.allowDownload === false) {
    throw new WeightsError(`Weights file ${file.fileName} is not in the Keras cache ${cacheDir}${existsSync(target) ? ' (a copy is there but its hash is wrong)' : ''}. ${whereToPut(file, cacheDir)}`);
  }
  await mkdir(cacheDir, { recursive: true });
  const partial = `${target}.part-${process.pid}-${Date.now()}`;
  try {
    await download(file, partial, options.onProgress);
    if (file.fileHash) {
      const got = await hashFile(partial, hashAlgorithm(file.fileHash));
      if (got !== file.fileHash.toLowerCase()) {
        throw new WeightsError(`Downloaded ${file.url} but its ${hashAlgorithm(file.fileHash)} is ${got}, expected ${file.fileHash} (Keras's hash). The file was not kept; try again.`);
      }
    }
    await rename(partial, target);
    return target;
  } catch (error) {
    await rm(partial, { force: true });
    if (error instanceof WeightsError) throw error;
    const reason = error instanceof Error ? describeNetworkError(error) : String(error);
    throw new WeightsError(`Weights file ${file.fileName} is not in the Keras cache ${cacheDir} and could not be downloaded (${reason}). ${whereToPut(file, cacheDir)}`, { cause: error });
  }
}

function describeNetworkError(error: Error): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ? `${error.message}: ${cause.code}` : cause?.message ? `${error.message}: ${cause.message}` : error.message;
}

async function download(file: WeightsFile, to: string, onProgress?: ProgressCallback): Promise<void> {
  const response = await fetch(file.url, { redirect: 'follow' });
  if (!response.ok || !response.body) {
    throw new WeightsError(`Weights file ${file.fileName}: GET ${file.url} answered HTTP ${response.status} ${response.statusText}`);
  }
  const lengthHeader = response.headers.get('content-length');
  const total = lengthHeader ? Number(lengthHeader) : undefined;
  const task = `download ${file.fileName}`;
  let current = 0;
  let lastReport = 0;
  onProgress?.({ task, current: 0, total, unit: 'B' });
  const body = Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>);
  await mkdir(dirname(to), { recursive: true });
  await pipeline(
    body,
    async function* countBytes(source: AsyncIterable<Buffer>) {
      for await (const chunk of source) {
        current += chunk.length;
        // Report about every 256 KiB: enough for a smooth bar, few enough calls for a 100 MB file.
        if (current - lastReport >= 1 << 18) {
          lastReport = current;
          onProgress?.({ task, current, total, unit: 'B' });
        }
        yield chunk;
      }
    },
    createWriteStream(to),
  );
  const size = (await stat(to)).size;
  if (total !== undefined && size !== total) {
    throw new WeightsError(`Weights file ${file.fileName}: the download from ${file.url} stopped at ${size} of ${total} bytes`);
  }
  onProgress?.({ task, current: size, total: total ?? size, unit: 'B', done: true });
}
