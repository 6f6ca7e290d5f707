// Single-op timings of alternative ONNX formulations for the compiled training step's slowest parts,
// each in its own onnxruntime-node session (2 threads, the step's session options), outputs reduced to
// a scalar so that copying them out does not count. docs/training-engines.md quotes the results.
//
//   npx tsx bench/op_forms.ts [--reps 5]
import * as ort from 'onnxruntime-node';
import { onnx, OnnxGraphBuilder } from '../src/engines/onnx/graph_builder.js';
import { Ops } from '../src/engines/onnx/training/ops.js';
import { convFilterGrad, setGradientForms } from '../src/engines/onnx/training/conv_gradients.js';
import { geometry } from '../src/engines/onnx/layers/geometry.js';
import { probeNchwcBlockSize } from '../src/engines/onnx/training/nchwc.js';
import { bestRunMs } from './roofline.js';

const repsAt = process.argv.indexOf('--reps');
const reps = repsAt >= 0 ? Number(process.argv[repsAt + 1]) : 5;

type Build = (o: Ops, inputs: string[]) => string[];

async function timeForm(label: string, inputs: Record<string, number[]>, build: Build): Promise<number> {
  const b = new OnnxGraphBuilder();
  const o = new Ops(b);
  for (const name of Object.keys(inputs)) b.reserve(name);
  const outputs = build(o, Object.keys(inputs)).map((name, i) => o.op('ReduceSum', [name], `sum${i}`, { keepdims: 0 }));
  const info = (name: string, shape?: number[]) => ({ name, type: { tensorType: { elemType: 1, ...(shape ? { shape: { dim: shape.map((d) => ({ dimValue: d })) } } : {}) } } });
  const proto = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: { name: 'form', node: b.nodes, initializer: b.initializers, input: Object.entries(inputs).map(([n, s]) => info(n, s)), output: outputs.map((n) => info(n)) },
  });
  const session = await ort.InferenceSession.create(onnx.ModelProto.encode(proto).finish(), { intraOpNumThreads: 2, graphOptimizationLevel: 'all', enableMemPattern: false });
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, shape] of Object.entries(inputs)) {
    const size = shape.reduce((a, c) => a * c, 1);
    feeds[name] = new ort.Tensor('float32', Float32Array.from({ length: size }, (_, i) => ((i * 2654435761) % 1000) / 100 - 2), shape);
  }
  const best = await bestRunMs(session, feeds, reps);
  await session.release();
  console.log(`  ${label.padEnd(48)} ${best.toFixed(1).padStart(7)} ms (best of ${reps})`);
  return best;
}

const block = await probeNchwcBlockSize();
console.log(`depthwise 3x3 filter gradient, batch 16 (MobileNetV2 shapes; NCHWc block ${block ?? 'none'}):`);
for (const k of [
  { name: 'C144 56x56 stride 1', c: 144, h: 56, s: 1 },
  { name: 'C96 112x112 stride 2', c: 96, h: 112, s: 2 },
  { name: 'C384 14x14 stride 1', c: 384, h: 14, s: 1 },
]) {
  const n = 16;
  const g = geometry([n, k.h, k.h, k.c], [3, 3], [k.s, k.s], 'same');
  const [ho, wo] = g.outSize;
  const shape = { batch: n, inChannels: k.c, outChannels: k.c, group: k.c };
  const inputs = { x: [n, k.c, k.h, k.h], dy: [n, k.c, ho, wo] };
  console.log(` ${k.name}`);
  for (const form of block ? (['nchwc', 'grouped-conv', 'shifted-mul'] as const) : (['grouped-conv', 'shifted-mul'] as const)) {
    const previous = setGradientForms({ depthwiseFilterGrad: form });
    await timeForm(form, inputs, (o, [x, dy]) => [convFilterGrad(o, x, dy, g, shape, 'f')]);
    setGradientForms(previous);
  }
  const oneHot = new Float32Array(81);
  for (let t = 0; t < 9; t++) oneHot[t * 9 + t] = 1;
  await timeForm('im2col by a constant one-hot Conv + batched MatMul', inputs, (o, [x, dy]) => {
    const w = o.b.addFloatInitializer('onehot', oneHot, [9, 1, 3, 3]);
    const x9 = o.op('Conv', [o.reshape(x, [n * k.c, 1, k.h, k.h], 'xr'), w], 'x9', { kernel_shape: [3, 3], strides: [k.s, k.s], pads: g.pads });
    const product = o.op('MatMul', [o.reshape(x9, [n, k.c, 9, ho * wo], 'a'), o.reshape(dy, [n, k.c, ho * wo, 1], 'v')], 'mm');
    return [o.reduceSum(product, [0], false, 'dw')];
  });
}

