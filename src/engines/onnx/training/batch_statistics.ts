// BatchNorm batch statistics on onnxruntime: the forward pass of a model with its BatchNorm layers in
// training mode (each normalising with its batch's mean and variance, as in training) and everything else
// in inference mode, returning those means and variances. BatchNorm recalibration (train/) averages them
// over a pass of training batches; on onnxruntime that pass runs at inference speed instead of tfjs's.
import * as ort from 'onnxruntime-node';
import { invalidArgument } from '../../../core/errors.js';
import type { tfl } from '../../tfjs/tf.js';
import type { LayersModel } from '../model_graph.js';
import { probeNchwcBlockSize } from './nchwc.js';
import { kerasToOnnx } from './params.js';
import { createStepSession } from './step_session.js';
import { UnsupportedLayer } from '../layers/index.js';
import { buildBatchStatisticsGraph, GRAPH_NAMES, type BatchStatisticsGraph } from './training_graph.js';

export interface LayerBatchStatistics {
  layer: tfl.layers.Layer;
  mean: Float32Array;
  /** Biased (divided by the count), as training normalises with. */
  variance: Float32Array;
}

export interface BatchStatisticsOptions {
  intraOpNumThreads?: number;
}

interface Compiled {
  graph: BatchStatisticsGraph;
  session: ort.InferenceSession;
  /** Weights and dropout masks (ones), fed to every run. */
  constantFeeds: Record<string, ort.Tensor>;
}

export class OnnxBatchStatistics {
  private readonly sessions = new Map<number, Promise<Compiled>>();
  /** The BatchNorm layers in training mode, in graph order (known once a graph is built). */
  readonly layers: tfl.layers.Layer[];

  private constructor(
    private readonly model: LayersModel,
    first: Compiled,
    private readonly options: BatchStatisticsOptions,
  ) {
    this.layers = first.graph.layers.map((l) => l.layer);
    this.sessions.set(first.graph.inputShape[0], Promise.resolve(first));
  }

  /**
   * Compiles the statistics pass of `model` for batches of `batchSize` (other sizes compile on first
   * use). Throws UnsupportedLayer when a layer has no ONNX rule: the caller then uses tfjs.
   */
  static async create(model: LayersModel, batchSize: number, options: BatchStatisticsOptions = {}): Promise<OnnxBatchStatistics> {
    if (!Number.isInteger(batchSize) || batchSize < 1) throw invalidArgument('batchSize', batchSize, 'a positive integer');
    const first = await compile(model, batchSize, options);
    return new OnnxBatchStatistics(model, first, options);
  }

  /** Batch statistics of every BatchNorm layer in training mode for one batch: `x` holds n NHWC samples. */
  async run(x: Float32Array, n: number): Promise<LayerBatchStatistics[]> {
    let pending = this.sessions.get(n);
    if (!pending) {
      pending = compile(this.model, n, this.options);
      this.sessions.set(n, pending);
    }
    const { graph, session, constantFeeds } = await pending;
    const size = graph.inputShape.reduce((a, b) => a * b, 1);
    if (x.length !== size) throw invalidArgument('x', `${x.length} values`, `${n} samples of shape ${JSON.stringify(graph.inputShape.slice(1))}`);
    const out = await session.run({ ...constantFeeds, [GRAPH_NAMES.x]: new ort.Tensor('float32', x, graph.inputShape) });
    return graph.layers.map((l) => ({ layer: l.layer, mean: out[l.mean].data as Float32Array, variance: out[l.variance].data as Float32Array }));
  }

  async dispose(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const pending of all) await (await pending).session.release();
  }
}

async function compile(model: LayersModel, batchSize: number, options: BatchStatisticsOptions): Promise<Compiled> {
  await probeNchwcBlockSize(); // the graph uses the blocked depthwise kernels where they fit
  const graph = buildBatchStatisticsGraph(model, batchSize);
  if (graph.layers.length === 0) throw new UnsupportedLayer('no BatchNormalization layer in training mode');
  const constantFeeds: Record<string, ort.Tensor> = {};
  for (const slot of graph.params) {
    const data = slot.variable.read().dataSync() as Float32Array;
    constantFeeds[slot.input] = new ort.Tensor('float32', kerasToOnnx(data, slot.kerasShape, slot.layout), slot.shape);
  }
  for (const d of graph.dropout) constantFeeds[d.input] = new ort.Tensor('float32', new Float32Array(d.shape.reduce((a, b) => a * b, 1)).fill(1), d.shape);
  // quiet: layers after the last BatchNorm feed no output; onnxruntime drops them with a warning each.
  const session = await createStepSession(graph.modelBytes, { intraOpNumThreads: options.intraOpNumThreads, quiet: true });
  return { graph, session, constantFeeds };
}
