// What README.md and its guides (docs/*.md, CONTRIBUTING.md) show a user: their fenced code blocks, the
// names their examples import from 'tlkit', README's install line and the links between them. Read at test
// time, so the package tests follow documentation edits.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const README = fileURLToPath(new URL('../../README.md', import.meta.url));
const ROOT = dirname(README);

/** README, CONTRIBUTING and the guides under docs/ (not the generated API reference), as paths. */
export function userDocs(): string[] {
  const docs = readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md') && f !== 'api.md').sort().map((f) => join(ROOT, 'docs', f));
  return [README, join(ROOT, 'CONTRIBUTING.md'), ...docs].filter((f) => existsSync(f));
}

/** The text of every user-facing document, concatenated: the examples the package tests compile and run. */
export function allDocsText(): string {
  return userDocs().map((f) => readFileSync(f, 'utf8')).join('\n');
}

/** Every relative link of a Markdown file that does not resolve to a file or folder of the checkout. */
export function brokenLinks(file: string): string[] {
  const text = readFileSync(file, 'utf8').replace(/^```[\s\S]*?^```/gm, '');
  const broken: string[] = [];
  for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
    const target = m[1]!.split('#')[0]!;
    if (!target || /^[a-z]+:/i.test(target)) continue;
    if (!existsSync(resolve(dirname(file), target))) broken.push(target);
  }
  return broken;
}

/** The bodies of the documents' fenced blocks of one language (```ts, ```sh), in order (README first). */
export function codeBlocks(language: string, text = allDocsText()): string[] {
  const blocks: string[] = [];
  const fence = new RegExp('^```' + language + '[ \\t]*\\n([\\s\\S]*?)^```', 'gm');
  for (const m of text.matchAll(fence)) blocks.push(m[1]!);
  return blocks;
}

/** Every name the documents' ```ts blocks import from 'tlkit' (`import { a, b as c } from 'tlkit'`), sorted. */
export function readmeImports(text = allDocsText()): string[] {
  const names = new Set<string>();
  for (const block of codeBlocks('ts', text)) {
    for (const m of block.matchAll(/import\s+(?:type\s+)?\{([^}]*)\}\s+from\s+'tlkit'/g)) {
      for (const part of m[1]!.split(',')) {
        const name = part.trim().replace(/^type\s+/, '').split(/\s+as\s+/)[0]!.trim();
        if (name) names.add(name);
      }
    }
  }
  return [...names].sort();
}

/** README's install command for library users: the ```sh line that runs `npm install tlkit`, comment removed. */
export function installLine(text = readFileSync(README, 'utf8')): string | undefined {
  for (const block of codeBlocks('sh', text)) {
    for (const line of block.split('\n')) {
      const command = line.replace(/\s+#.*$/, '').trim();
      if (/(^|\s)npm install tlkit$/.test(command)) return command;
    }
  }
  return undefined;
}
