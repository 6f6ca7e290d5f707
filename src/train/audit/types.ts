// What an audit finds, as plain data: the JSON shape of `tlkit audit --json`, of the compare report's
// audit section and of auditDataset's result. Files are 'class/name' relative to the folder given for
// their split, so a list of them can be fed back to `--exclude`.

/** 'train': the training folder (or its training subset); 'validation': --val-dir or the validation subset. */
export type AuditSplit = 'train' | 'validation';

export interface AuditFile {
  file: string;
  split: AuditSplit;
}

export interface LabelIssue extends AuditFile {
  /** The class folder the file is in. */
  givenLabel: string;
  /** The class the out-of-fold classifier (and the neighbours) put it in. */
  suggestedLabel: string;
  /** 0..1, higher = more likely mislabeled; the ranking key (see docs/audit.md). */
  score: number;
}

/**
 * 'exact': the same bytes. 'near': the same picture resized, re-encoded or lightly edited (perceptual hashes
 * within a Hamming distance, confirmed by the embeddings when there are some). `leak` is true when the
 * group spans train and validation: held-out accuracy then counts images the model was trained on.
 */
export type DuplicateKind = 'exact' | 'near';

export interface DuplicateGroup {
  files: AuditFile[];
  kind: DuplicateKind;
  leak: boolean;
  /** 1 for exact copies; else the lowest pairwise similarity in the group, 1 - hammingDistance / 64. */
  similarity: number;
}

export interface Outlier extends AuditFile {
  /** Distance to the nearest neighbours in embedding space, in robust standard deviations above the median. */
  score: number;
  /** The class it is nearest to (by its neighbours), for the report. */
  nearestLabel: string;
  givenLabel: string;
}

export interface ClassBalance {
  name: string;
  train: number;
  validation: number;
  /** Share of the training images. */
  fraction: number;
  /** Label issues found in this class (given label). */
  labelIssues: number;
}

export interface AuditCounts {
  images: { train: number; validation: number };
  labelIssues: number;
  duplicateGroups: number;
  leaks: number;
  /** Files in leak groups on the validation side. */
  leakedValidationFiles: number;
  outliers: number;
  /** Largest class count / smallest (training images). */
  imbalanceRatio: number;
}

export interface AuditResult {
  labelIssues: LabelIssue[];
  duplicates: DuplicateGroup[];
  outliers: Outlier[];
  classes: ClassBalance[];
  counts: AuditCounts;
  /** Backbones whose pooled features were used (combined when more than one). */
  backbones: string[];
  /** How the label issues were ranked and cut, in one sentence (for reports). */
  method: string;
  seconds: number;
  /** Seconds per part: features, hashes, labelIssues, duplicates, outliers. */
  phaseSeconds: Record<string, number>;
}
