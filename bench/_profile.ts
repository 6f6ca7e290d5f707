import { tf, tfl, initEngine } from '../src/engines/tfjs/tf.js';
import { getBackbone } from '../src/models/zoo.js';
function cpuMs() { const u = process.cpuUsage(); return (u.user + u.system) / 1000; }
async function main() {
  await initEngine('wasm');
  const size = Number(process.env.SIZE ?? 224), batch = Number(process.env.BATCH ?? 16);
  const stats = new Map<string, { ms: number; n: number }>();
  let depth = 0;
  for (const k of tf.getKernelsForBackend('wasm')) {
    const f = k.kernelFunc;
    (k as { kernelFunc: unknown }).kernelFunc = (args: unknown) => {
      if (depth > 0) return f(args as never);
      depth++; const t = cpuMs();
      try { return f(args as never); } finally {
        depth--; const e = stats.get(k.kernelName) ?? { ms: 0, n: 0 }; e.ms += cpuMs() - t; e.n++; stats.set(k.kernelName, e);
      }
    };
  }
  const backbone = getBackbone('mobilenet_v2').build({ includeTop: false, weights: null, inputShape: [size, size, 3] });
  const inp = tfl.input({ shape: [size, size, 3] });
  let h = backbone.apply(inp) as tfl.SymbolicTensor;
  h = tfl.layers.globalAveragePooling2d({}).apply(h) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 2, activation: 'softmax' }).apply(h) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: inp, outputs: out });
  model.compile({ optimizer: tf.train.adam(2e-5), loss: 'categoricalCrossentropy' });
  const x = tf.randomUniform([batch, size, size, 3], -1, 1);
  const y = tf.oneHot(tf.tensor1d(Array.from({ length: batch }, (_, i) => i % 2), 'int32'), 2);
  await model.trainOnBatch(x, y);
  stats.clear();
  const t0 = cpuMs(), w0 = Date.now();
  await model.trainOnBatch(x, y);
  const cpu = cpuMs() - t0, wall = Date.now() - w0;
  const rows = [...stats.entries()].sort((a, b) => b[1].ms - a[1].ms);
  const total = rows.reduce((s, r) => s + r[1].ms, 0);
  for (const [name, e] of rows.slice(0, 25)) console.log(name.padEnd(40), e.ms.toFixed(0).padStart(7), String(e.n).padStart(5));
  console.log(`kernels cpu ms ${total.toFixed(0)}; step cpu ms ${cpu.toFixed(0)} (=> ${(batch * 1000 / cpu).toFixed(2)} img/s of cpu), wall ${wall} ms; heap ${(tf.memory().numBytes / 1e6).toFixed(0)} MB; rss ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB`);
}
main();
