// A thin onnxruntime-node session for float32 graphs with one input: bytes in, Float32Arrays or tf
// tensors out. Input data is handed to onnxruntime without copying (an ort.Tensor views the caller's
// Float32Array); the only copies are the ones the engines force (tfjs -> JS heap, ort -> tfjs).
import os from 'node:os';
import * as ort from 'onnxruntime-node';
import { invalidArgument, TlkitError } from '../../errors.js';
import { tf } from '../tfjs/tf.js';

export interface OnnxRunnerOptions {
  /** Threads of one operator. Default: os.availableParallelism(). */
  intraOpNumThreads?: number;
  /** onnxruntime graph optimisations. Default 'all'. */
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
}

export interface OnnxOutput {
  data: Float32Array;
  shape: number[];
}

export interface OnnxRunner {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** Runs the graph on a float32 batch of `shape` (NHWC for images); returns the first output. */
  run(x: Float32Array, shape: readonly number[]): Promise<OnnxOutput>;
  /** Same, from and to tf tensors (the result belongs to the caller; dispose it). */
  run(x: tf.Tensor): Promise<tf.Tensor>;
  /** Every output, by name. */
  runAll(x: Float32Array, shape: readonly number[]): Promise<Record<string, OnnxOutput>>;
  dispose(): Promise<void>;
}

export function defaultThreadCount(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

/** Creates an onnxruntime-node session from ONNX model bytes (e.g. `exportOnnx`'s result). */
export async function createOnnxRunner(modelBytes: Uint8Array, options: OnnxRunnerOptions = {}): Promise<OnnxRunner> {
  const threads = options.intraOpNumThreads ?? defaultThreadCount();
  if (!Number.isInteger(threads) || threads < 1) throw invalidArgument('intraOpNumThreads', threads, 'a positive integer');
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(modelBytes, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
      executionProviders: ['cpu'],
    });
  } catch (error) {
    throw new TlkitError(`onnxruntime-node could not load the ONNX model: ${(error as Error).message}`, { cause: error });
  }
  if (session.inputNames.length !== 1) {
    throw new TlkitError(`ONNX model has ${session.inputNames.length} inputs (${session.inputNames.join(', ')}); OnnxRunner feeds exactly one`);
  }
  const inputName = session.inputNames[0];

  async function runRaw(data: Float32Array, shape: readonly number[]): Promise<ort.InferenceSession.ReturnType> {
    const size = shape.reduce((a, b) => a * b, 1);
    if (size !== data.length) {
      throw invalidArgument('shape', shape, `dims whose product is the data length ${data.length}`);
    }
    const feeds = { [inputName]: new ort.Tensor('float32', data, shape) };
    return session.run(feeds);
  }

  function toOutput(value: ort.OnnxValue, name: string): OnnxOutput {
    if (value.type !== 'float32') throw new TlkitError(`ONNX output '${name}' is ${value.type}, expected float32`);
    return { data: value.data as Float32Array, shape: value.dims.slice() };
  }

  async function run(x: Float32Array, shape: readonly number[]): Promise<OnnxOutput>;
  async function run(x: tf.Tensor): Promise<tf.Tensor>;
  async function run(x: Float32Array | tf.Tensor, shape?: readonly number[]): Promise<OnnxOutput | tf.Tensor> {
    if (x instanceof Float32Array) {
      if (!shape) throw invalidArgument('shape', shape, 'the dims of the Float32Array batch');
      const results = await runRaw(x, shape);
      const name = session.outputNames[0];
      return toOutput(results[name], name);
    }
    if (x.dtype !== 'float32') throw invalidArgument('x.dtype', x.dtype, "'float32'");
    const data = (await x.data()) as Float32Array;
    const results = await runRaw(data, x.shape);
    const name = session.outputNames[0];
    const output = toOutput(results[name], name);
    return tf.tensor(output.data, output.shape, 'float32');
  }

  return {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    run,
    async runAll(x, shape) {
      const results = await runRaw(x, shape);
      return Object.fromEntries(session.outputNames.map((name) => [name, toOutput(results[name], name)]));
    },
    dispose: () => session.release(),
  };
}
