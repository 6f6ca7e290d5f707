// compare.json: the machine-readable result of a comparison.
import type { CompareResult } from '../compare/types.js';

/** The `--json` shape the issue pins, plus failures and the rule. */
export function compareJson(result: CompareResult): Record<string, unknown> {
  return {
    backbones: result.rows.map((r) =>
      r.ok
        ? {
            id: r.id,
            totalParams: r.totalParams,
            trainableParams: r.trainableParams,
            nonTrainableParams: r.nonTrainableParams,
            elapsedSeconds: Number(r.elapsedSeconds.toFixed(3)),
            accuracy: r.accuracy,
            valLoss: r.valLoss,
            epochs: r.epochs,
            engine: r.engine,
            weights: r.weightsSource,
            ...runIdentity(r),
            linearProbeAccuracy: r.linearProbeAccuracy ?? null,
          }
        : { id: r.id, error: r.error, ...runIdentity(r) },
    ),
    recommendation: result.recommendation,
    rule: result.rule,
    dataset: result.dataset,
    ...(result.audit ? { audit: result.audit } : {}),
  };
}

/** A sweep's rows also carry their backbone and grid values (without a grid the id is the backbone). */
function runIdentity(row: CompareResult['rows'][number]): Record<string, unknown> {
  return row.settings && Object.keys(row.settings).length > 0 ? { backbone: row.backbone, settings: row.settings } : {};
}
