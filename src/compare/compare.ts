// compare: train several backbones under one config and seed, evaluate each on the same held-out
// data, and recommend one by the user's rule. One backbone failing never stops the others.
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve, relative } from 'node:path';
import sharp from 'sharp';
import { getBackbone } from '../models/zoo.js';
import type { ProgressCallback } from '../core/progress.js';
import { renderCompareHtml, renderCompareMarkdown } from '../report/compare_report.js';
import { trainRun, type TrainRunOptions, type TrainRunResult } from '../train/run.js';
import { refuseInsideInputs } from '../train/output_path.js';
import { defaultWeights } from '../weights/resolve.js';
import { describeRule, parseSelectionRule, selectBackbone, type SelectionRule } from './selection_rule.js';
import type { BackboneResult, CompareResult, CompareRow, EpochRecord } from './types.js';

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
}

export interface CompareHooks {
  onProgress?: ProgressCallback;
  onLog?: (message: string) => void;
  /** Called as each backbone finishes (or fails), for live tables. */
  onBackboneDone?: (row: CompareRow) => void;
  /** Injected for tests; defaults to trainRun. */
  train?: (options: TrainRunOptions, hooks: { onProgress?: ProgressCallback; onLog?: (m: string) => void }) => Promise<TrainRunResult>;
}

export interface CompareOutput extends CompareResult {
  files: { html: string; markdown: string; json: string };
}

const MAX_MISCLASSIFIED_THUMBNAILS = 24;

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
    trainAccuracy: last?.accuracy ?? Number.NaN,
    epochs: result.history.length,
    engine: result.engine,
    weightsSource: weights,
    classNames: result.classNames,
    confusionMatrix: evaluation?.confusionMatrix ?? [],
    history: historyRecords(result),
    misclassified: (evaluation?.misclassified ?? []).map((m) => ({
      file: relative(dataDir, m.file).startsWith('..') ? m.file : relative(dataDir, m.file),
      trueClass: m.trueClass,
      predictedClass: m.predictedClass,
      probability: m.probability,
    })),
    phaseSeconds: phaseSeconds(result),
    runDir: result.runDir,
  };
}

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

/** The folder of the held-out images: misclassified files are shown relative to it. */
function evaluationDir(options: CompareOptions): string {
  return options.valDir ?? options.dataDir;
}

/** Resolves each backbone's weights: the explicit option, else ImageNet if cached, else offline, else none. */
function weightsFor(id: string, options: CompareOptions): { weights: string | null; reason: string } {
  if (options.weights !== undefined) return { weights: options.weights, reason: `weights ${options.weights} (given)` };
  const choice = defaultWeights(id, { alpha: options.alpha, inputSize: options.inputSize });
  return { weights: choice.weights, reason: choice.reason };
}

export async function compareBackbones(options: CompareOptions, hooks: CompareHooks = {}): Promise<CompareOutput> {
  const started = performance.now();
  const startedAt = new Date().toISOString();
  const log = hooks.onLog ?? (() => undefined);
  const train = hooks.train ?? trainRun;
  const rule = typeof options.select === 'string' || options.select === undefined ? parseSelectionRule(options.select) : options.select;
  const ids = options.backbones.map((b) => getBackbone(b).id);
  const { backbones: _b, select: _s, allowRandomWeights: _a, outDir, ...shared } = options;
  const seed = options.seed ?? 1234;
  // The reports folder is made before any run: it must not land among the classes it compares.
  refuseInsideInputs(outDir, [options.dataDir, options.valDir]);
  await mkdir(outDir, { recursive: true });

  const rows: CompareRow[] = [];
  for (const [index, id] of ids.entries()) {
    hooks.onProgress?.({ task: 'compare', current: index, total: ids.length, unit: 'backbone' });
    const tag = `[${index + 1}/${ids.length} ${id}]`;
    const { weights, reason } = weightsFor(id, options);
    let row: CompareRow;
    if (weights === null && !options.allowRandomWeights) {
      row = { ok: false, id, error: `no pretrained weights: ${reason}. Pass --weights none to train it from random weights anyway.` };
    } else {
      log(`${tag} ${reason}`);
      try {
        const result = await train(
          { ...shared, seed, backbone: id, weights: weights ?? 'none', outDir: join(outDir, id) },
          {
            onProgress: hooks.onProgress ? (e) => hooks.onProgress!({ ...e, task: `${tag} ${e.task}` }) : undefined,
            onLog: (m) => log(`${tag} ${m}`),
          },
        );
        row = { ok: true, ...toBackboneResult(id, weights ?? 'none', result, evaluationDir(options)) };
      } catch (error) {
        row = { ok: false, id, error: error instanceof Error ? error.message : String(error) };
      }
    }
    if (!row.ok) log(`${tag} failed: ${row.error}`);
    rows.push(row);
    hooks.onBackboneDone?.(row);
  }
  hooks.onProgress?.({ task: 'compare', current: ids.length, total: ids.length, unit: 'backbone', done: true });

  const finished = rows.filter((r): r is BackboneResult & { ok: true } => r.ok && Number.isFinite(r.accuracy));
  const result: CompareResult = {
    dataset: resolve(options.dataDir),
    rows,
    recommendation: selectBackbone(finished, rule),
    rule: describeRule(rule),
    config: { ...shared, seed, backbones: ids },
    startedAt,
    elapsedSeconds: (performance.now() - started) / 1000,
  };
  const files = { html: join(outDir, 'report.html'), markdown: join(outDir, 'report.md'), json: join(outDir, 'compare.json') };
  await writeFile(files.html, renderCompareHtml(result, { thumbnails: await thumbnails(rows, evaluationDir(options)) }));
  await writeFile(files.markdown, renderCompareMarkdown(result));
  await writeFile(files.json, JSON.stringify(compareJson(result), null, 2) + '\n');
  return { ...result, files };
}

/** The `--json` shape the issue pins, plus failures and the rule. */
export function compareJson(result: CompareResult): Record<string, unknown> {
  return {
    backbones: result.rows.map((r) =>
      r.ok
        ? {
            id: r.id,
            totalParams: r.totalParams,
            trainableParams: r.trainableParams,
            nonTrainableParams: r.nonTrainableParams,
            elapsedSeconds: Number(r.elapsedSeconds.toFixed(3)),
            accuracy: r.accuracy,
            valLoss: r.valLoss,
            epochs: r.epochs,
            engine: r.engine,
            weights: r.weightsSource,
          }
        : { id: r.id, error: r.error },
    ),
    recommendation: result.recommendation,
    rule: result.rule,
    dataset: result.dataset,
  };
}
