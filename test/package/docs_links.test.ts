// README is a front door: short, and every link in it and in its guides leads somewhere.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { README, brokenLinks, userDocs } from './readme_code.js';

describe('README and its guides', () => {
  it('README stays a front door: at most 250 lines', () => {
    const lines = readFileSync(README, 'utf8').split('\n').length;
    assert.ok(lines <= 250, `README.md has ${lines} lines: move detail into a docs/ guide and link it`);
  });

  for (const file of userDocs()) {
    it(`every relative link of ${relative(process.cwd(), file)} resolves`, () => {
      assert.deepEqual(brokenLinks(file), [], `${file} links to missing files`);
    });
  }

  it('README links every guide under docs/', () => {
    const readme = readFileSync(README, 'utf8');
    const unlinked = userDocs().filter((f) => f.includes('/docs/')).map((f) => `docs/${f.split('/docs/')[1]}`).filter((d) => !readme.includes(`](${d})`));
    assert.deepEqual(unlinked, [], 'guides that README does not link to');
  });
});