const big = [16, 96, 112, 112];
console.log(`ReLU6 backward on ${big.join('x')} (y = the forward output):`);
await timeForm('baseline: one elementwise pass (Relu)', { y: big }, (o, [y]) => [o.op('Relu', [y], 'r')]);
const inside = (o: Ops, y: string): string => o.op('And', [o.op('Greater', [y, o.scalar(0)], 'p'), o.op('Less', [y, o.scalar(6)], 'l')], 'in');
await timeForm('Greater, Less, And, Cast, Mul (the step)', { y: big, dy: big }, (o, [y, dy]) => [o.mul(dy, o.op('Cast', [inside(o, y)], 'c', { to: 1 }), 'g')]);
await timeForm('Greater, Less, And, Where', { y: big, dy: big }, (o, [y, dy]) => [o.op('Where', [inside(o, y), dy, o.scalar(0)], 'g')]);
await timeForm('Sign(y (6 - y)) * dy', { y: big, dy: big }, (o, [y, dy]) => [o.mul(dy, o.op('Sign', [o.mul(y, o.sub(o.scalar(6), y, 's'), 'm')], 'sg'), 'g')]);
// HardSigmoid(a y + b) = max(0, min(1, a y + b)) with a = 2^100 is the indicator of y > 0 (exact for y outside
// (0, 2^-100)); a = -2^100, b = 6 2^100 that of y < 6 (exact: 2^100 y and 6 2^100 are exact, their sum by Sterbenz).
const BIG = 2 ** 100;
const hardSigmoid = (o: Ops, y: string, alpha: number, beta: number, hint: string): string => o.op('HardSigmoid', [y], hint, { alpha: { float: alpha }, beta: { float: beta } });
await timeForm('HardSigmoid (y > 0) * HardSigmoid (y < 6) * dy', { y: big, dy: big }, (o, [y, dy]) => [o.mul(dy, o.mul(hardSigmoid(o, y, BIG, 0, 'pos'), hardSigmoid(o, y, -BIG, 6 * BIG, 'lt6'), 'in'), 'g')]);
await timeForm('(HardSigmoid (y > 0) * dy) * HardSigmoid (y < 6)', { y: big, dy: big }, (o, [y, dy]) => [o.mul(o.mul(dy, hardSigmoid(o, y, BIG, 0, 'pos'), 'g0'), hardSigmoid(o, y, -BIG, 6 * BIG, 'lt6'), 'g')]);
console.log(`ReLU backward on ${big.join('x')}:`);
await timeForm('Greater, Cast, Mul (the step)', { y: big, dy: big }, (o, [y, dy]) => [o.mul(dy, o.op('Cast', [o.op('Greater', [y, o.scalar(0)], 'p')], 'c', { to: 1 }), 'g')]);
await timeForm('HardSigmoid (y > 0) * dy', { y: big, dy: big }, (o, [y, dy]) => [o.mul(dy, hardSigmoid(o, y, BIG, 0, 'pos'), 'g')]);

console.log('BatchNorm backward sum(dy * x) per channel:');
for (const [n, c, h] of [[16, 96, 112], [16, 144, 56], [16, 576, 14]]) {
  const shape = [n, c, h, h];
  console.log(` ${shape.join('x')}`);
  await timeForm('Mul + ReduceSum (the step)', { x: shape, dy: shape }, (o, [x, dy]) => [o.reduceSum(o.mul(dy, x, 'm'), [0, 2, 3], false, 's')]);
  await timeForm('batched MatMul dot + ReduceSum over the batch', { x: shape, dy: shape }, (o, [x, dy]) => [
    o.reduceSum(o.op('MatMul', [o.reshape(dy, [n, c, 1, h * h], 'a'), o.reshape(x, [n, c, h * h, 1], 'b')], 'mm'), [0, 2, 3], false, 's'),
  ]);
}

console.log(`BatchNorm backward dx = k dy + c1 x + c0 (per-channel k, c1, c0) on ${big.join('x')}:`);
const perChannel = (o: Ops, v: number, hint: string): string => o.b.addFloatInitializer(hint, new Float32Array(big[1]).fill(v), [big[1]]);
const affine = (o: Ops, v: string, scale: string, shift: string, hint: string): string =>
  o.op('BatchNormalization', [v, scale, shift, perChannel(o, 0, `${hint}_m`), perChannel(o, 1 - 1 / 1024, `${hint}_v`)], hint, { epsilon: { float: 1 / 1024 } });
await timeForm('affine(x), Mul(dy, k broadcast), Add (the step)', { x: big, dy: big }, (o, [x, dy]) => [
  o.add(o.mul(dy, o.reshape(perChannel(o, 0.5, 'k'), [1, big[1], 1, 1], 'kb'), 'dyk'), affine(o, x, perChannel(o, 0.25, 'c1'), perChannel(o, 0.1, 'c0'), 'xa'), 'dx'),
]);
await timeForm('affine(x), affine(dy), Add', { x: big, dy: big }, (o, [x, dy]) => [
  o.add(affine(o, dy, perChannel(o, 0.5, 'k'), perChannel(o, 0, 'z'), 'dya'), affine(o, x, perChannel(o, 0.25, 'c1'), perChannel(o, 0.1, 'c0'), 'xa'), 'dx'),
]);
await timeForm('affine(x), Sum(dy k broadcast, ...)', { x: big, dy: big }, (o, [x, dy]) => [
  o.op('Sum', [o.mul(dy, o.reshape(perChannel(o, 0.5, 'k'), [1, big[1], 1, 1], 'kb'), 'dyk'), affine(o, x, perChannel(o, 0.25, 'c1'), perChannel(o, 0.1, 'c0'), 'xa')], 'dx'),
]);
