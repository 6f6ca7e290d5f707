// A classifier = a no-top backbone + a head, as ONE flat functional model (backbone layers, then head
// layers), the way the Keras lesson builds it: Model(base.input, Dense(...)(...(base.output))). Flat, so
// the summary lists every backbone layer and freezing works layer by layer.
import { tfl } from '../engines/tfjs/tf.js';
import { UsageError, formatValue } from '../core/errors.js';
import './batchnorm.js';
import { getBackbone } from './zoo.js';
import { LayerNames } from './naming.js';
import type { BackboneOptions, PreprocessMode } from './types.js';
import {
  DEFAULT_HEAD,
  applyHead,
  checkClassMode,
  checkClassesForMode,
  parseHeadSpec,
  validateHeadSpec,
  type HeadLayerSpec,
} from './heads.js';
import { lossForClassMode, type LabelClassMode, type LossName } from '../core/names.js';

export interface ClassifierOptions {
  /** Registry id, e.g. 'mobilenet'. */
  backbone: string;
  /** Keras applications kwargs for the backbone; includeTop is forced to false. */
  backboneOptions?: BackboneOptions;
  /** Hidden head layers, as CLI syntax ('flatten,dense:16:relu,dropout:0.25') or parsed. Default: gap. */
  head?: string | HeadLayerSpec[];
  classes: number;
  classMode: LabelClassMode;
  /** Freeze every backbone layer (feature extraction). Default false: everything trainable, as in the lesson. */
  freezeBackbone?: boolean;
}

export interface Classifier {
  model: tfl.LayersModel;
  /** The no-top backbone; its layers are shared with `model`, so loading weights into it loads them into `model`. */
  backbone: tfl.LayersModel;
  backboneId: string;
  backboneLayerNames: string[];
  headLayerNames: string[];
  classes: number;
  classMode: LabelClassMode;
  loss: LossName;
  inputShape: [number, number, number];
  preprocess: PreprocessMode;
}

export function buildClassifier(options: ClassifierOptions): Classifier {
  if (options === null || typeof options !== 'object') {
    throw new UsageError(`buildClassifier needs an options object. Received: ${formatValue(options)}`, 'options');
  }
  const classMode = checkClassMode(options.classMode);
  const classes = checkClassesForMode(options.classes, classMode);
  const head = options.head === undefined ? [...DEFAULT_HEAD] : typeof options.head === 'string' ? parseHeadSpec(options.head) : validateHeadSpec(options.head);
  const definition = getBackbone(options.backbone);

  const backbone = definition.build({ ...options.backboneOptions, includeTop: false });
  if (backbone.inputs.length !== 1 || backbone.outputs.length !== 1) {
    throw new UsageError(`Backbone '${definition.id}' must have one input and one output to take a head.`, 'backbone');
  }
  const backboneLayerNames = backbone.layers.map((l) => l.name);
  const names = new LayerNames();
  const applied = applyHead(backbone.outputs[0], head, { classes, classMode }, names, new Set(backboneLayerNames));
  const model = tfl.model({ inputs: backbone.inputs, outputs: applied.output, name: `${backbone.name}_classifier` });

  const inputShape = backbone.inputs[0].shape.slice(1) as [number, number, number];
  const classifier: Classifier = {
    model,
    backbone,
    backboneId: definition.id,
    backboneLayerNames,
    headLayerNames: applied.layerNames,
    classes,
    classMode,
    loss: lossForClassMode(classMode),
    inputShape,
    preprocess: definition.preprocess,
  };
  if (options.freezeBackbone) setTrainable(classifier, { freezeBackbone: true });
  return classifier;
}

export interface TrainableOptions {
  /** true: every backbone layer frozen, head trainable. false: everything trainable. */
  freezeBackbone?: boolean;
  /**
   * Fine-tune from this backbone layer on: layers before it are frozen, it and everything after it
   * (including the head) trainable. 'all' makes everything trainable. Wins over freezeBackbone.
   */
  /** 'all', 'last-block' (the backbone's last block, see BackboneDefinition.lastBlock) or a layer name. */
  fineTuneFrom?: string | 'all' | 'last-block';
  /**
   * Keep every BatchNormalization layer frozen (inference mode, moving statistics fixed) even where the
   * rest is trainable: the Keras fine-tuning advice for small datasets. Default false.
   */
  freezeBatchNorm?: boolean;
}

/**
 * Sets `trainable` layer by layer. A frozen BatchNormalization layer runs in inference mode and keeps its
 * moving statistics (see batchnorm.ts). As in Keras, recompile the model after changing this.
 */
export function setTrainable(classifier: Classifier, options: TrainableOptions): void {
  const backboneLayers = classifier.backbone.layers;
  let firstTrainable: number;
  if (options.fineTuneFrom !== undefined) {
    const from = options.fineTuneFrom;
    if (from === 'last-block') {
      const boundary = getBackbone(classifier.backboneId).lastBlockInput;
      firstTrainable = backboneLayers.findIndex((l) => l.name === boundary) + 1;
      if (firstTrainable === 0) throw new Error(`backbone '${classifier.backboneId}' has no layer '${boundary}' (its lastBlockInput)`);
    } else if (from === 'all') {
      firstTrainable = 0;
    } else {
      firstTrainable = backboneLayers.findIndex((l) => l.name === from);
      if (firstTrainable < 0) {
        const candidates = backboneLayers.filter((l) => l.weights.length > 0).map((l) => l.name);
        const shown = candidates.length > 12 ? [...candidates.slice(0, 6), '...', ...candidates.slice(-6)] : candidates;
        throw new UsageError(
          `\`fineTuneFrom\` must be 'all', 'last-block' or a layer name of backbone '${classifier.backboneId}' (${backboneLayers.length} layers, e.g. ${shown.join(', ')}). Received: fineTuneFrom=${formatValue(options.fineTuneFrom)}`,
          'fineTuneFrom',
        );
      }
    }
  } else {
    firstTrainable = options.freezeBackbone ? backboneLayers.length : 0;
  }
  // The backbone model's own flag must stay true: tfjs's Container.trainable getter would otherwise hide
  // the trainable weights of layers we unfreeze below.
  classifier.backbone.trainable = true;
  classifier.model.trainable = true;
  backboneLayers.forEach((layer, i) => {
    layer.trainable = i >= firstTrainable;
  });
  const backboneSet = new Set(backboneLayers);
  for (const layer of classifier.model.layers) {
    if (!backboneSet.has(layer)) layer.trainable = true;
  }
  if (options.freezeBatchNorm) {
    for (const layer of classifier.model.layers) {
      if (layer.getClassName() === 'BatchNormalization') layer.trainable = false;
    }
  }
}
