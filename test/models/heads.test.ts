import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { tfl, initEngine } from '../../src/engines/tfjs/tf.js';
import { UsageError } from '../../src/core/errors.js';
import { LayerNames } from '../../src/models/naming.js';
import {
  applyHead,
  checkClassesForMode,
  checkClassMode,
  formatHeadSpec,
  outputLayerFor,
  parseHeadSpec,
  validateHeadSpec,
} from '../../src/models/heads.js';
import { lossForClassMode } from '../../src/core/names.js';

before(async () => {
  await initEngine();
});

test('parseHeadSpec reads the lesson head and every part kind', () => {
  assert.deepEqual(parseHeadSpec('flatten,dense:16:relu,dropout:0.25'), [
    { kind: 'flatten' },
    { kind: 'dense', units: 16, activation: 'relu' },
    { kind: 'dropout', rate: 0.25 },
  ]);
  assert.deepEqual(parseHeadSpec('gap, batchnorm ,dense:8,gmp'), [{ kind: 'gap' }, { kind: 'batchnorm' }, { kind: 'dense', units: 8 }, { kind: 'gmp' }]);
  assert.deepEqual(parseHeadSpec(''), []);
  assert.equal(formatHeadSpec(parseHeadSpec('flatten,dense:16:relu,dropout:0.25')), 'flatten,dense:16:relu,dropout:0.25');
});

