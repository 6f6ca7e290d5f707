import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf, tfl, initEngine } from '../../src/engines/tfjs/tf.js';
import { nodesInTopologicalOrder, rewriteModel, tensorConsumers } from '../../src/models/graph_rewrite.js';

before(async () => {
  await initEngine();
});

/** x -> shared Dense applied twice (on x and on relu(x)) -> add: a shared layer and a fan-out. */
function sharedModel(): tfl.LayersModel {
  const input = tfl.input({ shape: [3], name: 'x' });
  const shared = tfl.layers.dense({ units: 3, name: 'shared', kernelInitializer: 'glorotUniform' });
  const a = shared.apply(input) as tfl.SymbolicTensor;
  const r = tfl.layers.reLU({ name: 'relu' }).apply(input) as tfl.SymbolicTensor;
  const b = shared.apply(r) as tfl.SymbolicTensor;
  const out = tfl.layers.add({ name: 'add' }).apply([a, b]) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out, name: 'shared_model' });
}

test('nodes come inputs first and consumers are counted per tensor', () => {
  const model = sharedModel();
  const order = nodesInTopologicalOrder(model).map((n) => n.outboundLayer.name);
  assert.equal(order[0], 'x');
  assert.equal(order.at(-1), 'add');
  assert.equal(order.filter((n) => n === 'shared').length, 2);
  const input = model.inputs[0];
  assert.deepEqual(tensorConsumers(model).get(input.id)!.map((n) => n.outboundLayer.name).sort(), ['relu', 'shared']);
});

test('rewriteModel keeps a shared layer shared and lets a hook replace a layer', () => {
  const model = sharedModel();
  const copy = rewriteModel(model);
  assert.equal(copy.layers.filter((l) => l.name === 'shared').length, 1);
  assert.equal(copy.getLayer('shared').inboundNodes.length, 2);
  const x = tf.tensor2d([[1, -2, 3], [-1, 0.5, 2]]);
  const a = model.predict(x) as tf.Tensor;
  const b = copy.predict(x) as tf.Tensor;
  assert.equal(tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]), 0);

  // Replace the ReLU by the identity: the output becomes shared(x) + shared(x).
  const noRelu = rewriteModel(model, (ctx) => (ctx.layer.name === 'relu' ? ctx.inputs : undefined), { name: 'no_relu' });
  assert.deepEqual(noRelu.layers.map((l) => l.name), ['x', 'shared', 'add']);
  const twice = tf.tidy(() => tf.mul(model.getLayer('shared').apply(x) as tf.Tensor, 2));
  const got = noRelu.predict(x) as tf.Tensor;
  assert.ok(tf.tidy(() => tf.max(tf.abs(tf.sub(twice, got))).dataSync()[0]) < 1e-6);
  assert.throws(() => rewriteModel(model, (ctx) => (ctx.layer.name === 'add' ? [ctx.inputs[0], ctx.inputs[1]] : undefined)), /returned 2 tensors for 1 outputs/);
  tf.dispose([x, a, b, twice, got]);
});
