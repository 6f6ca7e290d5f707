// Issue #21 item 2, measured: the "legacy format" attacks against `tlkit serve` running as its own process,
// while /healthz is polled every 50 ms. Each attack is one multipart request:
//   bmp: 16 one-bit 6300x6300 BMPs (5 MB each on the wire, 40 megapixels each once decoded)
//   pgm: 16 ASCII PGMs of ~10 MB (5 megapixels each)
// Printed per server and attack: the status, the request's seconds, the slowest /healthz answer during it,
// and the server's resident memory before / peak (VmHWM) / after. A server is this checkout by default
// (its defaults, then with --max-pixels-per-request raised so the attack is decoded, not refused), and,
// with --reference DIR, another checkout of tlkit (e.g. main before the fix: `git archive <commit> | tar -x
// -C DIR` and a node_modules link) run with its own defaults, as the same-run reference.
//
//   npx tsx bench/serve_hostile.ts [--reference DIR [--reference-only]] [--attacks bmp,pgm]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadavg } from 'node:os';
import { bmp1bit, makeRun } from '../test/serve/helpers.js';

const HERE = fileURLToPath(new URL('..', import.meta.url));


function asciiPgm(bytes: number): Buffer {
  const side = Math.floor(Math.sqrt(bytes / 2));
  return Buffer.from(`P2\n${side} ${side}\n255\n` + '7 '.repeat(side * side), 'latin1');
}

function multipart(parts: Buffer[], type: string): { body: Buffer; contentType: string } {
  const boundary = 'bench-boundary-31';
  const chunks: Buffer[] = [];
  parts.forEach((bytes, i) => chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="f${i}"; filename="${i}"\r\nContent-Type: ${type}\r\n\r\n`), bytes, Buffer.from('\r\n')));
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

function memoryMiB(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
  return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
}

async function measure(checkout: string, run: string, extra: string[], attack: { body: Buffer; contentType: string }) {
  const child = spawn(process.execPath, [join(checkout, 'bin', 'tlkit.js'), 'serve', run, '--port', '0', ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
  const killChild = () => child.kill('SIGKILL');
  process.once('exit', killChild);
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d) => {
        out += d;
        const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
        if (m) resolve(m[1]);
      });
      child.on('exit', (code) => reject(new Error(`serve exited (${code}): ${out}`)));
    });
    await fetch(url + '/healthz');
    const before = memoryMiB(child.pid!);
    let slowest = 0;
    let healthzFailures = 0;
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const t = performance.now();
        await fetch(url + '/healthz').then((r) => r.text(), () => (healthzFailures++, ''));
        slowest = Math.max(slowest, performance.now() - t);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const start = performance.now();
    let status: number | string;
    try {
      const response = await fetch(url + '/v1/predict', { method: 'POST', body: new Uint8Array(attack.body), headers: { 'content-type': attack.contentType } });
      await response.text();
      status = response.status;
    } catch (error) {
      // The server dropped the connection or died (then the memory figures are its last).
      status = `failed (${(error as Error).cause ?? (error as Error).message}${child.exitCode !== null || child.signalCode ? `; server exited ${child.exitCode ?? child.signalCode}` : ''})`;
    }
    const seconds = (performance.now() - start) / 1000;
    polling = false;
    await poller;
    const after = child.exitCode === null && !child.signalCode ? memoryMiB(child.pid!) : { rss: NaN, peak: NaN };
    return { status, healthzFailures, seconds, slowestHealthzMs: slowest, rssBefore: before.rss, rssPeak: after.peak, rssAfter: after.rss };
  } finally {
    process.off('exit', killChild);
    child.kill('SIGKILL');
  }
}

const argv = process.argv.slice(2);
const flag = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const reference = flag('--reference');
const attacks = (flag('--attacks') ?? 'bmp,pgm').split(',');
const root = mkdtempSync(join(tmpdir(), 'tlkit-bench-hostile-'));
try {
  const run = await makeRun(join(root, 'run'), { backbone: 'mobilenet_v2', backboneOptions: { alpha: 0.35, inputShape: [96, 96, 3] }, classNames: ['a', 'b'], classMode: 'sparse' });
  const bodies: Record<string, { body: Buffer; contentType: string }> = {
    bmp: multipart(Array.from({ length: 16 }, () => bmp1bit(6300, 6300)), 'image/bmp'),
    pgm: multipart(Array.from({ length: 16 }, () => asciiPgm(10_000_000)), 'image/x-portable-graymap'),
  };
  const servers: [string, string, string[]][] = [
    ...(argv.includes('--reference-only') ? [] : ([
      ['this checkout, defaults', HERE, []],
      ['this checkout, --max-pixels-per-request 2e9 (attack decoded)', HERE, ['--max-pixels-per-request', '2000000000']],
    ] as [string, string, string[]][])),
    ...(reference ? ([[`reference ${reference}, defaults`, reference, []]] as [string, string, string[]][]) : []),
  ];
  console.log(`load average at start: ${loadavg().map((l) => l.toFixed(2)).join(' ')} (2 cores, shared)`);
  for (const attack of attacks) {
    for (const [name, checkout, extra] of servers) {
      const r = await measure(checkout, run, extra, bodies[attack]);
      console.log(`${attack} | ${name} | status ${r.status} | ${r.seconds.toFixed(1)} s | slowest /healthz ${r.slowestHealthzMs.toFixed(0)} ms (${r.healthzFailures} failed) | RSS ${r.rssBefore.toFixed(0)} -> peak ${r.rssPeak.toFixed(0)} -> ${r.rssAfter.toFixed(0)} MiB`);
    }
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
