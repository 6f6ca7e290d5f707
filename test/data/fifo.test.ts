// A FIFO named like an image (or like a run's evaluation.json) must not hang anything: only regular
// files are read, anything else is skipped with its reason (issue #21 item 4). Each command runs as its
// own process with a kill timer, so a regression fails the test instead of hanging the suite (a read
// blocked on a FIFO would also hold this process open).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeRun, pngImage } from '../serve/helpers.js';

const BIN = fileURLToPath(new URL('../../bin/tlkit.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'tlkit-fifo-'));
let run: string;

/** Runs a command; SIGKILL after `ms` (then `timedOut`). `until` ends it early (SIGTERM) once stdout matches. */
function runProcess(args: string[], ms: number, until?: RegExp): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; timedOut: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TLKIT_CACHE_DIR: process.env.TLKIT_CACHE_DIR ?? join(root, 'cache') } });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let signalled = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, ms);
    child.stdout.on('data', (d) => {
      stdout += d;
      // Once: a second SIGTERM would find the CLI's handler gone and kill it.
      if (!signalled && until?.test(stdout)) {
        signalled = true;
        child.kill('SIGTERM');
      }
    });
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

before(async () => {
  run = await makeRun(join(root, 'run'), { backbone: 'mobilenet_v2', backboneOptions: { alpha: 0.35, inputShape: [32, 32, 3] }, classNames: ['a', 'b'], classMode: 'sparse' });
  for (const c of ['a', 'b']) {
    mkdirSync(join(root, 'ds', c), { recursive: true });
    writeFileSync(join(root, 'ds', c, 'good.png'), await pngImage(30, 20, c === 'a' ? 1 : 2));
  }
  execFileSync('mkfifo', [join(root, 'ds', 'a', 'fifo.png')]);
  execFileSync('mkfifo', [join(run, 'evaluation.json')]);
});

after(() => rmSync(root, { recursive: true, force: true }));

test('tlkit predict DIR with a FIFO named fifo.png: the good images classified, the FIFO an error row with its reason', { timeout: 150_000 }, async () => {
  const r = await runProcess([BIN, 'predict', run, join(root, 'ds'), '--csv'], 120_000);
  assert.equal(r.timedOut, false, `hung: ${r.stdout}${r.stderr}`);
  assert.equal(r.code, 1, r.stderr);
  const rows = r.stdout.trim().split('\n');
  assert.equal(rows.filter((row) => /good\.png,1,[ab],/.test(row)).length, 2, r.stdout);
  assert.ok(rows.some((row) => /fifo\.png,,,,"?.*not a regular file \(a FIFO/.test(row)), r.stdout);
  assert.match(r.stderr, /fifo\.png: not a regular file \(a FIFO \(named pipe\)\)/);
});

test('tlkit data DIR (the inspection train starts with) skips the FIFO and counts it with its reason', { timeout: 150_000 }, async () => {
  const r = await runProcess([BIN, 'data', join(root, 'ds'), '--json'], 120_000);
  assert.equal(r.timedOut, false, `hung: ${r.stdout}${r.stderr}`);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.skipped.length, 1);
  assert.match(report.skipped[0].file, /fifo\.png$/);
  assert.match(report.skipped[0].reason, /not a regular file \(a FIFO/);
});

test("flowFromDirectory's batches (what train reads) skip the FIFO and keep their size", { timeout: 150_000 }, async () => {
  const script = `
    const { initEngine } = await import(${JSON.stringify(new URL('../../src/engines/tfjs/tf.ts', import.meta.url).href)});
    await initEngine();
    const { ImageDataGenerator } = await import(${JSON.stringify(new URL('../../src/data/image_data_generator.ts', import.meta.url).href)});
    const it = new ImageDataGenerator().flowFromDirectory(${JSON.stringify(join(root, 'ds'))}, { targetSize: [16, 16], batchSize: 2, shuffle: false });
    const batch = await it.next();
    console.log(JSON.stringify({ shape: batch.x.shape, skipped: it.skippedFiles }));
    it.close?.();
    process.exit(0);`;
  const r = await runProcess(['--import', 'tsx', '--input-type=module', '-e', script], 120_000);
  assert.equal(r.timedOut, false, `hung: ${r.stdout}${r.stderr}`);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.deepEqual(out.shape, [2, 16, 16, 3]);
  assert.equal(out.skipped.length, 1);
  assert.match(out.skipped[0].reason, /not a regular file/);
});

test('tlkit serve RUN whose evaluation.json is a FIFO starts (without the metrics) instead of hanging', { timeout: 150_000 }, async () => {
  const r = await runProcess([BIN, 'serve', run, '--port', '0'], 120_000, /listening on http:\/\/127\.0\.0\.1:\d+/);
  assert.equal(r.timedOut, false, `hung at start-up: ${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /listening on/);
  assert.equal(r.code, 0, `exit code ${r.code}, signal ${r.signal}: ${r.stdout}${r.stderr}`);
});
