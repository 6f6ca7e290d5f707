// Flag parsing on node:util parseArgs, with errors that name the flag and what it accepts.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from '../core/errors.js';

export type FlagSpec = NonNullable<ParseArgsConfig['options']>;

export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

export function parseFlags(argv: string[], options: FlagSpec, usage: string): ParsedArgs {
  try {
    const { values, positionals } = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
    return { values: values as ParsedArgs['values'], positionals };
  } catch (error) {
    const code = (error as { code?: string }).code;
    const unknown = /Unknown option '(-{1,2}[^']+)'/.exec(error instanceof Error ? error.message : '');
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && unknown) {
      const near = nearestFlags(unknown[1].replace(/^-+/, ''), Object.keys(options));
      const hint = near.length ? ` (did you mean ${near.map((n) => `--${n}`).join(' or ')}?)` : '';
      throw new UsageError(`unknown option '${unknown[1]}'${hint}\n\n${usage}`);
    }
    const message = error instanceof Error ? error.message : String(error);
    throw new UsageError(`${message}\n\n${usage}`);
  }
}

/** Flags whose name contains the mistyped one, or is within two edits of it. */
function nearestFlags(typed: string, names: string[]): string[] {
  const contains = names.filter((n) => typed.length >= 3 && (n.includes(typed) || typed.includes(n)));
  const close = names.filter((n) => editDistance(typed, n) <= 2);
  return [...new Set([...close, ...contains])].slice(0, 3);
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = current;
  }
  return previous[b.length];
}

export function stringFlag(values: ParsedArgs['values'], name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

export function numberFlag(values: ParsedArgs['values'], name: string, check: { integer?: boolean; min?: number; max?: number; exclusiveMin?: boolean } = {}): number | undefined {
  const raw = stringFlag(values, name);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  const bad =
    raw.trim() === '' ||
    !Number.isFinite(n) ||
    (check.integer && !Number.isInteger(n)) ||
    (check.min !== undefined && (check.exclusiveMin ? n <= check.min : n < check.min)) ||
    (check.max !== undefined && n > check.max);
  if (bad) {
    const parts = [check.integer ? 'an integer' : 'a number'];
    if (check.min !== undefined) parts.push(`${check.exclusiveMin ? '>' : '>='} ${check.min}`);
    if (check.max !== undefined) parts.push(`<= ${check.max}`);
    throw new UsageError(`--${name} expects ${parts.join(' ')}; got '${raw}'`, name);
  }
  return n;
}

export function choiceFlag<T extends string>(values: ParsedArgs['values'], name: string, choices: readonly T[]): T | undefined {
  const raw = stringFlag(values, name);
  if (raw === undefined) return undefined;
  if (!(choices as readonly string[]).includes(raw)) {
    throw new UsageError(`--${name} expects one of ${choices.join(', ')}; got '${raw}'`, name);
  }
  return raw as T;
}

/** A comma-separated list of numbers, e.g. `--brightness-range 0.8,1.2`. */
export function numberListFlag(values: ParsedArgs['values'], name: string, length?: number): number[] | undefined {
  const raw = stringFlag(values, name);
  if (raw === undefined) return undefined;
  const parts = raw.split(',').map((s) => Number(s.trim()));
  if (parts.some((n) => !Number.isFinite(n)) || (length !== undefined && parts.length !== length)) {
    throw new UsageError(`--${name} expects ${length ?? 'a list of'} comma-separated numbers; got '${raw}'`, name);
  }
  return parts;
}
