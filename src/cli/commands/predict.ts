// `tlkit predict MODEL IMAGE|DIR...`: class names and probabilities per image.
import type { Command } from '../command.js';
import { choiceFlag, numberFlag, parseFlags, stringFlag } from '../args.js';
import { UsageError } from '../../core/errors.js';
import type { Writable } from 'node:stream';
import type { Prediction } from '../../inference/predict.js';

const usage = `Usage: tlkit predict MODEL IMAGE|DIR... [--top-k K] [--batch-size B] [--json | --csv] [--quantize int8] [--feature-store DIR | --no-feature-store]

Classifies images with a trained model (a run directory, or its model/ folder). Directories are read
recursively (png jpg jpeg bmp ppm tif tiff). Prints, per image, the K most probable classes; a file
that cannot be read is listed with its error (exit code 1), the others are still classified. A model
trained by tlkit on a frozen backbone reads the backbone's features of the images a run or an evaluation
stored from the feature store (the log says how many) and runs only its trained part on them.

Options:
  --top-k K        classes per image, most probable first (default 1)
  --batch-size B   images per batch (default 16)
  --engine E       auto (default: onnxruntime when it can run the model, else tfjs), onnx or tfjs
  --quantize int8  run RUN/model.int8.onnx (tlkit export RUN --format onnx --quantize int8) on onnxruntime
  --feature-store DIR  where frozen-backbone features are kept (default: $TLKIT_CACHE_DIR or ~/.cache/tlkit)
  --no-feature-store   run the whole model on every image
  --json           [{"file", "top": [{"className", "index", "probability"}]}]
  --csv            file,rank,class,probability,error (one row per listed class; a file that could
                   not be read: one row with its error). Cells that a spreadsheet would run as a
                   formula (starting with = + - @) are written as text: '=...`;

const flags = {
  'top-k': { type: 'string' },
  'batch-size': { type: 'string' },
  json: { type: 'boolean' },
  engine: { type: 'string' },
  quantize: { type: 'string' },
  csv: { type: 'boolean' },
  'feature-store': { type: 'string' },
  'no-feature-store': { type: 'boolean' },
} as const;

/**
 * One CSV cell from text a stranger may control (file and class names, error messages). A cell starting
 * with = + - @ (or tab / carriage return) is a formula to Excel, LibreOffice and Google Sheets (CSV
 * injection): it gets a leading ' and quotes, as OWASP recommends, so it shows as the text it is.
 */
export function csvField(s: string): string {
  const text = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
  return text !== s || /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Writes, waiting for the stream to drain when it asks to (a slow pipe must not make output pile up in memory). */
async function writeOut(stream: Writable, text: string): Promise<void> {
  if (!stream.write(text)) await new Promise<void>((resolve) => stream.once('drain', resolve));
}

/** The lines of one prediction in the chosen format (JSON: an element of the pretty-printed array). */
export function formatPrediction(p: Prediction, format: 'json' | 'csv' | 'text', first: boolean): string {
  if (format === 'json') return `${first ? '' : ',\n'}${JSON.stringify(p, null, 2).replace(/^/gm, '  ')}`;
  if (format === 'csv') {
    if (p.error) return `${csvField(p.file ?? '')},,,,${csvField(p.error)}\n`;
    return p.top.map((t, i) => `${csvField(p.file ?? '')},${i + 1},${csvField(t.className)},${t.probability},\n`).join('');
  }
  return `${p.file}\t${p.error ? `error: ${p.error}` : p.top.map((t) => `${t.className} ${t.probability.toFixed(4)}`).join('\t')}\n`;
}

export const predictCommand: Command = {
  name: 'predict',
  summary: 'class names and probabilities of images with a trained model',
  usage,
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, flags, usage);
    if (positionals.length < 2) throw new UsageError(`predict expects MODEL and at least one IMAGE or DIR\n\n${usage}`);
    if (values.json && values.csv) throw new UsageError('--json and --csv exclude each other; give one', 'csv');
    const topK = numberFlag(values, 'top-k', { integer: true, min: 1 }) ?? 1;
    const batchSize = numberFlag(values, 'batch-size', { integer: true, min: 1 });
    const engineChoice = choiceFlag(values, 'engine', ['auto', 'tfjs', 'onnx'] as const);
    const quantize = choiceFlag(values, 'quantize', ['int8'] as const);
    if (quantize && engineChoice === 'tfjs') throw new UsageError('--quantize int8 runs on onnxruntime; it excludes --engine tfjs', 'quantize');
    const [{ initEngine }, { loadModel }, { predictFilesStream }, { openInferenceEngine }] = await Promise.all([
      import('../../engines/tfjs/tf.js'),
      import('../../weights/saved_model.js'),
      import('../../inference/predict.js'),
      import('../../engines/inference_engine.js'),
    ]);
    await initEngine();
    const { model, metadata } = await loadModel(positionals[0]);
    const featureStore = values['no-feature-store'] ? false : stringFlag(values, 'feature-store');
    // A model trained on a frozen backbone reads its features from the store; otherwise (undefined) the
    // whole model runs.
    let stored: import('../../train/run/predict_from_store.js').StorePredictions | undefined;
    if (!quantize && engineChoice !== 'tfjs' && featureStore !== false) {
      const { predictFromStore } = await import('../../train/run/predict_from_store.js');
      try {
        stored = await predictFromStore(model, metadata, positionals.slice(1), { topK, batchSize, manyImages: true, ...(featureStore ? { featureStore } : {}) });
      } catch (error) {
        model.dispose();
        throw error;
      }
    }
    const engine = stored ? undefined : quantize ? await (await import('../../inference/quantized_engine.js')).openQuantizedEngine(positionals[0], model, { manyImages: true }) : await openInferenceEngine(model, engineChoice, { manyImages: true });
    if (engine?.note) io.stderr.write(engine.note + '\n');
    const format = values.json ? 'json' : values.csv ? 'csv' : 'text';
    // Each result is written as soon as its batch is done: output and memory do not wait for the last file.
    let written = 0;
    let failed = 0;
    const predictions = stored ? stored.predictions : predictFilesStream(model, metadata, positionals.slice(1), { topK, batchSize, predictor: engine!.predictor });
    try {
      if (format === 'json') await writeOut(io.stdout, '[\n');
      if (format === 'csv') await writeOut(io.stdout, 'file,rank,class,probability,error\n');
      for await (const p of predictions) {
        await writeOut(io.stdout, formatPrediction(p, format, written === 0));
        written++;
        if (p.error) {
          failed++;
          io.stderr.write(`tlkit predict: ${p.file}: ${p.error}\n`);
        }
      }
      if (format === 'json') await writeOut(io.stdout, written ? '\n]\n' : ']\n');
      const features = await stored?.describe();
      if (features) io.stderr.write(features + '\n');
    } finally {
      await predictions.return(undefined);
      await engine?.dispose();
      model.dispose();
    }
    return failed > 0 ? 1 : 0;
  },
};
