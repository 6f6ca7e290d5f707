// Reads one image file and turns it into 8-bit HWC pixels of the requested size and colour mode, with
// sharp (libvips). Keras's load_img semantics: convert to the colour mode, then resize to targetSize
// (stretching, or centre-cropping to the target's aspect ratio first with keepAspectRatio).
// Differences from PIL, on purpose: EXIF orientation is applied (autoOrient, default true) so photos
// come out upright; images above a pixel limit are refused before decoding (decompression bombs).
// Failures throw DecodeFailure whose `reason` says in words why the file cannot be used.
import { lstat, readlink } from 'node:fs/promises';
import { NotRegularFileError, readRegularFile } from '../core/regular_file.js';
import sharp, { type Metadata, type OutputInfo, type Sharp } from 'sharp';
import { decodeBmp, decodeNetpbm, isBmp, isNetpbm, legacyImageSize, type RawImage } from './legacy_formats.js';
import { decodeLegacyOffThread } from './legacy_decode_thread.js';
import { invalidArgument } from '../core/errors.js';
import { resizeNearest } from './resize_nearest.js';

export { resizeNearest };

export type ColorMode = 'grayscale' | 'rgb' | 'rgba';
export const COLOR_MODES: readonly ColorMode[] = ['grayscale', 'rgb', 'rgba'];

/** Keras's interpolation names, mapped to sharp kernels; sharp's own kernel names are accepted too. */
const KERNELS = {
  nearest: 'nearest',
  bilinear: 'linear',
  bicubic: 'cubic',
  lanczos: 'lanczos3',
  linear: 'linear',
  cubic: 'cubic',
  mitchell: 'mitchell',
  lanczos2: 'lanczos2',
  lanczos3: 'lanczos3',
} as const;
export type Interpolation = keyof typeof KERNELS;
export const INTERPOLATIONS = Object.keys(KERNELS) as Interpolation[];

/** PIL's Image.MAX_IMAGE_PIXELS, the limit Keras users already live with. */
export const DEFAULT_LIMIT_INPUT_PIXELS = 89_478_485;

/** Formats a classifier's images come in (PIL opens these by content too). SVG, PDF, HEIF... are refused. */
const ACCEPTED_FORMATS = new Set(['jpeg', 'png', 'webp', 'gif', 'tiff']);

export interface DecodeOptions {
  /** [height, width]; null keeps the image's own size. */
  targetSize?: [number, number] | null;
  colorMode?: ColorMode;
  interpolation?: Interpolation;
  keepAspectRatio?: boolean;
  limitInputPixels?: number;
  autoOrient?: boolean;
  /** Also describe the source (format, size, colour space...): one more header parse. Default false. */
  inspect?: boolean;
  /** Decode BMP and PPM/PGM (JavaScript decoders) on a thread of their own: a server's event loop keeps answering. */
  legacyOffThread?: boolean;
}

export interface SourceInfo {
  format: string;
  width: number;
  height: number;
  channels: number;
  /** libvips colour space: srgb, b-w, cmyk, rgb16, grey16... */
  space: string;
  /** Bits per sample as libvips says: uchar, ushort... */
  depth: string;
  hasAlpha: boolean;
  palette: boolean;
  /** EXIF orientation 1-8 when present. */
  orientation?: number;
  /** Whether the file embeds an ICC colour profile. */
  iccProfile?: boolean;
}

export interface DecodedImage {
  data: Uint8Array;
  height: number;
  width: number;
  channels: number;
  /** With `inspect` (always for BMP/PPM, which are parsed here anyway). */
  source?: SourceInfo;
}

/** Why a file could not be used; `reason` is a short phrase for warnings and reports. */
export class DecodeFailure extends Error {
  constructor(
    readonly file: string,
    readonly reason: string,
    /** The reason without the parser's own message (libvips, libxml2...), for answers to strangers. */
    readonly publicReason: string = reason,
  ) {
    super(`${file}: ${reason}`);
    this.name = 'DecodeFailure';
  }
}

/** Why one file failed, for a per-file record that already names the file: a DecodeFailure's reason, else the message. */
export function perFileError(error: unknown): string {
  if (error instanceof DecodeFailure) return error.reason;
  return error instanceof Error ? error.message : String(error);
}

export function checkInterpolation(value: unknown): Interpolation {
  if (typeof value !== 'string' || !(value in KERNELS)) throw invalidArgument('interpolation', value, `one of ${INTERPOLATIONS.join(', ')}`);
  return value as Interpolation;
}

export function checkColorMode(value: unknown): ColorMode {
  if (!(COLOR_MODES as readonly unknown[]).includes(value)) throw invalidArgument('colorMode', value, `one of ${COLOR_MODES.join(', ')}`);
  return value as ColorMode;
}

