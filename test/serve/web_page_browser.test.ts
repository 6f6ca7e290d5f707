// The exported web page in Debian's chromium (playwright-core), with every non-local request blocked:
// plain tfjs loads each backbone's export (EfficientNet's Normalization rewritten as a built-in layer),
// and the page's probabilities equal `tlkit predict`'s within 1e-4, through the UI and through
// tlkit.classify(img). The uint8-weight export likewise. Then the page `tlkit serve` shows at /, classifying
// through the server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { runCli } from '../helpers/io.js';
import { createServer } from '../../src/serve/server.js';
import { exportWebApp } from '../../src/serve/export_web.js';
import { makeRun, serveStatic, writeTestImages, type RunSpec } from './helpers.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const root = mkdtempSync(join(tmpdir(), 'tlkit-web-'));
let browser: Browser;
let images: string[];

// Small inputs keep the models quick; each backbone covers another output form.
const RUNS: Record<string, RunSpec> = {
  mobilenet_v2: { backbone: 'mobilenet_v2', backboneOptions: { alpha: 0.35, inputShape: [48, 48, 3] }, classNames: ['ant', 'bee', 'cat'], classMode: 'categorical' },
  inception_v3: { backbone: 'inception_v3', backboneOptions: { inputShape: [75, 75, 3] }, classNames: ['no', 'yes'], classMode: 'binary' },
  efficientnet_b0: { backbone: 'efficientnet_b0', backboneOptions: { inputShape: [32, 32, 3] }, classNames: ['w', 'x', 'y', 'z'], classMode: 'sparse' },
};

