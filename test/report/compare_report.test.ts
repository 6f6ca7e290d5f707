import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderCompareHtml, renderCompareMarkdown } from '../../src/report/compare_report.js';
import { formatCompareTable } from '../../src/report/compare_table.js';
import { sampleResult } from '../helpers/compare_fixture.js';

test('terminal table has the reference rows with Keras number formats and mm:ss', () => {
  const text = formatCompareTable(sampleResult());
  const lines = text.split('\n');
  assert.match(lines[0], /mobilenet\s+resnet50\s+xception/);
  assert.match(text, /Total params\s+4,031,730\s+25,193,394\s+-/);
  assert.match(text, /Non-trainable params\s+21,888\s+53,120/);
  assert.match(text, /Elapsed time\s+04:25\s+09:28/);
  assert.match(text, /Accuracy\s+0\.984\s+0\.990\s+failed/);
});

test('HTML report is self-contained: table, charts, recommendation, failure, no external resource', () => {
  const html = renderCompareHtml(sampleResult(), { thumbnails: { 'cats/1.jpg': 'data:image/png;base64,iVBORw0KGgo=' } });
  assert.match(html, /<table class="compare">/);
  assert.equal((html.match(/<svg /g) ?? []).length, 2 + 2 + 1, 'two curves, two confusion matrices, one phase chart');
  assert.match(html, /Recommendation: <b>mobilenet<\/b>/);
  assert.match(html, /weights missing: xception/);
  assert.match(html, /cats → <b>dogs<\/b> 70%/);
  assert.doesNotMatch(html, /(src|href)="https?:/);
  assert.doesNotMatch(html, /<script/);
});

test('Markdown report carries the table and the recommendation', () => {
  const md = renderCompareMarkdown(sampleResult());
  assert.match(md, /\| Total params \| 4,031,730 \| 25,193,394 \| - \|/);
  assert.match(md, /\*\*Recommendation: mobilenet\.\*\*/);
});
