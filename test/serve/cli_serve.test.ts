// `tlkit serve` as a real process: it prints where it listens, answers, and on SIGTERM finishes the
// request in flight before exiting 0. `export --format web` and serve's flag errors in-process.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../helpers/io.js';
import { makeRun, pngImage } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'tlkit-cli-serve-'));
const BIN = fileURLToPath(new URL('../../bin/tlkit.js', import.meta.url));
let run: string;

before(async () => {
  run = await makeRun(join(root, 'run'), { backbone: 'mobilenet_v2', backboneOptions: { alpha: 0.35, inputShape: [32, 32, 3] }, classNames: ['a', 'b'], classMode: 'sparse' });
});

after(() => rmSync(root, { recursive: true, force: true }));

test('tlkit serve answers, and SIGTERM drains the request in flight, then exits 0', { timeout: 60_000 }, async () => {
  // The long batch window keeps the request in flight when SIGTERM arrives.
  const child = spawn(process.execPath, [BIN, 'serve', run, '--port', '0', '--batch-window-ms', '1500', '--api-key', 'test-key'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d) => {
        stdout += d;
        const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout);
        if (m) resolve(m[1]);
      });
      child.on('exit', () => reject(new Error(`serve exited early: ${stdout}${stderr}`)));
    });
    assert.match(stdout, /API key required/);
    const headers = { 'content-type': 'image/png', authorization: 'Bearer test-key' };
    const inFlight = fetch(url + '/v1/predict', { method: 'POST', body: new Uint8Array(await pngImage(30, 30, 1)), headers });
    for (let i = 0; i < 200; i++) {
      const m = await (await fetch(url + '/metrics', { headers })).text();
      if (/tlkit_queue_depth 1/.test(m)) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    child.kill('SIGTERM');
    const response = await inFlight;
    assert.equal(response.status, 200);
    const body = (await response.json()) as { predictions: { top: unknown[] }[] };
    assert.equal(body.predictions[0].top.length, 2);
    assert.equal(await exited, 0, stderr);
    assert.match(stdout, /SIGTERM: finishing the requests in flight\n.*stopped\n$/s);
  } finally {
    child.kill('SIGKILL');
  }
});

test('tlkit serve: bad flags are usage errors (exit 2) naming the flag', async () => {
  const r = await runCli(['serve', run, '--port', '70000']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /port/);
  for (const [flag, value] of [['--drain-timeout-ms', '0'], ['--max-pixels-per-request', 'lots']]) {
    const bad = await runCli(['serve', run, flag, value]);
    assert.equal(bad.code, 2, `${flag} ${value}`);
    assert.match(bad.stderr, new RegExp(flag));
  }
  const none = await runCli(['serve']);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /serve expects one RUN/);
});

test('export --format web: default RUN/web, re-export over its own page, refuses a folder of something else', async () => {
  const { existsSync, mkdirSync, writeFileSync } = await import('node:fs');
  const first = await runCli(['export', run, '--format', 'web']);
  assert.equal(first.code, 0, first.stderr);
  for (const f of ['index.html', 'tlkit-web.js', 'tfjs-backend-wasm-simd.wasm', 'model.json', 'weights.bin', 'tlkit.json']) assert.ok(existsSync(join(run, 'web', f)), f);
  assert.equal((await runCli(['export', run, '--format', 'web'])).code, 0, 'an earlier tlkit page is replaced');
  // The page's folder is a model folder too: tlkit predict reads its plain-tfjs model, with the run's answers.
  const image = join(root, 'one.png');
  writeFileSync(image, await pngImage(40, 30, 3));
  const fromRun = JSON.parse((await runCli(['predict', run, image, '--json', '--top-k', '2'])).stdout);
  const fromPage = JSON.parse((await runCli(['predict', join(run, 'web'), image, '--json', '--top-k', '2'])).stdout);
  fromRun[0].top.forEach((t: { className: string; probability: number }, i: number) => {
    assert.equal(fromPage[0].top[i].className, t.className);
    assert.ok(Math.abs(fromPage[0].top[i].probability - t.probability) < 1e-5);
  });
  const foreign = join(root, 'site');
  mkdirSync(foreign);
  writeFileSync(join(foreign, 'index.html'), '<h1>my site</h1>');
  const refused = await runCli(['export', run, '--format', 'web', '--out', foreign]);
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /holds index\.html of something that is not a tlkit web page/);
  assert.equal((await runCli(['export', run, '--format', 'web', '--out', join(run, 'model', 'web')])).code, 2, "never inside the run's model/");
});
