// The callbacks of one fit, in the order their hooks run (Keras's CallbackList): the caller's, plus a
// ProgressReporter when fit was given onProgress, sorted by `order` (checkpointing last, so it saves
// the others' state) and named uniquely (a checkpoint keeps each one's state under its name).
import { invalidArgument } from '../../../core/errors.js';
import type { ProgressCallback } from '../../../core/progress.js';
import type { TrainingCheckpoint } from '../checkpoint.js';
import type { Callback } from './callback.js';
import { ProgressReporter } from './progress.js';

export function callbackList(callbacks: readonly Callback[] = [], progress?: { onProgress: ProgressCallback; label?: string }): Callback[] {
  const list = [...callbacks];
  if (progress) list.push(new ProgressReporter(progress.onProgress, { label: progress.label }));
  list.sort((a, b) => (a.order ?? 0) - (b.order ?? 0));
  const names = new Set<string>();
  for (const cb of list) {
    if (names.has(cb.name)) throw invalidArgument('callbacks', cb.name, 'callbacks with distinct names (their state is saved under the name)');
    names.add(cb.name);
  }
  return list;
}

/** Gives each callback the state a checkpoint saved under its name. */
export function restoreCallbackStates(callbacks: readonly Callback[], checkpoint: TrainingCheckpoint): void {
  for (const cb of callbacks) {
    const state = checkpoint.callbacks[cb.name];
    if (state && cb.setState) cb.setState(state);
  }
}

/** Each callback's state, keyed by its name, for a checkpoint. */
export async function callbackStates(callbacks: readonly Callback[]): Promise<TrainingCheckpoint['callbacks']> {
  const states: TrainingCheckpoint['callbacks'] = {};
  for (const cb of callbacks) if (cb.getState) states[cb.name] = await cb.getState();
  return states;
}
