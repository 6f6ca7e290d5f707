// index.html of the web page, for both uses (the exported offline folder and `tlkit serve`'s /). Nothing
// is loaded from anywhere but the page's own folder: no CDN, no web fonts.
import { CONFIG_ELEMENT_ID, type WebPageConfig } from './web/page_config.js';

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** JSON inside <script>: '<' escaped so no class name can close the element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

const STYLE = `
  body { font: 15px/1.4 system-ui, sans-serif; margin: 2rem auto; max-width: 52rem; padding: 0 1rem; color: #222; }
  h1 { font-size: 1.4rem; margin-bottom: .2rem; }
  #status { color: #555; margin-top: 0; }
  body[data-state=error] #status { color: #b00020; }
  #drop { display: block; border: 2px dashed #999; border-radius: 8px; padding: 1.5rem; text-align: center; margin: 1rem 0; }
  #drop.over { border-color: #1565c0; background: #e3f2fd; }
  #results { display: grid; gap: 1rem; }
  figure.result { display: grid; grid-template-columns: 8rem 1fr; gap: .3rem 1rem; margin: 0; padding: .8rem; border: 1px solid #ddd; border-radius: 8px; }
  figure.result img { grid-row: span 2; width: 8rem; height: 8rem; object-fit: contain; background: #f4f4f4; image-rendering: pixelated; }
  figcaption { font-weight: 600; overflow-wrap: anywhere; }
  ol.bars { list-style: none; padding: 0; margin: 0; }
  li.bar { display: grid; grid-template-columns: 9rem 1fr 4rem; gap: .5rem; align-items: center; margin: .15rem 0; }
  .label { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  .track { background: #eee; height: .8rem; border-radius: .4rem; overflow: hidden; }
  .fill { display: block; height: 100%; background: #1565c0; }
  .value { text-align: right; font-variant-numeric: tabular-nums; }
  .error { color: #b00020; }
  details { margin-top: 1rem; }
  pre { background: #f6f6f6; padding: .6rem; overflow-x: auto; }
`;

const USAGE_LOCAL = `<script src="tlkit-web.js"></script>
<script>
  // [{ className, index, probability }, ...], most probable first
  tlkit.classify(document.querySelector('img')).then((top) => console.log(top));
</script>`;

const USAGE_SERVER = `curl -X POST --data-binary @photo.jpg -H 'content-type: image/jpeg' ${'${location.origin}'}/v1/predict`;

export function renderWebPage(config: WebPageConfig, scriptUrl: string): string {
  const title = escapeHtml(config.title);
  const usage = config.mode === 'local' ? escapeHtml(USAGE_LOCAL) : escapeHtml(USAGE_SERVER.replace('${location.origin}', ''));
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>${title}</title>
<style>${STYLE}</style>
</head>
<body data-state="loading">
<h1>${title}</h1>
<p id="status">Loading the model...</p>
<form hidden id="auth" onsubmit="return false"><label>API key <input id="api-key" type="password" autocomplete="off"></label></form>
<label id="drop">Drop images here, or <input id="files" type="file" accept="image/*" multiple></label>
<div id="results"></div>
<details><summary>Use it from your app</summary>
<p>Classes: ${escapeHtml(config.classNames.join(', '))}. Input ${config.inputSize[0]}x${config.inputSize[1]}, backbone ${escapeHtml(config.backbone)}.</p>
<pre>${usage}</pre>
</details>
<script type="application/json" id="${CONFIG_ELEMENT_ID}">${scriptJson(config)}</script>
<script src="${escapeHtml(scriptUrl)}"></script>
</body>
</html>
`;
}
