// BMP and PPM/PGM readers: Keras's flow_from_directory lists .bmp and .ppm files (PIL reads them) but
// sharp's libvips build reads neither, so these two small decoders turn them into raw pixels that the
// sharp pipeline then resizes like any other image. Unsupported variants throw with the reason.
// Their size is read from the header first (legacyImageSize) and checked against the bytes present
// before any pixel buffer is allocated, so a small file cannot make the decoder allocate gigabytes.

export interface RawImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 3 | 4;
  format: 'bmp' | 'ppm';
  depth: 'uchar' | 'ushort';
  palette: boolean;
}

export class LegacyFormatError extends Error {}

export function isBmp(b: Uint8Array): boolean {
  return b.length >= 2 && b[0] === 0x42 && b[1] === 0x4d;
}

export function isNetpbm(b: Uint8Array): boolean {
  return b.length >= 2 && b[0] === 0x50 && (b[1] === 0x32 || b[1] === 0x33 || b[1] === 0x35 || b[1] === 0x36);
}

/** Width and height from a BMP or PPM/PGM header, without decoding; null when the header is unreadable. */
export function legacyImageSize(b: Uint8Array): { width: number; height: number } | null {
  try {
    if (isBmp(b)) {
      if (b.length < 26) return null;
      const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
      return { width: v.getInt32(18, true), height: Math.abs(v.getInt32(22, true)) };
    }
    if (isNetpbm(b)) {
      const header = netpbmHeader(b);
      return { width: header.width, height: header.height };
    }
  } catch {
    // a malformed header: the decoder says why when it is asked to decode
  }
  return null;
}

const isSpace = (c: number): boolean => c === 0x20 || (c >= 0x09 && c <= 0x0d);

/** Reads whitespace-separated decimal tokens (and # comments) from a PNM body. */
function netpbmTokens(buf: Uint8Array, start: number) {
  let pos = start;
  return {
    get pos() {
      return pos;
    },
    next(): number {
      for (;;) {
        while (pos < buf.length && isSpace(buf[pos])) pos++;
        if (buf[pos] === 0x23) {
          while (pos < buf.length && buf[pos] !== 0x0a) pos++;
          continue;
        }
        break;
      }
      const begin = pos;
      let value = 0;
      while (pos < buf.length && buf[pos] >= 0x30 && buf[pos] <= 0x39 && pos - begin < 10) value = value * 10 + (buf[pos++] - 0x30);
      if (begin === pos) throw new LegacyFormatError('malformed PPM/PGM header');
      return value;
    },
  };
}

function netpbmHeader(buf: Uint8Array): { width: number; height: number; maxval: number; tokens: ReturnType<typeof netpbmTokens> } {
  const tokens = netpbmTokens(buf, 2);
  const width = tokens.next();
  const height = tokens.next();
  const maxval = tokens.next();
  return { width, height, maxval, tokens };
}

function maskShift(mask: number): { shift: number; max: number } {
  if (mask === 0) return { shift: 0, max: 0 };
  let shift = 0;
  while (((mask >>> shift) & 1) === 0) shift++;
  return { shift, max: mask >>> shift };
}

