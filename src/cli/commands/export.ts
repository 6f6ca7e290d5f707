// `tlkit export MODEL_DIR --format onnx|tfjs|h5|web [--out PATH]`: a trained model in another format.
import type { CliIO, Command } from '../command.js';
import { choiceFlag, numberFlag, parseFlags, stringFlag } from '../args.js';
import { UsageError } from '../../core/errors.js';
import { ProgressPrinter } from '../progress_bar.js';

const FORMATS = ['onnx', 'tfjs', 'h5', 'web'] as const;

const QUANTIZE = { onnx: ['int8'], web: ['uint8', 'float16'] } as const;

const usage = `Usage: tlkit export MODEL_DIR --format onnx|tfjs|h5|web [--out PATH] [--overwrite] [--batch-size N] [--weights-only]
                    [--quantize int8|uint8|float16] [quantization options]

Writes a trained model (a run directory, or its model/ folder) in another format:
  onnx   an ONNX model (opset 13) for onnxruntime and other ONNX runtimes   default out: RUN/model.onnx
  tfjs   a tfjs layers model folder (model.json + weights.bin + tlkit.json), for tf.loadLayersModel
         in a browser                                                         default out: RUN/tfjs
  h5     a Keras .h5 in the layout model.save writes (model config + weights), readable by
         keras.models.load_model / model.load_weights                       default out: RUN/model.h5
  web    a web page that classifies dropped images in the browser, offline: index.html, the page
         script with tfjs (bundled), the model in plain tfjs form; serve the folder statically
         (e.g. python3 -m http.server -d DIR); the page exposes tlkit.classify(img)
                                                                              default out: RUN/web
(RUN: the folder that holds the model folder.) Nothing is written inside a run's model/ or checkpoints/.

Options:
  --out PATH        where to write (a file for onnx and h5, a folder for tfjs and web)
  --overwrite       replace an existing file at --out that is not an earlier tlkit export of this format
                    (web: also write into a non-empty folder that is not an earlier page)
  --batch-size N    onnx: a fixed batch size instead of a dynamic one
  --weights-only    h5: only the weights (the model.save_weights layout)

Quantization (docs/deployment-quantization.md):
  --quantize int8   onnx: static int8 (QDQ: int8 weights per output channel, uint8 activations
                    calibrated on the run's training images), default out: RUN/model.int8.onnx, used by
                    evaluate / predict / serve --quantize int8. Prints the held-out accuracy of both
                    precisions and writes nothing (exit 1) when int8 loses more than --max-accuracy-drop
  --quantize uint8|float16
                    web: model.json's standard weight quantization (tfjs converter's --quantize_uint8 /
                    --quantize_float16): weights.bin 4x / 2x smaller; plain tfjs dequantizes on load
  --calibration-images N     training images to calibrate on (default 200)
  --calibration-method M     percentile (default) or minmax
  --calibration-data DIR     calibrate on DIR (class sub-folders) instead of the run's training data
  --validation-data DIR      measure both precisions on DIR instead of the run's validation data
  --max-accuracy-drop F      largest accepted accuracy loss, a fraction (default 0.01)
  --keep-float NAMES         comma-separated layer (ONNX value) names left in float, e.g. Conv1
  --quantize-dense           quantize the Dense head too (default: left in float)
  --first-conv MODE          the first convolution (it reads the image): auto (default) quantizes it and,
                             when that loses more than --max-accuracy-drop, leaves it in float and measures
                             again; int8 or float to choose (--quantize-first-conv: int8)`;

const flags = {
  format: { type: 'string' },
  out: { type: 'string' },
  'batch-size': { type: 'string' },
  'weights-only': { type: 'boolean' },
  overwrite: { type: 'boolean' },
  quantize: { type: 'string' },
  'calibration-images': { type: 'string' },
  'calibration-method': { type: 'string' },
  'calibration-data': { type: 'string' },
  'validation-data': { type: 'string' },
  'max-accuracy-drop': { type: 'string' },
  'keep-float': { type: 'string', multiple: true },
  'quantize-dense': { type: 'boolean' },
  'quantize-first-conv': { type: 'boolean' },
  'first-conv': { type: 'string' },
} as const;

