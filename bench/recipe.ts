// The default compare recipe, whole process, against the same recipe written the PyTorch way.
//
// tlkit: `tlkit compare DIR --backbones mobilenet_v2,inception_v3 --weights nsfwjs --input-size 224
// --validation-split 0.2` as a child process (defaults: the head until val_loss stops improving on cached
// features, then 3 epochs of the last block, BatchNorm frozen; plus the linear probe), timed from spawn to
// exit. PyTorch: bench/recipe_torch.py (Debian python3-torch + python3-torchvision, channels_last, 2 threads,
// no feature caching) with the same head epochs tlkit ran, so both do the same number of epochs, timed the
// same way, in the same run. Images: photo-like JPEGs made from Fashion-MNIST by scripts/make_recipe_images.py
// (a hard pair: pullover vs coat), unless --data DIR is given.
//
// With --torch-max-head-epochs K, PyTorch runs at most K head epochs and the rest are projected from their
// mean time (tlkit's 'auto' can run up to 100 cheap epochs; each costs PyTorch a pass through the backbone);
// the projection is printed as such, beside the measured time.
//
//   npx tsx bench/recipe.ts [--images 1000] [--data DIR] [--backbones mobilenet_v2,inception_v3] [--no-torch]
//                           [--torch-max-head-epochs K]
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const IMAGES = Number(arg('images') ?? 1000);
const BACKBONES = arg('backbones') ?? 'mobilenet_v2,inception_v3';
const WITH_TORCH = !process.argv.includes('--no-torch');
const FINE_TUNE_EPOCHS = 3;
const TORCH_MAX_HEAD_EPOCHS = arg('torch-max-head-epochs');
const root = join(import.meta.dirname, '..');

interface TlkitRow {
  id: string;
  accuracy: number;
  linearProbeAccuracy: number | null;
  epochs: number;
  elapsedSeconds: number;
  engine: string;
  error?: string;
}
interface TorchRow {
  id: string;
  accuracy: number;
  seconds: number;
  projected_seconds: number;
  head_epochs: number;
  head_epochs_run: number;
  head_epoch_seconds: number[];
}

function timed<T>(run: () => T): { value: T; seconds: number } {
  const started = performance.now();
  const value = run();
  return { value, seconds: (performance.now() - started) / 1000 };
}

const scratch = mkdtempSync(join(tmpdir(), 'tlkit-recipe-'));
try {
  let data = arg('data');
  if (!data) {
    data = join(scratch, 'images');
    execFileSync('/usr/bin/python3', [join(root, 'scripts', 'make_recipe_images.py'), data, '--images', String(IMAGES)], { stdio: 'inherit' });
  }
  console.log(`data: ${data}; backbones ${BACKBONES} at 224, validation split 0.2, default recipe`);
  const tlkit = timed(() =>
    spawnSync(process.execPath, [join(root, 'bin', 'tlkit.js'), 'compare', data!, '--backbones', BACKBONES, '--weights', 'nsfwjs', '--input-size', '224', '--validation-split', '0.2', '--json', '--out', join(scratch, 'runs')], {
      encoding: 'utf8',
      maxBuffer: 1 << 26,
    }),
  );
  if (tlkit.value.status !== 0) throw new Error(`tlkit compare failed (${tlkit.value.status}):\n${tlkit.value.stderr}`);
  const rows = (JSON.parse(tlkit.value.stdout) as { backbones: TlkitRow[] }).backbones;
  for (const line of tlkit.value.stderr.split('\n')) if (/epochs:|linear probe:|early stopping|BatchNorm|warning/.test(line)) console.log(`  tlkit log: ${line.trim()}`);
  const failed = rows.filter((r) => r.error);
  if (failed.length) throw new Error(`tlkit: ${failed.map((r) => `${r.id}: ${r.error}`).join('; ')}`);
  const headEpochs = rows.map((r) => r.epochs - FINE_TUNE_EPOCHS);
  console.log(`tlkit   whole process ${tlkit.seconds.toFixed(1)} s`);
  for (const [i, r] of rows.entries()) {
    console.log(`  ${r.id.padEnd(13)} accuracy ${r.accuracy.toFixed(3)}  linear probe ${r.linearProbeAccuracy?.toFixed(3) ?? '-'}  epochs ${headEpochs[i]} head + ${FINE_TUNE_EPOCHS} fine-tune  ${r.elapsedSeconds.toFixed(1)} s  (${r.engine})`);
  }
  if (WITH_TORCH) {
    const torch = timed(() =>
      execFileSync('/usr/bin/python3', [join(import.meta.dirname, 'recipe_torch.py'), data!, '--backbones', BACKBONES, '--head-epochs', headEpochs.join(','), '--fine-tune-epochs', String(FINE_TUNE_EPOCHS), ...(TORCH_MAX_HEAD_EPOCHS ? ['--max-head-epochs', TORCH_MAX_HEAD_EPOCHS] : [])], {
        encoding: 'utf8',
        maxBuffer: 1 << 26,
      }),
    );
    const result = JSON.parse(torch.value.trim().split('\n').at(-1)!) as { torch: string; backbones: TorchRow[] };
    const unrun = result.backbones.reduce((a, r) => a + (r.projected_seconds - r.seconds), 0);
    console.log(`pytorch ${result.torch} whole process ${torch.seconds.toFixed(1)} s measured (channels_last, 2 threads, random initial weights: its accuracy is not comparable)`);
    for (const r of result.backbones) {
      const mean = r.head_epoch_seconds.reduce((a, b) => a + b, 0) / Math.max(1, r.head_epoch_seconds.length);
      console.log(`  ${r.id.padEnd(13)} accuracy ${r.accuracy.toFixed(3)}  ${r.seconds.toFixed(1)} s for ${r.head_epochs_run}/${r.head_epochs} head epochs (${mean.toFixed(1)} s each) + ${FINE_TUNE_EPOCHS} fine-tune` + (r.head_epochs_run < r.head_epochs ? `; projected for all ${r.head_epochs}: ${r.projected_seconds.toFixed(1)} s` : ''));
    }
    console.log(`ratio (pytorch seconds / tlkit seconds, whole process): ${(torch.seconds / tlkit.seconds).toFixed(2)}x measured` + (unrun > 0 ? `, ${((torch.seconds + unrun) / tlkit.seconds).toFixed(2)}x with the projected epochs` : '') + ' (target >= 3x)');
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
