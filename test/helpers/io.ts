// Captures what a CLI command writes, for assertions.
import { Writable } from 'node:stream';
import { main } from '../../src/cli/main.js';

export class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

export async function runCli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await main(argv, { stdout, stderr, interactive: false });
  return { code, stdout: stdout.text, stderr: stderr.text };
}
