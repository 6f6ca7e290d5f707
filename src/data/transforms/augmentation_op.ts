// One random augmentation (Keras ImageDataGenerator kwarg) as one object, after torchvision's
// transforms v2: its options and their checks, the draw of its parameters from the seeded generator,
// and how it is applied: a factor of the one affine resample, or a pixel kernel run after it (which the
// resample may do while it writes, the fused pass). The registry (registry.ts) lists the ops in
// Keras's draw order; ImageDataGenerator, the fused pass (apply_transform.ts) and the CLI flags
// (cli/augmentation_flags.ts) read it.
//
// Adding an op: one file here exporting its AugmentationOp, one line in registry.ts (its place in the
// draw order, and its options interface in AugmentationOptions), its TransformParams field(s) in
// apply_transform.ts. Tests: test/data/transforms*.test.ts call the kernel with explicit parameters
// against reference values; test/data/augmentation_ops.test.ts checks every registered op's contract.
import { invalidArgument } from '../../core/errors.js';
import type { Random } from '../../core/random.js';
import type { M3, ResampleOptions } from './affine.js';
import type { TransformParams } from './apply_transform.js';

/**
 * A command-line flag for one of an op's options: `--${flag}` sets `option`. `value` says how its text
 * parses: 'number' a number >= 0; 'number-or-list' that, or a list a,b,c; 'number-or-pair' that, or
 * LO,HI; 'pair' LO,HI; 'switch' a flag without a value (true).
 */
export interface AugmentationFlag {
  flag: string;
  option: string;
  value: 'number' | 'number-or-list' | 'number-or-pair' | 'pair' | 'switch';
  /** The value's placeholder in the usage text (DEG, F...). */
  metavar?: string;
  help: string;
}

/** What the fused pass knows when it asks a pixel op whether the resample can do its work. */
export interface FuseContext {
  /** Every value the resample writes is in [0, 255] (bytes in, a fill value in range). */
  inByteRange: boolean;
  channels: number;
}

export interface PixelKernel {
  /** Place in Keras's order of application after the resample (ascending). */
  order: number;
  /** Applies the op in place on an HWC float image. */
  kernel(x: Float32Array, height: number, width: number, channels: number, params: TransformParams): void;
  /** The resample's options that do the same work as it writes, when it can; undefined when it cannot. */
  fuse?(params: TransformParams, context: FuseContext): Partial<ResampleOptions> | undefined;
}

// Options and their resolved form are records of Keras kwargs; each op reads the ones it declares.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Options = Record<string, any>;

export interface AugmentationOp {
  name: string;
  /** The Keras kwargs (camelCase) this op reads. */
  options: readonly string[];
  /** Checks the op's kwargs (UsageError naming the kwarg, showing the value) and returns them resolved, Keras's defaults filled in. */
  check(options: Options): Options;
  /** Whether the resolved options draw anything (a generator with no enabled op is deterministic). */
  enabled(resolved: Options): boolean;
  /**
   * Draws the op's parameters for an image of `shape` [h, w, c] into `params` (the neutral value when
   * disabled). The ops draw in registry order from one generator: keep an op's draws where they are, or
   * seeded runs change.
   */
  draw(resolved: Options, rng: Random, shape: readonly number[], params: TransformParams): void;
  /** Whether `params` ask this op to change the image. */
  changes(params: TransformParams): boolean;
  /** An affine op's factor of the transform matrix, in (x, y) (null: identity). Factors multiply in registry order. */
  affine?(params: TransformParams): M3 | null;
  pixel?: PixelKernel;
  flags: readonly AugmentationFlag[];
}

export function checkNonNegative(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw invalidArgument(name, value, 'a number >= 0');
  return value;
}

export function checkPair(name: string, value: unknown, what: string): [number, number] {
  if (!Array.isArray(value) || value.length !== 2 || value.some((v) => typeof v !== 'number' || !Number.isFinite(v))) throw invalidArgument(name, value, what);
  return [value[0], value[1]];
}

