// The data audit: likely label errors, duplicates (and leaks between train and validation), outliers
// and class balance, from pooled backbone features and perceptual hashes of the images.
//
//   auditFindings: the finders on data already in hand (features per backbone, fingerprints); compare
//                  calls it with the features its runs computed.
//   auditDataset:  the whole audit of a folder (and a validation folder): features, hashes, findings.
import { join, relative, resolve, sep } from 'node:path';
import { invalidArgument } from '../../core/errors.js';
import type { ProgressCallback } from '../../core/progress.js';
import { scanDirectory } from '../../data/scan_directory.js';
import type { DenseRows } from '../probes/linear_probe.js';
import { classBalance } from './class_balance.js';
import { findDuplicates, type DuplicateOptions } from './duplicates.js';
import { nearestNeighbours, nearestNeighboursOnnx, projectStandardizedParts, unitSpace, type Neighbours, type NeighbourSpace } from './embeddings.js';
import { folderFeatures, type SplitFeatures } from './features.js';
import type { ImageFingerprint } from './image_fingerprints.js';
import { storedFingerprints } from './fingerprint_store.js';
import { blendedProbabilities, classThresholds, findLabelIssues, neighbourVotes } from './label_issues.js';
import { ridgeOutOfFold } from './out_of_fold.js';
import { findOutliers, neighbourDistances, robustScale } from './outliers.js';
import type { AuditFile, AuditResult, AuditSplit, DuplicateGroup, LabelIssue, Outlier } from './types.js';

export type * from './types.js';

/** One split's images: files 'class/name' relative to the split's folder, and their given labels. */
export interface AuditSplitData {
  files: string[];
  labels: Int32Array;
}

/** One backbone's pooled features of the same images, row i = file i of each split. */
export interface AuditBackboneFeatures {
  backbone: string;
  train: DenseRows;
  validation?: DenseRows;
  /** Out-of-fold probabilities of the training rows, when the probe kept them (else computed here). */
  outOfFold?: ArrayLike<number>;
}

export interface AuditSettings {
  /** Neighbours for the label-issue vote and the outlier distance. Default 10. */
  neighbours?: number;
  /** Weight of the neighbours' vote against the out-of-fold probabilities. Default 0.5. */
  neighbourWeight?: number;
  /** Smallest margin p_suggested - p_given of a label issue. Default 0.5. */
  minMargin?: number;
  /** Robust z-score of an outlier. Default 4. */
  outlierScore?: number;
  duplicates?: DuplicateOptions;
  /** Dimensions of the projection the neighbour search and the out-of-fold fits run in. */
  dims?: number;
  seed?: number;
}

export interface AuditFindingsInput extends AuditSettings {
  classNames: string[];
  train: AuditSplitData;
  validation?: AuditSplitData;
  /** What each backbone's features say (auditView); none: no label issues nor outliers. */
  views?: AuditView[];
  /** Fingerprints of train then validation files, in file order (none: no duplicates). */
  fingerprints?: { train: (ImageFingerprint | null)[]; validation?: (ImageFingerprint | null)[] };
  /** Seconds already spent getting features, views and hashes, for the result's phaseSeconds. */
  phaseSeconds?: Record<string, number>;
  /** The neighbour lists when already searched (auditFindingsOnnx): else searched here, in TypeScript. */
  neighbourLists?: { train: Neighbours; validation?: Neighbours };
}

/**
 * What the audit keeps of one backbone's features: the images in its neighbour space and their
 * out-of-fold probabilities (a few hundred numbers an image instead of the 1,280-2,048 features, so a
 * comparison of many backbones does not hold them all).
 */
export interface AuditView {
  backbone: string;
  trainSpace: NeighbourSpace;
  validationSpace?: NeighbourSpace;
  /** Row-major [train images, classes]. */
  outOfFold: Float64Array;
  /** Row-major [validation images, classes], from the fold models. */
  validationProbabilities?: Float64Array;
}

/** Width of the projection the out-of-fold classifier runs on (its first `dims` columns are the neighbour space). */
const OUT_OF_FOLD_DIMS = 256;

const round = (v: number, digits = 4): number => Math.round(v * 10 ** digits) / 10 ** digits;

