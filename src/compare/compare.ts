// compare: train several backbones under one config and seed, evaluate each on the same held-out
// data, and recommend one by the user's rule. One backbone failing never stops the others. It returns
// data; report/ renders and writes the report files (writeCompareReport).
import { mkdir } from 'node:fs/promises';
import { join, resolve, relative } from 'node:path';
import { getBackbone } from '../models/zoo.js';
import type { ProgressCallback } from '../core/progress.js';
import { trainRun, type TrainRunOptions, type TrainRunResult } from '../train/run/run.js';
import { refuseInsideInputs } from '../train/run/output_path.js';
import { defaultWeights } from '../weights/resolve.js';
import { describeRule, parseSelectionRule, selectBackbone, type SelectionRule } from './selection_rule.js';
import { expandSweep, gridAxes, type PlannedRun, type SweepAxis } from './sweep.js';
import type { BackboneResult, CompareResult, CompareRow, EpochRecord } from './types.js';
import { ComparisonAudit } from './compare_audit.js';
import type { AuditResult, AuditSettings } from '../train/audit/audit.js';

export interface CompareOptions extends Omit<TrainRunOptions, 'backbone' | 'outDir' | 'train' | 'validation' | 'resume'> {
  dataDir: string;
  backbones: string[];
  /** Where each backbone's run directory and the reports go. */
  outDir: string;
  /** Selection rule, as `--select` text or parsed. Default: within 0.01, then time, params, gap. */
  select?: string | SelectionRule;
  /**
   * Train backbones that have no pretrained weights at hand from random weights. Default false:
   * such a backbone is reported as failed with the reason, never silently trained from scratch.
   */
  allowRandomWeights?: boolean;
  /**
   * A sweep: each backbone runs once per combination of these values (`{ learningRate: [1e-3, 1e-4] }`
   * or axes as the CLI's `--grid` builds them). Seed and held-out data stay shared.
   */
  grid?: Record<string, readonly unknown[]> | readonly SweepAxis[];
  /** Runs the comparison's runs elsewhere (`connectQueue(url)` from tlkit's queue module) instead of here in turn. */
  queue?: ComparisonQueue;
  /**
   * The data audit (label issues, duplicates and leaks, outliers, class balance) on the features the
   * runs' linear probes computed, in CompareResult.audit. Default true; false turns it off. Not with `queue`.
   */
  audit?: boolean | AuditSettings;
}

/** One run of a comparison, ready to train: its trainRun options, or why it is not trained. */
export interface ComparisonRun extends PlannedRun {
  train: Omit<TrainRunOptions, 'train' | 'validation' | 'signal'>;
  weightsReason: string;
  /** Set when the run is reported as failed without training (no pretrained weights at hand). */
  skipped?: string;
}

/** Everything a comparison is, before anything is trained: what a queue sends to its workers. */
export interface ComparisonPlan {
  options: Omit<CompareOptions, 'queue' | 'select' | 'grid'>;
  rule: SelectionRule;
  seed: number;
  runs: ComparisonRun[];
  startedAt: string;
}

/** Trains a plan's runs somewhere else and returns the comparison's result (its report already written there). */
export interface ComparisonQueue {
  runComparison(plan: ComparisonPlan, hooks: CompareHooks): Promise<CompareResult>;
}

export interface CompareHooks {
  onProgress?: ProgressCallback;
  onLog?: (message: string) => void;
  /** Called as each backbone finishes (or fails), for live tables. */
  onBackboneDone?: (row: CompareRow) => void;
  /** Injected for tests; defaults to trainRun. */
  train?: (options: TrainRunOptions, hooks: { onProgress?: ProgressCallback; onLog?: (m: string) => void }) => Promise<TrainRunResult>;
}

function historyRecords(result: TrainRunResult): EpochRecord[] {
  return result.history.map((h) => ({
    epoch: h.epoch,
    phase: h.phase === 2 ? 'fine-tune' : h.phase === 1 ? 'head' : 'train',
    loss: h.loss,
    accuracy: h.accuracy,
    valLoss: h.val_loss,
    valAccuracy: h.val_accuracy,
  }));
}

/** Seconds per phase from the epochs' own timings; the rest (build, weights, data, evaluate, save) is 'setup+eval'. */
function phaseSeconds(result: TrainRunResult): Record<string, number> {
  const phases: Record<string, number> = {};
  for (const h of result.history) {
    const phase = h.phase === 2 ? 'fine-tune' : h.phase === 1 ? 'train head' : 'train';
    phases[phase] = (phases[phase] ?? 0) + (h.seconds ?? 0);
  }
  const trained = Object.values(phases).reduce((a, b) => a + b, 0);
  phases['setup + evaluate'] = Math.max(0, result.elapsedSeconds - trained);
  return phases;
}

