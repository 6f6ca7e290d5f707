// A script for a fresh Node process that imports tlkit and, with no other call, makes a tensor and
// trains through a convolution: what a user who follows README does first. Run against src/index.ts
// (through tsx) by implicit_init.test.ts and against the installed package by pack_install.test.ts.

/** Kernels stock tfjs-backend-wasm 4.22 lacks; a convnet cannot train on wasm without them. */
export const WASM_TRAINING_KERNELS = ['Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput'];

export interface ProbeResult {
  /** The backend right after the import, when the first tensor was made. */
  initial: string;
  /** The backend the gradients ran on (after `switchTo`). */
  backend: string;
  sum: number;
  missingWasmKernels: string[];
  filterGradient: number;
  depthwiseGradient: number;
  /** With `thenInitEngine`: what initEngine(that) returned and the backend after it. */
  afterInitEngine?: [string, string];
}

/**
 * ESM source printing one JSON line (ProbeResult). `switchTo`: after the first tensor, the probe
 * switches the backend itself the way tfjs's error message suggests (tf.setBackend + tf.ready).
 * `thenInitEngine`: at the end, calls tlkit's initEngine with that backend.
 */
export function engineProbe(specifier: string, options: { switchTo?: 'wasm' | 'cpu'; thenInitEngine?: 'wasm' | 'cpu' } = {}): string {
  const { switchTo, thenInitEngine } = options;
  return `
const { tf, initEngine } = await import(${JSON.stringify(specifier)});
const sum = tf.sum(tf.tensor1d([1, 2, 3])).dataSync()[0];
const initial = tf.getBackend();
${switchTo ? `await tf.setBackend(${JSON.stringify(switchTo)}); await tf.ready();` : ''}
const missingWasmKernels = ${JSON.stringify(WASM_TRAINING_KERNELS)}.filter((k) => tf.getKernel(k, 'wasm') === undefined);
const x = tf.randomUniform([1, 6, 6, 2], -1, 1, 'float32', 1);
const w = tf.randomUniform([3, 3, 2, 4], -1, 1, 'float32', 2);
const d = tf.randomUniform([3, 3, 2, 1], -1, 1, 'float32', 3);
const norm = (t) => tf.sum(tf.abs(t)).dataSync()[0];
const filterGradient = norm(tf.grad((f) => tf.sum(tf.square(tf.conv2d(x, f, 1, 'same'))))(w));
const depthwiseGradient = tf.grads((a, f) => tf.sum(tf.square(tf.depthwiseConv2d(a, f, 1, 'same'))))([x, d])
  .reduce((s, g) => s + norm(g), 0);
const backend = tf.getBackend();
const afterInitEngine = ${thenInitEngine ? `[await initEngine(${JSON.stringify(thenInitEngine)}), tf.getBackend()]` : 'undefined'};
console.log(JSON.stringify({ initial, backend, sum, missingWasmKernels, filterGradient, depthwiseGradient, afterInitEngine }));
`;
}

/** The probe's JSON line from a child's stdout. */
export function parseProbe(stdout: string): ProbeResult {
  const line = stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(line) as ProbeResult;
}
