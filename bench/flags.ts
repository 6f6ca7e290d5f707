// Command-line flags of the bench scripts: `--name value`, with a fallback when absent; `--name` alone.
export function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

export function numberFlag(name: string, fallback: number): number {
  return Number(flag(name, String(fallback)));
}

export function hasFlag(name: string): boolean {
  return process.argv.includes(`--${name}`);
}
