// Training-step throughput of the tfjs engine on wasm against PyTorch, in one run: MobileNetV2 (zoo,
// no top, random weights) + the reference experiment's head (Flatten -> Dense(16, relu) ->
// Dropout(0.25) -> Dense(2, softmax)), sparse categorical cross-entropy, Adam(2e-5), trainOnBatch.
//   full:   every layer trainable (BatchNorm in training mode)
//   frozen: backbone frozen (its BatchNorm in inference mode, as Keras), only the head trains
// PyTorch: bench/train_torch.py (Debian's python3-torch + python3-torchvision), same network and steps,
// with 2 threads (the reference) and with 1 thread (tfjs on wasm runs one thread; on a loaded
// machine PyTorch's 2 threads wait on each other, so the 1-thread figure is the steadier comparison).
// Prints img/s (median wall time over --iters steps after one warm-up step), CPU seconds per image,
// the tfjs/PyTorch ratios and peak RSS of each process.
//
//   npx tsx bench/train.ts [--batch 16] [--size 224] [--iters 3] [--no-torch] [--profile] [--onnx-step] [--no-tfjs] [full|frozen ...]
//
// --onnx-step also runs full fine-tuning through fit() with engine 'onnx' (the compiled ONNX training
// step, onnxruntime-node with all cores): median wall time of the batches after the first (the first
// compiles the step), as fit's loop runs them (data slicing, callbacks, metrics included).
// --no-tfjs skips the tfjs engine (it is slow: minutes per full fine-tuning step on a loaded machine).
//
// --profile prints the kernels that took the most CPU time in one full fine-tuning step.
// Target (issue 5): full fine-tuning >= 2 img/s, >= 0.12x PyTorch.
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { initEngine, tf, tfl } from '../src/engines/tfjs/tf.js';
import { getBackbone } from '../src/models/zoo.js';
import { TensorIterator } from '../test/helpers/tensor_iterator.js';
import { fit } from '../src/train/loop/fit.js';
import '../src/models/batchnorm.js'; // Keras semantics for frozen BatchNormalization

type Mode = 'full' | 'frozen';

