// On-disk cache of onnxruntime graphs as onnxruntime optimised them (level 'all': fused nodes, NCHWc
// kernels, constant folding). Optimising is most of the fixed cost of a compiled training step
// (mobilenet_v2@224 b16: ~2 s of the ~3 s) and of a frozen prefix's session; a cached graph loads with
// optimisations off in a fraction of that.
//
// Where: $TLKIT_CACHE_DIR, else $XDG_CACHE_HOME/tlkit, else ~/.cache/tlkit; under it `onnx/`, one file
// per entry, named by its key. Deleting the directory is always safe.
//
// The key is a sha256 over what decides the graph's bytes: the caller's description (architecture,
// trainable set, batch size, options; weights only where they are baked into the graph), and this
// machine's environment: onnxruntime's version, the CPU (optimised graphs hold CPU-specific kernels such
// as the NCHWc block size), and a hash of the code that emits graphs (src/engines/onnx/), so a changed
// gradient rule never meets a graph built by the old one.
//
// An entry is "TLKITC1\n", a 4-byte little-endian header length, a JSON header {key, sha256, meta}, then
// the model bytes. A file that is truncated, of another key or whose bytes do not hash to the header's
// sha256 reads as a miss, and the caller's rebuild overwrites it. A cache that cannot be written (a
// read-only home) only costs the rebuild next time: writes never fail the caller. Entries read bump
// their modification time, and after each write the oldest go until the directory holds at most
// MAX_CACHE_BYTES (a frozen ResNet50 prefix, weights included, is ~95 MB; a training step ~1 MB).
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { atomicWrite } from '../../core/atomic_write.js';
import { onnx, type OnnxTypes } from './graph_builder.js';
import type { LayersModel } from './model_graph.js';
import { nchwcBlockSize, probeNchwcBlockSize } from './training/nchwc.js';
import { traceModel } from './training/trace.js';

/** Where compiled graphs are cached when the caller gives no directory. */
export function defaultCacheDir(): string {
  if (process.env.TLKIT_CACHE_DIR) return process.env.TLKIT_CACHE_DIR;
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'tlkit');
}

/**
 * The cache directory to use: `option` when given (false: no cache), else defaultCacheDir().
 * TLKIT_CACHE_DIR=off (or 0, false) switches the cache off for a whole process.
 */
export function resolveCacheDir(option: string | false | undefined): string | false {
  if (option !== undefined) return option;
  if (['off', '0', 'false'].includes((process.env.TLKIT_CACHE_DIR ?? '').toLowerCase())) return false;
  return defaultCacheDir();
}

export type CacheKind = 'training-step' | 'frozen-prefix';

/** One entry of the cache: its file and the key stored in it. */
export interface CacheEntry {
  file: string;
  key: string;
}

const MAGIC = Buffer.from('TLKITC1\n', 'latin1');

/** How a session's graph came to be, and what it cost (the fixed cost before the first batch). */
export interface CompileInfo {
  /** Wall time from the request to a ready session: graph (or cache read) and session. */
  compileMs: number;
  /** 'hit': loaded from the cache; 'miss': built (and stored when the cache is writable); 'off': no cache. */
  cache: 'hit' | 'miss' | 'off';
}

/** One log line for a run: what got ready, how long it took and whether the cache served it. */
export function describeCompile(what: string, info: CompileInfo): string {
  const cache = info.cache === 'off' ? 'compiled-graph cache off' : `compiled-graph cache ${info.cache}`;
  return `${what} ready in ${(info.compileMs / 1000).toFixed(1)} s (${cache})`;
}

/** The key of `description` (any JSON value that determines the graph) on this machine and code. */
export async function cacheKey(kind: CacheKind, description: unknown): Promise<string> {
  return sha256(JSON.stringify({ kind, environment: await environment(), description }));
}

/** The entry for `description` in `dir`. */
export async function cacheEntry(dir: string, kind: CacheKind, description: unknown): Promise<CacheEntry> {
  const key = await cacheKey(kind, description);
  return { file: path.join(dir, 'onnx', `${kind}-${key.slice(0, 32)}.tlkc`), key };
}

let optimizedPaths = 0;

/**
 * A fresh path where onnxruntime writes the optimised graph (optimizedModelFilePath) before writeCached
 * stores it; unique per process and call, so concurrent compiles of one entry never share it.
 */
export function optimizedModelPath(entry: CacheEntry): string {
  return path.join(path.dirname(entry.file), `.${path.basename(entry.file)}.${process.pid}.${optimizedPaths++}.onnx`);
}

