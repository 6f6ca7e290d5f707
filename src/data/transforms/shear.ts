// Random shear (Keras shear_range): an angle uniform in [-r, r] degrees, a factor of the affine resample.
import { checkNonNegative, type AugmentationOp } from './augmentation_op.js';

export interface ShearOptions {
  /** Degrees, uniform in [-r, r]. */
  shearRange?: number;
}

export const shear: AugmentationOp = {
  name: 'shear',
  options: ['shearRange'],
  check: (o: ShearOptions) => ({ shearRange: checkNonNegative('shearRange', o.shearRange ?? 0) }),
  enabled: (r) => r.shearRange !== 0,
  draw: (r, rng, _shape, params) => {
    params.shear = r.shearRange ? rng.uniform(-r.shearRange, r.shearRange) : 0;
  },
  changes: (p) => (p.shear ?? 0) !== 0,
  // Keras's shear matrix [[1, -sin], [0, cos]] in (x, y): a horizontal shear.
  affine: (p) => {
    const degrees = p.shear ?? 0;
    if (degrees === 0) return null;
    const sh = (degrees * Math.PI) / 180;
    return [
      [1, -Math.sin(sh), 0],
      [0, Math.cos(sh), 0],
      [0, 0, 1],
    ];
  },
  flags: [{ flag: 'shear-range', option: 'shearRange', value: 'number', metavar: 'DEG', help: 'shear angle in [-DEG, DEG]' }],
};
