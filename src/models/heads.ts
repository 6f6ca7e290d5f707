// Classification heads: the layers between a no-top backbone and the final Dense, and the final Dense
// itself, which follows from the class mode exactly as in the Keras lesson tlkit grew out of:
// binary -> Dense(1, sigmoid) + binary cross-entropy, sparse -> Dense(n, softmax) + sparse categorical
// cross-entropy, categorical -> Dense(n, softmax) + categorical cross-entropy.
import { tfl } from '../engines/tfjs/tf.js';
import { UsageError, formatValue } from '../core/errors.js';
import type { LayerNames } from './naming.js';

import { LABEL_CLASS_MODES, type LabelClassMode } from '../core/names.js';

export type HeadLayerSpec =
  | { kind: 'flatten' }
  | { kind: 'gap' }
  | { kind: 'gmp' }
  | { kind: 'dense'; units: number; activation?: string }
  | { kind: 'dropout'; rate: number }
  | { kind: 'batchnorm' };

/** The head Keras users reach for first: global average pooling straight into the classifier. */
export const DEFAULT_HEAD: readonly HeadLayerSpec[] = [{ kind: 'gap' }];

export const HEAD_PARTS_HELP = 'flatten, gap, gmp, dense:UNITS[:ACTIVATION], dropout:RATE (0 <= RATE < 1), batchnorm';

/**
 * Activations a head Dense accepts: Keras's names, mapped to tfjs-layers' identifiers where they differ
 * (Keras 'hard_sigmoid' is tfjs 'hardSigmoid').
 */
const ACTIVATIONS: Record<string, string> = {
  linear: 'linear',
  relu: 'relu',
  relu6: 'relu6',
  elu: 'elu',
  selu: 'selu',
  gelu: 'gelu',
  swish: 'swish',
  silu: 'swish',
  mish: 'mish',
  sigmoid: 'sigmoid',
  hard_sigmoid: 'hardSigmoid',
  hardSigmoid: 'hardSigmoid',
  tanh: 'tanh',
  softmax: 'softmax',
  softplus: 'softplus',
  softsign: 'softsign',
};
export const HEAD_ACTIVATIONS: readonly string[] = Object.keys(ACTIVATIONS).filter((a) => a !== 'hardSigmoid');

function badPart(part: string, spec: string, why: string): UsageError {
  return new UsageError(
    `Invalid head part ${formatValue(part)} in head spec ${formatValue(spec)}: ${why}. Accepted parts: ${HEAD_PARTS_HELP}, separated by commas (e.g. 'flatten,dense:16:relu,dropout:0.25').`,
    'head',
  );
}

/** Parses the CLI head syntax, e.g. `flatten,dense:16:relu,dropout:0.25`. An empty spec means no hidden layers. */
export function parseHeadSpec(spec: string): HeadLayerSpec[] {
  if (typeof spec !== 'string') throw new UsageError(`The head spec must be a string. Received: head=${formatValue(spec)}`, 'head');
  if (spec.trim() === '') return [];
  return spec.split(',').map((raw) => {
    const part = raw.trim();
    const [kind, ...args] = part.split(':');
    const noArgs = (k: HeadLayerSpec['kind']): HeadLayerSpec => {
      if (args.length > 0) throw badPart(part, spec, `'${k}' takes no arguments`);
      return { kind: k } as HeadLayerSpec;
    };
    switch (kind) {
      case 'flatten':
      case 'gap':
      case 'gmp':
      case 'batchnorm':
        return noArgs(kind);
      case 'dense': {
        if (args.length < 1 || args.length > 2) throw badPart(part, spec, "write 'dense:UNITS' or 'dense:UNITS:ACTIVATION'");
        const units = Number(args[0]);
        if (args[0].trim() === '' || !Number.isInteger(units) || units <= 0) throw badPart(part, spec, `UNITS must be a positive integer, got '${args[0]}'`);
        if (args.length === 1) return { kind: 'dense', units };
        const activation = args[1];
        if (!(activation in ACTIVATIONS)) throw badPart(part, spec, `unknown activation '${activation}' (accepted: ${HEAD_ACTIVATIONS.join(', ')})`);
        return { kind: 'dense', units, activation };
      }
      case 'dropout': {
        if (args.length !== 1) throw badPart(part, spec, "write 'dropout:RATE'");
        const rate = Number(args[0]);
        if (args[0].trim() === '' || !Number.isFinite(rate) || rate < 0 || rate >= 1) throw badPart(part, spec, `RATE must be a number with 0 <= RATE < 1, got '${args[0]}'`);
        return { kind: 'dropout', rate };
      }
      default:
        throw badPart(part, spec, part === '' ? 'empty part' : `unknown part '${kind}'`);
    }
  });
}

/** Checks a programmatic head (the parsed form) with the same messages as the CLI syntax. */
export function validateHeadSpec(head: readonly HeadLayerSpec[]): HeadLayerSpec[] {
  if (!Array.isArray(head)) throw new UsageError(`\`head\` must be a spec string or an array of head layers. Received: head=${formatValue(head)}`, 'head');
  return head.map((layer) => {
    const text = formatValue(layer);
    switch (layer?.kind) {
      case 'flatten':
      case 'gap':
      case 'gmp':
      case 'batchnorm':
        return { kind: layer.kind };
      case 'dense':
        if (!Number.isInteger(layer.units) || layer.units <= 0) throw badPart(text, text, 'units must be a positive integer');
        if (layer.activation !== undefined && !(layer.activation in ACTIVATIONS)) throw badPart(text, text, `unknown activation '${layer.activation}' (accepted: ${HEAD_ACTIVATIONS.join(', ')})`);
        return { ...layer };
      case 'dropout':
        if (!Number.isFinite(layer.rate) || layer.rate < 0 || layer.rate >= 1) throw badPart(text, text, 'rate must be a number with 0 <= rate < 1');
        return { ...layer };
      default:
        throw badPart(text, text, 'unknown kind');
    }
  });
}

