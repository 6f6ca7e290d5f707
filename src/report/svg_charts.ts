// Small self-contained SVG charts (no scripts, no network) for the HTML reports.
import { escapeHtml } from '../core/format.js';

export interface Series {
  name: string;
  points: Array<[number, number]>;
  dashed?: boolean;
}

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];

export function colorFor(index: number): string {
  return PALETTE[index % PALETTE.length];
}

function niceTicks(min: number, max: number, count = 5): number[] {
  if (!(max > min)) return [min];
  const step0 = (max - min) / count;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= step0) ?? step0;
  const ticks: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

/** A line chart with axes, ticks and a legend. Series colours follow `colors` or the palette. */
export function lineChart(options: { title: string; xLabel: string; yLabel: string; series: Series[]; colors?: string[]; width?: number; height?: number }): string {
  const { title, xLabel, yLabel, series } = options;
  const width = options.width ?? 460;
  const height = options.height ?? 280;
  const m = { left: 56, right: 12, top: 28, bottom: 64 };
  const all = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const xMin = all.length ? Math.min(...xs) : 0;
  const xMax = all.length ? Math.max(...xs) : 1;
  let yMin = all.length ? Math.min(...ys) : 0;
  let yMax = all.length ? Math.max(...ys) : 1;
  if (yMax - yMin < 1e-9) {
    yMin -= 0.5;
    yMax += 0.5;
  }
  const pw = width - m.left - m.right;
  const ph = height - m.top - m.bottom;
  const sx = (x: number) => m.left + (xMax > xMin ? ((x - xMin) / (xMax - xMin)) * pw : pw / 2);
  const sy = (y: number) => m.top + ph - ((y - yMin) / (yMax - yMin)) * ph;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(title)}">`);
  parts.push(`<text x="${width / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">${escapeHtml(title)}</text>`);
  for (const t of niceTicks(yMin, yMax)) {
    parts.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${sy(t).toFixed(1)}" y2="${sy(t).toFixed(1)}" stroke="#eee"/>`);
    parts.push(`<text x="${m.left - 4}" y="${(sy(t) + 4).toFixed(1)}" text-anchor="end" font-size="10">${t}</text>`);
  }
  for (const t of niceTicks(xMin, xMax, Math.min(8, Math.max(1, Math.round(xMax - xMin))))) {
    parts.push(`<text x="${sx(t).toFixed(1)}" y="${m.top + ph + 14}" text-anchor="middle" font-size="10">${t}</text>`);
  }
  parts.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
  parts.push(`<text x="${m.left + pw / 2}" y="${m.top + ph + 30}" text-anchor="middle" font-size="11">${escapeHtml(xLabel)}</text>`);
  parts.push(`<text transform="translate(14 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle" font-size="11">${escapeHtml(yLabel)}</text>`);
  series.forEach((s, i) => {
    const color = options.colors?.[i] ?? colorFor(i);
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (pts.length === 0) return;
    const d = pts.map(([x, y], k) => `${k === 0 ? 'M' : 'L'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ');
    parts.push(`<path class="series" d="${d}" fill="none" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 3"' : ''}/>`);
    for (const [x, y] of pts) parts.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="2.5" fill="${color}"/>`);
  });
  // The legend wraps onto as many rows as it needs below the plot.
  let legendY = m.top + ph + 48;
  let lx = m.left;
  series.forEach((s, i) => {
    const color = options.colors?.[i] ?? colorFor(i);
    const itemWidth = 28 + s.name.length * 6;
    if (lx + itemWidth > width && lx > m.left) {
      lx = m.left;
      legendY += 14;
    }
    parts.push(`<line x1="${lx}" x2="${lx + 16}" y1="${legendY - 4}" y2="${legendY - 4}" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 3"' : ''}/>`);
    parts.push(`<text x="${lx + 20}" y="${legendY}" font-size="10">${escapeHtml(s.name)}</text>`);
    lx += itemWidth;
  });
  parts.push('</svg>');
  // Grow the drawing to fit the legend rows.
  const needed = legendY + 8;
  return needed > height ? parts.join('').replace(`height="${height}" viewBox="0 0 ${width} ${height}"`, `height="${needed}" viewBox="0 0 ${width} ${needed}"`) : parts.join('');
}

