// The data audit as report files and report sections: audit.json (the result as it is), audit.csv (one
// row per finding, with the keep column `--exclude` reads back), audit.html (self-contained, with
// thumbnails), and the section that compare's report.html / report.md carry.
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { escapeHtml } from '../core/format.js';
import type { AuditFile, AuditResult } from '../train/audit/types.js';

/** Files shown with a thumbnail per list (label issues, duplicate groups, outliers). */
const SHOWN = 24;

export interface AuditFolders {
  /** The folder training files are relative to. */
  train: string;
  /** The folder validation files are relative to (--val-dir, or the training folder with a validation split). */
  validation: string;
}

const keyOf = (f: AuditFile): string => `${f.split}:${f.file}`;

/** Small JPEG data URIs of the files the report shows, keyed 'split:class/name'. */
export async function auditThumbnails(audit: AuditResult, folders: AuditFolders, size = 80): Promise<Record<string, string>> {
  const wanted: AuditFile[] = [
    ...audit.labelIssues.slice(0, SHOWN),
    ...audit.duplicates.slice(0, SHOWN).flatMap((d) => d.files.slice(0, 4)),
    ...audit.outliers.slice(0, SHOWN),
  ];
  const out: Record<string, string> = {};
  await Promise.all(
    wanted.map(async (f) => {
      const key = keyOf(f);
      if (out[key] !== undefined) return;
      out[key] = '';
      try {
        const jpeg = await sharp(resolve(f.split === 'train' ? folders.train : folders.validation, f.file), { limitInputPixels: 1 << 26 }).rotate().resize(size, size, { fit: 'inside' }).jpeg({ quality: 70 }).toBuffer();
        out[key] = `data:image/jpeg;base64,${jpeg.toString('base64')}`;
      } catch {
        // Shown without a preview.
      }
    }),
  );
  return out;
}

function tile(f: AuditFile, thumbnails: Record<string, string>, caption: string): string {
  const src = thumbnails[keyOf(f)];
  const img = src ? `<img src="${src}" alt="${escapeHtml(f.file)}">` : '<div class="noimg">no preview</div>';
  return `<figure class="tile">${img}<figcaption>${caption}<br><small>${escapeHtml(f.split)}: ${escapeHtml(f.file)}</small></figcaption></figure>`;
}

function more(total: number, shown: number): string {
  return total > shown ? `<p>… and ${total - shown} more (audit.json / audit.csv list them all).</p>` : '';
}

/** The audit as an HTML section (h2 and below). */
export function renderAuditSection(audit: AuditResult, thumbnails: Record<string, string> = {}): string {
  const c = audit.counts;
  const issues = audit.labelIssues.slice(0, SHOWN).map((i) => tile(i, thumbnails, `${escapeHtml(i.givenLabel)} → <b>${escapeHtml(i.suggestedLabel)}</b> ${i.score.toFixed(2)}`)).join('');
  const groups = audit.duplicates
    .slice(0, SHOWN)
    .map((d) => `<div class="group${d.leak ? ' leak' : ''}"><p>${d.leak ? '<b>leak</b> ' : ''}${d.kind} duplicate, similarity ${d.similarity.toFixed(4)}</p><div class="grid">${d.files.slice(0, 4).map((f) => tile(f, thumbnails, '')).join('')}</div></div>`)
    .join('');
  const outliers = audit.outliers.slice(0, SHOWN).map((o) => tile(o, thumbnails, `${escapeHtml(o.givenLabel)} (nearest: ${escapeHtml(o.nearestLabel)}) ${o.score.toFixed(1)}`)).join('');
  const balance = [
    '<table class="compare"><thead><tr><th>class</th><th>train</th><th>validation</th><th>share</th><th>label issues</th></tr></thead><tbody>',
    ...audit.classes.map((k) => `<tr><th>${escapeHtml(k.name)}</th><td>${k.train}</td><td>${k.validation}</td><td>${(k.fraction * 100).toFixed(1)}%</td><td>${k.labelIssues}</td></tr>`),
    '</tbody></table>',
  ].join('');
  return `<h2>Data audit</h2>
<p>${c.images.train} training and ${c.images.validation} validation images${audit.backbones.length ? `, features of ${escapeHtml(audit.backbones.join(', '))}` : ''}; ${audit.seconds.toFixed(1)} s.
<b>${c.labelIssues}</b> likely label errors, <b>${c.leaks}</b> leaks between train and validation (${c.leakedValidationFiles} validation images also in train), ${c.duplicateGroups - c.leaks} duplicate groups within a split, ${c.outliers} outliers; largest / smallest class ${c.imbalanceRatio}.</p>
<p><small>${escapeHtml(audit.method)}.</small></p>
<h3>Likely label errors (given → suggested, score)</h3><div class="grid">${issues || '<p>None found.</p>'}</div>${more(audit.labelIssues.length, Math.min(SHOWN, audit.labelIssues.length))}
<h3>Duplicates and leaks</h3>${groups || '<p>None found.</p>'}${more(audit.duplicates.length, Math.min(SHOWN, audit.duplicates.length))}
<h3>Outliers</h3><div class="grid">${outliers || '<p>None found.</p>'}</div>${more(audit.outliers.length, Math.min(SHOWN, audit.outliers.length))}
<h3>Class balance</h3>${balance}`;
}

