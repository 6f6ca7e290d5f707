// What the feature store saves, measured through the CLI as a user runs it (whole processes):
//   1. a compare on N images (N/2 held out) with an empty store, then the same compare again
//      (target: <= 0.5x the time, identical accuracy);
//   2. a 4-point learning-rate sweep with an empty store vs the one run of (1) (target: <= 1.6x);
//   3. the same compare with float32 features instead of float16: the accuracy difference.
// The machine is shared: the load average is printed with the figures.
//
//   npx tsx bench/feature_store.ts [--images 1000] [--backbone mobilenet_v2] [--weights nsfwjs] [--epochs 8] [--fine-tune-epochs 2] [--cli built|source] [--no-audit]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { flag, hasFlag, numberFlag } from './flags.js';
import { writeSampleImages } from './sample_images.js';
import { tlkitCommand } from './tlkit_cli.js';

const IMAGES = numberFlag('images', 1000);
const BACKBONE = flag('backbone', 'mobilenet_v2');
const WEIGHTS = flag('weights', 'nsfwjs');
const EPOCHS = flag('epochs', '8');
const FINE_TUNE = flag('fine-tune-epochs', '2');
const CLI = tlkitCommand();
// The data audit is part of a default compare; --no-audit measures the runs alone.
const AUDIT = hasFlag('no-audit') ? ['--no-audit'] : [];

interface Measured {
  seconds: number;
  peakMb: number;
  accuracies: number[];
  features: string[];
}

function timed(data: string, out: string, cache: string, extra: string[] = []): Measured {
  const args = ['-f', 'TIME %e %M', ...CLI.argv, 'compare', join(data, 'train'), '--val-dir', join(data, 'test'), '--backbones', BACKBONE, '--weights', WEIGHTS, '--epochs', EPOCHS, '--fine-tune-epochs', FINE_TUNE, '--seed', '7', '--out', out, ...AUDIT, ...extra];
  const run = spawnSync('/usr/bin/time', args, { env: { ...process.env, TLKIT_CACHE_DIR: cache }, encoding: 'utf8', maxBuffer: 1 << 28 });
  const lines = run.stderr.split(/[\r\n]+/);
  const time = lines.find((l) => l.startsWith('TIME '));
  if (run.status !== 0 || !time) throw new Error(`compare failed:\n${run.stderr.slice(-3000)}`);
  const [, seconds, peakKb] = time.split(' ');
  const json = JSON.parse(readFileSync(join(out, 'compare.json'), 'utf8')) as { backbones: { accuracy?: number }[] };
  return { seconds: Number(seconds), peakMb: Number(peakKb) / 1024, accuracies: json.backbones.map((r) => r.accuracy ?? NaN), features: lines.filter((l) => l.includes('features:')) };
}

const root = mkdtempSync(join(tmpdir(), 'tlkit-bench-store-'));
try {
  const data = join(root, 'data');
  await writeSampleImages(join(data, 'train'), IMAGES, 224, 1, 'train');
  await writeSampleImages(join(data, 'test'), Math.round(IMAGES / 2), 224, 2, 'test');
  const load = () => loadavg()[0].toFixed(1);
  console.log(`${IMAGES} training + ${Math.round(IMAGES / 2)} held-out JPEGs at 224; ${BACKBONE} (${WEIGHTS}), --epochs ${EPOCHS} --fine-tune-epochs ${FINE_TUNE}; the CLI: ${CLI.description}${AUDIT.length ? '; --no-audit' : ''}; load average ${load()} at start`);

  const store = join(root, 'cache-a');
  const first = timed(data, join(root, 'first'), store);
  const again = timed(data, join(root, 'again'), store);
  console.log(`compare, empty store:  ${first.seconds.toFixed(1)} s, accuracy ${first.accuracies.join(', ')}, peak RSS ${first.peakMb.toFixed(0)} MB`);
  for (const line of first.features) console.log(`   ${line.trim()}`);
  console.log(`same compare again:    ${again.seconds.toFixed(1)} s, accuracy ${again.accuracies.join(', ')} -> ${(again.seconds / first.seconds).toFixed(2)}x (target <= 0.5x), accuracy ${again.accuracies.join() === first.accuracies.join() ? 'identical' : 'DIFFERENT'}`);
  for (const line of again.features) console.log(`   ${line.trim()}`);

  const sweep = timed(data, join(root, 'sweep'), join(root, 'cache-b'), ['--grid', 'lr=1e-3,3e-4,1e-4,3e-5']);
  console.log(`4-point lr sweep, empty store: ${sweep.seconds.toFixed(1)} s -> ${(sweep.seconds / first.seconds).toFixed(2)}x one run (target <= 1.6x); accuracies ${sweep.accuracies.join(', ')}`);

  const f32 = timed(data, join(root, 'f32'), join(root, 'cache-c'), ['--feature-precision', 'float32']);
  console.log(`float32 features: accuracy ${f32.accuracies.join(', ')} vs float16 ${first.accuracies.join(', ')} (difference ${(first.accuracies[0] - f32.accuracies[0]).toFixed(4)}); ${f32.seconds.toFixed(1)} s`);
  console.log(`load average ${load()} at the end`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
