// The pure augmentation kernels and the augmentation ops, for callers who want them without a generator.
export * from './affine.js';
export * from './apply_transform.js';
export * from './augmentation_op.js';
export * from './brightness.js';
export * from './channel_shift.js';
export * from './flip.js';
export * from './registry.js';
export * from './rotation.js';
export * from './shear.js';
export * from './shift.js';
export * from './standardize.js';
export * from './zca.js';
export * from './zoom.js';