const INT8_ONLY = ['calibration-images', 'calibration-method', 'calibration-data', 'validation-data', 'max-accuracy-drop', 'keep-float', 'quantize-dense', 'quantize-first-conv', 'first-conv'] as const;

export const exportCommand: Command = {
  name: 'export',
  summary: 'write a trained model as ONNX, a tfjs folder, a Keras .h5 or an offline web page',
  usage,
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, flags, usage);
    if (positionals.length !== 1) throw new UsageError(`export expects one MODEL_DIR; got ${positionals.length}\n\n${usage}`);
    const format = choiceFlag(values, 'format', FORMATS);
    if (!format) throw new UsageError(`--format is required: one of ${FORMATS.join(', ')}\n\n${usage}`, 'format');
    const batchSize = numberFlag(values, 'batch-size', { integer: true, min: 1 });
    if (batchSize !== undefined && format !== 'onnx') throw new UsageError(`--batch-size applies to --format onnx only; got --format ${format}`, 'batch-size');
    if (values['weights-only'] && format !== 'h5') throw new UsageError(`--weights-only applies to --format h5 only; got --format ${format}`, 'weights-only');
    const quantize = stringFlag(values, 'quantize');
    if (quantize !== undefined) {
      const accepted: readonly string[] = format === 'onnx' || format === 'web' ? QUANTIZE[format] : [];
      if (!accepted.includes(quantize)) {
        throw new UsageError(`--quantize ${quantize} does not apply to --format ${format}: accepted are --format onnx --quantize int8, --format web --quantize uint8|float16`, 'quantize');
      }
      if (batchSize !== undefined) throw new UsageError('--batch-size and --quantize exclude each other (the int8 model takes any batch size)', 'batch-size');
    }
    for (const flag of INT8_ONLY) {
      if (values[flag] !== undefined && quantize !== 'int8') throw new UsageError(`--${flag} applies to --format onnx --quantize int8 only`, flag);
    }

    const [{ initEngine }, saved, target] = await Promise.all([import('../../engines/tfjs/tf.js'), import('../../weights/saved_model.js'), import('../../train/run/export_target.js')]);
    await initEngine();
    const dir = saved.resolveModelDir(positionals[0]!);
    const out = stringFlag(values, 'out') ?? (quantize === 'int8' ? (await import('../../weights/quantized_onnx.js')).quantizedOnnxPath(dir) : target.defaultExportPath(dir, format));
    await target.checkExportTarget(out, format, { modelDir: dir, overwrite: Boolean(values.overwrite) });
    if (format === 'web') {
      const { exportWebApp } = await import('../../serve/export_web.js');
      const result = await exportWebApp(dir, out, { quantize: quantize as 'uint8' | 'float16' | undefined });
      const weights = result.weightsBytes === undefined ? '' : `; weights.bin ${formatBytes(result.weightsBytes)}${quantize ? ` (${quantize}, float32 would be ${formatBytes(result.float32WeightsBytes!)})` : ''}`;
      io.stdout.write(`wrote ${out}/ (web page: ${result.files.join(', ')}${weights}); serve it statically and open index.html\n`);
      return 0;
    }
    if (quantize === 'int8') return exportInt8(dir, out, values, io);
    const { model, metadata } = await saved.loadModel(dir);
    try {
      if (format === 'onnx') {
        const [{ exportOnnx }, { atomicWrite }] = await Promise.all([import('../../engines/onnx/export.js'), import('../../core/atomic_write.js')]);
        const bytes = await exportOnnx(model, { batchSize: batchSize ?? 'dynamic' });
        await atomicWrite(out, [bytes]);
        io.stdout.write(`wrote ${out} (ONNX, ${bytes.byteLength} bytes)\n`);
      } else if (format === 'h5') {
        const { saveH5 } = await import('../../weights/h5_export.js');
        await saveH5(model, out, { weightsOnly: Boolean(values['weights-only']) });
        io.stdout.write(`wrote ${out} (Keras .h5${values['weights-only'] ? ', weights only' : ''})\n`);
      } else {
        const { createdAt, formatVersion: _v, tlkitVersion: _t, ...rest } = metadata;
        await saved.saveModel(out, model, { ...rest, createdAt });
        io.stdout.write(`wrote ${out}/ (tfjs layers model: model.json, weights.bin, tlkit.json)\n`);
      }
    } finally {
      model.dispose();
    }
    return 0;
  },
};