interface Args {
  modes: Mode[];
  batch: number;
  size: number;
  iters: number;
  torch: boolean;
  profile: boolean;
  onnxStep: boolean;
  tfjs: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { modes: [], batch: 16, size: 224, iters: 3, torch: true, profile: false, onnxStep: false, tfjs: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--batch') args.batch = Number(argv[++i]);
    else if (a === '--size') args.size = Number(argv[++i]);
    else if (a === '--iters') args.iters = Number(argv[++i]);
    else if (a === '--no-torch') args.torch = false;
    else if (a === '--profile') args.profile = true;
    else if (a === '--onnx-step') args.onnxStep = true;
    else if (a === '--no-tfjs') args.tfjs = false;
    else if (a === 'full' || a === 'frozen') args.modes.push(a);
    else throw new Error(`unknown argument '${a}'; accepted: --batch N, --size N, --iters N, --no-torch, --profile, --onnx-step, --no-tfjs, full, frozen`);
  }
  if (args.modes.length === 0) args.modes = ['full', 'frozen'];
  return args;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const cpuSeconds = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

function classifier(size: number, frozen: boolean): tfl.LayersModel {
  const backbone = getBackbone('mobilenet_v2').build({ includeTop: false, weights: null, inputShape: [size, size, 3] });
  for (const layer of backbone.layers) layer.trainable = !frozen;
  let x = tfl.layers.flatten().apply(backbone.outputs[0]) as tfl.SymbolicTensor;
  x = tfl.layers.dense({ units: 16, activation: 'relu' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.dropout({ rate: 0.25 }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.dense({ units: 2, activation: 'softmax' }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: backbone.inputs, outputs: x });
}

interface Figures {
  imgPerSecond: number;
  cpuSecondsPerImage: number;
}

async function benchTfjs(mode: Mode, args: Args): Promise<Figures> {
  const model = classifier(args.size, mode === 'frozen');
  const optimizer = tf.train.adam(2e-5);
  model.compile({ optimizer, loss: 'sparseCategoricalCrossentropy' });
  const x = tf.randomUniform([args.batch, args.size, args.size, 3], -1, 1, 'float32', 1);
  const y = tf.tensor2d(Array.from({ length: args.batch }, (_, i) => i % 2), [args.batch, 1]);
  await model.trainOnBatch(x, y); // warm-up: optimizer state, XNNPACK operators, JIT
  const walls: number[] = [];
  const cpus: number[] = [];
  for (let i = 0; i < args.iters; i++) {
    const w0 = process.hrtime.bigint();
    const c0 = cpuSeconds();
    await model.trainOnBatch(x, y);
    walls.push(Number(process.hrtime.bigint() - w0) / 1e9);
    cpus.push(cpuSeconds() - c0);
  }
  tf.dispose([x, y]);
  model.dispose();
  optimizer.dispose();
  return { imgPerSecond: args.batch / median(walls), cpuSecondsPerImage: median(cpus) / args.batch };
}

/** Full fine-tuning through fit() on the compiled ONNX step: 1 + iters batches, the first compiles. */
async function benchFitOnnxStep(args: Args): Promise<Figures & { compileSeconds: number }> {
  const model = classifier(args.size, false);
  const n = args.batch * (args.iters + 1);
  const x = tf.randomUniform([n, args.size, args.size, 3], -1, 1, 'float32', 1);
  const y = tf.tensor1d(Array.from({ length: n }, (_, i) => i % 2));
  const walls: number[] = [];
  const cpus: number[] = [];
  let w0 = process.hrtime.bigint();
  let c0 = cpuSeconds();
  const result = await fit(model, new TensorIterator(x, y, { batchSize: args.batch, shuffle: false }), {
    epochs: 1,
    loss: 'sparse_categorical_crossentropy',
    optimizer: 'adam',
    learningRate: 2e-5,
    engine: 'onnx',
    seed: 1,
    callbacks: [
      {
        name: 'timer',
        onBatchEnd() {
          walls.push(Number(process.hrtime.bigint() - w0) / 1e9);
          cpus.push(cpuSeconds() - c0);
          w0 = process.hrtime.bigint();
          c0 = cpuSeconds();
        },
      },
    ],
  });
  result.optimizer.dispose();
  tf.dispose([x, y]);
  model.dispose();
  const steady = walls.slice(1);
  return { imgPerSecond: args.batch / median(steady), cpuSecondsPerImage: median(cpus.slice(1)) / args.batch, compileSeconds: walls[0] };
}

/** CPU time per kernel over one full fine-tuning step (kernels nested in others count in their parent). */
async function profileFullStep(args: Args): Promise<void> {
  const model = classifier(args.size, false);
  model.compile({ optimizer: tf.train.adam(2e-5), loss: 'sparseCategoricalCrossentropy' });
  const x = tf.randomUniform([args.batch, args.size, args.size, 3], -1, 1, 'float32', 1);
  const y = tf.tensor2d(Array.from({ length: args.batch }, (_, i) => i % 2), [args.batch, 1]);
  await model.trainOnBatch(x, y);
  const totals = new Map<string, { seconds: number; calls: number }>();
  const restore: (() => void)[] = [];
  let depth = 0;
  for (const config of tf.getKernelsForBackend('wasm')) {
    const inner = config.kernelFunc;
    const mutable = config as { kernelFunc: typeof inner };
    mutable.kernelFunc = ((kernelArgs: Parameters<typeof inner>[0]) => {
      if (depth > 0) return inner(kernelArgs);
      depth++;
      const start = cpuSeconds();
      try {
        return inner(kernelArgs);
      } finally {
        depth--;
        const entry = totals.get(config.kernelName) ?? { seconds: 0, calls: 0 };
        entry.seconds += cpuSeconds() - start;
        entry.calls++;
        totals.set(config.kernelName, entry);
      }
    }) as typeof inner;
    restore.push(() => (mutable.kernelFunc = inner));
  }
  const start = cpuSeconds();
  await model.trainOnBatch(x, y);
  const step = cpuSeconds() - start;
  for (const undo of restore) undo();
  const rows = [...totals.entries()].sort((a, b) => b[1].seconds - a[1].seconds);
  const inKernels = rows.reduce((s, [, e]) => s + e.seconds, 0);
  console.log(`\nprofile of one full fine-tuning step (CPU time): ${step.toFixed(2)} s, ${inKernels.toFixed(2)} s in kernels`);
  console.table(
    rows.slice(0, 15).map(([name, e]) => ({ kernel: name, 'cpu s': e.seconds.toFixed(3), share: `${((100 * e.seconds) / step).toFixed(1)}%`, calls: e.calls })),
  );
  tf.dispose([x, y]);
  model.dispose();
}

interface TorchResult {
  torch: string;
  threads: number;
  results: Record<Mode, { img_s: number; cpu_s_per_img: number }>;
  max_rss_mb: number;
}

function benchTorch(args: Args, threads: number): TorchResult | undefined {
  if (!args.torch) return undefined;
  const script = path.join(path.dirname(new URL(import.meta.url).pathname), 'train_torch.py');
  try {
    const out = execFileSync(
      '/usr/bin/python3',
      [script, '--threads', String(threads), '--batch', String(args.batch), '--size', String(args.size), '--iters', String(args.iters), ...args.modes],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
    );
    return JSON.parse(out.trim().split('\n').pop()!) as TorchResult;
  } catch (error) {
    console.log(`PyTorch: not measured (${(error as Error).message.split('\n')[0]}); install Debian's python3-torch python3-torchvision`);
    return undefined;
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const backend = await initEngine('wasm');
  const load = () => os.loadavg().map((l) => l.toFixed(1)).join(' ');
  console.log(
    `train bench: mobilenet_v2 + reference head, batch ${args.batch}, ${args.size}x${args.size}, Adam(2e-5); tfjs backend ${backend} ` +
      `(1 thread); ${os.availableParallelism()} cores, load average ${load()}`,
  );
  const tfjs: Partial<Record<Mode, Figures>> = {};
  if (args.tfjs) for (const mode of args.modes) tfjs[mode] = await benchTfjs(mode, args);
  const nodeRssMb = process.resourceUsage().maxRSS / 1024;
  let onnxStep: (Figures & { compileSeconds: number }) | undefined;
  let onnxRssMb = 0;
  if (args.onnxStep) {
    onnxStep = await benchFitOnnxStep(args);
    onnxRssMb = process.resourceUsage().maxRSS / 1024;
  }
  const torch = benchTorch(args, 2);
  const torch1 = benchTorch(args, 1);
  console.table(
    args.modes.map((mode) => {
      const t = torch?.results[mode];
      const t1 = torch1?.results[mode];
      const mine = tfjs[mode];
      const step = mode === 'full' ? onnxStep : undefined;
      return {
        mode,
        'tfjs img/s': mine ? mine.imgPerSecond.toFixed(2) : '-',
        'onnx-step fit img/s': step ? step.imgPerSecond.toFixed(2) : '-',
        'torch 2T img/s': t ? t.img_s.toFixed(2) : '-',
        'tfjs/torch 2T': t && mine ? (mine.imgPerSecond / t.img_s).toFixed(3) : '-',
        'onnx-step/torch 2T': t && step ? (step.imgPerSecond / t.img_s).toFixed(3) : '-',
        'torch 1T img/s': t1 ? t1.img_s.toFixed(2) : '-',
        'tfjs/torch 1T': t1 && mine ? (mine.imgPerSecond / t1.img_s).toFixed(3) : '-',
        'tfjs cpu s/img': mine ? mine.cpuSecondsPerImage.toFixed(3) : '-',
        'onnx-step cpu s/img': step ? step.cpuSecondsPerImage.toFixed(3) : '-',
        'torch 2T cpu s/img': t ? t.cpu_s_per_img.toFixed(3) : '-',
      };
    }),
  );
  if (onnxStep) console.log(`onnx-step: first batch (compiles the step) ${onnxStep.compileSeconds.toFixed(1)} s; node peak RSS after it ${onnxRssMb.toFixed(0)} MB`);
  console.log(
    `peak RSS: node (${args.tfjs ? 'tfjs wasm' : 'before onnx-step'}) ${nodeRssMb.toFixed(0)} MB` +
      (torch ? `, python (torch ${torch.torch}, 2 threads) ${torch.max_rss_mb.toFixed(0)} MB` : ''),
  );
  console.log(`load average after: ${load()}`);
  if (args.profile) await profileFullStep(args);
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
