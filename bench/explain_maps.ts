// The pointing game of CAM variants, per layer, on one model trained by tlkit's own trainRun on the bright-square
// set (the class is the half holding the square): trains once into --keep (reused on the next call), then for
// each layer computes, per held-out image, the feature map A, the gradient G of the predicted class's log-odds
// (and of its logit alone), and A for two reference images (the image filled with its mean colour; the image
// box-blurred over a quarter of its side), and scores every map below: "hits/in-half" = the share of correctly
// classified images whose peak lies in the square grown by a quarter of its side / in the square's half.
// Variants (sums over channels k, per cell): hires = G A (tlkit's default, HiResCAM; Grad-CAM for a GAP head);
// hires-abs = |G A| (the signed sum's magnitude); anti = -G A (the other class's map); layercam = relu(G) A; median/mean = G (A - per-channel spatial
// median/mean); fill/blur = G (A - A_ref); *-abs = |that|; ch-median-abs = |A - median| (no gradient);
// logit / logit-pos = G_logit A / relu(G_logit) A; common = (G_logit + G_other logit) A (the logits' common
// part); absterm = |G A| per channel; pos-blur = relu(G (A - A_blur)) per channel; pos-med; gcpp = Grad-CAM++;
// gdiff-abs = |G (A - A_blur)| per channel. Then the maps of two or three layers fused (sum / product of the
// relu'd, peak-scaled maps at the input's size) for the variants in $FUSE.
// Run: npx tsx bench/explain_maps.ts --keep DIR [--size 128] [--recipe default|two-phase|frozen] [--seed 1] [--noise 140]
//        [--train 200] [--test 120] [--layers default,block_13_expand_relu,block_6_expand_relu]
// (--recipe default: `tlkit train`'s defaults, i.e. the whole model trained from the start, epochs auto (5), adam 1e-3,
// batch 32; two-phase: 3 epochs on the frozen backbone then 3 fine-tuning all, batch 16; frozen: head only, 10 epochs.
// The held-out set's seed is 7 + 100 x seed. A model saved elsewhere (e.g. by scratch_small_gap.ts) is read from DIR/run.)
import { initEngine, tf, tfl, type SymbolicTensor } from '../src/engines/tfjs/tf.js';
import { loadModel } from '../src/weights/saved_model.js';
import { loadImageForModel } from '../src/inference/predict.js';
import { splitAtLayer } from '../src/engines/onnx/split_at_layer.js';
import { producerNode } from '../src/engines/onnx/model_graph.js';
import { openInferenceEngine } from '../src/engines/inference_engine.js';
import { lastConvolutionalLayer } from '../src/inference/explain.js';
import { resizeHeatmap, type Heatmap } from '../src/inference/grad_cam.js';
import { pointsAtSquare } from '../test/helpers/bright_square_set.js';
import { squareSetModel } from './square_model.js';
import { flag, numberFlag } from './flags.js';

const SIZE = numberFlag('size', 128);
const TRAIN = numberFlag('train', 200);
const TEST = numberFlag('test', 120);
const NOISE = numberFlag('noise', 140);
const SEED = numberFlag('seed', 1);
const RECIPE = flag('recipe', 'default');
const KEEP = flag('keep', '/tmp/x3/run');
const LAYERS = flag('layers', 'default,block_13_expand_relu,block_6_expand_relu');
const BACKBONE = flag('backbone', 'mobilenet_v2');
const WEIGHTS = flag('weights', 'nsfwjs');
const HEAD = flag('head', 'gap');

await initEngine();
const { runDir, testSet, files } = await squareSetModel({ keep: KEEP, size: SIZE, train: TRAIN, test: TEST, noise: NOISE, seed: SEED, recipe: RECIPE, backbone: BACKBONE, weights: WEIGHTS, head: HEAD });
const { model, metadata } = await loadModel(runDir);
const [h, w] = metadata.inputSize;
const xs = await Promise.all(files.map((f) => loadImageForModel(f, metadata)));
const X = tf.tensor4d(Float32Array.from(xs.flatMap((x) => Array.from(x))), [files.length, h, w, 3]);
// references: per-image channel mean fill; box blur (size/4 window)
const fill = tf.tidy(() => tf.mul(tf.onesLike(X), tf.mean(X, [1, 2], true)));
const k = Math.round(SIZE / 4);
const blur = tf.tidy(() => tf.avgPool(X, [k, k], [1, 1], 'same') as tf.Tensor4D);

