// The HTTP service in-process on 127.0.0.1 (free ports): every endpoint, every kind of bad upload, the
// full-queue 503, micro-batching, auth, CORS and draining on close().
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import { createServer, type TlkitServer } from '../../src/serve/server.js';
import { loadModel } from '../../src/weights/saved_model.js';
import { predictFiles } from '../../src/inference/predict.js';
import { openInferenceEngine } from '../../src/engines/inference_engine.js';
import { jpegImage, makeRun, pngImage, writeTestImages } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'tlkit-serve-'));
let run: string;
let images: string[];
let server: TlkitServer;
let url: string;

before(async () => {
  run = await makeRun(join(root, 'run'), { backbone: 'mobilenet_v2', backboneOptions: { alpha: 0.35, inputShape: [32, 32, 3] }, classNames: ['ant', 'bee', 'cat'], classMode: 'categorical' });
  images = await writeTestImages(join(root, 'images'));
  writeFileSync(join(run, 'evaluation.json'), JSON.stringify({ loss: 0.25, accuracy: 0.9, samples: 40, classNames: ['ant', 'bee', 'cat'], confusionMatrix: [], perClass: [], macro: { precision: 0.9, recall: 0.89, f1: 0.895 }, misclassified: [] }));
  server = await createServer({ runDir: run, port: 0, maxBodyBytes: 200_000, maxImagesPerRequest: 3, limitInputPixels: 100_000, requestTimeoutMs: 600, headersTimeoutMs: 600 });
  url = await server.listen();
});

after(async () => {
  await server?.close();
  rmSync(root, { recursive: true, force: true });
});

async function post(body: BodyInit | undefined, headers: Record<string, string> = {}, path = '/v1/predict', base = url) {
  const response = await fetch(base + path, { method: 'POST', body, headers });
  const text = await response.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, json, text };
}

const png = (bytes: Buffer) => [new Uint8Array(bytes), { 'content-type': 'image/png' }] as const;

test('POST /v1/predict with an image body gives the same top classes and probabilities as tlkit predict', async () => {
  const { readFile } = await import('node:fs/promises');
  const { model, metadata } = await loadModel(run);
  const engine = await openInferenceEngine(model, 'onnx');
  const expected = await predictFiles(model, metadata, images, { topK: 3, predictor: engine.predictor });
  await engine.dispose();
  model.dispose();
  for (const [i, file] of images.entries()) {
    const r = await post(...png(await readFile(file)));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.predictions.length, 1);
    const top = r.json.predictions[0].top;
    assert.equal(top.length, 3, 'default top_k is min(5, classes)');
    assert.deepEqual(top.map((t: any) => t.className), expected[i].top.map((t) => t.className));
    top.forEach((t: any, k: number) => assert.ok(Math.abs(t.probability - expected[i].top[k].probability) < 1e-5, `${file}: ${t.probability} vs ${expected[i].top[k].probability}`));
  }
  const jpeg = await post(new Uint8Array(await jpegImage(90, 70, 3)), { 'content-type': 'image/jpeg' }, '/v1/predict?top_k=1');
  assert.equal(jpeg.status, 200, jpeg.text);
  assert.equal(jpeg.json.predictions[0].top.length, 1);
});

test('POST /v1/predict multipart with several images answers one prediction per file, in order', async () => {
  const form = new FormData();
  form.append('a', new Blob([new Uint8Array(await pngImage(40, 30, 5))], { type: 'image/png' }), 'first.png');
  form.append('note', 'fields are ignored');
  form.append('b', new Blob([new Uint8Array(await jpegImage(50, 50, 6))], { type: 'image/jpeg' }), 'second.jpg');
  const r = await post(form);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.predictions.map((p: any) => p.file), ['first.png', 'second.jpg']);
  for (const p of r.json.predictions) {
    assert.equal(p.top.length, 3);
    assert.ok(Math.abs(p.top.reduce((s: number, t: any) => s + t.probability, 0) - 1) < 1e-5);
  }
});

/** A valid PNG whose header claims `width` x `height` (CRC fixed): sharp refuses it from the header alone. */
function pngClaiming(small: Buffer, width: number, height: number): Buffer {
  const b = Buffer.from(small);
  b.writeUInt32BE(width, 16);
  b.writeUInt32BE(height, 20);
  b.writeUInt32BE(crc32(b.subarray(12, 29)), 29);
  return b;
}