/** A confusion matrix as a heat map: rows are true classes, columns predicted. */
export function confusionMatrixChart(options: { title: string; classNames: string[]; matrix: number[][] }): string {
  const { title, classNames, matrix } = options;
  const n = classNames.length;
  const cellSize = Math.max(28, Math.min(64, Math.floor(320 / Math.max(1, n))));
  const labelW = Math.min(120, 10 + Math.max(...classNames.map((c) => c.length), 4) * 7);
  const width = Math.max(labelW + n * cellSize + 10, 20 + title.length * 7);
  const height = 40 + labelW + n * cellSize;
  const max = Math.max(1, ...matrix.flat());
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" class="chart confusion" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(title)}">`);
  parts.push(`<text x="${width / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">${escapeHtml(title)}</text>`);
  const top = 30;
  for (let r = 0; r < n; r++) {
    parts.push(`<text x="${labelW - 4}" y="${top + r * cellSize + cellSize / 2 + 4}" text-anchor="end" font-size="10">${escapeHtml(classNames[r])}</text>`);
    for (let c = 0; c < n; c++) {
      const v = matrix[r]?.[c] ?? 0;
      const shade = Math.round(255 - (v / max) * 130);
      const fill = r === c ? `rgb(${shade},${Math.min(255, shade + 40)},${shade})` : `rgb(255,${shade},${shade})`;
      const x = labelW + c * cellSize;
      const y = top + r * cellSize;
      parts.push(`<rect x="${x}" y="${y}" width="${cellSize}" height="${cellSize}" fill="${fill}" stroke="#fff"/>`);
      parts.push(`<text x="${x + cellSize / 2}" y="${y + cellSize / 2 + 4}" text-anchor="middle" font-size="11">${v}</text>`);
    }
  }
  for (let c = 0; c < n; c++) {
    const x = labelW + c * cellSize + cellSize / 2;
    const y = top + n * cellSize + 6;
    parts.push(`<text transform="translate(${x} ${y}) rotate(45)" font-size="10">${escapeHtml(classNames[c])}</text>`);
  }
  parts.push('</svg>');
  return parts.join('');
}

/** Horizontal stacked bars: one bar per item, one segment per phase. */
export function stackedBarChart(options: { title: string; items: Array<{ name: string; segments: Record<string, number> }>; unit: string }): string {
  const { title, items, unit } = options;
  const phases = [...new Set(items.flatMap((i) => Object.keys(i.segments)))];
  const total = Math.max(1e-9, ...items.map((i) => Object.values(i.segments).reduce((a, b) => a + b, 0)));
  const labelW = 110;
  const barW = 320;
  const rowH = 24;
  const width = labelW + barW + 70;
  const height = 30 + items.length * rowH + 30;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" class="chart bars" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(title)}">`);
  parts.push(`<text x="${width / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">${escapeHtml(title)}</text>`);
  items.forEach((item, r) => {
    const y = 28 + r * rowH;
    parts.push(`<text x="${labelW - 6}" y="${y + 14}" text-anchor="end" font-size="11">${escapeHtml(item.name)}</text>`);
    let x = labelW;
    let sum = 0;
    phases.forEach((p, k) => {
      const v = item.segments[p] ?? 0;
      const w = (v / total) * barW;
      if (w > 0) parts.push(`<rect x="${x.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${rowH - 6}" fill="${colorFor(k)}"><title>${escapeHtml(`${p}: ${v.toFixed(1)} ${unit}`)}</title></rect>`);
      x += w;
      sum += v;
    });
    parts.push(`<text x="${(x + 4).toFixed(1)}" y="${y + 14}" font-size="10">${sum.toFixed(1)} ${escapeHtml(unit)}</text>`);
  });
  let lx = labelW;
  const ly = height - 8;
  phases.forEach((p, k) => {
    parts.push(`<rect x="${lx}" y="${ly - 9}" width="10" height="10" fill="${colorFor(k)}"/><text x="${lx + 14}" y="${ly}" font-size="10">${escapeHtml(p)}</text>`);
    lx += 24 + p.length * 6;
  });
  parts.push('</svg>');
  return parts.join('');
}
