// Keras's monitor/mode logic shared by EarlyStopping, ModelCheckpoint and ReduceLROnPlateau.
import { invalidArgument } from '../../../core/errors.js';

export type MonitorMode = 'auto' | 'min' | 'max';

/** 'auto' maximises accuracy-like metrics and minimises everything else, as Keras does. */
export function resolveMode(monitor: string, mode: MonitorMode = 'auto'): 'min' | 'max' {
  if (mode !== 'auto' && mode !== 'min' && mode !== 'max') throw invalidArgument('mode', mode, "'auto', 'min' or 'max'");
  if (mode !== 'auto') return mode;
  return /acc|auc|precision|recall|f1/.test(monitor) ? 'max' : 'min';
}

/** True when `current` beats `best` by more than minDelta in the monitor's direction. */
export function improves(current: number, best: number | undefined, mode: 'min' | 'max', minDelta = 0): boolean {
  if (!Number.isFinite(current)) return false;
  if (best === undefined) return true;
  const delta = Math.abs(minDelta);
  return mode === 'min' ? current < best - delta : current > best + delta;
}
