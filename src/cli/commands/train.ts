// `tlkit train DIR --backbone ID`: a whole training run into a run directory.
import type { Command } from '../command.js';
import { choiceFlag, numberFlag, parseFlags, stringFlag } from '../args.js';
import { UsageError } from '../../errors.js';
import { ProgressPrinter, formatDuration } from '../progress_bar.js';
import { augmentationFlagSpec, augmentationFlagUsage, augmentationOptionsFromFlags, augmentValidationFromFlags } from '../augmentation_flags.js';

const usage = `Usage: tlkit train DIR --backbone ID [options]
       tlkit train --resume --out RUN_DIR

Trains a classifier on DIR (one sub-folder per class): a pretrained backbone from \`tlkit models\` plus a
head, fitted with progress bars, checkpoints every epoch, and a run directory holding the saved model,
the best and last checkpoints, history.csv/json, summary.txt, evaluation.json and config.json.

Options:
  --backbone ID              backbone id (required unless --resume)
  --weights W                imagenet (default when it exists), none, nsfwjs (offline), or a Keras .h5 path
  --input-size N             square input size (default 224)
  --alpha A                  width multiplier (mobilenet, mobilenet_v2)
  --head SPEC                e.g. flatten,dense:16:relu,dropout:0.25 (default gap)
  --class-mode M             binary, sparse or categorical (default categorical)
  --epochs N                 epochs (default 5); with --fine-tune-epochs: epochs of the head phase
  --batch-size B             default 32
  --optimizer O              adam (default), sgd or rmsprop
  --lr X                     learning rate (default: Keras's, 1e-3 for adam)
  --freeze-backbone          train the head only
  --fine-tune-from LAYER|all train from this backbone layer on (others frozen)
  --fine-tune-epochs N       two-phase recipe: after --epochs on the frozen backbone, N epochs
                             unfrozen from --fine-tune-from (default all) ...
  --fine-tune-lr X           ... at this rate (default lr / 10)
  --validation-split F       hold out this fraction of each class (Keras validation_split)
  --val-dir DIR              validation images in their own folder
  --out RUN_DIR              the run directory (default runs/BACKBONE-TIMESTAMP)
  --resume                   continue the run in --out from its last checkpoint (its config.json wins)
  --seed S                   seed of shuffling, augmentation and dropout (default random, recorded)
  --early-stopping-patience N stop after N epochs without val_loss improvement, keep the best weights
  --reduce-lr-patience N     divide the rate by 10 after N epochs without improvement
  --class-weight auto        weight classes inversely to their frequency
  --checkpoint-every N       also checkpoint every N batches inside an epoch
  --engine E                 tfjs (default), auto

${augmentationFlagUsage}`;

const flags = {
  backbone: { type: 'string' },
  weights: { type: 'string' },
  'input-size': { type: 'string' },
  alpha: { type: 'string' },
  head: { type: 'string' },
  'class-mode': { type: 'string' },
  epochs: { type: 'string' },
  'batch-size': { type: 'string' },
  optimizer: { type: 'string' },
  lr: { type: 'string' },
  'freeze-backbone': { type: 'boolean' },
  'fine-tune-from': { type: 'string' },
  'fine-tune-epochs': { type: 'string' },
  'fine-tune-lr': { type: 'string' },
  'validation-split': { type: 'string' },
  'val-dir': { type: 'string' },
  out: { type: 'string' },
  resume: { type: 'boolean' },
  seed: { type: 'string' },
  'early-stopping-patience': { type: 'string' },
  'reduce-lr-patience': { type: 'string' },
  'class-weight': { type: 'string' },
  'checkpoint-every': { type: 'string' },
  engine: { type: 'string' },
  ...augmentationFlagSpec,
} as const;

