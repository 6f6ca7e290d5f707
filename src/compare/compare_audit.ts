// The data audit of a comparison, on the features its runs already computed: each run's probe keeps
// its pooled features (keepPooledFeatures), reduced here to an AuditView as soon as the run ends (so a
// comparison of many backbones never holds them all), then one pass of perceptual hashes over the files
// and the finders. The views of all backbones are combined (their out-of-fold probabilities averaged,
// their neighbour spaces joined).
import { resolve } from 'node:path';
import { scanDirectory } from '../data/scan_directory.js';
import type { ProgressCallback } from '../core/progress.js';
import type { TrainRunResult } from '../train/run/run.js';
import { auditFindings, auditView, relativeName, type AuditSettings, type AuditSplitData, type AuditView } from '../train/audit/audit.js';
import type { ImageFingerprint } from '../train/audit/image_fingerprints.js';
import { storedFingerprints } from '../train/audit/fingerprint_store.js';
import type { AuditResult } from '../train/audit/types.js';
import type { SplitFeatures } from '../train/probes/frozen_probe.js';
import type { DenseRows } from '../train/probes/linear_probe.js';

interface Files {
  /** Absolute paths, sorted: the audit's row order. */
  train: string[];
  validation: string[];
  trainLabels: Int32Array;
  validationLabels: Int32Array;
}

function sortedRows(split: SplitFeatures): { paths: string[]; rows: DenseRows; labels: Int32Array; order: number[] } {
  const order = split.filepaths.map((_, i) => i).sort((a, b) => (split.filepaths[a] < split.filepaths[b] ? -1 : split.filepaths[a] > split.filepaths[b] ? 1 : 0));
  const d = split.rows.d;
  const x = new Float64Array(order.length * d);
  order.forEach((r, i) => x.set(split.rows.x.subarray(r * d, (r + 1) * d), i * d));
  return { paths: order.map((i) => split.filepaths[i]), rows: { x, n: order.length, d }, labels: Int32Array.from(order, (i) => split.labels[i]), order };
}

const sameList = (a: string[], b: string[]): boolean => a.length === b.length && a.every((v, i) => v === b[i]);

export class ComparisonAudit {
  private files?: Files;
  private classNames?: string[];
  private readonly views: AuditView[] = [];
  private seconds = 0;

  constructor(
    private readonly options: { dataDir: string; valDir?: string; validationSplit?: number; exclude?: unknown; featureStore?: string | false; settings: AuditSettings },
    private readonly log: (message: string) => void,
  ) {}

  /** Takes a finished run's pooled features (when its probe kept them) and keeps only their AuditView. */
  addRun(backbone: string, result: TrainRunResult): void {
    const features = result.pooledFeatures;
    if (!features) return;
    const started = performance.now();
    const train = sortedRows(features.train);
    const validation = sortedRows(features.validation);
    if (!this.files) {
      this.files = { train: train.paths, validation: validation.paths, trainLabels: train.labels, validationLabels: validation.labels };
      this.classNames = result.classNames;
    } else if (!sameList(this.files.train, train.paths) || !sameList(this.files.validation, validation.paths)) {
      this.log(`audit: ${backbone} read other files than the first run; its features are left out of the audit`);
      return;
    }
    // The probe's out-of-fold probabilities are in its rows' order: put them in the audit's.
    const probe = result.linearProbe?.outOfFoldProbabilities;
    const classes = result.classNames.length;
    const outOfFold = probe && probe.length === train.order.length * classes ? Float64Array.from({ length: probe.length }, (_, j) => probe[train.order[Math.floor(j / classes)] * classes + (j % classes)]) : undefined;
    this.views.push(auditView({ backbone, train: train.rows, validation: validation.rows, ...(outOfFold ? { outOfFold } : {}) }, train.labels, classes, this.options.settings));
    this.seconds += (performance.now() - started) / 1000;
  }

  /** Fingerprints the store already had. */
  private storedPrints = 0;
  private hashing?: Promise<{ listed: Files; classNames: string[]; prints: Map<string, ImageFingerprint | null> }>;

