// `tlkit data DIR`: what flowFromDirectory will see: classes, counts, unusable files and why, sizes and modes.
import type { Command } from '../command.js';
import { numberFlag, parseFlags, stringFlag, choiceFlag } from '../args.js';
import { UsageError } from '../../core/errors.js';
import { ProgressPrinter } from '../progress_bar.js';
import type { DatasetReport } from '../../data/inspect_directory.js';
import { describeOtherFiles, IMAGE_EXTENSIONS } from '../../data/scan_directory.js';

const usage = `Usage: tlkit data DIR [options]

Describes an image folder with one sub-folder per class, as flow_from_directory lists it: classes with
their index and number of images, files that cannot be used (truncated, not an image, too large...)
with the reason, and the images' sizes, formats and colour modes. Every file is decoded.

Options:
  --validation-split F     hold out this fraction of each class (Keras validation_split)
  --subset S               training or validation (with --validation-split)
  --classes a,b            only these class folders, in this label order
  --follow-links           follow symbolic links to folders
  --limit-input-pixels N   refuse images with more pixels (default 89478485, PIL's limit)
  --json                   print the report as JSON`;

const flags = {
  'validation-split': { type: 'string' },
  subset: { type: 'string' },
  classes: { type: 'string' },
  'follow-links': { type: 'boolean' },
  'limit-input-pixels': { type: 'string' },
  json: { type: 'boolean' },
} as const;

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd()).join('\n');
}

function tally(map: Record<string, number>): string {
  return Object.entries(map)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
}

export function formatDatasetReport(r: DatasetReport): string {
  const lines: string[] = [];
  lines.push(`${r.directory}${r.subset ? ` (subset: ${r.subset})` : ''}: ${r.samples} images in ${r.classes.length} classes, ${r.usable} usable, ${r.skipped.length} skipped`);
  lines.push('');
  lines.push(table([['class', 'index', 'images', 'usable'], ...r.classes.map((c) => [c.name, String(c.index), String(c.count), String(c.usable)])]));
  if (r.usable > 0) {
    lines.push('');
    lines.push(`width   min ${r.width.min}  median ${r.width.median}  max ${r.width.max}`);
    lines.push(`height  min ${r.height.min}  median ${r.height.median}  max ${r.height.max}`);
    lines.push(`sizes   ${r.commonSizes.map((s) => `${s.size} (${s.count})`).join(', ')}`);
    lines.push(`formats ${tally(r.formats)}`);
    lines.push(`modes   ${tally(r.modes)}${r.withAlpha ? `; with alpha ${r.withAlpha}` : ''}${r.palette ? `; palette ${r.palette}` : ''}${r.rotatedByExif ? `; EXIF-rotated ${r.rotatedByExif}` : ''}`);
  }
  if (Object.keys(r.otherFiles).length > 0 || r.hidden > 0) {
    lines.push('');
    if (Object.keys(r.otherFiles).length > 0) lines.push(`not read (extension) ${describeOtherFiles(r.otherFiles)}; read: ${IMAGE_EXTENSIONS.join(', ')}`);
    if (r.hidden > 0) lines.push(`not read (hidden)    ${r.hidden} (names starting with '.')`);
  }
  if (r.skipped.length) {
    lines.push('');
    lines.push(`skipped (${r.skipped.length}):`);
    for (const s of r.skipped) lines.push(`  ${s.file}: ${s.reason}`);
  }
  return lines.join('\n');
}

export const dataCommand: Command = {
  name: 'data',
  summary: 'describe an image folder: classes, counts, unusable files, sizes and colour modes',
  usage,
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, flags, usage);
    if (positionals.length !== 1) throw new UsageError(`data expects one DIR (a folder with one sub-folder per class); got ${positionals.length}\n\n${usage}`);
    const validationSplit = numberFlag(values, 'validation-split', { min: 0, max: 1 });
    const subset = choiceFlag(values, 'subset', ['training', 'validation'] as const);
    if (subset && !validationSplit) throw new UsageError('--subset needs --validation-split F (> 0)', 'subset');
    const classes = stringFlag(values, 'classes')?.split(',').map((s) => s.trim()).filter(Boolean);
    const limit = numberFlag(values, 'limit-input-pixels', { integer: true, min: 1 });
    const { inspectDirectory } = await import('../../data/inspect_directory.js');
    const printer = new ProgressPrinter(io.stderr, io.interactive);
    const report = await inspectDirectory(positionals[0], {
      validationSplit,
      subset: subset ?? null,
      classes,
      followLinks: Boolean(values['follow-links']),
      limitInputPixels: limit,
      onProgress: printer.update,
    });
    io.stdout.write((values.json ? JSON.stringify(report, null, 2) : formatDatasetReport(report)) + '\n');
    return 0;
  },
};
