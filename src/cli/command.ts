import type { Writable } from 'node:stream';

/** Where a command writes. Tests pass buffers; the real CLI passes process.stdout / stderr. */
export interface CliIO {
  stdout: Writable;
  stderr: Writable;
  /** True when stderr is a terminal: progress bars redraw in place, otherwise they print a line now and then. */
  interactive: boolean;
}

export interface Command {
  name: string;
  /** One line for `tlkit --help`. */
  summary: string;
  /** Full usage text for `tlkit NAME --help`. */
  usage: string;
  /** Returns the exit code. Throws UsageError for bad flags (exit 2), other errors for failures (exit 1). */
  run(argv: string[], io: CliIO): Promise<number>;
}
