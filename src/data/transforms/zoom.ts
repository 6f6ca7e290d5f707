// Random zoom (Keras zoom_range): zx and zy drawn independently, a factor of the affine resample.
import { checkNonNegative, checkPair, type AugmentationOp } from './augmentation_op.js';

export interface ZoomOptions {
  /**
   * z -> [1-z, 1+z], or [low, high]; zx and zy are drawn independently. A factor < 1 zooms IN (content
   * enlarged), > 1 zooms out, as in Keras (the factor scales the sampled input area).
   */
  zoomRange?: number | [number, number];
}

function resolveZoom(zoom: unknown): [number, number] {
  if (typeof zoom === 'number') {
    checkNonNegative('zoomRange', zoom);
    return [1 - zoom, 1 + zoom];
  }
  return checkPair('zoomRange', zoom, 'a number z (meaning [1-z, 1+z]) or a list of two numbers [low, high]');
}

export const zoom: AugmentationOp = {
  name: 'zoom',
  options: ['zoomRange'],
  check: (o: ZoomOptions) => ({ zoomRange: resolveZoom(o.zoomRange ?? 0) }),
  enabled: (r) => r.zoomRange[0] !== 1 || r.zoomRange[1] !== 1,
  draw: (r, rng, _shape, params) => {
    params.zx = 1;
    params.zy = 1;
    if (r.zoomRange[0] !== 1 || r.zoomRange[1] !== 1) {
      params.zx = rng.uniform(r.zoomRange[0], r.zoomRange[1]);
      params.zy = rng.uniform(r.zoomRange[0], r.zoomRange[1]);
    }
  },
  changes: (p) => (p.zx ?? 1) !== 1 || (p.zy ?? 1) !== 1,
  affine: (p) => {
    const zx = p.zx ?? 1;
    const zy = p.zy ?? 1;
    if (zx === 1 && zy === 1) return null;
    return [
      [zx, 0, 0],
      [0, zy, 0],
      [0, 0, 1],
    ];
  },
  flags: [{ flag: 'zoom-range', option: 'zoomRange', value: 'number-or-pair', metavar: 'Z|LO,HI', help: 'zoom factor in [1-Z, 1+Z] or [LO, HI]; < 1 zooms in' }],
};
