/// <reference lib="dom" />
// The page `tlkit serve` shows at /: the same page, classifying on the server (POST /v1/predict) instead
// of in the browser, so it needs no tfjs. `tlkit.classify(img)` sends the image as PNG.
import type { ClassProbability } from '../../inference/top_classes.js';
import { drawAtNaturalSize, readPageConfig, type ImageSource } from './dom.js';
import { mountUi, setStatus } from './ui.js';

export const config = readPageConfig();
export const ready: Promise<void> = Promise.resolve();

function authHeaders(): Record<string, string> {
  const key = (document.getElementById('api-key') as HTMLInputElement | null)?.value.trim();
  return key ? { authorization: `Bearer ${key}` } : {};
}

async function post(body: Blob, topK: number): Promise<ClassProbability[]> {
  const url = new URL(config.predictUrl ?? '/v1/predict', document.baseURI);
  url.searchParams.set('top_k', String(topK));
  const response = await fetch(url, { method: 'POST', body, headers: { 'content-type': body.type || 'application/octet-stream', ...authHeaders() } });
  const payload = (await response.json().catch(() => ({}))) as { predictions?: { top: ClassProbability[] }[]; message?: string };
  if (response.status === 401) document.getElementById('auth')?.removeAttribute('hidden');
  if (!response.ok || !payload.predictions?.[0]) throw new Error(`server answered ${response.status}: ${payload.message ?? response.statusText}`);
  return payload.predictions[0].top;
}

/** Every class of `image` with its probability, most probable first, computed by the server. */
// (A server with an API key leaves the class names out of the page: then ask for them all, the server
// caps top_k at its number of classes.)
export async function classify(image: ImageSource, topK = config.classNames.length || 1000): Promise<ClassProbability[]> {
  const canvas = drawAtNaturalSize(image);
  const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, 'image/png'));
  if (!blob) throw new Error('tlkit.classify: the image could not be encoded');
  return post(blob, topK);
}

// Dropped files go as they are: the server decodes the original bytes, exactly as `tlkit predict` does.
mountUi(config, (file) => post(file, config.topK));
if (config.classNames.length === 0) document.getElementById('auth')?.removeAttribute('hidden');
setStatus(config.classNames.length > 0 ? `Ready: ${config.backbone}, ${config.classNames.length} classes, classified by the server.` : 'Ready: classified by the server (it needs the API key below).', 'ready');
