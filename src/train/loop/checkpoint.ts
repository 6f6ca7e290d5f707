// Training checkpoints: everything needed to continue a run exactly where it stopped (model weights,
// optimizer slots, epoch and batch position, iterator/RNG state, callback state, history), in one file
// written atomically. Format: "TLKCKPT1", uint32 LE header length, JSON header, then raw arrays.
import * as fs from 'node:fs/promises';
import { tf, type tfl } from '../../engines/tfjs/tf.js';
import { FileError, TrainingError } from '../../core/errors.js';
import { atomicWrite, type AtomicWriteFs } from '../../core/atomic_write.js';
import { validateCheckpointHeader } from './checkpoint_header.js';
import type { SavedArray } from './optimizers.js';
import type { FlatSlotLayout } from './optimizer_state_convert.js';
import type { EpochLogs } from './types.js';

const MAGIC = 'TLKCKPT1';

/** Sums over the batches of the epoch in progress, so a mid-epoch resume reports the whole epoch. */
export interface EpochAccumulators {
  lossSum: number;
  correct: number;
  seen: number;
  seconds: number;
}

/** What a callback keeps across a resume: JSON plus, optionally, arrays (e.g. the best weights). */
export interface CallbackState {
  json?: unknown;
  arrays?: SavedArray[];
}

export interface TrainingCheckpoint {
  /** Epoch in progress, 0-based, and how many of its batches are done (0: the epoch has not started). */
  epoch: number;
  batch: number;
  /** The fit's target epoch count. */
  epochs: number;
  accumulators: EpochAccumulators;
  history: EpochLogs[];
  learningRate: number;
  optimizerClass: string;
  /** Engine that wrote it (absent in older checkpoints: tfjs); optimizerWeights are in its format. */
  engine?: 'tfjs' | 'onnx-step';
  seed: number;
  iteratorState?: unknown;
  callbacks: Record<string, CallbackState>;
  /** Free-form data of whoever drives fit (trainRun stores the phase of the two-phase recipe). */
  tag?: Record<string, unknown>;
  weights: SavedArray[];
  optimizerWeights: SavedArray[];
  /**
   * With engine onnx-step: where each trainable weight sits in the flat optimizer slots, so the state can
   * be converted for the tfjs engine without compiling the model (absent in older checkpoints).
   */
  optimizerLayout?: FlatSlotLayout;
  savedAt?: string;
}

interface ArrayRef {
  name: string;
  dtype: 'float32' | 'int32';
  shape: number[];
  offset: number;
  length: number;
}

/** Copies of every model weight (trainable and not: BatchNorm moving stats too), in model order. */
export async function captureWeights(model: tfl.LayersModel): Promise<SavedArray[]> {
  const out: SavedArray[] = [];
  for (const w of model.weights) {
    const v = w.read();
    const dtype = v.dtype === 'int32' ? 'int32' : 'float32';
    const values = await v.data();
    out.push({ name: w.originalName, dtype, shape: v.shape.slice(), data: dtype === 'int32' ? Int32Array.from(values) : Float32Array.from(values) });
  }
  return out;
}

/** Writes saved weights back in model order, checking count and shapes so a wrong model is named. */
export function restoreWeights(model: tfl.LayersModel, saved: SavedArray[], source = 'checkpoint'): void {
  const weights = model.weights;
  if (weights.length !== saved.length) {
    throw new TrainingError(`${source} holds ${saved.length} weights but the model has ${weights.length}: it was saved from a different model`);
  }
  weights.forEach((w, i) => {
    const s = saved[i];
    if (w.shape.join(',') !== s.shape.join(',')) {
      throw new TrainingError(`${source}: weight ${i} (${w.originalName}) has shape [${w.shape}] in the model but [${s.shape}] in the checkpoint (${s.name})`);
    }
  });
  weights.forEach((w, i) => {
    const t = tf.tensor(saved[i].data, saved[i].shape, saved[i].dtype);
    w.write(t);
    t.dispose();
  });
}

