// compare's report: one self-contained HTML file (inline SVG, inline images, no scripts, no network)
// and a Markdown twin. Pure: result object in, text out.
import type { BackboneResult, CompareResult } from '../compare/types.js';
import { compareTableCells, markdownCompareTable } from './compare_table.js';
import { escapeHtml, formatAccuracy, formatElapsed } from '../core/format.js';
import { colorFor, confusionMatrixChart, lineChart, stackedBarChart, type Series } from './svg_charts.js';
import { AUDIT_STYLE, renderAuditMarkdown, renderAuditSection } from './audit_report.js';

export interface ReportImages {
  /** Data URIs (e.g. PNG thumbnails) keyed by the file path used in `misclassified`. */
  thumbnails?: Record<string, string>;
  /** The audit section's thumbnails (auditThumbnails). */
  auditThumbnails?: Record<string, string>;
  /** Grad-CAM overlays (data URIs) of the predicted class, by row id, then by the file path used in `misclassified`. */
  overlays?: Record<string, Record<string, string>>;
}

/** Mistakes in all: the list holds at most the worst of them (results from before the count hold them all). */
function misclassifiedCount(r: BackboneResult): number {
  return r.misclassifiedCount ?? r.misclassified.length;
}

function okRows(result: CompareResult): BackboneResult[] {
  return result.rows.filter((r): r is BackboneResult & { ok: true } => r.ok);
}

/** One x value per epoch across phases, so fine-tuning continues the head phase's curve. */
function curve(history: BackboneResult['history'], pick: (h: BackboneResult['history'][number]) => number | undefined): Array<[number, number]> {
  return history.map((h, i) => [i + 1, pick(h) ?? Number.NaN] as [number, number]).filter(([, y]) => Number.isFinite(y));
}

function curves(result: CompareResult, metric: 'loss' | 'accuracy'): string {
  const rows = okRows(result);
  const series: Series[] = [];
  const colors: string[] = [];
  rows.forEach((r, i) => {
    series.push({ name: `${r.id} train`, points: curve(r.history, (h) => (metric === 'loss' ? h.loss : h.accuracy)), dashed: true });
    colors.push(colorFor(i));
    series.push({ name: `${r.id} val`, points: curve(r.history, (h) => (metric === 'loss' ? h.valLoss : h.valAccuracy)) });
    colors.push(colorFor(i));
  });
  return lineChart({ title: metric === 'loss' ? 'Loss per epoch' : 'Accuracy per epoch', xLabel: 'epoch', yLabel: metric, series, colors, width: 500 });
}

