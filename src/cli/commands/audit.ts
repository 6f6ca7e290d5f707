// `tlkit audit DIR [--val-dir DIR]`: what is wrong with a folder of images: likely label errors, exact and
// near duplicates (leaks between train and validation named as such), outliers, class balance.
import type { Command } from '../command.js';
import { numberFlag, parseFlags, stringFlag } from '../args.js';
import { UsageError } from '../../core/errors.js';
import { ProgressPrinter } from '../progress_bar.js';
import type { AuditResult } from '../../train/audit/types.js';

const usage = `Usage: tlkit audit DIR [--val-dir DIR] [--backbones a,b] [--json] [--out DIR]

Audits a folder with one sub-folder per class (and a validation / test folder):
  - likely label errors, ranked, with the given and the suggested class: confident learning on out-of-fold
    probabilities of a classifier on the backbones' pooled features, sharpened by each image's nearest
    neighbours (docs/audit.md says how, and how precise it was on planted errors);
  - exact duplicates (same bytes) and near duplicates (resized, re-encoded: perceptual hashes confirmed by
    a finer signature), within a folder and across the two; across the two they are leaks: held-out
    accuracy then counts images the model was trained on;
  - outliers (images far from all training images) and the class-balance table.
Nothing is changed. Retrain without chosen files with: tlkit train ... --exclude audit.csv

Options:
  --val-dir DIR          the validation / test folder (its classes must be the training folder's)
  --backbones a,b        backbones whose features are used (averaged), default mobilenet_v2; 'none': hashes only
  --weights W            their weights (default: ImageNet in the Keras cache, else offline ones)
  --input-size N         input size of the backbones (default: their weights')
  --alpha A              width multiplier (mobilenet, mobilenet_v2)
  --batch-size B         default 32
  --no-duplicates        skip the duplicate search
  --limit N              rows of each list printed (default 15)
  --json                 print the result as JSON (labelIssues, duplicates, outliers, classes, counts)
  --out DIR              write audit.json, audit.csv (keep column for --exclude) and audit.html (thumbnails)`;

const flags = {
  'val-dir': { type: 'string' },
  backbones: { type: 'string' },
  weights: { type: 'string' },
  'input-size': { type: 'string' },
  alpha: { type: 'string' },
  'batch-size': { type: 'string' },
  'no-duplicates': { type: 'boolean' },
  limit: { type: 'string' },
  json: { type: 'boolean' },
  out: { type: 'string' },
} as const;

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd()).join('\n');
}

/** The readable report `tlkit audit` prints. */
export function formatAudit(audit: AuditResult, limit = 15): string {
  const c = audit.counts;
  const lines = [
    `${c.images.train} training and ${c.images.validation} validation images${audit.backbones.length ? ` (features: ${audit.backbones.join(', ')})` : ''}, ${audit.seconds.toFixed(1)} s`,
    `${c.labelIssues} likely label errors, ${c.leaks} train/validation leaks (${c.leakedValidationFiles} validation images), ${c.duplicateGroups - c.leaks} duplicate groups within a split, ${c.outliers} outliers`,
    '',
  ];
  if (audit.labelIssues.length) {
    lines.push('Likely label errors (most likely first):');
    lines.push(table([['file', 'split', 'given', 'suggested', 'score'], ...audit.labelIssues.slice(0, limit).map((i) => [i.file, i.split, i.givenLabel, i.suggestedLabel, i.score.toFixed(2)])]));
    if (audit.labelIssues.length > limit) lines.push(`... and ${audit.labelIssues.length - limit} more`);
    lines.push('');
  }
  if (audit.duplicates.length) {
    lines.push('Duplicates (leaks first):');
    for (const d of audit.duplicates.slice(0, limit)) lines.push(`  ${d.leak ? 'LEAK ' : ''}${d.kind} ${d.similarity.toFixed(4)}: ${d.files.map((f) => `${f.split}:${f.file}`).join('  ')}`);
    if (audit.duplicates.length > limit) lines.push(`  ... and ${audit.duplicates.length - limit} more`);
    lines.push('');
  }
  if (audit.outliers.length) {
    lines.push('Outliers (farthest first):');
    lines.push(table([['file', 'split', 'class', 'nearest', 'score'], ...audit.outliers.slice(0, limit).map((o) => [o.file, o.split, o.givenLabel, o.nearestLabel, o.score.toFixed(1)])]));
    lines.push('');
  }
  lines.push('Class balance:');
  lines.push(table([['class', 'train', 'validation', 'share', 'label issues'], ...audit.classes.map((k) => [k.name, String(k.train), String(k.validation), `${(k.fraction * 100).toFixed(1)}%`, String(k.labelIssues)])]));
  lines.push(`largest / smallest class: ${c.imbalanceRatio}`);
  return lines.join('\n');
}

export const auditCommand: Command = {
  name: 'audit',
  summary: 'find likely label errors, duplicates and train/validation leaks, outliers, class imbalance',
  usage,
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, flags, usage);
    if (positionals.length !== 1) throw new UsageError(`audit expects one DIR (a folder with one sub-folder per class); got ${positionals.length}\n\n${usage}`);
    const raw = stringFlag(values, 'backbones');
    const backbones = raw === undefined ? undefined : raw.trim() === 'none' ? [] : raw.split(',').map((s) => s.trim()).filter(Boolean);
    if (backbones !== undefined && raw!.trim() !== 'none' && backbones.length === 0) throw new UsageError(`--backbones expects a comma-separated list of backbone ids (see tlkit models) or none; got '${raw}'`, 'backbones');
    if (backbones) {
      const { getBackbone } = await import('../../models/zoo.js');
      for (const b of backbones) getBackbone(b);
    }
    const limit = numberFlag(values, 'limit', { integer: true, min: 0 }) ?? 15;
    const outDir = stringFlag(values, 'out');
    if (outDir !== undefined) {
      const { refuseSystemPath, refuseInsideInputs } = await import('../../train/run/output_path.js');
      refuseSystemPath(outDir, '--out');
      refuseInsideInputs(outDir, [positionals[0], stringFlag(values, 'val-dir')]);
    }
    const { auditDataset } = await import('../../train/audit/audit.js');
    const printer = new ProgressPrinter(io.stderr, io.interactive);
    const valDir = stringFlag(values, 'val-dir');
    const audit = await auditDataset({
      trainDir: positionals[0],
      valDir,
      backbones,
      weights: stringFlag(values, 'weights'),
      inputSize: numberFlag(values, 'input-size', { integer: true, min: 32 }),
      alpha: numberFlag(values, 'alpha', { min: 0, exclusiveMin: true }),
      batchSize: numberFlag(values, 'batch-size', { integer: true, min: 1 }),
      duplicatesCheck: !values['no-duplicates'],
      onProgress: printer.update,
      onLog: (m) => io.stderr.write(m + '\n'),
    });
    if (outDir !== undefined) {
      const { writeAuditReport } = await import('../../report/audit_report.js');
      const files = await writeAuditReport(audit, { train: positionals[0], validation: valDir ?? positionals[0] }, outDir);
      io.stderr.write(`audit written: ${files.html}, ${files.json}, ${files.csv}\n`);
    }
    io.stdout.write((values.json ? JSON.stringify(audit, null, 2) : formatAudit(audit, limit)) + '\n');
    return 0;
  },
};
