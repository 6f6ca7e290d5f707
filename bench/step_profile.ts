// Where a compiled training step spends its time: reads onnxruntime's profile (Chrome trace JSON,
// written with compileTrainingStep's `profilePrefix`) and sums node times per layer class and
// direction (forward, or backward: input gradients, weight gradients, the rest), per op type, and
// per node. Node names start with the Keras layer name the training rules emitted them for.
import fs from 'node:fs';
import path from 'node:path';
import type { tfl } from '../src/engines/tfjs/tf.js';

interface TraceEvent {
  cat?: string;
  name: string;
  dur: number;
  args?: { op_name?: string };
}

export interface StepProfile {
  /** Step runs in the profile. */
  runs: number;
  /** Milliseconds per run spent inside nodes. */
  totalMs: number;
  byPart: [string, number][];
  byOp: [string, number][];
  byNode: [string, number][];
}

/** Suffixes the training rules give backward nodes (training/conv_gradients.ts, layers/normalization.ts, layers/activation.ts). */
const WEIGHT_GRADIENT = /^_(dw|db|dgamma|dbeta|sum_dy_x|centered_dot|mean_sumdy)(_|\/|$)/;
const INPUT_GRADIENT = /^_(dx|grad|mask|pos|lt6|in|dy|k|c0|c1|rstd|std|var_eps|dbeta_m|dgamma_m|k_rstd|k_dbeta|scatter|unpool)(_|\/|$)/;

export function readStepProfile(file: string, model: tfl.LayersModel, runs: number): StepProfile {
  const events = (JSON.parse(fs.readFileSync(file, 'utf8')) as TraceEvent[]).filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'));
  const layers = [...model.layers].sort((a, b) => b.name.length - a.name.length);
  const part = new Map<string, number>();
  const op = new Map<string, number>();
  const node = new Map<string, number>();
  const add = (m: Map<string, number>, k: string, us: number): void => void m.set(k, (m.get(k) ?? 0) + us / 1000 / runs);
  for (const e of events) {
    const name = e.name.slice(0, -'_kernel_time'.length);
    const opType = e.args?.op_name ?? '?';
    const layer = layers.find((l) => name.startsWith(l.name));
    let key = 'loss and optimizer update';
    if (layer) {
      const rest = name.slice(layer.name.length);
      const direction = WEIGHT_GRADIENT.test(rest) ? 'weight gradient' : INPUT_GRADIENT.test(rest) ? 'backward' : 'forward';
      key = `${layer.getClassName()} ${direction}`;
    }
    add(part, key, e.dur);
    add(op, opType, e.dur);
    add(node, `${name} (${opType})`, e.dur);
  }
  const sorted = (m: Map<string, number>): [string, number][] => [...m].sort((a, b) => b[1] - a[1]);
  const byPart = sorted(part);
  return { runs, totalMs: byPart.reduce((a, [, v]) => a + v, 0), byPart, byOp: sorted(op), byNode: sorted(node) };
}

/** The newest profile file written under `prefix`. */
export function newestProfile(prefix: string): string {
  const dir = path.dirname(prefix);
  const base = path.basename(prefix);
  const files = fs.readdirSync(dir).filter((f) => f.startsWith(base) && f.endsWith('.json'));
  if (files.length === 0) throw new Error(`no onnxruntime profile under ${prefix}*`);
  return path.join(dir, files.map((f) => [f, fs.statSync(path.join(dir, f)).mtimeMs] as const).sort((a, b) => b[1] - a[1])[0][0]);
}

export function formatStepProfile(p: StepProfile, top = 12): string {
  const rows = (title: string, entries: [string, number][]): string[] => [
    title,
    ...entries.slice(0, top).map(([k, v]) => `  ${k.padEnd(58)} ${v.toFixed(1).padStart(8)} ms ${((100 * v) / p.totalMs).toFixed(1).padStart(5)}%`),
  ];
  return [
    `profile: ${p.totalMs.toFixed(0)} ms per step inside onnxruntime nodes (mean of ${p.runs} steps)`,
    ...rows('by layer class and direction:', p.byPart),
    ...rows('by op type:', p.byOp),
    ...rows('slowest nodes:', p.byNode),
  ].join('\n');
}