export const AUDIT_STYLE = `.group{margin:6px 0}.group.leak p{color:#b71c1c}`;

/** audit.html: the section as a page of its own. */
export function renderAuditHtml(audit: AuditResult, thumbnails: Record<string, string>, title: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tlkit audit: ${escapeHtml(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1200px}
table.compare{border-collapse:collapse;margin:12px 0}
table.compare th,table.compare td{border:1px solid #ccc;padding:4px 10px;text-align:right}
table.compare tbody th{text-align:left;font-weight:normal}
figure{margin:0}.grid{display:flex;flex-wrap:wrap;gap:8px}.tile{width:120px;font-size:11px}
.tile img{max-width:112px;max-height:112px;border:1px solid #ddd}.noimg{width:80px;height:80px;background:#eee}
${AUDIT_STYLE}
</style></head>
<body>
<h1>tlkit audit</h1>
<p><code>${escapeHtml(title)}</code></p>
${renderAuditSection(audit, thumbnails)}
</body></html>
`;
}

/** The audit as Markdown (compare's report.md section, `tlkit audit` prints the same lists as a table). */
export function renderAuditMarkdown(audit: AuditResult, limit = 20): string {
  const c = audit.counts;
  const lines = [
    '## Data audit',
    '',
    `${c.images.train} training and ${c.images.validation} validation images; ${c.labelIssues} likely label errors, ${c.leaks} leaks between train and validation, ${c.duplicateGroups - c.leaks} duplicate groups within a split, ${c.outliers} outliers; largest / smallest class ${c.imbalanceRatio}.`,
    '',
  ];
  if (audit.labelIssues.length) {
    lines.push('Likely label errors (given -> suggested, score):', '');
    for (const i of audit.labelIssues.slice(0, limit)) lines.push(`- ${i.split}: ${i.file}: ${i.givenLabel} -> ${i.suggestedLabel} (${i.score.toFixed(2)})`);
    if (audit.labelIssues.length > limit) lines.push(`- ... and ${audit.labelIssues.length - limit} more`);
    lines.push('');
  }
  if (audit.duplicates.length) {
    lines.push('Duplicates:', '');
    for (const d of audit.duplicates.slice(0, limit)) lines.push(`- ${d.leak ? 'LEAK ' : ''}${d.kind} (${d.similarity.toFixed(4)}): ${d.files.map((f) => `${f.split}: ${f.file}`).join(', ')}`);
    if (audit.duplicates.length > limit) lines.push(`- ... and ${audit.duplicates.length - limit} more`);
    lines.push('');
  }
  if (audit.outliers.length) {
    lines.push('Outliers:', '');
    for (const o of audit.outliers.slice(0, limit)) lines.push(`- ${o.split}: ${o.file} (${o.givenLabel}, nearest ${o.nearestLabel}, score ${o.score.toFixed(1)})`);
    lines.push('');
  }
  lines.push('| class | train | validation | share | label issues |', '| --- | --- | --- | --- | --- |');
  for (const k of audit.classes) lines.push(`| ${k.name} | ${k.train} | ${k.validation} | ${(k.fraction * 100).toFixed(1)}% | ${k.labelIssues} |`);
  lines.push('');
  return lines.join('\n');
}

/** A CSV cell: quoted when needed; a leading =, +, -, @ gets an apostrophe so a spreadsheet shows it as text. */
export function csvCell(value: string | number): string {
  let text = String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * audit.csv: one row per finding. keep=false marks what a retrain would leave out (`--exclude audit.csv`):
 * likely label errors, the training copies of leaked images, and all but the first file of a duplicate
 * group within one split; outliers are kept (to be looked at: many are rare but right). Edit the column
 * before use.
 */
export function auditCsv(audit: AuditResult): string {
  const rows: (string | number)[][] = [['file', 'split', 'finding', 'givenLabel', 'suggestedLabel', 'score', 'group', 'keep']];
  for (const i of audit.labelIssues) rows.push([i.file, i.split, 'label-issue', i.givenLabel, i.suggestedLabel, i.score, '', 'false']);
  audit.duplicates.forEach((d, g) => {
    d.files.forEach((f, at) => {
      const keep = d.leak ? f.split !== 'train' : at === 0;
      const label = f.file.split('/')[0];
      rows.push([f.file, f.split, d.leak ? `leak-${d.kind}` : `duplicate-${d.kind}`, label, '', d.similarity, g + 1, String(keep)]);
    });
  });
  for (const o of audit.outliers) rows.push([o.file, o.split, 'outlier', o.givenLabel, o.nearestLabel, o.score, '', 'true']);
  return rows.map((r) => r.map(csvCell).join(',')).join('\n') + '\n';
}

export interface AuditReportFiles {
  json: string;
  csv: string;
  html: string;
}

/** Writes audit.json, audit.csv and audit.html into `outDir`. */
export async function writeAuditReport(audit: AuditResult, folders: AuditFolders, outDir: string): Promise<AuditReportFiles> {
  await mkdir(outDir, { recursive: true });
  const files = { json: join(outDir, 'audit.json'), csv: join(outDir, 'audit.csv'), html: join(outDir, 'audit.html') };
  await writeFile(files.json, JSON.stringify(audit, null, 2) + '\n');
  await writeFile(files.csv, auditCsv(audit));
  await writeFile(files.html, renderAuditHtml(audit, await auditThumbnails(audit, folders), folders.train));
  return files;
}
