// Weights read from somewhere (a Keras .h5, an offline package) and matched onto a tfjs-layers model
// the way Keras's legacy loader does: by layer name, or by topological order of the layers that have
// weights; inside a layer, by order, with a shape check. Nothing is assigned unless everything
// matches, and a mismatch lists the missing, unexpected and wrongly shaped weights (nanoGPT's
// from_pretrained habit) instead of stopping at the first one.
import { tf, type tfl } from '../engines/tfjs/tf.js';
import { WeightsError } from '../core/errors.js';

export interface StoredWeight {
  /** As stored, e.g. 'Conv1/kernel:0' or 'conv2d_1/kernel'. */
  name: string;
  shape: number[];
  values: Float32Array;
}

export interface StoredLayer {
  name: string;
  /** In Keras's legacy order: trainable weights, then non-trainable ones. Empty for layers without weights. */
  weights: StoredWeight[];
}

export interface StoredWeights {
  /** Where they come from, for messages: a file path or 'nsfwjs:mobilenet_v2'. */
  source: string;
  /** Every stored layer in the stored model's order. */
  layers: StoredLayer[];
  kerasVersion?: string;
  backend?: string;
}

export type MatchMode = 'by_name' | 'topological';

export interface ApplyWeightsOptions {
  /** Match layers by name (Keras `by_name=True`) instead of by topological order (Keras's default for .h5). */
  byName?: boolean;
  /** With byName: skip layers whose weights do not fit instead of failing (Keras `skip_mismatch`). */
  skipMismatch?: boolean;
}

export interface ApplyWeightsResult {
  mode: MatchMode;
  layersLoaded: number;
  weightsLoaded: number;
  /** Layers skipped by skipMismatch, with the reason. */
  skipped: string[];
}

interface ModelWeight {
  layer: string;
  name: string;
  variable: tfl.LayerVariable;
}

/** A layer's weights in Keras's `_legacy_weights` order: trainable first, then non-trainable. */
export function legacyWeights(layer: tfl.layers.Layer): tfl.LayerVariable[] {
  return [...layer.trainableWeights, ...layer.nonTrainableWeights];
}

/** 'kernel' from 'conv1/kernel' or 'conv1/kernel_3'; nested models keep their inner path. */
export function weightShortName(layerName: string, variable: tfl.LayerVariable): string {
  const full = variable.originalName ?? variable.name;
  return full.startsWith(`${layerName}/`) ? full.slice(layerName.length + 1) : full.split('/').pop()!;
}

function modelLayersWithWeights(model: tfl.LayersModel): { name: string; weights: ModelWeight[] }[] {
  return model.layers
    .map((layer) => ({
      name: layer.name,
      weights: legacyWeights(layer).map((variable) => ({ layer: layer.name, name: `${layer.name}/${weightShortName(layer.name, variable)}`, variable })),
    }))
    .filter((l) => l.weights.length > 0);
}

