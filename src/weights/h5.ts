// The one place that starts h5wasm (ESM-only, a wasm module that must be ready before use) and the
// Keras legacy-HDF5 conventions shared by the reader and the writer.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import h5wasm from 'h5wasm/node';
import { FileError } from '../core/errors.js';

export type H5 = typeof h5wasm;
export type H5Group = InstanceType<H5['Group']>;

let ready: Promise<H5> | undefined;

export function loadH5wasm(): Promise<H5> {
  ready ??= h5wasm.ready.then(() => h5wasm);
  return ready;
}

/**
 * HDF5 keeps attributes in the object header, which holds 64 KiB; Keras splits longer name lists into
 * `layer_names0`, `layer_names1`, ... (keras legacy_h5_format HDF5_OBJECT_HEADER_LIMIT).
 */
export const HDF5_OBJECT_HEADER_LIMIT = 64512;

function attrValue(group: H5Group, name: string): unknown {
  const attr = group.attrs[name];
  return attr ? attr.value : undefined;
}

function toStrings(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.map((v) => String(v));
  // An empty numeric array: what Keras writes for a layer without weights (np.asarray([]) is float64).
  if (ArrayBuffer.isView(value)) return [];
  return [String(value)];
}

/** A string-list attribute, joining Keras's chunks (name0, name1, ...) when it was split. */
export function readStringListAttr(group: H5Group, name: string): string[] {
  if (group.attrs[name]) return toStrings(attrValue(group, name));
  const out: string[] = [];
  for (let chunk = 0; group.attrs[`${name}${chunk}`]; chunk++) out.push(...toStrings(attrValue(group, `${name}${chunk}`)));
  return out;
}

export function readStringAttr(group: H5Group, name: string): string | undefined {
  const v = attrValue(group, name);
  return v === undefined || v === null ? undefined : String(v);
}

/**
 * Writes a string list the way numpy/h5py store Keras's name lists: fixed-length byte strings,
 * split into numbered chunks when the attribute would not fit the object header.
 */
export function writeStringListAttr(group: H5Group, name: string, values: string[]): void {
  if (values.length === 0) {
    group.create_attribute(name, new Float64Array(0), [0], '<d');
    return;
  }
  const width = Math.max(1, ...values.map((v) => Buffer.byteLength(v, 'utf8')));
  let chunks = 1;
  while (Math.ceil(values.length / chunks) * width > HDF5_OBJECT_HEADER_LIMIT) chunks++;
  if (chunks === 1) {
    group.create_attribute(name, values, [values.length], `S${width}`);
    return;
  }
  const per = Math.ceil(values.length / chunks);
  for (let c = 0; c < chunks; c++) {
    const part = values.slice(c * per, (c + 1) * per);
    group.create_attribute(`${name}${c}`, part, [part.length], `S${width}`);
  }
}

/** The 8 bytes every HDF5 file has at offset 0, or at 512, 1024, 2048... after a user block. */
const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

/** A file that is not HDF5 at all (h5wasm alone answers with "error - name not defined!"). */
export class NotHdf5Error extends FileError {
  constructor(path: string) {
    super(path, 'not an HDF5 file');
    this.message = `not an HDF5 file: ${path} (no HDF5 signature; a Keras .h5 is written by model.save_weights or model.save)`;
  }
}

/** Checks the HDF5 signature before h5wasm opens the file. */
export function assertHdf5(path: string): void {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw new FileError(path, `cannot open (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { cause: error });
  }
  try {
    const size = fstatSync(fd).size;
    const bytes = Buffer.alloc(HDF5_SIGNATURE.length);
    for (let offset = 0; offset + bytes.length <= size; offset = offset === 0 ? 512 : offset * 2) {
      readSync(fd, bytes, 0, bytes.length, offset);
      if (bytes.equals(HDF5_SIGNATURE)) return;
    }
  } finally {
    closeSync(fd);
  }
  throw new NotHdf5Error(path);
}
