// The matrix products of a logistic regression on onnxruntime: for a block of rows, standardise the
// features, logits = Xs W + b, the summed cross-entropy, and its gradient Xs^T (P - Y). These two
// products are all of a probe's solver time; MLAS runs them at tens of GFLOP/s on two cores where plain
// TypeScript loops manage about one. Rows come in blocks so a dataset of any size runs in bounded memory.
import * as ort from 'onnxruntime-node';
import { onnx, type OnnxTypes } from './graph_builder.js';
import { cpuSessionOptions, defaultThreadCount } from './session.js';

export interface LogisticLossBlock {
  /** Summed cross-entropy of the block's rows. */
  loss: number;
  /** Row-major [features, outputs]. */
  gradWeights: Float32Array;
  gradBias: Float32Array;
}

export interface LogisticLossRunner {
  /**
   * Loss and gradient for `rows` rows of `x` (row-major [rows, features], raw: standardised in the graph
   * with `mean` and `scale`), `targets` row-major [rows, outputs] (one-hot; for one output, the 0/1 label),
   * weights row-major [features, outputs].
   */
  lossAndGradient(x: Float32Array, rows: number, targets: Float32Array, weights: Float32Array, bias: Float32Array): Promise<LogisticLossBlock>;
  /** Logits [rows, outputs] of the block. */
  logits(x: Float32Array, rows: number, weights: Float32Array, bias: Float32Array): Promise<Float32Array>;
  dispose(): Promise<void>;
}

const F = onnx.TensorProto.DataType.FLOAT;
const I64 = onnx.TensorProto.DataType.INT64;

function info(name: string, dims: (number | string)[]): OnnxTypes.IValueInfoProto {
  return { name, type: { tensorType: { elemType: F, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } } };
}

function node(opType: string, input: string[], output: string[], attribute: OnnxTypes.IAttributeProto[] = []): OnnxTypes.INodeProto {
  return { opType, input, output, name: output[0], attribute };
}

const int = (name: string, i: number): OnnxTypes.IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.INT, i });

/** Standardised rows and logits: shared head of both graphs. */
function logitNodes(): OnnxTypes.INodeProto[] {
  return [node('Sub', ['x', 'mean'], ['centred']), node('Mul', ['centred', 'scale'], ['xs']), node('Gemm', ['xs', 'weights', 'bias'], ['logits'])];
}

function model(nodes: OnnxTypes.INodeProto[], inputs: OnnxTypes.IValueInfoProto[], outputs: OnnxTypes.IValueInfoProto[], initializer: OnnxTypes.ITensorProto[] = []): Uint8Array {
  return onnx.ModelProto.encode(
    onnx.ModelProto.create({
      irVersion: 7,
      producerName: 'tlkit',
      opsetImport: [{ domain: '', version: 13 }],
      graph: { name: 'logistic_loss', node: nodes, input: inputs, output: outputs, initializer },
    }),
  ).finish();
}

function lossModel(d: number, k: number): Uint8Array {
  const loss =
    k === 1
      ? // log(1 + e^z) - t z and sigmoid(z) - t.
        [node('Softplus', ['logits'], ['softplus']), node('Mul', ['targets', 'logits'], ['tz']), node('Sub', ['softplus', 'tz'], ['terms']), node('ReduceSum', ['terms'], ['loss'], [int('keepdims', 0)]), node('Sigmoid', ['logits'], ['p'])]
      : [
          node('LogSoftmax', ['logits'], ['logp'], [int('axis', 1)]),
          node('Mul', ['targets', 'logp'], ['tlogp']),
          node('ReduceSum', ['tlogp'], ['negLoss'], [int('keepdims', 0)]),
          node('Neg', ['negLoss'], ['loss']),
          node('Exp', ['logp'], ['p']),
        ];
  const axis0: OnnxTypes.ITensorProto = { name: 'axis0', dims: [1], dataType: I64, rawData: new Uint8Array(new BigInt64Array([0n]).buffer) };
  return model(
    [
      ...logitNodes(),
      ...loss,
      node('Sub', ['p', 'targets'], ['residual']),
      node('Gemm', ['xs', 'residual'], ['gradWeights'], [int('transA', 1)]),
      node('ReduceSum', ['residual', 'axis0'], ['gradBias'], [int('keepdims', 0)]),
    ],
    [info('x', ['rows', d]), info('mean', [d]), info('scale', [d]), info('weights', [d, k]), info('bias', [k]), info('targets', ['rows', k])],
    [info('loss', []), info('gradWeights', [d, k]), info('gradBias', [k])],
    [axis0],
  );
}

function logitsModel(d: number, k: number): Uint8Array {
  return model(logitNodes(), [info('x', ['rows', d]), info('mean', [d]), info('scale', [d]), info('weights', [d, k]), info('bias', [k])], [info('logits', ['rows', k])]);
}

/** Sessions for `features` standardised with `mean` / `scale` and `outputs` logits (1 for two classes). */
export async function createLogisticLossRunner(mean: Float32Array, scale: Float32Array, outputs: number, threads = defaultThreadCount()): Promise<LogisticLossRunner> {
  const d = mean.length;
  const k = outputs;
  const sessionOptions = cpuSessionOptions(threads);
  const lossSession = await ort.InferenceSession.create(lossModel(d, k), sessionOptions);
  const logitsSession = await ort.InferenceSession.create(logitsModel(d, k), sessionOptions);
  const meanTensor = new ort.Tensor('float32', mean, [d]);
  const scaleTensor = new ort.Tensor('float32', scale, [d]);
  const common = (x: Float32Array, rows: number, weights: Float32Array, bias: Float32Array) => ({
    x: new ort.Tensor('float32', x.length === rows * d ? x : x.subarray(0, rows * d), [rows, d]),
    mean: meanTensor,
    scale: scaleTensor,
    weights: new ort.Tensor('float32', weights, [d, k]),
    bias: new ort.Tensor('float32', bias, [k]),
  });
  return {
    async lossAndGradient(x, rows, targets, weights, bias) {
      const out = await lossSession.run({ ...common(x, rows, weights, bias), targets: new ort.Tensor('float32', targets.length === rows * k ? targets : targets.subarray(0, rows * k), [rows, k]) });
      return { loss: (out.loss.data as Float32Array)[0], gradWeights: out.gradWeights.data as Float32Array, gradBias: out.gradBias.data as Float32Array };
    },
    async logits(x, rows, weights, bias) {
      const out = await logitsSession.run(common(x, rows, weights, bias));
      return out.logits.data as Float32Array;
    },
    async dispose() {
      await lossSession.release();
      await logitsSession.release();
    },
  };
}
