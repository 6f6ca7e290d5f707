// Convolution geometry shared by the training kernels (NHWC only: tfjs-layers feeds channels-last).
import type { backend_util } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';

export type ConvInfo = backend_util.Conv2DInfo;
type Pad = 'valid' | 'same' | number | backend_util.ExplicitPadding;
type Pair = number | [number, number];

export function convInfoNHWC(
  kernelName: string,
  xShape: number[],
  filterShape: number[],
  strides: Pair,
  dilations: Pair,
  pad: Pad,
  dimRoundingMode: 'floor' | 'round' | 'ceil' | undefined,
  depthwise: boolean,
  dataFormat: 'NHWC' | 'NCHW' = 'NHWC',
): ConvInfo {
  if (dataFormat !== 'NHWC') {
    throw new Error(`${kernelName} on wasm (tlkit kernel) supports dataFormat 'NHWC' only; received '${dataFormat}'`);
  }
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides,
    dilations,
    pad,
    dimRoundingMode,
    depthwise,
    'channelsLast',
  );
}

/** A 1x1 convolution with stride 1 and no padding: its im2col matrix is the input itself. */
export function isPointwise(info: ConvInfo): boolean {
  return (
    info.filterHeight === 1 &&
    info.filterWidth === 1 &&
    info.strideHeight === 1 &&
    info.strideWidth === 1 &&
    info.padInfo.top === 0 &&
    info.padInfo.left === 0 &&
    info.outHeight === info.inHeight &&
    info.outWidth === info.inWidth
  );
}

/**
 * Largest im2col matrix the conv kernels build at once (floats); a batch beyond it is processed in
 * image chunks, which bounds the extra heap a training step needs. Tests lower it to cover chunking.
 */
export const kernelLimits = {
  maxColsFloats: 1 << 23,
  /** Floats in one block of the filter gradient's transposed im2col (sized for the L2 cache). */
  blockFloats: 1 << 16,
};

/** Images per chunk so that an im2col matrix stays under `maxFloats` (at least one image). */
export function imagesPerChunk(info: ConvInfo, maxFloats: number): number {
  const perImage = info.outHeight * info.outWidth * info.filterHeight * info.filterWidth * info.inChannels;
  return Math.max(1, Math.min(info.batchSize, Math.floor(maxFloats / perImage)));
}