export function channelsOf(colorMode: ColorMode): number {
  return colorMode === 'grayscale' ? 1 : colorMode === 'rgba' ? 4 : 3;
}

export async function readBytes(file: string): Promise<Buffer> {
  try {
    return await readRegularFile(file);
  } catch (error) {
    // A FIFO named like an image would block a plain read for ever: skipped, with what it is.
    if (error instanceof NotRegularFileError) throw new DecodeFailure(file, `not a regular file (${error.kind}): only regular files are images`);
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      try {
        const st = await lstat(file);
        if (st.isSymbolicLink()) throw new DecodeFailure(file, `broken symbolic link (target '${await readlink(file)}' does not exist)`);
      } catch (inner) {
        if (inner instanceof DecodeFailure) throw inner;
      }
      throw new DecodeFailure(file, 'file not found (removed after the directory was scanned?)');
    }
    throw new DecodeFailure(file, `unreadable (${code ?? ''}: ${(error as Error).message})`);
  }
}

function sharpFailure(file: string, error: unknown): DecodeFailure {
  const message = (error instanceof Error ? error.message : String(error)).split('\n')[0];
  if (/unsupported image format/i.test(message)) return new DecodeFailure(file, 'not an image: content is in no format sharp recognises', 'not an image: its content is in none of the accepted formats');
  if (/pixel limit/i.test(message)) return new DecodeFailure(file, `image exceeds the pixel limit (${message})`, 'image exceeds the pixel limit limitInputPixels');
  return new DecodeFailure(file, `corrupt or truncated image (${message})`, 'corrupt or truncated image: its data could not be decoded');
}

/** The formats we take, recognised by their first bytes; null for anything else (then sharp's metadata names it). */
function sniffFormat(b: Uint8Array): string | null {
  if (b.length < 12) return null;
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return 'png';
  if (b[0] === 0x47 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x38) return 'gif';
  if (b[0] === 0x52 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x46 && b[8] === 0x57 && b[9] === 0x45 && b[10] === 0x42 && b[11] === 0x50) return 'webp';
  if ((b[0] === 0x49 && b[1] === 0x49 && b[2] === 0x2a && b[3] === 0) || (b[0] === 0x4d && b[1] === 0x4d && b[2] === 0 && b[3] === 0x2a)) return 'tiff';
  return null;
}

/**
 * Width and height from the header alone (PNG, JPEG, BMP, PPM/PGM parsed here; other formats through
 * sharp's header read), without decoding; null when the bytes do not say.
 */
export async function imageDimensions(bytes: Uint8Array): Promise<{ width: number; height: number } | null> {
  const size = headerSize(bytes) ?? legacyImageSize(bytes);
  if (size) return size;
  if (bytes.length === 0) return null;
  try {
    const meta = await sharp(bytes, { limitInputPixels: false }).metadata();
    return meta.width && meta.height ? { width: meta.width, height: meta.height } : null;
  } catch {
    return null;
  }
}