test('parseHeadSpec names the bad part and lists the accepted parts', () => {
  const cases: [string, string, RegExp][] = [
    ['flatten,conv:3', 'conv:3', /unknown part 'conv'/],
    ['dense', 'dense', /dense:UNITS/],
    ['dense:0', 'dense:0', /UNITS must be a positive integer, got '0'/],
    ['dense:1.5', 'dense:1.5', /positive integer/],
    ['dense:16:relux', 'dense:16:relux', /unknown activation 'relux' \(accepted: .*relu/],
    ['dropout:1', 'dropout:1', /0 <= RATE < 1, got '1'/],
    ['dropout:abc', 'dropout:abc', /RATE/],
    ['dropout', 'dropout', /dropout:RATE/],
    ['flatten:2', 'flatten:2', /takes no arguments/],
    ['gap,,dense:2', '', /empty part/],
  ];
  for (const [spec, part, why] of cases) {
    assert.throws(
      () => parseHeadSpec(spec),
      (e: unknown) => {
        assert.ok(e instanceof UsageError, `${spec}: ${String(e)}`);
        assert.equal(e.argument, 'head');
        assert.ok(e.message.includes(`"${part}"`), `${spec}: message names the part: ${e.message}`);
        assert.match(e.message, why);
        assert.match(e.message, /Accepted parts: flatten, gap, gmp, dense:UNITS\[:ACTIVATION\], dropout:RATE/);
        return true;
      },
    );
  }
});

test('validateHeadSpec checks programmatic heads like the CLI syntax', () => {
  assert.deepEqual(validateHeadSpec([{ kind: 'dense', units: 4, activation: 'tanh' }]), [{ kind: 'dense', units: 4, activation: 'tanh' }]);
  assert.throws(() => validateHeadSpec([{ kind: 'dense', units: -1 }]), UsageError);
  assert.throws(() => validateHeadSpec([{ kind: 'dropout', rate: 2 }]), UsageError);
  assert.throws(() => validateHeadSpec([{ kind: 'pool' } as never]), UsageError);
});

test('class mode decides the loss and the output layer, as in Keras', () => {
  assert.equal(lossForClassMode('binary'), 'binary_crossentropy');
  assert.equal(lossForClassMode('sparse'), 'sparse_categorical_crossentropy');
  assert.equal(lossForClassMode('categorical'), 'categorical_crossentropy');
  assert.deepEqual(outputLayerFor('binary', 2), { units: 1, activation: 'sigmoid' });
  assert.deepEqual(outputLayerFor('sparse', 2), { units: 2, activation: 'softmax' });
  assert.deepEqual(outputLayerFor('categorical', 5), { units: 5, activation: 'softmax' });
  assert.throws(() => checkClassMode('multi'), /one of binary, sparse, categorical. Received: classMode="multi"/);
  assert.throws(() => checkClassesForMode(3, 'binary'), /binary' needs exactly 2 classes.*Received: classes=3/);
  assert.throws(() => checkClassesForMode(0, 'sparse'), /positive integer. Received: classes=0/);
  assert.throws(() => checkClassesForMode(2.5, 'categorical'), /positive integer/);
  assert.throws(() => checkClassesForMode(1, 'categorical'), /at least 2 classes/);
});

function features(shape: number[]): tfl.SymbolicTensor {
  return tfl.input({ shape });
}

test('applyHead builds the lesson head with Keras auto names and the class-mode output', () => {
  const x = features([7, 7, 8]);
  const head = applyHead(x, parseHeadSpec('flatten,dense:16:relu,dropout:0.25'), { classes: 2, classMode: 'sparse' }, new LayerNames(), new Set());
  assert.deepEqual(head.layerNames, ['flatten', 'dense', 'dropout', 'dense_1']);
  assert.deepEqual(head.output.shape, [null, 2]);
  const model = tfl.model({ inputs: x, outputs: head.output });
  // Flatten 392 -> Dense(16): 392*16+16; Dense(2): 16*2+2.
  assert.equal(model.countParams(), 392 * 16 + 16 + 34);
  const last = model.getLayer('dense_1').getConfig();
  assert.equal(last.activation, 'softmax');
  assert.equal(model.getLayer('dense').getConfig().activation, 'relu');
  assert.equal(model.getLayer('dropout').getConfig().rate, 0.25);

  const binary = applyHead(features([7, 7, 8]), parseHeadSpec('flatten,dense:16:relu,dropout:0.25'), { classes: 2, classMode: 'binary' }, new LayerNames(), new Set());
  assert.deepEqual(binary.output.shape, [null, 1]);
  assert.equal(binary.output.sourceLayer.getConfig().activation, 'sigmoid');
});

test('applyHead defaults to linear Dense, skips names the backbone owns and builds the same names twice', () => {
  const names = () => applyHead(features([3, 3, 4]), [{ kind: 'gap' }, { kind: 'batchnorm' }, { kind: 'dense', units: 4 }], { classes: 3, classMode: 'categorical' }, new LayerNames(), new Set(['dense', 'batch_normalization']));
  const a = names();
  assert.deepEqual(a.layerNames, ['global_average_pooling2d', 'batch_normalization_1', 'dense_1', 'dense_2']);
  assert.deepEqual(names().layerNames, a.layerNames);
  const gmp = applyHead(features([3, 3, 4]), parseHeadSpec('gmp'), { classes: 2, classMode: 'sparse' }, new LayerNames(), new Set());
  assert.deepEqual(gmp.layerNames, ['global_max_pooling2d', 'dense']);
  const hidden = applyHead(features([3, 3, 4]), parseHeadSpec('gap,dense:5'), { classes: 2, classMode: 'sparse' }, new LayerNames(), new Set());
  assert.equal((hidden.output.sourceLayer.inboundNodes[0].inboundLayers[0].getConfig() as { activation: string }).activation, 'linear');
});

test('applyHead refuses heads that cannot end in a class vector', () => {
  assert.throws(
    () => applyHead(features([1024]), parseHeadSpec('gap'), { classes: 2, classMode: 'sparse' }, new LayerNames(), new Set()),
    (e: unknown) => e instanceof UsageError && /'gap' pools a 4D feature map.*\(None, 1024\)/.test(e.message),
  );
  assert.throws(
    () => applyHead(features([7, 7, 8]), parseHeadSpec('dense:4'), { classes: 2, classMode: 'sparse' }, new LayerNames(), new Set()),
    (e: unknown) => e instanceof UsageError && /ends with shape \(None, 7, 7, 4\).*Add 'gap', 'gmp' or 'flatten'/.test(e.message),
  );
  assert.throws(() => applyHead(features([7, 7, 8]), [], { classes: 3, classMode: 'binary' }, new LayerNames(), new Set()), /exactly 2 classes/);
  // A pooled backbone (pooling: 'avg') takes an empty head or dense layers directly.
  const flat = applyHead(features([1024]), [], { classes: 4, classMode: 'sparse' }, new LayerNames(), new Set());
  assert.deepEqual(flat.output.shape, [null, 4]);
});
