// `--grid KEY=v1,v2` (repeatable): a sweep axis named by a training flag, each value translated by the
// same code as the flag itself, so `--grid lr=1e-3,1e-4` accepts exactly what `--lr` accepts.
import { UsageError } from '../core/errors.js';
import type { SweepAxis, SweepableOptions } from '../compare/sweep.js';
import { trainFlagSpec, trainOptionsFromFlags, definedOnly } from './train_flags.js';

const FLAGS = trainFlagSpec as Record<string, { type: 'string' | 'boolean' }>;

/** Flags every run of a comparison shares: they define the data and how it is measured, not the recipe. */
const SHARED_FLAGS = ['seed', 'val-dir', 'validation-split', 'augment-validation', 'workers', 'checkpoint-every'];

/** The flags a grid accepts: those whose option may differ between the runs of one comparison. */
export function sweepableFlags(): string[] {
  return Object.keys(FLAGS).filter((flag) => !SHARED_FLAGS.includes(flag));
}

function optionsOf(flag: string, value: string | boolean): SweepableOptions {
  const options = definedOnly(trainOptionsFromFlags({ [flag]: value })) as Record<string, unknown>;
  // Flags outside augmentation leave it an empty object; it is not part of this value.
  if (options.augmentation && Object.keys(options.augmentation).length === 0) delete options.augmentation;
  if (options.augmentValidation === false) delete options.augmentValidation;
  return options as SweepableOptions;
}

/**
 * Parses every `--grid` value into axes. Values are split on ',' or, when a value itself has commas
 * (a head spec, a brightness range), on ';'. Augmentation values add to the shared augmentation.
 */
export function gridAxesFromFlags(grids: readonly string[], sharedAugmentation: Record<string, unknown> | undefined): SweepAxis[] {
  return grids.map((text) => {
    const eq = text.indexOf('=');
    const name = eq > 0 ? text.slice(0, eq).trim().replace(/^--/, '') : '';
    const list = eq > 0 ? text.slice(eq + 1) : '';
    if (!name || !list.trim()) throw new UsageError(`--grid expects KEY=v1,v2 (e.g. --grid lr=1e-3,1e-4); got '${text}'`, 'grid');
    if (name === 'backbone' || name === 'backbones') throw new UsageError('--grid: list backbones with --backbones a,b; every backbone runs with every grid combination', 'grid');
    const sweepable = sweepableFlags();
    if (!sweepable.includes(name)) {
      const why = FLAGS[name] ? 'every run of a comparison shares it (same seed, same held-out data)' : 'not a training flag';
      throw new UsageError(`--grid: '${name}' cannot vary: ${why}. Flags a grid can vary: ${sweepable.join(', ')}`, 'grid');
    }
    const labels = list.split(list.includes(';') ? ';' : ',').map((v) => v.trim()).filter(Boolean);
    const values = labels.map((label) => {
      let value: string | boolean = label;
      if (FLAGS[name].type === 'boolean') {
        if (label !== 'true' && label !== 'false') throw new UsageError(`--grid ${name}: a switch takes true or false; got '${label}'`, 'grid');
        value = label === 'true';
      }
      let options: SweepableOptions;
      try {
        options = optionsOf(name, value);
      } catch (error) {
        throw new UsageError(`--grid ${name}=${label}: ${error instanceof Error ? error.message : String(error)}`, 'grid');
      }
      if (options.augmentation) options.augmentation = { ...sharedAugmentation, ...options.augmentation };
      return { label, options };
    });
    return { name, values };
  });
}
