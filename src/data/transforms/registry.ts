// The augmentation ops, in Keras's draw order (get_random_transform: theta, tx, ty, shear, zx/zy,
// flips, channel shift, brightness). ImageDataGenerator checks and draws them in this order, the fused
// pass multiplies the affine factors in this order, the CLI lists their flags in this order. A new op:
// its file, and one line here (plus its options in AugmentationOptions).
import type { AugmentationOp } from './augmentation_op.js';
import { brightness, type BrightnessOptions } from './brightness.js';
import { channelShift, type ChannelShiftOptions } from './channel_shift.js';
import { horizontalFlip, verticalFlip, type FlipOptions } from './flip.js';
import { rotation, type RotationOptions } from './rotation.js';
import { shear, type ShearOptions } from './shear.js';
import { shift, type ShiftOptions } from './shift.js';
import { zoom, type ZoomOptions } from './zoom.js';

export const AUGMENTATION_OPS: readonly AugmentationOp[] = [rotation, shift, shear, zoom, horizontalFlip, verticalFlip, channelShift, brightness];

/** The random-augmentation kwargs of ImageDataGenerator, one interface per op. */
export interface AugmentationOptions extends RotationOptions, ShiftOptions, ShearOptions, ZoomOptions, FlipOptions, ChannelShiftOptions, BrightnessOptions {}

/** The ops whose work is a factor of the affine resample, in multiplication order. */
export const AFFINE_OPS = AUGMENTATION_OPS.filter((op) => op.affine);

/** The ops with a pixel kernel, in Keras's order of application after the resample. */
export const PIXEL_OPS = AUGMENTATION_OPS.filter((op) => op.pixel).sort((a, b) => a.pixel!.order - b.pixel!.order);

/** The same kwargs checked, with Keras's defaults (zoomRange always as [low, high]). */
export type ResolvedAugmentation = Required<Omit<AugmentationOptions, 'zoomRange'>> & { zoomRange: [number, number] };
