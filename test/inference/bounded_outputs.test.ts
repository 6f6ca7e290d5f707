// Outputs that used to grow with the number of images: evaluate keeps the K worst misclassified images
// (and counts the rest); predict streams its results (library and CLI) instead of holding them all.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import sharp from 'sharp';
import { initEngine, tf, tfl } from '../../src/engines/tfjs/tf.js';
import { evaluate } from '../../src/inference/evaluate.js';
import { predictFilesStream } from '../../src/inference/predict.js';
import { WorstK } from '../../src/inference/worst_k.js';
import { saveModel } from '../../src/weights/saved_model.js';
import { main } from '../../src/cli/main.js';
import { Random } from '../../src/core/random.js';
import { TensorIterator } from '../helpers/tensor_iterator.js';
import { tinyConvNet } from '../train/helpers.js';

let root: string;
before(async () => {
  await initEngine();
  root = mkdtempSync(join(tmpdir(), 'tlkit-bounded-'));
});
after(() => rmSync(root, { recursive: true, force: true }));

test('WorstK keeps the K largest scores, largest first, ties in the order offered, and counts everything', () => {
  const w = new WorstK<string>(3);
  [['a', 1], ['b', 5], ['c', 3], ['d', 5], ['e', 0], ['f', 4], ['g', 5]].forEach(([item, score]) => w.offer(score as number, item as string));
  assert.deepEqual(w.sorted(), ['b', 'd', 'g']);
  assert.equal(w.offered, 7);
  const none = new WorstK<number>(0);
  none.offer(1, 1);
  assert.deepEqual(none.sorted(), []);
  assert.equal(none.offered, 1);
  const random = new Random(3);
  const scores = Array.from({ length: 500 }, () => random.random());
  const big = new WorstK<number>(20);
  scores.forEach((s, i) => big.offer(s, i));
  const expected = scores.map((s, i) => [s, i]).sort((a, b) => b[0] - a[0]).slice(0, 20).map((p) => p[1]);
  assert.deepEqual(big.sorted(), expected);
});

test('evaluate keeps the misclassifiedLimit worst mistakes by loss and counts them all', async () => {
  // softmax(x): the predicted class is the largest input; labels are random, so many are wrong.
  const model = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [3], units: 3, activation: 'softmax', useBias: false, kernelInitializer: 'identity' })] });
  const random = new Random(11);
  const n = 60;
  const xs = Float32Array.from({ length: n * 3 }, () => random.uniform(-2, 2));
  const ys = Float32Array.from({ length: n }, () => random.int(3));
  const x = tf.tensor2d(xs, [n, 3]);
  const y = tf.tensor1d(ys);
  const wrong: { index: number; loss: number }[] = [];
  for (let i = 0; i < n; i++) {
    const row = Array.from(xs.subarray(i * 3, i * 3 + 3));
    const predicted = row.indexOf(Math.max(...row));
    const logSum = Math.log(row.reduce((a, v) => a + Math.exp(v), 0));
    if (predicted !== ys[i]) wrong.push({ index: i, loss: logSum - row[ys[i]] });
  }
  assert.ok(wrong.length > 20, `${wrong.length} mistakes`);
  const worst = [...wrong].sort((a, b) => b.loss - a.loss);
  const all = await evaluate(model, new TensorIterator(x, y, { batchSize: 7, shuffle: false }), { loss: 'sparse_categorical_crossentropy', misclassifiedLimit: 1000 });
  assert.equal(all.misclassified.length, wrong.length);
  const limited = await evaluate(model, new TensorIterator(x, y, { batchSize: 7, shuffle: false }), { loss: 'sparse_categorical_crossentropy', misclassifiedLimit: 5 });
  assert.equal(limited.misclassifiedCount, wrong.length);
  assert.deepEqual(limited.misclassified.map((m) => m.index), worst.slice(0, 5).map((w) => w.index));
  limited.misclassified.forEach((m, i) => assert.ok(Math.abs(m.loss! - worst[i].loss) < 1e-4, `${m.loss} vs ${worst[i].loss}`));
  assert.equal(limited.accuracy, all.accuracy);
  assert.equal(limited.loss, all.loss);
  const none = await evaluate(model, new TensorIterator(x, y, { batchSize: 7, shuffle: false }), { misclassifiedLimit: 0 });
  assert.deepEqual(none.misclassified, []);
  assert.equal(none.misclassifiedCount, wrong.length);
  await assert.rejects(() => evaluate(model, new TensorIterator(x, y, { batchSize: 7 }), { misclassifiedLimit: -1 }), /misclassifiedLimit/);
  tf.dispose([x, y]);
  model.dispose();
});

