/// <reference lib="dom" />
// The page a person uses: drop or pick images, see each one with its top classes as probability bars.
// The classifier is passed in, so the same page runs the model itself (export) or asks the server (serve).
import type { ClassProbability } from '../../inference/top_classes.js';
import { loaded } from './dom.js';
import type { WebPageConfig } from './page_config.js';

export type ClassifyFile = (file: File, image: HTMLImageElement) => Promise<ClassProbability[]>;

function element<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function renderBars(top: ClassProbability[]): HTMLElement {
  const list = element('ol', 'bars');
  for (const t of top) {
    const row = element('li', 'bar');
    // Full precision in data attributes: apps and tests read them; people read the rounded text.
    row.dataset.className = t.className;
    row.dataset.probability = String(t.probability);
    const label = element('span', 'label', t.className);
    const track = element('span', 'track');
    const fill = element('span', 'fill');
    fill.style.width = `${Math.max(0, Math.min(1, t.probability)) * 100}%`;
    track.append(fill);
    const value = element('span', 'value', `${(t.probability * 100).toFixed(1)}%`);
    row.append(label, track, value);
    list.append(row);
  }
  return list;
}

export function setStatus(text: string, state?: 'ready' | 'error'): void {
  const status = document.getElementById('status');
  if (status) status.textContent = text;
  if (state) document.body.dataset.state = state;
}

/** Wires the drop zone and the file input to `classifyFile`; results are listed newest first. */
export function mountUi(config: WebPageConfig, classifyFile: ClassifyFile): void {
  const results = document.getElementById('results')!;
  const input = document.getElementById('files') as HTMLInputElement;
  const zone = document.getElementById('drop')!;
  let pending = 0;

  async function show(file: File): Promise<void> {
    const card = element('figure', 'result');
    card.dataset.file = file.name;
    const img = element('img');
    img.alt = file.name;
    img.src = URL.createObjectURL(file);
    const caption = element('figcaption', 'name', file.name);
    card.append(img, caption);
    results.prepend(card);
    try {
      const top = await classifyFile(file, await loaded(img));
      card.append(renderBars(top.slice(0, config.topK)));
      card.dataset.state = 'done';
    } catch (error) {
      card.append(element('p', 'error', error instanceof Error ? error.message : String(error)));
      card.dataset.state = 'error';
    }
  }

  async function showAll(files: Iterable<File>): Promise<void> {
    const list = [...files];
    pending += list.length;
    document.body.dataset.pending = String(pending);
    // One at a time: the model runs one image at a time anyway, and results appear in a steady order.
    for (const file of list) {
      await show(file);
      pending--;
      document.body.dataset.pending = String(pending);
    }
  }

  input.addEventListener('change', () => {
    if (input.files) void showAll(input.files);
    input.value = '';
  });
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    if (e.dataTransfer?.files) void showAll(e.dataTransfer.files);
  });
}
