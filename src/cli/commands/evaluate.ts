// `tlkit evaluate MODEL DIR`: a trained model on a folder of class sub-folders.
import type { Command } from '../command.js';
import { choiceFlag, numberFlag, parseFlags, stringFlag } from '../args.js';
import { UsageError } from '../../core/errors.js';
import { ProgressPrinter } from '../progress_bar.js';

const usage = `Usage: tlkit evaluate MODEL DIR [--batch-size B] [--json] [--quantize int8] [--feature-store DIR | --no-feature-store]

Evaluates a trained model (a run directory, or its model/ folder) on DIR, a folder with one sub-folder
per class named like the training classes. Prints accuracy, loss, per-class precision / recall / F1
and the confusion matrix (rows: true class, columns: predicted class). A model trained by tlkit on a
frozen backbone reads the backbone's features of DIR's images from the feature store when an earlier run
or evaluation stored them (the log says how many), and stores those it computes.

Options:
  --batch-size B   images per batch (default 16)
  --engine E       auto (default: onnxruntime when it can run the model, else tfjs), onnx or tfjs
  --quantize int8  run RUN/model.int8.onnx (tlkit export RUN --format onnx --quantize int8) on onnxruntime
  --feature-store DIR  where frozen-backbone features are kept (default: $TLKIT_CACHE_DIR or ~/.cache/tlkit)
  --no-feature-store   run the whole model on every image and store nothing
  --json           the evaluation as JSON`;

const flags = {
  'batch-size': { type: 'string' },
  json: { type: 'boolean' },
  engine: { type: 'string' },
  quantize: { type: 'string' },
  'feature-store': { type: 'string' },
  'no-feature-store': { type: 'boolean' },
} as const;

export function formatEvaluation(e: import('../../inference/evaluate.js').Evaluation): string {
  const width = Math.max(9, ...e.classNames.map((n) => n.length));
  const lines = [`accuracy ${e.accuracy.toFixed(4)}  loss ${e.loss.toFixed(4)}  (${e.samples} images)`, ''];
  lines.push(`${'class'.padEnd(width)}  precision  recall  f1      support`);
  for (const c of e.perClass) {
    lines.push(`${c.className.padEnd(width)}  ${c.precision.toFixed(4).padStart(9)}  ${c.recall.toFixed(4)}  ${c.f1.toFixed(4)}  ${String(c.support).padStart(7)}`);
  }
  lines.push(`${'macro avg'.padEnd(width)}  ${e.macro.precision.toFixed(4).padStart(9)}  ${e.macro.recall.toFixed(4)}  ${e.macro.f1.toFixed(4)}  ${String(e.samples).padStart(7)}`);
  lines.push('', 'confusion matrix (rows: true, columns: predicted)');
  const cell = Math.max(6, ...e.confusionMatrix.flat().map((v) => String(v).length + 1), ...e.classNames.map((n) => n.length + 1));
  lines.push(' '.repeat(width) + e.classNames.map((n) => n.padStart(cell)).join(''));
  e.confusionMatrix.forEach((row, i) => lines.push(e.classNames[i].padEnd(width) + row.map((v) => String(v).padStart(cell)).join('')));
  return lines.join('\n');
}

export const evaluateCommand: Command = {
  name: 'evaluate',
  summary: 'accuracy, per-class precision/recall/F1 and confusion matrix of a trained model on a folder',
  usage,
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, flags, usage);
    if (positionals.length !== 2) throw new UsageError(`evaluate expects MODEL and DIR; got ${positionals.length} argument(s)\n\n${usage}`);
    const batchSize = numberFlag(values, 'batch-size', { integer: true, min: 1 });
    const engineChoice = choiceFlag(values, 'engine', ['auto', 'tfjs', 'onnx'] as const);
    const quantize = choiceFlag(values, 'quantize', ['int8'] as const);
    if (quantize && engineChoice === 'tfjs') throw new UsageError('--quantize int8 runs on onnxruntime; it excludes --engine tfjs', 'quantize');
    const [{ initEngine }, { loadModel }, { evaluationIterator }, { evaluate }, { openInferenceEngine }] = await Promise.all([
      import('../../engines/tfjs/tf.js'),
      import('../../weights/saved_model.js'),
      import('../../inference/evaluation_data.js'),
      import('../../inference/evaluate.js'),
      import('../../engines/inference_engine.js'),
    ]);
    await initEngine();
    const { model, metadata } = await loadModel(positionals[0]);
    const iterator = evaluationIterator(positionals[1], metadata, { batchSize, onWarning: (m) => io.stderr.write(m + '\n') });
    const featureStore = values['no-feature-store'] ? false : stringFlag(values, 'feature-store');
    const printer = new ProgressPrinter(io.stderr, io.interactive);
    if (!quantize && engineChoice !== 'tfjs' && featureStore !== false) {
      // A model trained on a frozen backbone reads its features from the store; otherwise (undefined)
      // the whole model runs below.
      const { evaluateFromStore } = await import('../../train/run/evaluate_from_store.js');
      let stored;
      try {
        stored = await evaluateFromStore(model, metadata, iterator, { ...(featureStore ? { featureStore } : {}), onProgress: values.json ? undefined : printer.update });
      } catch (error) {
        await iterator.close();
        model.dispose();
        throw error;
      }
      if (stored) {
        if (stored.features) io.stderr.write(stored.features + '\n');
        io.stdout.write((values.json ? JSON.stringify({ ...stored.evaluation, engine: 'onnx-frozen', precision: 'float32' }, null, 2) : formatEvaluation(stored.evaluation)) + '\n');
        await iterator.close();
        model.dispose();
        return 0;
      }
    }
    const engine = quantize ? await (await import('../../inference/quantized_engine.js')).openQuantizedEngine(positionals[0], model, { manyImages: true }) : await openInferenceEngine(model, engineChoice, { manyImages: true });
    if (engine.note) io.stderr.write(engine.note + '\n');
    try {
      const evaluation = await evaluate(model, iterator, { classNames: metadata.classNames, onProgress: values.json ? undefined : printer.update, predictor: engine.predictor });
      io.stdout.write((values.json ? JSON.stringify({ ...evaluation, engine: engine.name, precision: quantize ?? 'float32' }, null, 2) : formatEvaluation(evaluation)) + '\n');
    } finally {
      await iterator.close();
      await engine.dispose();
      model.dispose();
    }
    return 0;
  },
};
