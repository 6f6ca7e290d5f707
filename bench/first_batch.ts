// Fixed cost of full fine-tuning with the compiled step, cold and warm: two fresh processes in a row on
// one empty cache directory, each building the classifier (random weights), compiling the step and
// running its first batch. The second process finds the compiled step in the cache
// (src/engines/onnx/compiled_cache.ts); the target is that it starts training within a second of
// having its weights.
//
//   npx tsx bench/first_batch.ts [--model mobilenet_v2|resnet50|...] [--size 224] [--batch 16] [--threads 2] [--runs 2]
// Prints one line per process (compile = weights ready -> step ready, wall and CPU time; cache hit/miss;
// first batch; a steady step for comparison) and a JSON summary. On a shared machine the CPU time of the
// compile is the steadier figure (onnxruntime's optimiser is single-threaded).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { flag } from './flags.js';

const modelId = flag('model', 'mobilenet_v2');
const size = Number(flag('size', '224'));
const batch = Number(flag('batch', '16'));
const threads = Number(flag('threads', '2'));

interface ChildResult {
  cache: string;
  buildMs: number;
  compileMs: number;
  /** CPU time of this process during the compile: less sensitive than wall time to other load. */
  compileCpuMs: number;
  firstBatchMs: number;
  steadyStepMs: number;
}

if (process.argv.includes('--child')) {
  const { initEngine } = await import('../src/engines/tfjs/tf.js');
  const { buildClassifier } = await import('../src/models/classifier.js');
  const { compileTrainingStep } = await import('../src/engines/onnx/training/compile_training_step.js');
  await initEngine();
  let t = performance.now();
  const classifier = buildClassifier({ backbone: modelId, backboneOptions: { inputShape: [size, size, 3], weights: null }, classes: 2, classMode: 'sparse', head: 'gap' });
  const buildMs = performance.now() - t;
  // From here the weights are ready: what follows is the fixed cost before training.
  const cpu = process.cpuUsage();
  const step = await compileTrainingStep(classifier.model, { loss: 'sparse_categorical_crossentropy', batchSize: batch, learningRate: 1e-4, intraOpNumThreads: threads });
  const compileCpu = process.cpuUsage(cpu);
  const x = new Float32Array(batch * size * size * 3).map((_, i) => ((i * 2654435761) % 1000) / 500 - 1);
  const y = Float32Array.from({ length: batch }, (_, i) => i % 2);
  t = performance.now();
  await step.step(x, y);
  const firstBatchMs = performance.now() - t;
  t = performance.now();
  await step.step(x, y);
  const steadyStepMs = performance.now() - t;
  await step.dispose();
  const result: ChildResult = { cache: step.compileInfo.cache, buildMs, compileMs: step.compileInfo.compileMs, compileCpuMs: (compileCpu.user + compileCpu.system) / 1000, firstBatchMs, steadyStepMs };
  console.log(JSON.stringify(result));
} else {
  const runs = Number(flag('runs', '2'));
  const cacheDir = mkdtempSync(path.join(os.tmpdir(), 'tlkit-first-batch-'));
  const results: ChildResult[] = [];
  try {
    for (let run = 0; run < runs; run++) {
      const out = execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), ...process.argv.slice(2), '--child'], {
        encoding: 'utf8',
        env: { ...process.env, TLKIT_CACHE_DIR: cacheDir },
      });
      const r = JSON.parse(out.trim().split('\n').pop()!) as ChildResult;
      results.push(r);
      console.log(
        `process ${run + 1}: ${modelId}@${size} batch ${batch}: cache ${r.cache}; compile ${(r.compileMs / 1000).toFixed(2)} s (weights ready -> step ready; ${(r.compileCpuMs / 1000).toFixed(2)} s CPU); ` +
          `first batch ${(r.firstBatchMs / 1000).toFixed(2)} s; a steady step ${(r.steadyStepMs / 1000).toFixed(2)} s`,
      );
    }
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
  console.log(JSON.stringify({ model: modelId, size, batch, threads, results: results.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'number' ? Math.round(v) : v]))) }));
}
