// Times tlkit's weight I/O on this machine: decoding nsfwjs's bundled models, loading them into
// tlkit backbones, and writing/reading a Keras .h5 of InceptionV3 (the largest offline backbone).
// Run: node --import tsx bench/weights_io.ts
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initEngine } from '../src/engines/tfjs/tf.js';
import { getBackbone } from '../src/models/zoo.js';
import { readNsfwjsModel, loadOfflineWeights } from '../src/weights/offline.js';
import { saveH5 } from '../src/weights/h5_export.js';
import { loadH5Weights } from '../src/weights/h5_import.js';

const time = async <T>(f: () => T | Promise<T>): Promise<[T, number]> => {
  const t0 = performance.now();
  const r = await f();
  return [r, (performance.now() - t0) / 1000];
};

await initEngine();
const dir = mkdtempSync(join(tmpdir(), 'tlkit-bench-weights-'));
for (const [id, size] of [['mobilenet_v2', 224], ['inception_v3', 299]] as const) {
  const [, decode] = await time(() => readNsfwjsModel(id));
  const backbone = getBackbone(id).build({ includeTop: false, inputShape: [size, size, 3] });
  const [loaded, load] = await time(() => loadOfflineWeights(backbone, 'nsfwjs', id));
  const path = join(dir, `${id}.h5`);
  const [, write] = await time(() => saveH5(backbone, path, { weightsOnly: true }));
  const [, read] = await time(() => loadH5Weights(backbone, path));
  const mb = statSync(path).size / 1e6;
  console.log(`${id}: nsfwjs decode ${decode.toFixed(2)} s, load ${loaded.weightsLoaded} weights ${load.toFixed(2)} s; .h5 ${mb.toFixed(1)} MB write ${write.toFixed(2)} s, read+load ${read.toFixed(2)} s`);
}