/** Inverse of parseHeadSpec, for reports and run configs. */
export function formatHeadSpec(head: readonly HeadLayerSpec[]): string {
  return head
    .map((l) => {
      if (l.kind === 'dense') return l.activation ? `dense:${l.units}:${l.activation}` : `dense:${l.units}`;
      if (l.kind === 'dropout') return `dropout:${l.rate}`;
      return l.kind;
    })
    .join(',');
}

export function checkClassMode(mode: unknown): LabelClassMode {
  if (typeof mode !== 'string' || !(LABEL_CLASS_MODES as readonly string[]).includes(mode)) {
    throw new UsageError(`\`classMode\` must be one of ${LABEL_CLASS_MODES.join(', ')}. Received: classMode=${formatValue(mode)}`, 'classMode');
  }
  return mode as LabelClassMode;
}

/** Keras's rule: class_mode binary means exactly two classes and one sigmoid output. */
export function checkClassesForMode(classes: unknown, mode: LabelClassMode): number {
  if (typeof classes !== 'number' || !Number.isInteger(classes) || classes <= 0) {
    throw new UsageError(`\`classes\` must be a positive integer. Received: classes=${formatValue(classes)}`, 'classes');
  }
  if (mode === 'binary' && classes !== 2) {
    throw new UsageError(
      `classMode 'binary' needs exactly 2 classes (one sigmoid output). Received: classes=${classes}; use classMode 'sparse' or 'categorical' for more classes.`,
      'classes',
    );
  }
  if (mode !== 'binary' && classes < 2) {
    throw new UsageError(`classMode '${mode}' needs at least 2 classes. Received: classes=${classes}`, 'classes');
  }
  return classes;
}

/** Units and activation of the final Dense for a class mode. */
export function outputLayerFor(mode: LabelClassMode, classes: number): { units: number; activation: 'sigmoid' | 'softmax' } {
  checkClassesForMode(classes, mode);
  return mode === 'binary' ? { units: 1, activation: 'sigmoid' } : { units: classes, activation: 'softmax' };
}

/**
 * Keras auto name for a layer, skipping names the backbone already uses (Keras's per-session counter
 * has the same effect: a head Dense after a backbone that owns 'dense' is 'dense_1').
 */
function headName(names: LayerNames, base: string, taken: ReadonlySet<string>): string {
  for (;;) {
    const name = names.auto(base);
    if (!taken.has(name)) return name;
  }
}

function shapeText(shape: readonly (number | null)[]): string {
  return `(${shape.map((d) => (d === null ? 'None' : String(d))).join(', ')})`;
}

export interface AppliedHead {
  output: tfl.SymbolicTensor;
  layerNames: string[];
}

/**
 * Applies hidden head layers and the class-mode output Dense to `features`. Names come from `names`
 * (one LayerNames per model) and avoid `taken` (the backbone's layer names).
 */
export function applyHead(
  features: tfl.SymbolicTensor,
  head: readonly HeadLayerSpec[],
  output: { classes: number; classMode: LabelClassMode },
  names: LayerNames,
  taken: ReadonlySet<string>,
): AppliedHead {
  const final = outputLayerFor(checkClassMode(output.classMode), output.classes);
  let x = features;
  const layerNames: string[] = [];
  const push = (layer: tfl.layers.Layer): void => {
    x = layer.apply(x) as tfl.SymbolicTensor;
    layerNames.push(layer.name);
  };
  for (const spec of validateHeadSpec(head)) {
    switch (spec.kind) {
      case 'flatten':
        push(tfl.layers.flatten({ name: headName(names, 'flatten', taken) }));
        break;
      case 'gap':
      case 'gmp':
        if (x.shape.length !== 4) {
          throw new UsageError(
            `Head part '${spec.kind}' pools a 4D feature map, but the features here have shape ${shapeText(x.shape)} (the backbone already pools when \`pooling\` is set). Drop '${spec.kind}' or the pooling option.`,
            'head',
          );
        }
        push(
          spec.kind === 'gap'
            ? tfl.layers.globalAveragePooling2d({ name: headName(names, 'global_average_pooling2d', taken) })
            : tfl.layers.globalMaxPooling2d({ name: headName(names, 'global_max_pooling2d', taken) }),
        );
        break;
      case 'dense':
        push(
          tfl.layers.dense({
            units: spec.units,
            activation: ACTIVATIONS[spec.activation ?? 'linear'] as 'linear',
            name: headName(names, 'dense', taken),
          }),
        );
        break;
      case 'dropout':
        push(tfl.layers.dropout({ rate: spec.rate, name: headName(names, 'dropout', taken) }));
        break;
      case 'batchnorm':
        // Keras BatchNormalization defaults (momentum 0.99, epsilon 1e-3) are tfjs's too.
        push(tfl.layers.batchNormalization({ name: headName(names, 'batch_normalization', taken) }));
        break;
    }
  }
  if (x.shape.length !== 2) {
    throw new UsageError(
      `The head must end in a flat feature vector before the output Dense, but it ends with shape ${shapeText(x.shape)}. Add 'gap', 'gmp' or 'flatten' to the head (the default head is 'gap').`,
      'head',
    );
  }
  push(tfl.layers.dense({ units: final.units, activation: final.activation, name: headName(names, 'dense', taken) }));
  return { output: x, layerNames };
}
