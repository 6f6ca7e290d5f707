// Arithmetic bounds for the training-step benchmarks: how many floating-point operations one training
// step of a model needs, and how many the machine can do per second at best (a large SGEMM, the
// fastest thing a CPU does). A throughput target that needs more GFLOP/s than the SGEMM peak cannot
// be reached by any engine on this machine.
import * as ort from 'onnxruntime-node';
import { onnx } from '../src/engines/onnx/graph_builder.js';
import type { tfl } from '../src/engines/tfjs/tf.js';

export interface StepFlops {
  /** Forward multiply-adds of one image through the convolutions and dense layers. */
  forwardMacs: number;
  /** FLOP (2 per multiply-add) of one image's training step: forward, input gradients, weight gradients. */
  trainingFlops: number;
}

/**
 * Counts the multiply-adds of Conv2D, DepthwiseConv2D, SeparableConv2D and Dense layers per image
 * (elementwise layers, BatchNorm and pooling are memory-bound and left out: the count is a lower
 * bound on the work). A training step does each product three times (forward, dL/dx, dL/dw), except
 * that a layer reading the model input needs no dL/dx and a frozen layer no dL/dw.
 */
export function trainingStepFlops(model: tfl.LayersModel): StepFlops {
  let forward = 0;
  let training = 0;
  const modelInputs = new Set(model.inputs.map((t) => t.id));
  for (const layer of model.layers) {
    const node = layer.inboundNodes[0];
    if (!node || node.inputTensors.length === 0) continue;
    const config = layer.getConfig() as Record<string, unknown>;
    const inShape = node.inputTensors[0].shape;
    const outShape = node.outputTensors[0].shape;
    const inChannels = inShape.at(-1) as number;
    const kernel = (config.kernelSize as number[] | undefined) ?? [1, 1];
    const outPixels = outShape.length === 4 ? (outShape[1] as number) * (outShape[2] as number) : 1;
    const multiplier = (config.depthMultiplier as number | undefined) ?? 1;
    let macs = 0;
    switch (layer.getClassName()) {
      case 'Conv2D':
        macs = outPixels * (config.filters as number) * kernel[0] * kernel[1] * inChannels;
        break;
      case 'DepthwiseConv2D':
        macs = outPixels * inChannels * multiplier * kernel[0] * kernel[1];
        break;
      case 'SeparableConv2D':
        macs = outPixels * inChannels * multiplier * (kernel[0] * kernel[1] + (config.filters as number));
        break;
      case 'Dense':
        macs = (config.units as number) * inChannels * outShape.slice(1, -1).reduce<number>((a, b) => a * (b as number), 1);
        break;
      default:
        continue;
    }
    forward += macs;
    const readsModelInput = node.inputTensors.some((t) => modelInputs.has(t.id));
    training += macs * (1 + (readsModelInput ? 0 : 1) + (layer.trainable ? 1 : 0));
  }
  return { forwardMacs: forward, trainingFlops: 2 * training };
}

/** Best GFLOP/s of onnxruntime-node's SGEMM (an n x n x n MatMul) with `threads` threads. */
export async function onnxSgemmPeak(threads: number, n = 2048, reps = 5): Promise<number> {
  const dims = { dim: [{ dimValue: n }, { dimValue: n }] };
  const info = (name: string) => ({ name, type: { tensorType: { elemType: 1, shape: dims } } });
  const proto = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: { name: 'sgemm', node: [{ opType: 'MatMul', input: ['a', 'b'], output: ['c'] }], input: [info('a'), info('b')], output: [info('c')] },
  });
  const session = await ort.InferenceSession.create(onnx.ModelProto.encode(proto).finish(), { intraOpNumThreads: threads, executionProviders: ['cpu'] });
  const values = Float32Array.from({ length: n * n }, (_, i) => ((i * 2654435761) % 1000) / 1000 - 0.5);
  const feeds = { a: new ort.Tensor('float32', values, [n, n]), b: new ort.Tensor('float32', values, [n, n]) };
  const best = await bestRunMs(session, feeds, reps);
  await session.release();
  return (2 * n ** 3) / (best / 1000) / 1e9;
}

/** Fastest of `reps` runs of `session` on `feeds`, in ms, after one warm-up run (the arena is sized then). */
export async function bestRunMs(session: ort.InferenceSession, feeds: Record<string, ort.Tensor>, reps: number): Promise<number> {
  await session.run(feeds);
  let best = Infinity;
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    await session.run(feeds);
    best = Math.min(best, performance.now() - t);
  }
  return best;
}
