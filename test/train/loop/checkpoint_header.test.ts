// Issue 16, item 6: hand-edited checkpoint headers (wrong types, missing fields, negative or 1e9 epoch,
// arrays pointing outside the data) are refused with the field named, not "unexpected error".
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileError } from '../../../src/core/errors.js';
import { readCheckpoint, writeCheckpoint } from '../../../src/train/loop/checkpoint.js';
import { smallCheckpoint, writeEditedCheckpoint } from '../../helpers/hostile_files.js';

let root: string;

before(async () => {
  root = await fs.mkdtemp(join(tmpdir(), 'tlkit-ckpt-header-'));
});

test('an unedited checkpoint still reads back', async () => {
  const path = join(root, 'good.ckpt');
  await writeCheckpoint(path, smallCheckpoint());
  const c = await readCheckpoint(path);
  assert.equal(c.epoch, 1);
  assert.deepEqual(Array.from(c.weights[0]!.data), [1, 2, 3, 4]);
});

const cases: [string, (h: Record<string, unknown>) => void, RegExp][] = [
  ['negative epoch', (h) => (h.epoch = -1), /`epoch` must be an integer from 0 to epochs \(3\)\. Received: epoch=-1/],
  ['epoch 1e9', (h) => (h.epoch = 1e9), /`epoch` must be an integer from 0 to epochs \(3\)\. Received: epoch=1000000000/],
  ['epochs 1e9', (h) => (h.epochs = 1e9), /`epochs` must be an integer from 0 to 1000000/],
  ['epoch as a string', (h) => (h.epoch = '1'), /`epoch` must be .* Received: epoch="1"/],
  ['missing batch', (h) => delete h.batch, /`batch` must be .* Received: batch=undefined/],
  ['missing accumulators', (h) => delete h.accumulators, /`accumulators` must be an object/],
  ['accumulators.seen negative', (h) => ((h.accumulators as Record<string, number>).seen = -5), /`accumulators\.seen` must be a finite number >= 0/],
  ['history not a list', (h) => (h.history = 'lots'), /`history` must be a list/],
  ['history record of strings', (h) => (h.history = [{ loss: 'low' }]), /`history\[0\]` must be an object of numbers/],
  ['learningRate NaN (null in JSON)', (h) => (h.learningRate = null), /`learningRate` must be a finite number >= 0/],
  ['optimizerClass missing', (h) => delete h.optimizerClass, /`optimizerClass` must be a non-empty string/],
  ['unknown engine', (h) => (h.engine = 'cuda'), /`engine` must be 'tfjs' or 'onnx-step'/],
  ['weights not a list', (h) => (h.weights = {}), /`weights` must be a list of array references/],
  ['weight shape of 1e12 values', (h) => ((h.weights as Record<string, unknown>[])[0]!.shape = [1e6, 1e6]), /`weights\[0\]\.length` must be 4000000000000/],
  ['weight pointing past the data', (h) => ((h.weights as Record<string, unknown>[])[0]!.offset = 1024), /`weights\[0\]\.offset` must be an aligned offset with offset \+ length <= dataLength \(16\)/],
  ['weight dtype', (h) => ((h.weights as Record<string, unknown>[])[0]!.dtype = 'float64'), /`weights\[0\]\.dtype` must be 'float32' or 'int32'/],
  ['callbacks not an object', (h) => (h.callbacks = 3), /`callbacks` must be an object/],
];

for (const [name, edit, message] of cases) {
  test(`a checkpoint header with ${name} is refused, naming the field`, async () => {
    const path = join(root, `${name.replace(/\W+/g, '_')}.ckpt`);
    await writeEditedCheckpoint(path, smallCheckpoint(), edit);
    await assert.rejects(readCheckpoint(path), (e: unknown) => {
      assert.ok(e instanceof FileError, `FileError, got ${String(e)}`);
      assert.ok(e.message.startsWith(`${path}: `), e.message);
      assert.match(e.message, message);
      return true;
    });
  });
}
