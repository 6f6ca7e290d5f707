// onnxruntime's NCHWc kernels as explicit ops: the block size probe, and the depthwise filter gradient
// taking them where batch * channels fits a block (its values are checked in gradients_conv.test.ts).
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine, tfl } from '../../../../src/engines/tfjs/tf.js';
import { buildTrainingGraph } from '../../../../src/engines/onnx/training/training_graph.js';
import { NCHWC_DOMAIN, nchwcBlockSize, probeNchwcBlockSize } from '../../../../src/engines/onnx/training/nchwc.js';

before(async () => {
  await initEngine();
});

function depthwiseNet(channels: number): tfl.LayersModel {
  const input = tfl.input({ shape: [8, 8, channels] });
  const h = tfl.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same' }).apply(input) as tfl.SymbolicTensor;
  const pooled = tfl.layers.globalAveragePooling2d({}).apply(h) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: tfl.layers.dense({ units: 2, activation: 'softmax' }).apply(pooled) as tfl.SymbolicTensor });
}


function countDomainNodes(model: tfl.LayersModel, batchSize: number): number {
  const graph = buildTrainingGraph(model, { batchSize, loss: 'categorical_crossentropy', optimizer: 'gradients' });
  const text = Buffer.from(graph.modelBytes).toString('latin1');
  return text.split(NCHWC_DOMAIN).length - 1;
}

test('the probe finds the block size of this x86-64 CPU (16 with AVX-512, 8 with AVX2) and caches it', async () => {
  const block = await probeNchwcBlockSize();
  assert.ok(block === 8 || block === 16, `block ${block}`);
  assert.equal(nchwcBlockSize(), block);
  assert.equal(await probeNchwcBlockSize(), block);
});

test("'auto' uses the NCHWc ops only where batch * channels is a multiple of the block", async () => {
  const block = (await probeNchwcBlockSize())!;
  // 16 channels x 4 samples fit any block; 3 channels x 3 samples fit none.
  assert.ok(countDomainNodes(depthwiseNet(16), 4) > 0, 'NCHWc nodes for 16 channels, batch 4');
  assert.equal(countDomainNodes(depthwiseNet(3), 3), 0, `no NCHWc nodes for 3 channels, batch 3 (block ${block})`);
});
