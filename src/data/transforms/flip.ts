// Mirror an HWC image in place: horizontal swaps columns (Keras flips the column axis for
// horizontal_flip), vertical swaps rows.
export function flipHorizontal(data: Float32Array, height: number, width: number, channels: number): Float32Array {
  const rowStride = width * channels;
  for (let r = 0; r < height; r++) {
    let a = r * rowStride;
    let b = a + (width - 1) * channels;
    while (a < b) {
      for (let k = 0; k < channels; k++) {
        const t = data[a + k];
        data[a + k] = data[b + k];
        data[b + k] = t;
      }
      a += channels;
      b -= channels;
    }
  }
  return data;
}

export function flipVertical(data: Float32Array, height: number, width: number, channels: number): Float32Array {
  const rowStride = width * channels;
  const tmp = new Float32Array(rowStride);
  for (let top = 0, bottom = height - 1; top < bottom; top++, bottom--) {
    const a = data.subarray(top * rowStride, (top + 1) * rowStride);
    const b = data.subarray(bottom * rowStride, (bottom + 1) * rowStride);
    tmp.set(a);
    a.set(b);
    b.set(tmp);
  }
  return data;
}
