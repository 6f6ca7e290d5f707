// The one engine decision: what each EngineChoice means for every pass of a phase (planPhaseEngines),
// the log line it gives, and that the decision is made in one place.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initEngine, tfl } from '../../src/engines/tfjs/tf.js';
import { describeEnginePlan, phaseEngineLabel, planPhaseEngines, runtimeFor, type PhaseEnginesRequest } from '../../src/engines/engine_decision.js';

type ST = tfl.SymbolicTensor;
const L = tfl.layers;
const apply = (layer: tfl.layers.Layer, x: ST): ST => layer.apply(x) as ST;

before(async () => {
  await initEngine();
});

/** stem conv (frozen or not) -> conv -> global pooling -> softmax. */
function smallModel(freezeStem: boolean): tfl.LayersModel {
  const input = tfl.input({ shape: [8, 8, 3] });
  const stem = L.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 'stem' });
  let x = apply(stem, input);
  x = apply(L.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 'body' }), x);
  x = apply(L.globalAveragePooling2d({ name: 'pool' }), x);
  const model = tfl.model({ inputs: input, outputs: apply(L.dense({ units: 3, activation: 'softmax', name: 'predictions' }), x) });
  stem.trainable = !freezeStem;
  return model;
}

const request = (model: tfl.LayersModel, extra: Partial<PhaseEnginesRequest>): PhaseEnginesRequest => ({
  model, choice: 'auto', loss: 'categorical_crossentropy', optimizer: 'adam', frozenPrefixOptions: { cacheDir: false }, ...extra,
});

describe('planPhaseEngines', () => {
  test("'auto' with a frozen stem: the prefix on onnxruntime, the head on the compiled step, one reason per decision", async () => {
    const model = smallModel(true);
    const { plan, frozen } = await planPhaseEngines(request(model, {}));
    try {
      assert.ok(frozen, 'the frozen prefix is opened');
      assert.deepEqual(frozen.head.layers.map((l) => l.name).slice(-3), ['body', 'pool', 'predictions']);
      assert.deepEqual(
        { ...plan, reasons: undefined },
        { choice: 'auto', frozenPrefix: { runsOn: 'onnxruntime', endsAt: 'stem' }, trainingStep: 'onnx-step', validation: 'onnxruntime', recalibration: 'onnxruntime', inference: 'onnxruntime', reasons: undefined },
      );
      assert.deepEqual(plan.reasons, ["frozen prefix up to 'stem' on onnxruntime", 'the compiled ONNX training step supports this model']);
      assert.equal(phaseEngineLabel(plan), 'onnx-frozen');
      assert.equal(
        describeEnginePlan(plan),
        "engine: onnx-frozen: frozen layers up to 'stem' on onnxruntime, training step on the compiled ONNX step, validation on onnxruntime, BatchNorm recalibration on onnxruntime, inference on onnxruntime (frozen prefix up to 'stem' on onnxruntime; the compiled ONNX training step supports this model)",
      );
    } finally {
      await frozen?.dispose();
      frozen?.head.dispose();
    }
  });

  test("'tfjs': every pass on tfjs, nothing split off, whatever is frozen", async () => {
    const { plan, frozen } = await planPhaseEngines(request(smallModel(true), { choice: 'tfjs' }));
    assert.equal(frozen, undefined);
    assert.deepEqual(plan, { choice: 'tfjs', trainingStep: 'tfjs', validation: 'tfjs', recalibration: 'tfjs', inference: 'tfjs', reasons: ['tfjs requested'] });
    assert.equal(describeEnginePlan(plan), 'engine: tfjs: every pass on tfjs (tfjs requested)');
  });

  test("'auto' with nothing frozen and an optimizer the compiled step lacks: tfjs steps and validation, recalibration still on onnxruntime", async () => {
    const { plan, frozen } = await planPhaseEngines(request(smallModel(false), { optimizer: 'rmsprop' }));
    assert.equal(frozen, undefined);
    assert.equal(plan.frozenPrefix, undefined);
    assert.deepEqual([plan.trainingStep, plan.validation, plan.recalibration, plan.inference], ['tfjs', 'tfjs', 'onnxruntime', 'tfjs']);
    assert.match(plan.reasons.join('\n'), /optimizer 'rmsprop' is not one of the compiled step's \(adam, sgd\)/);
    assert.equal(phaseEngineLabel(plan), 'tfjs');
  });

  test("a frozen prefix onnxruntime cannot open: 'auto' trains the whole model and says why, 'onnx' is an error", async () => {
    // An onnxruntime session option it refuses stands in for a prefix that fails to load.
    const broken = { cacheDir: false as const, graphOptimizationLevel: 'nonsense' as never };
    const { plan, frozen } = await planPhaseEngines(request(smallModel(true), { frozenPrefixOptions: broken }));
    assert.equal(frozen, undefined);
    assert.equal(plan.frozenPrefix, undefined);
    assert.equal(plan.trainingStep, 'onnx-step');
    assert.match(plan.reasons[0], /^the frozen layers could not run on onnxruntime \(.*nonsense.*\): they stay in the trained model$/);
    await assert.rejects(planPhaseEngines(request(smallModel(true), { choice: 'onnx', frozenPrefixOptions: broken })), /nonsense/);
  });
});

test('runtimeFor: what a choice means for a pass that could run on either runtime; a bad choice is a UsageError', () => {
  assert.deepEqual(runtimeFor('auto'), { runtime: 'onnxruntime', fallbackToTfjs: true });
  assert.deepEqual(runtimeFor('onnx'), { runtime: 'onnxruntime', fallbackToTfjs: false });
  assert.deepEqual(runtimeFor('tfjs'), { runtime: 'tfjs', fallbackToTfjs: false });
  assert.throws(() => runtimeFor('fast' as never), (e: Error) => e.name === 'UsageError' && /auto, onnx, tfjs/.test(e.message));
});

test('the engine is decided in one place: one call of the phase decision in the run, and fit decides only for a caller that gives an EngineChoice', () => {
  const src = fileURLToPath(new URL('../../src/', import.meta.url));
  const calls: string[] = [];
  const visit = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) visit(path);
      else if (path.endsWith('.ts') && !path.endsWith('engine_decision.ts')) {
        for (const m of readFileSync(path, 'utf8').matchAll(/(?<!function )\b(planPhaseEngines|decideTrainingStep|compiledStepSupport|frozenPrefixEnd|frozenBoundary)\(/g)) calls.push(`${relative(src, path)}: ${m[1]}`);
      }
    }
  };
  visit(src);
  assert.deepEqual(calls.sort(), ['engines/onnx/frozen_features.ts: frozenPrefixEnd', 'train/loop/fit.ts: decideTrainingStep', 'train/run/run.ts: frozenBoundary', 'train/run/run.ts: planPhaseEngines']);
});