before(async () => {
  assert.ok(existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM}: apt-get install chromium (listed in .ci/apt-packages.txt)`);
  images = await writeTestImages(join(root, 'images'));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
});

after(async () => {
  await browser?.close();
  rmSync(root, { recursive: true, force: true });
});

type Top = { className: string; probability: number }[];

/** A page with the network off: anything but 127.0.0.1 is aborted and recorded, as are page errors. */
async function offlinePage(): Promise<{ page: Page; problems: string[]; blocked: string[] }> {
  const context = await browser.newContext();
  const blocked: string[] = [];
  await context.route('**/*', (route) => {
    const u = new URL(route.request().url());
    if (u.hostname === '127.0.0.1' || u.protocol === 'blob:' || u.protocol === 'data:') return route.continue();
    blocked.push(u.href);
    return route.abort('internetdisconnected');
  });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(m.text());
  });
  return { page, problems, blocked };
}

async function classifiedInUi(page: Page, files: string[]): Promise<Map<string, Top>> {
  await page.setInputFiles('#files', files);
  await page.waitForFunction((n) => document.querySelectorAll('figure.result[data-state]').length === n, files.length, { timeout: 60_000 });
  const cards = await page.evaluate(() =>
    [...document.querySelectorAll('figure.result')].map((f) => ({
      file: (f as HTMLElement).dataset.file!,
      error: f.querySelector('.error')?.textContent ?? null,
      bars: [...f.querySelectorAll('li.bar')].map((li) => ({ className: (li as HTMLElement).dataset.className!, probability: Number((li as HTMLElement).dataset.probability), width: (li.querySelector('.fill') as HTMLElement).style.width })),
    })),
  );
  const out = new Map<string, Top>();
  for (const c of cards) {
    assert.equal(c.error, null, `${c.file}: ${c.error}`);
    for (const b of c.bars) assert.ok(Math.abs(parseFloat(b.width) - b.probability * 100) < 1e-3, `the bar is as long as the probability: ${b.width} for ${b.probability}`);
    out.set(c.file, c.bars);
  }
  return out;
}

function assertSameTop(actual: Top, expected: Top, what: string): void {
  assert.deepEqual(actual.map((t) => t.className), expected.map((t) => t.className), what);
  actual.forEach((t, i) => assert.ok(Math.abs(t.probability - expected[i].probability) <= 1e-4, `${what}: ${t.className} ${t.probability} vs tlkit predict ${expected[i].probability}`));
  // A near-uniform or saturated output would make the comparison weak: the fixtures keep it informative.
  assert.ok(actual[0].probability - actual[actual.length - 1].probability > 1e-3, `${what}: probabilities too close to tell classes apart`);
}

for (const [id, spec] of Object.entries(RUNS)) {
  test(`exported ${id} page classifies offline in chromium like tlkit predict (1e-4)`, async () => {
    const run = await makeRun(join(root, id), spec);
    const out = join(root, `${id}-web`);
    if (id === 'efficientnet_b0') {
      const r = await runCli(['export', run, '--format', 'web', '--out', out]);
      assert.equal(r.code, 0, r.stderr);
      const modelJson = readFileSync(join(out, 'model.json'), 'utf8');
      assert.ok(!modelJson.includes('"Normalization"'), 'no tlkit-only layer class in the exported model');
      assert.ok(modelJson.includes('"DepthwiseConv2D"'));
    } else {
      await exportWebApp(run, out);
    }
    const predicted = await runCli(['predict', run, ...images, '--json', '--top-k', String(spec.classNames.length)]);
    assert.equal(predicted.code, 0, predicted.stderr);
    const expected = new Map((JSON.parse(predicted.stdout) as { file: string; top: Top }[]).map((p) => [basename(p.file), p.top]));
    cpSync(join(root, 'images'), join(out, 'images'), { recursive: true });

    const site = await serveStatic(out);
    const { page, problems, blocked } = await offlinePage();
    try {
      await page.goto(site.url);
      await page.waitForFunction(() => document.body.dataset.state !== 'loading', null, { timeout: 60_000 });
      assert.equal(await page.evaluate(() => document.body.dataset.state), 'ready', await page.evaluate(() => document.getElementById('status')?.textContent ?? ''));
      assert.equal(await page.evaluate(() => document.body.dataset.backend), 'wasm');

      const shown = await classifiedInUi(page, images);
      const topK = Math.min(5, spec.classNames.length);
      for (const [file, top] of expected) assertSameTop(shown.get(file)!, top.slice(0, topK), `${id} page, ${file}`);

      // The function apps copy: tlkit.classify(imageElement) on an <img> of the page's origin.
      const viaApi = await page.evaluate(async (names) => {
        const out: Record<string, { className: string; probability: number }[]> = {};
        for (const name of names) {
          const img = new Image();
          img.src = `images/${name}`;
          await img.decode();
          out[name] = await (window as unknown as { tlkit: { classify(i: HTMLImageElement): Promise<{ className: string; probability: number }[]> } }).tlkit.classify(img);
        }
        return out;
      }, [...expected.keys()]);
      for (const [file, top] of expected) assertSameTop(viaApi[file], top, `${id} tlkit.classify, ${file}`);
      assert.deepEqual(blocked, [], 'the page asked for nothing outside its folder');
      assert.deepEqual(problems, []);
    } finally {
      await page.context().close();
      await site.close();
    }
  });
}

test('the uint8-weight page (export --quantize uint8) classifies in chromium like tlkit predict on its folder (1e-4), and near the float32 model', async () => {
  const run = existsSync(join(root, 'mobilenet_v2')) ? join(root, 'mobilenet_v2') : await makeRun(join(root, 'mobilenet_v2'), RUNS.mobilenet_v2);
  const out = join(root, 'mobilenet_v2-web-uint8');
  const r = await runCli(['export', run, '--format', 'web', '--quantize', 'uint8', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const manifest = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')).weightsManifest[0].weights as { quantization?: { dtype: string } }[];
  assert.ok(manifest.some((w) => w.quantization?.dtype === 'uint8'), 'model.json carries uint8 weight quantization');
  // The exported folder is a tlkit model folder: predict on it reads the same dequantized weights as the page.
  const [ownFolder, float32] = await Promise.all([
    runCli(['predict', out, ...images, '--json', '--top-k', '3']),
    runCli(['predict', run, ...images, '--json', '--top-k', '3']),
  ]);
  assert.equal(ownFolder.code, 0, ownFolder.stderr);
  const expected = new Map((JSON.parse(ownFolder.stdout) as { file: string; top: Top }[]).map((p) => [basename(p.file), p.top]));
  const reference = new Map((JSON.parse(float32.stdout) as { file: string; top: Top }[]).map((p) => [basename(p.file), p.top]));
  const site = await serveStatic(out);
  const { page, problems, blocked } = await offlinePage();
  try {
    await page.goto(site.url);
    await page.waitForFunction(() => document.body.dataset.state !== 'loading', null, { timeout: 60_000 });
    assert.equal(await page.evaluate(() => document.body.dataset.state), 'ready', await page.evaluate(() => document.getElementById('status')?.textContent ?? ''));
    const shown = await classifiedInUi(page, images);
    for (const [file, top] of expected) {
      assertSameTop(shown.get(file)!, top, `uint8 page, ${file}`);
      // uint8 kernels (one scale per tensor) move a probability by a few hundredths on this fixture.
      const f = Object.fromEntries(reference.get(file)!.map((t) => [t.className, t.probability]));
      for (const t of shown.get(file)!) assert.ok(Math.abs(t.probability - f[t.className]) < 0.05, `uint8 page vs float32, ${file} ${t.className}: ${t.probability} vs ${f[t.className]}`);
    }
    assert.deepEqual(blocked, []);
    assert.deepEqual(problems, []);
  } finally {
    await page.context().close();
    await site.close();
  }
});

test('the page at / of tlkit serve classifies through the server, like tlkit predict', async () => {
  const run = existsSync(join(root, 'mobilenet_v2')) ? join(root, 'mobilenet_v2') : await makeRun(join(root, 'mobilenet_v2'), RUNS.mobilenet_v2);
  const predicted = await runCli(['predict', run, ...images, '--json', '--top-k', '3']);
  const expected = new Map((JSON.parse(predicted.stdout) as { file: string; top: Top }[]).map((p) => [basename(p.file), p.top]));
  const server = await createServer({ runDir: run, port: 0 });
  const url = await server.listen();
  const { page, problems, blocked } = await offlinePage();
  try {
    await page.goto(url + '/');
    await page.waitForFunction(() => document.body.dataset.state === 'ready', null, { timeout: 20_000 });
    const shown = await classifiedInUi(page, images);
    for (const [file, top] of expected) assertSameTop(shown.get(file)!, top, `server page, ${file}`);
    assert.deepEqual(blocked, []);
    assert.deepEqual(problems, []);
  } finally {
    await page.context().close();
    await server.close();
  }
});
