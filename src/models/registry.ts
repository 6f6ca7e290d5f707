// The one list of backbones (torchvision's register_model / list_models / get_model). `tlkit models`,
// compare and the CLI iterate it; nothing else keeps a list of backbones.
import { UsageError } from '../core/errors.js';
import type { BackboneDefinition } from './types.js';

const registry = new Map<string, BackboneDefinition>();

export function registerBackbone(definition: BackboneDefinition): BackboneDefinition {
  if (registry.has(definition.id)) throw new Error(`backbone '${definition.id}' is registered twice`);
  registry.set(definition.id, definition);
  return definition;
}

export function listBackbones(): BackboneDefinition[] {
  return [...registry.values()];
}

export function getBackbone(id: string): BackboneDefinition {
  const found = registry.get(id) ?? registry.get(id.toLowerCase().replace(/-/g, '_'));
  if (!found) {
    throw new UsageError(`Unknown backbone '${id}'. Available: ${[...registry.keys()].join(', ')}`, 'backbone');
  }
  return found;
}