const shapeText = (shape: readonly (number | null)[]) => `[${shape.join(',')}]`;
const sameShape = (a: readonly (number | null)[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
const displayName = (stored: string) => stored.replace(/:\d+$/, '');

class Mismatch {
  missing: string[] = [];
  unexpected: string[] = [];
  wrongShape: string[] = [];
  get empty(): boolean {
    return this.missing.length + this.unexpected.length + this.wrongShape.length === 0;
  }

  /** Compares one model layer with one stored layer, weight by weight in order. */
  compareLayer(modelLayer: { name: string; weights: ModelWeight[] }, stored: StoredLayer, describePair: string): boolean {
    let ok = true;
    const n = Math.max(modelLayer.weights.length, stored.weights.length);
    for (let i = 0; i < n; i++) {
      const m = modelLayer.weights[i];
      const s = stored.weights[i];
      if (m && !s) {
        this.missing.push(`${m.name} ${shapeText(m.variable.shape)}${describePair}`);
        ok = false;
      } else if (s && !m) {
        this.unexpected.push(`${displayName(s.name)} ${shapeText(s.shape)}${describePair}`);
        ok = false;
      } else if (m && s && !sameShape(m.variable.shape, s.shape)) {
        this.wrongShape.push(`${m.name}: model ${shapeText(m.variable.shape)}, stored ${displayName(s.name)} ${shapeText(s.shape)}`);
        ok = false;
      }
    }
    return ok;
  }

  toError(source: string, mode: MatchMode, modelName: string): WeightsError {
    const list = (items: string[]) => {
      const shown = items.slice(0, 25).map((s) => `    ${s}`);
      if (items.length > 25) shown.push(`    ... and ${items.length - 25} more`);
      return shown.join('\n');
    };
    const parts = [
      `Weights from ${source} do not fit model '${modelName}' (matched ${mode === 'by_name' ? 'by layer name' : 'by topological order, as Keras loads .h5 files'}): ` +
        `${this.missing.length} missing, ${this.unexpected.length} unexpected, ${this.wrongShape.length} wrongly shaped. Nothing was loaded.`,
    ];
    if (this.missing.length) parts.push(`  missing (in the model, not in the weights):\n${list(this.missing)}`);
    if (this.unexpected.length) parts.push(`  unexpected (in the weights, not in the model):\n${list(this.unexpected)}`);
    if (this.wrongShape.length) parts.push(`  wrongly shaped:\n${list(this.wrongShape)}`);
    if (mode === 'topological' && this.missing.length + this.unexpected.length > 0) {
      parts.push('  (by order, a layer count difference usually means another architecture, alpha or includeTop.)');
    }
    return new WeightsError(parts.join('\n'));
  }
}

/**
 * Assigns stored weights to a model. Checks every layer first and assigns only when all fit
 * (or, with byName + skipMismatch, assigns the layers that fit).
 */
export function applyStoredWeights(model: tfl.LayersModel, stored: StoredWeights, options: ApplyWeightsOptions = {}): ApplyWeightsResult {
  const mode: MatchMode = options.byName ? 'by_name' : 'topological';
  const modelLayers = modelLayersWithWeights(model);
  const storedLayers = stored.layers.filter((l) => l.weights.length > 0);
  const mismatch = new Mismatch();
  const pairs: { model: { name: string; weights: ModelWeight[] }; stored: StoredLayer }[] = [];
  const skipped: string[] = [];

  if (mode === 'by_name') {
    const byName = new Map(storedLayers.map((l) => [l.name, l]));
    const modelNames = new Set(modelLayers.map((l) => l.name));
    for (const layer of modelLayers) {
      const s = byName.get(layer.name);
      if (!s) {
        if (options.skipMismatch) skipped.push(`${layer.name}: not in the weights`);
        else for (const w of layer.weights) mismatch.missing.push(`${w.name} ${shapeText(w.variable.shape)}`);
        continue;
      }
      if (options.skipMismatch) {
        const probe = new Mismatch();
        if (probe.compareLayer(layer, s, '')) pairs.push({ model: layer, stored: s });
        else skipped.push(`${layer.name}: ${[...probe.missing, ...probe.unexpected, ...probe.wrongShape].join('; ')}`);
      } else if (mismatch.compareLayer(layer, s, '')) {
        pairs.push({ model: layer, stored: s });
      }
    }
    if (!options.skipMismatch) {
      for (const s of storedLayers) {
        if (!modelNames.has(s.name)) for (const w of s.weights) mismatch.unexpected.push(`${displayName(w.name)} ${shapeText(w.shape)}`);
      }
    }
  } else {
    const n = Math.max(modelLayers.length, storedLayers.length);
    for (let i = 0; i < n; i++) {
      const m = modelLayers[i];
      const s = storedLayers[i];
      if (m && !s) for (const w of m.weights) mismatch.missing.push(`${w.name} ${shapeText(w.variable.shape)} (layer #${i + 1} with weights)`);
      else if (s && !m) for (const w of s.weights) mismatch.unexpected.push(`${displayName(w.name)} ${shapeText(w.shape)} (stored layer #${i + 1} with weights)`);
      else if (m && s) {
        const pair = m.name === s.name ? '' : ` (stored layer '${s.name}')`;
        if (mismatch.compareLayer(m, s, pair)) pairs.push({ model: m, stored: s });
      }
    }
  }

  if (!mismatch.empty) throw mismatch.toError(stored.source, mode, model.name);

  let weightsLoaded = 0;
  for (const { model: m, stored: s } of pairs) {
    m.weights.forEach((w, i) => {
      // Stored values are float32; an integer variable (Normalization's count) gets them cast back.
      const stored = s.weights[i]!;
      const value = w.variable.dtype === 'int32' ? tf.tensor(Int32Array.from(stored.values, Math.round), stored.shape, 'int32') : tf.tensor(stored.values, stored.shape, 'float32');
      w.variable.write(value);
      value.dispose();
      weightsLoaded++;
    });
  }
  return { mode, layersLoaded: pairs.length, weightsLoaded, skipped };
}