/** The entry's model bytes and metadata, or undefined when it is absent, damaged or of another key. */
export async function readCached<M>(entry: CacheEntry): Promise<{ model: Uint8Array; meta: M } | undefined> {
  let bytes: Buffer;
  try {
    bytes = await fsp.readFile(entry.file);
  } catch {
    return undefined;
  }
  try {
    if (bytes.length < MAGIC.length + 4 || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
    const headerLength = bytes.readUInt32LE(MAGIC.length);
    const headerEnd = MAGIC.length + 4 + headerLength;
    if (headerEnd > bytes.length) return undefined;
    const header = JSON.parse(bytes.subarray(MAGIC.length + 4, headerEnd).toString('utf8')) as { key?: unknown; sha256?: unknown; meta?: M };
    const model = bytes.subarray(headerEnd);
    if (header.key !== entry.key || header.sha256 !== sha256(model) || header.meta === undefined) return undefined;
    const now = new Date();
    await fsp.utimes(entry.file, now, now).catch(() => undefined);
    return { model, meta: header.meta };
  } catch {
    return undefined;
  }
}

export interface WriteOptions {
  /**
   * Float initializers of at least this many bytes that hold one value throughout (constant folding's
   * ConstantOfShape results, e.g. the 53 MB of zeros a ResNet50 MaxPool gradient scatters into) are
   * stored as ConstantOfShape nodes again (unfoldConstantFills). Default: none.
   */
  unfoldFillsOver?: number;
}

/**
 * Stores the optimised graph onnxruntime wrote to `optimized` (an optimizedModelPath), with `meta`,
 * atomically, and removes onnxruntime's file. Returns false (and leaves no file behind) when it could not.
 */
export async function writeCached(entry: CacheEntry, optimized: string, meta: unknown, options: WriteOptions = {}): Promise<boolean> {
  // One write per entry file at a time in this process (atomicWrite's temporary name is per process).
  const previous = writing.get(entry.file) ?? Promise.resolve(true);
  const task = previous.then(() => store(entry, optimized, meta, options));
  writing.set(entry.file, task);
  try {
    return await task;
  } finally {
    if (writing.get(entry.file) === task) writing.delete(entry.file);
  }
}

const writing = new Map<string, Promise<boolean>>();

async function store(entry: CacheEntry, optimized: string, meta: unknown, options: WriteOptions): Promise<boolean> {
  try {
    let model: Uint8Array = await fsp.readFile(optimized);
    if (options.unfoldFillsOver !== undefined) model = unfoldConstantFills(model, options.unfoldFillsOver);
    const header = Buffer.from(JSON.stringify({ key: entry.key, sha256: sha256(model), meta }), 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32LE(header.length);
    await atomicWrite(entry.file, [MAGIC, length, header, model]);
    await prune(path.dirname(entry.file), MAX_CACHE_BYTES);
    return true;
  } catch {
    return false;
  } finally {
    await fsp.rm(optimized, { force: true }).catch(() => undefined);
  }
}

/**
 * `model` with every float32 initializer of at least `minBytes` bytes whose elements are all the same
 * bits replaced by a ConstantOfShape node that produces it (same name, shape and values). onnxruntime's
 * constant folding turns ConstantOfShape into such initializers; stored as they are, a cache entry holds
 * (and every load reads, hashes and copies) megabytes of one repeated value. The node costs a fill per
 * run, which the folded graph's consumers (ScatterElements copies its data input) paid as a copy anyway.
 * Returns `model` itself when nothing qualifies.
 */
export function unfoldConstantFills(model: Uint8Array, minBytes: number): Uint8Array {
  const proto = onnx.ModelProto.decode(model);
  const graph = proto.graph;
  if (!graph) return model;
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const kept: typeof graph.initializer = [];
  const nodes: typeof graph.node = [];
  for (const init of graph.initializer ?? []) {
    const bytes = init.dataType === FLOAT && !(init.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) ? floatBytes(init) : undefined;
    if (!bytes || bytes.length < Math.max(minBytes, 4) || !init.name || !oneValue(bytes)) {
      kept.push(init);
      continue;
    }
    const dims = (init.dims ?? []).map(Number);
    const shapeName = `${init.name}__fill_shape`;
    kept.push({ name: shapeName, dims: [dims.length], dataType: onnx.TensorProto.DataType.INT64, rawData: new Uint8Array(new BigInt64Array(dims.map((d) => BigInt(d))).buffer) });
    nodes.push({
      opType: 'ConstantOfShape',
      name: `${init.name}__fill`,
      input: [shapeName],
      output: [init.name],
      attribute: [{ name: 'value', type: onnx.AttributeProto.AttributeType.TENSOR, t: { dims: [1], dataType: FLOAT, rawData: bytes.slice(0, 4) } }],
    });
  }
  if (nodes.length === 0) return model;
  const unfolded = new Set(nodes.map((n) => n.output![0]));
  graph.initializer = kept;
  graph.input = (graph.input ?? []).filter((i) => !unfolded.has(i.name ?? ''));
  graph.node = [...nodes, ...(graph.node ?? [])];
  return onnx.ModelProto.encode(proto).finish();
}

/** A float tensor's little-endian bytes (raw_data, or float_data packed), else undefined. */
function floatBytes(tensor: OnnxTypes.ITensorProto): Uint8Array | undefined {
  if (tensor.rawData && tensor.rawData.length > 0) return tensor.rawData;
  if (tensor.floatData && tensor.floatData.length > 0) {
    const data = Float32Array.from(tensor.floatData);
    return new Uint8Array(data.buffer);
  }
  return undefined;
}

/** Whether `bytes` is one 4-byte value repeated. */
function oneValue(bytes: Uint8Array): boolean {
  if (bytes.length % 4 !== 0) return false;
  const [b0, b1, b2, b3] = [bytes[0], bytes[1], bytes[2], bytes[3]];
  for (let i = 4; i < bytes.length; i += 4) {
    if (bytes[i] !== b0 || bytes[i + 1] !== b1 || bytes[i + 2] !== b2 || bytes[i + 3] !== b3) return false;
  }
  return true;
}

/** Creates the entry's directory (before onnxruntime writes into it); false when that is impossible. */
export async function prepareEntryDir(entry: CacheEntry): Promise<boolean> {
  try {
    await fsp.mkdir(path.dirname(entry.file), { recursive: true });
    return true;
  } catch {
    return false;
  }
}

/** Size the cache directory is pruned to after each write (oldest entries first). */
export const MAX_CACHE_BYTES = 2 * 1024 ** 3;

async function prune(dir: string, maxBytes: number): Promise<void> {
  const entries: { file: string; size: number; mtime: number }[] = [];
  for (const name of await fsp.readdir(dir)) {
    if (!name.endsWith('.tlkc')) continue;
    const stat = await fsp.stat(path.join(dir, name)).catch(() => undefined);
    if (stat) entries.push({ file: path.join(dir, name), size: stat.size, mtime: stat.mtimeMs });
  }
  let total = entries.reduce((sum, e) => sum + e.size, 0);
  entries.sort((a, b) => a.mtime - b.mtime);
  for (const e of entries) {
    if (total <= maxBytes) break;
    await fsp.rm(e.file, { force: true }).catch(() => undefined);
    total -= e.size;
  }
}

/**
 * A model's architecture as JSON, for cache keys: per traced layer call (nested models inlined) its
 * class, config without the layer's name (tfjs numbers auto-named layers per process), whether the
 * layer trains, its inputs and outputs, and per weight its index in model.weights, shape and
 * trainability. Weight values are not part of it.
 */
export function describeArchitecture(model: LayersModel): unknown {
  const traced = traceModel(model);
  const trainableIds = new Set(model.trainableWeights.map((w) => w.id));
  const weightIndex = new Map(model.weights.map((w, i) => [w.id, i]));
  const calls = traced.calls.map((call) => {
    const { name: _name, ...config } = call.layer.getConfig();
    return {
      className: call.layer.getClassName(),
      config,
      trainable: call.layer.trainable,
      inputs: call.inputs,
      outputs: call.outputs,
      outputShapes: call.outputShapes,
      callArgs: Object.fromEntries(Object.entries(call.callArgs).filter(([, v]) => v === null || ['boolean', 'number', 'string'].includes(typeof v))),
      weights: call.layer.weights.map((w) => [weightIndex.get(w.id) ?? -1, w.shape, trainableIds.has(w.id)]),
    };
  });
  return { inputs: traced.inputs, outputs: traced.outputs, inputShapes: model.inputs.map((t) => t.shape), calls };
}

/** sha256 over every weight's values, in model.weights order: the key part of graphs that bake weights in. */
export function hashWeights(model: LayersModel): string {
  const hash = createHash('sha256');
  for (const w of model.weights) {
    const data = w.read().dataSync() as Float32Array;
    hash.update(JSON.stringify(w.shape)).update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  return hash.digest('hex');
}

export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

let environmentPromise: Promise<Record<string, unknown>> | undefined;

/** What besides the description decides an optimised graph on this machine (computed once). */
function environment(): Promise<Record<string, unknown>> {
  environmentPromise ??= (async () => {
    await probeNchwcBlockSize();
    return {
      onnxruntime: ort.env.versions,
      platform: process.platform,
      arch: process.arch,
      cpu: os.cpus()[0]?.model ?? 'unknown',
      nchwcBlock: nchwcBlockSize() ?? null,
      code: codeHash(path.dirname(fileURLToPath(import.meta.url))),
    };
  })();
  return environmentPromise;
}

/** sha256 over the sources (or built .js) of the graph-emitting code: every file under `dir`. */
function codeHash(dir: string): string {
  const hash = createHash('sha256');
  const visit = (d: string): void => {
    for (const name of fs.readdirSync(d).sort()) {
      const full = path.join(d, name);
      if (fs.statSync(full).isDirectory()) visit(full);
      else if (/\.(ts|js|mjs)$/.test(name) && !name.endsWith('.d.ts')) hash.update(name).update(fs.readFileSync(full));
    }
  };
  visit(dir);
  return hash.digest('hex');
}
