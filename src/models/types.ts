import type { tfl } from '../engines/tfjs/tf.js';

import type { BackboneWeights } from './weights_records.js';

export type Pooling = 'avg' | 'max' | null;
export type PreprocessMode = 'tf' | 'caffe' | 'torch' | 'none';

/** Keras applications kwargs, camelCase. Unset fields take Keras's defaults. */
export interface BackboneOptions {
  /** Keep the ImageNet classifier (Keras `include_top`). Default true, as in Keras. */
  includeTop?: boolean;
  /**
   * 'imagenet', null (random init), a path to a Keras .h5 file, or an offline source name.
   * Building never loads weights; `weights/` applies them (it reads this field to validate shapes).
   */
  weights?: string | null;
  /** [height, width, channels]. Default: the family's default size with 3 channels. */
  inputShape?: [number, number, number];
  /** Only when includeTop is false: global 'avg' or 'max' pooling, or null for the 4D feature map. */
  pooling?: Pooling;
  /** Classes of the top classifier (includeTop only). Default 1000. */
  classes?: number;
  /** Activation of the top classifier (includeTop only). Default 'softmax'. */
  classifierActivation?: string | null;
  /** Width multiplier (MobileNet, MobileNetV2). */
  alpha?: number;
  /** Depth multiplier of depthwise convolutions (MobileNet). */
  depthMultiplier?: number;
  /** Dropout before the top classifier (MobileNet). */
  dropout?: number;
}

export interface BackboneDefinition {
  /** Registry id, e.g. 'mobilenet_v2'. */
  id: string;
  /** The Keras model name, e.g. 'mobilenetv2_1.00_224' is computed; this is the class name: 'MobileNetV2'. */
  kerasName: string;
  /** The Keras module it mirrors, e.g. 'keras.applications.mobilenet_v2'. */
  kerasModule: string;
  description: string;
  defaultInputSize: number;
  minInputSize: number;
  preprocess: PreprocessMode;
  /** Allowed alpha values, when the family has a width multiplier. */
  alphas?: number[];
  /**
   * The layer whose output feeds the backbone's last block: `fineTuneFrom: 'last-block'` unfreezes every
   * layer after it (fastai's freeze_to(-1) layer group; Keras's fine-tuning guides unfreeze the top
   * block(s) the same way). A single tensor, so the frozen part can run on another engine.
   */
  lastBlockInput: string;
  /** Its weights: Keras's ImageNet files and tlkit's offline sources (weights_records.ts). */
  weights: BackboneWeights;
  /** Builds the model with Keras layer names. Throws UsageError on bad options. */
  build(options?: BackboneOptions): tfl.LayersModel;
}
