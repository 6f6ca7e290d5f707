// Issue 16, item 5: `export --out` destroyed runs (`--out run/model/weights.bin`, `--out
// run/checkpoints/last.ckpt`) and overwrote any file. It now writes beside the model folder by default,
// never inside a run's model/ or checkpoints/, and replaces only its own earlier export unless --overwrite.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tfl, initEngine } from '../../src/engines/tfjs/tf.js';
import { saveModel } from '../../src/weights/saved_model.js';
import { runCli } from '../helpers/io.js';

let run: string;
let runFiles: Map<string, Buffer>;

function tinyModel(): tfl.LayersModel {
  const input = tfl.input({ shape: [8, 8, 3] });
  const x = tfl.layers.globalAveragePooling2d({}).apply(input) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 2, activation: 'softmax' }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out });
}

async function snapshot(dir: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const sub of ['model', 'checkpoints']) {
    for (const name of await fs.readdir(join(dir, sub))) files.set(`${sub}/${name}`, await fs.readFile(join(dir, sub, name)));
  }
  return files;
}

before(async () => {
  await initEngine();
  run = await fs.mkdtemp(join(tmpdir(), 'tlkit-export-target-'));
  const model = tinyModel();
  await saveModel(join(run, 'model'), model, { classNames: ['a', 'b'], classMode: 'categorical', preprocess: 'tf', inputSize: [8, 8], backbone: 'tiny', weightsSource: 'none' });
  model.dispose();
  await fs.mkdir(join(run, 'checkpoints'));
  await fs.writeFile(join(run, 'checkpoints', 'last.ckpt'), 'TLKCKPT1 stands in for a checkpoint');
  await fs.writeFile(join(run, 'config.json'), '{}');
  runFiles = await snapshot(run);
});

test("--out inside the run's model/ or checkpoints/ is refused, even with --overwrite, and the run is intact", async () => {
  for (const [format, out] of [['onnx', join(run, 'model', 'weights.bin')], ['h5', join(run, 'checkpoints', 'last.ckpt')], ['tfjs', join(run, 'model')], ['onnx', join(run, 'checkpoints', 'new.onnx')]]) {
    for (const extra of [[], ['--overwrite']]) {
      const r = await runCli(['export', run, '--format', format!, '--out', out!, ...extra]);
      assert.equal(r.code, 2, `${format} ${out}: ${r.stderr}`);
      assert.match(r.stderr, /is inside .*(model|checkpoints), part of a run: tlkit never writes there/);
    }
  }
  const r = await runCli(['export', run, '--format', 'tfjs', '--out', run]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /is a run directory/);
  assert.deepEqual(await snapshot(run), runFiles);
});

test('the default output lands beside the model folder, and exporting again replaces the earlier export', async () => {
  for (const [format, path] of [['onnx', join(run, 'model.onnx')], ['h5', join(run, 'model.h5')], ['tfjs', join(run, 'tfjs')]]) {
    for (let i = 0; i < 2; i++) {
      const r = await runCli(['export', run, '--format', format!]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(r.stdout.startsWith(`wrote ${path}`), r.stdout);
    }
  }
  await runCli(['export', run, '--format', 'h5', '--weights-only', '--out', join(run, 'weights.h5')]);
  assert.equal((await runCli(['export', run, '--format', 'h5', '--weights-only', '--out', join(run, 'weights.h5')])).code, 0, 'a weights-only export is recognised as tlkit\'s too');
  assert.deepEqual(await snapshot(run), runFiles);
});

test('an existing file that is not an export of the format is refused unless --overwrite', async () => {
  const dir = await fs.mkdtemp(join(tmpdir(), 'tlkit-export-foreign-'));
  const foreign = join(dir, 'report.pdf');
  await fs.writeFile(foreign, 'my report');
  for (const format of ['onnx', 'h5']) {
    const r = await runCli(['export', run, '--format', format, '--out', foreign]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, new RegExp(`--out ${foreign} exists and is not a tlkit (ONNX|\\.h5) export; .* give --overwrite to replace it anyway`));
    assert.equal(await fs.readFile(foreign, 'utf8'), 'my report');
  }
  // An ONNX export is not an .h5 export: the formats do not replace each other.
  const onnxFile = join(dir, 'm.onnx');
  assert.equal((await runCli(['export', run, '--format', 'onnx', '--out', onnxFile])).code, 0);
  assert.equal((await runCli(['export', run, '--format', 'h5', '--out', onnxFile])).code, 2);
  const forced = await runCli(['export', run, '--format', 'onnx', '--out', foreign, '--overwrite']);
  assert.equal(forced.code, 0, forced.stderr);
  // A folder holding someone else's model.json is not replaced by a tfjs export.
  const web = join(dir, 'web');
  await fs.mkdir(web);
  await fs.writeFile(join(web, 'model.json'), '{"theirs": true}');
  const t = await runCli(['export', run, '--format', 'tfjs', '--out', web]);
  assert.equal(t.code, 2);
  assert.match(t.stderr, /holds model\.json of something that is not a tlkit model/);
  assert.equal(existsSync(join(web, 'tlkit.json')), false);
});

test('export --out under /proc is refused', async () => {
  const r = await runCli(['export', run, '--format', 'onnx', '--out', '/proc/x/model.onnx']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /is under \/proc, a kernel file system/);
});

test('export --format web refuses a non-empty folder that is not an earlier page (it would be published beside it), unless --overwrite', async () => {
  const dir = await fs.mkdtemp(join(tmpdir(), 'tlkit-export-web-'));
  // A home-like folder: nothing named like the page's files, only someone's own files.
  const home = join(dir, 'home');
  await fs.mkdir(join(home, '.ssh'), { recursive: true });
  await fs.writeFile(join(home, '.ssh', 'id_ed25519'), 'private');
  await fs.writeFile(join(home, 'notes.txt'), 'mine');
  const refused = await runCli(['export', run, '--format', 'web', '--out', home]);
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /--out .*home is a folder that is not empty \(.*notes\.txt.*\) and not an earlier tlkit web page; .*--overwrite/);
  assert.equal(existsSync(join(home, 'index.html')), false, 'nothing written');
  // An empty folder, and then the same folder again (now an earlier page, with a file of the user's added): fine.
  const site = join(dir, 'site');
  await fs.mkdir(site);
  assert.equal((await runCli(['export', run, '--format', 'web', '--out', site])).code, 0);
  await fs.writeFile(join(site, 'favicon.ico'), 'icon');
  assert.equal((await runCli(['export', run, '--format', 'web', '--out', site])).code, 0, 'an earlier page is replaced');
  const forced = await runCli(['export', run, '--format', 'web', '--out', home, '--overwrite']);
  assert.equal(forced.code, 0, forced.stderr);
  assert.ok(existsSync(join(home, 'index.html')) && existsSync(join(home, 'notes.txt')));
  await fs.rm(dir, { recursive: true, force: true });
});
