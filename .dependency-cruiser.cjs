// The layers of src/, bottom first (ARCHITECTURE.md says what each owns). A module may import
// from its own folder and from any layer below its own, never from a layer above it; folders of
// one layer do not import each other either.
const layers = [
  ['pg', 'errors.ts'],
  ['catalog', 'migration'],
  ['model', 'client'],
  ['techniques'],
  ['operations'],
  ['planner'],
  ['executor', 'convert'],
  ['state', 'backfill', 'lint'],
  ['lifecycle'],
  ['tidal.ts'],
  ['metrics.ts', 'index.ts', 'demo', 'dashboard'],
  ['cli'],
];

const pattern = (part) =>
  part.endsWith('.ts') ? `^src/${part.replace('.', '\\.')}$` : `^src/${part}/`;
const anyOf = (parts) => parts.map(pattern).join('|');

const forbidden = layers.flatMap((layer, index) => {
  const above = layers.slice(index + 1).flat();
  return layer.map((part) => {
    const peers = layer.filter((other) => other !== part);
    const targets = [...above, ...peers];
    return {
      // test/unit/architecture.test.ts reads the layers back from these names.
      name: `layer-${index}:${part}`,
      comment: `${part} may not import from ${targets.join(', ')} (a layer above it, or a peer)`,
      severity: 'error',
      from: { path: pattern(part) },
      to: { path: targets.length > 0 ? anyOf(targets) : '^$' },
    };
  });
});

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    ...forbidden,
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'inside-src',
      comment: 'every module of src/ is placed in a layer above',
      severity: 'error',
      from: { path: '^src/', pathNot: anyOf(layers.flat()) },
      to: {},
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^src/',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
