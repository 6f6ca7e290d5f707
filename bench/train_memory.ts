// Peak RSS of `tlkit train` with a frozen backbone and the reference experiment's Flatten head, on a
// small and a large folder of 224 px JPEGs made from the embedded sample (each image slightly different).
// Target: large / small <= 1.15 (the features go to the on-disk store; nothing kept per image in memory).
// The sizes are 5,000 and 20,000; --small/--large change them (say so when quoting figures).
//
//   npx tsx bench/train_memory.ts [--small 5000] [--large 20000] [--backbone mobilenet] [--alpha 0.25] [--epochs 2]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { flag, numberFlag } from './flags.js';
import { writeSampleImages } from './sample_images.js';
import { tlkitCommand } from './tlkit_cli.js';

const SMALL = numberFlag('small', 5000);
const LARGE = numberFlag('large', 20000);
const BACKBONE = flag('backbone', 'mobilenet');
const ALPHA = flag('alpha', '0.25');
const EPOCHS = flag('epochs', '2');
const CLI = tlkitCommand();

function train(data: string, out: string, cache: string): { seconds: number; peakMb: number; features: string[] } {
  const args = ['-f', 'TIME %e %M', ...CLI.argv, 'train', data, '--backbone', BACKBONE, '--alpha', ALPHA, '--weights', 'none', '--input-size', '224', '--freeze-backbone', '--head', 'flatten,dense:16:relu,dropout:0.25', '--epochs', EPOCHS, '--seed', '3', '--out', out];
  const run = spawnSync('/usr/bin/time', args, { env: { ...process.env, TLKIT_CACHE_DIR: cache }, encoding: 'utf8', maxBuffer: 1 << 28 });
  const lines = run.stderr.split(/[\r\n]+/);
  const time = lines.find((l) => l.startsWith('TIME '));
  if (run.status !== 0 || !time) throw new Error(`train failed:\n${run.stderr.slice(-3000)}`);
  const [, seconds, peakKb] = time.split(' ');
  return { seconds: Number(seconds), peakMb: Number(peakKb) / 1024, features: lines.filter((l) => l.includes('features:')) };
}

const root = mkdtempSync(join(tmpdir(), 'tlkit-bench-memory-'));
try {
  const results: { n: number; seconds: number; peakMb: number }[] = [];
  for (const n of [SMALL, LARGE]) {
    const data = join(root, `data-${n}`);
    await writeSampleImages(data, n, 224, n, 'train');
    const load = loadavg()[0].toFixed(1);
    const r = train(data, join(root, `run-${n}`), join(root, `cache-${n}`));
    results.push({ n, ...r });
    console.log(`${n} JPEGs: peak RSS ${r.peakMb.toFixed(0)} MB, ${r.seconds.toFixed(1)} s (load average ${load} at start)`);
    for (const line of r.features) console.log(`   ${line.trim()}`);
    rmSync(data, { recursive: true, force: true });
  }
  console.log(`${BACKBONE} alpha ${ALPHA} frozen + Flatten head, ${EPOCHS} epochs at 224 (the CLI: ${CLI.description}): peak RSS ${LARGE} / ${SMALL} = ${(results[1].peakMb / results[0].peakMb).toFixed(3)}x (target <= 1.15x)`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