function headOf(rest: tfl.LayersModel) {
  const output = rest.outputs[0];
  const layer = output.sourceLayer;
  const input = producerNode(output).inputTensors[0] as SymbolicTensor;
  const both = tfl.model({ inputs: rest.inputs, outputs: [input, output] });
  const [kernel, bias] = layer.getWeights();
  return (a: tf.Tensor) => {
    const [hh] = both.apply(a, { training: false }) as [tf.Tensor2D, tf.Tensor];
    return tf.add(tf.matMul(hh, kernel as tf.Tensor2D), bias);
  };
}

type Variant = (A: Float32Array, G: Float32Array, refs: Record<string, Float32Array> & { gc?: Float32Array }, cells: number, ch: number) => Float32Array;
const perCell = (cells: number, ch: number, f: (p: number, c: number) => number) => {
  const out = new Float32Array(cells);
  for (let p = 0; p < cells; p++) { let s = 0; for (let c = 0; c < ch; c++) s += f(p, c); out[p] = s; }
  return out;
};
const chanStat = (A: Float32Array, cells: number, ch: number, kind: 'mean' | 'median') => {
  const out = new Float32Array(ch);
  for (let c = 0; c < ch; c++) {
    const v = Array.from({ length: cells }, (_, p) => A[p * ch + c]);
    if (kind === 'mean') out[c] = v.reduce((a, b) => a + b, 0) / cells;
    else { v.sort((a, b) => a - b); out[c] = cells % 2 ? v[(cells - 1) / 2] : (v[cells / 2 - 1] + v[cells / 2]) / 2; }
  }
  return out;
};
const abs = (m: Float32Array) => m.map(Math.abs);
const variants: Record<string, Variant> = {
  hires: (A, G, _r, n, ch) => perCell(n, ch, (p, c) => G[p * ch + c] * A[p * ch + c]),
  'hires-abs': (A, G, _r, n, ch) => abs(perCell(n, ch, (p, c) => G[p * ch + c] * A[p * ch + c])),
  anti: (A, G, _r, n, ch) => perCell(n, ch, (p, c) => -G[p * ch + c] * A[p * ch + c]),
  layercam: (A, G, _r, n, ch) => perCell(n, ch, (p, c) => Math.max(0, G[p * ch + c]) * A[p * ch + c]),
  'median': (A, G, _r, n, ch) => { const b = chanStat(A, n, ch, 'median'); return perCell(n, ch, (p, c) => G[p * ch + c] * (A[p * ch + c] - b[c])); },
  'median-abs': (A, G, _r, n, ch) => { const b = chanStat(A, n, ch, 'median'); return abs(perCell(n, ch, (p, c) => G[p * ch + c] * (A[p * ch + c] - b[c]))); },
  'mean': (A, G, _r, n, ch) => { const b = chanStat(A, n, ch, 'mean'); return perCell(n, ch, (p, c) => G[p * ch + c] * (A[p * ch + c] - b[c])); },
  'mean-abs': (A, G, _r, n, ch) => { const b = chanStat(A, n, ch, 'mean'); return abs(perCell(n, ch, (p, c) => G[p * ch + c] * (A[p * ch + c] - b[c]))); },
  'ch-median-abs': (A, _G, _r, n, ch) => { const b = chanStat(A, n, ch, 'median'); return perCell(n, ch, (p, c) => Math.abs(A[p * ch + c] - b[c])); },
  fill: (A, G, r, n, ch) => perCell(n, ch, (p, c) => G[p * ch + c] * (A[p * ch + c] - r.fill[p * ch + c])),
  'fill-abs': (A, G, r, n, ch) => abs(perCell(n, ch, (p, c) => G[p * ch + c] * (A[p * ch + c] - r.fill[p * ch + c]))),
  blur: (A, G, r, n, ch) => perCell(n, ch, (p, c) => G[p * ch + c] * (A[p * ch + c] - r.blur[p * ch + c])),
  'blur-abs': (A, G, r, n, ch) => abs(perCell(n, ch, (p, c) => G[p * ch + c] * (A[p * ch + c] - r.blur[p * ch + c]))),
  logit: (A, _G, r, n, ch) => perCell(n, ch, (p, c) => r.gc![p * ch + c] * A[p * ch + c]),
  'logit-pos': (A, _G, r, n, ch) => perCell(n, ch, (p, c) => Math.max(0, r.gc![p * ch + c]) * A[p * ch + c]),
  common: (A, G, r, n, ch) => perCell(n, ch, (p, c) => (2 * r.gc![p * ch + c] - G[p * ch + c]) * A[p * ch + c]),
  absterm: (A, G, _r, n, ch) => perCell(n, ch, (p, c) => Math.abs(G[p * ch + c] * A[p * ch + c])),
  'pos-blur': (A, G, r, n, ch) => perCell(n, ch, (p, c) => Math.max(0, G[p * ch + c] * (A[p * ch + c] - r.blur[p * ch + c]))),
  'pos-med': (A, G, _r, n, ch) => { const b = chanStat(A, n, ch, 'median'); return perCell(n, ch, (p, c) => Math.max(0, G[p * ch + c] * (A[p * ch + c] - b[c]))); },
  'gcpp': (A, G, _r, n, ch) => { const S = new Float64Array(ch); for (let p = 0; p < n; p++) for (let c = 0; c < ch; c++) S[c] += A[p * ch + c]; const W = new Float64Array(ch); for (let p = 0; p < n; p++) for (let c = 0; c < ch; c++) { const g = G[p * ch + c]; if (g <= 0) continue; const d = 2 * g * g + S[c] * g * g * g; if (d) W[c] += g * g * g / d; } return perCell(n, ch, (p, c) => W[c] * A[p * ch + c]); },
  'gdiff-abs': (A, G, r, n, ch) => perCell(n, ch, (p, c) => Math.abs(G[p * ch + c] * (A[p * ch + c] - r.blur[p * ch + c]))),
};

