// What index.html tells its script: the model's metadata from tlkit.json and where to classify (in this
// page with tfjs, or on the tlkit server that served it). Embedded as JSON in the page; shared by the
// Node side that writes it and the browser side that reads it.
import type { LabelClassMode } from '../../core/names.js';

export const CONFIG_ELEMENT_ID = 'tlkit-config';

export interface WebPageConfig {
  /** 'local': the page runs the model with tfjs; 'server': it posts images to `predictUrl`. */
  mode: 'local' | 'server';
  title: string;
  classNames: string[];
  classMode: LabelClassMode;
  /** [height, width]. */
  inputSize: [number, number];
  preprocess: string;
  rescale?: number;
  backbone: string;
  /** Classes listed per image. */
  topK: number;
  /** local: the tfjs layers model, relative to the page. */
  modelUrl?: string;
  /** local: the folder holding tfjs-backend-wasm's .wasm files, relative to the page, ending in '/'. */
  wasmPath?: string;
  /** server: POST endpoint. */
  predictUrl?: string;
}
