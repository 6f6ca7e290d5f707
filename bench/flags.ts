// Command-line flags of the bench scripts: `--name value`, with a fallback when absent.
export function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}
