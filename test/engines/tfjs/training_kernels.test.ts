// Each wasm training kernel against the cpu backend's kernel of the same name on random inputs.
// The cpu kernels are called directly on the cpu backend, so the test never switches backends.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tf, initEngine } from '../../../src/engines/tfjs/tf.js';
import { kernelLimits } from '../../../src/engines/tfjs/kernels/conv_geometry.js';
import { trainingKernels } from '../../../src/engines/tfjs/register_kernels.js';

type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
type Attrs = Record<string, unknown>;

function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

function values(shape: number[], seed: number): Float32Array {
  const next = random(seed);
  const out = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < out.length; i++) out[i] = next() * 2;
  return out;
}

function onCpu(kernelName: string, inputs: Record<string, { values: Float32Array; shape: number[] }>, attrs: Attrs): Float32Array {
  const cpu = tf.findBackend('cpu');
  const kernel = tf.getKernel(kernelName, 'cpu');
  assert.ok(cpu && kernel, `cpu backend has ${kernelName}`);
  const infos: Record<string, tf.TensorInfo> = {};
  for (const [name, input] of Object.entries(inputs)) {
    infos[name] = { dataId: cpu.write(input.values, input.shape, 'float32'), shape: input.shape, dtype: 'float32' };
  }
  const out = kernel.kernelFunc({ inputs: infos, backend: cpu, attrs: attrs as tf.NamedAttrMap }) as tf.TensorInfo;
  const result = cpu.readSync(out.dataId) as Float32Array;
  cpu.disposeData(out.dataId);
  for (const info of Object.values(infos)) cpu.disposeData(info.dataId);
  return result;
}

function onWasm(kernelName: string, inputs: Record<string, { values: Float32Array; shape: number[] }>, attrs: Attrs): { data: Float32Array; shape: number[] } {
  const tensors: Record<string, tf.Tensor> = {};
  for (const [name, input] of Object.entries(inputs)) tensors[name] = tf.tensor(input.values, input.shape);
  const before = tf.memory().numTensors;
  const out = tf.engine().runKernel(kernelName, tensors, attrs as tf.NamedAttrMap) as tf.Tensor;
  const data = out.dataSync() as Float32Array;
  const shape = out.shape;
  out.dispose();
  assert.equal(tf.memory().numTensors, before, `${kernelName} leaves no tensors behind`);
  // Inputs still readable: the kernel did not free or overwrite them.
  for (const [name, t] of Object.entries(tensors)) {
    assert.deepEqual(t.dataSync(), inputs[name].values, `${kernelName} leaves input '${name}' intact`);
    t.dispose();
  }
  return { data, shape };
}

function assertClose(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 0;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  assert.ok(Number.isFinite(worst) && worst <= 1e-4 * Math.max(1, scale), `${what}: max error ${worst} (scale ${scale})`);
}

interface ConvCase {
  x: [number, number, number, number];
  filter: [number, number, number, number];
  strides: number | [number, number];
  pad: Pad;
  dilations?: number | [number, number];
}

function label(c: ConvCase): string {
  return `x ${c.x} filter ${c.filter} strides ${c.strides} pad ${JSON.stringify(c.pad)} dilations ${c.dilations ?? 1}`;
}

function outShape(c: ConvCase, depthwise: boolean): number[] {
  return tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, c.dilations ?? 1, c.pad, undefined, depthwise).outShape;
}

const explicitPad: Pad = [[0, 0], [1, 2], [0, 1], [0, 0]];

