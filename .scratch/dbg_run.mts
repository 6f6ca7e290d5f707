import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { trainRun } from '/work/main/src/train/run.ts';
import { writeSquaresFolder } from '/work/main/test/train/helpers.ts';
const root = await mkdtemp(join(tmpdir(), 'dbg-'));
await writeSquaresFolder(join(root, 'data'), 16, 32, 41);
const t0 = performance.now();
const result = await trainRun({ dataDir: join(root, 'data'), validationSplit: 0.25, backbone: 'mobilenet', alpha: 0.25, weights: 'none', inputSize: 32,
  classMode: 'sparse', head: 'gap', epochs: 1, batchSize: 4, learningRate: 0.01, seed: 5, engine: 'onnx', outDir: join(root, 'run') },
  { onLog: (m) => console.log(((performance.now()-t0)/1000).toFixed(1), m), onProgress: (e) => { if (e.done) console.log(((performance.now()-t0)/1000).toFixed(1), 'progress', e.task, e.current); } });
console.log('done', result.engine, result.phaseEngines);
process.exit(0);
