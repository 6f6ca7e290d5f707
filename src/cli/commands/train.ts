// `tlkit train DIR --backbone ID`: a whole training run into a run directory.
import type { Command } from '../command.js';
import { parseFlags, stringFlag } from '../args.js';
import { TrainingError, UsageError } from '../../core/errors.js';
import { ProgressPrinter, formatDuration } from '../progress_bar.js';
import { formatCount } from '../../core/format.js';
import { trainFlagSpec, trainFlagUsage, trainOptionsFromFlags } from '../train_flags.js';

const usage = `Usage: tlkit train DIR --backbone ID [options]
       tlkit train --resume --out RUN_DIR

Trains a classifier on DIR (one sub-folder per class): a pretrained backbone from \`tlkit models\` plus a
head, fitted with progress bars, checkpoints every epoch, and a run directory holding the saved model,
the best and last checkpoints, history.csv/json, summary.txt, evaluation.json and config.json.

Options:
  --backbone ID              backbone id (required unless --resume)
  --out RUN_DIR              the run directory (default runs/BACKBONE-TIMESTAMP)
  --resume                   continue the run in --out from its last checkpoint, as its config.json says
                             (other training flags are refused; --engine may switch engines: the
                             optimizer state is converted)
  --overwrite                replace the run already in --out (its files are removed when the new run
                             starts); without it a non-empty --out is refused

${trainFlagUsage}`;

const flags = {
  backbone: { type: 'string' },
  out: { type: 'string' },
  resume: { type: 'boolean' },
  overwrite: { type: 'boolean' },
  ...trainFlagSpec,
} as const;

/** The flags that mean something with --resume: which run, and where its numbers are computed. */
const RESUME_FLAGS = ['resume', 'out', 'engine'];

export const trainCommand: Command = {
  name: 'train',
  summary: 'train a classifier on a folder of class sub-folders (fine-tuning, checkpoints, resume)',
  usage,
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, flags, usage);
    const resume = Boolean(values.resume);
    const out = stringFlag(values, 'out');
    if (resume && !out) throw new UsageError('--resume needs --out RUN_DIR: the run to continue', 'resume');
    if (resume) {
      // The run's config.json defines it; a flag that would be silently ignored is refused instead.
      const ignored = Object.keys(values).filter((k) => values[k] !== undefined && !RESUME_FLAGS.includes(k));
      if (ignored.length) {
        throw new UsageError(`--resume continues the run in ${out} exactly as its config.json says; ${ignored.map((k) => `--${k}`).join(', ')} would be ignored: drop ${ignored.length > 1 ? 'them' : 'it'} (only --engine may change), or start a new run`, ignored[0]);
      }
    }
    if (!resume && positionals.length !== 1) throw new UsageError(`train expects one DIR (a folder with one sub-folder per class); got ${positionals.length}\n\n${usage}`);
    const backbone = stringFlag(values, 'backbone');
    if (!resume && !backbone) throw new UsageError('--backbone is required (see `tlkit models`)', 'backbone');
    const shared = trainOptionsFromFlags(values);
    const options = {
      ...shared,
      dataDir: positionals[0],
      backbone: backbone ?? '',
      epochs: shared.epochs ?? 'auto',
      batchSize: shared.batchSize ?? 32,
      freezeBackbone: Boolean(shared.freezeBackbone),
      outDir: out ?? `runs/${backbone}-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}`,
      resume,
      overwrite: Boolean(values.overwrite),
    };
    const { trainRun } = await import('../../train/run/run.js');
    const printer = new ProgressPrinter(io.stderr, io.interactive);
    // Ctrl-C stops after the current batch; the last checkpoint stays, and --resume continues from it.
    const controller = new AbortController();
    const onInterrupt = () => controller.abort();
    process.once('SIGINT', onInterrupt);
    let result;
    try {
      result = await trainRun({ ...options, signal: controller.signal }, { onProgress: printer.update, onLog: (m) => io.stderr.write(m + '\n') });
    } catch (error) {
      const { existsSync } = await import('node:fs');
      const { runDirLayout } = await import('../../train/run/run_dir.js');
      const checkpointed = existsSync(runDirLayout(options.outDir).lastCheckpoint);
      // A new run that ends before its first checkpoint removes its directory (run_dir_guard.ts).
      const removed = existsSync(options.outDir) ? '' : ' (no run directory is left)';
      if (!controller.signal.aborted) {
        // A training failure (NaN stop) says what is left to continue from, which only the run directory knows.
        if (error instanceof TrainingError) {
          const left = checkpointed ? `the last checkpoint is from before this failure: after fixing the cause, continue with: tlkit train --resume --out ${options.outDir}` : `no checkpoint had been written${removed}`;
          throw new TrainingError(`${error.message}; ${left}`, { cause: error });
        }
        throw error;
      }
      io.stderr.write(checkpointed ? `\ninterrupted; the last checkpoint is kept. Continue with: tlkit train --resume --out ${options.outDir}\n` : `\ninterrupted before the first checkpoint: nothing to resume${removed}\n`);
      return 130;
    } finally {
      process.removeListener('SIGINT', onInterrupt);
    }
    const last = result.history.at(-1);
    const lines = [`run directory: ${result.runDir}`];
    if (last) lines.push(`epochs: ${result.history.length}  loss ${last.loss.toFixed(4)}  accuracy ${last.accuracy.toFixed(4)}` + (last.val_accuracy !== undefined ? `  val_loss ${last.val_loss.toFixed(4)}  val_accuracy ${last.val_accuracy.toFixed(4)}` : ''));
    if (result.evaluation) lines.push(`validation accuracy: ${result.evaluation.accuracy.toFixed(4)} on ${result.evaluation.samples} images`);
    lines.push(`params: ${formatCount(result.params.total)} total, ${formatCount(result.params.trainable)} trainable`);
    lines.push(`elapsed: ${formatDuration(result.elapsedSeconds)}`);
    io.stdout.write(lines.join('\n') + '\n');
    return 0;
  },
};
