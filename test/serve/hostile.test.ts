// `tlkit serve` probed as a hostile client would (issue #21). One server with an API key and small limits
// serves every case; each attack is a row of ATTACKS: a name, what it sends, what the server must answer.
// To add a case, add a row. Paths go out byte for byte (http.request / raw sockets, never fetch, which
// normalises them). Cases that need a server of their own (drain after SIGTERM) follow the table.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type TlkitServer } from '../../src/serve/server.js';
import { makeRun, pngImage } from './helpers.js';

const KEY = 'hostile-test-key';
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
  const run = await makeRun(join(root, 'run'), { backbone: 'mobilenet_v2', backboneOptions: { alpha: 0.35, inputShape: [32, 32, 3] }, classNames: ['=cmd|calc', 'secret-b'], classMode: 'sparse' });
  writeFileSync(join(run, 'evaluation.json'), JSON.stringify({ loss: 0.3, accuracy: 0.8, samples: 10, macro: {} }));
  goodPng = await pngImage(24, 24, 3);
  server = await createServer({ runDir: run, port: 0, apiKey: KEY, maxBodyBytes: 400_000, maxImagesPerRequest: 4, limitInputPixels: 100_000 });
  port = Number(new URL(await server.listen()).port);
});

after(async () => {
  await server?.close();
  rmSync(root, { recursive: true, force: true });
});

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
];

for (const attack of ATTACKS) test(attack.name, { timeout: 60_000 }, () => attack.run());
