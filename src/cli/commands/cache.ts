// `tlkit cache`: what the feature stores, the compiled-graph cache and the probe results hold, and pruning them.
import type { Command } from '../command.js';
import { numberFlag, parseFlags, stringFlag } from '../args.js';
import { UsageError } from '../../core/errors.js';
import { formatCount } from '../../core/format.js';
import { formatTable } from './models.js';

const usage = `Usage: tlkit cache [list] [--dir DIR] [--json]
       tlkit cache prune --max-size GB [--dir DIR] [--only features|graphs|probes]
       tlkit cache clear [--dir DIR] [--only features|graphs|probes]

Lists the feature stores (frozen-backbone features kept per backbone, cut, input size and preprocessing,
reused by later runs; see docs/feature-store.md), the compiled-graph cache (onnxruntime graphs) and the
linear probes' results (reused when the same features are probed again), least recently used first, with their sizes; prunes them to a size, least recently used first; or clears them.
Deleting any of it is always safe: what is missing is computed again when a run needs it.

Options:
  --dir DIR          the cache root (default: $TLKIT_CACHE_DIR, else $XDG_CACHE_HOME/tlkit, else ~/.cache/tlkit;
                     a queue's workers use RUNS_ROOT/.tlkit-cache)
  --max-size GB      prune: keep at most this many gigabytes
  --only KIND        features, graphs or probes (default all)
  --json             list as JSON`;

const flags = {
  dir: { type: 'string' },
  'max-size': { type: 'string' },
  only: { type: 'string' },
  json: { type: 'boolean' },
} as const;

export const cacheCommand: Command = {
  name: 'cache',
  summary: 'list, size and prune the feature stores, the compiled-graph cache and the probe results',
  usage,
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, flags, usage);
    const action = positionals[0] ?? 'list';
    if (!['list', 'prune', 'clear'].includes(action) || positionals.length > 1) {
      throw new UsageError(`cache takes one of list, prune, clear; got ${positionals.join(' ')}`);
    }
    const only = stringFlag(values, 'only');
    const kindOf = { features: 'feature-store', graphs: 'compiled-graph', probes: 'linear-probe' } as const;
    if (only !== undefined && !Object.hasOwn(kindOf, only)) throw new UsageError(`--only expects features, graphs or probes; got '${only}'`, 'only');
    const { listCache, pruneCache, formatBytes } = await import('../../engines/feature_store/index.js');
    const { defaultCacheDir } = await import('../../engines/onnx/compiled_cache.js');
    const root = stringFlag(values, 'dir') ?? defaultCacheDir();
    const kinds = only !== undefined ? [kindOf[only as keyof typeof kindOf]] : Object.values(kindOf);
    if (action !== 'list') {
      const maxGb = action === 'clear' ? 0 : numberFlag(values, 'max-size', { min: 0 });
      if (maxGb === undefined) throw new UsageError('cache prune needs --max-size GB', 'max-size');
      // The budget counts only the kinds being pruned.
      const listing = await listCache(root);
      const other = listing.items.filter((i) => !(kinds as readonly string[]).includes(i.kind)).reduce((s, i) => s + i.bytes, 0);
      const removed = await pruneCache(root, { maxBytes: maxGb * 1e9 + other, kinds: [...kinds] });
      const freed = removed.reduce((s, i) => s + i.bytes, 0);
      io.stdout.write(`removed ${removed.length} item${removed.length === 1 ? '' : 's'} (${formatBytes(freed)}) from ${root}\n`);
      return 0;
    }
    const listing = await listCache(root);
    const items = listing.items.filter((i) => (kinds as readonly string[]).includes(i.kind));
    if (values.json) {
      io.stdout.write(JSON.stringify({ root, bytes: items.reduce((s, i) => s + i.bytes, 0), items }, null, 2) + '\n');
      return 0;
    }
    if (items.length === 0) {
      io.stdout.write(`${root}: empty\n`);
      return 0;
    }
    const rows = [['kind', 'size', 'entries', 'last used', 'what', 'path']];
    for (const item of items) {
      const about = item.meta?.about as { backbone?: string; boundary?: string; pixels?: { decode?: { targetSize?: number[] } } } | undefined;
      const what =
        item.kind === 'feature-store'
          ? [about?.backbone, about?.boundary, item.meta?.shape.join('x'), item.meta?.precision, about?.pixels?.decode?.targetSize ? `input ${about.pixels.decode.targetSize.join('x')}` : undefined].filter(Boolean).join(' ')
          : item.kind === 'linear-probe'
            ? 'linear probe result'
            : item.path.split(/[\\/]/).pop()!.replace(/-[0-9a-f]+\.tlkc$/, '');
      rows.push([item.kind, formatBytes(item.bytes), formatCount(item.entries), item.lastUsed.toISOString().slice(0, 16).replace('T', ' '), what, item.path]);
    }
    io.stdout.write(formatTable(rows) + '\n');
    io.stdout.write(`total ${formatBytes(items.reduce((s, i) => s + i.bytes, 0))} in ${root}\n`);
    return 0;
  },
};
