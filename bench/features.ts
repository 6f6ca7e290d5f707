// Frozen feature extraction throughput, in one run: tlkit's frozen engine (createFrozenEngine:
// tf tensor in -> onnxruntime -> tf tensor out), a raw onnxruntime-node session on the same ONNX file
// (Float32Array in and out, nothing else), and PyTorch from Debian's python3-torch (bench/features_torch.py).
// MobileNetV2 and ResNet50 (no top, Keras layer graph) at 224, batch 32, random weights.
//
//   npx tsx bench/features.ts [--iters 5] [--batch 32] [--size 224] [--threads N] [--no-torch] [--spin] [--max-run-batch N] [models...]
//
// Columns: tlkit (engine.features on a tf tensor), tlkit f32 (engine.featuresOf on a Float32Array), raw ort
// (onnxruntime defaults, intra-op threads set), raw ort tuned (raw session with tlkit's options: no spinning,
// denormals flushed), torch; tlkit/best raw divides by the faster raw session.
//
// tlkit and raw runs are interleaved round by round so that load from other processes hits both alike;
// each figure is the median over rounds, and the best round (the least disturbed one on a shared
// machine) is printed too; ratios use medians. Targets (issue 6): tlkit >= 0.9x raw onnxruntime, >= 3.5x PyTorch.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { initEngine, tf, tfl } from '../src/engines/tfjs/tf.js';
import { getBackbone } from '../src/models/zoo.js';
import { createFrozenEngine } from '../src/engines/onnx/frozen_features.js';
import { defaultThreadCount } from '../src/engines/onnx/session.js';

interface Args {
  models: string[];
  iters: number;
  batch: number;
  size: number;
  threads: number;
  torch: boolean;
  spin: boolean | undefined;
  maxRunBatch: number | undefined;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { models: [], iters: 5, batch: 32, size: 224, threads: defaultThreadCount(), torch: true, spin: undefined, maxRunBatch: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--iters') args.iters = Number(argv[++i]);
    else if (a === '--batch') args.batch = Number(argv[++i]);
    else if (a === '--size') args.size = Number(argv[++i]);
    else if (a === '--threads') args.threads = Number(argv[++i]);
    else if (a === '--no-torch') args.torch = false;
    else if (a === '--spin') args.spin = true;
    else if (a === '--max-run-batch') args.maxRunBatch = Number(argv[++i]);
    else if (a === '--no-spin') args.spin = false;
    else args.models.push(a);
  }
  if (args.models.length === 0) args.models = ['mobilenet_v2', 'resnet50'];
  return args;
}

/** Images per second: median round and best round. */
interface Rate {
  median: number;
  best: number;
}
const show = (r: Rate | undefined): string => (r ? `${r.median.toFixed(1)} (${r.best.toFixed(1)})` : '-');

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/**
 * He-uniform kernels and mildly random BN statistics, so activations stay O(1) through the net as with
 * trained weights (Keras's default init shrinks them towards denormals, which would time the CPU's
 * denormal path instead of the network).
 */
function realisticRandomWeights(model: tfl.LayersModel): void {
  for (const layer of model.layers) {
    if (layer.weights.length === 0) continue;
    layer.setWeights(
      layer.weights.map((w) => {
        const shape = w.shape as number[];
        const name = w.originalName ?? w.name;
        if (/(gamma|moving_variance|variance)$/.test(name)) return tf.randomUniform(shape, 0.8, 1.2);
        if (/(beta|moving_mean|bias|mean)$/.test(name)) return tf.randomUniform(shape, -0.1, 0.1);
        if (w.dtype !== 'float32') return tf.zeros(shape, w.dtype);
        const fanIn = /depthwise/.test(name) ? shape[0] * shape[1] : shape.slice(0, -1).reduce((a, b) => a * b, 1);
        const limit = Math.sqrt(6 / Math.max(1, fanIn));
        return tf.randomUniform(shape, -limit, limit);
      }),
    );
  }
}