const FUSE = (process.env.FUSE ?? 'hires,layercam,pos-blur,absterm,gdiff-abs').split(',');
const kept: Map<string, Heatmap>[] = []; // per layer: `${variant}:${img}` -> map
for (const name of LAYERS.split(',')) {
  const keep = new Map<string, Heatmap>();
  kept.push(keep);
  const layer = name === 'default' ? lastConvolutionalLayer(model) : name;
  const { prefix, rest } = splitAtLayer(model, layer);
  const engine = await openInferenceEngine(prefix, 'auto');
  const feat = async (x: tf.Tensor4D) => (engine.predictor ? engine.predictor(x) : (prefix.apply(x) as tf.Tensor));
  const head = headOf(rest);
  const t = performance.now();
  const score: Record<string, number> = Object.fromEntries(Object.keys(variants).map((v) => [v, 0]));
  const half: Record<string, number> = Object.fromEntries(Object.keys(variants).map((v) => [v, 0]));
  let correct = 0;
  let shape: number[] = [];
  const B = 8;
  for (let s = 0; s < files.length; s += B) {
    const n = Math.min(B, files.length - s);
    const sl4 = (t: tf.Tensor) => tf.slice(t, [s, 0, 0, 0], [n, -1, -1, -1]) as tf.Tensor4D;
    const x = sl4(X);
    const a = await feat(x);
    const af = await feat(sl4(fill));
    const ab = await feat(sl4(blur));
    shape = a.shape.slice(1);
    const z = tf.tidy(() => head(a));
    const zr = (await z.array()) as number[][];
    z.dispose();
    const pred = zr.map((r) => (r[1] > r[0] ? 1 : 0));
    const mask = tf.tensor2d(pred.flatMap((p) => (p === 1 ? [-1, 1] : [1, -1])), [n, 2]);
    const g = tf.tidy(() => tf.grad((inp: tf.Tensor) => tf.sum(tf.mul(head(inp), mask)))(a));
    const maskC = tf.tensor2d(pred.flatMap((p) => (p === 1 ? [0, 1] : [1, 0])), [n, 2]);
    const gc = tf.tidy(() => tf.grad((inp: tf.Tensor) => tf.sum(tf.mul(head(inp), maskC)))(a));
    const [A, G, AF, AB, GC] = await Promise.all([a.data(), g.data(), af.data(), ab.data(), gc.data()]) as Float32Array[];
    tf.dispose([a, af, ab, g, mask, x, maskC, gc]);
    const [rows, cols, ch] = shape;
    const per = rows * cols * ch;
    for (let i = 0; i < n; i++) {
      const img = testSet.images[s + i];
      if (pred[i] !== img.label) continue;
      correct++;
      const sl = (arr: Float32Array) => arr.subarray(i * per, (i + 1) * per);
      if (process.env.DUMP && s + i < Number(process.env.DUMP)) {
        const show = (m: Float32Array) => Array.from({ length: rows }, (_, r) => Array.from(m.subarray(r * cols, (r + 1) * cols), (v) => v.toFixed(1).padStart(6)).join('')).join('\n');
        console.log(`img ${s + i} label ${img.label} square x ${img.x}..${img.x + img.side} y ${img.y}..${img.y + img.side} (cells ${(img.x * cols / w).toFixed(1)}-${((img.x + img.side) * cols / w).toFixed(1)}, ${(img.y * rows / h).toFixed(1)}-${((img.y + img.side) * rows / h).toFixed(1)})`);
        for (const v of (process.env.DUMPV ?? 'hires').split(',')) console.log(v + '\n' + show(variants[v](sl(A), sl(G), { fill: sl(AF), blur: sl(AB) }, rows * cols, ch)));
      }
      for (const [v, f] of Object.entries(variants)) {
        const m = f(sl(A), sl(G), { fill: sl(AF), blur: sl(AB), gc: sl(GC) }, rows * cols, ch);
        if (FUSE.includes(v)) keep.set(`${v}:${s + i}`, { rows, cols, data: m });
        let best = 0;
        for (let p = 1; p < m.length; p++) if (m[p] > m[best]) best = p;
        const px = ((best % cols) + 0.5) * w / cols;
        const py = (Math.floor(best / cols) + 0.5) * h / rows;
        if (pointsAtSquare(img, px, py)) score[v]++;
        if ((px < w / 2 ? 0 : 1) === img.label) half[v]++;
      }
    }
  }
  await engine.dispose();
  rest.dispose();
  const ms = (performance.now() - t) / files.length;
  console.log(`${RECIPE} s${SEED} n${NOISE} @${SIZE} ${layer} ${shape.slice(0, 2).join('x')} correct ${correct}/${files.length} ${ms.toFixed(0)}ms/img: ` + Object.entries(score).map(([v, c]) => `${v} ${(c / Math.max(1, correct)).toFixed(2)}/${(half[v] / Math.max(1, correct)).toFixed(2)}`).join(' | '));
}

