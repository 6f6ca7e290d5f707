// Every built-in layer table, registered once. A new layer class: an entry in the file of its kind
// (or a new file listed here); see table.ts for what an entry holds.
import { ACTIVATION_LAYERS } from './activation.js';
import { CONV_LAYERS } from './conv.js';
import { DENSE_LAYERS } from './dense.js';
import { MERGE_LAYERS } from './merge.js';
import { NORMALIZATION_LAYERS } from './normalization.js';
import { POOLING_LAYERS } from './pooling.js';
import { registerLayerTable } from './table.js';

for (const table of [...CONV_LAYERS, ...DENSE_LAYERS, ...POOLING_LAYERS, ...MERGE_LAYERS, ...NORMALIZATION_LAYERS, ...ACTIVATION_LAYERS]) registerLayerTable(table);

export * from './table.js';
