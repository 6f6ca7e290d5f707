// The list of files a run leaves out (`--exclude FILE`): one 'class/name' per line, or the CSV an audit
// writes (audit.csv), whose rows with keep = false / 0 / no are left out and whose split column says which
// folder the file is in. Nothing is deleted: the user edits the keep column and trains again.
import { readFileSync } from 'node:fs';
import { FileError } from '../core/errors.js';

export interface ExcludeList {
  /** Files of the training folder (with validationSplit: of either subset), 'class/name'. */
  train: string[];
  /** Files of the separate validation folder (--val-dir). */
  validation: string[];
}

/** Splits one CSV line (RFC 4180 quoting: "a,b" and "" inside quotes). */
export function parseCsvLine(line: string): string[] {
  const cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      cells.push(cell);
      cell = '';
    } else cell += ch;
  }
  cells.push(cell);
  return cells;
}

/**
 * A cell written by csvCell with a leading apostrophe (so that a spreadsheet does not run a name that
 * starts like a formula) reads back without it.
 */
export function unguardCell(cell: string): string {
  return /^'[=+\-@\t\r]/.test(cell) ? cell.slice(1) : cell;
}

const NO = new Set(['false', '0', 'no', 'n']);

/** Parses an exclude list's text (`source` names it in errors). */
export function parseExcludeList(text: string, source: string): ExcludeList {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const header = parseCsvLine(lines[0] ?? '').map((c) => c.trim().toLowerCase());
  const out: ExcludeList = { train: [], validation: [] };
  if (header.includes('file') && header.includes('keep')) {
    const fileAt = header.indexOf('file');
    const keepAt = header.indexOf('keep');
    const splitAt = header.indexOf('split');
    lines.slice(1).forEach((line, i) => {
      if (line.trim() === '') return;
      const cells = parseCsvLine(line);
      if (cells.length <= Math.max(fileAt, keepAt)) throw new FileError(source, `line ${i + 2} has ${cells.length} cells; the header names ${header.length} (file, keep${splitAt >= 0 ? ', split' : ''}...)`);
      if (!NO.has(cells[keepAt].trim().toLowerCase())) return;
      const file = unguardCell(cells[fileAt].trim());
      const split = splitAt >= 0 ? cells[splitAt].trim().toLowerCase() : 'train';
      (split === 'validation' ? out.validation : out.train).push(file);
    });
    return out;
  }
  if (header.includes('file') && lines[0].includes(',')) {
    throw new FileError(source, `a CSV exclude list needs a 'keep' column (rows with keep = false, 0 or no are left out); its header is: ${lines[0]}`);
  }
  for (const raw of lines) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    out.train.push(line.replace(/\\/g, '/').replace(/^\.\//, ''));
  }
  return out;
}

/** Reads `--exclude FILE`. */
export function readExcludeList(path: string): ExcludeList {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new FileError(path, `cannot read the exclude list (${(error as Error).message}); expected one 'class/name' per line, or an audit CSV with a keep column`);
  }
  return parseExcludeList(text, path);
}
