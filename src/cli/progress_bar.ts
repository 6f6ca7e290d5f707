// Renders ProgressEvents: a redrawn bar on a terminal, an occasional plain line otherwise (CI logs).
import type { Writable } from 'node:stream';
import type { ProgressEvent } from '../core/progress.js';

import { formatElapsed } from '../core/format.js';

/** mm:ss (h:mm:ss past an hour), as the reference table prints elapsed time. */
export const formatDuration = formatElapsed;

function formatAmount(n: number, unit?: string): string {
  if (unit === 'B') {
    if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
    if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
    return `${n} B`;
  }
  return String(n);
}

function formatMetric(name: string, value: number): string {
  // A loss or an accuracy keeps its 4 decimals even when whole (Keras's "accuracy: 1.0000"); counts print whole.
  if (Number.isInteger(value) && !/loss|acc/.test(name)) return String(value);
  // Rates read best with few digits: 8.2 img/s, 23 img/s.
  if (name.endsWith('/s')) return value >= 10 ? value.toFixed(0) : value.toFixed(1);
  return Math.abs(value) >= 100 ? value.toFixed(1) : value.toFixed(4);
}

export class ProgressPrinter {
  private started = new Map<string, number>();
  private lastPlain = 0;
  private lastWidth = 0;

  constructor(
    private readonly stream: Writable,
    private readonly interactive: boolean,
    private readonly plainEverySeconds = 10,
    private readonly now: () => number = () => Date.now(),
  ) {}

  readonly update = (event: ProgressEvent): void => {
    const t = this.now();
    if (!this.started.has(event.task)) this.started.set(event.task, t);
    const elapsed = (t - this.started.get(event.task)!) / 1000;
    const line = this.render(event, elapsed);
    if (this.interactive) {
      const pad = Math.max(0, this.lastWidth - line.length);
      this.stream.write(`\r${line}${' '.repeat(pad)}${event.done ? '\n' : ''}`);
      this.lastWidth = event.done ? 0 : line.length;
    } else if (event.done || t - this.lastPlain >= this.plainEverySeconds * 1000) {
      this.stream.write(line + '\n');
      this.lastPlain = t;
    }
    if (event.done) this.started.delete(event.task);
  };

  private render(event: ProgressEvent, elapsed: number): string {
    const parts = [event.task];
    if (event.total !== undefined && event.total > 0) {
      const frac = Math.min(1, event.current / event.total);
      const width = 24;
      const filled = Math.round(frac * width);
      parts.push(`[${'='.repeat(filled)}${filled < width ? '>' : ''}${'.'.repeat(Math.max(0, width - filled - 1))}]`);
      parts.push(`${formatAmount(event.current, event.unit)}/${formatAmount(event.total, event.unit)}`);
      const eta = frac > 0 ? (elapsed / frac) * (1 - frac) : Number.NaN; // unknown before the first unit
      parts.push(event.done ? formatDuration(elapsed) : `ETA ${formatDuration(eta)}`);
    } else {
      parts.push(formatAmount(event.current, event.unit), formatDuration(elapsed));
    }
    for (const [k, v] of Object.entries(event.metrics ?? {})) parts.push(`${k} ${formatMetric(k, v)}`);
    return parts.join(' ');
  }
}
