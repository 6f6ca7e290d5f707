// "Similar accuracy, so the fastest": the user says what similar means (a tolerance on accuracy) and
// how to break ties among the similar ones (time, params, overfitting gap), since that differs per company.
import { UsageError } from '../core/errors.js';
import type { BackboneResult, Recommendation } from './types.js';

export type TieBreak = 'time' | 'params' | 'gap' | 'accuracy';
export const TIE_BREAKS: readonly TieBreak[] = ['time', 'params', 'gap', 'accuracy'];

export interface SelectionRule {
  /** Backbones whose accuracy is at least best - tolerance count as equally good. */
  tolerance: number;
  /** Order in which to prefer among them; each is "smaller is better" except accuracy. */
  tieBreaks: TieBreak[];
}

export const DEFAULT_RULE: SelectionRule = { tolerance: 0.01, tieBreaks: ['time', 'params', 'gap'] };

/**
 * Parses `--select`: `within=0.01,time,params,gap` (any order of tie-breaks; `within=` optional,
 * default 0.01; a bare number is the tolerance). Examples: `0.02`, `time`, `within=0,params,time`.
 */
export function parseSelectionRule(text: string | undefined): SelectionRule {
  if (text === undefined || text.trim() === '') return { ...DEFAULT_RULE, tieBreaks: [...DEFAULT_RULE.tieBreaks] };
  let tolerance = DEFAULT_RULE.tolerance;
  const tieBreaks: TieBreak[] = [];
  for (const raw of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const value = raw.startsWith('within=') ? raw.slice('within='.length) : raw;
    if (raw.startsWith('within=') || /^[0-9.]+$/.test(raw)) {
      const t = Number(value);
      if (!Number.isFinite(t) || t < 0 || t > 1) {
        throw new UsageError(`--select: the accuracy tolerance must be a number in [0, 1]; got '${raw}'`, 'select');
      }
      tolerance = t;
    } else if ((TIE_BREAKS as readonly string[]).includes(raw)) {
      if (!tieBreaks.includes(raw as TieBreak)) tieBreaks.push(raw as TieBreak);
    } else {
      throw new UsageError(
        `--select: unknown part '${raw}'. Expected within=TOLERANCE and tie-breaks among ${TIE_BREAKS.join(', ')} (e.g. within=0.01,time,params)`,
        'select',
      );
    }
  }
  return { tolerance, tieBreaks: tieBreaks.length > 0 ? tieBreaks : [...DEFAULT_RULE.tieBreaks] };
}

export function describeRule(rule: SelectionRule): string {
  return `accuracy within ${rule.tolerance.toFixed(3)} of the best, then ${rule.tieBreaks.map(tieBreakWords).join(', then ')}`;
}

function tieBreakWords(t: TieBreak): string {
  switch (t) {
    case 'time':
      return 'the fastest';
    case 'params':
      return 'the fewest parameters';
    case 'gap':
      return 'the smallest overfitting gap';
    case 'accuracy':
      return 'the most accurate';
  }
}

type Candidate = Pick<BackboneResult, 'id' | 'accuracy' | 'elapsedSeconds' | 'totalParams' | 'trainAccuracy'>;

function key(c: Candidate, t: TieBreak): number {
  switch (t) {
    case 'time':
      return c.elapsedSeconds;
    case 'params':
      return c.totalParams;
    case 'gap':
      return c.trainAccuracy - c.accuracy;
    case 'accuracy':
      return -c.accuracy;
  }
}

// Accuracies are ratios of small counts; compare them with a little slack so 0.99 - 0.98 is "within 0.01".
const EPS = 1e-9;

/** Picks one backbone by the rule and says why in words a person can check against the table. */
export function selectBackbone(results: Candidate[], rule: SelectionRule): Recommendation | null {
  if (results.length === 0) return null;
  const best = results.reduce((a, b) => (b.accuracy > a.accuracy ? b : a));
  const similar = results.filter((r) => r.accuracy >= best.accuracy - rule.tolerance - EPS);
  const ranked = [...similar].sort((a, b) => {
    for (const t of rule.tieBreaks) {
      const d = key(a, t) - key(b, t);
      if (Math.abs(d) > EPS) return d;
    }
    return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  });
  const pick = ranked[0];
  const parts: string[] = [];
  if (pick.id === best.id) {
    parts.push(`the best accuracy (${pick.accuracy.toFixed(3)})`);
  } else {
    parts.push(`accuracy ${pick.accuracy.toFixed(3)}, within ${rule.tolerance.toFixed(3)} of the best (${best.accuracy.toFixed(3)}, ${best.id})`);
  }
  if (similar.length === 1) {
    parts.push('the only backbone within the tolerance');
  } else {
    const first = rule.tieBreaks[0];
    const others = similar.filter((r) => r.id !== pick.id);
    if (first === 'time' && pick.id !== best.id && pick.elapsedSeconds > 0) {
      parts.push(`${(best.elapsedSeconds / pick.elapsedSeconds).toFixed(1)}x faster than the most accurate`);
    } else if (first === 'time') {
      parts.push(`the fastest of the ${similar.length} similar backbones`);
    } else if (first === 'params' && pick.id !== best.id) {
      parts.push(`${(best.totalParams / pick.totalParams).toFixed(1)}x fewer parameters than the most accurate`);
    } else {
      parts.push(`${tieBreakWords(first)} of ${[pick.id, ...others.map((o) => o.id)].join(', ')}`);
    }
  }
  return { id: pick.id, reason: `${pick.id}: ${parts.join(' and ')}` };
}
