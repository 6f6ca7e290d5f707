// onnxruntime's blocked-channel (NCHWc) CPU kernels, used directly as ops of the domain
// 'com.microsoft.nchwc'. onnxruntime applies them by itself only to convolutions with constant
// weights; called explicitly they also take weights computed in the graph, which the depthwise filter
// gradient uses (conv_gradients.ts). The block size depends on the CPU (16 with AVX-512, 8 with AVX2,
// none elsewhere), so it is probed once by running ReorderInput on a known tensor.
import * as ort from 'onnxruntime-node';
import { onnx } from '../graph_builder.js';
import type { Ops } from './ops.js';

export const NCHWC_DOMAIN = 'com.microsoft.nchwc';

let blockSize: number | undefined;
let probed: Promise<number | undefined> | undefined;

/** The NCHWc block size of this machine's onnxruntime, once `probeNchwcBlockSize` has run; else undefined. */
export function nchwcBlockSize(): number | undefined {
  return blockSize;
}

/**
 * Runs ReorderInput on a [1, 32, 1, 2] tensor holding c * 2 + w: in the blocked layout the value of
 * (c = 0, w = 1) sits at index B. Undefined when the ops are missing (no NCHWc kernels on this CPU).
 */
export function probeNchwcBlockSize(): Promise<number | undefined> {
  probed ??= (async () => {
    try {
      const info = (name: string) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: [1, 32, 1, 2].map((d) => ({ dimValue: d })) } } } });
      const proto = onnx.ModelProto.create({
        irVersion: 8,
        opsetImport: [{ domain: '', version: 17 }, { domain: NCHWC_DOMAIN, version: 1 }],
        graph: { name: 'probe', node: [{ opType: 'ReorderInput', domain: NCHWC_DOMAIN, input: ['x'], output: ['y'] }], input: [info('x')], output: [info('y')] },
      });
      const session = await ort.InferenceSession.create(onnx.ModelProto.encode(proto).finish(), { logSeverityLevel: 4 });
      try {
        const x = new ort.Tensor('float32', Float32Array.from({ length: 64 }, (_, i) => i), [1, 32, 1, 2]);
        const y = (await session.run({ x })).y.data as Float32Array;
        const index = y.indexOf(1); // (c = 0, w = 1)
        blockSize = index > 1 && 32 % index === 0 && y[1] === 2 ? index : undefined; // y[1] is (c = 1, w = 0)
      } finally {
        await session.release();
      }
    } catch {
      blockSize = undefined;
    }
    return blockSize;
  })();
  return probed;
}

/**
 * y = depthwise Conv(x, w) (+ bias) on the NCHWc kernels: x is reordered into blocks and back, the
 * weight [C, 1, kh, kw] goes into the blocked layout [C/B, 1, kh, kw, B]. The caller checks that
 * `channels` is a multiple of the block (nchwcBlockSize()).
 */
export function nchwcDepthwiseConv(o: Ops, x: string, w: string, bias: string | undefined, attrs: { kernel_shape: number[]; strides: number[]; pads: number[] }, channels: number, hint: string): string {
  const block = blockSize;
  if (block === undefined || channels % block !== 0) throw new Error(`internal: ${channels} channels do not fit the NCHWc block (${block ?? 'none'})`);
  const [kh, kw] = attrs.kernel_shape;
  const blocked = o.reshape(o.transpose(o.reshape(w, [channels / block, block, 1, kh, kw], `${hint}_w5`), [0, 2, 3, 4, 1], `${hint}_wb`), [channels, 1, kh, kw], `${hint}_wblocked`);
  const xc = reorderInput(o, x, `${hint}_xc`);
  const yc = o.domainOp(NCHWC_DOMAIN, 'Conv', bias ? [xc, blocked, bias] : [xc, blocked], `${hint}_yc`, { ...attrs, dilations: [1, 1], group: channels });
  return o.domainOp(NCHWC_DOMAIN, 'ReorderOutput', [yc], hint, { channels });
}

const reordered = new WeakMap<Ops, Map<string, string>>();

/**
 * ReorderInput of the NCHW value `x` into the blocked layout [N, C/B, H, W, B], once per value and
 * graph. Its bytes are also the blocked depthwise weight layout [N*C/B, 1, H, W, B] of the N*C maps, so
 * the depthwise filter gradient takes dy from here as its kernel, sharing the input gradient's reorder.
 */
export function reorderInput(o: Ops, x: string, hint: string): string {
  let memo = reordered.get(o);
  if (!memo) reordered.set(o, (memo = new Map()));
  let xc = memo.get(x);
  if (!xc) {
    xc = o.domainOp(NCHWC_DOMAIN, 'ReorderInput', [x], hint);
    memo.set(x, xc);
  }
  return xc;
}
