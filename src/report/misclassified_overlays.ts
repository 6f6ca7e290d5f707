// Grad-CAM overlays of the misclassified held-out images, for the compare report: for each backbone
// that saved a model, its first `perBackbone` misclassified images (the worst first, as evaluate lists them) explained for the class it wrongly
// predicted (where did it see a dog in this cat?), as small PNG data URIs.
import { resolve } from 'node:path';
import type { CompareRow } from '../compare/types.js';
import { createExplainer, explanationHeatmap } from '../inference/explain.js';
import { heatmapOverlayPng } from '../inference/heatmap_overlay.js';
import { loadModel } from '../weights/saved_model.js';

export const DEFAULT_EXPLAINED_PER_BACKBONE = 12;

/** Overlays keyed by row id, then by the misclassified file's path as the row lists it. A row that cannot be explained is left out. */
export async function misclassifiedOverlays(rows: CompareRow[], heldOutDir: string, perBackbone = DEFAULT_EXPLAINED_PER_BACKBONE): Promise<Record<string, Record<string, string>>> {
  const out: Record<string, Record<string, string>> = {};
  if (perBackbone <= 0) return out;
  for (const row of rows) {
    if (!row.ok || !row.runDir || row.misclassified.length === 0) continue;
    const shown = row.misclassified.slice(0, perBackbone);
    try {
      const { model, metadata } = await loadModel(row.runDir);
      try {
        const explainer = await createExplainer(model, metadata, { heatmapSize: 'features' });
        try {
          const explanations = await explainer.explainFiles(shown.map((m) => resolve(heldOutDir, m.file)));
          const overlays: Record<string, string> = {};
          for (const [i, e] of explanations.entries()) {
            if (e.error) continue;
            const png = await heatmapOverlayPng(e.file, explanationHeatmap(e), { maxSide: 112 });
            overlays[shown[i].file] = `data:image/png;base64,${png.toString('base64')}`;
          }
          out[row.id] = overlays;
        } finally {
          await explainer.dispose();
        }
      } finally {
        model.dispose();
      }
    } catch {
      // The report is written without this backbone's overlays (its model moved, or has no feature map).
    }
  }
  return out;
}
