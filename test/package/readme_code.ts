// What README.md shows a user: its fenced code blocks, the names its examples import from 'tlkit', and
// its install line. Read at test time, so the package tests follow README edits.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const README = fileURLToPath(new URL('../../README.md', import.meta.url));

/** The bodies of README's fenced blocks of one language (```ts, ```sh), in order. */
export function codeBlocks(language: string, text = readFileSync(README, 'utf8')): string[] {
  const blocks: string[] = [];
  const fence = new RegExp('^```' + language + '[ \\t]*\\n([\\s\\S]*?)^```', 'gm');
  for (const m of text.matchAll(fence)) blocks.push(m[1]!);
  return blocks;
}

/** Every name README's ```ts blocks import from 'tlkit' (`import { a, b as c } from 'tlkit'`), sorted. */
export function readmeImports(text = readFileSync(README, 'utf8')): string[] {
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
