// The gradients tlkit replaces on wasm (BatchNorm in training mode, FusedBatchNorm, Relu, Relu6,
// ClipByValue) and the memory-sharing Identity, checked against tfjs's own on the cpu backend.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { assertClose } from '../../helpers/assert_close.js';
import { tf, tfl, initEngine } from '../../../src/engines/tfjs/tf.js';
import { batchNormTraining } from '../../../src/engines/tfjs/kernels/batch_norm_training.js';
import { spawnSync } from 'node:child_process';

function values(n: number, seed: number, scale = 2, offset = 0): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32 - 0.5) * scale + offset;
  }
  return out;
}

/** Runs fn on a backend and returns its outputs' values; tensors made inside live on that backend. */
async function on(backend: 'wasm' | 'cpu', fn: () => tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  // The wasm side runs bare so that a leak in tlkit's ops fails the test; tfjs's reference runs in tidy.
  const outs = backend === 'wasm' ? fn() : tf.tidy(fn);
  const data = outs.map((o) => Float32Array.from(o.dataSync()));
  tf.dispose(outs);
  assert.equal(tf.memory().numTensors, before, `no tensors left behind on ${backend}`);
  return data;
}


describe('gradients replaced on wasm match tfjs on cpu', () => {
  before(async () => {
    assert.equal(await initEngine('wasm'), 'wasm');
  });
  after(async () => {
    await tf.setBackend('wasm');
  });

  const shape = [3, 5, 4, 6];
  const size = 3 * 5 * 4 * 6;
  const x = values(size, 1, 4, 1.5); // a mean far from 0 checks the centred variance
  const upstream = values(size, 2);
  const gamma = values(6, 3, 1, 1);
  const beta = values(6, 4);

  for (const variant of ['scale and center', 'no scale (InceptionV3)', 'no center'] as const) {
    it(`batchNormTraining equals moments + batchNorm in value, gradients and statistics: ${variant}`, async () => {
      const useGamma = variant !== 'no scale (InceptionV3)';
      const useBeta = variant !== 'no center';
      const epsilon = 1e-3;
      // Gradients with respect to x and whichever of gamma / beta the variant uses.
      const differentiate = (f: (xi: tf.Tensor, gi: tf.Tensor, bi: tf.Tensor) => tf.Scalar, xt: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
        if (useGamma && useBeta) return tf.grads(f)([xt, g, b]);
        if (useGamma) return tf.grads((xi: tf.Tensor, gi: tf.Tensor) => f(xi, gi, b))([xt, g]);
        return tf.grads((xi: tf.Tensor, bi: tf.Tensor) => f(xi, g, bi))([xt, b]);
      };
      const wasm = await on('wasm', () => {
        const xt = tf.tensor(x, shape);
        const g = tf.tensor(gamma);
        const b = tf.tensor(beta);
        const dy = tf.tensor(upstream, shape);
        const f = (xi: tf.Tensor, gi: tf.Tensor, bi: tf.Tensor) => {
          const r = batchNormTraining(xi, useGamma ? gi : null, useBeta ? bi : null, epsilon);
          r.mean.dispose();
          r.variance.dispose();
          return tf.sum(tf.mul(r.y, dy)) as tf.Scalar;
        };
        const grads = differentiate(f, xt, g, b);
        const r = batchNormTraining(xt, useGamma ? g : null, useBeta ? b : null, epsilon);
        const out = [r.y, r.mean, r.variance, ...grads];
        tf.dispose([xt, g, b, dy]);
        return out;
      });
      const cpu = await on('cpu', () => {
        const xt = tf.tensor(x, shape);
        const g = tf.tensor(gamma);
        const b = tf.tensor(beta);
        const dy = tf.tensor(upstream, shape);
        const forward = (xi: tf.Tensor, gi: tf.Tensor, bi: tf.Tensor) => {
          const m = tf.moments(xi, [0, 1, 2]);
          // tfjs cannot differentiate batchNorm without scale (it clones the missing input), so the
          // reference spells out gamma = 1 / beta = 0.
          const scale = useGamma ? gi : tf.onesLike(gi);
          const offset = useBeta ? bi : tf.zerosLike(bi);
          return { y: tf.batchNorm(xi, m.mean, m.variance, offset, scale, epsilon), m };
        };
        const grads = differentiate((xi, gi, bi) => tf.sum(tf.mul(forward(xi, gi, bi).y, dy)), xt, g, b);
        const r = forward(xt, g, b);
        const out = [r.y, r.m.mean, r.m.variance, ...grads];
        tf.dispose([xt, g, b, dy]);
        return out;
      });
      const names = ['y', 'mean', 'variance', 'dx', ...(useGamma ? ['dgamma'] : []), ...(useBeta ? ['dbeta'] : [])];
      assert.equal(wasm.length, names.length);
      for (let i = 0; i < names.length; i++) assertClose(wasm[i], cpu[i], names[i]);
    });
  }

  it('a BatchNormalization layer in training mode takes the fast path and updates its moving statistics like tfjs-layers', async () => {
    const run = (backend: 'wasm' | 'cpu') =>
      on(backend, () => {
        const layer = tfl.layers.batchNormalization({ momentum: 0.9, epsilon: 1e-3 });
        const xt = tf.tensor(x, shape);
        layer.build(shape);
        const initial = [tf.tensor(gamma), tf.tensor(beta), tf.fill([6], 0.5), tf.fill([6], 2)];
        layer.setWeights(initial);
        tf.dispose(initial);
        const y = layer.apply(xt, { training: true }) as tf.Tensor;
        const [movingMean, movingVariance] = layer.getWeights().slice(2).map((w) => w.clone());
        const out = [y, movingMean, movingVariance];
        xt.dispose();
        for (const w of layer.weights) w.dispose();
        return out;
      });
    const wasm = await run('wasm');
    const cpu = await run('cpu');
    assertClose(wasm[0], cpu[0], 'y');
    assertClose(wasm[1], cpu[1], 'moving mean');
    assertClose(wasm[2], cpu[2], 'moving variance');
  });

  it('FusedBatchNorm gradients (inference-style batchNorm with given statistics)', async () => {
    const compute = () => {
      const xt = tf.tensor(x, shape);
      const mean = tf.tensor(values(6, 5, 1, 1));
      const variance = tf.tensor(values(6, 6, 1, 1.5));
      const offset = tf.tensor(beta);
      const scale = tf.tensor(gamma);
      const dy = tf.tensor(upstream, shape);
      const grads = tf.grads((a: tf.Tensor, m: tf.Tensor, v: tf.Tensor, o: tf.Tensor, s: tf.Tensor) =>
        tf.sum(tf.mul(tf.batchNorm(a, m, v, o, s, 1e-3), dy)),
      )([xt, mean, variance, offset, scale]);
      tf.dispose([xt, mean, variance, offset, scale, dy]);
      return grads;
    };
    const wasm = await on('wasm', compute);
    const cpu = await on('cpu', compute);
    for (const [i, name] of ['x', 'mean', 'variance', 'offset', 'scale'].entries()) assertClose(wasm[i], cpu[i], `d${name}`);
  });

  it('Relu, Relu6 and ClipByValue gradients, including the interval ends', async () => {
    const base = Array.from(values(200, 7, 16, 2));
    base.push(0, 6, -1, 5, 6.5, -0.5); // exact ends: relu/relu6 pass nothing at 0, clip passes both ends
    const input = Float32Array.from(base);
    const dyValues = values(input.length, 8);
    const compute = () => {
      const xt = tf.tensor(input);
      const dy = tf.tensor(dyValues);
      const out = [
        tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.relu(a), dy)))(xt),
        tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.relu6(a), dy)))(xt),
        tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.clipByValue(a, -1, 5), dy)))(xt),
      ];
      tf.dispose([xt, dy]);
      return out;
    };
    const wasm = await on('wasm', compute);
    const cpu = await on('cpu', compute);
    // + 0 turns -0 (0 * negative dy) into 0: the same gradient.
    const plain = (a: Float32Array) => Array.from(a, (v) => v + 0);
    assert.deepEqual(plain(wasm[0]), plain(cpu[0]), 'relu');
    assert.deepEqual(plain(wasm[1]), plain(cpu[1]), 'relu6');
    assert.deepEqual(plain(wasm[2]), plain(cpu[2]), 'clipByValue');
  });

  it('a ReLU(maxValue 6) layer runs as one Relu6 op with the values and gradient of relu + clip', async () => {
    const input = Float32Array.from([...values(60, 9, 16, 2), 0, 6, -1, 6.5]);
    const dyValues = values(input.length, 10);
    const wasm = await on('wasm', () => {
      const layer = tfl.layers.reLU({ maxValue: 6 });
      const xt = tf.tensor(input);
      const dy = tf.tensor(dyValues);
      const y = layer.apply(xt) as tf.Tensor;
      const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(layer.apply(a) as tf.Tensor, dy)))(xt);
      tf.dispose([xt, dy]);
      return [y, g];
    });
    const reference = await on('cpu', () => {
      const xt = tf.tensor(input);
      const dy = tf.tensor(dyValues);
      const f = (a: tf.Tensor) => tf.clipByValue(tf.relu(a), 0, 6);
      return [f(xt), tf.grad((a: tf.Tensor) => tf.sum(tf.mul(f(a), dy)))(xt)];
    });
    const plain = (a: Float32Array) => Array.from(a, (v) => v + 0);
    assert.deepEqual(plain(wasm[0]), plain(reference[0]), 'values');
    assert.deepEqual(plain(wasm[1]), plain(reference[1]), 'gradient');
    let kernels: string[] = [];
    await tf.setBackend('wasm');
    const profile = await tf.profile(() => {
      const xt = tf.tensor(input);
      const y = tfl.layers.reLU({ maxValue: 6 }).apply(xt) as tf.Tensor;
      tf.dispose([xt, y]);
    });
    kernels = profile.kernels.map((k) => k.name);
    assert.deepEqual(kernels, ['Relu6']);
  });

  it('Slice on wasm equals the cpu backend for every rank, dtype and kind of crop', async () => {
    const cases: [number[], number[], number[]][] = [
      [[10], [3], [5]],
      [[4, 6], [1, 0], [2, 6]],
      [[4, 6], [0, 2], [4, 3]],
      [[3, 5, 7], [1, 1, 2], [2, 3, 4]],
      [[2, 9, 9, 5], [0, 0, 0, 0], [2, 8, 8, 5]], // the ZeroPadding2D gradient
      [[2, 4, 4, 12], [0, 0, 0, 4], [2, 4, 4, 5]], // the Concatenate gradient
      [[3, 4, 4, 6], [1, 0, 0, 0], [1, 4, 4, 6]],
      [[2, 3, 4, 5, 6], [1, 1, 0, 2, 1], [1, 2, 4, 2, 5]],
    ];
    for (const dtype of ['float32', 'int32', 'bool'] as const) {
      for (const [shape, begin, size] of cases) {
        const n = shape.reduce((a, b) => a * b, 1);
        const data = Array.from(values(n, 11), (v) => (dtype === 'bool' ? (v > 0 ? 1 : 0) : Math.round(v * 1000)));
        const run = (backend: 'wasm' | 'cpu') =>
          on(backend, () => {
            const t = tf.tensor(data, shape, dtype);
            const sliced = tf.slice(t, begin, size);
            const s = tf.cast(sliced, 'float32');
            tf.dispose([t, sliced]);
            return [s];
          });
        const [wasm] = await run('wasm');
        const [cpu] = await run('cpu');
        assert.deepEqual(Array.from(wasm), Array.from(cpu), `${dtype} ${shape} begin ${begin} size ${size}`);
      }
    }
  });

  it('Identity on wasm shares memory and keeps it alive while any sharer lives', async () => {
    await tf.setBackend('wasm');
    const before = tf.memory().numTensors;
    const a = tf.tensor([1, 2, 3]);
    const b = tf.clone(a);
    a.dispose();
    assert.deepEqual(Array.from(b.dataSync()), [1, 2, 3]);
    const c = tf.add(b, 1);
    assert.deepEqual(Array.from(c.dataSync()), [2, 3, 4]);
    tf.dispose([b, c]);
    assert.equal(tf.memory().numTensors, before);
  });
});

