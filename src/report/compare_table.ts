// The reference experiment's table: columns are backbones; rows are params, elapsed time and accuracy.
import type { CompareResult, CompareRow } from '../compare/types.js';
import { formatAccuracy, formatCount, formatElapsed } from '../core/format.js';

// 'Linear probe' is the held-out accuracy of a logistic regression on the frozen backbone's pooled
// features: what the backbone gives without any training of it, so Accuracy above it is what training added.
export const TABLE_ROWS = ['Total params', 'Trainable params', 'Non-trainable params', 'Elapsed time', 'Accuracy', 'Linear probe'] as const;

function cell(row: CompareRow, label: (typeof TABLE_ROWS)[number]): string {
  if (!row.ok) return label === 'Accuracy' ? 'failed' : '-';
  switch (label) {
    case 'Total params':
      return formatCount(row.totalParams);
    case 'Trainable params':
      return formatCount(row.trainableParams);
    case 'Non-trainable params':
      return formatCount(row.nonTrainableParams);
    case 'Elapsed time':
      return formatElapsed(row.elapsedSeconds);
    case 'Accuracy':
      return formatAccuracy(row.accuracy);
    case 'Linear probe':
      return row.linearProbeAccuracy === undefined ? '-' : formatAccuracy(row.linearProbeAccuracy);
  }
}

/** Header row + one row per measure, as strings. */
export function compareTableCells(result: Pick<CompareResult, 'rows'>): string[][] {
  return [['', ...result.rows.map((r) => r.id)], ...TABLE_ROWS.map((label) => [label, ...result.rows.map((r) => cell(r, label))])];
}

/** Plain-text table for the terminal, right-aligned numbers. */
export function formatCompareTable(result: Pick<CompareResult, 'rows'>): string {
  const cells = compareTableCells(result);
  const widths = cells[0].map((_, c) => Math.max(...cells.map((row) => row[c].length)));
  const line = (row: string[]) => row.map((v, c) => (c === 0 ? v.padEnd(widths[c]) : v.padStart(widths[c]))).join('  ');
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(cells[0]), rule, ...cells.slice(1).map(line)].join('\n');
}

/** Markdown table (GitHub flavour). */
export function markdownCompareTable(result: Pick<CompareResult, 'rows'>): string {
  const cells = compareTableCells(result);
  const row = (r: string[]) => `| ${r.join(' | ')} |`;
  return [row(cells[0]), `| --- |${cells[0].slice(1).map(() => ' ---: |').join('')}`, ...cells.slice(1).map(row)].join('\n');
}
