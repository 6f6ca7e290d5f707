// `tlkit serve` under load, in one run: autocannon posts one JPEG at concurrency 1, 8 and 32 to a server
// running as its own process on 127.0.0.1, and the same model's ONNX predictor is timed alone on full
// batches in this process (with the server idle), so the served rate can be read against what the
// model itself can do. Then a soak: constant load for --soak seconds, the server's resident memory
// (VmRSS) printed at its start and end.
// First, float32 against int8 (issue 25): the run is quantized (RUN/model.int8.onnx, calibrated on noise
// images: speed does not depend on the weights), a second server serves it with --quantize int8, and both
// are loaded at concurrency 16 in turns (float32, int8, float32, int8...: the machine is shared, so each
// precision sees the same spells of load), printing img/s of each, the ratio, and each server's CPU time per
// image (steadier than img/s on a shared machine). --int8-only stops there.
//
//   npx tsx bench/serve.ts [--backbone mobilenet_v2] [--size 224] [--image 224] [--duration 10] [--soak 120] [--max-batch 16] [--run-batch 4] [--threads N] [--sessions N]
//                          [--rounds 3] [--int8-only] [--first-conv int8|float]
//
// Target (issue 25): int8 >= 1.5x float32's img/s at concurrency 16.
// Targets (issue 15): 0 errors; served img/s at c=32 >= 0.8x the predictor's own batch throughput;
// RSS flat within 10% over the soak. The model has random weights (speed does not depend on them).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import sharp from 'sharp';
import { initEngine } from '../src/engines/tfjs/tf.js';
import { buildClassifier } from '../src/models/classifier.js';
import { createOnnxPredictor } from '../src/engines/onnx/predictor.js';
import { defaultThreadCount } from '../src/engines/onnx/session.js';
import { loadModel, saveModel } from '../src/weights/saved_model.js';
import { exportOnnx } from '../src/engines/onnx/export.js';
import { int8OnNoise } from './int8_on_noise.js';
import { modelFingerprint, QUANTIZED_METADATA, quantizedOnnxPath, withOnnxMetadata } from '../src/weights/quantized_onnx.js';

interface Args {
  backbone: string;
  size: number;
  image: number;
  duration: number;
  soak: number;
  maxBatch: number;
  runBatch: number;
  threads?: number;
  sessions?: number;
  rounds: number;
  int8Only: boolean;
  /** The int8 model's first convolution: 'int8' (what `tlkit export` writes unless the accuracy check sends it back to float) or 'float'. */
  firstConv: 'int8' | 'float';
}

function parseArgs(argv: string[]): Args {
  const args: Args = { backbone: 'mobilenet_v2', size: 224, image: 224, duration: 10, soak: 120, maxBatch: 16, runBatch: 4, rounds: 3, int8Only: false, firstConv: 'int8' };
  for (let i = 0; i < argv.length; i++) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--int8-only') {
      args.int8Only = true;
      continue;
    }
    if (flag === '--backbone') args.backbone = value;
    else if (flag === '--size') args.size = Number(value);
    else if (flag === '--image') args.image = Number(value);
    else if (flag === '--duration') args.duration = Number(value);
    else if (flag === '--soak') args.soak = Number(value);
    else if (flag === '--max-batch') args.maxBatch = Number(value);
    else if (flag === '--run-batch') args.runBatch = Number(value);
    else if (flag === '--threads') args.threads = Number(value);
    else if (flag === '--sessions') args.sessions = Number(value);
    else if (flag === '--rounds') args.rounds = Number(value);
    else if (flag === '--first-conv' && (value === 'int8' || value === 'float')) args.firstConv = value;
    else throw new Error(`unknown argument ${flag}`);
    i++;
  }
  return args;
}

/** CPU seconds (user + system, every thread) a process has used: /proc/PID/stat fields 14 and 15. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
}

function rssMiB(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
  return kb / 1024;
}

/** --sessions N, given to every server the bench starts (default: the server's own). */
let sessionFlags: string[] = [];

async function startServer(run: string, maxBatch: number, runBatch: number, threads: number | undefined, extra: string[] = []): Promise<{ child: ChildProcess; url: string }> {
  extra = [...sessionFlags, ...extra];
  const bin = fileURLToPath(new URL('../bin/tlkit.js', import.meta.url));
  const child = spawn(process.execPath, [bin, 'serve', run, '--port', '0', '--max-batch', String(maxBatch), '--run-batch', String(runBatch), '--max-queue', '256', ...(threads ? ['--threads', String(threads)] : []), ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`tlkit serve exited (${code}): ${out}`)));
  });
  return { child, url };
}

interface Load {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  requests: number;
}