async function writeImages(dir: string, count: number): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  for (let i = 0; i < count; i++) {
    const file = join(dir, `img${String(i).padStart(2, '0')}.png`);
    await sharp(Buffer.alloc(8 * 8 * 3, (i * 37) % 256), { raw: { width: 8, height: 8, channels: 3 } }).png().toFile(file);
    files.push(file);
  }
  return files;
}

const metadata = { classNames: ['a', 'b'], classMode: 'sparse' as const, preprocess: 'tf' as const, inputSize: [8, 8] as [number, number], backbone: 'tiny', weightsSource: 'none' };

test('predictFilesStream yields each batch before decoding the next', async () => {
  const files = await writeImages(join(root, 'stream'), 6);
  const model = tinyConvNet();
  const log: string[] = [];
  const stream = predictFilesStream(model, metadata as never, [join(root, 'stream')], { batchSize: 2, onProgress: (e) => log.push(`progress ${e.current}`) });
  for await (const p of stream) log.push(`result ${p.file!.slice(-9)}`);
  assert.equal(log.filter((l) => l.startsWith('result')).length, files.length);
  assert.deepEqual(log.slice(0, 3), ['result img00.png', 'result img01.png', 'progress 2'], 'the first batch is out before the second is made');
  model.dispose();
});

class SlowSink extends Writable {
  text = '';
  onFirstResult?: () => void;
  override _write(chunk: Buffer | string, _enc: BufferEncoding, done: () => void): void {
    const text = chunk.toString();
    if (this.text.length > 0 && this.onFirstResult && /img/.test(text)) {
      this.onFirstResult();
      this.onFirstResult = undefined;
    }
    this.text += text;
    done();
  }
}

test('tlkit predict writes each result as it is made (CSV and JSON): a file broken after the first row was written shows the error', async () => {
  const model = tinyConvNet();
  const modelDir = join(root, 'run', 'model');
  await saveModel(modelDir, model, metadata);
  model.dispose();
  for (const format of ['--csv', '--json']) {
    const dir = join(root, `cli${format}`);
    const files = await writeImages(dir, 5);
    const stdout = new SlowSink();
    const stderr = new SlowSink();
    // Breaking the last file once the first result is out: only a streaming command then fails on it.
    stdout.onFirstResult = () => writeFileSync(files[4], 'no longer an image');
    const code = await main(['predict', modelDir, dir, '--batch-size', '1', format], { stdout, stderr, interactive: false });
    assert.equal(code, 1, `${format}: the last file was read after the first result was written`);
    assert.match(stderr.text, /img04\.png/);
    if (format === '--csv') {
      const lines = stdout.text.trim().split('\n');
      assert.equal(lines[0], 'file,rank,class,probability,error');
      assert.equal(lines.length, 6);
      assert.match(lines[5], /img04\.png,,,,\S/, 'the error row keeps its reason');
    } else {
      const rows = JSON.parse(stdout.text) as { file: string; error?: string }[];
      assert.equal(rows.length, 5);
      assert.ok(rows[4].error);
      assert.equal(rows.filter((r) => r.error).length, 1);
    }
  }
});

test('the compare report counts every mistake while listing only the kept ones', async () => {
  const { sampleResult } = await import('../helpers/compare_fixture.js');
  const { renderCompareHtml, renderCompareMarkdown } = await import('../../src/report/compare_report.js');
  const result = sampleResult();
  const row = result.rows[0] as (typeof result.rows)[0] & { misclassifiedCount?: number };
  row.misclassifiedCount = 1234;
  assert.match(renderCompareMarkdown(result), /mobilenet: .*1234 misclassified/);
  const html = renderCompareHtml(result);
  assert.match(html, /mobilenet: 1234 misclassified, worst first/);
  assert.match(html, /… and 1233 more\./);
});