function formatBytes(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${(n / 1e3).toFixed(1)} kB`;
}

/** --first-conv auto|int8|float (and --quantize-first-conv, which means int8) as quantizeModel's option. */
function firstConvFlag(values: Record<string, unknown>): boolean | 'auto' {
  const mode = choiceFlag(values as Parameters<typeof choiceFlag>[0], 'first-conv', ['auto', 'int8', 'float'] as const);
  if (values['quantize-first-conv']) {
    if (mode !== undefined && mode !== 'int8') throw new UsageError(`--quantize-first-conv and --first-conv ${mode} contradict each other`, 'first-conv');
    return true;
  }
  return mode === undefined || mode === 'auto' ? 'auto' : mode === 'int8';
}

async function exportInt8(dir: string, out: string, values: Record<string, unknown>, io: CliIO): Promise<number> {
  const v = values as Parameters<typeof numberFlag>[0];
  const options = {
    calibrationImages: numberFlag(v, 'calibration-images', { integer: true, min: 1 }),
    calibrationMethod: choiceFlag(v, 'calibration-method', ['percentile', 'minmax'] as const),
    calibrationDir: stringFlag(v, 'calibration-data'),
    validationDir: stringFlag(v, 'validation-data'),
    maxAccuracyDrop: numberFlag(v, 'max-accuracy-drop', { min: 0, max: 1 }),
    keepFloat: ((values['keep-float'] as string[] | undefined) ?? []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean),
    quantizeDense: Boolean(values['quantize-dense']),
    quantizeFirstConv: firstConvFlag(values),
  };
  const { exportQuantizedOnnx, AccuracyDropError } = await import('../../inference/quantize_model.js');
  const printer = new ProgressPrinter(io.stderr, io.interactive);
  const accuracyLine = (r: import('../../inference/quantize_model.js').QuantizeModelResult) => {
    const a = r.accuracy;
    return (
      `held-out accuracy on ${a.samples} images (${a.source}): float32 ${a.float32.toFixed(4)}, int8 ${a.int8.toFixed(4)} ` +
      `(drop ${(a.drop * 100).toFixed(2)} points, allowed ${(r.maxAccuracyDrop * 100).toFixed(2)}); top-1 agreement ${(a.agreement * 100).toFixed(1)}%, ` +
      `largest probability difference ${a.maxProbabilityDifference.toFixed(4)}\n`
    );
  };
  const skippedLines = (r: import('../../inference/quantize_model.js').QuantizeModelResult) => {
    for (const s of r.skipped) io.stderr.write(`skipped ${s.file}: ${s.reason}\n`);
    if (r.skipped.length > 0) io.stderr.write(`${r.skipped.length} unreadable image${r.skipped.length === 1 ? '' : 's'} left out of calibration and the held-out figures\n`);
  };
  const firstConvLine = (r: import('../../inference/quantize_model.js').QuantizeModelResult) => {
    const a = r.firstConvInt8;
    if (a) io.stdout.write(`with the first convolution quantized too: int8 ${a.int8.toFixed(4)} (drop ${(a.drop * 100).toFixed(2)} points, over the allowed ${(r.maxAccuracyDrop * 100).toFixed(2)}): left it in float and measured again\n`);
  };
  try {
    const result = await exportQuantizedOnnx(dir, out, { ...options, onProgress: printer.update });
    skippedLines(result);
    firstConvLine(result);
    const r = result.report;
    const ops = Object.entries(r.quantized).map(([op, n]) => `${n} ${op}`).join(', ');
    io.stdout.write(accuracyLine(result));
    io.stdout.write(
      `wrote ${result.path} (ONNX int8 QDQ, ${formatBytes(r.bytesAfter)}; float32 ${formatBytes(r.bytesBefore)}; quantized ${ops}; ` +
        `in float: ${Object.entries(r.float).map(([op, n]) => `${n} ${op}`).join(', ') || 'nothing'}; calibrated ${result.calibration.method} on ${result.calibration.images} images of ${result.calibration.source})\n`,
    );
    return 0;
  } catch (error) {
    if (error instanceof AccuracyDropError) {
      skippedLines(error.result);
      firstConvLine(error.result);
      io.stdout.write(accuracyLine(error.result));
    }
    throw error;
  }
}