/** Decodes bytes already read; `file` only names the source in failures. */
export async function decodeImageBuffer(bytes: Buffer, file: string, options: DecodeOptions = {}): Promise<DecodedImage> {
  const colorMode = options.colorMode ?? 'rgb';
  const limit = options.limitInputPixels ?? DEFAULT_LIMIT_INPUT_PIXELS;
  if (bytes.length === 0) throw new DecodeFailure(file, 'zero-byte file');
  let pipeline: Sharp;
  let source: SourceInfo | undefined;
  const sniffed = sniffFormat(bytes);
  if (sniffed && !options.inspect) {
    // Hot path: the magic bytes say it is a format we take, so no separate header parse; the pixel
    // limit is enforced by sharp itself (and described after the fact).
    pipeline = sharp(bytes, { limitInputPixels: limit > 0 ? limit : false, failOn: 'warning', sequentialRead: true });
  } else if (isBmp(bytes) || isNetpbm(bytes)) {
    // Keras lists .bmp and .ppm; sharp reads neither, so they are decoded here to raw pixels. Their size
    // is checked from the header first: nothing is allocated for an image beyond the pixel limit.
    const kind = isBmp(bytes) ? 'BMP' : 'PPM/PGM';
    const size = legacyImageSize(bytes);
    if (size && limit > 0 && size.width * size.height > limit) {
      throw new DecodeFailure(file, `image of ${size.width}x${size.height} = ${size.width * size.height} pixels exceeds the pixel limit limitInputPixels=${limit} (decompression bomb guard)`);
    }
    let raw: RawImage;
    try {
      raw = options.legacyOffThread ? await decodeLegacyOffThread(bytes) : isBmp(bytes) ? decodeBmp(bytes) : decodeNetpbm(bytes);
    } catch (error) {
      throw new DecodeFailure(file, `corrupt or unsupported ${kind} (${(error as Error).message})`);
    }
    source = { format: raw.format, width: raw.width, height: raw.height, channels: raw.channels, space: raw.channels === 1 ? 'b-w' : 'srgb', depth: raw.depth, hasAlpha: raw.channels === 4, palette: raw.palette };
    pipeline = sharp(raw.data, { raw: { width: raw.width, height: raw.height, channels: raw.channels } });
  } else {
    let meta: Metadata;
    try {
      meta = await sharp(bytes, { limitInputPixels: false }).metadata();
    } catch (error) {
      throw sharpFailure(file, error);
    }
    const format = String(meta.format);
    if (!ACCEPTED_FORMATS.has(format)) throw new DecodeFailure(file, `unsupported format '${format}' (accepted: ${[...ACCEPTED_FORMATS].join(', ')}, bmp, ppm)`);
    const width = meta.width ?? 0;
    const height = meta.height ?? 0;
    if (limit > 0 && width * height > limit) {
      throw new DecodeFailure(file, `image of ${width}x${height} = ${width * height} pixels exceeds the pixel limit limitInputPixels=${limit} (decompression bomb guard)`);
    }
    source = {
      format,
      width,
      height,
      channels: meta.channels ?? 0,
      space: String(meta.space),
      depth: String(meta.depth),
      hasAlpha: Boolean(meta.hasAlpha),
      palette: Boolean(meta.isPalette),
      orientation: meta.orientation,
      iccProfile: Boolean(meta.icc),
    };
    pipeline = sharp(bytes, { limitInputPixels: limit > 0 ? limit : false, failOn: 'warning', sequentialRead: true });
  }
  if (options.autoOrient ?? true) pipeline = pipeline.rotate();
  // A CMYK JPEG without its own ICC profile becomes RGB by PIL's formula (what Keras's load_img gives, and
  // the exact inverse of the naive RGB -> CMYK most writers use); libvips would apply a generic print profile
  // (a 28 x 28 test image: mean 50 against 31). With an embedded profile, the profile decides (PIL ignores it).
  // JPEG only, where the header says it without decoding, so that every path decodes a file alike.
  // One walk over a JPEG's headers serves this and the 'nearest' resize below.
  const frame = sniffed === 'jpeg' ? jpegFrame(bytes) : null;
  const naiveCmyk = source ? source.format === 'jpeg' && source.space === 'cmyk' && !source.iccProfile : isCmykWithoutProfile(frame);
  if (naiveCmyk) pipeline = pipeline.pipelineColourspace('cmyk').toColourspace('cmyk');
  else {
    pipeline = pipeline.toColourspace('srgb');
    pipeline = colorMode === 'rgba' ? pipeline.ensureAlpha() : pipeline.removeAlpha();
  }
  const target = options.targetSize ?? null;
  const interpolation = options.interpolation ?? 'nearest';
  // Keras's default 'nearest' resize is done here, exactly as PIL picks pixels, after a full-size
  // decode: cheaper than libvips' resize, unless a JPEG is large enough for libvips to decode it at
  // 1/2, 1/4 or 1/8 scale (shrink-on-load), which beats everything.
  const header = target && interpolation === 'nearest' ? (frame ?? headerSize(bytes)) : null;
  const nearestHere = Boolean(target && interpolation === 'nearest' && header && !(sniffed === 'jpeg' && Math.min(header.width, header.height) >= 2 * Math.max(target[0], target[1])));
  if (target && !nearestHere) {
    pipeline = pipeline.resize(target[1], target[0], {
      fit: options.keepAspectRatio ? 'cover' : 'fill',
      position: 'centre',
      kernel: KERNELS[options.interpolation ?? 'nearest'],
    });
  }
  let raw: { data: Buffer; info: OutputInfo };
  try {
    raw = await pipeline.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  } catch (error) {
    if (/pixel limit/i.test(String(error)) && !source) {
      const meta = await sharp(bytes, { limitInputPixels: false }).metadata().catch(() => null);
      if (meta?.width && meta.height) {
        throw new DecodeFailure(file, `image of ${meta.width}x${meta.height} = ${meta.width * meta.height} pixels exceeds the pixel limit limitInputPixels=${limit} (decompression bomb guard)`);
      }
    }
    throw sharpFailure(file, error);
  }
  const { info } = raw;
  let data: Uint8Array = raw.data;
  let channels = info.channels;
  let width = info.width;
  let height = info.height;
  // An image already at the target size maps onto itself (the crop box is the whole image): no copy.
  if (nearestHere && target && (height !== target[0] || width !== target[1])) {
    data = resizeNearest(data, height, width, channels, target[0], target[1], Boolean(options.keepAspectRatio));
    [height, width] = target;
  }
  if (naiveCmyk) {
    data = cmykToRgb(data, width * height, colorMode === 'rgba');
    channels = colorMode === 'rgba' ? 4 : 3;
  }
  if (colorMode === 'grayscale') {
    data = lumaOf(data, width * height, channels);
    channels = 1;
  }
  return { data, height, width, channels, source };
}

