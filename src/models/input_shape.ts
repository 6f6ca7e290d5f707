import { UsageError, formatValue } from '../core/errors.js';
import type { BackboneOptions } from './types.js';

export interface InputShapeRule {
  defaultSize: number;
  minSize: number;
  /** True when the model ends in Flatten/Dense on spatial features (Keras `require_flatten`, i.e. includeTop). */
  requireFlatten: boolean;
  weights: string | null | undefined;
  modelName: string;
}

/**
 * Keras's `obtain_input_shape`, channels-last. One difference: with includeTop false and no inputShape,
 * Keras leaves height and width as None; tlkit uses the default size so every layer has a static shape
 * (parameter counts are the same).
 */
export function obtainInputShape(inputShape: BackboneOptions['inputShape'], rule: InputShapeRule): [number, number, number] {
  const { defaultSize, minSize, requireFlatten, weights, modelName } = rule;
  const defaultShape: [number, number, number] = [defaultSize, defaultSize, 3];
  if (inputShape === undefined || inputShape === null) return defaultShape;
  if (!Array.isArray(inputShape) || inputShape.length !== 3 || inputShape.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new UsageError(`\`inputShape\` must be [height, width, channels] with positive integers. Received: inputShape=${formatValue(inputShape)}`, 'inputShape');
  }
  if (weights === 'imagenet' && requireFlatten && (inputShape[0] !== defaultSize || inputShape[1] !== defaultSize || inputShape[2] !== 3)) {
    throw new UsageError(
      `${modelName}: when includeTop is true and weights are 'imagenet', inputShape must be ${formatValue(defaultShape)}. Received: inputShape=${formatValue(inputShape)}`,
      'inputShape',
    );
  }
  const pretrained = weights !== null && weights !== undefined;
  if (pretrained && inputShape[2] !== 3) {
    throw new UsageError(`${modelName}: pretrained weights need 3 input channels. Received: inputShape=${formatValue(inputShape)}`, 'inputShape');
  }
  if (inputShape[0] < minSize || inputShape[1] < minSize) {
    throw new UsageError(`${modelName}: input size must be at least ${minSize}x${minSize}. Received: inputShape=${formatValue(inputShape)}`, 'inputShape');
  }
  return [inputShape[0], inputShape[1], inputShape[2]];
}

/** Keras's check that `classes` goes with includeTop (and 1000 with ImageNet weights). */
export function checkClasses(options: BackboneOptions, modelName: string): void {
  const classes = options.classes ?? 1000;
  if (!Number.isInteger(classes) || classes <= 0) {
    throw new UsageError(`${modelName}: \`classes\` must be a positive integer. Received: classes=${formatValue(options.classes)}`, 'classes');
  }
  if (options.weights === 'imagenet' && (options.includeTop ?? true) && classes !== 1000) {
    throw new UsageError(
      `${modelName}: with weights='imagenet' and includeTop=true, \`classes\` must be 1000. Received: classes=${classes}`,
      'classes',
    );
  }
  if (options.pooling !== undefined && options.pooling !== null && options.pooling !== 'avg' && options.pooling !== 'max') {
    throw new UsageError(`${modelName}: \`pooling\` must be 'avg', 'max' or null. Received: pooling=${formatValue(options.pooling)}`, 'pooling');
  }
}
