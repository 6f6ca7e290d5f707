// im2col / col2im over NHWC on the wasm heap. Row r = (image, oy, ox); column = (ky, kx, ci), the
// order of a [KH, KW, Cin, Cout] filter's rows, so that cols @ filter is the convolution.
import type { ConvInfo } from './conv_geometry.js';

/**
 * Writes im2col rows [rowStart, rowStart + rowCount) of x (at heap index xStart) to heap index
 * colsStart, where row = (image * outHeight + oy) * outWidth + ox.
 */
export function im2colRows(heap: Float32Array, xStart: number, colsStart: number, info: ConvInfo, rowStart: number, rowCount: number): void {
  const { inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
  const { filterHeight: KH, filterWidth: KW, strideHeight: SH, strideWidth: SW } = info;
  const { dilationHeight: DH, dilationWidth: DW } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  let dst = colsStart;
  for (let row = rowStart; row < rowStart + rowCount; row++) {
    const ox = row % OW;
    const oy = Math.floor(row / OW) % OH;
    const n = Math.floor(row / (OW * OH));
    const image = xStart + n * H * W * C;
    const iy0 = oy * SH - top;
    const ix0 = ox * SW - left;
    for (let ky = 0; ky < KH; ky++) {
      const iy = iy0 + ky * DH;
      if (iy < 0 || iy >= H) {
        heap.fill(0, dst, dst + KW * C);
        dst += KW * C;
        continue;
      }
      const rowBase = image + iy * W * C;
      if (DW === 1 && ix0 >= 0 && ix0 + KW <= W) {
        // The whole kernel row is inside the image: one contiguous run of KW * C floats.
        const src = rowBase + ix0 * C;
        heap.copyWithin(dst, src, src + KW * C);
        dst += KW * C;
        continue;
      }
      for (let kx = 0; kx < KW; kx++) {
        const ix = ix0 + kx * DW;
        if (ix < 0 || ix >= W) {
          heap.fill(0, dst, dst + C);
        } else {
          const src = rowBase + ix * C;
          if (C < 16) {
            for (let c = 0; c < C; c++) heap[dst + c] = heap[src + c];
          } else {
            heap.copyWithin(dst, src, src + C);
          }
        }
        dst += C;
      }
    }
  }
}

/** dx[images n0..n1) += col2im(cols): adds each column back to the input pixel it was read from. */
export function col2imAdd(heap: Float32Array, colsStart: number, dxStart: number, info: ConvInfo, n0: number, n1: number): void {
  const { inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
  const { filterHeight: KH, filterWidth: KW, strideHeight: SH, strideWidth: SW } = info;
  const { dilationHeight: DH, dilationWidth: DW } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  let src = colsStart;
  for (let n = n0; n < n1; n++) {
    const image = dxStart + n * H * W * C;
    for (let oy = 0; oy < OH; oy++) {
      const iy0 = oy * SH - top;
      for (let ox = 0; ox < OW; ox++) {
        const ix0 = ox * SW - left;
        for (let ky = 0; ky < KH; ky++) {
          const iy = iy0 + ky * DH;
          if (iy < 0 || iy >= H) {
            src += KW * C;
            continue;
          }
          const rowBase = image + iy * W * C;
          for (let kx = 0; kx < KW; kx++) {
            const ix = ix0 + kx * DW;
            if (ix >= 0 && ix < W) {
              const dst = rowBase + ix * C;
              for (let c = 0; c < C; c++) heap[dst + c] += heap[src + c];
            }
            src += C;
          }
        }
      }
    }
  }
}
