// `tlkit compare [DIR] --backbones a,b,c`: the reference experiment's table and a recommendation.
import { existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from '../command.js';
import { parseFlags, stringFlag } from '../args.js';
import { UsageError } from '../../core/errors.js';
import { ProgressPrinter, formatDuration } from '../progress_bar.js';
import { definedOnly, trainFlagSpec, trainFlagUsage, trainOptionsFromFlags } from '../train_flags.js';

/** The embedded default: a two-class Fashion-MNIST sample shipped in the package (samples/LICENSE.md). */
export const SAMPLE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'samples', 'fashion-shoes');

/** The default recipe: the head on the frozen backbone, then the last block fine-tuned at a tenth of the rate. */
export const COMPARE_DEFAULTS = { epochs: 5, fineTuneEpochs: 3, fineTuneFrom: 'last-block', batchSize: 32, seed: 1234 } as const;
/** The embedded sample's images are 28x28; 96 px is plenty and keeps the demo to minutes on a CPU. */
const SAMPLE_INPUT_SIZE = 96;

const usage = `Usage: tlkit compare [DIR] [--backbones a,b,c] [training options] [--select RULE] [--out DIR] [--json]

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

Without --weights each backbone uses ImageNet weights when they are in the Keras cache, else its offline
weights, and says which. Default recipe: --epochs ${COMPARE_DEFAULTS.epochs} on the frozen backbone, then
--fine-tune-epochs ${COMPARE_DEFAULTS.fineTuneEpochs} from --fine-tune-from ${COMPARE_DEFAULTS.fineTuneFrom} at lr/10. The reference experiment exactly:
  --head flatten,dense:16:relu,dropout:0.25 --class-mode sparse --optimizer adam --lr 2e-5
  --fine-tune-from all --fine-tune-epochs 0 --input-size 224

${trainFlagUsage}`;

const flags = {
  backbones: { type: 'string' },
  select: { type: 'string' },
  out: { type: 'string' },
  'allow-random-weights': { type: 'boolean' },
  overwrite: { type: 'boolean' },
  json: { type: 'boolean' },
  ...trainFlagSpec,
} as const;

export const compareCommand: Command = {
  name: 'compare',
  summary: 'train several backbones on the same data; table of params, time, accuracy; a recommendation',
  usage,
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, flags, usage);
    if (positionals.length > 1) throw new UsageError(`compare expects at most one DIR; got ${positionals.length}\n\n${usage}`);
    const shared = definedOnly(trainOptionsFromFlags(values));
    const outFlag = stringFlag(values, 'out');
    if (outFlag !== undefined) (await import('../../train/output_path.js')).refuseSystemPath(outFlag, '--out');
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
      ...(onePhase ? { freezeBackbone: shared.fineTuneFrom === undefined } : { fineTuneEpochs: shared.fineTuneEpochs ?? COMPARE_DEFAULTS.fineTuneEpochs, fineTuneFrom: shared.fineTuneFrom ?? COMPARE_DEFAULTS.fineTuneFrom }),
      select: stringFlag(values, 'select'),
      allowRandomWeights: Boolean(values['allow-random-weights']),
    };
    const { compareBackbones } = await import('../../compare/compare.js');
    const { formatCompareTable } = await import('../../report/compare_table.js');
    const { compareJson } = await import('../../report/compare_json.js');
    const { writeCompareReport } = await import('../../report/write_compare_report.js');
    const printer = new ProgressPrinter(io.stderr, io.interactive);
    io.stderr.write(`comparing ${backbones.join(', ')} on ${dataDir}\n`);
    const result = await compareBackbones(options, {
      onProgress: printer.update,
      onLog: (m) => io.stderr.write(m + '\n'),
      onBackboneDone: (row) => io.stderr.write(row.ok ? `${row.id}: accuracy ${row.accuracy.toFixed(3)} in ${formatDuration(row.elapsedSeconds)}\n` : `${row.id}: failed: ${row.error}\n`),
    });
    const files = await writeCompareReport(result);
    if (values.json) {
      io.stdout.write(JSON.stringify(compareJson(result), null, 2) + '\n');
    } else {
      const lines = ['', formatCompareTable(result), ''];
      lines.push(result.recommendation ? `Recommendation: ${result.recommendation.reason}.` : 'No recommendation: no backbone finished.');
      lines.push(`Rule: ${result.rule}. Set yours with --select.`);
      lines.push('', `Report: ${files.html}`, `        ${files.markdown}, ${files.json}`);
      io.stdout.write(lines.join('\n') + '\n');
    }
    return result.rows.some((r) => r.ok) ? 0 : 1;
  },
};
