// Sweeps: a comparison's runs are the cartesian product of its backbones and a grid of training options
// (`--grid lr=1e-3,1e-4 --grid fine-tune-from=last-block,all`). Every run shares the seed and the held-out
// data, so the grid may vary only what a recipe is, never what it is measured on.
import { UsageError } from '../core/errors.js';
import type { TrainRunOptions } from '../train/run/run.js';

/** Options a grid may vary. Seed, data and split stay shared: otherwise the runs would not be comparable. */
export const SWEEPABLE_OPTIONS = [
  'learningRate',
  'optimizer',
  'batchSize',
  'epochs',
  'fineTuneFrom',
  'fineTuneEpochs',
  'fineTuneLr',
  'freezeBackbone',
  'head',
  'inputSize',
  'alpha',
  'weights',
  'classMode',
  'classWeight',
  'earlyStoppingPatience',
  'reduceLrPatience',
  'engine',
  'augmentation',
] as const satisfies readonly (keyof TrainRunOptions)[];

export type SweepableOptions = Partial<Pick<TrainRunOptions, (typeof SWEEPABLE_OPTIONS)[number]>>;

/** One dimension of a grid: its name as the user wrote it and each value's label and options. */
export interface SweepAxis {
  name: string;
  values: { label: string; options: SweepableOptions }[];
}

/** One run of a comparison: which backbone, which grid values, and how it is labelled in tables. */
export interface PlannedRun {
  /** Unique within the comparison: the backbone and/or the grid values that differ between runs. */
  label: string;
  backbone: string;
  /** Grid values of this run by axis name (empty without a grid). */
  settings: Record<string, string>;
  /** Options this run overrides on top of the comparison's shared ones. */
  options: SweepableOptions;
  /** Its run directory's name under the comparison's out dir. */
  dirName: string;
}

/** A library grid `{ learningRate: [1e-3, 1e-4] }` as axes labelled by the option name. */
export function gridAxes(grid: Record<string, readonly unknown[]> | readonly SweepAxis[] | undefined): SweepAxis[] {
  if (grid === undefined) return [];
  if (Array.isArray(grid)) return checkAxes(grid as readonly SweepAxis[]);
  const axes = Object.entries(grid as Record<string, readonly unknown[]>).map(([name, values]) => {
    if (!Array.isArray(values) || values.length === 0) throw new UsageError(`grid.${name}: expected a non-empty list of values. Received: ${JSON.stringify(values)}`, 'grid');
    return { name, values: values.map((v) => ({ label: typeof v === 'string' ? v : JSON.stringify(v), options: { [name]: v } as SweepableOptions })) };
  });
  return checkAxes(axes);
}

function checkAxes(axes: readonly SweepAxis[]): SweepAxis[] {
  const seen = new Set<string>();
  for (const axis of axes) {
    if (seen.has(axis.name)) throw new UsageError(`grid: '${axis.name}' is given twice; put all its values in one list`, 'grid');
    seen.add(axis.name);
    if (axis.values.length === 0) throw new UsageError(`grid: '${axis.name}' has no values`, 'grid');
    const labels = axis.values.map((v) => v.label);
    if (new Set(labels).size !== labels.length) throw new UsageError(`grid: '${axis.name}' repeats a value (${labels.join(', ')})`, 'grid');
    for (const value of axis.values) {
      for (const key of Object.keys(value.options)) {
        if (!(SWEEPABLE_OPTIONS as readonly string[]).includes(key)) {
          throw new UsageError(
            `grid: '${axis.name}' sets ${key}, which every run of a comparison shares (same seed, same held-out data). Options a grid can vary: ${SWEEPABLE_OPTIONS.join(', ')}`,
            'grid',
          );
        }
      }
    }
  }
  return [...axes];
}

function cartesian<T>(lists: T[][]): T[][] {
  return lists.reduce<T[][]>((acc, list) => acc.flatMap((prefix) => list.map((item) => [...prefix, item])), [[]]);
}

/** Characters safe in a folder name on every OS; the rest become '_'. */
function folderName(text: string): string {
  return text.replace(/[^A-Za-z0-9._=-]+/g, '_').replace(/^[._]+/, '') || 'run';
}

/**
 * Backbones x grid, in that order (backbone outermost, the first axis next). A run's label names what
 * differs between runs: the backbone when there are several, and each axis with more than one value.
 */
export function expandSweep(backbones: readonly string[], axes: readonly SweepAxis[]): PlannedRun[] {
  if (backbones.length === 0) throw new UsageError('a comparison needs at least one backbone', 'backbones');
  const varying = axes.filter((a) => a.values.length > 1).map((a) => a.name);
  const combos = cartesian(axes.map((a) => a.values.map((v) => ({ axis: a.name, ...v }))));
  const runs: PlannedRun[] = [];
  for (const backbone of backbones) {
    for (const combo of combos) {
      const settings = Object.fromEntries(combo.map((c) => [c.axis, c.label]));
      const options = Object.assign({}, ...combo.map((c) => c.options)) as SweepableOptions;
      const parts = [...(backbones.length > 1 || varying.length === 0 ? [backbone] : []), ...varying.map((name) => `${name}=${settings[name]}`)];
      const label = parts.join(' ');
      const dirName = varying.length === 0 ? backbone : folderName([backbone, ...varying.map((name) => `${name}=${settings[name]}`)].join('_'));
      runs.push({ label, backbone, settings, options, dirName });
    }
  }
  const labels = runs.map((r) => r.label);
  const duplicate = labels.find((l, i) => labels.indexOf(l) !== i);
  if (duplicate !== undefined) throw new UsageError(`two runs of the comparison would both be '${duplicate}': list each backbone once`, 'backbones');
  const dirs = runs.map((r) => r.dirName);
  const clash = dirs.find((d, i) => dirs.indexOf(d) !== i);
  if (clash !== undefined) throw new UsageError(`two runs of the comparison would share the run directory '${clash}'; use grid values that differ in letters or digits`, 'grid');
  return runs;
}