describe('BatchNormalization without gamma or beta trains on the cpu backend too', () => {
  after(async () => {
    await tf.setBackend('wasm');
  });
  it('InceptionV3-style BN (scale=false): training-mode output, gradients and moving statistics', async () => {
    await tf.setBackend('cpu');
    const layer = tfl.layers.batchNormalization({ scale: false, momentum: 0.9, epsilon: 1e-3 });
    const x = tf.tensor4d(values(2 * 3 * 3 * 4, 7, 4, 1), [2, 3, 3, 4]);
    layer.build(x.shape);
    const beta = (layer.getWeights()[0] as tf.Tensor).shape;
    assert.deepEqual(beta, [4]);
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(layer.apply(x, { training: true }) as tf.Tensor, tf.reshape(tf.range(0, 72), [2, 3, 3, 4]))) as tf.Scalar);
    // The reference: the formula by hand (biased batch variance), on the same backend.
    const { mean, variance } = tf.moments(x, [0, 1, 2]);
    const expected = tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-3)));
    const y = layer.apply(x, { training: true }) as tf.Tensor;
    assertClose(y.dataSync() as Float32Array, expected.dataSync() as Float32Array, 'y');
    assert.ok(Number.isFinite(value.dataSync()[0]));
    assert.equal(Object.keys(grads).length, 1, 'beta is the only trainable weight');
    // Two training calls moved the moving mean twice towards the batch mean: m = mean * (1 - 0.9^2).
    const movingMean = layer.getWeights()[1].dataSync() as Float32Array;
    assertClose(movingMean, tf.mul(mean, 1 - 0.81).dataSync() as Float32Array, 'moving mean');
  });
});

describe('a process on the cpu fallback (TLKIT_BACKEND=cpu)', () => {
  it('trains a BN layer without gamma (the fast path is installed on every backend)', () => {
    const script = `
      const { initEngine, tf, tfl } = await import('./src/engines/tfjs/tf.ts');
      const backend = await initEngine();
      const layer = tfl.layers.batchNormalization({ scale: false });
      const x = tf.randomUniform([2, 3, 3, 4], 0, 1, 'float32', 1);
      layer.build(x.shape);
      const { grads } = tf.variableGrads(() => tf.sum(tf.square(layer.apply(x, { training: true }))));
      console.log(backend, Object.keys(grads).length, Number.isFinite(grads[Object.keys(grads)[0]].dataSync()[0]));`;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env: { ...process.env, TLKIT_BACKEND: 'cpu' }, encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr.slice(-800));
    assert.match(run.stdout, /^cpu 1 true$/m);
  });
});