export function renderCompareHtml(result: CompareResult, images: ReportImages = {}): string {
  const cells = compareTableCells(result);
  const rows = okRows(result);
  const failed = result.rows.filter((r) => !r.ok);
  const rec = result.recommendation;
  const table = [
    '<table class="compare"><thead><tr>',
    ...cells[0].map((c) => `<th>${escapeHtml(c)}</th>`),
    '</tr></thead><tbody>',
    ...cells.slice(1).map((r) => `<tr>${r.map((c, i) => (i === 0 ? `<th>${escapeHtml(c)}</th>` : `<td${rec && cells[0][i] === rec.id ? ' class="pick"' : ''}>${escapeHtml(c)}</td>`)).join('')}</tr>`),
    '</tbody></table>',
  ].join('');
  const matrices = rows
    .map((r) => `<figure>${confusionMatrixChart({ title: `${r.id} (accuracy ${formatAccuracy(r.accuracy)})`, classNames: r.classNames, matrix: r.confusionMatrix })}</figure>`)
    .join('');
  const phases = stackedBarChart({ title: 'Time per phase', unit: 's', items: rows.map((r) => ({ name: r.id, segments: r.phaseSeconds })) });
  const misclassified = rows
    .map((r) => {
      const shown = r.misclassified.slice(0, 24);
      const tiles = shown
        .map((m) => {
          const src = images.thumbnails?.[m.file];
          const img = src ? `<img src="${src}" alt="${escapeHtml(m.file)}">` : '<div class="noimg">no preview</div>';
          const overlay = images.overlays?.[r.id]?.[m.file];
          if (overlay) {
            const cam = `<img src="${overlay}" alt="Grad-CAM of ${escapeHtml(m.predictedClass)} on ${escapeHtml(m.file)}" title="where the model saw ${escapeHtml(m.predictedClass)} (Grad-CAM)">`;
            return `<figure class="tile wide">${img}${cam}<figcaption>${escapeHtml(m.trueClass)} → <b>${escapeHtml(m.predictedClass)}</b> ${(m.probability * 100).toFixed(0)}%<br><small>${escapeHtml(m.file)}</small></figcaption></figure>`;
          }
          return `<figure class="tile">${img}<figcaption>${escapeHtml(m.trueClass)} → <b>${escapeHtml(m.predictedClass)}</b> ${(m.probability * 100).toFixed(0)}%<br><small>${escapeHtml(m.file)}</small></figcaption></figure>`;
        })
        .join('');
      const count = misclassifiedCount(r);
      const more = count > shown.length ? `<p>… and ${count - shown.length} more.</p>` : '';
      return `<h3>${escapeHtml(r.id)}: ${count} misclassified${shown.length ? ', worst first' : ''}</h3><div class="grid">${tiles || '<p>None.</p>'}</div>${more}`;
    })
    .join('');
  const failures = failed.length
    ? `<h2>Failed</h2><ul>${failed.map((f) => `<li><b>${escapeHtml(f.id)}</b>: ${escapeHtml(!f.ok ? f.error : '')}</li>`).join('')}</ul>`
    : '';
  const details = rows
    .map((r) => `<li><b>${escapeHtml(r.id)}</b>: weights ${escapeHtml(r.weightsSource)}, engine ${escapeHtml(r.engine)}, ${r.epochs} epochs, val loss ${r.valLoss.toFixed(4)}, train accuracy ${formatAccuracy(r.trainAccuracy)}, elapsed ${formatElapsed(r.elapsedSeconds)}${extras(r).map((e) => `, ${escapeHtml(e)}`).join('')}</li>`)
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tlkit compare: ${escapeHtml(result.dataset)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1200px}
table.compare{border-collapse:collapse;margin:12px 0}
table.compare th,table.compare td{border:1px solid #ccc;padding:4px 10px;text-align:right}
table.compare thead th{background:#f4f4f4}
table.compare tbody th{text-align:left;font-weight:normal}
td.pick{background:#e8f5e9;font-weight:bold}
.recommendation{background:#e8f5e9;border-left:4px solid #2ca02c;padding:8px 12px}
.charts{display:flex;flex-wrap:wrap;gap:16px}
figure{margin:0}
.grid{display:flex;flex-wrap:wrap;gap:8px}
.tile{width:120px;font-size:11px}
.tile img{width:112px;height:112px;image-rendering:pixelated;border:1px solid #ddd}
.tile.wide{width:240px}
.tile.wide img{object-fit:contain}
.noimg{width:112px;height:112px;background:#eee}
${AUDIT_STYLE}
</style></head>
<body>
<h1>tlkit compare</h1>
<p>Dataset <code>${escapeHtml(result.dataset)}</code>, started ${escapeHtml(result.startedAt)}, total ${formatElapsed(result.elapsedSeconds)}.</p>
${table}
<p class="recommendation">${rec ? `Recommendation: <b>${escapeHtml(rec.id)}</b>${escapeHtml(rec.reason.startsWith(rec.id + ':') ? rec.reason.slice(rec.id.length) : ': ' + rec.reason)}.` : 'No recommendation: no backbone finished.'}<br><small>Rule: ${escapeHtml(result.rule)}</small></p>
<ul>${details}</ul>
${failures}
<h2>Learning curves</h2><div class="charts">${rows.length ? curves(result, 'loss') + curves(result, 'accuracy') : '<p>No curves.</p>'}</div>
<h2>Confusion matrices</h2><p>Rows: true class; columns: predicted class.</p><div class="charts">${matrices}</div>
<h2>Time per phase</h2>${phases}
<h2>Misclassified images</h2>${images.overlays && Object.keys(images.overlays).length ? '<p>Beside an image: Grad-CAM of the class the model predicted (red: where it found that class).</p>' : ''}${misclassified}
${result.audit ? renderAuditSection(result.audit, images.auditThumbnails) : ''}
<h2>Configuration</h2><pre>${escapeHtml(JSON.stringify(result.config, null, 2))}</pre>
</body></html>
`;
}

/** The per-backbone notes beyond the table: the probe's C, BatchNorm, and the generalisation warning. */
function extras(r: BackboneResult): string[] {
  const out: string[] = [];
  if (r.linearProbe && r.linearProbeAccuracy !== undefined) out.push(`linear probe ${formatAccuracy(r.linearProbeAccuracy)} (C=${r.linearProbe.c}, ${r.linearProbe.features} pooled features, ${r.linearProbe.seconds.toFixed(1)} s)`);
  if (r.batchNorm) out.push(`BatchNorm statistics: ${r.batchNorm}`);
  if (r.warning) out.push(...r.warning.split('\n'));
  return out;
}

export function renderCompareMarkdown(result: CompareResult): string {
  const rec = result.recommendation;
  const lines = [
    `# tlkit compare: ${result.dataset}`,
    '',
    markdownCompareTable(result),
    '',
    rec ? `**Recommendation: ${rec.id}.** ${rec.reason}.` : 'No recommendation: no backbone finished.',
    '',
    `Rule: ${result.rule}.`,
    '',
  ];
  for (const r of result.rows) {
    if (!r.ok) lines.push(`- ${r.id}: failed: ${r.error}`);
    else lines.push(`- ${r.id}: weights ${r.weightsSource}, engine ${r.engine}, ${r.epochs} epochs, val loss ${r.valLoss.toFixed(4)}, ${misclassifiedCount(r)} misclassified${extras(r).map((e) => `, ${e}`).join('')}`);
  }
  lines.push('');
  if (result.audit) lines.push(renderAuditMarkdown(result.audit));
  return lines.join('\n');
}
