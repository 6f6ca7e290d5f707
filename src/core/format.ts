// Number formats shared by every report: Keras's thousands separators, the reference table's mm:ss.

/** 4031730 -> '4,031,730', as Keras prints counts. */
export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function formatElapsed(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

export function formatAccuracy(a: number): string {
  return Number.isFinite(a) ? a.toFixed(3) : 'n/a';
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
