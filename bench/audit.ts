// The data audit on a planted set (issue #24): Fashion-MNIST at 96 px, 10 classes, 2,000 training
// images with 5% of their labels flipped, 30 test images copied into train upscaled 1.25x and re-encoded
// as JPEG (bench/audit/planted_set.ts; needs Debian's dataset-fashion-mnist). Prints precision, recall
// and F1 of the label issues (and precision at the top 1%), of the cross-split duplicates (leaks), and the
// audit's time against the compare it is part of.
//
//   npx tsx bench/audit.ts [--root DIR] [--backbones mobilenet_v2] [--input-size 96] [--fine-tune-epochs 3] [--no-compare] [--no-standalone]
//                    [--repeats N] [--cold] [--grid learningRate=a,b] [--dims 64]
//
// --fine-tune-epochs 0 compares the frozen backbones only (head + probe): the shortest compare, so the
// audit's largest share.
//
// Bars (issue #24): label issues F1 >= 0.40 (confident learning alone: 0.32 on the issue's set), leaks
// precision and recall >= 0.9, the audit <= 10% of the compare's time.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { auditDataset } from '../src/train/audit/audit.js';
import { compareBackbones } from '../src/compare/compare.js';
import { FASHION_MNIST_DIR, makePlantedSet } from './audit/planted_set.js';
import { scoreAudit, type Scores } from './audit/score.js';
import type { AuditResult } from '../src/train/audit/types.js';

const argv = process.argv.slice(2);
const flag = (name: string, fallback: string): string => {
  const at = argv.indexOf(`--${name}`);
  return at >= 0 ? argv[at + 1] : fallback;
};
const root = flag('root', mkdtempSync(join(tmpdir(), 'tlkit-audit-bench-')));
const backbones = flag('backbones', 'mobilenet_v2').split(',');
const inputSize = Number(flag('input-size', '96'));
const fineTuneEpochs = Number(flag('fine-tune-epochs', '3'));
// --grid learningRate=1e-3,1e-2: a sweep on each backbone (its runs share their frozen features).
const gridFlag = argv.includes('--grid') ? flag('grid', '').split('=') : undefined;
// --dims 64: the neighbour space's dimensions (default the audit's).
const auditSettings = argv.includes('--dims') ? { dims: Number(flag('dims', '128')) } : undefined;
const grid = gridFlag ? { [gridFlag[0]]: gridFlag[1].split(',').map((v) => (Number.isFinite(Number(v)) ? Number(v) : v)) } : undefined;

function show(label: string, audit: AuditResult, s: Scores): void {
  const l = s.labelIssues;
  console.log(`${label}: label issues flagged ${l.flagged}, precision ${l.precision.toFixed(3)}, recall ${l.recall.toFixed(3)}, F1 ${l.f1.toFixed(3)} (bar 0.40; confident learning alone on the issue's set: 0.32); precision at the top 1% (${l.top1}) ${l.precisionTop1.toFixed(2)}`);
  console.log(`${label}: leaks: ${s.leaks.pairs} cross-split pairs, precision ${s.leaks.precision.toFixed(3)}, recall ${s.leaks.recall.toFixed(3)} (bars 0.9 / 0.9; pooled-feature cosine >= 0.95 on the issue's set: 0.10 / 0.43)`);
  console.log(`${label}: ${audit.counts.duplicateGroups - audit.counts.leaks} duplicate groups within a split, ${audit.counts.outliers} outliers; audit seconds ${audit.seconds.toFixed(2)} ${JSON.stringify(audit.phaseSeconds)}`);
}

if (!existsSync(FASHION_MNIST_DIR)) {
  console.error(`${FASHION_MNIST_DIR} is missing: apt-get install dataset-fashion-mnist`);
  process.exit(1);
}
const set = await makePlantedSet(root);
console.log(`planted set in ${root}: ${set.trainImages} training images (${set.flipped.size} flipped labels, ${set.copies.size} re-encoded test copies), ${set.testImages} test images; backbones ${backbones.join(',')} at ${inputSize} px`);

