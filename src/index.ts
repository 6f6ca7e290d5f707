// tlkit's public API. Everything a user needs is exported here by name.
export { tf, tfl, initEngine } from './engines/tfjs/tf.js';
export type { BackendName } from './engines/tfjs/tf.js';
export * from './errors.js';

// models
export { listBackbones, getBackbone } from './models/zoo.js';
export type { BackboneOptions, BackboneDefinition, Pooling, PreprocessMode } from './models/types.js';
