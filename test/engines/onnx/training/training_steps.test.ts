// Step 4: the optimizer update in the graph. A few compiled steps give the same weights (and BN moving
// statistics) as the tfjs engine's optimizers (src/train/loop/optimizers.ts) on the same batches.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine, tf, tfl } from '../../../../src/engines/tfjs/tf.js';
import '../../../../src/models/batchnorm.js';
import { canCompileTrainingStep, compileTrainingStep } from '../../../../src/engines/onnx/training/compile_training_step.js';
import { batchLoss } from '../../../../src/inference/losses.js';
import type { LossName } from '../../../../src/core/names.js';
import { assertClose, labelsFor, randomizeWeights, randomTensor } from './helpers.js';

const L = tfl.layers;
type ST = tfl.SymbolicTensor;
const apply = (layer: tfl.layers.Layer, x: ST | ST[]): ST => layer.apply(x) as ST;

before(async () => {
  await initEngine();
  await tf.setBackend('cpu');
});

function smallConvNet(seed: number, outUnits: number, activation: string): tfl.LayersModel {
  const input = tfl.input({ shape: [8, 7, 3] });
  let h = apply(L.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', useBias: false }), input);
  h = apply(L.batchNormalization({ momentum: 0.9 }), h);
  h = apply(L.reLU({ maxValue: 6 }), h);
  h = apply(L.depthwiseConv2d({ kernelSize: 3, padding: 'same' }), h);
  h = apply(L.globalAveragePooling2d({}), h);
  h = apply(L.dense({ units: 5, activation: 'relu' }), h);
  const m = tfl.model({ inputs: input, outputs: apply(L.dense({ units: outUnits, activation: activation as 'softmax' }), h) });
  randomizeWeights(m, seed);
  return m;
}

function snapshot(model: tfl.LayersModel): Map<string, Float32Array> {
  return new Map(model.weights.map((w) => [w.name, Float32Array.from(w.read().dataSync())]));
}

function restore(model: tfl.LayersModel, values: Map<string, Float32Array>): void {
  for (const w of model.weights) w.write(tf.tensor(values.get(w.name)!, w.shape as number[]));
}

async function compareTraining(optimizer: 'adam' | 'sgd', loss: LossName, momentum = 0): Promise<void> {
  const binary = loss === 'binary_crossentropy';
  const model = smallConvNet(70, binary ? 1 : 3, binary ? 'sigmoid' : 'softmax');
  const initial = snapshot(model);
  const batches = [0, 1, 2].map((i) => ({ x: randomTensor([4, 8, 7, 3], 80 + i), y: labelsFor(loss, 4, binary ? 1 : 3, 90 + i) }));
  const lr = optimizer === 'adam' ? 1e-3 : 0.05;

  const compiled = await compileTrainingStep(model, { loss, optimizer, learningRate: lr, batchSize: 4, momentum, intraOpNumThreads: 1 });
  const ourLosses: number[] = [];
  for (const b of batches) ourLosses.push((await compiled.step(b.x, b.y)).loss);
  assert.equal(compiled.iterations, 3);
  compiled.syncWeightsToModel();
  const ours = snapshot(model);
  await compiled.dispose();

  restore(model, initial);
  const tfOptimizer = optimizer === 'adam' ? tf.train.adam(lr, 0.9, 0.999, 1e-7) : momentum > 0 ? tf.train.momentum(lr, momentum) : tf.train.sgd(lr);
  const refLosses: number[] = [];
  for (const b of batches) {
    const value = tfOptimizer.minimize(() => batchLoss(loss, b.y, model.apply(b.x, { training: true }) as tf.Tensor), true, model.trainableWeights.map((w) => w.read() as tf.Variable));
    refLosses.push(value!.dataSync()[0]);
    value!.dispose();
  }
  const reference = snapshot(model);
  refLosses.forEach((l, i) => assert.ok(Math.abs(l - ourLosses[i]) < 1e-4, `loss at step ${i + 1}: ${ourLosses[i]} vs tfjs ${l}`));
  let moved = 0;
  for (const [name, ref] of reference) {
    assertClose(ours.get(name), ref, `${optimizer} ${name} after 3 steps`, 2e-5);
    moved += ref.reduce((acc, v, i) => acc + Math.abs(v - initial.get(name)![i]), 0);
  }
  assert.ok(moved > 0, 'the weights moved');
  tfOptimizer.dispose();
  tf.dispose(batches.flatMap((b) => [b.x, b.y]));
}

describe('compiled training step: a few steps match the tfjs engine', () => {
  test('Adam, sparse categorical cross-entropy, BN moving statistics', async () => {
    await compareTraining('adam', 'sparse_categorical_crossentropy');
  });
  test('SGD with momentum 0.9, binary cross-entropy', async () => {
    await compareTraining('sgd', 'binary_crossentropy', 0.9);
  });
  test('plain SGD, categorical cross-entropy', async () => {
    await compareTraining('sgd', 'categorical_crossentropy');
  });

  test('a step reports the predictions and correct count; a non-finite step throws and keeps the weights', async () => {
    const model = smallConvNet(71, 3, 'softmax');
    const before = snapshot(model);
    const step = await compileTrainingStep(model, { loss: 'sparse_categorical_crossentropy', batchSize: 4, intraOpNumThreads: 1 });
    const x = randomTensor([4, 8, 7, 3], 100);
    const probs = (model.predict(x) as tf.Tensor).arraySync() as number[][];
    const labels = [0, 1, 2, 1];
    const expected = probs.filter((p, i) => p.indexOf(Math.max(...p)) === labels[i]).length;
    const result = await step.step(x, labels);
    assert.equal(result.output.length, 12);
    assert.equal(result.correct, expected);
    const bad = new Float32Array(4 * 8 * 7 * 3).fill(Number.NaN);
    await assert.rejects(step.step(bad, labels), (e: Error) => e.name === 'TrainingError' && /non-finite loss/.test(e.message));
    assert.equal(step.iterations, 1);
    // A last, smaller batch compiles its own graph on first use and continues from the same weights.
    const partial = await step.step(randomTensor([3, 8, 7, 3], 101), [2, 0, 1]);
    assert.ok(Number.isFinite(partial.loss));
    assert.equal(step.iterations, 2);
    step.syncWeightsToModel();
    const afterSteps = snapshot(model);
    assert.ok([...afterSteps.values()].every((v) => v.every(Number.isFinite)));
    assert.notDeepEqual(afterSteps.get(model.trainableWeights[0].name), before.get(model.trainableWeights[0].name));
    await step.dispose();
    tf.dispose(x);
  });

  test('canCompileTrainingStep says why a model is not supported; compileTrainingStep refuses it clearly', async () => {
    const input = tfl.input({ shape: [6] });
    const m = tfl.model({ inputs: input, outputs: apply(L.dense({ units: 2, activation: 'softmax' }), apply(L.dense({ units: 4, activation: 'elu' }), input)) });
    const verdict = canCompileTrainingStep(m);
    assert.equal(verdict.ok, false);
    assert.match(verdict.reason!, /activation 'elu'/);
    await assert.rejects(compileTrainingStep(m, { loss: 'categorical_crossentropy', batchSize: 2 }), /Cannot compile a training step .*elu/);
    const linearOut = tfl.model({ inputs: input, outputs: apply(L.dense({ units: 2 }), input) });
    assert.match(canCompileTrainingStep(linearOut).reason!, /softmax or sigmoid/);
    assert.equal(canCompileTrainingStep(smallConvNet(1, 3, 'softmax')).ok, true);
    const regularised = tfl.model({ inputs: input, outputs: apply(L.dense({ units: 2, activation: 'softmax', kernelRegularizer: tfl.regularizers.l2() }), input) });
    assert.match(canCompileTrainingStep(regularised).reason!, /kernelRegularizer/);
  });
});

describe('decideTrainingStep (the training-step part of the one engine decision)', () => {
  test('auto and onnx pick the compiled step when it compiles; otherwise tfjs with the reason; bad names are a UsageError', async () => {
    const { decideTrainingStep } = await import('../../../../src/engines/engine_decision.js');
    const loss = 'categorical_crossentropy';
    const ok = smallConvNet(2, 3, 'softmax');
    assert.equal(decideTrainingStep(ok, 'auto', loss, 'adam').engine, 'onnx-step');
    assert.equal(decideTrainingStep(ok, 'tfjs', loss, 'adam').engine, 'tfjs');
    assert.match(decideTrainingStep(ok, 'auto', loss, 'rmsprop').reason, /optimizer 'rmsprop' is not one of the compiled step's/);
    const input = tfl.input({ shape: [4] });
    const unsupported = tfl.model({ inputs: input, outputs: apply(L.dense({ units: 2, activation: 'softmax' }), apply(L.dense({ units: 3, activation: 'selu' }), input)) });
    const picked = decideTrainingStep(unsupported, 'onnx', loss, 'adam');
    assert.equal(picked.engine, 'tfjs');
    assert.match(picked.reason, /cannot train this model: layer 'dense_Dense\d+' \(Dense\): activation 'selu'/);
    assert.throws(() => decideTrainingStep(ok, 'fast' as never, loss, 'adam'), (e: Error) => e.name === 'UsageError' && /auto, onnx, tfjs/.test(e.message));
  });
});