/** The reference experiment's classifier on a no-top backbone; the backbone's output is the cut. */
function classifier(id: string, size: number): { model: tfl.LayersModel; cut: string } {
  const backbone = getBackbone(id).build({ includeTop: false, weights: null, inputShape: [size, size, 3] });
  let x = tfl.layers.flatten().apply(backbone.outputs[0]) as tfl.SymbolicTensor;
  x = tfl.layers.dense({ units: 16, activation: 'relu' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.dropout({ rate: 0.25 }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.dense({ units: 2, activation: 'softmax' }).apply(x) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: backbone.inputs, outputs: x });
  realisticRandomWeights(model);
  return { model, cut: backbone.outputs[0].sourceLayer.name };
}

async function timeIt(fn: () => Promise<void>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

async function benchOnnx(id: string, args: Args, outDir: string): Promise<{ tlkit: Rate; tlkitArray: Rate; raw: Rate; rawTuned: Rate; file: string }> {
  const { model, cut } = classifier(id, args.size);
  const engine = await createFrozenEngine(model, { frozenUpTo: cut, intraOpNumThreads: args.threads, allowSpinning: args.spin ?? false, maxRunBatch: args.maxRunBatch });
  const file = path.join(outDir, `${id}_${args.size}_to_${cut}.onnx`);
  writeFileSync(file, engine.onnxModel);
  // Two raw sessions: onnxruntime's defaults (threads set), and the options tlkit uses (no spinning);
  // tlkit is compared with the faster of the two.
  const rawOptions = { intraOpNumThreads: args.threads, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential' } as const;
  const raw = await ort.InferenceSession.create(file, rawOptions);
  const rawTuned = await ort.InferenceSession.create(file, {
    ...rawOptions,
    extra: { session: { intra_op: { allow_spinning: args.spin ? '1' : '0' }, set_denormal_as_zero: '1' } },
  });
  const shape = [args.batch, args.size, args.size, 3];
  const x = tf.randomUniform(shape, -1, 1, 'float32');
  const xData = (await x.data()) as Float32Array;
  const feeds = { [raw.inputNames[0]]: new ort.Tensor('float32', xData, shape) };

  // The tf-tensor path the trainer uses: copy out of tfjs, run, output written into a tf tensor.
  const runTlkit = async (): Promise<void> => {
    const f = await engine.features(x);
    f.dispose();
  };
  const features = await engine.features(x);
  const scale = tf.tidy(() => tf.mean(tf.abs(features)).dataSync()[0]);
  features.dispose();
  console.log(`${id}: ${path.basename(file)}, features ${JSON.stringify(engine.featureShape)}, mean |feature| ${scale.toPrecision(3)}`);
  // The array path, for pipelines that decode straight into Float32Arrays.
  const runTlkitArray = async (): Promise<void> => {
    await engine.featuresOf(xData, shape);
  };
  const runRaw = async (): Promise<void> => {
    await raw.run(feeds);
  };
  const runRawTuned = async (): Promise<void> => {
    await rawTuned.run(feeds);
  };
  await runTlkit();
  await runRaw();
  await runRawTuned();
  const tlkitTimes: number[] = [];
  const arrayTimes: number[] = [];
  const rawTimes: number[] = [];
  const rawTunedTimes: number[] = [];
  for (let i = 0; i < args.iters; i++) {
    tlkitTimes.push(await timeIt(runTlkit));
    rawTimes.push(await timeIt(runRaw));
    arrayTimes.push(await timeIt(runTlkitArray));
    rawTunedTimes.push(await timeIt(runRawTuned));
  }
  x.dispose();
  await raw.release();
  await rawTuned.release();
  await engine.dispose();
  const ips = (times: number[]): Rate => ({ median: args.batch / median(times), best: args.batch / Math.min(...times) });
  return { tlkit: ips(tlkitTimes), tlkitArray: ips(arrayTimes), raw: ips(rawTimes), rawTuned: ips(rawTunedTimes), file };
}

function benchTorch(args: Args): Record<string, Rate> | undefined {
  if (!args.torch) return undefined;
  const script = path.join(path.dirname(new URL(import.meta.url).pathname), 'features_torch.py');
  try {
    const out = execFileSync('/usr/bin/python3', [script, '--threads', '2', '--batch', String(args.batch), '--size', String(args.size), '--iters', String(args.iters), ...args.models], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    return JSON.parse(out.trim().split('\n').pop()!).results;
  } catch (error) {
    console.log(`PyTorch: not measured (${(error as Error).message.split('\n')[0]}); install Debian's python3-torch python3-torchvision`);
    return undefined;
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  await import('../src/models/zoo.js');
  const backend = await initEngine();
  const outDir = path.join(os.tmpdir(), 'tlkit-bench');
  mkdirSync(outDir, { recursive: true });
  const load = os.loadavg().map((l) => l.toFixed(1)).join(' ');
  console.log(`features bench: batch ${args.batch}, ${args.size}x${args.size}, onnxruntime-node ${ort.env.versions.node ?? ''} intra-op threads ${args.threads}, ` +
    `tfjs backend ${backend}, ${os.availableParallelism()} cores, load average ${load}`);
  const onnx: Record<string, { tlkit: Rate; tlkitArray: Rate; raw: Rate; rawTuned: Rate }> = {};
  for (const id of args.models) onnx[id] = await benchOnnx(id, args, outDir);
  const torch = benchTorch(args);
  const rows = args.models.map((id) => {
    const t = torch?.[id];
    const o = onnx[id];
    const bestRaw = Math.max(o.raw.median, o.rawTuned.median);
    return {
      model: id,
      tlkit: show(o.tlkit),
      'tlkit f32': show(o.tlkitArray),
      'raw ort': show(o.raw),
      'raw ort tuned': show(o.rawTuned),
      torch: show(t),
      'tlkit/best raw': (o.tlkit.median / bestRaw).toFixed(2),
      'tlkit/torch': t ? (o.tlkit.median / t.median).toFixed(2) : '-',
    };
  });
  console.log('img/s, median over rounds (best round)');
  console.table(rows);
  console.log(`load average after: ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
}

await main();
