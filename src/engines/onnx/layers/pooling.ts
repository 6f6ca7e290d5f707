// Max/Average 2-D pooling and their global forms, NCHW.
import type { OnnxValue } from '../graph_builder.js';
import { like } from '../training/ops.js';
import { geometry, pair, requireChannelsLast, spatialAttributes, type SpatialAttributes } from './geometry.js';
import type { ForwardContext, LayerTable, RuleContext, RuleResult } from './table.js';

function poolSize(c: ForwardContext): [number, number] {
  return pair(c.config.poolSize, 2);
}

function poolStrides(c: ForwardContext): [number, number] {
  return pair(c.config.strides ?? c.config.poolSize, 2);
}

/** The input (channels-first) and the pool node's attributes. */
function poolInput(c: ForwardContext): { x: OnnxValue; attrs: SpatialAttributes } {
  requireChannelsLast(c.config);
  const x = c.builder.toLayout(c.inputs[0], 'nchw');
  return { x, attrs: spatialAttributes(x.shape, poolSize(c), poolStrides(c), [1, 1], c.config.padding) };
}

function maxPool(c: ForwardContext): OnnxValue[] {
  const { x, attrs } = poolInput(c);
  const [name] = c.builder.node('MaxPool', [x.name], c.layer.name, { ...attrs });
  return [{ name, shape: c.outputShapes[0], layout: 'nchw' }];
}

function averagePool(c: ForwardContext): OnnxValue[] {
  const { x, attrs } = poolInput(c);
  // TF's average pooling divides by the number of real (unpadded) pixels: count_include_pad = 0.
  const [name] = c.builder.node('AveragePool', [x.name], c.layer.name, { ...attrs, count_include_pad: 0 });
  return [{ name, shape: c.outputShapes[0], layout: 'nchw' }];
}

/** Global pooling: the 4-D pooled value, then (without keepDims) flattened to [N, C]. */
function globalPool(c: ForwardContext, opType: 'GlobalAveragePool' | 'GlobalMaxPool'): { x: OnnxValue; pooled: string; y: OnnxValue } {
  requireChannelsLast(c.config);
  const b = c.builder;
  const x = b.toLayout(c.inputs[0], 'nchw');
  const [pooled] = b.node(opType, [x.name], `${c.layer.name}_4d`);
  if (c.config.keepDims) return { x, pooled, y: { name: pooled, shape: c.outputShapes[0], layout: 'nchw' } };
  const [name] = b.node('Flatten', [pooled], c.layer.name, { axis: 1 });
  return { x, pooled, y: { name, shape: c.outputShapes[0], layout: 'native' } };
}

/** Global pooling's backward: the mean's gradient spread evenly, the max's to every maximal position (as tfjs does). */
function globalPoolGradient(opType: 'GlobalAveragePool' | 'GlobalMaxPool') {
  return (c: RuleContext): RuleResult => {
    const o = c.ops;
    const name = c.layer.name;
    const { x, pooled, y } = globalPool(c, opType);
    const [n, h, w, ch] = x.shape as number[];
    return {
      outputs: [y],
      backward: (dys, need) => {
        if (!need[0] || !dys[0]) return [undefined];
        const dy4 = o.reshape(dys[0].name, [n, ch, 1, 1], `${name}_dy4d`);
        if (opType === 'GlobalAveragePool') {
          // dy / (h w) in every position: one broadcasting Mul by a [1, 1, h, w] plane of 1 / (h w) (the same
          // float32 products as scaling, then Expand, which onnxruntime fills slowly: 4.5 of MobileNetV2's
          // 116 ms fine-tune step).
          const spread = o.b.addFloatInitializer(`${name}_spread`, new Float32Array(h * w).fill(1 / (h * w)), [1, 1, h, w]);
          return [like(x, o.mul(dy4, spread, `${name}_dx`))];
        }
        const winners = o.op('Equal', [x.name, pooled], `${name}_winners`);
        return [like(x, o.op('Where', [winners, dy4, o.scalar(0)], `${name}_dx`))];
      },
    };
  };
}

export const POOLING_LAYERS: LayerTable[] = [
  {
    className: 'MaxPooling2D',
    forward: maxPool,
    // Training keeps the argmax of each window for the backward: the same MaxPool with its second output.
    gradient: (c) => {
      const o = c.ops;
      const name = c.layer.name;
      const { x, attrs } = poolInput(c);
      const [y, indices] = o.b.node('MaxPool', [x.name], name, { ...attrs }, [o.b.uniqueName(name), o.b.uniqueName(`${name}_argmax`)]);
      const [n, h, w, ch] = x.shape as number[];
      return {
        outputs: [{ name: y, shape: c.outputShapes[0], layout: 'nchw' }],
        backward: (dys, need) => {
          if (!need[0] || !dys[0]) return [undefined];
          // Each output's gradient goes to the input pixel that won its window (flat NCHW index).
          const zeros = o.op('ConstantOfShape', [o.int64([n * ch * h * w])], `${name}_zeros`);
          const flatDy = o.reshape(o.b.toLayout(dys[0], 'nchw').name, [-1], `${name}_dy_flat`);
          const flatIdx = o.reshape(indices, [-1], `${name}_idx_flat`);
          const scattered = o.op('ScatterElements', [zeros, flatIdx, flatDy], `${name}_scatter`, { axis: 0, reduction: 'add' });
          return [like(x, o.reshape(scattered, [n, ch, h, w], `${name}_dx`))];
        },
      };
    },
  },
  {
    className: 'AveragePooling2D',
    forward: averagePool,
    gradient: (c) => {
      const o = c.ops;
      const name = c.layer.name;
      const [y] = averagePool(c);
      const { x, attrs } = poolInput(c);
      const g = geometry(x.shape, poolSize(c), poolStrides(c), c.config.padding);
      const [, h, w, ch] = x.shape as number[];
      const [ho, wo] = g.outSize;
      return {
        outputs: [y],
        backward: (dys, need) => {
          if (!need[0] || !dys[0]) return [undefined];
          // dx = ConvTranspose of dy / (real pixels of each window) with a ones kernel.
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
    },
  },
  { className: 'GlobalAveragePooling2D', forward: (c) => [globalPool(c, 'GlobalAveragePool').y], gradient: globalPoolGradient('GlobalAveragePool') },
  { className: 'GlobalMaxPooling2D', forward: (c) => [globalPool(c, 'GlobalMaxPool').y], gradient: globalPoolGradient('GlobalMaxPool') },
];
