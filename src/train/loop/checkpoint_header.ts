// A checkpoint's JSON header checked field by field before anything is built from it: a hand-edited or
// forged header (wrong types, missing fields, an epoch of -1 or 1e9, arrays pointing outside the file)
// is refused with the field named, instead of failing somewhere inside a resumed fit.
import { FileError, formatValue } from '../../core/errors.js';

/** More epochs than any run trains; a larger count is a damaged or forged header. */
export const MAX_EPOCHS = 1_000_000;
/** Batches per epoch: an int32 position, as the iterators count. */
const MAX_BATCH = 2 ** 31 - 1;

const BYTES_PER_ELEMENT = { float32: 4, int32: 4 } as const;

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const isInteger = (v: unknown, min: number, max: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/**
 * Checks the header `decodeCheckpoint` parsed from `path` (whose data section is `dataLength` bytes).
 * Throws FileError naming the first bad field, what it must be and what it is.
 */
export function validateCheckpointHeader(header: Json, path: string): void {
  const bad = (field: string, expected: string, received: unknown) =>
    new FileError(path, `invalid checkpoint header: \`${field}\` must be ${expected}. Received: ${field}=${formatValue(received)}`);

  const dataLength = header.dataLength;
  if (!isInteger(dataLength, 0, Number.MAX_SAFE_INTEGER)) throw bad('dataLength', 'a byte count (integer >= 0)', dataLength);
  if (!isInteger(header.epochs, 0, MAX_EPOCHS)) throw bad('epochs', `an integer from 0 to ${MAX_EPOCHS}`, header.epochs);
  if (!isInteger(header.epoch, 0, header.epochs)) throw bad('epoch', `an integer from 0 to epochs (${header.epochs})`, header.epoch);
  if (!isInteger(header.batch, 0, MAX_BATCH)) throw bad('batch', `an integer from 0 to ${MAX_BATCH}`, header.batch);
  if (!isFiniteNumber(header.seed)) throw bad('seed', 'a finite number', header.seed);
  if (!isFiniteNumber(header.learningRate) || header.learningRate < 0) throw bad('learningRate', 'a finite number >= 0', header.learningRate);
  if (typeof header.optimizerClass !== 'string' || header.optimizerClass.length === 0) throw bad('optimizerClass', 'a non-empty string', header.optimizerClass);
  if (header.engine !== undefined && header.engine !== 'tfjs' && header.engine !== 'onnx-step') throw bad('engine', "'tfjs' or 'onnx-step' when present", header.engine);

  const acc = header.accumulators;
  if (!isObject(acc)) throw bad('accumulators', 'an object {lossSum, correct, seen, seconds}', acc);
  for (const key of ['lossSum', 'correct', 'seen', 'seconds']) {
    if (!isFiniteNumber(acc[key]) || (key !== 'lossSum' && (acc[key] as number) < 0)) throw bad(`accumulators.${key}`, key === 'lossSum' ? 'a finite number' : 'a finite number >= 0', acc[key]);
  }

  const history = header.history;
  if (!Array.isArray(history) || history.length > (header.epochs as number)) throw bad('history', `a list of at most epochs (${header.epochs}) epoch records`, Array.isArray(history) ? `[${history.length} records]` : history);
  history.forEach((h, i) => {
    // JSON turns NaN into null: a NaN validation loss comes back as null.
    if (!isObject(h) || !Object.values(h).every((v) => v === null || typeof v === 'number')) throw bad(`history[${i}]`, 'an object of numbers', h);
  });
  if (header.tag !== undefined && !isObject(header.tag)) throw bad('tag', 'an object when present', header.tag);
  if (header.optimizerLayout !== undefined && !isObject(header.optimizerLayout)) throw bad('optimizerLayout', 'an object when present', header.optimizerLayout);

  const checkRefs = (field: string, refs: unknown) => {
    if (!Array.isArray(refs)) throw bad(field, 'a list of array references', refs);
    refs.forEach((r, i) => {
      const name = `${field}[${i}]`;
      if (!isObject(r)) throw bad(name, 'an object {name, dtype, shape, offset, length}', r);
      if (typeof r.name !== 'string') throw bad(`${name}.name`, 'a string', r.name);
      if (r.dtype !== 'float32' && r.dtype !== 'int32') throw bad(`${name}.dtype`, "'float32' or 'int32'", r.dtype);
      if (!Array.isArray(r.shape) || !r.shape.every((d) => isInteger(d, 0, MAX_BATCH))) throw bad(`${name}.shape`, 'a list of integers >= 0', r.shape);
      const bytes = (r.shape as number[]).reduce((a, b) => a * b, 1) * BYTES_PER_ELEMENT[r.dtype];
      if (r.length !== bytes) throw bad(`${name}.length`, `${bytes} (the bytes of shape [${r.shape}] ${r.dtype})`, r.length);
      if (!isInteger(r.offset, 0, dataLength) || r.offset % BYTES_PER_ELEMENT[r.dtype] !== 0 || r.offset + bytes > dataLength) {
        throw bad(`${name}.offset`, `an aligned offset with offset + length <= dataLength (${dataLength})`, r.offset);
      }
    });
  };
  checkRefs('weights', header.weights);
  checkRefs('optimizerWeights', header.optimizerWeights);
  if (!isObject(header.callbacks)) throw bad('callbacks', 'an object of callback states', header.callbacks);
  for (const [key, state] of Object.entries(header.callbacks)) {
    if (!isObject(state)) throw bad(`callbacks.${key}`, 'an object {json, arrays}', state);
    if (state.arrays !== undefined) checkRefs(`callbacks.${key}.arrays`, state.arrays);
  }
}