/** One backbone's AuditView from its pooled features (the probe's out-of-fold probabilities when it kept them). */
export function auditView(features: AuditBackboneFeatures, trainLabels: Int32Array, classes: number, settings: Pick<AuditSettings, 'dims' | 'seed'> = {}): AuditView {
  const { train, validation } = features;
  if (train.n !== trainLabels.length) throw invalidArgument('features', `${train.n} training rows of ${features.backbone}`, `one row per training label (${trainLabels.length})`);
  const seed = settings.seed ?? 1234;
  const withValidation = validation !== undefined && validation.n > 0;
  // One standardisation and projection for both splits, so their distances compare; the neighbour
  // space is the first columns of the projection the out-of-fold classifier runs on.
  const projected = projectStandardizedParts(withValidation ? [train, validation] : [train], OUT_OF_FOLD_DIMS, seed);
  const space = unitSpace(projected, settings.dims ?? 128);
  const trainSpace = { unit: space.unit.subarray(0, train.n * space.dims), n: train.n, dims: space.dims };
  const validationSpace = withValidation ? { unit: space.unit.subarray(train.n * space.dims), n: validation.n, dims: space.dims } : undefined;
  const trainRows = { x: projected.x.subarray(0, train.n * projected.d), n: train.n, d: projected.d };
  const validationRows = withValidation ? { x: projected.x.subarray(train.n * projected.d), n: validation.n, d: projected.d } : undefined;
  // The probe's out-of-fold probabilities when it kept them (then held-out images are judged by their
  // neighbours alone); else fits of our own, whose fold models also score the held-out images.
  const probeKept = features.outOfFold !== undefined && features.outOfFold.length === train.n * classes;
  const fold = probeKept ? { train: Float64Array.from(features.outOfFold!), heldOut: undefined } : ridgeOutOfFold(trainRows as DenseRows, trainLabels, classes, {}, validationRows as DenseRows | undefined);
  return {
    backbone: features.backbone,
    trainSpace,
    ...(validationSpace ? { validationSpace } : {}),
    outOfFold: fold.train,
    ...(fold.heldOut ? { validationProbabilities: fold.heldOut } : {}),
  };
}

/** Unit rows of several backbones side by side, each scaled by 1/sqrt(B): a dot product is the mean cosine. */
function jointSpace(spaces: NeighbourSpace[]): NeighbourSpace {
  if (spaces.length === 1) return spaces[0];
  const n = spaces[0].n;
  const dims = spaces.reduce((a, s) => a + s.dims, 0);
  const unit = new Float32Array(n * dims);
  const w = 1 / Math.sqrt(spaces.length);
  for (let i = 0; i < n; i++) {
    let at = i * dims;
    for (const s of spaces) {
      for (let c = 0; c < s.dims; c++) unit[at + c] = s.unit[i * s.dims + c] * w;
      at += s.dims;
    }
  }
  return { unit, n, dims };
}

function average(arrays: ArrayLike<number>[], length: number): Float64Array {
  const out = new Float64Array(length);
  for (const a of arrays) for (let i = 0; i < length; i++) out[i] += a[i] / arrays.length;
  return out;
}

/** Whether the views can rank label issues and outliers: some features, two classes, more images than classes. */
function findsLabelIssues(input: AuditFindingsInput): boolean {
  return (input.views ?? []).length > 0 && input.classNames.length >= 2 && input.train.files.length > input.classNames.length;
}

function hasValidationViews(input: AuditFindingsInput): boolean {
  const count = input.validation?.files.length ?? 0;
  return count > 0 && (input.views ?? []).every((v) => v.validationSpace && v.validationSpace.n === count);
}

/** auditFindings with the neighbour search on onnxruntime (as compare and auditDataset run it). */
export async function auditFindingsOnnx(input: AuditFindingsInput): Promise<AuditResult> {
  if (!findsLabelIssues(input) || input.neighbourLists) return auditFindings(input);
  const started = performance.now();
  const views = input.views!;
  const k = input.neighbours ?? 10;
  const trainSpace = jointSpace(views.map((v) => v.trainSpace));
  const train = await nearestNeighboursOnnx(trainSpace, trainSpace, k, true);
  const validation = hasValidationViews(input) ? await nearestNeighboursOnnx(jointSpace(views.map((v) => v.validationSpace!)), trainSpace, k, false) : undefined;
  const neighbours = round((performance.now() - started) / 1000, 3);
  return auditFindings({ ...input, neighbourLists: { train, ...(validation ? { validation } : {}) }, phaseSeconds: { ...(input.phaseSeconds ?? {}), neighbours } });
}

