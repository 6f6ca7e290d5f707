import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSelectionRule, selectBackbone, describeRule } from '../../src/compare/selection_rule.js';
import { UsageError } from '../../src/core/errors.js';

// The reference experiment's table: similar accuracies, so the fastest wins.
const reference = [
  { id: 'mobilenet', accuracy: 0.984, elapsedSeconds: 265, totalParams: 4031730, trainAccuracy: 0.99 },
  { id: 'resnet50', accuracy: 0.99, elapsedSeconds: 568, totalParams: 25193394, trainAccuracy: 1.0 },
  { id: 'inception_v3', accuracy: 0.99, elapsedSeconds: 511, totalParams: 22622034, trainAccuracy: 1.0 },
  { id: 'xception', accuracy: 0.99, elapsedSeconds: 988, totalParams: 22467162, trainAccuracy: 0.995 },
];

test('default rule: accuracy within 0.01 of the best, then the fastest -> mobilenet, as the reference concluded', () => {
  const r = selectBackbone(reference, parseSelectionRule(undefined));
  assert.equal(r?.id, 'mobilenet');
  assert.match(r!.reason, /within 0\.010 of the best \(0\.990/);
  assert.match(r!.reason, /faster than the most accurate/);
});

test('a stricter tolerance changes the pick: within 0.001 keeps the 0.990 group, fastest is inception_v3', () => {
  assert.equal(selectBackbone(reference, parseSelectionRule('within=0.001,time'))?.id, 'inception_v3');
});

test('tie-break by params and by gap', () => {
  assert.equal(selectBackbone(reference, parseSelectionRule('within=0.001,params'))?.id, 'xception');
  assert.equal(selectBackbone(reference, parseSelectionRule('within=0.001,gap'))?.id, 'xception');
});

test('rule text round-trips into words', () => {
  assert.equal(describeRule(parseSelectionRule('0.02,params,time')), 'accuracy within 0.020 of the best, then the fewest parameters, then the fastest');
});

test('bad rules are usage errors that list what is accepted', () => {
  assert.throws(() => parseSelectionRule('within=2'), UsageError);
  assert.throws(() => parseSelectionRule('cheapest'), /tie-breaks among time, params, gap, accuracy/);
});

test('no results, no recommendation', () => {
  assert.equal(selectBackbone([], parseSelectionRule(undefined)), null);
});
