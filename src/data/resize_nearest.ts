// PIL's NEAREST resize on 8-bit HWC pixels, with no dependency: decode.ts uses it after sharp's decode,
// and the exported web page after the browser's, so both feed the model the same pixels.

/**
 * PIL's NEAREST resize (Keras's default interpolation): output pixel (r, c) takes source
 * (floor(y0 + (r + 0.5) * boxH / outH), floor(x0 + (c + 0.5) * boxW / outW)). With keepAspectRatio the
 * box is Keras's centred crop of the target's aspect ratio.
 */
export function resizeNearest(src: Uint8Array, height: number, width: number, channels: number, outH: number, outW: number, keepAspectRatio: boolean): Uint8Array {
  let x0 = 0;
  let y0 = 0;
  let boxW = width;
  let boxH = height;
  if (keepAspectRatio) {
    boxH = Math.min(height, Math.floor((width * outH) / outW));
    boxW = Math.min(width, Math.floor((height * outW) / outH));
    y0 = Math.floor((height - boxH) / 2);
    x0 = Math.floor((width - boxW) / 2);
  }
  const cols = new Int32Array(outW);
  const sx = boxW / outW;
  for (let c = 0; c < outW; c++) cols[c] = Math.min(width - 1, Math.floor(x0 + (c + 0.5) * sx)) * channels;
  const out = new Uint8Array(outH * outW * channels);
  const sy = boxH / outH;
  let o = 0;
  for (let r = 0; r < outH; r++) {
    const row = Math.min(height - 1, Math.floor(y0 + (r + 0.5) * sy)) * width * channels;
    if (channels === 3) {
      for (let c = 0; c < outW; c++, o += 3) {
        const i = row + cols[c];
        out[o] = src[i];
        out[o + 1] = src[i + 1];
        out[o + 2] = src[i + 2];
      }
    } else {
      for (let c = 0; c < outW; c++) for (let k = 0; k < channels; k++) out[o++] = src[row + cols[c] + k];
    }
  }
  return out;
}