export function decodeBmp(buf: Uint8Array): RawImage {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.length < 26) throw new LegacyFormatError('truncated BMP header');
  const dataOffset = v.getUint32(10, true);
  const dibSize = v.getUint32(14, true);
  if (dibSize < 40) throw new LegacyFormatError(`BMP header of ${dibSize} bytes (OS/2 bitmap) is not supported`);
  if (buf.length < 14 + dibSize) throw new LegacyFormatError('truncated BMP header');
  const width = v.getInt32(18, true);
  const rawHeight = v.getInt32(22, true);
  const bits = v.getUint16(28, true);
  const compression = v.getUint32(30, true);
  const colorsUsed = v.getUint32(46, true);
  const topDown = rawHeight < 0;
  const height = Math.abs(rawHeight);
  if (width <= 0 || height === 0) throw new LegacyFormatError(`BMP of ${width}x${rawHeight} pixels`);
  if (compression !== 0 && compression !== 3 && compression !== 6) throw new LegacyFormatError(`BMP compression ${compression} (RLE/JPEG/PNG inside BMP) is not supported`);
  const stride = Math.ceil((bits * width) / 32) * 4;
  if (dataOffset + stride * height > buf.length) throw new LegacyFormatError('truncated BMP pixel data');
  let masks: number[] | null = null;
  if (compression === 3 || compression === 6) {
    // Masks follow a 40-byte header, or sit inside a V4/V5 header at the same offsets.
    const at = 14 + 40;
    masks = [v.getUint32(at, true), v.getUint32(at + 4, true), v.getUint32(at + 8, true), dibSize >= 56 || compression === 6 ? v.getUint32(at + 12, true) : 0];
  } else if (bits === 16) {
    masks = [0x7c00, 0x03e0, 0x001f, 0];
  } else if (bits === 32) {
    // BI_RGB 32-bit: BGRX, the fourth byte ignored (as PIL does).
    masks = [0x00ff0000, 0x0000ff00, 0x000000ff, 0];
  }
  const hasAlpha = masks !== null && masks[3] !== 0;
  const channels: 3 | 4 = hasAlpha ? 4 : 3;
  const out = new Uint8Array(width * height * channels);
  let palette: Uint8Array | null = null;
  if (bits <= 8) {
    const count = colorsUsed || 1 << bits;
    const start = 14 + dibSize;
    palette = buf.subarray(start, start + 4 * count);
  } else if (bits !== 16 && bits !== 24 && bits !== 32) {
    throw new LegacyFormatError(`BMP with ${bits} bits per pixel is not supported`);
  }
  const fields = masks?.map(maskShift);
  for (let r = 0; r < height; r++) {
    const row = dataOffset + (topDown ? r : height - 1 - r) * stride;
    for (let c = 0; c < width; c++) {
      const o = (r * width + c) * channels;
      if (palette) {
        const bitPos = c * bits;
        const byte = buf[row + (bitPos >> 3)];
        const index = bits === 8 ? byte : (byte >> (8 - bits - (bitPos & 7))) & ((1 << bits) - 1);
        const p = 4 * index;
        if (p + 2 >= palette.length) throw new LegacyFormatError(`BMP palette index ${index} outside its ${palette.length / 4} colours`);
        out[o] = palette[p + 2];
        out[o + 1] = palette[p + 1];
        out[o + 2] = palette[p];
      } else if (bits === 24) {
        const p = row + c * 3;
        out[o] = buf[p + 2];
        out[o + 1] = buf[p + 1];
        out[o + 2] = buf[p];
      } else {
        const px = bits === 16 ? v.getUint16(row + c * 2, true) : v.getUint32(row + c * 4, true);
        for (let k = 0; k < channels; k++) {
          const f = fields![k];
          out[o + k] = f.max ? Math.round((((px & masks![k]) >>> f.shift) * 255) / f.max) : 255;
        }
      }
    }
  }
  return { data: out, width, height, channels, format: 'bmp', depth: 'uchar', palette: palette !== null };
}

export function decodeNetpbm(buf: Uint8Array): RawImage {
  const kind = String.fromCharCode(buf[1]);
  const { width, height, maxval, tokens } = netpbmHeader(buf);
  if (width < 1 || height < 1 || maxval < 1 || maxval > 65535) throw new LegacyFormatError(`PPM/PGM header ${width}x${height} maxval ${maxval}`);
  const channels: 1 | 3 = kind === '3' || kind === '6' ? 3 : 1;
  const n = width * height * channels;
  const scale = (x: number) => (maxval === 255 ? x : Math.round((Math.min(x, maxval) * 255) / maxval));
  if (kind === '5' || kind === '6') {
    const pos = tokens.pos + 1; // the single whitespace after maxval
    const wide = maxval > 255;
    if (pos + n * (wide ? 2 : 1) > buf.length) throw new LegacyFormatError('truncated PPM/PGM pixel data');
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = scale(wide ? (buf[pos + 2 * i] << 8) | buf[pos + 2 * i + 1] : buf[pos + i]);
    return { data: out, width, height, channels, format: 'ppm', depth: wide ? 'ushort' : 'uchar', palette: false };
  }
  // ASCII: every sample takes at least a digit and a separator, so the file bounds what it can hold.
  if (2 * n - 1 > buf.length - tokens.pos) throw new LegacyFormatError('truncated PPM/PGM pixel data');
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = scale(tokens.next());
  return { data: out, width, height, channels, format: 'ppm', depth: maxval > 255 ? 'ushort' : 'uchar', palette: false };
}