/** The finders on features and fingerprints already computed. */
export function auditFindings(input: AuditFindingsInput): AuditResult {
  const started = performance.now();
  const phaseSeconds: Record<string, number> = { ...(input.phaseSeconds ?? {}) };
  const tick = (name: string, since: number): number => {
    const now = performance.now();
    phaseSeconds[name] = round((phaseSeconds[name] ?? 0) + (now - since) / 1000, 3);
    return now;
  };
  const { classNames, train } = input;
  const validation = input.validation ?? { files: [], labels: new Int32Array(0) };
  const classes = classNames.length;
  const views = input.views ?? [];
  for (const v of views) {
    if (v.trainSpace.n !== train.files.length) throw invalidArgument('views', `${v.trainSpace.n} training rows of ${v.backbone}`, `one row per training file (${train.files.length})`);
  }
  const k = input.neighbours ?? 10;
  const labelIssues: LabelIssue[] = [];
  const outliers: Outlier[] = [];
  let t = performance.now();
  if (findsLabelIssues(input)) {
    const hasValidation = hasValidationViews(input);
    const trainSpace = input.neighbourLists ? undefined : jointSpace(views.map((v) => v.trainSpace));
    const trainNeighbours = input.neighbourLists?.train ?? nearestNeighbours(trainSpace!, trainSpace!, k, true);
    const validationNeighbours = hasValidation ? input.neighbourLists?.validation ?? nearestNeighbours(jointSpace(views.map((v) => v.validationSpace!)), trainSpace!, k, false) : undefined;
    if (!input.neighbourLists) t = tick('neighbours', t);

    const oofTrain = average(views.map((v) => v.outOfFold), train.files.length * classes);
    const heldOutParts = views.map((v) => v.validationProbabilities).filter((h): h is Float64Array => h !== undefined);
    // Held-out images without fold-model probabilities (the probe's were used) are judged by their neighbours.
    const oofValidation = hasValidation && heldOutParts.length === views.length ? average(heldOutParts, validation.files.length * classes) : undefined;
    const votesOnly = hasValidation && !oofValidation;
    const settings = { neighbourWeight: input.neighbourWeight, minMargin: input.minMargin };
    const blendedTrain = blendedProbabilities(oofTrain, train.labels, classes, { ...settings, neighbours: trainNeighbours });
    const thresholds = classThresholds(blendedTrain, train.labels, classes);
    const push = (split: AuditSplit, data: AuditSplitData) => (c: { index: number; given: number; suggested: number; score: number }) =>
      labelIssues.push({ file: data.files[c.index], split, givenLabel: classNames[c.given], suggestedLabel: classNames[c.suggested], score: round(c.score) });
    findLabelIssues(oofTrain, train.labels, classes, { ...settings, neighbours: trainNeighbours, thresholds }).forEach(push('train', train));
    if (validationNeighbours && (oofValidation || votesOnly)) {
      const probabilities = oofValidation ?? neighbourVotes(validationNeighbours, train.labels, classes, validation.files.length);
      const weight = oofValidation ? settings.neighbourWeight : 0;
      findLabelIssues(probabilities, validation.labels, classes, { ...settings, neighbourWeight: weight, neighbours: validationNeighbours, referenceLabels: train.labels, thresholds }).forEach(push('validation', validation));
    }
    labelIssues.sort((a, b) => b.score - a.score);
    t = tick('labelIssues', t);

    const scale = robustScale(neighbourDistances(trainNeighbours, train.files.length));
    const outlierOptions = { minScore: input.outlierScore };
    const pushOutlier = (split: AuditSplit, data: AuditSplitData) => (o: { index: number; score: number; nearest: number }) =>
      outliers.push({ file: data.files[o.index], split, score: round(o.score, 2), givenLabel: classNames[data.labels[o.index]], nearestLabel: classNames[o.nearest] ?? '' });
    findOutliers(trainNeighbours, train.files.length, train.labels, scale, outlierOptions).forEach(pushOutlier('train', train));
    if (validationNeighbours) findOutliers(validationNeighbours, validation.files.length, train.labels, scale, outlierOptions).forEach(pushOutlier('validation', validation));
    outliers.sort((a, b) => b.score - a.score);
    t = tick('outliers', t);
  }

  const duplicates: DuplicateGroup[] = [];
  if (input.fingerprints) {
    const all = [...input.fingerprints.train, ...(input.fingerprints.validation ?? [])];
    const fileAt = (i: number): AuditFile => (i < train.files.length ? { file: train.files[i], split: 'train' } : { file: validation.files[i - train.files.length], split: 'validation' });
    for (const cluster of findDuplicates(all, input.duplicates)) {
      const files = cluster.members.map(fileAt);
      duplicates.push({ files, kind: cluster.kind, leak: new Set(files.map((f) => f.split)).size > 1, similarity: cluster.similarity });
    }
    // Leaks first: they make the held-out accuracy lie.
    duplicates.sort((a, b) => Number(b.leak) - Number(a.leak));
    t = tick('duplicates', t);
  }

  const perClass = new Array<number>(classes).fill(0);
  for (const issue of labelIssues) if (issue.split === 'train') perClass[classNames.indexOf(issue.givenLabel)]++;
  const balance = classBalance(classNames, train.labels, validation.labels, perClass);
  const leaks = duplicates.filter((d) => d.leak);
  return {
    labelIssues,
    duplicates,
    outliers,
    classes: balance.classes,
    counts: {
      images: { train: train.files.length, validation: validation.files.length },
      labelIssues: labelIssues.length,
      duplicateGroups: duplicates.length,
      leaks: leaks.length,
      leakedValidationFiles: leaks.reduce((a, d) => a + d.files.filter((f) => f.split === 'validation').length, 0),
      outliers: outliers.length,
      imbalanceRatio: balance.imbalanceRatio,
    },
    backbones: views.map((v) => v.backbone),
    method: describeMethod(input, views.length),
    seconds: round((performance.now() - started) / 1000 + Object.entries(input.phaseSeconds ?? {}).reduce((a, [, v]) => a + v, 0), 3),
    phaseSeconds,
  };
}

