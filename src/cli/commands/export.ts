// `tlkit export MODEL_DIR --format onnx|tfjs|h5|web [--out PATH]`: a trained model in another format.
import type { Command } from '../command.js';
import { choiceFlag, numberFlag, parseFlags, stringFlag } from '../args.js';
import { UsageError } from '../../core/errors.js';

const FORMATS = ['onnx', 'tfjs', 'h5', 'web'] as const;

const usage = `Usage: tlkit export MODEL_DIR --format onnx|tfjs|h5|web [--out PATH] [--overwrite] [--batch-size N] [--weights-only]

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
  --weights-only    h5: only the weights (the model.save_weights layout)`;

const flags = {
  format: { type: 'string' },
  out: { type: 'string' },
  'batch-size': { type: 'string' },
  'weights-only': { type: 'boolean' },
  overwrite: { type: 'boolean' },
} as const;

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

    const [{ initEngine }, saved, target] = await Promise.all([import('../../engines/tfjs/tf.js'), import('../../weights/saved_model.js'), import('../../train/run/export_target.js')]);
    await initEngine();
    const dir = saved.resolveModelDir(positionals[0]!);
    const out = stringFlag(values, 'out') ?? target.defaultExportPath(dir, format);
    await target.checkExportTarget(out, format, { modelDir: dir, overwrite: Boolean(values.overwrite) });
    if (format === 'web') {
      const { exportWebApp } = await import('../../serve/export_web.js');
      const result = await exportWebApp(dir, out);
      io.stdout.write(`wrote ${out}/ (web page: ${result.files.join(', ')}); serve it statically and open index.html\n`);
      return 0;
    }
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
