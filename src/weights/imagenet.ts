// ImageNet weights the way Keras gets them: the same file names, the same URLs, the same cache
// directory, the same hash checks (keras/src/utils/file_utils.py get_file). Which file a backbone needs is
// recorded with its builder (models/*.ts, weights_records.ts).
// So an existing Keras cache is reused, and a file copied there by hand works offline.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { WeightsError } from '../core/errors.js';
import { listBackbones } from '../models/zoo.js';
import type { WeightsFile } from '../models/weights_records.js';
import type { ProgressCallback } from '../core/progress.js';

export type { WeightsFile };

export interface ImagenetQuery {
  /** Width multiplier (MobileNet, MobileNetV2). Default 1.0. */
  alpha?: number;
  /** Input rows = cols. Default: the family's default size. */
  inputSize?: number;
  /** The ImageNet classifier too (Keras `include_top`). Default false: transfer learning drops it. */
  includeTop?: boolean;
}

/** Backbone ids that have ImageNet weights in Keras (their registry entries say so). */
export function imagenetBackbones(): string[] {
  return listBackbones().filter((b) => b.weights.imagenet).map((b) => b.id);
}

export function hasImagenetWeights(backboneId: string): boolean {
  return imagenetBackbones().includes(backboneId);
}

/** The file Keras would download for this backbone and options. Throws WeightsError when Keras has none. */
export function imagenetWeightsFile(backboneId: string, query: ImagenetQuery = {}): WeightsFile {
  const record = listBackbones().find((b) => b.id === backboneId)?.weights.imagenet;
  if (!record) {
    throw new WeightsError(`Keras has no ImageNet weights for backbone '${backboneId}'. Backbones with ImageNet weights: ${imagenetBackbones().join(', ')}`);
  }
  return record.file({ alpha: query.alpha ?? 1.0, includeTop: query.includeTop ?? false, inputSize: query.inputSize });
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
