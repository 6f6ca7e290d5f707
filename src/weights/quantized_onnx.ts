// The int8 ONNX model `tlkit export RUN --format onnx --quantize int8` writes beside the model folder
// (RUN/model.int8.onnx), and what evaluate / predict / serve check before using it: that it was made
// from the weights the model folder holds now (a fingerprint of model.json and weights.bin is stored in
// the ONNX model's metadata), so a retrained run never serves a stale int8 copy.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { FileError } from '../core/errors.js';
import { onnx } from '../engines/onnx/graph_builder.js';
import { MODEL_JSON, WEIGHTS_BIN } from './saved_model.js';

export const QUANTIZED_ONNX = 'model.int8.onnx';

/** Metadata keys tlkit writes into the quantized ModelProto. */
export const QUANTIZED_METADATA = {
  precision: 'tlkit.precision',
  sourceFingerprint: 'tlkit.source_fingerprint',
  report: 'tlkit.quantization',
} as const;

export type ServingPrecision = 'float32' | 'int8';
export const SERVING_PRECISIONS: readonly ServingPrecision[] = ['float32', 'int8'];

/** Where the int8 model of the model folder `modelDir` lives: beside it, like model.onnx. */
export function quantizedOnnxPath(modelDir: string): string {
  return join(dirname(modelDir), QUANTIZED_ONNX);
}

/** sha256 of the model folder's model.json and weights.bin: which trained model a derived file belongs to. */
export function modelFingerprint(modelDir: string): string {
  const hash = createHash('sha256');
  for (const name of [MODEL_JSON, WEIGHTS_BIN]) hash.update(readFileSync(join(modelDir, name)));
  return hash.digest('hex');
}

/** `bytes` with `entries` added to the ModelProto's metadata_props (replacing same keys). */
export function withOnnxMetadata(bytes: Uint8Array, entries: Record<string, string>): Uint8Array {
  const model = onnx.ModelProto.decode(bytes);
  const kept = (model.metadataProps ?? []).filter((p) => !(p.key! in entries));
  model.metadataProps = [...kept, ...Object.entries(entries).map(([key, value]) => onnx.StringStringEntryProto.create({ key, value }))];
  return onnx.ModelProto.encode(model).finish();
}

export function onnxMetadata(bytes: Uint8Array): Record<string, string> {
  const model = onnx.ModelProto.decode(bytes);
  return Object.fromEntries((model.metadataProps ?? []).map((p) => [p.key!, p.value ?? '']));
}

/**
 * The int8 model of `modelDir` (at `path`, default RUN/model.int8.onnx), checked to be a tlkit int8
 * export of the weights the folder holds now.
 */
export async function readQuantizedOnnx(modelDir: string, path = quantizedOnnxPath(modelDir)): Promise<Uint8Array> {
  if (!existsSync(path)) {
    throw new FileError(path, `no int8 model: make it with \`tlkit export ${dirname(modelDir)} --format onnx --quantize int8\` (it measures the accuracy of both precisions before writing it)`);
  }
  const bytes = new Uint8Array(await readFile(path));
  let meta: Record<string, string>;
  try {
    meta = onnxMetadata(bytes);
  } catch (error) {
    throw new FileError(path, `not an ONNX model (${(error as Error).message})`, { cause: error });
  }
  if (meta[QUANTIZED_METADATA.precision] !== 'int8') throw new FileError(path, `not a tlkit int8 export (its metadata has no ${QUANTIZED_METADATA.precision}=int8); export it again with --quantize int8`);
  if (meta[QUANTIZED_METADATA.sourceFingerprint] !== modelFingerprint(modelDir)) {
    throw new FileError(path, `was made from other weights than ${modelDir} holds now (the model was retrained or replaced since); export it again with \`tlkit export ${dirname(modelDir)} --format onnx --quantize int8\``);
  }
  return bytes;
}
