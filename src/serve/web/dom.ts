/// <reference lib="dom" />
// Browser-side helpers shared by both page scripts: the embedded config and an image's pixels.
import { CONFIG_ELEMENT_ID, type WebPageConfig } from './page_config.js';

export type ImageSource = HTMLImageElement | HTMLCanvasElement | ImageBitmap | HTMLVideoElement;

export function readPageConfig(): WebPageConfig {
  const element = document.getElementById(CONFIG_ELEMENT_ID);
  if (!element?.textContent) throw new Error(`tlkit: this page has no #${CONFIG_ELEMENT_ID} element`);
  return JSON.parse(element.textContent) as WebPageConfig;
}

function sizeOf(image: ImageSource): { width: number; height: number } {
  if (image instanceof HTMLImageElement) return { width: image.naturalWidth, height: image.naturalHeight };
  if (image instanceof HTMLVideoElement) return { width: image.videoWidth, height: image.videoHeight };
  return { width: image.width, height: image.height };
}

/** The image drawn at its own size onto a canvas (no scaling: the resize is the model's own nearest). */
export function drawAtNaturalSize(image: ImageSource): HTMLCanvasElement {
  const { width, height } = sizeOf(image);
  if (!width || !height) throw new Error('tlkit.classify: the image has no pixels yet (not loaded, or not an image)');
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext('2d', { willReadFrequently: true });
  if (!context) throw new Error('tlkit.classify: no 2D canvas context');
  context.drawImage(image, 0, 0);
  return canvas;
}

/** 8-bit RGB (alpha dropped, as sharp's removeAlpha does) of the image at its natural size. */
export function rgbPixels(image: ImageSource): { data: Uint8Array; width: number; height: number } {
  const canvas = drawAtNaturalSize(image);
  const { width, height } = canvas;
  const rgba = canvas.getContext('2d', { willReadFrequently: true })!.getImageData(0, 0, width, height).data;
  const data = new Uint8Array(width * height * 3);
  for (let p = 0, i = 0; p < data.length; p += 3, i += 4) {
    data[p] = rgba[i];
    data[p + 1] = rgba[i + 1];
    data[p + 2] = rgba[i + 2];
  }
  return { data, width, height };
}

/** Resolves once `img` has decoded (or throws the browser's reason). */
export async function loaded(img: HTMLImageElement): Promise<HTMLImageElement> {
  await img.decode();
  return img;
}
