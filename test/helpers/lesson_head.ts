// The reference experiment's head (Flatten -> Dense(16, relu) -> Dropout -> Dense(2)) counted by hand on a
// no-top backbone, so family tests pin the backbone's feature map at 224 independently of the head builder.
import type { tfl } from '../../src/engines/tfjs/tf.js';

export function lessonHeadTotals(backbone: tfl.LayersModel): [total: number, trainable: number] {
  const flattened = backbone.outputs[0].shape.slice(1).reduce((a, b) => a! * b!, 1)!;
  const head = flattened * 16 + 16 + 16 * 2 + 2;
  const size = (w: { shape: number[] }) => w.shape.reduce((a, b) => a * b, 1);
  const trainable = backbone.trainableWeights.reduce((n, w) => n + size(w as unknown as { shape: number[] }), 0) + head;
  return [backbone.countParams() + head, trainable];
}