const convCases: ConvCase[] = [
  { x: [2, 7, 5, 3], filter: [3, 3, 3, 4], strides: 1, pad: 'same' },
  { x: [2, 7, 5, 3], filter: [3, 3, 3, 4], strides: 2, pad: 'same' },
  { x: [2, 8, 6, 3], filter: [3, 3, 3, 4], strides: 2, pad: 'valid' },
  { x: [3, 6, 9, 5], filter: [3, 2, 5, 6], strides: [1, 2], pad: explicitPad },
  { x: [2, 6, 5, 8], filter: [1, 1, 8, 16], strides: 1, pad: 'valid' },
  { x: [2, 6, 5, 8], filter: [1, 1, 8, 16], strides: 2, pad: 'same' },
  { x: [1, 11, 11, 3], filter: [7, 7, 3, 8], strides: 2, pad: 'valid' },
  { x: [2, 5, 5, 17], filter: [3, 3, 17, 3], strides: 1, pad: 'valid' },
];

const depthwiseCases: ConvCase[] = [
  { x: [2, 7, 5, 3], filter: [3, 3, 3, 1], strides: 1, pad: 'same' },
  { x: [2, 7, 5, 3], filter: [3, 3, 3, 2], strides: 2, pad: 'same' },
  { x: [2, 8, 6, 4], filter: [3, 3, 4, 1], strides: 2, pad: 'valid' },
  { x: [3, 6, 9, 5], filter: [3, 2, 5, 2], strides: [1, 2], pad: explicitPad },
  { x: [2, 9, 8, 3], filter: [3, 3, 3, 1], strides: 1, pad: 'same', dilations: 2 },
  { x: [2, 9, 8, 3], filter: [3, 3, 3, 2], strides: 1, pad: 'valid', dilations: [2, 1] },
  { x: [1, 12, 12, 6], filter: [5, 5, 6, 1], strides: 2, pad: 'same' },
  { x: [2, 7, 6, 3], filter: [3, 3, 3, 1], strides: 2, pad: explicitPad },
  { x: [2, 9, 7, 4], filter: [3, 2, 4, 1], strides: [2, 1], pad: 'valid' },
  // Padding wider than the filter: dx cannot be a padded forward correlation, so the loop path runs.
  { x: [2, 6, 6, 3], filter: [3, 3, 3, 1], strides: 1, pad: [[0, 0], [3, 0], [0, 4], [0, 0]] },
];

