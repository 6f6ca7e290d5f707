// Opens the compare report in headless Chromium (Debian's chromium; .ci/apt-packages.txt installs it)
// and checks that it renders: the table, every chart with a real size, the images, no console error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { renderCompareHtml } from '../../src/report/compare_report.js';
import { sampleResult } from '../helpers/compare_fixture.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// A 1x1 grey PNG.
const PNG = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNoAAAAggCBd81ytgAAAABJRU5ErkJggg==';

test('compare report renders in headless Chromium with its charts and no console error', async () => {
  assert.ok(existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM}: apt-get install chromium (listed in .ci/apt-packages.txt)`);
  const dir = mkdtempSync(join(tmpdir(), 'tlkit-report-'));
  const file = join(dir, 'report.html');
  writeFileSync(file, renderCompareHtml(sampleResult(), { thumbnails: { 'cats/1.jpg': PNG } }));
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
    await page.goto(pathToFileURL(file).href);
    const facts = await page.evaluate(() => ({
      headers: [...document.querySelectorAll('table.compare thead th')].map((th) => th.textContent),
      charts: [...document.querySelectorAll('svg.chart')].map((s) => {
        const r = s.getBoundingClientRect();
        return { w: r.width, h: r.height, paths: s.querySelectorAll('path.series, rect').length };
      }),
      images: [...document.querySelectorAll('img')].map((i) => (i as HTMLImageElement).naturalWidth),
      recommendation: document.querySelector('.recommendation')?.textContent ?? '',
    }));
    assert.deepEqual(facts.headers, ['', 'mobilenet', 'resnet50', 'xception']);
    assert.equal(facts.charts.length, 5);
    for (const c of facts.charts) {
      assert.ok(c.w > 100 && c.h > 100, `chart too small: ${JSON.stringify(c)}`);
      assert.ok(c.paths > 0, 'chart has no marks');
    }
    assert.deepEqual(facts.images, [1], 'the misclassified thumbnail decodes');
    assert.match(facts.recommendation, /Recommendation: mobilenet/);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
