// Keras gives auto-named layers per-model names ('conv2d', 'conv2d_1', ...). tfjs-layers uses a
// process-wide counter instead, so building a model twice would rename its layers. Every zoo builder
// names every layer, through one LayerNames per model.

export class LayerNames {
  private readonly counts = new Map<string, number>();

  /** Keras's unique_object_name: 'conv2d' first, then 'conv2d_1', 'conv2d_2', ... */
  auto(base: string): string {
    const n = this.counts.get(base) ?? 0;
    this.counts.set(base, n + 1);
    return n === 0 ? base : `${base}_${n}`;
  }
}
