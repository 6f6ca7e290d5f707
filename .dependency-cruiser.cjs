// The layering rule CI checks (npm run lint:layers): each layer of src/ imports only layers below it.
// Bottom to top; see ARCHITECTURE in README.md ("Where things live").
const LAYERS = ['core', 'engines', 'models', 'weights', 'data', 'inference', 'train', 'compare', 'report', 'queue', 'serve', 'cli'];

const forbidden = LAYERS.map((layer, i) => {
  const above = LAYERS.slice(i + 1);
  return {
    name: `${layer}-imports-only-below`,
    comment: `src/${layer}/ may import only from ${LAYERS.slice(0, i).map((l) => `src/${l}/`).join(', ') || 'nothing else in src/'} (and itself)`,
    severity: 'error',
    from: { path: `^src/${layer}/` },
    to: { path: above.length ? `^src/(${above.join('|')})/` : '^$' },
  };
});

// Inside train/, its parts are layers too: the loop (fit, step engines, callbacks, checkpoints) knows no
// run; recalibration and probes build on the loop; the run (plan, execution, output folder) uses them all.
const TRAIN_PARTS = [
  { part: 'loop', above: ['recalibration', 'probes', 'run'] },
  { part: 'recalibration', above: ['run'] },
  { part: 'probes', above: ['run'] },
];
for (const { part, above } of TRAIN_PARTS) {
  forbidden.push({
    name: `train-${part}-imports-no-${above.join('-')}`,
    comment: `src/train/${part}/ may not import src/train/${above.join('/, src/train/')}/ (they build on it)`,
    severity: 'error',
    from: { path: `^src/train/${part}/` },
    to: { path: `^src/train/(${above.join('|')})/` },
  });
}

forbidden.push(
  {
    name: 'index-is-the-only-entry',
    comment: 'nothing inside the library imports the public entry src/index.ts (it would import every layer)',
    severity: 'error',
    from: { path: '^src/(?!index\\.ts$)' },
    to: { path: '^src/index\\.ts$' },
  },
  {
    name: 'every-module-in-a-layer',
    comment: 'a source file lives in one of the layer folders (or is src/index.ts)',
    severity: 'error',
    from: { path: `^src/(?!(${LAYERS.join('|')})/|index\\.ts$)` },
    to: {},
  }
);

module.exports = {
  forbidden,
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
