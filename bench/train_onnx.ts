// Throughput of the compiled ONNX training step (forward + loss + backward + Adam in one session.run)
// for full fine-tuning of a zoo classifier (backbone + GAP + Dense softmax, every layer trainable),
// against PyTorch's train step (bench/train_onnx_torch.py) measured in the same run: channels_last
// (PyTorch's CPU best practice, the reference of every ratio), with its NCHW-contiguous figure beside it.
//
//   npx tsx bench/train_onnx.ts [--model mobilenet_v2|resnet50|...] [--size 224] [--batch 16] [--iters 5]
//        [--threads 2] [--inter-op 1] [--rounds 2] [--no-torch] [--forms key=value,...] [--profile] [--spin]
// --spin: onnxruntime's idle threads spin (allowSpinning; tlkit's default is off).
// --freeze-bn: every BatchNormalization frozen (inference mode), as tlkit's fine-tune phase runs them, on
// both sides; with --forms foldFrozenBatchNorm=off the compiled step keeps them unfolded.
// --profile: onnxruntime's per-node profile of the measured steps, summed per layer class and direction
// (forward, backward, weight gradient), per op type and per node (bench/step_profile.ts).
// Prints one line per round (onnx img/s, PyTorch img/s, ratio) and a JSON summary with peak RSS;
// 'ratioOfBest' compares each engine's best round (the least disturbed by other load).
// It ends with the arithmetic bound (bench/roofline.ts): the step's FLOP per image, the GFLOP/s each
// engine reached, the machine's SGEMM peak measured in the same run (onnxruntime's MatMul here and
// torch.matmul in the PyTorch script, same threads), and the GFLOP/s a '2x PyTorch' target needs.
import { execFileSync } from 'node:child_process';
import { initEngine, tf } from '../src/engines/tfjs/tf.js';
import { buildClassifier } from '../src/models/classifier.js';
import { compileTrainingStep } from '../src/engines/onnx/training/compile_training_step.js';
import os from 'node:os';
import path from 'node:path';
import { formatStepProfile, newestProfile, readStepProfile } from './step_profile.js';
import { onnxSgemmPeak, trainingStepFlops } from './roofline.js';
import { setGradientForms, type GradientForms } from '../src/engines/onnx/training/conv_gradients.js';
import { flag } from './flags.js';

const modelId = flag('model', 'mobilenet_v2');
const size = Number(flag('size', '224'));
const batch = Number(flag('batch', '16'));
const iters = Number(flag('iters', '5'));
const threads = Number(flag('threads', '2'));
const interOp = Number(flag('inter-op', '1'));
const forms = flag('forms', '');
const profilePrefix = process.argv.includes('--profile') ? path.join(os.tmpdir(), `tlkit-step-profile-${process.pid}`) : undefined;
if (forms) setGradientForms(Object.fromEntries(forms.split(',').map((kv) => kv.split('='))) as Partial<GradientForms>);

await initEngine();
const classifier = buildClassifier({ backbone: modelId, backboneOptions: { inputShape: [size, size, 3], weights: null }, classes: 2, classMode: 'sparse', head: 'gap' });
const model = classifier.model;
const freezeBatchNorm = process.argv.includes('--freeze-bn');
if (freezeBatchNorm) for (const layer of [...model.layers, ...classifier.backbone.layers]) if (layer.getClassName() === 'BatchNormalization') layer.trainable = false;
let t0 = performance.now();
const step = await compileTrainingStep(model, { loss: 'sparse_categorical_crossentropy', optimizer: 'adam', learningRate: 1e-4, batchSize: batch, intraOpNumThreads: threads, interOpNumThreads: interOp, allowSpinning: process.argv.includes('--spin'), profilePrefix, cacheDir: false });
const compileMs = performance.now() - t0;
const x = new Float32Array(batch * size * size * 3).map((_, i) => ((i * 2654435761) % 1000) / 500 - 1);
const y = Float32Array.from({ length: batch }, (_, i) => i % 2);
await step.step(x, y); // warm-up (onnxruntime allocates its arena on the first run)

