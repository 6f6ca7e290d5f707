// One onnxruntime session with every thread against one single-thread session per thread (createOnnxRunner's
// `sessions`), on the same model and the same batches, in alternating rounds: what the frozen prefix's pass,
// predict, evaluate and `tlkit serve` gain from splitting a batch's rows between sessions.
//
//   npx tsx bench/sessions.ts [--backbone mobilenet_v2] [--size 224] [--batch 16] [--seconds 4] [--rounds 3] [--int8]
//
// Rows: "1 x T threads, slices of 8" (the runner's default before sessions), "T x 1 thread, slices of 4" and
// "T x 1 thread, slices of 1" (what throughputOptions picks). Random weights: speed does not depend on them.
// --int8 adds the same rows for the model quantizeOnnx makes (calibrated on noise).
import { initEngine } from '../src/engines/tfjs/tf.js';
import { buildClassifier } from '../src/models/classifier.js';
import { exportOnnx } from '../src/engines/onnx/export.js';
import { int8OnNoise } from './int8_on_noise.js';
import { createOnnxRunner, defaultThreadCount, type OnnxRunner } from '../src/engines/onnx/session.js';
import { flag, hasFlag, numberFlag } from './flags.js';

const BACKBONE = flag('backbone', 'mobilenet_v2');
const SIZE = numberFlag('size', 224);
const BATCH = numberFlag('batch', 16);
const SECONDS = numberFlag('seconds', 4);
const ROUNDS = numberFlag('rounds', 3);
const THREADS = defaultThreadCount();

await initEngine();
const classifier = buildClassifier({ backbone: BACKBONE, backboneOptions: { inputShape: [SIZE, SIZE, 3] }, classes: 5, classMode: 'categorical' });
const models: Record<string, Uint8Array> = { float32: await exportOnnx(classifier.model) };
classifier.model.dispose();
if (hasFlag('int8')) {
  models.int8 = (await int8OnNoise(models.float32, SIZE)).model;
}
const batch = new Float32Array(BATCH * SIZE * SIZE * 3).map((_, i) => ((i * 7919) % 255) / 127.5 - 1);
const shape = [BATCH, SIZE, SIZE, 3];
const setups = [
  { name: `1 x ${THREADS} threads, slices of 8`, sessions: 1, maxRunBatch: 8 },
  { name: `${THREADS} x 1 thread, slices of 4`, sessions: THREADS, maxRunBatch: 4 },
  { name: `${THREADS} x 1 thread, slices of 1`, sessions: THREADS, maxRunBatch: 1 },
];

/** Images a second over `SECONDS`, after one warm-up batch. */
async function rate(runner: OnnxRunner): Promise<number> {
  await runner.run(batch, shape);
  let images = 0;
  const start = performance.now();
  while (performance.now() - start < SECONDS * 1000) {
    await runner.run(batch, shape);
    images += BATCH;
  }
  return images / ((performance.now() - start) / 1000);
}

const runners: { label: string; runner: OnnxRunner }[] = [];
for (const [precision, bytes] of Object.entries(models)) {
  for (const s of setups) runners.push({ label: `${precision}, ${s.name}`, runner: await createOnnxRunner(bytes, { worker: true, intraOpNumThreads: THREADS, sessions: s.sessions, maxRunBatch: s.maxRunBatch }) });
}
console.log(`${BACKBONE} @${SIZE}, batches of ${BATCH}, ${THREADS} threads, ${ROUNDS} alternating rounds of ${SECONDS} s; img/s:`);
const rates = runners.map(() => [] as number[]);
for (let round = 0; round < ROUNDS; round++) for (const [i, r] of runners.entries()) rates[i].push(await rate(r.runner));
for (const [i, r] of runners.entries()) {
  const first = rates[Math.floor(i / setups.length) * setups.length];
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  console.log(`  ${r.label.padEnd(40)} ${rates[i].map((x) => x.toFixed(1)).join(', ')} (mean ${mean(rates[i]).toFixed(1)}, ${(mean(rates[i]) / mean(first)).toFixed(2)}x the first row)`);
}
for (const r of runners) await r.runner.dispose();
