// `tlkit compare [DIR] --backbones a,b,c`: the reference experiment's table and a recommendation.
import { existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from '../command.js';
import { numberFlag, parseFlags, stringFlag } from '../args.js';
import { UsageError } from '../../core/errors.js';
import { ProgressPrinter, formatDuration } from '../progress_bar.js';
import { definedOnly, trainFlagSpec, trainFlagUsage, trainOptionsFromFlags } from '../train_flags.js';
import { gridAxesFromFlags } from '../grid_flags.js';
import type { CompareResult } from '../../compare/types.js';
import type { CompareReportFiles } from '../../report/write_compare_report.js';
import { formatStatus, queueConnectionFromFlags, queueFlagSpec, queueFlagUsage, queueUrlFromFlags } from '../queue_flags.js';

/** The embedded default: a two-class Fashion-MNIST sample shipped in the package (samples/LICENSE.md). */
export const SAMPLE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'samples', 'fashion-shoes');

/** The default recipe: the head on the frozen backbone, then the last block fine-tuned at a tenth of the rate. */
export const COMPARE_DEFAULTS = { epochs: 'auto', fineTuneEpochs: 3, fineTuneFrom: 'last-block', batchSize: 32, seed: 1234 } as const;
/** The embedded sample's images are 28x28; 96 px is plenty and keeps the demo to minutes on a CPU. */
const SAMPLE_INPUT_SIZE = 96;

const usage = `Usage: tlkit compare [DIR] [--backbones a,b,c] [--grid KEY=v1,v2 ...] [training options] [--select RULE] [--out DIR] [--json]
       tlkit compare ... --queue URL [--detach]        (runs on workers: tlkit worker)
       tlkit compare --cancel ID --queue URL

Trains each backbone under the same config and seed, evaluates each on the same held-out data, and prints
the reference experiment's table (Total / Trainable / Non-trainable params, Elapsed time, Accuracy), then
recommends one by your rule. Writes report.html (self-contained: table, curves, confusion matrices,
misclassified images, time per phase), report.md and compare.json, plus one run directory per backbone.

Without DIR: the embedded sample (Fashion-MNIST sandals vs sneakers, ${relative(process.cwd(), SAMPLE_DIR) || SAMPLE_DIR}),
at ${SAMPLE_INPUT_SIZE} px, with its train/ and test/ folders.

Options:
  --backbones a,b,c          backbone ids (see tlkit models). Default: every backbone whose pretrained weights
                             are at hand (ImageNet in the Keras cache, else offline weights)
  --select RULE              within=TOLERANCE then tie-breaks among time, params, gap, accuracy
                             (default within=0.01,time,params,gap: accuracy within 0.01 of the best, then the fastest)
  --out DIR                  where runs and reports go (default runs/compare-TIMESTAMP)
  --overwrite                replace the backbones' runs already in --out (else each one is refused)
  --allow-random-weights     train backbones without pretrained weights from random weights (default: report them)
  --json                     print the result as JSON on stdout
  --no-audit                 skip the data audit (likely label errors, duplicates and train/validation leaks,
                             outliers, class balance, from the probes' features and perceptual hashes; on by
                             default, a few percent of the comparison's time; see docs/audit.md)
  --explain-misclassified K  Grad-CAM overlays beside the first K misclassified images of each backbone in
                             report.html (default 12; 0: none)
  --grid KEY=v1,v2           a sweep (repeatable): every backbone runs once per combination of the values,
                             same seed and held-out data; KEY is a training flag (lr, fine-tune-from,
                             batch-size, optimizer, head...); values with commas are split on ';' instead
                             (--grid 'head=gap;flatten,dense:16:relu'). Runs are labelled by what differs.
  --queue URL                enqueue the runs on Redis (BullMQ) for \`tlkit worker\`s and wait; the report is
                             written by a worker when the last run ends. Ctrl-C stops waiting, not the runs.
  --detach                   with --queue: print the comparison id and return (see tlkit status ID)
  --cancel ID                stop a queued comparison: waiting runs are dropped, running ones killed

Without --weights each backbone uses ImageNet weights when they are in the Keras cache, else its offline
weights, and says which. Default recipe: --epochs ${COMPARE_DEFAULTS.epochs} on the frozen backbone (until val_loss stops
improving, on cached features), then --fine-tune-epochs ${COMPARE_DEFAULTS.fineTuneEpochs} from --fine-tune-from ${COMPARE_DEFAULTS.fineTuneFrom} at lr/10.
Each backbone also gets a linear probe (logistic regression on its frozen pooled features, C chosen by
cross-validation on the training data): the "Linear probe" row, what the backbone gives before any training. The reference experiment exactly:
  --head flatten,dense:16:relu,dropout:0.25 --class-mode sparse --optimizer adam --lr 2e-5
  --fine-tune-from all --fine-tune-epochs 0 --input-size 224

${queueFlagUsage}

${trainFlagUsage}`;

