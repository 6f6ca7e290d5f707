// Typed errors. The library throws these and never prints or exits; the CLI maps them to a message
// and an exit code (UsageError -> 2, anything else -> 1).

export class TlkitError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A bad argument, option or flag: the message names it, shows what was received and what is accepted. */
export class UsageError extends TlkitError {
  readonly argument?: string;
  constructor(message: string, argument?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.argument = argument;
  }
}

/** `UsageError` for one named argument, worded like Keras: "... Received: alpha=0.3". */
export function invalidArgument(argument: string, received: unknown, expected: string): UsageError {
  return new UsageError(`Invalid value for \`${argument}\`: expected ${expected}. Received: ${argument}=${formatValue(received)}`, argument);
}

/** A file or directory that is missing, unreadable or not what was expected; names the path. */
export class FileError extends TlkitError {
  readonly path: string;
  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super(`${path}: ${message}`, options);
    this.path = path;
  }
}

/** Weights that cannot be found, downloaded or matched to a model. */
export class WeightsError extends TlkitError {}

/** A dataset that cannot be used as asked (no classes, empty class, wrong class count...). */
export class DataError extends TlkitError {}

/** Training that cannot go on (NaN loss, unwritable run directory...). */
export class TrainingError extends TlkitError {}

export function formatValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(formatValue).join(', ')}]`;
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'object') {
    try {
      return JSON.stringify(value);
    } catch {
      return String(value);
    }
  }
  return String(value);
}
