// The optimizer update as graph nodes, so the step returns the new weights and slots. Formulas follow
// tfjs's optimizers (the reference engine): Adam with bias-corrected moments (tf.train.adam), SGD with
// an optional momentum accumulator (tf.train.momentum: a = m a + g; w -= lr a).
import { invalidArgument } from '../../../core/errors.js';
import type { Ops } from './ops.js';

export interface AdamSettings {
  kind: 'adam';
  beta1: number;
  beta2: number;
  epsilon: number;
}

export interface SgdSettings {
  kind: 'sgd';
  momentum: number;
}

export type OptimizerSettings = AdamSettings | SgdSettings;

/** Per-step scalars fed to the graph (they change with the step count and the learning rate). */
export const STEP_SCALARS = { adamAlpha: 'adam_alpha', adamC2: 'adam_c2', learningRate: 'learning_rate' } as const;

export function slotNames(settings: OptimizerSettings): string[] {
  if (settings.kind === 'adam') return ['m', 'v'];
  return settings.momentum > 0 ? ['accumulation'] : [];
}

export function stepScalarNames(settings: OptimizerSettings): string[] {
  return settings.kind === 'adam' ? [STEP_SCALARS.adamAlpha, STEP_SCALARS.adamC2] : [STEP_SCALARS.learningRate];
}

/** Values of the step scalars for 1-based step `t`. */
export function stepScalarValues(settings: OptimizerSettings, learningRate: number, t: number): number[] {
  if (settings.kind === 'adam') {
    // alpha * m / (sqrt(v * c2) + eps) = lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
    return [learningRate / (1 - settings.beta1 ** t), 1 / (1 - settings.beta2 ** t)];
  }
  return [learningRate];
}

export function checkOptimizerSettings(settings: OptimizerSettings): void {
  if (settings.kind === 'adam') {
    for (const key of ['beta1', 'beta2'] as const) {
      if (!(settings[key] >= 0 && settings[key] < 1)) throw invalidArgument(key, settings[key], 'a number in [0, 1)');
    }
    if (!(settings.epsilon > 0)) throw invalidArgument('epsilon', settings.epsilon, 'a number > 0');
  } else if (!(settings.momentum >= 0 && settings.momentum < 1)) {
    throw invalidArgument('momentum', settings.momentum, 'a number in [0, 1)');
  }
}

/** Emits the update of one weight; returns [new weight, ...new slots] in slotNames order. */
export function emitUpdate(o: Ops, settings: OptimizerSettings, weight: string, grad: string, slots: string[], hint: string): string[] {
  if (settings.kind === 'adam') {
    const [m, v] = slots;
    const m2 = o.add(o.mul(m, o.scalar(settings.beta1), `${hint}_m_decay`), o.mul(grad, o.scalar(1 - settings.beta1), `${hint}_m_in`), `${hint}_m_new`);
    const g2 = o.mul(grad, grad, `${hint}_g2`);
    const v2 = o.add(o.mul(v, o.scalar(settings.beta2), `${hint}_v_decay`), o.mul(g2, o.scalar(1 - settings.beta2), `${hint}_v_in`), `${hint}_v_new`);
    const denom = o.add(o.op('Sqrt', [o.mul(v2, STEP_SCALARS.adamC2, `${hint}_v_hat`)], `${hint}_v_sqrt`), o.scalar(settings.epsilon), `${hint}_denom`);
    const step = o.mul(o.op('Div', [m2, denom], `${hint}_ratio`), STEP_SCALARS.adamAlpha, `${hint}_step`);
    return [o.sub(weight, step, `${hint}_new`), m2, v2];
  }
  if (settings.momentum > 0) {
    const a2 = o.add(o.mul(slots[0], o.scalar(settings.momentum), `${hint}_a_decay`), grad, `${hint}_a_new`);
    return [o.sub(weight, o.mul(a2, STEP_SCALARS.learningRate, `${hint}_step`), `${hint}_new`), a2];
  }
  return [o.sub(weight, o.mul(grad, STEP_SCALARS.learningRate, `${hint}_step`), `${hint}_new`)];
}