test('bad uploads get a 4xx with a message saying what is wrong, and the server keeps serving', async () => {
  const good = await pngImage(20, 20, 9);
  const cases: [string, BodyInit | undefined, Record<string, string>, number, RegExp][] = [
    ['not an image', new TextEncoder().encode('hello, I am text pretending to be a picture'), { 'content-type': 'image/png' }, 415, /not an image/],
    ['wrong content-type', new TextEncoder().encode('{"image": "x"}'), { 'content-type': 'application/json' }, 415, /Content-Type application\/json is not accepted/],
    ['text/plain', new Uint8Array(good), { 'content-type': 'text/plain' }, 415, /Content-Type text\/plain is not accepted/],
    ['empty body', undefined, { 'content-type': 'image/png' }, 400, /no body/],
    ['truncated', new Uint8Array(good.subarray(0, good.length - 30)), { 'content-type': 'image/png' }, 422, /corrupt or truncated/],
    ['corrupt', new Uint8Array(Buffer.concat([good.subarray(0, 40), Buffer.alloc(200, 7)])), { 'content-type': 'image/png' }, 422, /corrupt or truncated/],
    ['too large', new Uint8Array(300_000), { 'content-type': 'image/png' }, 413, /maxBodyBytes=200000/],
    ['too many pixels', new Uint8Array(await sharp({ create: { width: 400, height: 300, channels: 3, background: '#808080' } }).png().toBuffer()), { 'content-type': 'image/png' }, 413, /pixel limit/],
    ['decompression bomb', new Uint8Array(pngClaiming(good, 60_000, 60_000)), { 'content-type': 'image/png' }, 413, /60000x60000 = 3600000000 pixels exceeds the pixel limit/],
    ['bad top_k', new Uint8Array(good), { 'content-type': 'image/png' }, 400, /top_k must be an integer/],
  ];
  for (const [name, body, headers, status, message] of cases) {
    const r = await post(body, headers, name === 'bad top_k' ? '/v1/predict?top_k=zero' : '/v1/predict');
    assert.equal(r.status, status, `${name}: ${r.text}`);
    assert.match(r.json?.message ?? '', message, name);
    assert.equal(typeof r.json.error, 'string', name);
  }
  const tooMany = new FormData();
  for (let i = 0; i < 4; i++) tooMany.append(`f${i}`, new Blob([new Uint8Array(good)], { type: 'image/png' }), `${i}.png`);
  const many = await post(tooMany);
  assert.equal(many.status, 413, many.text);
  assert.match(many.json.message, /maxImagesPerRequest=3/);
  const bigPart = new FormData();
  bigPart.append('f', new Blob([new Uint8Array(300_000)], { type: 'image/png' }), 'big.png');
  assert.equal((await post(bigPart)).status, 413);
  const noFiles = new FormData();
  noFiles.append('just', 'a field');
  const none = await post(noFiles);
  assert.equal(none.status, 400);
  assert.match(none.json.message, /no file parts/);
  const noBoundary = await post(new TextEncoder().encode('--x\r\n'), { 'content-type': 'multipart/form-data' });
  assert.equal(noBoundary.status, 400, noBoundary.text);
  assert.match(noBoundary.json.message, /multipart body cannot be read \(.*[Bb]oundary/);
  const cutOff = await post(new TextEncoder().encode('--xyz\r\nContent-Disposition: form-data; name="f"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n\x89PNG'), { 'content-type': 'multipart/form-data; boundary=xyz' });
  assert.equal(cutOff.status, 400, cutOff.text);
  assert.match(cutOff.json.message, /multipart body cannot be read/);
  const badPart = new FormData();
  badPart.append('f', new Blob([new TextEncoder().encode('not a picture at all')], { type: 'image/png' }), 'notes.png');
  const bad = await post(badPart);
  assert.equal(bad.status, 415);
  assert.match(bad.json.message, /^notes\.png: not an image/);

  assert.equal((await post(...png(good))).status, 200, 'still serving after the bad requests');
  const metrics = await (await fetch(url + '/metrics')).text();
  assert.match(metrics, /tlkit_rejected_total\{reason="unsupported_media_type"\} [1-9]/);
  assert.match(metrics, /tlkit_rejected_total\{reason="too_large"\} [1-9]/);
  assert.match(metrics, /tlkit_rejected_total\{reason="bad_image"\} [1-9]/);
});

test('a client that stalls mid-upload gets 408 and is cut off, without holding up the others', async () => {
  const socket = connect(Number(new URL(url).port), '127.0.0.1');
  let received = '';
  socket.on('data', (d) => (received += d.toString()));
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.write('POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\nContent-Length: 5000\r\n\r\n0123456789');
  const start = Date.now();
  assert.equal((await post(...png(await pngImage(20, 20, 1)))).status, 200, 'others are served meanwhile');
  await closed;
  assert.match(received, /^HTTP\/1\.1 408/);
  assert.ok(Date.now() - start < 5000, 'cut off near requestTimeoutMs');
});

test('GET /v1/model, /healthz, /metrics and the web page at /', async () => {
  const model = await (await fetch(url + '/v1/model')).json();
  assert.deepEqual(model.classNames, ['ant', 'bee', 'cat']);
  assert.deepEqual(model.inputSize, [32, 32]);
  assert.equal(model.backbone, 'mobilenet_v2');
  assert.equal(model.limits.maxBodyBytes, 200_000);
  assert.deepEqual(model.metrics, { accuracy: 0.9, loss: 0.25, samples: 40, macro: { precision: 0.9, recall: 0.89, f1: 0.895 } }, "the run's evaluation.json");
  assert.deepEqual(await (await fetch(url + '/healthz')).json(), { status: 'ok' });
  const metrics = await fetch(url + '/metrics');
  assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await metrics.text();
  assert.match(text, /tlkit_http_requests_total\{route="\/v1\/predict",method="POST",status="200"\} [1-9]/);
  assert.match(text, /tlkit_http_request_duration_seconds_bucket\{route="\/v1\/predict",le="\+Inf"\} [1-9]/);
  assert.match(text, /tlkit_batch_size_count [1-9]/);
  assert.match(text, /tlkit_queue_depth 0/);
  const page = await fetch(url + '/');
  assert.match(page.headers.get('content-type') ?? '', /text\/html/);
  const html = await page.text();
  assert.match(html, /"mode":"server"/);
  assert.match(html, /<script src="app\.js">/);
  assert.ok(!/https?:\/\//.test(html.replace(/http:\/\/www\.w3\.org[^"]*/g, '')), 'the page loads nothing from elsewhere');
  const script = await fetch(url + '/app.js');
  assert.equal(script.status, 200);
  assert.match((await script.text()).slice(0, 2000), /tlkit/);
  assert.equal((await fetch(url + '/nope')).status, 404);
});

test('concurrent requests share a model call; past maxQueue they get 503 with Retry-After', async () => {
  // A long batch window holds the first images in the queue, so the queue's state is known exactly.
  const s = await createServer({ runDir: run, port: 0, maxQueue: 2, maxImagesPerRequest: 2, maxBatch: 8, batchWindowMs: 1500 });
  const base = await s.listen();
  try {
    const depth = async () => Number(/tlkit_queue_depth (\d+)/.exec(await (await fetch(base + '/metrics')).text())![1]);
    const waitForDepth = async (n: number) => {
      for (let i = 0; i < 200 && (await depth()) !== n; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(await depth(), n);
    };
    const body = new Uint8Array(await pngImage(24, 24, 4));
    const first = post(body, { 'content-type': 'image/png' }, '/v1/predict', base);
    await waitForDepth(1);
    const second = post(body, { 'content-type': 'image/png' }, '/v1/predict', base);
    await waitForDepth(2);
    const refused = await post(body, { 'content-type': 'image/png' }, '/v1/predict', base);
    assert.equal(refused.status, 503, refused.text);
    assert.equal(refused.headers.get('retry-after'), '1');
    assert.match(refused.json.message, /busy \(2 images in hand\)/);
    assert.match(await (await fetch(base + '/metrics')).text(), /tlkit_images_admitted 2\n/);
    const [a, b] = await Promise.all([first, second]);
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    assert.deepEqual(a.json, b.json, 'same image, same answer');
    const text = await (await fetch(base + '/metrics')).text();
    assert.match(text, /tlkit_batch_size_count 1\n/, 'both images went in one model call');
    assert.match(text, /tlkit_batch_size_sum 2\n/);
    assert.match(text, /tlkit_rejected_total\{reason="queue_full"\} 1\n/);
  } finally {
    await s.close();
  }
});

test('close() lets the requests in flight finish, then refuses new connections', async () => {
  const s = await createServer({ runDir: run, port: 0, batchWindowMs: 800 });
  const base = await s.listen();
  const inFlight = post(new Uint8Array(await pngImage(24, 24, 4)), { 'content-type': 'image/png' }, '/v1/predict', base);
  for (let i = 0; i < 200 && !/tlkit_queue_depth 1/.test(await (await fetch(base + '/metrics')).text()); i++) await new Promise((r) => setTimeout(r, 10));
  const closing = s.close();
  const r = await inFlight;
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.predictions[0].top.length, 3);
  await closing;
  await assert.rejects(fetch(base + '/healthz'), 'no longer listening');
});

test('with an API key: Bearer required on /v1/* and /metrics (401 otherwise), /healthz open; CORS only for --cors origins', async () => {
  const s = await createServer({ runDir: run, port: 0, apiKey: 'k3y-for-tests', cors: 'http://app.test' });
  const base = await s.listen();
  try {
    const body = new Uint8Array(await pngImage(24, 24, 4));
    const none = await post(body, { 'content-type': 'image/png' }, '/v1/predict', base);
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer');
    assert.match(none.json.message, /Authorization: Bearer/);
    assert.equal((await post(body, { 'content-type': 'image/png', authorization: 'Bearer k3y-for-test' }, '/v1/predict', base)).status, 401, 'a prefix of the key');
    assert.equal((await post(body, { 'content-type': 'image/png', authorization: 'Basic k3y-for-tests' }, '/v1/predict', base)).status, 401, 'not a bearer token');
    assert.equal((await post(body, { 'content-type': 'image/png', authorization: 'Bearer k3y-for-tests' }, '/v1/predict', base)).status, 200);
    assert.equal((await fetch(base + '/v1/model')).status, 401);
    assert.equal((await fetch(base + '/v1/model', { headers: { authorization: 'Bearer k3y-for-tests' } })).status, 200);
    assert.equal((await fetch(base + '/metrics')).status, 401);
    assert.equal((await fetch(base + '/healthz')).status, 200);
    const allowed = await fetch(base + '/healthz', { headers: { origin: 'http://app.test' } });
    assert.equal(allowed.headers.get('access-control-allow-origin'), 'http://app.test');
    const other = await fetch(base + '/healthz', { headers: { origin: 'http://evil.test' } });
    assert.equal(other.headers.get('access-control-allow-origin'), null);
  } finally {
    await s.close();
  }
  const plain = await fetch(url + '/healthz', { headers: { origin: 'http://app.test' } });
  assert.equal(plain.headers.get('access-control-allow-origin'), null, 'CORS off by default');
});

test('nothing a request sends is written to disk (every fs write entry point watched during uploads)', async () => {
  // The CommonJS exports object: patching it and syncing reaches every ESM importer of node:fs too.
  const fs = (await import('node:fs')).default;
  const { syncBuiltinESMExports } = await import('node:module');
  const writes: string[] = [];
  const isWrite = (flags: unknown) => typeof flags === 'string' && /[wa+]/.test(flags);
  const originals = { open: fs.open, openSync: fs.openSync, createWriteStream: fs.createWriteStream, writeFile: fs.writeFile, writeFileSync: fs.writeFileSync, pOpen: fs.promises.open, pWriteFile: fs.promises.writeFile };
  const mutable = fs as unknown as Record<string, unknown>;
  const promises = fs.promises as unknown as Record<string, unknown>;
  mutable.open = (p: unknown, flags: unknown, ...rest: unknown[]) => (isWrite(flags) && writes.push(String(p)), (originals.open as any)(p, flags, ...rest));
  mutable.openSync = (p: unknown, flags: unknown, ...rest: unknown[]) => (isWrite(flags) && writes.push(String(p)), (originals.openSync as any)(p, flags, ...rest));
  mutable.createWriteStream = (p: unknown, ...rest: unknown[]) => (writes.push(String(p)), (originals.createWriteStream as any)(p, ...rest));
  mutable.writeFile = (p: unknown, ...rest: unknown[]) => (writes.push(String(p)), (originals.writeFile as any)(p, ...rest));
  mutable.writeFileSync = (p: unknown, ...rest: unknown[]) => (writes.push(String(p)), (originals.writeFileSync as any)(p, ...rest));
  promises.open = (p: unknown, flags: unknown, ...rest: unknown[]) => (isWrite(flags) && writes.push(String(p)), (originals.pOpen as any)(p, flags, ...rest));
  promises.writeFile = (p: unknown, ...rest: unknown[]) => (writes.push(String(p)), (originals.pWriteFile as any)(p, ...rest));
  syncBuiltinESMExports();
  try {
    const form = new FormData();
    form.append('a', new Blob([new Uint8Array(await pngImage(40, 30, 5))], { type: 'image/png' }), 'a.png');
    form.append('b', new Blob([new Uint8Array(await jpegImage(60, 60, 6))], { type: 'image/jpeg' }), 'b.jpg');
    assert.equal((await post(form)).status, 200);
    assert.equal((await post(new Uint8Array(await jpegImage(90, 70, 3)), { 'content-type': 'image/jpeg' })).status, 200);
    assert.equal((await post(new Uint8Array(300_000), { 'content-type': 'image/png' })).status, 413);
  } finally {
    Object.assign(mutable, { open: originals.open, openSync: originals.openSync, createWriteStream: originals.createWriteStream, writeFile: originals.writeFile, writeFileSync: originals.writeFileSync });
    Object.assign(promises, { open: originals.pOpen, writeFile: originals.pWriteFile });
    syncBuiltinESMExports();
  }
  assert.deepEqual(writes, []);
});
