// The augmentation-op registry (src/data/transforms/registry.ts): every op keeps the contract the
// generator, the fused pass and the CLI rely on, and the ops draw in Keras's order (seeded runs must
// give the batches they gave before).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Random } from '../../src/core/random.js';
import { UsageError } from '../../src/core/errors.js';
import { ImageDataGenerator } from '../../src/data/image_data_generator.js';
import { AUGMENTATION_OPS } from '../../src/data/transforms/registry.js';
import { isIdentityTransform, type TransformParams } from '../../src/data/transforms/apply_transform.js';
import { augmentationFlagSpec, augmentationFlagUsage, augmentationOptionsFromFlags } from '../../src/cli/augmentation_flags.js';
import { parseFlags } from '../../src/cli/args.js';

test('every op: its own kwargs, a neutral default that draws nothing, one way to apply, flags for its kwargs', () => {
  const seen = new Set<string>();
  for (const op of AUGMENTATION_OPS) {
    for (const key of op.options) {
      assert.ok(!seen.has(key), `${key} belongs to one op`);
      seen.add(key);
    }
    const resolved = op.check({});
    assert.deepEqual(Object.keys(resolved).sort(), [...op.options].sort(), `${op.name} resolves exactly its kwargs`);
    assert.equal(op.enabled(resolved), false, `${op.name} is off by default`);
    // Off: the neutral parameters, and not one number taken from the generator.
    const rng = new Random(3);
    const params: TransformParams = {};
    op.draw(resolved, rng, [8, 6, 3], params);
    assert.equal(op.changes(params), false, `${op.name} draws the identity when off`);
    assert.equal(rng.random(), new Random(3).random(), `${op.name} draws nothing when off`);
    assert.ok(Boolean(op.affine) !== Boolean(op.pixel), `${op.name} is either an affine factor or a pixel kernel`);
    for (const flag of op.flags) {
      assert.ok(op.options.includes(flag.option), `--${flag.flag} sets one of ${op.name}'s kwargs`);
      assert.ok(flag.flag in augmentationFlagSpec, `--${flag.flag} is a CLI flag`);
      assert.ok(augmentationFlagUsage.includes(`--${flag.flag}`), `--${flag.flag} is in the usage text`);
    }
  }
});

test('a bad kwarg is refused by its op, naming it and showing the value', () => {
  assert.throws(() => new ImageDataGenerator({ rotationRange: -1 }), (e: Error) => e instanceof UsageError && /rotationRange/.test(e.message) && /-1/.test(e.message));
  assert.throws(() => new ImageDataGenerator({ zoomRange: [1] as unknown as [number, number] }), (e: Error) => e instanceof UsageError && /zoomRange/.test(e.message));
  assert.throws(() => new ImageDataGenerator({ widthShiftRange: [0.1, Number.NaN] }), (e: Error) => e instanceof UsageError && /widthShiftRange/.test(e.message));
});

test("the ops draw in Keras's order: theta, tx, ty, shear, zx, zy, flips, channel shift, brightness", () => {
  const gen = new ImageDataGenerator({
    rotationRange: 30,
    widthShiftRange: 0.2,
    heightShiftRange: 3,
    shearRange: 10,
    zoomRange: [0.8, 1.3],
    horizontalFlip: true,
    verticalFlip: true,
    channelShiftRange: 20,
    brightnessRange: [0.7, 1.1],
  });
  const params = gen.drawTransform([10, 20, 3], new Random(11));
  // The same draws made by hand, one generator, in Keras's get_random_transform order.
  const rng = new Random(11);
  const theta = rng.uniform(-30, 30);
  const tx = rng.uniform(-0.2, 0.2) * 20;
  const ty = rng.int(3) * (rng.random() < 0.5 ? -1 : 1);
  const shear = rng.uniform(-10, 10);
  const zx = rng.uniform(0.8, 1.3);
  const zy = rng.uniform(0.8, 1.3);
  const flipHorizontal = rng.random() < 0.5;
  const flipVertical = rng.random() < 0.5;
  const channelShiftIntensity = rng.uniform(-20, 20);
  const brightness = rng.uniform(0.7, 1.1);
  assert.deepEqual(params, { theta, tx, ty, shear, zx, zy, flipHorizontal, flipVertical, channelShiftIntensity, brightness });
  assert.equal(gen.isDeterministic(), false);
  assert.equal(isIdentityTransform(params), false);
  assert.equal(new ImageDataGenerator({ rescale: 1 / 255 }).isDeterministic(), true);
});

test("each op's flags parse into its kwargs, which the generator accepts", () => {
  const { values } = parseFlags(
    ['--rotation-range', '5', '--width-shift-range', '0.1,0.2', '--height-shift-range', '2', '--shear-range', '4', '--zoom-range', '0.2', '--horizontal-flip', '--vertical-flip', '--channel-shift-range', '9', '--brightness-range', '0.5,1.5'],
    augmentationFlagSpec,
    'usage',
  );
  const options = augmentationOptionsFromFlags(values);
  assert.deepEqual(options, {
    rotationRange: 5,
    widthShiftRange: [0.1, 0.2],
    heightShiftRange: 2,
    shearRange: 4,
    zoomRange: 0.2,
    horizontalFlip: true,
    verticalFlip: true,
    channelShiftRange: 9,
    brightnessRange: [0.5, 1.5],
  });
  const gen = new ImageDataGenerator(options);
  for (const op of AUGMENTATION_OPS) assert.ok(op.enabled(gen.options), `${op.name} enabled by its flags`);
});
