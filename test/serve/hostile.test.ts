// `tlkit serve` probed as a hostile client would (issue #21). One server with an API key and small limits
// serves every case; each attack is a row of ATTACKS: a name, what it sends, what the server must answer.
// To add a case, add a row. Paths go out byte for byte (http.request / raw sockets, never fetch, which
// normalises them). Cases that need a server of their own (drain after SIGTERM) follow the table.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type TlkitServer } from '../../src/serve/server.js';
import { runCli } from '../helpers/io.js';
import { bmp1bit, jpegImage, makeRun, pngImage } from './helpers.js';

const KEY = 'hostile-test-key';
/** A class name that a spreadsheet would run as a command (the classic CSV-injection payload). */
const FORMULA_CLASS = "=cmd|' -C calc'!A0";
const root = mkdtempSync(join(tmpdir(), 'tlkit-hostile-'));
let server: TlkitServer;
let port: number;
let goodPng: Buffer;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}

/** One request with the path exactly as given (no normalisation, no decoding). */
function send(method: string, path: string, options: { body?: Buffer; headers?: Record<string, string>; key?: boolean } = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...(options.body ? { 'content-type': 'image/png' } : {}), ...options.headers };
  if (options.key) headers.authorization = `Bearer ${KEY}`;
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: any;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Every spelling of `path` a router might take for it: percent-encodings, slashes, dot segments, case, trailers. */
export function pathVariants(path: string): string[] {
  const hex = (c: string) => c.charCodeAt(0).toString(16).padStart(2, '0');
  const out = new Set<string>();
  const chars = [...path];
  chars.forEach((c, i) => {
    const before = chars.slice(0, i).join('');
    const after = chars.slice(i + 1).join('');
    out.add(`${before}%${hex(c)}${after}`);
    out.add(`${before}%${hex(c).toUpperCase()}${after}`);
    out.add(`${before}%25${hex(c)}${after}`); // double encoding
    if (c === '/') {
      if (i > 0) out.add(`${before}%2f${after}`).add(`${before}%2F${after}`);
      out.add(`${before}//${after}`).add(`${before}/./${after}`).add(`${before}/x/../${after}`).add(`${before}/%2e/${after}`).add(`${before}\\${after}`);
    } else {
      out.add(`${before}${c.toUpperCase()}${after}`);
    }
  });
  out.add(chars.map((c) => (c === '/' ? c : `%${hex(c)}`)).join(''));
  out.add(chars.map((c) => (c === '/' ? c : `%${hex(c).toUpperCase()}`)).join(''));
  out.add(path.toUpperCase());
  for (const tail of ['/', '//', '/.', '%2f', '?', '?x=1', ';', ';x', '%00', '%20', '#', '.']) out.add(path + tail);
  out.add('/' + path);
  out.add('/.' + path);
  out.add(`http://127.0.0.1${path}`); // absolute-form request target
  out.delete(path);
  return [...out];
}

before(async () => {
  const run = await makeRun(join(root, 'run'), { backbone: 'mobilenet_v2', backboneOptions: { alpha: 0.35, inputShape: [32, 32, 3] }, classNames: [FORMULA_CLASS, 'secret-b'], classMode: 'sparse' });
  writeFileSync(join(run, 'evaluation.json'), JSON.stringify({ loss: 0.3, accuracy: 0.8, samples: 10, macro: {} }));
  goodPng = await pngImage(24, 24, 3);
  server = await createServer({ runDir: run, port: 0, apiKey: KEY, maxBodyBytes: 400_000, maxImagesPerRequest: 4, limitInputPixels: 100_000, maxPixelsPerRequest: 250_000 });
  port = Number(new URL(await server.listen()).port);
});

after(async () => {
  await server?.close();
  rmSync(root, { recursive: true, force: true });
});


