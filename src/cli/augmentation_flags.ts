// The augmentation flags shared by `tlkit augment`, `train` and `compare`: one spec, one usage text,
// one translation to ImageDataGeneratorOptions (Keras kwargs in kebab-case). The random ops' flags come
// from the ops themselves (data/transforms/registry.ts); the resample's and standardize's are here.
import { UsageError } from '../core/errors.js';
import type { ImageDataGeneratorOptions } from '../data/image_data_generator.js';
import { FILL_MODES, type FillMode } from '../data/transforms/affine.js';
import type { AugmentationFlag } from '../data/transforms/augmentation_op.js';
import { AUGMENTATION_OPS } from '../data/transforms/registry.js';
import { choiceFlag, numberFlag, numberListFlag, stringFlag, type FlagSpec, type ParsedArgs } from './args.js';

/** The resample's and standardize's flags, beside the ops' own. */
const settingFlags = [
  { flag: 'fill-mode', type: 'string', usage: `--fill-mode M`, help: `${FILL_MODES.join(', ')} (default nearest)` },
  { flag: 'cval', type: 'string', usage: '--cval X', help: 'fill value for --fill-mode constant (default 0)' },
  { flag: 'rescale', type: 'string', usage: '--rescale X', help: 'multiply pixel values, e.g. 1/255 (after --preprocess, as Keras)' },
  { flag: 'samplewise-center', type: 'boolean', usage: '--samplewise-center', help: "subtract each image's mean" },
  { flag: 'samplewise-std-normalization', type: 'boolean', usage: '--samplewise-std-normalization', help: 'divide each image by its std' },
  { flag: 'interpolation-order', type: 'string', usage: '--interpolation-order N', help: '0 nearest or 1 bilinear (default) for rotations, shifts, shear, zoom' },
  { flag: 'augment-validation', type: 'boolean', usage: '--augment-validation', help: 'augment the validation subset too (Keras does; tlkit does not by default)' },
] as const;

/** Every augmentation op's flags, in the registry's order (data/transforms/registry.ts). */
const opFlags: readonly AugmentationFlag[] = AUGMENTATION_OPS.flatMap((op) => op.flags);

export const augmentationFlagSpec: FlagSpec = Object.fromEntries([
  ...opFlags.map((f) => [f.flag, { type: f.value === 'switch' ? 'boolean' : 'string' }] as const),
  ...settingFlags.map((f) => [f.flag, { type: f.type }] as const),
]);

function usageLine(left: string, help: string): string {
  return `  ${left.length >= 27 ? `${left}  ` : left.padEnd(27)}${help}`;
}

export const augmentationFlagUsage = [
  'Augmentation (Keras ImageDataGenerator options):',
  ...opFlags.map((f) => usageLine(`--${f.flag}${f.metavar ? ` ${f.metavar}` : ''}`, f.help)),
  ...settingFlags.map((f) => usageLine(f.usage, f.help)),
].join('\n');

/** One op flag's value, parsed as its kind says; undefined when not given. */
function opFlagValue(values: ParsedArgs['values'], f: AugmentationFlag): unknown {
  switch (f.value) {
    case 'switch':
      return values[f.flag] ? true : undefined;
    case 'number':
      return numberFlag(values, f.flag, { min: 0 });
    case 'pair':
      return numberListFlag(values, f.flag, 2);
    case 'number-or-list':
    case 'number-or-pair': {
      const raw = stringFlag(values, f.flag);
      if (raw === undefined) return undefined;
      if (!raw.includes(',')) return numberFlag(values, f.flag, { min: 0 });
      return numberListFlag(values, f.flag, f.value === 'number-or-pair' ? 2 : undefined);
    }
  }
}

/** '1/255', '0.5', '2' -> number. */
function parseScalar(name: string, raw: string): number {
  const m = /^\s*([0-9.eE+-]+)\s*\/\s*([0-9.eE+-]+)\s*$/.exec(raw);
  const value = m ? Number(m[1]) / Number(m[2]) : raw.trim() === '' ? NaN : Number(raw);
  if (!Number.isFinite(value)) throw new UsageError(`--${name} expects a number or a fraction like 1/255; got '${raw}'`, name);
  return value;
}

/** Flags -> ImageDataGeneratorOptions (only the options given; Keras defaults apply to the rest). */
export function augmentationOptionsFromFlags(values: ParsedArgs['values']): ImageDataGeneratorOptions {
  const o: Record<string, unknown> = {};
  for (const f of opFlags) {
    const value = opFlagValue(values, f);
    if (value !== undefined) o[f.option] = value;
  }
  const fill = choiceFlag<FillMode>(values, 'fill-mode', FILL_MODES);
  if (fill !== undefined) o.fillMode = fill;
  const cval = numberFlag(values, 'cval');
  if (cval !== undefined) o.cval = cval;
  const rescale = stringFlag(values, 'rescale');
  if (rescale !== undefined) o.rescale = parseScalar('rescale', rescale);
  if (values['samplewise-center']) o.samplewiseCenter = true;
  if (values['samplewise-std-normalization']) o.samplewiseStdNormalization = true;
  const order = choiceFlag(values, 'interpolation-order', ['0', '1'] as const);
  if (order !== undefined) o.interpolationOrder = Number(order) as 0 | 1;
  return o as ImageDataGeneratorOptions;
}

/** --augment-validation is an iterator option, not a generator one. */
export function augmentValidationFromFlags(values: ParsedArgs['values']): boolean {
  return Boolean(values['augment-validation']);
}
