// Random rotation (Keras rotation_range): theta uniform in [-r, r] degrees, a factor of the affine resample.
import { checkNonNegative, type AugmentationOp } from './augmentation_op.js';

export interface RotationOptions {
  /** Degrees; the angle is drawn uniformly in [-r, r]. */
  rotationRange?: number;
}

export const rotation: AugmentationOp = {
  name: 'rotation',
  options: ['rotationRange'],
  check: (o: RotationOptions) => ({ rotationRange: checkNonNegative('rotationRange', o.rotationRange ?? 0) }),
  enabled: (r) => r.rotationRange !== 0,
  draw: (r, rng, _shape, params) => {
    params.theta = r.rotationRange ? rng.uniform(-r.rotationRange, r.rotationRange) : 0;
  },
  changes: (p) => (p.theta ?? 0) !== 0,
  affine: (p) => {
    const degrees = p.theta ?? 0;
    if (degrees === 0) return null;
    const t = (degrees * Math.PI) / 180;
    return [
      [Math.cos(t), -Math.sin(t), 0],
      [Math.sin(t), Math.cos(t), 0],
      [0, 0, 1],
    ];
  },
  flags: [{ flag: 'rotation-range', option: 'rotationRange', value: 'number', metavar: 'DEG', help: 'random rotation in [-DEG, DEG]' }],
};