// fusion across layers: relu, scale to 1, resize to the input, sum (and product)
const hit = (img: number, m: Heatmap) => {
  let best = 0;
  for (let p = 1; p < m.data.length; p++) if (m.data[p] > m.data[best]) best = p;
  const px = ((best % m.cols) + 0.5) * w / m.cols;
  const py = (Math.floor(best / m.cols) + 0.5) * h / m.rows;
  return pointsAtSquare(testSet.images[img], px, py);
};
const norm = (m: Heatmap) => { const d = m.data.map((v) => Math.max(0, v)); const mx = Math.max(...d); return { ...m, data: mx > 0 ? d.map((v) => v / mx) : d }; };
const layerSets: number[][] = [];
for (let a = 0; a < kept.length; a++) for (let b = a + 1; b < kept.length; b++) layerSets.push([a, b]);
if (kept.length > 2) layerSets.push(kept.map((_, i) => i));
for (const set of layerSets) {
  const out: string[] = [];
  for (const v of FUSE) {
    let n = 0, hs = 0, hp = 0;
    for (const key of kept[0].keys()) {
      if (!key.startsWith(v + ':')) continue;
      const img = Number(key.split(':')[1]);
      const maps = set.map((l) => resizeHeatmap(norm(kept[l].get(key)!), h, w));
      const sum = { rows: h, cols: w, data: maps[0].data.map((_, p) => maps.reduce((acc, m) => acc + m.data[p], 0)) };
      const prod = { rows: h, cols: w, data: maps[0].data.map((_, p) => maps.reduce((acc, m) => acc * m.data[p], 1)) };
      n++; if (hit(img, sum)) hs++; if (hit(img, prod)) hp++;
    }
    out.push(`${v} sum ${(hs / n).toFixed(2)} prod ${(hp / n).toFixed(2)}`);
  }
  console.log(`fused layers ${set.join('+')}: ${out.join(' | ')}`);
}
