// What `tlkit cache` shows and prunes: the feature stores, the compiled-graph cache and the linear
// probes' results under one cache root. Pruning removes whole entries, least recently used first (a store's meta.json and a graph's
// file are touched on every use); deleting any of it is always safe (it is computed again when needed).
import * as fs from 'node:fs/promises';
import path from 'node:path';
import { readStoreMeta, type FeatureStoreMeta } from './feature_store.js';

export interface CacheItem {
  kind: 'feature-store' | 'compiled-graph' | 'linear-probe';
  /** The store's directory or the graph's file. */
  path: string;
  bytes: number;
  /** Records in a feature store (complete index lines), 1 for a graph or a probe result. */
  entries: number;
  lastUsed: Date;
  /** A feature store's meta.json. */
  meta?: FeatureStoreMeta;
}

export interface CacheListing {
  root: string;
  items: CacheItem[];
  bytes: number;
}

/** Every feature store and compiled graph under `root`, least recently used first. */
export async function listCache(root: string): Promise<CacheListing> {
  const items: CacheItem[] = [];
  const featuresDir = path.join(root, 'features');
  for (const name of await readdirOrEmpty(featuresDir)) {
    const dir = path.join(featuresDir, name);
    const meta = await readStoreMeta(dir);
    let bytes = 0;
    let entries = 0;
    let lastUsed = 0;
    for (const file of await readdirOrEmpty(dir)) {
      const stat = await fs.stat(path.join(dir, file)).catch(() => undefined);
      if (!stat) continue;
      bytes += stat.size;
      lastUsed = Math.max(lastUsed, stat.mtimeMs);
      if (file.endsWith('.idx')) entries += await countLines(path.join(dir, file));
    }
    items.push({ kind: 'feature-store', path: dir, bytes, entries, lastUsed: new Date(lastUsed), ...(meta ? { meta } : {}) });
  }
  const graphsDir = path.join(root, 'onnx');
  for (const name of await readdirOrEmpty(graphsDir)) {
    if (!name.endsWith('.tlkc')) continue;
    const stat = await fs.stat(path.join(graphsDir, name)).catch(() => undefined);
    if (stat) items.push({ kind: 'compiled-graph', path: path.join(graphsDir, name), bytes: stat.size, entries: 1, lastUsed: stat.mtime });
  }
  // train/probes/probe_cache.ts writes here (a layer above): the folder name is the contract.
  const probesDir = path.join(root, 'probes');
  for (const name of await readdirOrEmpty(probesDir)) {
    if (!name.endsWith('.json')) continue;
    const stat = await fs.stat(path.join(probesDir, name)).catch(() => undefined);
    if (stat) items.push({ kind: 'linear-probe', path: path.join(probesDir, name), bytes: stat.size, entries: 1, lastUsed: stat.mtime });
  }
  items.sort((a, b) => a.lastUsed.getTime() - b.lastUsed.getTime());
  return { root, items, bytes: items.reduce((s, i) => s + i.bytes, 0) };
}

export interface PruneOptions {
  /** Keep at most this many bytes (feature stores, graphs and probe results together). */
  maxBytes: number;
  /** Which kinds to prune. Default: all. */
  kinds?: CacheItem['kind'][];
  /** Paths never removed (the stores the current run has open). */
  keep?: readonly string[];
}

/** Removes the least recently used items until the cache holds at most maxBytes; returns what went. */
export async function pruneCache(root: string, options: PruneOptions): Promise<CacheItem[]> {
  const listing = await listCache(root);
  const kinds = new Set<CacheItem['kind']>(options.kinds ?? ['feature-store', 'compiled-graph', 'linear-probe']);
  const keep = new Set((options.keep ?? []).map((p) => path.resolve(p)));
  let total = listing.bytes;
  const removed: CacheItem[] = [];
  for (const item of listing.items) {
    if (total <= options.maxBytes) break;
    if (!kinds.has(item.kind) || keep.has(path.resolve(item.path))) continue;
    await fs.rm(item.path, { recursive: true, force: true });
    total -= item.bytes;
    removed.push(item);
  }
  return removed;
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return (await fs.readdir(dir)).sort();
  } catch {
    return [];
  }
}

async function countLines(file: string): Promise<number> {
  try {
    const data = await fs.readFile(file);
    let n = 0;
    for (let i = 0; i < data.length; i++) if (data[i] === 10) n++;
    return n;
  } catch {
    return 0;
  }
}
