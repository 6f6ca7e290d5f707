// Precision / recall of an audit against a planted set's ground truth.
import type { AuditResult } from '../../src/train/audit/audit.js';
import type { PlantedSet } from './planted_set.js';

export interface Scores {
  labelIssues: { flagged: number; precision: number; recall: number; f1: number; precisionTop1: number; top1: number };
  leaks: { pairs: number; precision: number; recall: number };
}

const f1 = (p: number, r: number): number => (p + r > 0 ? (2 * p * r) / (p + r) : 0);

export function scoreAudit(audit: AuditResult, truth: Pick<PlantedSet, 'flipped' | 'copies' | 'trainImages'>): Scores {
  const train = audit.labelIssues.filter((i) => i.split === 'train');
  const hits = train.filter((i) => truth.flipped.has(i.file)).length;
  const precision = train.length ? hits / train.length : 0;
  const recall = truth.flipped.size ? hits / truth.flipped.size : 0;
  const top = train.slice(0, Math.ceil(truth.trainImages * 0.01));
  // Cross-split pairs named by the leak groups (a group of m train and v validation files names m * v pairs).
  const pairs: [string, string][] = [];
  for (const group of audit.duplicates.filter((d) => d.leak)) {
    for (const a of group.files.filter((f) => f.split === 'train')) for (const b of group.files.filter((f) => f.split === 'validation')) pairs.push([a.file, b.file]);
  }
  const right = pairs.filter(([a, b]) => truth.copies.get(a) === b).length;
  return {
    labelIssues: { flagged: train.length, precision, recall, f1: f1(precision, recall), precisionTop1: top.length ? top.filter((i) => truth.flipped.has(i.file)).length / top.length : 0, top1: top.length },
    leaks: { pairs: pairs.length, precision: pairs.length ? right / pairs.length : 0, recall: truth.copies.size ? right / truth.copies.size : 0 },
  };
}
