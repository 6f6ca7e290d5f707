// The scale bench of issue 22: a compare on N training images made by the bench (and N/4 held out), with a cached boundary of at least 512 KiB an image, run twice (N and N/10) in
// fresh processes with empty feature stores. Prints, per size: peak RSS (target <= 2.5 GB), time per
// image (target: within 10% between the two sizes), the feature pass's throughput and the linear
// probe's time. The default recipe is sized to finish here in under 30 minutes: mobilenet_v2 with the
// offline nsfwjs weights at 336 px and a Flatten head (its boundary, 11x11x1280 float32, is 605 KiB an
// image; 302 KiB as float16 in the store), so the accuracies are real ones; the inception_v3 at
// 299 with the last-block fine-tune is `--backbone inception_v3 --weights nsfwjs --input-size 299
// --head gap --fine-tune-epochs 1`.
//
//   npx tsx bench/scale.ts [--images 25000] [--backbone mobilenet_v2] [--weights nsfwjs] [--alpha 1.0] [--input-size 336]
//                          [--head flatten,dense:16:relu,dropout:0.25] [--epochs 2] [--fine-tune-epochs 0]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { flag, numberFlag } from './flags.js';
import { writeSampleImages } from './sample_images.js';
import { tlkitCommand } from './tlkit_cli.js';

const IMAGES = numberFlag('images', 25000);
const BACKBONE = flag('backbone', 'mobilenet_v2');
const ALPHA = flag('alpha', '1.0');
const SIZE = numberFlag('input-size', 336);
const HEAD = flag('head', 'flatten,dense:16:relu,dropout:0.25');
const WEIGHTS = flag('weights', 'nsfwjs');
const EPOCHS = flag('epochs', '2');
const FINE_TUNE = flag('fine-tune-epochs', '0');
const CLI = tlkitCommand();

interface Result {
  n: number;
  seconds: number;
  peakMb: number;
  featureLines: string[];
  probe?: string;
  accuracy?: number;
}

function compare(n: number, root: string): Result {
  const data = join(root, `data-${n}`);
  const out = join(root, `out-${n}`);
  const args = [
    '-f', 'TIME %e %M', ...CLI.argv, 'compare', join(data, 'train'), '--val-dir', join(data, 'test'),
    '--backbones', BACKBONE, '--weights', WEIGHTS, '--input-size', String(SIZE), '--head', HEAD,
    '--epochs', EPOCHS, '--fine-tune-epochs', FINE_TUNE, '--seed', '11', '--out', out,
    ...(BACKBONE.startsWith('mobilenet') ? ['--alpha', ALPHA] : []),
  ];
  const run = spawnSync('/usr/bin/time', args, { env: { ...process.env, TLKIT_CACHE_DIR: join(root, `cache-${n}`) }, encoding: 'utf8', maxBuffer: 1 << 28 });
  const lines = run.stderr.split(/[\r\n]+/);
  const time = lines.find((l) => l.startsWith('TIME '));
  if (run.status !== 0 || !time) throw new Error(`compare failed:\n${run.stderr.slice(-3000)}`);
  const [, seconds, peakKb] = time.split(' ');
  const json = JSON.parse(readFileSync(join(out, 'compare.json'), 'utf8')) as { backbones: { accuracy?: number }[] };
  return {
    n,
    seconds: Number(seconds),
    peakMb: Number(peakKb) / 1024,
    featureLines: lines.filter((l) => l.includes('features:')).map((l) => l.trim()),
    probe: lines.find((l) => l.includes('linear probe:'))?.trim(),
    accuracy: json.backbones[0]?.accuracy,
  };
}

const root = mkdtempSync(join(tmpdir(), 'tlkit-bench-scale-'));
try {
  const results: Result[] = [];
  for (const n of [Math.max(20, Math.round(IMAGES / 10)), IMAGES]) {
    const data = join(root, `data-${n}`);
    await writeSampleImages(join(data, 'train'), n, Math.max(SIZE, 64), n, 'train');
    await writeSampleImages(join(data, 'test'), Math.max(10, Math.round(n / 4)), Math.max(SIZE, 64), n + 1, 'test');
    const load = loadavg()[0].toFixed(1);
    const r = compare(n, root);
    results.push(r);
    const images = n + Math.max(10, Math.round(n / 4));
    console.log(`${n} training + ${images - n} held-out images: ${r.seconds.toFixed(1)} s (${((r.seconds / images) * 1000).toFixed(1)} ms an image), peak RSS ${r.peakMb.toFixed(0)} MB (target <= 2560), accuracy ${r.accuracy} (load average ${load} at start)`);
    for (const line of r.featureLines) console.log(`   ${line}`);
    if (r.probe) console.log(`   ${r.probe}`);
    rmSync(data, { recursive: true, force: true });
    rmSync(join(root, `cache-${n}`, 'features'), { recursive: true, force: true });
  }
  const per = results.map((r) => r.seconds / (r.n + Math.max(10, Math.round(r.n / 4))));
  console.log(`${BACKBONE} at ${SIZE}, head ${HEAD} (the CLI: ${CLI.description}): time per image ${results[1].n} / ${results[0].n} = ${(per[1] / per[0]).toFixed(3)}x (target within 1.10x); peak RSS ${results.map((r) => r.peakMb.toFixed(0)).join(' / ')} MB`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
