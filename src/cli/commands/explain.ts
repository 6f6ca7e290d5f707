// `tlkit explain MODEL IMAGE|DIR...`: Grad-CAM heatmaps (where in the image the model looked), per image.
import type { Command } from '../command.js';
import { choiceFlag, numberFlag, parseFlags, stringFlag } from '../args.js';
import { UsageError } from '../../core/errors.js';
import { ProgressPrinter } from '../progress_bar.js';

const usage = `Usage: tlkit explain MODEL IMAGE|DIR... [--out DIR] [--json] [--layer NAME] [--class NAME]

Grad-CAM class-activation heatmaps: for each image, the gradient of the predicted class's score at the
model's last convolutional block times that block's feature map, summed over channels (1 where the
evidence for the class is strongest). MODEL is a run directory or its model/ folder; directories of images are read
recursively. Prints, per image, the class, its probability and where the heatmap peaks (in the model's
input pixels, x from the left, y from the top). --method occlusion answers a different question: what the
decision depends on (how far the class's log-odds falls when each patch of the image is hidden).

Options:
  --out DIR        write one overlay PNG per image (heatmap over the picture) and explain.json there
  --json           print [{"file", "className", "probability", "heatmap": rows x cols in 0..1,
                   "inputSize": [h, w], "peak": {"x", "y", ...}, ...}] on stdout instead
  --layer NAME     explain this layer's feature map (default: the last convolutional block's, or, when
                   that map is coarser than 7 x 7, the last block one stride earlier's)
  --class NAME     explain this class (name or index) instead of each image's predicted class
  --method M       hirescam (default: gradient times activation per cell, summed over channels; the
                   same map as Grad-CAM for heads that pool, faithful for Flatten heads), gradcam
                   (channels weighted by the spatial mean of their gradient, Selvaraju et al.) or
                   gradcam++ (only positive gradients count, Chattopadhay et al.), or occlusion
                   (no gradient: how far the class's log-odds falls when each patch of the image is
                   hidden; what the decision depends on rather than where the evidence sits; about 50
                   model runs an image; docs/explain.md measures when it points better)
  --occlusion-patch F  with --method occlusion: patch side as a fraction of the image side (default 0.25)
  --occlusion-fill F   with --method occlusion: shuffle (default: pixels drawn at random from the whole
                   image), surround (from the band around the patch) or mean (the image's mean colour:
                   a flat patch, which a model can read as an object)
  --score S        log-odds (default: the class's log-odds from the logits) or logit (the class's
                   logit alone, as in Keras's Grad-CAM example)
  --heatmap-size S input (default: the heatmap at the model's input size) or features (its own grid)
  --batch-size B   images per batch (default 8)
  --engine E       what runs the layers before the explained one: auto (default: onnxruntime when it
                   can), onnx or tfjs; the head's gradient is always computed in tfjs`;

const flags = {
  out: { type: 'string' },
  json: { type: 'boolean' },
  layer: { type: 'string' },
  class: { type: 'string' },
  'heatmap-size': { type: 'string' },
  method: { type: 'string' },
  'occlusion-patch': { type: 'string' },
  'occlusion-fill': { type: 'string' },
  score: { type: 'string' },
  'batch-size': { type: 'string' },
  engine: { type: 'string' },
} as const;

export const explainCommand: Command = {
  name: 'explain',
  summary: 'Grad-CAM heatmaps: where in each image a trained model found its class',
  usage,
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, flags, usage);
    if (positionals.length < 2) throw new UsageError(`explain expects MODEL and at least one IMAGE or DIR\n\n${usage}`);
    const batchSize = numberFlag(values, 'batch-size', { integer: true, min: 1 });
    const engineChoice = choiceFlag(values, 'engine', ['auto', 'tfjs', 'onnx'] as const);
    const heatmapSize = choiceFlag(values, 'heatmap-size', ['input', 'features'] as const);
    const method = choiceFlag(values, 'method', ['gradcam', 'hirescam', 'gradcam++', 'occlusion'] as const);
    const occlusionPatch = numberFlag(values, 'occlusion-patch', { min: 0.01, max: 1 });
    const occlusionFill = choiceFlag(values, 'occlusion-fill', ['shuffle', 'surround', 'mean'] as const);
    if ((occlusionPatch !== undefined || occlusionFill !== undefined) && method !== 'occlusion') throw new UsageError(`--occlusion-${occlusionPatch !== undefined ? 'patch' : 'fill'} applies to --method occlusion only`, occlusionPatch !== undefined ? 'occlusion-patch' : 'occlusion-fill');
    const score = choiceFlag(values, 'score', ['log-odds', 'logit'] as const);
    const outDir = stringFlag(values, 'out');
    const layer = stringFlag(values, 'layer');
    const targetRaw = stringFlag(values, 'class');
    const [{ initEngine }, { loadModel }, { createExplainer, writeExplanations }] = await Promise.all([
      import('../../engines/tfjs/tf.js'),
      import('../../weights/saved_model.js'),
      import('../../inference/explain.js'),
    ]);
    await initEngine();
    const { model, metadata } = await loadModel(positionals[0]);
    // --class takes a class name; a number that is not a class name is an index.
    const targetClass = targetRaw === undefined ? undefined : !metadata.classNames.includes(targetRaw) && /^\d+$/.test(targetRaw) ? Number(targetRaw) : targetRaw;
    const printer = new ProgressPrinter(io.stderr, io.interactive);
    let explanations;
    try {
      const explainer = await createExplainer(model, metadata, { layer, targetClass, engine: engineChoice, batchSize, heatmapSize, method, score, occlusion: method === 'occlusion' ? { patch: occlusionPatch, fill: occlusionFill } : undefined });
      if (explainer.note) io.stderr.write(explainer.note + '\n');
      try {
        explanations = await explainer.explainFiles(positionals.slice(1), { onProgress: values.json ? undefined : printer.update });
      } finally {
        await explainer.dispose();
      }
      if (outDir !== undefined) await writeExplanations(explanations, outDir);
    } finally {
      model.dispose();
    }
    if (values.json) {
      io.stdout.write(JSON.stringify(explanations) + '\n');
    } else {
      for (const e of explanations) {
        if (e.error) continue;
        const [h, w] = e.inputSize;
        io.stdout.write(`${e.file}\t${e.className} ${e.probability.toFixed(4)}\tpeak x=${e.peak.x.toFixed(0)} y=${e.peak.y.toFixed(0)} of ${w}x${h}${e.overlay ? `\t${e.overlay}` : ''}\n`);
      }
      const first = explanations.find((e) => !e.error);
      const what = method === 'occlusion' ? `occlusion of the input (${first?.featureSize.join('x')} cells)` : `layer ${first?.layer} (${first?.featureSize.join('x')} feature map)`;
      if (first) io.stderr.write(`${what}, score: ${first.score === 'output' ? "the model's output" : `the class's ${first.score}`}${outDir !== undefined ? `; overlays and explain.json in ${outDir}` : ''}\n`);
    }
    const failed = explanations.filter((e) => e.error);
    for (const e of failed) io.stderr.write(`tlkit explain: ${e.file}: ${e.error}\n`);
    return failed.length > 0 ? 1 : 0;
  },
};