function batchNormNote(result: TrainRunResult): string {
  const done = result.batchNormRecalibration ?? [];
  if (done.length > 0) return done.map((r) => `recalibrated after phase ${r.phase} (${r.layers} layers, ${r.samples} images, ${r.seconds.toFixed(1)} s)`).join('; ');
  return result.batchNormSkipped ? 'trained in training mode, not recalibrated (--no-recalibrate-bn)' : 'frozen or absent (nothing to recalibrate)';
}

function toBackboneResult(id: string, weights: string, result: TrainRunResult, dataDir: string): BackboneResult {
  const evaluation = result.evaluation;
  const last = result.history.at(-1);
  return {
    id,
    totalParams: result.params.total,
    trainableParams: result.params.trainable,
    nonTrainableParams: result.params.nonTrainable,
    elapsedSeconds: result.elapsedSeconds,
    accuracy: evaluation?.accuracy ?? last?.accuracy ?? Number.NaN,
    valLoss: evaluation?.loss ?? Number.NaN,
    ...(result.linearProbe
      ? {
          linearProbeAccuracy: result.linearProbe.accuracy,
          linearProbe: { c: result.linearProbe.c, trainAccuracy: result.linearProbe.trainAccuracy, seconds: result.linearProbe.seconds, features: result.linearProbe.features },
        }
      : {}),
    trainAccuracy: last?.accuracy ?? Number.NaN,
    batchNorm: batchNormNote(result),
    ...(result.warning ? { warning: result.warning } : {}),
    epochs: result.history.length,
    engine: result.engine,
    weightsSource: weights,
    classNames: result.classNames,
    confusionMatrix: evaluation?.confusionMatrix ?? [],
    history: historyRecords(result),
    misclassified: (evaluation?.misclassified ?? []).map((m) => ({ ...m, file: relative(dataDir, m.file).startsWith('..') ? m.file : relative(dataDir, m.file) })),
    ...(evaluation ? { misclassifiedCount: evaluation.misclassifiedCount ?? evaluation.misclassified.length } : {}),
    phaseSeconds: phaseSeconds(result),
    runDir: result.runDir,
  };
}

/** A finished run's row: labelled by the run, with its backbone and grid values. */
export function runRow(run: Pick<PlannedRun, 'label' | 'backbone' | 'settings'>, result: TrainRunResult, weights: string, evaluationDir: string): CompareRow {
  return { ok: true, ...toBackboneResult(run.label, weights, result, evaluationDir), backbone: run.backbone, settings: run.settings };
}

/** The folder of the held-out images: misclassified files are shown relative to it. */
export function evaluationDir(options: Pick<CompareOptions, 'valDir' | 'dataDir'>): string {
  return options.valDir ?? options.dataDir;
}

/** Resolves each backbone's weights: the explicit option, else ImageNet if cached, else offline, else none. */
function weightsFor(id: string, options: Pick<TrainRunOptions, 'weights' | 'alpha' | 'inputSize'>): { weights: string | null; reason: string } {
  if (options.weights !== undefined) return { weights: options.weights, reason: `weights ${options.weights} (given)` };
  const choice = defaultWeights(id, { alpha: options.alpha, inputSize: options.inputSize });
  return { weights: choice.weights, reason: choice.reason };
}

/** Expands backbones x grid and decides each run's weights; trains nothing. */
export function planComparison(options: CompareOptions): ComparisonPlan {
  const rule = typeof options.select === 'string' || options.select === undefined ? parseSelectionRule(options.select) : options.select;
  const ids = options.backbones.map((b) => getBackbone(b).id);
  const { backbones: _b, select: _s, allowRandomWeights: _a, grid, queue: _q, outDir, audit: _audit, ...shared } = options;
  const seed = options.seed ?? 1234;
  // The reports folder must not land among the classes it compares (checked before anything is queued or made).
  refuseInsideInputs(outDir, [options.dataDir, options.valDir]);
  const auditing = options.audit !== false && !options.queue;
  const runs = expandSweep(ids, gridAxes(grid)).map((run, index): ComparisonRun => {
    const merged = { ...shared, ...run.options };
    const { weights, reason } = weightsFor(run.backbone, merged);
    // The audit's fingerprints come from the first run's decode of every file (stored, read by the audit).
    const forAudit = auditing ? { keepPooledFeatures: true, ...(index === 0 ? { storeFingerprints: true } : {}) } : {};
    const train = { linearProbe: true, ...merged, ...forAudit, seed, backbone: run.backbone, weights: weights ?? 'none', outDir: join(outDir, run.dirName) };
    const skipped = weights === null && !options.allowRandomWeights ? `no pretrained weights: ${reason}. Pass --weights none to train it from random weights anyway.` : undefined;
    return { ...run, train, weightsReason: reason, ...(skipped ? { skipped } : {}) };
  });
  const { grid: _g, queue: _q2, select: _s2, ...rest } = options;
  return { options: { ...rest, backbones: ids, seed }, rule, seed, runs, startedAt: new Date().toISOString() };
}

