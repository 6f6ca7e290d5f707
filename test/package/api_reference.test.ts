// docs/api.md documents exactly what src/index.ts exports, and README imports nothing else.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { API_MD, apiEntries, documentedNames, renderApiMarkdown } from '../../scripts/api_reference.js';
import { readmeImports } from './readme_code.js';

const entries = apiEntries();
const exported = entries.map((e) => e.name);
const documented = documentedNames(readFileSync(API_MD, 'utf8'));
const regenerate = 'regenerate it with `npm run docs:api`';

describe('the API reference (docs/api.md)', () => {
  it('documents every name src/index.ts exports', () => {
    const missing = exported.filter((name) => !documented.includes(name));
    assert.deepEqual(missing, [], `exported by src/index.ts but not in docs/api.md: ${regenerate}`);
  });

  it('documents nothing src/index.ts does not export, each name once', () => {
    const stale = documented.filter((name) => !exported.includes(name));
    assert.deepEqual(stale, [], `in docs/api.md but not exported by src/index.ts: ${regenerate}`);
    assert.deepEqual(documented.filter((name, i) => documented.indexOf(name) !== i), []);
  });

  it('has one heading per entry the generator renders', () => {
    assert.deepEqual(documentedNames(renderApiMarkdown(entries)).sort(), [...exported].sort());
  });
});

describe("README's imports", () => {
  it("are all exported by src/index.ts, as values (README's examples call them)", () => {
    const values = new Set(entries.filter((e) => e.value).map((e) => e.name));
    const notExported = readmeImports().filter((name) => !values.has(name));
    assert.deepEqual(notExported, [], "README imports these from 'tlkit' but src/index.ts does not export them as values");
  });
});