async function load(url: string, body: Buffer, connections: number, seconds: number): Promise<Load> {
  const result = await autocannon({ url: `${url}/v1/predict`, method: 'POST', headers: { 'content-type': 'image/jpeg' }, body, connections, duration: seconds });
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, errors: result.errors + result.timeouts, non2xx: result.non2xx, requests: result.requests.total };
}

/** The predictor alone on full batches: images per second over `seconds` (after one warm-up batch). */
async function predictorRate(run: string, maxBatch: number, runBatch: number, threads: number | undefined, size: number, seconds: number): Promise<number> {
  const { loadModel } = await import('../src/weights/saved_model.js');
  const { model } = await loadModel(run);
  // The server's sessions: --sessions, else one per thread.
  const allThreads = threads ?? defaultThreadCount();
  const predictor = await createOnnxPredictor(model, { worker: true, batchSize: runBatch, intraOpNumThreads: allThreads, sessions: sessionFlags.length ? Number(sessionFlags[1]) : allThreads });
  model.dispose();
  const batch = new Float32Array(maxBatch * size * size * 3).map((_, i) => ((i * 7919) % 255) / 127.5 - 1);
  await predictor.predictArray(batch, [maxBatch, size, size, 3]);
  let images = 0;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    await predictor.predictArray(batch, [maxBatch, size, size, 3]);
    images += maxBatch;
  }
  const rate = images / ((performance.now() - start) / 1000);
  await predictor.dispose();
  return rate;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.sessions) sessionFlags = ['--sessions', String(args.sessions)];
  await initEngine();
  const root = mkdtempSync(join(tmpdir(), 'tlkit-bench-serve-'));
  const run = join(root, 'run');
  const c = buildClassifier({ backbone: args.backbone, backboneOptions: { inputShape: [args.size, args.size, 3] }, classes: 5, classMode: 'categorical' });
  await saveModel(join(run, 'model'), c.model, { classNames: ['a', 'b', 'c', 'd', 'e'], classMode: 'categorical', preprocess: c.preprocess, inputSize: [args.size, args.size], backbone: args.backbone, weightsSource: 'none' });
  c.model.dispose();
  const noise = Buffer.alloc(args.image * args.image * 3).map((_, i) => (i * 2654435761) >>> 24);
  const jpeg = await sharp(noise, { raw: { width: args.image, height: args.image, channels: 3 } }).jpeg({ quality: 85 }).toBuffer();
  console.log(`${args.backbone} @${args.size}, random weights; body: ${args.image}x${args.image} JPEG (${jpeg.length} bytes); server: --max-batch ${args.maxBatch} --run-batch ${args.runBatch}${args.threads ? ` --threads ${args.threads}` : ''}${args.sessions ? ` --sessions ${args.sessions}` : ' (sessions: one per thread)'}, batch window 4 ms`);
  await comparePrecisions(run, jpeg, args);
  if (args.int8Only) {
    rmSync(root, { recursive: true, force: true });
    return;
  }

  const { child, url } = await startServer(run, args.maxBatch, args.runBatch, args.threads);
  try {
    await load(url, jpeg, 8, 2); // warm-up
    // Timed before and after the load runs (the machine is shared): the ratio uses their mean.
    const aloneBefore = await predictorRate(run, args.maxBatch, args.runBatch, args.threads, args.size, args.duration);
    const rows: [number, Load][] = [];
    for (const connections of [1, 8, 32]) rows.push([connections, await load(url, jpeg, connections, args.duration)]);
    const aloneAfter = await predictorRate(run, args.maxBatch, args.runBatch, args.threads, args.size, args.duration);
    const alone = (aloneBefore + aloneAfter) / 2;
    console.log(`predictor alone (createOnnxPredictor, batches of ${args.maxBatch} run in slices of ${args.runBatch}, server idle): ${aloneBefore.toFixed(1)} img/s before, ${aloneAfter.toFixed(1)} after the load runs; mean ${alone.toFixed(1)}`);
    console.log('concurrency  img/s   p50 ms  p99 ms  errors  non-2xx  served/predictor');
    for (const [connections, r] of rows) {
      console.log(`${String(connections).padStart(11)}  ${r.rps.toFixed(1).padStart(5)}  ${String(r.p50).padStart(7)}  ${String(r.p99).padStart(6)}  ${String(r.errors).padStart(6)}  ${String(r.non2xx).padStart(7)}  ${(r.rps / alone).toFixed(2)}x`);
    }
    if (args.soak > 0) {
      const before = rssMiB(child.pid!);
      // Samples along the way tell a trend (a leak) from the allocator's and the GC's ups and downs.
      const samples: number[] = [];
      const sampler = setInterval(() => samples.push(rssMiB(child.pid!)), (args.soak * 1000) / 8);
      const r = await load(url, jpeg, 8, args.soak);
      clearInterval(sampler);
      const after = rssMiB(child.pid!);
      console.log(`soak ${args.soak} s at concurrency 8: ${r.requests} requests, ${r.rps.toFixed(1)} img/s, errors ${r.errors}, non-2xx ${r.non2xx}; server RSS ${before.toFixed(0)} MiB (idle, before) -> ${after.toFixed(0)} MiB (${(((after - before) / before) * 100).toFixed(1)}%); every ${args.soak / 8} s: ${samples.map((m) => m.toFixed(0)).join(', ')} MiB; end vs first sample under load: ${(((after - samples[0]) / samples[0]) * 100).toFixed(1)}%`);
    }
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.on('exit', resolve));
    rmSync(root, { recursive: true, force: true });
  }
}

