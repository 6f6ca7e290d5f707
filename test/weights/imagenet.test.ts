import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, writeFileSync, readdirSync, readFileSync, mkdirSync } from 'node:fs';
import { tmpdir, homedir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { initEngine } from '../../src/engines/tfjs/tf.js';
import { WeightsError, UsageError } from '../../src/core/errors.js';
import { getBackbone } from '../../src/models/zoo.js';
import type { ProgressEvent } from '../../src/core/progress.js';
import { imagenetWeightsFile, kerasCacheDir, fetchWeightsFile, type WeightsFile } from '../../src/weights/imagenet.js';
import { loadBackboneWeights, availableWeights, defaultWeights, parseWeightsFlag } from '../../src/weights/resolve.js';
import { saveH5 } from '../../src/weights/h5_export.js';

const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');
const STORAGE = 'https://storage.googleapis.com/tensorflow/keras-applications/';

let server: Server;
let base: string;
const payload = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7) % 251));
let requests = 0;

before(async () => {
  await initEngine();
  server = createServer((req, res) => {
    requests++;
    if (req.url === '/weights.h5') {
      res.writeHead(200, { 'content-length': String(payload.length) });
      res.end(payload);
    } else {
      res.writeHead(404);
      res.end('not found');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => {
  server.close();
});

test("the table gives Keras's file names, URLs and hashes", () => {
  assert.deepEqual(imagenetWeightsFile('mobilenet'), { fileName: 'mobilenet_1_0_224_tf_no_top.h5', url: `${STORAGE}mobilenet/mobilenet_1_0_224_tf_no_top.h5` });
  assert.equal(imagenetWeightsFile('mobilenet', { alpha: 0.25, inputSize: 128, includeTop: true }).fileName, 'mobilenet_2_5_128_tf.h5');
  // Keras falls back to the 224 file for sizes it has no file for (no-top weights do not depend on the size).
  assert.equal(imagenetWeightsFile('mobilenet', { alpha: 0.5, inputSize: 300 }).fileName, 'mobilenet_5_0_224_tf_no_top.h5');
  assert.equal(imagenetWeightsFile('mobilenet_v2', { alpha: 0.35, inputSize: 96 }).fileName, 'mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5');
  assert.equal(imagenetWeightsFile('mobilenet_v2', { includeTop: true }).url, `${STORAGE}mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5`);
  assert.deepEqual(imagenetWeightsFile('resnet50'), {
    fileName: 'resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5',
    url: `${STORAGE}resnet/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5`,
    fileHash: '4d473c1dd8becc155b73f8504c6f6626',
  });
  assert.equal(imagenetWeightsFile('inception_v3', { includeTop: true }).fileHash, '9a0d58056eeedaa3f26cb7ebd46da564');
  assert.equal(imagenetWeightsFile('xception').fileName, 'xception_weights_tf_dim_ordering_tf_kernels_notop.h5');
  assert.equal(imagenetWeightsFile('efficientnet_b0').url, 'https://storage.googleapis.com/keras-applications/efficientnetb0_notop.h5');
  assert.throws(() => imagenetWeightsFile('inception_v3', { includeTop: true, inputSize: 150 }), /need an input size of 299; received inputSize=150/);
  assert.throws(() => imagenetWeightsFile('mobilenet', { alpha: 0.3 }), (e: Error) => e instanceof UsageError && /Received: alpha=0.3/.test(e.message));
  assert.throws(() => imagenetWeightsFile('lenet'), (e: Error) => e instanceof WeightsError && /no ImageNet weights for backbone 'lenet'/.test(e.message));
});

test('the cache is $KERAS_HOME/models, else ~/.keras/models', () => {
  assert.equal(kerasCacheDir({ KERAS_HOME: '/data/keras' }), '/data/keras/models');
  assert.equal(kerasCacheDir({}), join(homedir(), '.keras', 'models'));
});

function fileAt(path: string, hash?: string): WeightsFile {
  return { fileName: 'weights.h5', url: `${base}${path}`, ...(hash ? { fileHash: hash } : {}) };
}

test('a cached file with the right hash is used without any request', async () => {
  const cacheDir = mkdtempSync(join(tmpdir(), 'tlkit-cache-'));
  writeFileSync(join(cacheDir, 'weights.h5'), payload);
  const before = requests;
  assert.equal(await fetchWeightsFile(fileAt('/weights.h5', md5(payload)), { cacheDir }), join(cacheDir, 'weights.h5'));
  assert.equal(requests, before);
});

test('downloads to a temporary file, reports progress, checks the hash and renames into the cache', async () => {
  const cacheDir = join(mkdtempSync(join(tmpdir(), 'tlkit-cache-')), 'models');
  const events: ProgressEvent[] = [];
  const path = await fetchWeightsFile(fileAt('/weights.h5', md5(payload)), { cacheDir, onProgress: (e) => events.push(e) });
  assert.equal(path, join(cacheDir, 'weights.h5'));
  assert.deepEqual(readFileSync(path), payload);
  assert.deepEqual(readdirSync(cacheDir), ['weights.h5']);
  assert.equal(events[0]!.task, 'download weights.h5');
  assert.equal(events[0]!.total, payload.length);
  assert.deepEqual(events.at(-1), { task: 'download weights.h5', current: payload.length, total: payload.length, unit: 'B', done: true });
  assert.ok(events.length >= 3, 'intermediate progress events');
});

test('a cached file with a wrong hash is downloaded again', async () => {
  const cacheDir = mkdtempSync(join(tmpdir(), 'tlkit-cache-'));
  writeFileSync(join(cacheDir, 'weights.h5'), 'truncated');
  const before = requests;
  await fetchWeightsFile(fileAt('/weights.h5', md5(payload)), { cacheDir });
  assert.equal(requests, before + 1);
  assert.deepEqual(readFileSync(join(cacheDir, 'weights.h5')), payload);
});

test('a download whose hash differs from Keras\'s is not kept', async () => {
  const cacheDir = mkdtempSync(join(tmpdir(), 'tlkit-cache-'));
  await assert.rejects(fetchWeightsFile(fileAt('/weights.h5', '0'.repeat(32)), { cacheDir }), (e: Error) => e instanceof WeightsError && /md5 is [0-9a-f]{32}, expected 0{32}/.test(e.message));
  assert.deepEqual(readdirSync(cacheDir), []);
});

test('offline or unreachable: the error names the file, where to put it and where it comes from', async () => {
  const cacheDir = mkdtempSync(join(tmpdir(), 'tlkit-cache-'));
  const file = imagenetWeightsFile('mobilenet_v2');
  await assert.rejects(fetchWeightsFile(file, { cacheDir, allowDownload: false }), (e: Error) => {
    assert.ok(e instanceof WeightsError);
    assert.match(e.message, /mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1\.0_224_no_top\.h5 is not in the Keras cache/);
    assert.ok(e.message.includes(join(cacheDir, file.fileName)));
    assert.ok(e.message.includes(file.url));
    return true;
  });
  // A loopback port that was free a moment ago: the connection is refused, as offline.
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  const url = `http://127.0.0.1:${port}/x.h5`;
  await assert.rejects(fetchWeightsFile({ fileName: 'x.h5', url }, { cacheDir }), (e: Error) =>
    e instanceof WeightsError && e.message.includes(`x.h5 is not in the Keras cache ${cacheDir} and could not be downloaded (fetch failed: ECONNREFUSED). Download ${url}`));
  await assert.rejects(fetchWeightsFile(fileAt('/missing.h5'), { cacheDir }), /HTTP 404/);
  assert.deepEqual(readdirSync(cacheDir), []);
});

test("'imagenet' loads the Keras file from $KERAS_HOME/models by Keras's file name", async () => {
  const home = mkdtempSync(join(tmpdir(), 'tlkit-keras-home-'));
  mkdirSync(join(home, 'models'));
  const saved = process.env.KERAS_HOME;
  process.env.KERAS_HOME = home;
  try {
    const build = () => getBackbone('mobilenet').build({ includeTop: false, alpha: 0.25, inputShape: [128, 128, 3] });
    const donor = build();
    await saveH5(donor, join(home, 'models', 'mobilenet_2_5_128_tf_no_top.h5'), { weightsOnly: true });
    assert.equal(defaultWeights('mobilenet', { alpha: 0.25, inputSize: 128 }).weights, 'imagenet');

    const backbone = build();
    const info = await loadBackboneWeights(backbone, 'mobilenet', 'imagenet', { alpha: 0.25, allowDownload: false });
    assert.equal(info.kind, 'imagenet');
    assert.equal(info.file, join(home, 'models', 'mobilenet_2_5_128_tf_no_top.h5'));
    assert.equal(info.matchMode, 'topological');
    assert.equal(info.preprocess, 'tf');
    assert.equal(info.weightsLoaded, donor.weights.length);
    for (const name of ['conv1', 'conv_dw_13_bn', 'conv_pw_13']) {
      const a = donor.getLayer(name).getWeights().map((w) => Array.from(w.dataSync()));
      const b = backbone.getLayer(name).getWeights().map((w) => Array.from(w.dataSync()));
      assert.deepEqual(b, a);
    }
    await assert.rejects(loadBackboneWeights(build(), 'mobilenet', 'imagenet', { alpha: 0.5, allowDownload: false }), /mobilenet_5_0_128_tf_no_top\.h5 is not in the Keras cache/);
  } finally {
    if (saved === undefined) delete process.env.KERAS_HOME;
    else process.env.KERAS_HOME = saved;
  }
});

test('defaultWeights: the cache, else the offline source, else random with a reason', () => {
  const cacheDir = mkdtempSync(join(tmpdir(), 'tlkit-cache-'));
  assert.deepEqual(defaultWeights('mobilenet_v2', { cacheDir }).weights, 'nsfwjs');
  const resnet = defaultWeights('resnet50', { cacheDir });
  assert.equal(resnet.weights, null);
  assert.match(resnet.reason, /resnet50_weights_tf_dim_ordering_tf_kernels_notop\.h5 is not in the Keras cache .* random initialisation/);
  writeFileSync(join(cacheDir, 'resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5'), 'x');
  assert.equal(defaultWeights('resnet50', { cacheDir }).weights, 'imagenet');
});

test('availableWeights lists imagenet, offline sources and none', () => {
  assert.deepEqual(availableWeights('mobilenet_v2'), ['imagenet', 'nsfwjs', 'none']);
  assert.deepEqual(availableWeights('inception_v3'), ['imagenet', 'nsfwjs', 'none']);
  assert.deepEqual(availableWeights('resnet50'), ['imagenet', 'none']);
});

test('parseWeightsFlag', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tlkit-flag-'));
  writeFileSync(join(dir, 'w.h5'), 'x');
  assert.equal(parseWeightsFlag(undefined), undefined);
  assert.equal(parseWeightsFlag('imagenet'), 'imagenet');
  assert.equal(parseWeightsFlag('none'), null);
  assert.equal(parseWeightsFlag('nsfwjs'), 'nsfwjs');
  assert.equal(parseWeightsFlag(join(dir, 'w.h5')), join(dir, 'w.h5'));
  assert.throws(() => parseWeightsFlag('imagnet'), (e: Error) => e instanceof UsageError && e.message === "--weights expects imagenet, none, nsfwjs, a path to a Keras .h5 file; got 'imagnet'");
  assert.throws(() => parseWeightsFlag(join(dir, 'nope.h5')), /\(no such file\)/);
});

test("'none' leaves the random init; 'nsfwjs' loads and says its inputs are x/255", async () => {
  const backbone = getBackbone('mobilenet_v2').build({ includeTop: false, inputShape: [96, 96, 3] });
  assert.deepEqual(await loadBackboneWeights(backbone, 'mobilenet_v2', null), { source: 'none', kind: 'random', weightsLoaded: 0, preprocess: 'tf' });
  const info = await loadBackboneWeights(backbone, 'mobilenet_v2', 'nsfwjs');
  assert.equal(info.kind, 'offline');
  assert.equal(info.matchMode, 'by_name');
  assert.equal(info.weightsLoaded, 260);
  assert.equal(info.preprocess, 'none');
  assert.equal(info.rescale, 1 / 255);
  await assert.rejects(loadBackboneWeights(backbone, 'mobilenet_v2', 'nsfwjs', { alpha: 0.5 }), /has mobilenet_v2 with alpha 1\.0 only; received alpha=0\.5/);
  await assert.rejects(loadBackboneWeights(backbone, 'mobilenet_v2', 'imagenet-21k'), /Unknown weights "imagenet-21k" for backbone 'mobilenet_v2'.*Accepted: imagenet, none, nsfwjs, a path/);
});