/** RFC 4180 rows (quoted cells with "" escapes), enough to read what predict --csv wrote. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [[]];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (cell += '"'), i++;
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') rows[rows.length - 1].push(cell), (cell = '');
    else if (c === '\n') rows[rows.length - 1].push(cell), (cell = ''), rows.push([]);
    else cell += c;
  }
  if (cell !== '' || rows[rows.length - 1].length > 0) rows[rows.length - 1].push(cell);
  return rows.filter((r) => r.length > 0);
}

/** multipart/form-data of image parts, built by hand (the boundary and file names exactly as given). */
function multipart(parts: { name: string; bytes: Buffer; type?: string }[]): { body: Buffer; headers: Record<string, string> } {
  const boundary = 'hostile-boundary-7d1f';
  const chunks: Buffer[] = [];
  for (const [i, part] of parts.entries()) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="f${i}"; filename="${part.name}"\r\nContent-Type: ${part.type ?? 'application/octet-stream'}\r\n\r\n`, 'latin1'), part.bytes, Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

interface Attack {
  name: string;
  /** Runs the attack and asserts what the server must answer. */
  run(): Promise<void>;
}

const ATTACKS: Attack[] = [
  {
    name: 'every spelling of every protected route without the key: 401 or 404, never served',
    async run() {
      const keyed = server.routes.filter((r) => r.requiresApiKey);
      assert.ok(keyed.length >= 3, `protected routes: ${JSON.stringify(keyed)}`);
      let tried = 0;
      for (const route of keyed) {
        const body = route.method === 'POST' ? goodPng : undefined;
        // The canonical path answers with the key (so a variant that reached the route would be served) and 401 without.
        assert.equal((await send(route.method, route.url, { body, key: true })).status, 200, `${route.method} ${route.url} with the key`);
        assert.equal((await send(route.method, route.url, { body })).status, 401, `${route.method} ${route.url} without the key`);
        for (const path of pathVariants(route.url)) {
          let answer: Answer;
          try {
            answer = await send(route.method, path, { body });
          } catch (error) {
            continue; // refused by node's client or cut by the server: not served either
          }
          tried++;
          assert.ok([400, 401, 404].includes(answer.status), `${route.method} ${path} answered ${answer.status} without the key: ${answer.text.slice(0, 200)}`);
        }
      }
      assert.ok(tried > 100, `only ${tried} variants sent`);
    },
  },
  {
    name: 'the routes open without a key are exactly the page, its script and /healthz (a new route is keyed unless listed here)',
    async run() {
      const open = server.routes.filter((r) => !r.requiresApiKey && r.method !== 'HEAD').map((r) => `${r.method} ${r.url}`);
      assert.deepEqual(open.sort(), ['GET /', 'GET /app.js', 'GET /healthz']);
    },
  },
  {
    name: 'BMP and PGM headers claiming huge images are refused from the header (413), before any pixel is allocated',
    async run() {
      const cases: [string, Buffer][] = [
        ['ASCII PGM claiming 60000x60000 in 20 bytes', Buffer.from('P2\n60000 60000\n255\n0 0 0\n', 'latin1')],
        ['binary PPM claiming 60000x60000', Buffer.concat([Buffer.from('P6\n60000 60000\n255\n', 'latin1'), Buffer.alloc(1000)])],
        ['1-bit BMP of 6300x6300 (5 MB)', bmp1bit(6300, 6300)],
      ];
      for (const [name, bytes] of cases) {
        const answer = await send('POST', '/v1/predict', { body: bytes, key: true, headers: { 'content-type': 'application/octet-stream' } });
        if (name.startsWith('1-bit')) {
          assert.equal(answer.status, 413, `${name}: ${answer.text}`); // body larger than maxBodyBytes here; the pixel case follows with a small limit
          continue;
        }
        assert.equal(answer.status, 413, `${name}: ${answer.text}`);
        assert.match(answer.json.message, /60000x60000 = 3600000000 pixels exceeds the pixel limit limitInputPixels=100000/, name);
      }
      const wide = bmp1bit(2000, 60);
      const refused = await send('POST', '/v1/predict', { body: wide, key: true, headers: { 'content-type': 'image/bmp' } });
      assert.equal(refused.status, 413, refused.text);
      assert.match(refused.json.message, /2000x60 = 120000 pixels exceeds the pixel limit/);
    },
  },
  {
    name: 'many images each under the pixel limit but too many pixels together: 413 before decoding (maxPixelsPerRequest)',
    async run() {
      const form = multipart([0, 1, 2, 3].map((i) => ({ name: `b${i}.bmp`, bytes: bmp1bit(300, 300), type: 'image/bmp' })));
      const answer = await send('POST', '/v1/predict', { body: form.body, headers: form.headers, key: true });
      assert.equal(answer.status, 413, answer.text);
      assert.match(answer.json.message, /4 images of this request hold 360000 pixels together, more than maxPixelsPerRequest=250000/);
      const two = multipart([0, 1].map((i) => ({ name: `b${i}.bmp`, bytes: bmp1bit(300, 300), type: 'image/bmp' })));
      const served = await send('POST', '/v1/predict', { body: two.body, headers: two.headers, key: true });
      assert.equal(served.status, 200, served.text);
      assert.equal(served.json.predictions.length, 2);
      assert.ok(served.json.predictions.every((p: any) => p.top.length === 2));
    },
  },
  {
    name: 'one bad part in a multipart request: its own error, the good parts still answered',
    async run() {
      const form = multipart([
        { name: 'good.png', bytes: goodPng, type: 'image/png' },
        { name: 'text.png', bytes: Buffer.from('I am not a picture at all, honest'), type: 'image/png' },
        { name: 'cut.png', bytes: goodPng.subarray(0, goodPng.length - 40), type: 'image/png' },
        { name: 'also-good.png', bytes: goodPng, type: 'image/png' },
      ]);
      const answer = await send('POST', '/v1/predict', { body: form.body, headers: form.headers, key: true });
      assert.equal(answer.status, 200, answer.text);
      const [good, text, cut, alsoGood] = answer.json.predictions;
      assert.equal(good.file, 'good.png');
      assert.equal(good.top.length, 2);
      assert.deepEqual(alsoGood.top, good.top);
      assert.equal(text.file, 'text.png');
      assert.equal(text.error.status, 415);
      assert.match(text.error.message, /not an image/);
      assert.equal(cut.error.status, 422);
      assert.equal(text.top, undefined);
    },
  },
  {
    name: "422 and 415 answers say what was wrong in tlkit's words, not the parser's (libvips, libxml2)",
    async run() {
      const bodies: [string, Buffer, string][] = [
        ['truncated PNG', goodPng.subarray(0, goodPng.length - 40), 'image/png'],
        ['corrupt PNG', Buffer.concat([goodPng.subarray(0, 40), Buffer.alloc(300, 7)]), 'image/png'],
        ['broken SVG', Buffer.from('<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]><svg xmlns="http://www.w3.org/2000/svg"><text>&x;'), 'image/png'],
        ['truncated JPEG', (await jpegImage(64, 64, 5)).subarray(0, 900), 'image/jpeg'],
        ['garbage', Buffer.from('GIF89a' + 'x'.repeat(200)), 'image/gif'],
      ];
      for (const [name, bytes, type] of bodies) {
        const answer = await send('POST', '/v1/predict', { body: bytes, key: true, headers: { 'content-type': type } });
        assert.ok([413, 415, 422].includes(answer.status), `${name}: ${answer.status} ${answer.text}`);
        assert.doesNotMatch(answer.json.message, /vips|libxml|xml|png_|jpeg|VipsJpeg|VipsForeign|gifload|read error|premature/i, `${name}: ${answer.json.message}`);
        assert.doesNotMatch(answer.json.message, /passwd|root:/, name);
        assert.match(answer.json.message, /^body: /, name);
      }
    },
  },
  {
    name: 'with a key, the open page at / and /app.js carry no class names',
    async run() {
      for (const path of ['/', '/app.js']) {
        const answer = await send('GET', path);
        assert.equal(answer.status, 200);
        assert.ok(!answer.text.includes('secret-b') && !answer.text.includes('cmd|'), `${path} shows a class name`);
      }
      const model = await send('GET', '/v1/model', { key: true });
      assert.deepEqual(model.json.classNames, [FORMULA_CLASS, 'secret-b'], 'the key still gets them');
    },
  },
  {
    name: 'predict --csv: class and file names a spreadsheet would run as formulas are written as text; error rows keep their reason',
    async run() {
      const dir = join(root, 'csv');
      mkdirSync(dir, { recursive: true });
      const names = ['=1+1.png', '+SUM(A1).png', '-2+3.png', '@cmd.png', '\tinfo.png', 'plain, "quoted".png'];
      for (const name of names) writeFileSync(join(dir, name), goodPng);
      writeFileSync(join(dir, '=broken.png'), 'not an image');
      // The folder as '.', so each file's cell starts with its own name ('-2+3.png' could not be an argument).
      const cwd = process.cwd();
      process.chdir(dir);
      let r: Awaited<ReturnType<typeof runCli>>;
      try {
        r = await runCli(['predict', join(root, 'run'), '.', '--csv', '--top-k', '2']);
      } finally {
        process.chdir(cwd);
      }
      assert.equal(r.code, 1, 'a broken file makes the exit code 1');
      const rows = parseCsv(r.stdout);
      assert.deepEqual(rows[0], ['file', 'rank', 'class', 'probability', 'error']);
      for (const row of rows.slice(1)) {
        assert.equal(row.length, 5, JSON.stringify(row));
        for (const cell of row) assert.doesNotMatch(cell, /^[=+\-@\t\r]/, `a cell a spreadsheet would evaluate: ${JSON.stringify(cell)}`);
      }
      assert.ok(rows.some((row) => row[2] === `'${FORMULA_CLASS}`), 'the class name, as text');
      for (const name of names) assert.ok(rows.some((row) => row[0] === name || row[0] === `'${name}`), `${JSON.stringify(name)} in ${JSON.stringify(rows.map((row) => row[0]))}`);
      const broken = rows.find((row) => row[0] === "'=broken.png")!;
      assert.deepEqual(broken.slice(1, 4), ['', '', '']);
      assert.match(broken[4], /not an image/);
    },
  },
];