if (!argv.includes('--no-standalone')) {
  const started = performance.now();
  const audit = await auditDataset({ trainDir: set.trainDir, valDir: set.testDir, backbones, inputSize, ...auditSettings });
  console.log(`tlkit audit: ${((performance.now() - started) / 1000).toFixed(1)} s in all (features ${audit.phaseSeconds.features?.toFixed(1)} s)`);
  show('tlkit audit', audit, scoreAudit(audit, set));
}

if (!argv.includes('--no-compare')) {
  // The same compare without and with the audit, alternating (without, with, with, without, ...) so a
  // change of load on a shared machine falls on both sides. Wall-clock and this process's CPU time (user
  // + system, which other jobs' load inflates less) are reported; the audit's cost is the difference of
  // the medians. Default: a repeated compare (one cache root for all, warmed by a compare with and one
  // without the audit: features, probe results and fingerprints are read back). --cold: a first compare
  // on new data (every compare gets an empty cache root: features, probe and fingerprints computed); the
  // compiled sessions' cache is warmed either way.
  const repeats = Number(flag('repeats', '1'));
  const cold = argv.includes('--cold');
  const recipe = fineTuneEpochs > 0 ? { fineTuneEpochs, fineTuneFrom: 'last-block' } : { freezeBackbone: true };
  const options = { dataDir: set.trainDir, valDir: set.testDir, backbones, inputSize, epochs: 'auto' as const, ...recipe, batchSize: 32, seed: 1234, overwrite: true, ...(grid ? { grid } : {}) };
  const cacheOf = (name: string) => ({ featureStore: join(root, cold ? `cache-${name}` : 'cache') });
  await compareBackbones({ ...options, ...cacheOf('warm'), outDir: join(root, 'warm'), audit: false });
  if (!cold) await compareBackbones({ ...options, ...cacheOf('warm'), outDir: join(root, 'warm-audit'), ...(auditSettings ? { audit: auditSettings } : {}) });
  const times: Record<'without' | 'with', { wall: number; cpu: number; probe: number }[]> = { without: [], with: [] };
  const order = Array.from({ length: repeats }, (_, i) => (i % 2 === 0 ? ['without', 'with'] : ['with', 'without']) as ('without' | 'with')[]).flat();
  let last: AuditResult | undefined;
  for (const [i, side] of order.entries()) {
    const load = loadavg()[0];
    const cpu = process.cpuUsage();
    const t = performance.now();
    const result = await compareBackbones({ ...options, ...cacheOf(`${side}-${i}`), outDir: join(root, `${side}-${i}`), ...(side === 'without' ? { audit: false } : auditSettings ? { audit: auditSettings } : {}) });
    const wall = (performance.now() - t) / 1000;
    const used = process.cpuUsage(cpu);
    const probe = result.rows.reduce((a, r) => a + (r.ok ? r.linearProbe?.seconds ?? 0 : 0), 0);
    times[side].push({ wall, cpu: (used.user + used.system) / 1e6, probe });
    console.log(`compare ${side} the audit: ${wall.toFixed(1)} s wall, ${((used.user + used.system) / 1e6).toFixed(1)} s CPU, probes ${probe.toFixed(1)} s; load ${load.toFixed(2)} -> ${loadavg()[0].toFixed(2)}${result.audit ? `; audit ${result.audit.seconds.toFixed(2)} s ${JSON.stringify(result.audit.phaseSeconds)}` : ''}`);
    if (result.audit) last = result.audit;
  }
  if (last) show('compare audit', last, scoreAudit(last, set));
  const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor((v.length - 1) / 2)];
  for (const key of ['wall', 'cpu'] as const) {
    const a = median(times.without.map((x) => x[key]));
    const b = median(times.with.map((x) => x[key]));
    console.log(`${cold ? 'first' : 'repeated'} compare ${key} (median of ${repeats}): without the audit ${a.toFixed(1)} s, with it ${b.toFixed(1)} s: ${b >= a ? '+' : ''}${(((b - a) / a) * 100).toFixed(1)}% (bar 10%)`);
  }
}
if (!argv.includes('--keep')) rmSync(root, { recursive: true, force: true });
