// The augmentation flags shared by `tlkit augment`, `train` and `compare`: one spec, one usage text,
// one translation to ImageDataGeneratorOptions (Keras kwargs in kebab-case).
import { UsageError } from '../core/errors.js';
import type { ImageDataGeneratorOptions } from '../data/image_data_generator.js';
import { FILL_MODES, type FillMode } from '../data/transforms/affine.js';
import { choiceFlag, numberFlag, numberListFlag, stringFlag, type FlagSpec, type ParsedArgs } from './args.js';

export const augmentationFlagSpec = {
  'rotation-range': { type: 'string' },
  'width-shift-range': { type: 'string' },
  'height-shift-range': { type: 'string' },
  'shear-range': { type: 'string' },
  'zoom-range': { type: 'string' },
  'channel-shift-range': { type: 'string' },
  'brightness-range': { type: 'string' },
  'fill-mode': { type: 'string' },
  cval: { type: 'string' },
  'horizontal-flip': { type: 'boolean' },
  'vertical-flip': { type: 'boolean' },
  rescale: { type: 'string' },
  'samplewise-center': { type: 'boolean' },
  'samplewise-std-normalization': { type: 'boolean' },
  'interpolation-order': { type: 'string' },
  'augment-validation': { type: 'boolean' },
} as const satisfies FlagSpec;

export const augmentationFlagUsage = `Augmentation (Keras ImageDataGenerator options):
  --rotation-range DEG       random rotation in [-DEG, DEG]
  --width-shift-range F      horizontal shift: fraction of the width if < 1, else pixels; or a list a,b,c
  --height-shift-range F     vertical shift, likewise
  --shear-range DEG          shear angle in [-DEG, DEG]
  --zoom-range Z|LO,HI       zoom factor in [1-Z, 1+Z] or [LO, HI]; < 1 zooms in
  --channel-shift-range X    add a value in [-X, X] to every channel
  --brightness-range LO,HI   PIL brightness factor, e.g. 0.8,1.2
  --fill-mode M              ${FILL_MODES.join(', ')} (default nearest)
  --cval X                   fill value for --fill-mode constant (default 0)
  --horizontal-flip          flip half of the images left-right
  --vertical-flip            flip half of the images upside down
  --rescale X                multiply pixel values, e.g. 1/255 (after --preprocess, as Keras)
  --samplewise-center        subtract each image's mean
  --samplewise-std-normalization  divide each image by its std
  --interpolation-order N    0 nearest or 1 bilinear (default) for rotations, shifts, shear, zoom
  --augment-validation       augment the validation subset too (Keras does; tlkit does not by default)`;

/** '1/255', '0.5', '2' -> number. */
function parseScalar(name: string, raw: string): number {
  const m = /^\s*([0-9.eE+-]+)\s*\/\s*([0-9.eE+-]+)\s*$/.exec(raw);
  const value = m ? Number(m[1]) / Number(m[2]) : raw.trim() === '' ? NaN : Number(raw);
  if (!Number.isFinite(value)) throw new UsageError(`--${name} expects a number or a fraction like 1/255; got '${raw}'`, name);
  return value;
}

/** Flags -> ImageDataGeneratorOptions (only the options given; Keras defaults apply to the rest). */
export function augmentationOptionsFromFlags(values: ParsedArgs['values']): ImageDataGeneratorOptions {
  const o: ImageDataGeneratorOptions = {};
  const rotation = numberFlag(values, 'rotation-range', { min: 0 });
  if (rotation !== undefined) o.rotationRange = rotation;
  for (const [flag, key] of [
    ['width-shift-range', 'widthShiftRange'],
    ['height-shift-range', 'heightShiftRange'],
  ] as const) {
    const raw = stringFlag(values, flag);
    if (raw === undefined) continue;
    if (raw.includes(',')) o[key] = numberListFlag(values, flag)!;
    else o[key] = numberFlag(values, flag, { min: 0 })!;
  }
  const shear = numberFlag(values, 'shear-range', { min: 0 });
  if (shear !== undefined) o.shearRange = shear;
  const zoomRaw = stringFlag(values, 'zoom-range');
  if (zoomRaw !== undefined) o.zoomRange = zoomRaw.includes(',') ? (numberListFlag(values, 'zoom-range', 2) as [number, number]) : numberFlag(values, 'zoom-range', { min: 0 })!;
  const channelShift = numberFlag(values, 'channel-shift-range', { min: 0 });
  if (channelShift !== undefined) o.channelShiftRange = channelShift;
  const brightness = numberListFlag(values, 'brightness-range', 2);
  if (brightness !== undefined) o.brightnessRange = brightness as [number, number];
  const fill = choiceFlag<FillMode>(values, 'fill-mode', FILL_MODES);
  if (fill !== undefined) o.fillMode = fill;
  const cval = numberFlag(values, 'cval');
  if (cval !== undefined) o.cval = cval;
  if (values['horizontal-flip']) o.horizontalFlip = true;
  if (values['vertical-flip']) o.verticalFlip = true;
  const rescale = stringFlag(values, 'rescale');
  if (rescale !== undefined) o.rescale = parseScalar('rescale', rescale);
  if (values['samplewise-center']) o.samplewiseCenter = true;
  if (values['samplewise-std-normalization']) o.samplewiseStdNormalization = true;
  const order = choiceFlag(values, 'interpolation-order', ['0', '1'] as const);
  if (order !== undefined) o.interpolationOrder = Number(order) as 0 | 1;
  return o;
}

/** --augment-validation is an iterator option, not a generator one. */
export function augmentValidationFromFlags(values: ParsedArgs['values']): boolean {
  return Boolean(values['augment-validation']);
}
