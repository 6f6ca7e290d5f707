// Random shifts (Keras width_shift_range, height_shift_range): one translation factor of the affine
// resample, tx drawn before ty.
import { invalidArgument } from '../../core/errors.js';
import type { Random } from '../../core/random.js';
import { checkNonNegative, type AugmentationOp } from './augmentation_op.js';

/** A shift range: a fraction of the size (< 1), pixels (>= 1), or a list of allowed values (Keras). */
export type ShiftRange = number | number[];

export interface ShiftOptions {
  /**
   * Horizontal shift. A float f < 1: uniform in [-f, f] times the width; a float >= 1: uniform pixels in
   * [-f, f]; an integer n >= 1: integer pixels in (-n, n) (Keras's int case; in JS any integer-valued
   * number counts as int); a list: one of its values with a random sign (fractions if all < 1).
   */
  widthShiftRange?: ShiftRange;
  /** Vertical shift, as widthShiftRange with the height. */
  heightShiftRange?: ShiftRange;
}

function checkShiftRange(name: string, value: unknown): ShiftRange {
  if (Array.isArray(value)) {
    if (value.some((v) => typeof v !== 'number' || !Number.isFinite(v))) throw invalidArgument(name, value, 'a number or a list of numbers');
    return [...value];
  }
  return checkNonNegative(name, value);
}

function isZero(range: ShiftRange): boolean {
  return Array.isArray(range) ? range.every((v) => v === 0) : range === 0;
}

/** One shift draw, Keras's get_random_transform rules. */
function drawShift(range: ShiftRange, size: number, rng: Random): number {
  if (Array.isArray(range)) {
    if (range.length === 0) return 0;
    let v = rng.choice(range) * (rng.random() < 0.5 ? -1 : 1);
    if (Math.max(...range) < 1) v *= size;
    return v;
  }
  if (range === 0) return 0;
  if (Number.isInteger(range) && range >= 1) return rng.int(range) * (rng.random() < 0.5 ? -1 : 1);
  const v = rng.uniform(-range, range);
  return range < 1 ? v * size : v;
}

export const shift: AugmentationOp = {
  name: 'shift',
  options: ['widthShiftRange', 'heightShiftRange'],
  check: (o: ShiftOptions) => ({
    widthShiftRange: checkShiftRange('widthShiftRange', o.widthShiftRange ?? 0),
    heightShiftRange: checkShiftRange('heightShiftRange', o.heightShiftRange ?? 0),
  }),
  enabled: (r) => !isZero(r.widthShiftRange) || !isZero(r.heightShiftRange),
  draw: (r, rng, shape, params) => {
    const [h, w] = shape;
    params.tx = drawShift(r.widthShiftRange, w, rng);
    params.ty = drawShift(r.heightShiftRange, h, rng);
  },
  changes: (p) => (p.tx ?? 0) !== 0 || (p.ty ?? 0) !== 0,
  affine: (p) => {
    const tx = p.tx ?? 0;
    const ty = p.ty ?? 0;
    if (tx === 0 && ty === 0) return null;
    return [
      [1, 0, tx],
      [0, 1, ty],
      [0, 0, 1],
    ];
  },
  flags: [
    { flag: 'width-shift-range', option: 'widthShiftRange', value: 'number-or-list', metavar: 'F', help: 'horizontal shift: fraction of the width if < 1, else pixels; or a list a,b,c' },
    { flag: 'height-shift-range', option: 'heightShiftRange', value: 'number-or-list', metavar: 'F', help: 'vertical shift, likewise' },
  ],
};