// The machine is shared: load swings change either side's speed by 2-5x within a minute, so the two
// engines alternate (`--rounds` rounds of onnx steps then a PyTorch run) and the ratio is taken per round.
const rounds = Number(flag('rounds', '2'));
const withTorch = !process.argv.includes('--no-torch') && (modelId === 'mobilenet_v2' || modelId === 'resnet50');
const onnxRates: number[] = [];
const torchRates: number[] = [];
const torchNchwRates: number[] = [];
let torchInfo: { torch: string; peak_rss_mb: number; sgemm_gflops: number } | undefined;
for (let round = 0; round < rounds; round++) {
  const times: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t = performance.now();
    const { loss } = await step.step(x, y);
    times.push(performance.now() - t);
    if (!Number.isFinite(loss)) throw new Error(`loss ${loss}`);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  onnxRates.push((batch * 1000) / median);
  let line = `round ${round + 1}: onnx compiled step ${modelId}@${size} batch ${batch}, ${threads} threads (inter-op ${interOp}): ${onnxRates[round].toFixed(2)} img/s (median ${median.toFixed(0)} ms of ${iters})`;
  if (withTorch) {
    const out = execFileSync('/usr/bin/python3', ['bench/train_onnx_torch.py', modelId, '--threads', String(threads), '--batch', String(batch), '--size', String(size), '--iters', String(iters), ...(freezeBatchNorm ? ['--freeze-bn'] : [])], { encoding: 'utf8' });
    const parsed = JSON.parse(out.trim().split('\n').pop()!) as { torch: string; peak_rss_mb: number; sgemm_gflops: number; results: Record<string, number>; results_nchw: Record<string, number> };
    torchInfo = parsed;
    torchRates.push(parsed.results[modelId]);
    torchNchwRates.push(parsed.results_nchw[modelId]);
    line += `; pytorch ${parsed.torch} channels_last: ${parsed.results[modelId].toFixed(2)} img/s (NCHW ${parsed.results_nchw[modelId].toFixed(2)}); ratio ${(onnxRates[round] / parsed.results[modelId]).toFixed(2)}`;
  }
  console.log(line);
}
const peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
const flops = trainingStepFlops(model);
const onnxPeak = await onnxSgemmPeak(threads);
const peak = Math.max(onnxPeak, torchInfo?.sgemm_gflops ?? 0);
const gflops = (imgPerSec: number): number => Number(((imgPerSec * flops.trainingFlops) / 1e9).toFixed(1));
await step.dispose();
tf.disposeVariables();
if (profilePrefix) console.log(formatStepProfile(readStepProfile(newestProfile(profilePrefix), model, rounds * iters + 1)));
const best = (v: number[]): number => Math.max(...v);
const summary = {
  model: modelId,
  size,
  batch,
  threads,
  compileMs: Math.round(compileMs),
  onnxImgPerSec: onnxRates.map((r) => Number(r.toFixed(2))),
  onnxPeakRssMb: peakRssMb,
  torchImgPerSec: withTorch ? torchRates.map((r) => Number(r.toFixed(2))) : null,
  torchNchwImgPerSec: withTorch ? torchNchwRates.map((r) => Number(r.toFixed(2))) : null,
  torchPeakRssMb: torchInfo?.peak_rss_mb ?? null,
  ratioPerRound: withTorch ? onnxRates.map((r, i) => Number((r / torchRates[i]).toFixed(2))) : null,
  ratioOfBest: withTorch ? Number((best(onnxRates) / best(torchRates)).toFixed(2)) : null,
  ratioOfBestToNchw: withTorch ? Number((best(onnxRates) / best(torchNchwRates)).toFixed(2)) : null,
  trainingGflopPerImage: Number((flops.trainingFlops / 1e9).toFixed(2)),
  onnxGflops: gflops(best(onnxRates)),
  torchGflops: withTorch ? gflops(best(torchRates)) : null,
  sgemmPeakGflops: { onnxruntime: Number(onnxPeak.toFixed(1)), torch: torchInfo ? Number(torchInfo.sgemm_gflops.toFixed(1)) : null },
};
const roofline = [
  `roofline: ${summary.trainingGflopPerImage} GFLOP per image per training step (convolutions and dense layers only);`,
  ` onnx reached ${summary.onnxGflops} GFLOP/s`,
  withTorch ? `, PyTorch channels_last ${summary.torchGflops} GFLOP/s` : '',
  `; SGEMM peak ${peak.toFixed(1)} GFLOP/s with ${threads} threads`,
  withTorch ? `; 2x PyTorch would need ${gflops(2 * best(torchRates))} GFLOP/s (${((gflops(2 * best(torchRates)) / peak) * 100).toFixed(0)}% of that peak)` : '',
].join('');
console.log(roofline);
console.log(JSON.stringify(summary));
