// The compare report shows a Grad-CAM overlay beside each misclassified image (up to K per backbone),
// made from the run's saved model; a backbone without a usable model still gets its plain thumbnails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { initEngine, tfl } from '../../src/engines/tfjs/tf.js';
import { saveModel } from '../../src/weights/saved_model.js';
import { writeCompareReport } from '../../src/report/write_compare_report.js';
import { renderCompareHtml } from '../../src/report/compare_report.js';
import type { BackboneResult, CompareResult } from '../../src/compare/types.js';
import { sampleResult } from '../helpers/compare_fixture.js';

function tinyModel(): tfl.LayersModel {
  const input = tfl.input({ shape: [16, 16, 3] });
  let h = tfl.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }).apply(input) as tfl.SymbolicTensor;
  h = tfl.layers.globalAveragePooling2d({}).apply(h) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 2, activation: 'softmax', kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }).apply(h) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out });
}

test('writeCompareReport puts a Grad-CAM overlay beside up to K misclassified images of each backbone with a saved model', async () => {
  await initEngine();
  const dir = mkdtempSync(join(tmpdir(), 'tlkit-report-cam-'));
  try {
    const model = tinyModel();
    await saveModel(join(dir, 'runs', 'mobilenet', 'model'), model, { classNames: ['cats', 'dogs'], classMode: 'sparse', preprocess: 'tf', inputSize: [16, 16], backbone: 'tiny', weightsSource: 'none' });
    model.dispose();
    const heldOut = join(dir, 'test');
    const files: string[] = [];
    for (let i = 0; i < 3; i++) {
      await mkdir(join(heldOut, 'cats'), { recursive: true });
      await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 40 * i, g: 120, b: 200 } } }).png().toFile(join(heldOut, 'cats', `${i}.png`));
      files.push(`cats/${i}.png`);
    }
    const base = sampleResult();
    const mobilenet = base.rows[0] as BackboneResult & { ok: true };
    const result: CompareResult = {
      ...base,
      heldOutDir: heldOut,
      outDir: dir,
      rows: [
        { ...mobilenet, runDir: join(dir, 'runs', 'mobilenet'), misclassified: files.map((file, index) => ({ file, index, trueClass: 'cats', predictedClass: 'dogs', probability: 0.6 })) },
        // resnet50's run folder is gone: its tiles keep their plain thumbnails.
        { ...(base.rows[1] as BackboneResult & { ok: true }), runDir: join(dir, 'runs', 'missing'), misclassified: [{ file: files[0], index: 0, trueClass: 'cats', predictedClass: 'dogs', probability: 0.9 }] },
        base.rows[2],
      ],
    };
    const written = await writeCompareReport(result, dir, { explainMisclassified: 2 });
    const html = readFileSync(written.html, 'utf8');
    const overlays = html.match(/<img src="data:image\/png;base64,[^"]+" alt="Grad-CAM of dogs on cats\/\d\.png"/g) ?? [];
    assert.equal(overlays.length, 2, 'two overlays for mobilenet (K = 2), none for the backbone without a model');
    assert.match(html, /Grad-CAM of the class the model predicted/);
    assert.equal((html.match(/class="tile wide"/g) ?? []).length, 2);
    assert.equal((html.match(/class="tile"/g) ?? []).length, 2, "mobilenet's third image and resnet50's image are plain tiles");
    // K = 0: no overlay at all.
    const plain = readFileSync((await writeCompareReport(result, join(dir, 'plain'), { explainMisclassified: 0 })).html, 'utf8');
    assert.doesNotMatch(plain, /Grad-CAM of/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('renderCompareHtml shows an overlay only where one is given for that row and file', () => {
  const html = renderCompareHtml(sampleResult(), { thumbnails: { 'cats/1.jpg': 'data:image/png;base64,AAAA' }, overlays: { mobilenet: { 'cats/1.jpg': 'data:image/png;base64,BBBB' }, resnet50: { 'cats/1.jpg': 'data:image/png;base64,CCCC' } } });
  assert.match(html, /<img src="data:image\/png;base64,AAAA" alt="cats\/1.jpg"><img src="data:image\/png;base64,BBBB" alt="Grad-CAM of dogs on cats\/1.jpg"/);
  assert.doesNotMatch(html, /CCCC/, 'resnet50 did not misclassify cats/1.jpg');
});
