// `tlkit augment DIR --out OUTDIR`: writes augmented samples (Keras's save_to_dir) and one contact sheet.
import { join, resolve } from 'node:path';
import type { Command } from '../command.js';
import { choiceFlag, numberFlag, parseFlags, stringFlag } from '../args.js';
import { UsageError } from '../../core/errors.js';
import { augmentationFlagSpec, augmentationFlagUsage, augmentationOptionsFromFlags } from '../augmentation_flags.js';

const usage = `Usage: tlkit augment DIR --out OUTDIR [--count N] [augmentation flags]

Draws N images from DIR (one sub-folder per class) through an ImageDataGenerator with the given
augmentation, writes each as OUTDIR/aug_INDEX_K.png (INDEX: the file's index in the sorted listing,
as Keras's save_to_dir names them) and all of them on OUTDIR/contact_sheet.png.

Options:
  --out OUTDIR             where to write (created)
  --count N                number of augmented samples (default 16)
  --target-size N|HxW      image size (default 224)
  --color-mode M           rgb (default), grayscale or rgba
  --interpolation I        resize kernel: nearest (default, as Keras), bilinear, bicubic, lanczos
  --keep-aspect-ratio      centre-crop to the target aspect ratio before resizing
  --seed S                 seed of the draw and the augmentation (default random, printed)
  --classes a,b            only these class folders
  --save-format F          png (default) or jpeg
  --workers N              worker threads for decoding and augmentation (default 0)

${augmentationFlagUsage}`;

const flags = {
  ...augmentationFlagSpec,
  out: { type: 'string' },
  count: { type: 'string' },
  'target-size': { type: 'string' },
  'color-mode': { type: 'string' },
  interpolation: { type: 'string' },
  'keep-aspect-ratio': { type: 'boolean' },
  seed: { type: 'string' },
  classes: { type: 'string' },
  'save-format': { type: 'string' },
  workers: { type: 'string' },
} as const;

/** '224' or '224x160' (height x width) -> [h, w]. */
export function parseTargetSize(raw: string | undefined, fallback: number): [number, number] {
  if (raw === undefined) return [fallback, fallback];
  const m = /^(\d+)(?:x(\d+))?$/.exec(raw.trim());
  if (!m || Number(m[1]) < 1 || (m[2] !== undefined && Number(m[2]) < 1)) throw new UsageError(`--target-size expects N or HxW (positive integers); got '${raw}'`, 'target-size');
  return [Number(m[1]), Number(m[2] ?? m[1])];
}

export const augmentCommand: Command = {
  name: 'augment',
  summary: 'write augmented samples of an image folder and a contact sheet to look at them',
  usage,
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, flags, usage);
    if (positionals.length !== 1) throw new UsageError(`augment expects one DIR (a folder with one sub-folder per class); got ${positionals.length}\n\n${usage}`);
    const out = stringFlag(values, 'out');
    if (!out) throw new UsageError('--out OUTDIR is required', 'out');
    const outputPath = await import('../../train/run/output_path.js');
    outputPath.refuseSystemPath(out, '--out');
    outputPath.refuseInsideInputs(out, [positionals[0]]);
    const count = numberFlag(values, 'count', { integer: true, min: 1 }) ?? 16;
    const targetSize = parseTargetSize(stringFlag(values, 'target-size'), 224);
    const colorMode = choiceFlag(values, 'color-mode', ['rgb', 'grayscale', 'rgba'] as const) ?? 'rgb';
    const interpolation = choiceFlag(values, 'interpolation', ['nearest', 'bilinear', 'bicubic', 'lanczos'] as const) ?? 'nearest';
    const seed = numberFlag(values, 'seed', { integer: true, min: 0 });
    const saveFormat = choiceFlag(values, 'save-format', ['png', 'jpeg'] as const) ?? 'png';
    const workers = numberFlag(values, 'workers', { integer: true, min: 0, max: 64 }) ?? 0;
    const classes = stringFlag(values, 'classes')?.split(',').map((s) => s.trim()).filter(Boolean);
    const generatorOptions = augmentationOptionsFromFlags(values);

    const [{ initEngine }, { ImageDataGenerator }, { toUint8Scaled, writeImage }, { writeContactSheet }, { mkdirSync }] = await Promise.all([
      import('../../engines/tfjs/tf.js'),
      import('../../data/image_data_generator.js'),
      import('../../data/directory_iterator.js'),
      import('../../data/contact_sheet.js'),
      import('node:fs'),
    ]);
    await initEngine();
    const warnings: string[] = [];
    const gen = new ImageDataGenerator({ ...generatorOptions, onWarning: (m) => warnings.push(m) });
    const it = gen.flowFromDirectory(positionals[0], {
      targetSize,
      colorMode,
      interpolation,
      keepAspectRatio: Boolean(values['keep-aspect-ratio']),
      classes,
      classMode: null,
      batchSize: Math.min(count, 32),
      seed,
      workers,
      onWarning: (m) => io.stderr.write(`warning: ${m}\n`),
    });
    const outDir = resolve(out);
    mkdirSync(outDir, { recursive: true });
    const [h, w, c] = it.imageShape;
    const sheet: { data: Uint8Array; height: number; width: number; channels: number }[] = [];
    const written: string[] = [];
    try {
      while (written.length < count) {
        const batch = await it.next();
        const data = batch.x.dataSync() as Float32Array;
        batch.x.dispose();
        const size = h * w * c;
        for (let i = 0; i < batch.indices.length && written.length < count; i++) {
          const pixels = toUint8Scaled(data.subarray(i * size, (i + 1) * size));
          const name = `aug_${batch.indices[i]}_${written.length}.${saveFormat === 'jpeg' ? 'jpg' : 'png'}`;
          await writeImage(join(outDir, name), pixels, h, w, c, saveFormat);
          written.push(name);
          sheet.push({ data: pixels, height: h, width: w, channels: c });
        }
      }
    } finally {
      await it.close();
    }
    const sheetPath = join(outDir, 'contact_sheet.png');
    const dims = await writeContactSheet(sheetPath, sheet);
    for (const m of warnings) io.stderr.write(`warning: ${m}\n`);
    io.stdout.write(
      [
        `wrote ${written.length} augmented samples (${w}x${h}, ${colorMode}) to ${outDir}`,
        `contact sheet: ${sheetPath} (${dims.width}x${dims.height})`,
        `seed: ${it.seed}`,
        `augmentation: ${JSON.stringify(generatorOptions)}`,
        ...(it.skippedFiles.length ? [`skipped ${it.skippedFiles.length} files:`, ...it.skippedFiles.map((s) => `  ${s.file}: ${s.reason}`)] : []),
      ].join('\n') + '\n',
    );
    return 0;
  },
};