  /** The folders as the runs list them (exclude list and validation split applied). */
  private listFiles(): { files: Files; classNames: string[] } {
    const dataDir = resolve(this.options.dataDir);
    const split = this.options.validationSplit && this.options.validationSplit > 0 ? this.options.validationSplit : undefined;
    const exclude = this.options.exclude as { train?: string[]; validation?: string[] } | string[] | undefined;
    const trainExclude = Array.isArray(exclude) ? exclude : [...(exclude?.train ?? []), ...(split ? exclude?.validation ?? [] : [])];
    const train = scanDirectory(dataDir, split ? { validationSplit: split, subset: 'training', exclude: trainExclude } : { exclude: trainExclude });
    const validation = split
      ? scanDirectory(dataDir, { validationSplit: split, subset: 'validation', classes: train.classNames, exclude: trainExclude })
      : this.options.valDir
        ? scanDirectory(this.options.valDir, { classes: train.classNames, exclude: Array.isArray(exclude) ? [] : exclude?.validation ?? [] })
        : undefined;
    return {
      files: { train: train.filepaths, validation: validation?.filepaths ?? [], trainLabels: train.classes, validationLabels: validation?.classes ?? new Int32Array(0) },
      classNames: train.classNames,
    };
  }

  /**
   * Starts the perceptual hashes of every file in the background, so they overlap the runs instead of
   * following them: from the fingerprint store beside the feature stores when it has them (a second
   * comparison of the same files decodes none), else on a worker thread, two files at a time.
   */
  start(): void {
    if (this.hashing) return;
    const task = async () => {
      const { files, classNames } = this.listFiles();
      const paths = [...files.train, ...files.validation];
      const { prints, stored } = await storedFingerprints(paths, { root: this.options.featureStore, concurrency: 2 });
      this.storedPrints = stored;
      return { listed: files, classNames, prints: new Map(paths.map((p, i) => [p, prints[i]])) };
    };
    this.hashing = task();
    // Failures surface when finish() awaits it.
    this.hashing.catch(() => undefined);
  }

  /** The findings: from the runs' views when any run kept features, else duplicates and balance of the listed folders. */
  async finish(onProgress?: ProgressCallback): Promise<AuditResult> {
    const started = performance.now();
    const dataDir = resolve(this.options.dataDir);
    const validationDir = resolve(this.options.valDir ?? this.options.dataDir);
    this.start();
    const hashed = await this.hashing!;
    const files = this.files ?? hashed.listed;
    const classNames = this.classNames ?? hashed.classNames;
    const paths = [...files.train, ...files.validation];
    const missing = paths.filter((p) => !hashed.prints.has(p));
    if (missing.length > 0) {
      const more = (await storedFingerprints(missing, { root: this.options.featureStore, onProgress })).prints;
      missing.forEach((p, i) => hashed.prints.set(p, more[i]));
    }
    if (this.storedPrints > 0) this.log(`audit: fingerprints of ${this.storedPrints} of ${hashed.prints.size} files came from the fingerprint store`);
    const prints = paths.map((p) => hashed.prints.get(p) ?? null);
    const hashSeconds = (performance.now() - started) / 1000;
    const trainData: AuditSplitData = { files: files.train.map((p) => relativeName(dataDir, p)), labels: files.trainLabels };
    const validationData: AuditSplitData = { files: files.validation.map((p) => relativeName(validationDir, p)), labels: files.validationLabels };
    return auditFindings({
      ...this.options.settings,
      classNames,
      train: trainData,
      validation: validationData,
      views: this.views,
      fingerprints: { train: prints.slice(0, files.train.length), validation: prints.slice(files.train.length) },
      // hashes: what was left to wait for once the runs ended (the rest overlapped them).
      phaseSeconds: { views: Math.round(this.seconds * 1000) / 1000, hashes: Math.round(hashSeconds * 1000) / 1000 },
    });
  }
}