/** A JPEG's marker segments before its first scan: marker byte, offset of its 0xFF, and its length field. */
function* jpegSegments(b: Uint8Array): Generator<{ marker: number; at: number; length: number }> {
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return;
  let i = 2;
  while (i + 9 < b.length) {
    if (b[i] !== 0xff) return;
    const marker = b[i + 1];
    if (marker === 0xff) {
      i++;
      continue;
    }
    if (marker === 0xda) return; // start of scan: entropy-coded data follows
    const length = (b[i + 2] << 8) | b[i + 3];
    yield { marker, at: i, length };
    i += 2 + length;
  }
}

/** SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC): the frame header, with the size and component count. */
function isFrameHeader(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

/** What a JPEG's headers say before its scan: frame size, component count, whether an ICC profile is embedded; null without a frame header. */
export function jpegFrame(b: Uint8Array): { width: number; height: number; components: number; iccProfile: boolean } | null {
  let frame: { width: number; height: number; components: number } | null = null;
  let iccProfile = false;
  for (const { marker, at, length } of jpegSegments(b)) {
    if (marker === 0xe2 && length >= 16 && String.fromCharCode(...b.subarray(at + 4, at + 15)) === 'ICC_PROFILE') iccProfile = true;
    if (isFrameHeader(marker) && !frame) frame = { height: (b[at + 5] << 8) | b[at + 6], width: (b[at + 7] << 8) | b[at + 8], components: b[at + 9] };
  }
  return frame && { ...frame, iccProfile };
}

/** Width and height from a JPEG or PNG header without decoding (null when not found). */
export function headerSize(b: Uint8Array): { width: number; height: number } | null {
  if (b.length >= 24 && b[0] === 0x89 && b[1] === 0x50 && b[12] === 0x49 && b[13] === 0x48 && b[14] === 0x44 && b[15] === 0x52) {
    return { width: ((b[16] << 24) | (b[17] << 16) | (b[18] << 8) | b[19]) >>> 0, height: ((b[20] << 24) | (b[21] << 16) | (b[22] << 8) | b[23]) >>> 0 };
  }
  return jpegFrame(b);
}

/** PIL's CMYK -> RGB: each of R, G, B is 255 - C - K (resp. M, Y) clipped at 0; alpha 255 with `alpha`. */
export function cmykToRgb(cmyk: Uint8Array, count: number, alpha = false): Uint8Array {
  const step = alpha ? 4 : 3;
  const out = new Uint8Array(count * step);
  for (let p = 0, i = 0, o = 0; p < count; p++, i += 4, o += step) {
    const white = 255 - cmyk[i + 3];
    out[o] = Math.max(0, white - cmyk[i]);
    out[o + 1] = Math.max(0, white - cmyk[i + 1]);
    out[o + 2] = Math.max(0, white - cmyk[i + 2]);
    if (alpha) out[o + 3] = 255;
  }
  return out;
}

/** Whether a JPEG's frame has four components (CMYK or YCCK) and no APP2 ICC_PROFILE segment before its scan. */
export function isCmykJpegWithoutProfile(b: Uint8Array): boolean {
  return isCmykWithoutProfile(jpegFrame(b));
}

function isCmykWithoutProfile(frame: ReturnType<typeof jpegFrame>): boolean {
  return frame !== null && frame.components === 4 && !frame.iccProfile;
}

/** PIL's convert('L'): ITU-R 601-2 luma in PIL's fixed-point arithmetic, of 1-, 3- or 4-channel HWC pixels. */
export function lumaOf(pixels: Uint8Array, count: number, channels: number): Uint8Array {
  if (channels === 1) return pixels;
  const out = new Uint8Array(count);
  for (let p = 0, i = 0; p < count; p++, i += channels) {
    out[p] = (pixels[i] * 19595 + pixels[i + 1] * 38470 + pixels[i + 2] * 7471 + 0x8000) >>> 16;
  }
  return out;
}

export async function decodeImageFile(file: string, options: DecodeOptions = {}): Promise<DecodedImage> {
  return decodeImageBuffer(await readBytes(file), file, options);
}
