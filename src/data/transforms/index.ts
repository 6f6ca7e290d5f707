// The pure augmentation kernels, for callers who want them without a generator.
export * from './affine.js';
export * from './apply_transform.js';
export * from './brightness.js';
export * from './channel_shift.js';
export * from './flip.js';
export * from './standardize.js';
export * from './zca.js';