/** Writes RUN/model.int8.onnx as `tlkit export --quantize int8` would (calibrated on noise: the bench measures speed only). */
async function writeInt8Model(run: string, size: number, firstConv: 'int8' | 'float'): Promise<string> {
  const modelDir = join(run, 'model');
  const { model } = await loadModel(modelDir);
  const floatBytes = await exportOnnx(model);
  model.dispose();
  const { model: int8, report } = await int8OnNoise(floatBytes, size, { quantizeFirstConv: firstConv === 'int8' });
  await writeFile(quantizedOnnxPath(modelDir), withOnnxMetadata(int8, { [QUANTIZED_METADATA.precision]: 'int8', [QUANTIZED_METADATA.sourceFingerprint]: modelFingerprint(modelDir) }));
  return `${Object.entries(report.quantized).map(([op, n]) => `${n} ${op}`).join(', ')} quantized (weights ${report.weightType}, activations ${report.activationType})`;
}

async function comparePrecisions(run: string, jpeg: Buffer, args: Args): Promise<void> {
  const what = await writeInt8Model(run, args.size, args.firstConv);
  const servers = { float32: await startServer(run, args.maxBatch, args.runBatch, args.threads), int8: await startServer(run, args.maxBatch, args.runBatch, args.threads, ['--quantize', 'int8']) };
  const rates: Record<'float32' | 'int8', number[]> = { float32: [], int8: [] };
  // CPU time per image served: the machine is shared, and the servers' share of it swings more than
  // what each image costs them.
  const cpu: Record<'float32' | 'int8', { seconds: number; images: number }> = { float32: { seconds: 0, images: 0 }, int8: { seconds: 0, images: 0 } };
  const loads: number[] = [];
  try {
    for (const s of Object.values(servers)) await load(s.url, jpeg, 8, 2); // warm-up
    for (let round = 0; round < args.rounds; round++) {
      for (const precision of ['float32', 'int8'] as const) {
        const before = cpuSeconds(servers[precision].child.pid!);
        const r = await load(servers[precision].url, jpeg, 16, args.duration);
        if (r.errors || r.non2xx) throw new Error(`${precision} server: ${r.errors} errors, ${r.non2xx} non-2xx`);
        cpu[precision].seconds += cpuSeconds(servers[precision].child.pid!) - before;
        cpu[precision].images += r.requests;
        rates[precision].push(r.rps);
        loads.push(os.loadavg()[0]);
      }
    }
  } finally {
    for (const s of Object.values(servers)) {
      s.child.kill('SIGTERM');
      await new Promise((resolve) => s.child.on('exit', resolve));
    }
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  console.log(`float32 vs int8 (${what}), concurrency 16, ${args.rounds} alternating rounds of ${args.duration} s, 1-min load average ${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)} on ${os.availableParallelism()} cores:`);
  console.log(`  float32 img/s: ${rates.float32.map((r) => r.toFixed(1)).join(', ')} (mean ${mean(rates.float32).toFixed(1)})`);
  console.log(`  int8    img/s: ${rates.int8.map((r) => r.toFixed(1)).join(', ')} (mean ${mean(rates.int8).toFixed(1)})`);
  console.log(`  int8 / float32: ${(mean(rates.int8) / mean(rates.float32)).toFixed(2)}x (per round: ${rates.int8.map((r, i) => (r / rates.float32[i]).toFixed(2)).join(', ')})`);
  const msPerImage = (p: 'float32' | 'int8') => (cpu[p].seconds * 1000) / cpu[p].images;
  console.log(`  server CPU time per image (all threads): float32 ${msPerImage('float32').toFixed(1)} ms, int8 ${msPerImage('int8').toFixed(1)} ms: int8 costs ${(msPerImage('float32') / msPerImage('int8')).toFixed(2)}x less`);
}

await main();