const flags = {
  backbones: { type: 'string' },
  select: { type: 'string' },
  out: { type: 'string' },
  'allow-random-weights': { type: 'boolean' },
  overwrite: { type: 'boolean' },
  json: { type: 'boolean' },
  'explain-misclassified': { type: 'string' },
  grid: { type: 'string', multiple: true },
  detach: { type: 'boolean' },
  cancel: { type: 'string' },
  'no-audit': { type: 'boolean' },
  ...queueFlagSpec,
  ...trainFlagSpec,
} as const;

function auditSummary(audit: NonNullable<CompareResult['audit']>): string {
  const c = audit.counts;
  return `Data audit: ${c.labelIssues} likely label errors, ${c.leaks} train/validation leaks${c.leaks > 0 ? ` (${c.leakedValidationFiles} validation images copied in training)` : ''}, ${c.duplicateGroups - c.leaks} duplicate groups within a split, ${c.outliers} outliers (report.html lists them; --exclude FILE retrains without chosen files)`;
}

export const compareCommand: Command = {
  name: 'compare',
  summary: 'train several backbones on the same data; table of params, time, accuracy; a recommendation',
  usage,
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, flags, usage);
    const queueUrl = queueUrlFromFlags(values);
    const cancelId = stringFlag(values, 'cancel');
    if (cancelId !== undefined) {
      if (!queueUrl) throw new UsageError('--cancel needs --queue URL (or TLKIT_QUEUE)', 'cancel');
      const { connectQueue } = await import('../../queue/submit.js');
      const client = connectQueue(queueUrl, queueConnectionFromFlags(values, queueUrl));
      try {
        io.stdout.write((await formatStatus(await client.cancel(cancelId))) + '\n');
      } finally {
        await client.close();
      }
      return 0;
    }
    if (values.detach && !queueUrl) throw new UsageError('--detach needs --queue URL: only queued runs go on without the submitter', 'detach');
    if (positionals.length > 1) throw new UsageError(`compare expects at most one DIR; got ${positionals.length}\n\n${usage}`);
    const shared = definedOnly(trainOptionsFromFlags(values));
    const outFlag = stringFlag(values, 'out');
    if (outFlag !== undefined) (await import('../../train/run/output_path.js')).refuseSystemPath(outFlag, '--out');
    const embedded = positionals.length === 0;
    let dataDir = positionals[0];
    if (embedded) {
      dataDir = join(SAMPLE_DIR, 'train');
      if (!existsSync(dataDir)) throw new UsageError(`no DIR given and the embedded sample is missing at ${dataDir}`);
      if (shared.valDir === undefined && shared.validationSplit === undefined) shared.valDir = join(SAMPLE_DIR, 'test');
      shared.inputSize ??= SAMPLE_INPUT_SIZE;
    } else if (shared.valDir === undefined && shared.validationSplit === undefined) {
      shared.validationSplit = 0.2;
    }
    const grid = gridAxesFromFlags((values.grid as string[] | undefined) ?? [], shared.augmentation as Record<string, unknown> | undefined);
    const varied = new Set(grid.flatMap((axis) => axis.values.flatMap((v) => Object.keys(v.options))));
    // --fine-tune-epochs 0 (or --freeze-backbone): one phase, as in the reference experiment.
    const onePhase = shared.fineTuneEpochs === 0 || shared.freezeBackbone === true;
    const { listBackbones } = await import('../../models/zoo.js');
    const { defaultWeights } = await import('../../weights/resolve.js');
    let backbones = stringFlag(values, 'backbones')?.split(',').map((s) => s.trim()).filter(Boolean);
    if (backbones !== undefined && backbones.length === 0) throw new UsageError('--backbones expects a comma-separated list of backbone ids (see tlkit models)', 'backbones');
    if (!backbones) {
      const withWeights = listBackbones().filter((b) => shared.weights !== undefined || defaultWeights(b.id).weights !== null);
      const without = listBackbones().filter((b) => !withWeights.includes(b));
      backbones = withWeights.map((b) => b.id);
      if (without.length > 0) {
        io.stderr.write(`not compared (no pretrained weights at hand; put Keras's ImageNet files in the Keras cache or pass --backbones with --weights): ${without.map((b) => b.id).join(', ')}\n`);
      }
      if (backbones.length === 0) throw new UsageError('no backbone has pretrained weights at hand; pass --backbones and --weights');
    }
    const outDir = stringFlag(values, 'out') ?? `runs/compare-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}`;
    const options = {
      ...shared,
      dataDir,
      backbones,
      outDir,
      overwrite: Boolean(values.overwrite),
      epochs: shared.epochs ?? COMPARE_DEFAULTS.epochs,
      batchSize: shared.batchSize ?? COMPARE_DEFAULTS.batchSize,
      seed: shared.seed ?? COMPARE_DEFAULTS.seed,
      // One phase trains what --fine-tune-from says (all: the reference experiment), else the head alone.
      ...(onePhase ? { freezeBackbone: shared.fineTuneFrom === undefined && !varied.has('fineTuneFrom') } : { fineTuneEpochs: shared.fineTuneEpochs ?? COMPARE_DEFAULTS.fineTuneEpochs, fineTuneFrom: shared.fineTuneFrom ?? COMPARE_DEFAULTS.fineTuneFrom }),
      select: stringFlag(values, 'select'),
      allowRandomWeights: Boolean(values['allow-random-weights']),
      ...(grid.length > 0 ? { grid } : {}),
      ...(values['no-audit'] || queueUrl ? { audit: false } : {}),
    };
    const { compareBackbones, planComparison } = await import('../../compare/compare.js');
    const { formatCompareTable } = await import('../../report/compare_table.js');
    const { compareJson } = await import('../../report/compare_json.js');
    const { writeCompareReport } = await import('../../report/write_compare_report.js');
    const printer = new ProgressPrinter(io.stderr, io.interactive);
    const plan = planComparison(options);
    io.stderr.write(`comparing ${plan.runs.length === backbones.length ? backbones.join(', ') : `${plan.runs.length} runs (${plan.runs.map((r) => r.label).join('; ')})`} on ${dataDir}\n`);
    const onLog = (m: string) => io.stderr.write(m + '\n');
    let result: CompareResult;
    let files: CompareReportFiles;
    if (queueUrl) {
      const { connectQueue } = await import('../../queue/submit.js');
      const client = connectQueue(queueUrl, { ...queueConnectionFromFlags(values, queueUrl), dataRoot: stringFlag(values, 'data-root'), runsRoot: stringFlag(values, 'runs-root') });
      // Ctrl-C stops the waiting only: the runs are the workers' now.
      const controller = new AbortController();
      const onInterrupt = () => controller.abort();
      process.once('SIGINT', onInterrupt);
      try {
        const id = await client.submit(plan);
        if (values.detach) {
          io.stdout.write(id + '\n');
          io.stderr.write(`comparison ${id} queued (${plan.runs.length} runs); follow it with: tlkit status ${id} --queue URL\n`);
          return 0;
        }
        io.stderr.write(`comparison ${id} queued (${plan.runs.length} runs); waiting for workers (Ctrl-C leaves them running)\n`);
        try {
          // The worker that ended the last run wrote the report.
          ({ files, ...result } = await client.wait(id, { onLog, signal: controller.signal }));
        } catch (error) {
          if (!controller.signal.aborted) throw error;
          io.stderr.write(`stopped waiting; comparison ${id} goes on: tlkit status ${id} --queue URL, or tlkit compare --cancel ${id} --queue URL\n`);
          return 130;
        }
      } finally {
        process.removeListener('SIGINT', onInterrupt);
        await client.close();
      }
    } else {
      result = await compareBackbones(options, {
        onProgress: printer.update,
        onLog,
        onBackboneDone: (row) => io.stderr.write(row.ok ? `${row.id}: accuracy ${row.accuracy.toFixed(3)}${row.linearProbeAccuracy !== undefined ? ` (linear probe ${row.linearProbeAccuracy.toFixed(3)})` : ''} in ${formatDuration(row.elapsedSeconds)}\n` : `${row.id}: failed: ${row.error}\n`),
      });
      files = await writeCompareReport(result, undefined, { explainMisclassified: numberFlag(values, 'explain-misclassified', { integer: true, min: 0 }) });
    }
    if (values.json) {
      io.stdout.write(JSON.stringify(compareJson(result), null, 2) + '\n');
    } else {
      const lines = ['', formatCompareTable(result), ''];
      lines.push(result.recommendation ? `Recommendation: ${result.recommendation.reason}.` : 'No recommendation: no run finished.');
      lines.push(`Rule: ${result.rule}. Set yours with --select.`);
      if (result.audit) lines.push('', auditSummary(result.audit));
      lines.push('', `Report: ${files.html}`, `        ${files.markdown}, ${files.json}`);
      io.stdout.write(lines.join('\n') + '\n');
    }
    return result.rows.some((r) => r.ok) ? 0 : 1;
  },
};
