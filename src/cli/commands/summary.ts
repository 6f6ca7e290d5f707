// `tlkit summary`: a backbone as Keras builds it, or a classifier on it, as a Keras-style summary.
import type { Command } from '../command.js';
import { choiceFlag, numberFlag, parseFlags, stringFlag } from '../args.js';
import { UsageError } from '../../core/errors.js';
import { LABEL_CLASS_MODES, type LabelClassMode } from '../../core/names.js';

const usage = `Usage: tlkit summary BACKBONE [--input-size N] [--alpha A] [--no-top] [--pooling avg|max]
                     [--head SPEC] [--classes N] [--class-mode binary|sparse|categorical]
                     [--freeze-backbone] [--remove-batchnorm | --fold-batchnorm] [--json]

Prints the model's layers and its Total / Trainable / Non-trainable params, as Keras's model.summary()
does, and says what the non-trainable params are. BACKBONE is an id from \`tlkit models\`.

Without --head/--classes/--class-mode the backbone is shown as Keras builds it (with its ImageNet
classifier of 1000 classes unless --no-top). With any of them, the classifier: the backbone without top,
the head, and a final Dense from the class mode (binary: 1 sigmoid unit; sparse/categorical: N softmax units).

Options:
  --input-size N       square input size (default: the backbone's)
  --alpha A            width multiplier (mobilenet, mobilenet_v2)
  --no-top             the backbone without its classifier
  --pooling avg|max    global pooling after a no-top backbone
  --head SPEC          hidden head layers, comma-separated: flatten, gap, gmp, dense:UNITS[:ACTIVATION],
                       dropout:RATE (0 <= RATE < 1), batchnorm
                       e.g. flatten,dense:16:relu,dropout:0.25 (default: gap)
  --classes N          number of classes (default 2 with --class-mode binary)
  --class-mode MODE    binary, sparse or categorical (default: categorical, as in Keras)
  --freeze-backbone    backbone layers frozen: their params become non-trainable
  --remove-batchnorm   drop every BatchNormalization layer
  --fold-batchnorm     fold each BatchNormalization into the convolution or Dense before it
  --json               {"totalParams","trainableParams","nonTrainableParams","layers":[...]} as JSON`;

const flags = {
  'input-size': { type: 'string' },
  alpha: { type: 'string' },
  'no-top': { type: 'boolean' },
  pooling: { type: 'string' },
  head: { type: 'string' },
  classes: { type: 'string' },
  'class-mode': { type: 'string' },
  'freeze-backbone': { type: 'boolean' },
  'remove-batchnorm': { type: 'boolean' },
  'fold-batchnorm': { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

function formatAlpha(a: number): string {
  return Number.isInteger(a) ? a.toFixed(1) : String(a);
}

export const summaryCommand: Command = {
  name: 'summary',
  summary: 'Keras-style summary of a backbone or classifier: layers, total/trainable/non-trainable params',
  usage,
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, flags, usage);
    const { initEngine } = await import('../../engines/tfjs/tf.js');
    const { getBackbone, listBackbones } = await import('../../models/zoo.js');
    if (positionals.length !== 1) {
      const ids = listBackbones().map((b) => b.id).join(', ');
      throw new UsageError(
        positionals.length === 0 ? `Name a backbone: tlkit summary BACKBONE. Available: ${ids}` : `tlkit summary takes one backbone; got '${positionals.join(' ')}'. Available: ${ids}`,
        'backbone',
      );
    }
    const definition = getBackbone(positionals[0]);
    const inputSize = numberFlag(values, 'input-size', { integer: true, min: 1 });
    const alpha = numberFlag(values, 'alpha', { min: 0, exclusiveMin: true });
    if (alpha !== undefined) {
      if (!definition.alphas) {
        const withAlpha = listBackbones().filter((b) => b.alphas).map((b) => b.id);
        throw new UsageError(`--alpha applies to ${withAlpha.join(', ') || 'no registered backbone'}; '${definition.id}' has no width multiplier.`, 'alpha');
      }
      if (!definition.alphas.includes(alpha)) {
        throw new UsageError(`--alpha for ${definition.id} must be one of ${definition.alphas.map(formatAlpha).join(', ')}; got '${stringFlag(values, 'alpha')}'`, 'alpha');
      }
    }
    const pooling = choiceFlag(values, 'pooling', ['avg', 'max'] as const);
    const head = stringFlag(values, 'head');
    const classes = numberFlag(values, 'classes', { integer: true, min: 1 });
    const classMode = choiceFlag(values, 'class-mode', LABEL_CLASS_MODES) as LabelClassMode | undefined;
    if (values['remove-batchnorm'] && values['fold-batchnorm']) {
      throw new UsageError('--remove-batchnorm and --fold-batchnorm exclude each other: pick one.', 'fold-batchnorm');
    }
    const backboneOptions = {
      ...(inputSize !== undefined ? { inputShape: [inputSize, inputSize, 3] as [number, number, number] } : {}),
      ...(alpha !== undefined ? { alpha } : {}),
      ...(pooling !== undefined ? { pooling } : {}),
    };

    await initEngine();
    const { buildClassifier } = await import('../../models/classifier.js');
    const { removeBatchNorm, foldBatchNorm } = await import('../../models/batchnorm.js');
    const { summarize, formatSummary } = await import('../../models/summary.js');

    let model;
    if (head !== undefined || classes !== undefined || classMode !== undefined) {
      const mode: LabelClassMode = classMode ?? 'categorical';
      if (classes === undefined && mode !== 'binary') {
        throw new UsageError(`--classes N is required for a classifier with --class-mode ${mode} (only binary implies 2).`, 'classes');
      }
      if (mode === 'binary' && classes !== undefined && classes !== 2) {
        throw new UsageError(`--class-mode binary means 2 classes (one sigmoid output); got --classes ${classes}. Use --class-mode sparse or categorical for ${classes} classes.`, 'classes');
      }
      const classifier = buildClassifier({
        backbone: definition.id,
        backboneOptions,
        head,
        classes: classes ?? 2,
        classMode: mode,
        freezeBackbone: Boolean(values['freeze-backbone']),
      });
      model = classifier.model;
    } else {
      model = definition.build({ ...backboneOptions, includeTop: !values['no-top'] });
      if (values['freeze-backbone']) for (const layer of model.layers) layer.trainable = false;
    }
    if (values['remove-batchnorm']) model = removeBatchNorm(model);
    if (values['fold-batchnorm']) model = foldBatchNorm(model);

    const summary = summarize(model);
    if (values.json) {
      const json = {
        totalParams: summary.totalParams,
        trainableParams: summary.trainableParams,
        nonTrainableParams: summary.nonTrainableParams,
        layers: summary.layers.map((l) => ({ name: l.name, className: l.className, outputShape: l.outputShape, params: l.params, trainable: l.trainable })),
      };
      io.stdout.write(JSON.stringify(json) + '\n');
    } else {
      io.stdout.write(formatSummary(summary) + '\n');
    }
    return 0;
  },
};
