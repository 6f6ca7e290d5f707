// The audit's report section (compare's report.html / report.md) and audit.html: findings listed,
// names escaped, nothing fetched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderAuditHtml, renderAuditMarkdown, renderAuditSection } from '../../src/report/audit_report.js';
import { renderCompareHtml, renderCompareMarkdown } from '../../src/report/compare_report.js';
import type { AuditResult } from '../../src/train/audit/types.js';
import type { CompareResult } from '../../src/compare/types.js';

const audit: AuditResult = {
  labelIssues: [{ file: 'cats/<b>x.jpg', split: 'train', givenLabel: 'cats', suggestedLabel: 'dogs', score: 0.91 }],
  duplicates: [{ files: [{ file: 'dogs/a.jpg', split: 'train' }, { file: 'dogs/a.png', split: 'validation' }], kind: 'near', leak: true, similarity: 0.9981 }],
  outliers: [{ file: 'cats/odd.jpg', split: 'validation', score: 7.5, givenLabel: 'cats', nearestLabel: 'dogs' }],
  classes: [
    { name: 'cats', train: 30, validation: 10, fraction: 0.6, labelIssues: 1 },
    { name: 'dogs', train: 20, validation: 10, fraction: 0.4, labelIssues: 0 },
  ],
  counts: { images: { train: 50, validation: 20 }, labelIssues: 1, duplicateGroups: 1, leaks: 1, leakedValidationFiles: 1, outliers: 1, imbalanceRatio: 1.5 },
  backbones: ['mobilenet_v2'],
  method: 'test',
  seconds: 1.2,
  phaseSeconds: {},
};

test('the audit section lists each finding with its thumbnail, escapes names, and the class table', () => {
  const html = renderAuditSection(audit, { 'train:cats/<b>x.jpg': 'data:image/jpeg;base64,AAAA' });
  assert.match(html, /Data audit/);
  assert.match(html, /cats\/&lt;b&gt;x\.jpg/);
  assert.doesNotMatch(html, /<b>x\.jpg/);
  assert.match(html, /src="data:image\/jpeg;base64,AAAA"/);
  assert.match(html, /<b>leak<\/b> near duplicate, similarity 0\.9981/);
  assert.match(html, /<th>dogs<\/th><td>20<\/td><td>10<\/td><td>40\.0%<\/td>/);
  const page = renderAuditHtml(audit, {}, '/data/train');
  assert.doesNotMatch(page, /<script|https?:\/\//);
  const md = renderAuditMarkdown(audit);
  assert.match(md, /- train: cats\/<b>x\.jpg: cats -> dogs \(0\.91\)/);
  assert.match(md, /- LEAK near \(0\.9981\): train: dogs\/a\.jpg, validation: dogs\/a\.png/);
});

test("compare's report carries the audit section when the result has one", () => {
  const result: CompareResult = { dataset: '/d', heldOutDir: '/v', outDir: '/o', rows: [], recommendation: null, rule: 'r', config: {}, startedAt: 'now', elapsedSeconds: 1 };
  assert.doesNotMatch(renderCompareHtml(result), /Data audit/);
  assert.match(renderCompareHtml({ ...result, audit }), /<h2>Data audit<\/h2>/);
  assert.match(renderCompareMarkdown({ ...result, audit }), /## Data audit/);
});
