// The data audit of a comparison, on the features its runs already computed: each run's probe keeps
// its pooled features (keepPooledFeatures), reduced here to an AuditView as soon as the run ends (so a
// comparison of many backbones never holds them all), then the files' fingerprints and the finders. The
// fingerprints are not computed beside the runs (a second decode of every file, competing with them for the
// cores, cost a first comparison of new files half its time again): the first run stores those of every file
// it decodes (`storeFingerprints`, from its own decode), and finish() reads them from the fingerprint store,
// computing only the files no run decoded. The views of all backbones are combined (their out-of-fold probabilities averaged,
// their neighbour spaces joined).
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { scanDirectory } from '../data/scan_directory.js';
import type { ProgressCallback } from '../core/progress.js';
import type { TrainRunResult } from '../train/run/run.js';
import { auditFindingsOnnx, auditView, relativeName, type AuditSettings, type AuditSplitData, type AuditView } from '../train/audit/audit.js';
import { storedFingerprints } from '../train/audit/fingerprint_store.js';
import type { AuditResult } from '../train/audit/types.js';
import type { NeighbourSpace } from '../train/audit/embeddings.js';
import type { SplitFeatures } from '../train/probes/frozen_probe.js';

interface Files {
  /** Absolute paths, sorted: the audit's row order. */
  train: string[];
  validation: string[];
  trainLabels: Int32Array;
  validationLabels: Int32Array;
}

/** The files of a split sorted (the audit's row order), their labels, and the run's row of each. */
function sortedOrder(split: SplitFeatures): { paths: string[]; labels: Int32Array; order: number[] } {
  const order = split.filepaths.map((_, i) => i).sort((a, b) => (split.filepaths[a] < split.filepaths[b] ? -1 : split.filepaths[a] > split.filepaths[b] ? 1 : 0));
  return { paths: order.map((i) => split.filepaths[i]), labels: Int32Array.from(order, (i) => split.labels[i]), order };
}

/** Rows of `width` values of `x` put in `order` (row r of the result is row order[r] of x). */
function permuteRows<T extends Float32Array | Float64Array>(x: T, width: number, order: number[]): T {
  const out = new (x.constructor as new (length: number) => T)(order.length * width);
  order.forEach((from, r) => out.set(x.subarray(from * width, (from + 1) * width), r * width));
  return out;
}

/** A view of rows in the run's order, its rows put in the audit's (a few hundred numbers a row, not the features). */
function permuteView(view: AuditView, train: number[], validation: number[], classes: number): AuditView {
  const space = (s: NeighbourSpace, order: number[]): NeighbourSpace => ({ unit: permuteRows(s.unit, s.dims, order), n: s.n, dims: s.dims });
  return {
    backbone: view.backbone,
    trainSpace: space(view.trainSpace, train),
    ...(view.validationSpace ? { validationSpace: space(view.validationSpace, validation) } : {}),
    outOfFold: permuteRows(view.outOfFold, classes, train),
    ...(view.validationProbabilities ? { validationProbabilities: permuteRows(view.validationProbabilities, classes, validation) } : {}),
  };
}

/** A digest of a run's pooled rows and their files: runs of a sweep on one frozen backbone have the same. */
function featuresDigest(split: { train: SplitFeatures; validation: SplitFeatures }): string {
  const hash = createHash('sha256');
  for (const part of [split.train, split.validation]) {
    hash.update(`${part.rows.n} ${part.rows.d}\n${part.filepaths.join('\n')}\n`);
    hash.update(new Uint8Array(part.rows.x.buffer, part.rows.x.byteOffset, part.rows.x.byteLength));
  }
  return hash.digest('hex');
}

const sameList = (a: string[], b: string[]): boolean => a.length === b.length && a.every((v, i) => v === b[i]);

export class ComparisonAudit {
  private files?: Files;
  private classNames?: string[];
  private readonly views: AuditView[] = [];
  /** featuresDigest of each view's features: a run whose features are already in a view adds nothing. */
  private readonly digests = new Set<string>();
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
    // The runs of a sweep on one frozen backbone (other learning rates, heads...) computed the same
    // features: their view would be the same too, and the neighbour space must not grow with the grid.
    const digest = featuresDigest(features);
    if (this.digests.has(digest)) {
      this.seconds += (performance.now() - started) / 1000;
      return;
    }
    this.digests.add(digest);
    const train = sortedOrder(features.train);
    const validation = sortedOrder(features.validation);
    if (!this.files) {
      this.files = { train: train.paths, validation: validation.paths, trainLabels: train.labels, validationLabels: validation.labels };
      this.classNames = result.classNames;
    } else if (!sameList(this.files.train, train.paths) || !sameList(this.files.validation, validation.paths)) {
      this.log(`audit: ${backbone} read other files than the first run; its features are left out of the audit`);
      return;
    }
    // The view is made in the run's row order (the probe's out-of-fold probabilities are in it too), then
    // its rows are put in the audit's: no copy of the features themselves.
    const probe = result.linearProbe?.outOfFoldProbabilities;
    const classes = result.classNames.length;
    const outOfFold = probe && probe.length === features.train.rows.n * classes ? probe : undefined;
    const view = auditView({ backbone, train: features.train.rows, validation: features.validation.rows, ...(outOfFold ? { outOfFold } : {}) }, Int32Array.from(features.train.labels), classes, this.options.settings);
    this.views.push(permuteView(view, train.order, validation.order, classes));
    this.seconds += (performance.now() - started) / 1000;
  }

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

  /** The findings: from the runs' views when any run kept features, else duplicates and balance of the listed folders. */
  async finish(onProgress?: ProgressCallback): Promise<AuditResult> {
    const started = performance.now();
    const dataDir = resolve(this.options.dataDir);
    const validationDir = resolve(this.options.valDir ?? this.options.dataDir);
    const listed = this.files ? undefined : this.listFiles();
    const files = this.files ?? listed!.files;
    const classNames = this.classNames ?? listed!.classNames;
    const paths = [...files.train, ...files.validation];
    const { prints, stored } = await storedFingerprints(paths, { root: this.options.featureStore, onProgress });
    if (stored < paths.length) this.log(`audit: fingerprints of ${stored} of ${paths.length} files came from the fingerprint store, ${paths.length - stored} computed`);
    const hashSeconds = (performance.now() - started) / 1000;
    const trainData: AuditSplitData = { files: files.train.map((p) => relativeName(dataDir, p)), labels: files.trainLabels };
    const validationData: AuditSplitData = { files: files.validation.map((p) => relativeName(validationDir, p)), labels: files.validationLabels };
    return auditFindingsOnnx({
      ...this.options.settings,
      classNames,
      train: trainData,
      validation: validationData,
      views: this.views,
      fingerprints: { train: prints.slice(0, files.train.length), validation: prints.slice(files.train.length) },
      // hashes: reading the stored fingerprints, and computing those no run stored.
      phaseSeconds: { views: Math.round(this.seconds * 1000) / 1000, hashes: Math.round(hashSeconds * 1000) / 1000 },
    });
  }
}