function describeMethod(input: AuditSettings, backbones: number): string {
  if (backbones === 0) return 'no features: duplicates and class balance only';
  return (
    `label issues: confident learning on out-of-fold logistic-regression probabilities blended ${1 - (input.neighbourWeight ?? 0.5)}:${input.neighbourWeight ?? 0.5} ` +
    `with the labels of the ${input.neighbours ?? 10} nearest training images${backbones > 1 ? ` (${backbones} backbones averaged)` : ''}, ` +
    `kept when p(suggested) - p(given) >= ${input.minMargin ?? 0.5}, ranked by that margin`
  );
}

/** 'class/name' of an absolute path inside `dir`. */
export function relativeName(dir: string, path: string): string {
  return relative(dir, path).split(sep).join('/');
}

/**
 * Aligns the splits of several backbones' features to one list of files (the files every backbone
 * read), so row i is the same image everywhere.
 */
export function alignFeatures(perBackbone: { backbone: string; splits: SplitFeatures[] }[], dirs: string[]): { splits: AuditSplitData[]; features: AuditBackboneFeatures[] } {
  const splits: AuditSplitData[] = [];
  const rowsOf: number[][][] = perBackbone.map(() => []);
  dirs.forEach((dir, s) => {
    const common = perBackbone[0].splits[s].filepaths.filter((p) => perBackbone.every((b) => b.splits[s].filepaths.includes(p)));
    const first = perBackbone[0].splits[s];
    const labelOf = new Map(first.filepaths.map((p, i) => [p, first.labels[i]]));
    splits.push({ files: common.map((p) => relativeName(dir, p)), labels: Int32Array.from(common, (p) => labelOf.get(p)!) });
    perBackbone.forEach((b, bi) => {
      const at = new Map(b.splits[s].filepaths.map((p, i) => [p, i]));
      rowsOf[bi][s] = common.map((p) => at.get(p)!);
    });
  });
  const features = perBackbone.map((b, bi) => {
    const pick = (s: number): DenseRows => {
      const src = b.splits[s].rows;
      const rows = rowsOf[bi][s];
      const x = new Float64Array(rows.length * src.d);
      rows.forEach((r, i) => x.set(src.x.subarray(r * src.d, (r + 1) * src.d), i * src.d));
      return { x, n: rows.length, d: src.d };
    };
    return { backbone: b.backbone, train: pick(0), ...(dirs.length > 1 ? { validation: pick(1) } : {}) };
  });
  return { splits, features };
}

