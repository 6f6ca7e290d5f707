// Training rules for pooling: Max/Average 2-D pooling and their global forms (NCHW).
import { like } from './ops.js';
import { convAttributes, geometry, pair } from './conv_geometry.js';
import { registerGradientRule, UnsupportedLayer, type RuleContext, type RuleResult } from './rules.js';

function checkFormat(c: RuleContext): void {
  if (c.config.dataFormat !== undefined && c.config.dataFormat !== 'channelsLast') throw new UnsupportedLayer(`dataFormat=${JSON.stringify(c.config.dataFormat)}`);
}

registerGradientRule('MaxPooling2D', (c) => {
  checkFormat(c);
  const o = c.ops;
  const name = c.layer.name;
  const x = o.b.toLayout(c.inputs[0], 'nchw');
  const poolSize = pair(c.config.poolSize, 2);
  const g = geometry(x.shape, poolSize, pair(c.config.strides ?? c.config.poolSize, 2), c.config.padding);
  const attrs = convAttributes(g);
  delete attrs.group;
  const [y, indices] = o.b.node('MaxPool', [x.name], name, attrs, [o.b.uniqueName(name), o.b.uniqueName(`${name}_argmax`)]);
  const [n, h, w, ch] = x.shape as number[];
  return {
    outputs: [{ name: y, shape: c.outputShapes[0], layout: 'nchw' }],
    backward: (dys, need) => {
      if (!need[0] || !dys[0]) return [undefined];
      // Each output's gradient goes to the input pixel that won its window (flat NCHW index).
      const size = n * ch * h * w;
      const zeros = o.op('ConstantOfShape', [o.int64([size])], `${name}_zeros`);
      const flatDy = o.reshape(o.b.toLayout(dys[0], 'nchw').name, [-1], `${name}_dy_flat`);
      const flatIdx = o.reshape(indices, [-1], `${name}_idx_flat`);
      const scattered = o.op('ScatterElements', [zeros, flatIdx, flatDy], `${name}_scatter`, { axis: 0, reduction: 'add' });
      return [like(x, o.reshape(scattered, [n, ch, h, w], `${name}_dx`))];
    },
  };
});

registerGradientRule('AveragePooling2D', (c) => {
  checkFormat(c);
  const o = c.ops;
  const name = c.layer.name;
  const x = o.b.toLayout(c.inputs[0], 'nchw');
  const g = geometry(x.shape, pair(c.config.poolSize, 2), pair(c.config.strides ?? c.config.poolSize, 2), c.config.padding);
  const attrs: Record<string, number | number[]> = convAttributes(g);
  delete attrs.group;
  // TF divides by the number of real (unpadded) pixels in each window.
  const y = o.op('AveragePool', [x.name], name, { ...attrs, count_include_pad: 0 });
  const [, h, w, ch] = x.shape as number[];
  const [ho, wo] = g.outSize;
  return {
    outputs: [{ name: y, shape: c.outputShapes[0], layout: 'nchw' }],
    backward: (dys, need) => {
      if (!need[0] || !dys[0]) return [undefined];
      const inverse = new Float32Array(ho * wo);
      for (let i = 0; i < ho; i++) {
        const rows = Math.min(i * g.strides[0] - g.pads[0] + g.kernel[0], h) - Math.max(i * g.strides[0] - g.pads[0], 0);
        for (let j = 0; j < wo; j++) {
          const cols = Math.min(j * g.strides[1] - g.pads[1] + g.kernel[1], w) - Math.max(j * g.strides[1] - g.pads[1], 0);
          inverse[i * wo + j] = 1 / (rows * cols);
        }
      }
      const scaled = o.mul(o.b.toLayout(dys[0], 'nchw').name, o.b.addFloatInitializer(`${name}/inv_count`, inverse, [1, 1, ho, wo]), `${name}_dy_scaled`);
      const ones = o.b.addFloatInitializer(`${name}/ones`, new Float32Array(ch * g.kernel[0] * g.kernel[1]).fill(1), [ch, 1, g.kernel[0], g.kernel[1]]);
      const outputPadding = [0, 1].map((a) => g.inSize[a] - (g.strides[a] * (g.outSize[a] - 1) + g.kernel[a] - g.pads[a] - g.pads[a + 2]));
      const dx = o.op('ConvTranspose', [scaled, ones], `${name}_dx`, { ...attrs, output_padding: outputPadding, group: ch });
      return [like(x, dx)];
    },
  };
});

function globalPool(kind: 'avg' | 'max') {
  return (c: RuleContext): RuleResult => {
    checkFormat(c);
    const o = c.ops;
    const name = c.layer.name;
    const x = o.b.toLayout(c.inputs[0], 'nchw');
    const [n, h, w, ch] = x.shape as number[];
    const pooled = o.op(kind === 'avg' ? 'GlobalAveragePool' : 'GlobalMaxPool', [x.name], `${name}_4d`);
    const keep = c.config.keepDims === true;
    const y = keep ? pooled : o.reshape(pooled, [n, ch], name);
    return {
      outputs: [{ name: y, shape: c.outputShapes[0], layout: keep ? 'nchw' : 'native' }],
      backward: (dys, need) => {
        if (!need[0] || !dys[0]) return [undefined];
        const dy4 = o.reshape(dys[0].name, [n, ch, 1, 1], `${name}_dy4d`);
        if (kind === 'avg') {
          const spread = o.op('Expand', [o.mul(dy4, o.scalar(1 / (h * w)), `${name}_dy_mean`), o.int64([n, ch, h, w])], `${name}_dx`);
          return [like(x, spread)];
        }
        // tfjs's max gradient: every position equal to the maximum receives the full gradient.
        const winners = o.op('Equal', [x.name, pooled], `${name}_winners`);
        return [like(x, o.op('Where', [winners, dy4, o.scalar(0)], `${name}_dx`))];
      },
    };
  };
}

registerGradientRule('GlobalAveragePooling2D', globalPool('avg'));
registerGradientRule('GlobalMaxPooling2D', globalPool('max'));