for (const attack of ATTACKS) test(attack.name, { timeout: 60_000 }, () => attack.run());

// Cases that need a server of their own.

test('close() (SIGTERM) with a client trickling its body: the drain is cut after drainTimeoutMs, then close resolves', { timeout: 20_000 }, async () => {
  const s = await createServer({ runDir: join(root, 'run'), port: 0, drainTimeoutMs: 400, requestTimeoutMs: 60_000, headersTimeoutMs: 60_000 });
  const base = new URL(await s.listen());
  const socket = connect(Number(base.port), '127.0.0.1');
  let received = '';
  socket.on('data', (d) => (received += d.toString()));
  socket.on('error', () => undefined);
  const closedByServer = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.write('POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n');
  // One byte every 50 ms, for at most 15 s: the client alone would keep the request open past the test's timeout.
  let sent = 0;
  const trickle = setInterval(() => (sent++ < 300 && !socket.destroyed ? socket.write('x') : clearInterval(trickle)), 50);
  try {
    await new Promise((r) => setTimeout(r, 200));
    await s.close();
    await closedByServer;
    assert.ok(sent < 300, 'the server cut the connection; the client did not give up first');
    assert.doesNotMatch(received, /^HTTP\/1\.1 200/);
  } finally {
    clearInterval(trickle);
    socket.destroy();
    await s.close();
  }
});