export interface AuditDatasetOptions extends AuditSettings {
  /** Folder with one sub-folder per class. */
  trainDir: string;
  /** A separate validation / test folder: duplicates across the two are reported as leaks. */
  valDir?: string;
  /** Backbones whose pooled features find label issues and outliers (averaged). Default ['mobilenet_v2']. [] = hashes only. */
  backbones?: string[];
  weights?: string;
  inputSize?: number;
  alpha?: number;
  batchSize?: number;
  /** Look for duplicates (perceptual hashes). Default true. */
  duplicatesCheck?: boolean;
  /**
   * Cache root of the fingerprint store (as `train`'s featureStore): fingerprints of files already
   * hashed (by an earlier audit or comparison) are read, not computed. Default the cache directory; false: off.
   */
  featureStore?: string | false;
  onProgress?: ProgressCallback;
  onLog?: (message: string) => void;
}

/** Audits a folder of class sub-folders (and a validation folder): label issues, duplicates and leaks, outliers, balance. */
export async function auditDataset(options: AuditDatasetOptions): Promise<AuditResult> {
  const dirs = [options.trainDir, ...(options.valDir ? [options.valDir] : [])];
  const backbones = options.backbones ?? ['mobilenet_v2'];
  const phaseSeconds: Record<string, number> = {};
  let t = performance.now();
  const perBackbone = [];
  for (const [index, backbone] of backbones.entries()) {
    // The first backbone's decode of every file gives the duplicate search its fingerprints.
    const keep = index === 0 && options.duplicatesCheck !== false ? { keepFingerprints: { root: options.featureStore } } : {};
    perBackbone.push(await folderFeatures(dirs, { backbone, weights: options.weights, inputSize: options.inputSize, alpha: options.alpha, batchSize: options.batchSize, onProgress: options.onProgress, onLog: options.onLog, ...keep }));
  }
  phaseSeconds.features = round((performance.now() - t) / 1000, 3);
  let classNames: string[];
  let splits: AuditSplitData[];
  const views: AuditView[] = [];
  let paths: string[][];
  const resolved = dirs.map((d) => resolve(d));
  if (perBackbone.length > 0) {
    const aligned = alignFeatures(perBackbone, resolved);
    classNames = perBackbone[0].classNames;
    splits = aligned.splits;
    t = performance.now();
    for (const f of aligned.features) views.push(auditView(f, splits[0].labels, classNames.length, options));
    phaseSeconds.outOfFold = round((performance.now() - t) / 1000, 3);
    paths = resolved.map((d, s) => splits[s].files.map((f) => join(d, ...f.split('/'))));
  } else {
    const listings = dirs.map((d, s) => scanDirectory(d, s === 0 ? {} : { classes: scanDirectory(dirs[0]).classNames }));
    classNames = listings[0].classNames;
    splits = listings.map((l) => ({ files: l.filenames, labels: l.classes }));
    paths = listings.map((l) => l.filepaths);
  }
  let fingerprints: AuditFindingsInput['fingerprints'];
  if (options.duplicatesCheck !== false) {
    t = performance.now();
    const { prints } = await storedFingerprints(paths.flat(), { root: options.featureStore, concurrency: 8, onProgress: options.onProgress });
    fingerprints = { train: prints.slice(0, paths[0].length), validation: prints.slice(paths[0].length) };
    phaseSeconds.hashes = round((performance.now() - t) / 1000, 3);
  }
  return auditFindingsOnnx({ ...options, classNames, train: splits[0], validation: splits[1], views, fingerprints, phaseSeconds });
}
