// What `tlkit data` reports about a dataset folder: classes with counts (Keras's listing), the files
// that cannot be used and why, and statistics of image sizes, formats and colour modes. Every file is
// decoded (at a tiny size: JPEG shrink-on-load keeps it cheap), so truncated files are found too.
import type { ProgressCallback } from '../core/progress.js';
import type { SkippedFile } from './sample_iterator.js';
import { decodeImageFile, DecodeFailure, DEFAULT_LIMIT_INPUT_PIXELS } from './decode.js';
import { scanDirectory, type Subset } from './scan_directory.js';

export interface InspectOptions {
  classes?: string[];
  validationSplit?: number;
  subset?: Subset | null;
  followLinks?: boolean;
  limitInputPixels?: number;
  /** Files decoded at once. Default 8. */
  concurrency?: number;
  onProgress?: ProgressCallback;
}

export interface DatasetReport {
  directory: string;
  subset: Subset | null;
  classes: { name: string; index: number; count: number; usable: number }[];
  samples: number;
  usable: number;
  skipped: SkippedFile[];
  /** Over usable images. */
  width: { min: number; median: number; max: number };
  height: { min: number; median: number; max: number };
  /** The most frequent 'WxH' sizes, most frequent first (at most 5). */
  commonSizes: { size: string; count: number }[];
  formats: Record<string, number>;
  /** Colour mode + bit depth in words, e.g. 'rgb 8-bit', 'grayscale 8-bit', 'cmyk 8-bit', 'rgb 16-bit'. */
  modes: Record<string, number>;
  withAlpha: number;
  palette: number;
  /** Images with an EXIF orientation other than 1 (applied by tlkit, ignored by Keras/PIL). */
  rotatedByExif: number;
  /** Files in the class folders not read for their extension, by extension ('.webp': 3); hidden ones not counted. */
  otherFiles: Record<string, number>;
  /** Hidden files and folders left out (names starting with '.'). */
  hidden: number;
}

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)];
}

function count(map: Record<string, number>, key: string): void {
  map[key] = (map[key] ?? 0) + 1;
}

export async function inspectDirectory(directory: string, options: InspectOptions = {}): Promise<DatasetReport> {
  const listing = scanDirectory(directory, options);
  const n = listing.filepaths.length;
  const results: ({ ok: true; source: import('./decode.js').SourceInfo } | { ok: false; reason: string })[] = new Array(n);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      try {
        const img = await decodeImageFile(listing.filepaths[i], { targetSize: [8, 8], limitInputPixels: options.limitInputPixels ?? DEFAULT_LIMIT_INPUT_PIXELS, inspect: true });
        results[i] = { ok: true, source: img.source! };
      } catch (error) {
        results[i] = { ok: false, reason: error instanceof DecodeFailure ? error.reason : String(error) };
      }
      done++;
      options.onProgress?.({ task: 'inspect', current: done, total: n, unit: 'img', done: done === n });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 8) }, worker));
  const widths: number[] = [];
  const heights: number[] = [];
  const sizes: Record<string, number> = {};
  const formats: Record<string, number> = {};
  const modes: Record<string, number> = {};
  const skipped: SkippedFile[] = [];
  const usablePerClass = new Array(listing.classNames.length).fill(0);
  let withAlpha = 0;
  let palette = 0;
  let rotatedByExif = 0;
  results.forEach((r, i) => {
    if (!r.ok) {
      skipped.push({ file: listing.filepaths[i], reason: r.reason });
      return;
    }
    usablePerClass[listing.classes[i]]++;
    const s = r.source;
    widths.push(s.width);
    heights.push(s.height);
    count(sizes, `${s.width}x${s.height}`);
    count(formats, s.format);
    count(modes, describeMode(s.space, s.depth));
    if (s.hasAlpha) withAlpha++;
    if (s.palette) palette++;
    if (s.orientation !== undefined && s.orientation !== 1) rotatedByExif++;
  });
  return {
    directory: listing.directory,
    subset: options.subset ?? null,
    classes: listing.classNames.map((name, index) => ({ name, index, count: listing.counts[index], usable: usablePerClass[index] })),
    samples: n,
    usable: widths.length,
    skipped,
    width: { min: widths.length ? Math.min(...widths) : 0, median: median(widths), max: widths.length ? Math.max(...widths) : 0 },
    height: { min: heights.length ? Math.min(...heights) : 0, median: median(heights), max: heights.length ? Math.max(...heights) : 0 },
    commonSizes: Object.entries(sizes)
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, 5)
      .map(([size, c]) => ({ size, count: c })),
    formats,
    modes,
    withAlpha,
    palette,
    rotatedByExif,
    otherFiles: listing.otherFiles,
    hidden: listing.hidden,
  };
}

const SPACE_WORDS: Record<string, string> = { srgb: 'rgb', rgb: 'rgb', rgb16: 'rgb', 'b-w': 'grayscale', grey16: 'grayscale', cmyk: 'cmyk', lab: 'lab', scrgb: 'rgb (linear)' };
const DEPTH_WORDS: Record<string, string> = { uchar: '8-bit', char: '8-bit', ushort: '16-bit', short: '16-bit', uint: '32-bit', int: '32-bit', float: 'float', double: 'double' };

/** libvips's interpretation and band format ('b-w', 'uchar') in the words PIL users know ('grayscale 8-bit'). */
function describeMode(space: string, depth: string): string {
  return `${SPACE_WORDS[space] ?? space} ${DEPTH_WORDS[depth] ?? depth}`;
}