function bytesOf(a: SavedArray): Uint8Array {
  return new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength);
}

/** Serialises a checkpoint; arrays are referenced from the header by offset. */
export function encodeCheckpoint(checkpoint: TrainingCheckpoint): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let offset = 0;
  const ref = (a: SavedArray): ArrayRef => {
    const bytes = bytesOf(a);
    chunks.push(bytes);
    const r = { name: a.name, dtype: a.dtype, shape: a.shape, offset, length: bytes.byteLength };
    offset += bytes.byteLength;
    return r;
  };
  const header = {
    format: 'tlkit-checkpoint',
    version: 1,
    ...checkpoint,
    savedAt: checkpoint.savedAt ?? new Date().toISOString(),
    weights: checkpoint.weights.map(ref),
    optimizerWeights: checkpoint.optimizerWeights.map(ref),
    callbacks: Object.fromEntries(Object.entries(checkpoint.callbacks).map(([k, v]) => [k, { json: v.json, arrays: v.arrays?.map(ref) }])),
    dataLength: 0,
  };
  header.dataLength = offset;
  const headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const prefix = new Uint8Array(MAGIC.length + 4);
  prefix.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(prefix.buffer).setUint32(MAGIC.length, headerBytes.byteLength, true);
  return [prefix, headerBytes, ...chunks];
}

export function decodeCheckpoint(bytes: Uint8Array, path = 'checkpoint'): TrainingCheckpoint {
  const bad = (why: string) => new FileError(path, `not a readable tlkit checkpoint (${why})`);
  if (bytes.byteLength < MAGIC.length + 4 || new TextDecoder().decode(bytes.subarray(0, MAGIC.length)) !== MAGIC) throw bad('wrong magic bytes');
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset).getUint32(MAGIC.length, true);
  const dataStart = MAGIC.length + 4 + headerLength;
  if (dataStart > bytes.byteLength) throw bad('truncated header');
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(MAGIC.length + 4, dataStart)));
  } catch (error) {
    throw bad(`header is not JSON: ${(error as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw bad('header is not a JSON object');
  if (header.format !== 'tlkit-checkpoint' || header.version !== 1) throw bad(`format ${String(header.format)} version ${String(header.version)}`);
  validateCheckpointHeader(header, path);
  if (dataStart + (header.dataLength as number) !== bytes.byteLength) throw bad(`expected ${dataStart + (header.dataLength as number)} bytes, found ${bytes.byteLength}`);
  // Copy each array out so it is aligned and independent of the file buffer.
  const load = (r: ArrayRef): SavedArray => {
    const slice = bytes.slice(dataStart + r.offset, dataStart + r.offset + r.length);
    const data = r.dtype === 'int32' ? new Int32Array(slice.buffer) : new Float32Array(slice.buffer);
    return { name: r.name, dtype: r.dtype, shape: r.shape, data };
  };
  const callbacks = header.callbacks as Record<string, { json?: unknown; arrays?: ArrayRef[] }>;
  return {
    ...(header as unknown as TrainingCheckpoint),
    weights: (header.weights as ArrayRef[]).map(load),
    optimizerWeights: (header.optimizerWeights as ArrayRef[]).map(load),
    callbacks: Object.fromEntries(Object.entries(callbacks).map(([k, v]) => [k, { json: v.json, arrays: v.arrays?.map(load) }])),
  };
}

export async function writeCheckpoint(path: string, checkpoint: TrainingCheckpoint, io?: AtomicWriteFs): Promise<void> {
  await atomicWrite(path, encodeCheckpoint(checkpoint), io);
}

export async function readCheckpoint(path: string): Promise<TrainingCheckpoint> {
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new FileError(path, code === 'ENOENT' ? 'no checkpoint here (nothing to resume from)' : `cannot read checkpoint (${(error as Error).message})`, { cause: error });
  }
  return decodeCheckpoint(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), path);
}