describe('wasm training kernels match the cpu backend', () => {
  before(async () => {
    assert.equal(await initEngine('wasm'), 'wasm');
  });

  it('registers every training kernel for wasm', () => {
    for (const config of trainingKernels) {
      assert.equal(tf.getKernel(config.kernelName, 'wasm')?.kernelFunc, config.kernelFunc, config.kernelName);
    }
  });

  for (const [i, c] of convCases.entries()) {
    it(`Conv2DBackpropFilter and Conv2DBackpropInput: ${label(c)}`, () => {
      const x = { values: values(c.x, 10 + i), shape: c.x };
      const filter = { values: values(c.filter, 20 + i), shape: c.filter };
      const dyShape = outShape(c, false);
      const dy = { values: values(dyShape, 30 + i), shape: dyShape };
      const common = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: undefined };

      const filterAttrs = { ...common, filterShape: c.filter };
      const dw = onWasm('Conv2DBackpropFilter', { x, dy }, filterAttrs);
      assert.deepEqual(dw.shape, c.filter);
      assertClose(dw.data, onCpu('Conv2DBackpropFilter', { x, dy }, filterAttrs), 'dW');

      const inputAttrs = { ...common, inputShape: c.x };
      const dx = onWasm('Conv2DBackpropInput', { dy, filter }, inputAttrs);
      assert.deepEqual(dx.shape, c.x);
      assertClose(dx.data, onCpu('Conv2DBackpropInput', { dy, filter }, inputAttrs), 'dx');
    });
  }

  it('Conv2D gradients are the same when the batch is split into chunks', () => {
    const c = convCases[3];
    const x = { values: values(c.x, 41), shape: c.x };
    const filter = { values: values(c.filter, 42), shape: c.filter };
    const dyShape = outShape(c, false);
    const dy = { values: values(dyShape, 43), shape: dyShape };
    const common = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC' };
    const saved = kernelLimits.maxColsFloats;
    kernelLimits.maxColsFloats = 1; // one image per chunk
    try {
      const dw = onWasm('Conv2DBackpropFilter', { x, dy }, { ...common, filterShape: c.filter });
      assertClose(dw.data, onCpu('Conv2DBackpropFilter', { x, dy }, { ...common, filterShape: c.filter }), 'dW chunked');
      const dx = onWasm('Conv2DBackpropInput', { dy, filter }, { ...common, inputShape: c.x });
      assertClose(dx.data, onCpu('Conv2DBackpropInput', { dy, filter }, { ...common, inputShape: c.x }), 'dx chunked');
    } finally {
      kernelLimits.maxColsFloats = saved;
    }
  });

  // tfjs's cpu depthwise gradients ignore dilation (tfjs only differentiates undilated convolutions), so
  // the reference for a dilated case is the undilated kernel run with the filter spread out by zeros,
  // which is what a dilated filter is; its dW is then read back at the dilated taps.
  function spread(filter: Float32Array, shape: number[], dh: number, dw: number): { values: Float32Array; shape: number[] } {
    const [kh, kw, c, m] = shape;
    const big = [(kh - 1) * dh + 1, (kw - 1) * dw + 1, c, m];
    const out = new Float32Array(big[0] * big[1] * c * m);
    for (let y = 0; y < kh; y++) {
      for (let x = 0; x < kw; x++) {
        out.set(filter.subarray((y * kw + x) * c * m, (y * kw + x + 1) * c * m), (y * dh * big[1] + x * dw) * c * m);
      }
    }
    return { values: out, shape: big };
  }

  function gather(spreadValues: Float32Array, shape: number[], dh: number, dw: number): Float32Array {
    const [kh, kw, c, m] = shape;
    const bigW = (kw - 1) * dw + 1;
    const out = new Float32Array(kh * kw * c * m);
    for (let y = 0; y < kh; y++) {
      for (let x = 0; x < kw; x++) {
        out.set(spreadValues.subarray((y * dh * bigW + x * dw) * c * m, (y * dh * bigW + x * dw + 1) * c * m), (y * kw + x) * c * m);
      }
    }
    return out;
  }

  for (const [i, c] of depthwiseCases.entries()) {
    it(`DepthwiseConv2dNativeBackpropFilter and -Input: ${label(c)}`, () => {
      const x = { values: values(c.x, 50 + i), shape: c.x };
      const filter = { values: values(c.filter, 60 + i), shape: c.filter };
      const dyShape = outShape(c, true);
      const dy = { values: values(dyShape, 70 + i), shape: dyShape };
      const common = { strides: c.strides, pad: c.pad, dilations: c.dilations ?? 1, dimRoundingMode: undefined };

      const [dh, dw] = typeof common.dilations === 'number' ? [common.dilations, common.dilations] : common.dilations;
      const big = spread(filter.values, c.filter, dh, dw);
      const reference = { ...common, dilations: 1 };

      const filterAttrs = { ...common, filterShape: c.filter };
      const gradW = onWasm('DepthwiseConv2dNativeBackpropFilter', { x, dy }, filterAttrs);
      assert.deepEqual(gradW.shape, c.filter);
      const expectedW = onCpu('DepthwiseConv2dNativeBackpropFilter', { x, dy }, { ...reference, filterShape: big.shape });
      assertClose(gradW.data, gather(expectedW, c.filter, dh, dw), 'dW');

      const inputAttrs = { ...common, inputShape: c.x };
      const gradX = onWasm('DepthwiseConv2dNativeBackpropInput', { dy, filter }, inputAttrs);
      assert.deepEqual(gradX.shape, c.x);
      assertClose(gradX.data, onCpu('DepthwiseConv2dNativeBackpropInput', { dy, filter: big }, { ...reference, inputShape: c.x }), 'dx');
    });
  }
});
