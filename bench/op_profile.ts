// Where onnxruntime spends an inference, per op type, for the float32 model and its int8 versions: which
// kernels int8 speeds up on this CPU and which it does not (docs/deployment-quantization.md, "Per op type").
//
//   npx tsx bench/op_profile.ts [--backbone mobilenet_v2] [--size 224] [--batch 4] [--runs 20] [--rounds 2]
//
// One single-thread session per model (as `tlkit serve` runs each of its sessions), onnxruntime's own
// profiler on, the models in alternating rounds; kernel time per image summed by op type, with grouped
// ("depthwise") convolutions apart from the others. Random weights, int8 calibrated on noise: speed does
// not depend on either. Rows: float32, int8 (tlkit's default), int8 with the first convolution quantized too.
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { initEngine } from '../src/engines/tfjs/tf.js';
import { buildClassifier } from '../src/models/classifier.js';
import { exportOnnx } from '../src/engines/onnx/export.js';
import { decodeModel, intAttribute } from '../src/engines/onnx/onnx_graph.js';
import { flag, numberFlag } from './flags.js';
import { int8OnNoise } from './int8_on_noise.js';

const BACKBONE = flag('backbone', 'mobilenet_v2');
const SIZE = numberFlag('size', 224);
const BATCH = numberFlag('batch', 4);
const RUNS = numberFlag('runs', 20);
const ROUNDS = numberFlag('rounds', 2);

await initEngine();
const classifier = buildClassifier({ backbone: BACKBONE, backboneOptions: { inputShape: [SIZE, SIZE, 3] }, classes: 5, classMode: 'categorical' });
const float32 = await exportOnnx(classifier.model);
classifier.model.dispose();
const models: Record<string, Uint8Array> = {
  float32,
  int8: (await int8OnNoise(float32, SIZE)).model,
  'int8, first conv too': (await int8OnNoise(float32, SIZE, { quantizeFirstConv: true })).model,
};

/** Layers whose convolution is grouped (depthwise: group > 1). onnxruntime renames the nodes it fuses after
 * the layer's last fused op (`block_1_depthwise_relu_nchwc`, `block_1_depthwise/Conv_quant`), so a node counts
 * as grouped when its name starts with such a layer's name: a heuristic, right for the Keras names tlkit uses. */
const grouped = decodeModel(float32).graph!.node!.filter((n) => n.opType === 'Conv' && intAttribute(n, 'group', 1) > 1).map((n) => n.name!.split('/')[0]);
const isGrouped = (nodeName: string): boolean => grouped.some((g) => nodeName === g || nodeName.startsWith(`${g}_`) || nodeName.startsWith(`${g}/`));

const input = new Float32Array(BATCH * SIZE * SIZE * 3).map((_, i) => ((i * 7919) % 255) / 127.5 - 1);
/** Kernel microseconds per image by op type, and wall ms per image, for one profiled session. */
async function profile(bytes: Uint8Array): Promise<{ byOp: Map<string, number>; wallMs: number }> {
  const base = `tlkit-op-profile-${process.pid}`;
  const prefix = join(tmpdir(), base);
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1, enableProfiling: true, profileFilePrefix: prefix });
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', input, [BATCH, SIZE, SIZE, 3]) };
  for (let i = 0; i < 3; i++) await session.run(feeds); // warm-up, profiled too: subtracted below
  const start = performance.now();
  for (let i = 0; i < RUNS; i++) await session.run(feeds);
  const wallMs = (performance.now() - start) / RUNS / BATCH;
  session.endProfiling(); // onnxruntime-node returns nothing: the file is PREFIX_<date>.json
  await session.release();
  const file = join(tmpdir(), readdirSync(tmpdir()).find((f) => f.startsWith(base) && f.endsWith('.json'))!);
  const events = JSON.parse(readFileSync(file, 'utf8')) as { cat: string; name: string; dur: number; args?: { op_name?: string } }[];
  rmSync(file, { force: true });
  const byOp = new Map<string, number>();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    const node = e.name.slice(0, -'_kernel_time'.length);
    const op = `${e.args?.op_name ?? '?'}${isGrouped(node) ? ' (grouped)' : ''}`;
    byOp.set(op, (byOp.get(op) ?? 0) + e.dur / ((RUNS + 3) * BATCH));
  }
  return { byOp, wallMs };
}

const names = Object.keys(models);
const totals = names.map(() => ({ byOp: new Map<string, number>(), wallMs: 0 }));
for (let round = 0; round < ROUNDS; round++) {
  for (const [i, name] of names.entries()) {
    const { byOp, wallMs } = await profile(models[name]);
    totals[i].wallMs += wallMs / ROUNDS;
    for (const [op, us] of byOp) totals[i].byOp.set(op, (totals[i].byOp.get(op) ?? 0) + us / ROUNDS);
  }
}
console.log(`${BACKBONE} @${SIZE}, batch ${BATCH}, 1 thread, ${ROUNDS} alternating rounds of ${RUNS} runs; kernel ms per image by op type:`);
for (const [i, name] of names.entries()) {
  const kernel = [...totals[i].byOp.values()].reduce((a, b) => a + b, 0);
  console.log(`\n${name}: ${totals[i].wallMs.toFixed(2)} ms/img wall, ${(kernel / 1000).toFixed(2)} in kernels`);
  for (const [op, us] of [...totals[i].byOp].sort((a, b) => b[1] - a[1])) {
    if (us / kernel < 0.002) continue;
    console.log(`  ${op.padEnd(32)} ${(us / 1000).toFixed(3).padStart(7)} ms  ${((100 * us) / kernel).toFixed(1).padStart(5)}%`);
  }
}
const wall0 = totals[0].wallMs;
console.log(`\nfloat32 / int8 wall: ${names.slice(1).map((n, i) => `${n} ${(wall0 / totals[i + 1].wallMs).toFixed(2)}x`).join(', ')}`);