export async function compareBackbones(options: CompareOptions, hooks: CompareHooks = {}): Promise<CompareResult> {
  const plan = planComparison(options);
  if (options.queue) return options.queue.runComparison(plan, hooks);
  const started = performance.now();
  const log = hooks.onLog ?? (() => undefined);
  const train = hooks.train ?? trainRun;
  const runs = plan.runs;
  await mkdir(options.outDir, { recursive: true });

  const audit = options.audit !== false ? new ComparisonAudit({ ...options, settings: typeof options.audit === 'object' ? options.audit : {} }, log) : undefined;
  const rows: CompareRow[] = [];
  for (const [index, run] of runs.entries()) {
    hooks.onProgress?.({ task: 'compare', current: index, total: runs.length, unit: 'run' });
    const tag = `[${index + 1}/${runs.length} ${run.label}]`;
    let row: CompareRow;
    if (run.skipped) {
      row = { ok: false, id: run.label, backbone: run.backbone, settings: run.settings, error: run.skipped };
    } else {
      log(`${tag} ${run.weightsReason}`);
      try {
        const result = await train(run.train, {
          onProgress: hooks.onProgress ? (e) => hooks.onProgress!({ ...e, task: `${tag} ${e.task}` }) : undefined,
          onLog: (m) => log(`${tag} ${m}`),
        });
        row = runRow(run, result, run.train.weights ?? 'none', evaluationDir(options));
        audit?.addRun(run.label, result);
      } catch (error) {
        row = { ok: false, id: run.label, backbone: run.backbone, settings: run.settings, error: error instanceof Error ? error.message : String(error) };
      }
    }
    if (!row.ok) log(`${tag} failed: ${row.error}`);
    rows.push(row);
    hooks.onBackboneDone?.(row);
  }
  // The audit never fails the comparison: its error is logged and the result goes without it.
  const findings = await audit?.finish(hooks.onProgress).catch((error: unknown) => {
    log(`audit failed: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  });
  if (findings) log(`audit: ${findings.counts.labelIssues} likely label errors, ${findings.counts.leaks} leaks between train and validation, ${findings.counts.duplicateGroups - findings.counts.leaks} duplicate groups within a split, ${findings.counts.outliers} outliers (${findings.seconds.toFixed(1)} s)`);
  hooks.onProgress?.({ task: 'compare', current: runs.length, total: runs.length, unit: 'run', done: true });
  return finishComparison(plan, rows, (performance.now() - started) / 1000, findings);
}

/** A plan's result from its finished rows: the recommendation by the plan's rule (report/ writes the files). */
export function finishComparison(plan: Omit<ComparisonPlan, 'runs'> & { runs: readonly Pick<PlannedRun, 'label' | 'settings'>[] }, rows: CompareRow[], elapsedSeconds: number, audit?: AuditResult): CompareResult {
  const { dataDir, outDir, backbones: _b, allowRandomWeights: _a, ...shared } = plan.options;
  const finished = rows.filter((r): r is BackboneResult & { ok: true } => r.ok && Number.isFinite(r.accuracy));
  const sweep = plan.runs.some((r) => Object.keys(r.settings).length > 0);
  return {
    dataset: resolve(dataDir),
    heldOutDir: resolve(evaluationDir(plan.options)),
    outDir: resolve(outDir),
    rows,
    recommendation: selectBackbone(finished, plan.rule),
    rule: describeRule(plan.rule),
    config: { ...shared, seed: plan.seed, backbones: plan.options.backbones, ...(sweep ? { runs: plan.runs.map((r) => r.label) } : {}) },
    startedAt: plan.startedAt,
    elapsedSeconds,
    ...(audit ? { audit } : {}),
  };
}
