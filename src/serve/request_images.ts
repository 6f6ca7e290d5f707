// From request bytes to 8-bit pixels at the model's input size, with the HTTP status a client gets for each way an upload can
// be unusable. Bytes are decoded in memory (sharp, with the pixel limit); nothing touches the disk.
import { decodeImageBuffer, DecodeFailure, imageDimensions } from '../data/decode.js';
import { TlkitError } from '../core/errors.js';
import type { ModelMetadata } from '../weights/saved_model.js';
import type { RejectReason } from './metrics.js';

/** An error the client caused: its status, a machine-readable code and a sentence saying what to change. */
export class HttpError extends TlkitError {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly reject?: RejectReason,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export interface UploadedImage {
  /** 'body' for a raw upload, the part's file name (or field name) for multipart. */
  name: string;
  bytes: Buffer;
}

/** Maps why sharp/tlkit could not decode an upload to the status the client sees. */
export function decodeFailureToHttp(failure: DecodeFailure): HttpError {
  // In tlkit's words only: the parser's own message (libvips, libxml2) stays on the server.
  const reason = failure.publicReason;
  if (reason === 'zero-byte file') return new HttpError(400, 'empty_image', `${failure.file}: the image is empty (0 bytes)`, 'bad_request');
  if (/^not an image|^unsupported format/.test(reason)) return new HttpError(415, 'not_an_image', `${failure.file}: ${reason}`, 'unsupported_media_type');
  if (/pixel limit/.test(reason)) return new HttpError(413, 'too_many_pixels', `${failure.file}: ${reason}`, 'too_large');
  return new HttpError(422, 'bad_image', `${failure.file}: ${reason}`, 'bad_image');
}

/**
 * One upload decoded to 8-bit RGB at the model's input size (rows x cols x 3): what `modelInputInto`
 * turns into the model's input row when its batch is put together.
 */
export async function decodeUpload(image: UploadedImage, metadata: ModelMetadata, limitInputPixels: number): Promise<Uint8Array> {
  try {
    const decoded = await decodeImageBuffer(image.bytes, image.name, { targetSize: metadata.inputSize, colorMode: 'rgb', limitInputPixels, legacyOffThread: true });
    return decoded.data;
  } catch (error) {
    if (error instanceof DecodeFailure) throw decodeFailureToHttp(error);
    throw error;
  }
}

/**
 * Refuses a request whose images hold more than `maxPixels` pixels together (from their headers, before
 * anything is decoded): the per-image limit alone lets 16 images of 40 megapixels each through.
 */
export async function checkRequestPixels(images: UploadedImage[], maxPixels: number, limitInputPixels: number): Promise<void> {
  let total = 0;
  for (const image of images) {
    const size = await imageDimensions(image.bytes);
    // An image beyond the per-image limit is refused on its own (413) and never decoded: not counted.
    if (size && size.width * size.height <= limitInputPixels) total += size.width * size.height;
  }
  if (total > maxPixels) {
    throw new HttpError(413, 'too_many_pixels', `the ${images.length} images of this request hold ${total} pixels together, more than maxPixelsPerRequest=${maxPixels}: send fewer or smaller images per request`, 'too_large');
  }
}
