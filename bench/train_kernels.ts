// Per-kernel CPU time of the wasm training kernels against the forward kernel of the same layer, on
// MobileNetV2's layer shapes (batch 4): how far each gradient is from its forward pass.
//   npx tsx bench/train_kernels.ts
import { tf, initEngine } from '../src/engines/tfjs/tf.js';
function cpuMs() { const u = process.cpuUsage(); return (u.user + u.system) / 1000; }
function time(f: () => tf.Tensor, reps = 5): number {
  f().dispose();
  const t = cpuMs();
  for (let i = 0; i < reps; i++) f().dispose();
  return (cpuMs() - t) / reps;
}
async function main() {
  await initEngine('wasm');
  const N = 4;
  const cases: [string, number, number, number, number, number][] = [
    // name, H, Cin, Cout, k, stride
    ['1x1 expand 56 24->144', 56, 24, 144, 1, 1],
    ['1x1 project 56 144->24', 56, 144, 24, 1, 1],
    ['1x1 expand 112 16->96', 112, 16, 96, 1, 1],
    ['3x3 s2 stem 224 3->32', 224, 3, 32, 3, 2],
    ['1x1 14 96->576', 14, 96, 576, 1, 1],
  ];
  for (const [name, H, Cin, Cout, k, s] of cases) {
    const x = tf.randomNormal([N, H, H, Cin]);
    const w = tf.randomNormal([k, k, Cin, Cout]);
    const y = tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, s, 'same');
    const dy = tf.randomNormal(y.shape);
    const fwd = time(() => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, s, 'same'));
    const dw = time(() => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: s, pad: 'same', dataFormat: 'NHWC', filterShape: [k, k, Cin, Cout] } as never) as tf.Tensor);
    const dx = time(() => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { strides: s, pad: 'same', dataFormat: 'NHWC', inputShape: x.shape } as never) as tf.Tensor);
    const mm = time(() => tf.matMul(tf.reshape(dy, [-1, Cout]) as tf.Tensor2D, tf.randomNormal([Cout, Cin * k * k]) as tf.Tensor2D));
    console.log(`${name.padEnd(26)} fwd ${fwd.toFixed(1).padStart(6)} dW ${dw.toFixed(1).padStart(6)} dx ${dx.toFixed(1).padStart(6)} matmul(dy@W^T) ${mm.toFixed(1).padStart(6)} ms`);
    tf.dispose([x, w, y, dy]);
  }
  const dcases: [string, number, number, number][] = [['dw 3x3 112 c32 s1', 112, 32, 1], ['dw 3x3 112->56 c96 s2', 112, 96, 2], ['dw 3x3 56 c144 s1', 56, 144, 1], ['dw 3x3 14 c576 s1', 14, 576, 1]];
  for (const [name, H, C, s] of dcases) {
    const x = tf.randomNormal([N, H, H, C]);
    const w = tf.randomNormal([3, 3, C, 1]);
    const y = tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, s, 'same');
    const dy = tf.randomNormal(y.shape);
    const fwd = time(() => tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, s, 'same'));
    const dw = time(() => tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x, dy }, { strides: s, pad: 'same', dilations: 1, filterShape: [3, 3, C, 1] } as never) as tf.Tensor);
    const dx = time(() => tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput', { dy, filter: w }, { strides: s, pad: 'same', dilations: 1, inputShape: x.shape } as never) as tf.Tensor);
    console.log(`${name.padEnd(26)} fwd ${fwd.toFixed(1).padStart(6)} dW ${dw.toFixed(1).padStart(6)} dx ${dx.toFixed(1).padStart(6)} ms  (${(N * H * H * C / 1e6).toFixed(1)}M in)`);
    tf.dispose([x, w, y, dy]);
  }
}
main();
