// Writes a comparison's report files: report.html (self-contained: table, curves, confusion matrices,
// misclassified thumbnails, time per phase), report.md and compare.json.
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import type { CompareResult, CompareRow } from '../compare/types.js';
import { compareJson } from './compare_json.js';
import { renderCompareHtml, renderCompareMarkdown } from './compare_report.js';
import { auditCsv, auditThumbnails } from './audit_report.js';
import { DEFAULT_EXPLAINED_PER_BACKBONE, misclassifiedOverlays } from './misclassified_overlays.js';

const MAX_MISCLASSIFIED_THUMBNAILS = 24;

export interface CompareReportFiles {
  html: string;
  markdown: string;
  json: string;
  /** audit.csv (with the keep column `--exclude` reads), when the comparison ran the audit. */
  auditCsv?: string;
}

/** PNG data URIs of the first misclassified images of each backbone, keyed by their relative path. */
async function thumbnails(rows: CompareRow[], baseDir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const row of rows) {
    if (!row.ok) continue;
    for (const m of row.misclassified.slice(0, MAX_MISCLASSIFIED_THUMBNAILS)) {
      if (out[m.file]) continue;
      try {
        const png = await sharp(resolve(baseDir, m.file), { limitInputPixels: 1 << 26 }).rotate().resize(112, 112, { fit: 'inside' }).png().toBuffer();
        out[m.file] = `data:image/png;base64,${png.toString('base64')}`;
      } catch {
        // A file that cannot be read again is shown without a preview.
      }
    }
  }
  return out;
}

export interface CompareReportOptions {
  /** Misclassified images per backbone shown with a Grad-CAM overlay of the predicted class (default 12; 0: none). */
  explainMisclassified?: number;
}

/** Writes the three report files into `outDir` (default: the comparison's own folder). */
export async function writeCompareReport(result: CompareResult, outDir: string = result.outDir, options: CompareReportOptions = {}): Promise<CompareReportFiles> {
  await mkdir(outDir, { recursive: true });
  const files = { html: join(outDir, 'report.html'), markdown: join(outDir, 'report.md'), json: join(outDir, 'compare.json') };
  const auditImages = result.audit ? await auditThumbnails(result.audit, { train: result.dataset, validation: result.heldOutDir }) : undefined;
  const overlays = await misclassifiedOverlays(result.rows, result.heldOutDir, options.explainMisclassified ?? DEFAULT_EXPLAINED_PER_BACKBONE);
  await writeFile(files.html, renderCompareHtml(result, { thumbnails: await thumbnails(result.rows, result.heldOutDir), overlays, auditThumbnails: auditImages }));
  await writeFile(files.markdown, renderCompareMarkdown(result));
  await writeFile(files.json, JSON.stringify(compareJson(result), null, 2) + '\n');
  if (!result.audit) return files;
  const csv = join(outDir, 'audit.csv');
  await writeFile(csv, auditCsv(result.audit));
  return { ...files, auditCsv: csv };
}