export const trainCommand: Command = {
  name: 'train',
  summary: 'train a classifier on a folder of class sub-folders (fine-tuning, checkpoints, resume)',
  usage,
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, flags, usage);
    const resume = Boolean(values.resume);
    const out = stringFlag(values, 'out');
    if (resume && !out) throw new UsageError('--resume needs --out RUN_DIR: the run to continue', 'resume');
    if (!resume && positionals.length !== 1) throw new UsageError(`train expects one DIR (a folder with one sub-folder per class); got ${positionals.length}\n\n${usage}`);
    const backbone = stringFlag(values, 'backbone');
    if (!resume && !backbone) throw new UsageError('--backbone is required (see `tlkit models`)', 'backbone');
    if (values['freeze-backbone'] && values['fine-tune-from'] !== undefined && values['fine-tune-epochs'] === undefined) {
      throw new UsageError('--freeze-backbone and --fine-tune-from exclude each other (unless --fine-tune-epochs asks for the two-phase recipe)', 'fine-tune-from');
    }
    if (values['validation-split'] !== undefined && values['val-dir'] !== undefined) throw new UsageError('--validation-split and --val-dir exclude each other; give one', 'val-dir');
    const classWeight = choiceFlag(values, 'class-weight', ['auto'] as const);
    const options = {
      dataDir: positionals[0],
      backbone: backbone ?? '',
      weights: stringFlag(values, 'weights'),
      inputSize: numberFlag(values, 'input-size', { integer: true, min: 32 }),
      alpha: numberFlag(values, 'alpha', { min: 0, exclusiveMin: true }),
      head: stringFlag(values, 'head'),
      classMode: choiceFlag(values, 'class-mode', ['binary', 'sparse', 'categorical'] as const),
      epochs: numberFlag(values, 'epochs', { integer: true, min: 0 }) ?? 5,
      batchSize: numberFlag(values, 'batch-size', { integer: true, min: 1 }) ?? 32,
      optimizer: choiceFlag(values, 'optimizer', ['adam', 'sgd', 'rmsprop'] as const),
      learningRate: numberFlag(values, 'lr', { min: 0, exclusiveMin: true }),
      freezeBackbone: Boolean(values['freeze-backbone']),
      fineTuneFrom: stringFlag(values, 'fine-tune-from'),
      fineTuneEpochs: numberFlag(values, 'fine-tune-epochs', { integer: true, min: 0 }),
      fineTuneLr: numberFlag(values, 'fine-tune-lr', { min: 0, exclusiveMin: true }),
      validationSplit: numberFlag(values, 'validation-split', { min: 0, max: 0.99 }),
      valDir: stringFlag(values, 'val-dir'),
      outDir: out ?? `runs/${backbone}-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}`,
      resume,
      seed: numberFlag(values, 'seed', { integer: true, min: 0 }),
      earlyStoppingPatience: numberFlag(values, 'early-stopping-patience', { integer: true, min: 0 }),
      reduceLrPatience: numberFlag(values, 'reduce-lr-patience', { integer: true, min: 0 }),
      classWeight,
      checkpointEveryBatches: numberFlag(values, 'checkpoint-every', { integer: true, min: 1 }),
      engine: choiceFlag(values, 'engine', ['tfjs', 'onnx', 'auto'] as const),
      augmentation: augmentationOptionsFromFlags(values) as Record<string, unknown>,
      augmentValidation: augmentValidationFromFlags(values),
    };
    const { trainRun } = await import('../../train/run.js');
    const printer = new ProgressPrinter(io.stderr, io.interactive);
    // Ctrl-C stops after the current batch; the last checkpoint stays, and --resume continues from it.
    const controller = new AbortController();
    const onInterrupt = () => controller.abort();
    process.once('SIGINT', onInterrupt);
    let result;
    try {
      result = await trainRun({ ...options, signal: controller.signal }, { onProgress: printer.update, onLog: (m) => io.stderr.write(m + '\n') });
    } catch (error) {
      if (!controller.signal.aborted) throw error;
      io.stderr.write(`\ninterrupted; the last checkpoint is kept. Continue with: tlkit train --resume --out ${options.outDir}\n`);
      return 130;
    } finally {
      process.removeListener('SIGINT', onInterrupt);
    }
    const last = result.history.at(-1);
    const lines = [`run directory: ${result.runDir}`];
    if (last) lines.push(`epochs: ${result.history.length}  loss ${last.loss.toFixed(4)}  accuracy ${last.accuracy.toFixed(4)}` + (last.val_accuracy !== undefined ? `  val_loss ${last.val_loss.toFixed(4)}  val_accuracy ${last.val_accuracy.toFixed(4)}` : ''));
    if (result.evaluation) lines.push(`validation accuracy: ${result.evaluation.accuracy.toFixed(4)} on ${result.evaluation.samples} images`);
    lines.push(`params: ${result.params.total.toLocaleString('en-US')} total, ${result.params.trainable.toLocaleString('en-US')} trainable`);
    lines.push(`elapsed: ${formatDuration(result.elapsedSeconds)}`);
    io.stdout.write(lines.join('\n') + '\n');
    return 0;
  },
};
