// What `compare` produces: one row per backbone, the reference experiment's table, and a recommendation.
import type { Misclassified } from '../inference/evaluate.js';
import type { AuditResult } from '../train/audit/types.js';

export interface EpochRecord {
  epoch: number;
  phase: string;
  loss: number;
  accuracy: number;
  valLoss?: number;
  valAccuracy?: number;
}


export interface BackboneResult {
  /** The run's label: the backbone id, or in a sweep what differs between runs ('mobilenet lr=1e-3'). */
  id: string;
  /** The backbone of the run, and its grid values in a sweep. */
  backbone?: string;
  settings?: Record<string, string>;
  totalParams: number;
  trainableParams: number;
  nonTrainableParams: number;
  elapsedSeconds: number;
  /** Accuracy on the held-out data (the comparison's yardstick). */
  accuracy: number;
  valLoss: number;
  /**
   * Held-out accuracy of the linear probe (logistic regression on the frozen backbone's pooled features),
   * when the run had a frozen-backbone phase; the baseline that fine-tuning should beat.
   */
  linearProbeAccuracy?: number;
  /** The probe's regularisation (C, chosen by cross-validation on the training data) and solver time. */
  linearProbe?: { c: number; trainAccuracy: number; seconds: number; features: number };
  /** What happened to BatchNorm moving statistics: recalibrated after which phase, skipped, or nothing to do. */
  batchNorm?: string;
  /** Held-out accuracy far below training accuracy, or below the linear probe's: the run's warnings, with their likely causes, one line each. */
  warning?: string;
  /** Last training accuracy, for the overfitting gap (trainAccuracy - accuracy). */
  trainAccuracy: number;
  epochs: number;
  engine: string;
  weightsSource: string;
  classNames: string[];
  confusionMatrix: number[][];
  history: EpochRecord[];
  /** Held-out images it got wrong (the worst by loss, at most evaluate's misclassifiedLimit), their paths relative to the held-out folder. */
  misclassified: Misclassified[];
  /** Held-out images it got wrong in all (the list above may hold only the worst of them). */
  misclassifiedCount?: number;
  /** Seconds per phase: build, weights, train-head, fine-tune, evaluate... */
  phaseSeconds: Record<string, number>;
  runDir?: string;
}

export interface FailedBackbone {
  id: string;
  backbone?: string;
  settings?: Record<string, string>;
  error: string;
}

export type CompareRow = ({ ok: true } & BackboneResult) | ({ ok: false } & FailedBackbone);

export interface Recommendation {
  id: string;
  reason: string;
}

export interface CompareResult {
  dataset: string;
  /** The folder of the held-out images (misclassified files are relative to it). */
  heldOutDir: string;
  /** Where the run directories are (and where writeCompareReport writes by default). */
  outDir: string;
  rows: CompareRow[];
  recommendation: Recommendation | null;
  rule: string;
  config: Record<string, unknown>;
  startedAt: string;
  elapsedSeconds: number;
  /** The data audit (compare's `audit` option, on by default): label issues, duplicates and leaks, outliers, balance. */
  audit?: AuditResult;
}
