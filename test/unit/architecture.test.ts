/**
 * ARCHITECTURE.md, the layer rules that `npm run lint` enforces (.dependency-cruiser.cjs) and the
 * folders of src/ name the same parts in the same order, so the document cannot drift from the
 * code: a new folder, a layer moved or a part renamed fails here until all three agree.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { cruise } from 'dependency-cruiser';
import { describe, expect, test } from 'vitest';

const root = join(import.meta.dirname, '../..');
const config = createRequire(import.meta.url)(join(root, '.dependency-cruiser.cjs')) as {
  forbidden: { name: string }[];
};

/** The layers of the rules, bottom first: each rule is named `layer-<index>:<part>`. */
const layers: string[][] = [];
for (const { name } of config.forbidden) {
  const match = /^layer-(\d+):(.+)$/.exec(name);
  if (!match) continue;
  const index = Number(match[1]);
  layers[index] = [...(layers[index] ?? []), match[2] ?? ''];
}

/** The layers as ARCHITECTURE.md's table lists them, bottom first: `| n | `a/`, `b.ts` | ... |`. */
function documentedLayers(): string[][] {
  const text = readFileSync(join(root, 'ARCHITECTURE.md'), 'utf8');
  const rows = text.split('\n').filter((line) => /^\|\s*\d+\s*\|/.test(line));
  return rows.map((row) => {
    const cell = row.split('|')[2] ?? '';
    return [...cell.matchAll(/`([^`]+)`/g)].map((m) => (m[1] ?? '').replace(/\/$/, ''));
  });
}

describe('the architecture', () => {
  test('ARCHITECTURE.md lists the layers of .dependency-cruiser.cjs, in order', () => {
    expect(documentedLayers()).toEqual(layers);
  });

  test('every folder and top-level module of src/ is in a layer', () => {
    const parts = readdirSync(join(root, 'src'), { withFileTypes: true }).map(
      (entry) => entry.name,
    );
    expect(parts.sort()).toEqual(layers.flat().sort());
  });

  test('the rules refuse an import up a layer and let one down through', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tidal-layers-'));
    try {
      const write = (file: string, text: string) => {
        mkdirSync(join(dir, dirname(file)), { recursive: true });
        writeFileSync(join(dir, file), text);
      };
      write('src/cli/main.ts', 'export const main = 1;\n');
      write('src/pg/quote.ts', "import { main } from '../cli/main.js';\nexport const q = main;\n");
      write('src/model/names.ts', "import { q } from '../pg/quote.js';\nexport const n = q;\n");
      const result = await cruise(
        ['src'],
        {
          baseDir: dir,
          validate: true,
          ruleSet: { forbidden: config.forbidden } as never,
          includeOnly: '^src/',
          enhancedResolveOptions: { extensions: ['.ts', '.js'] },
        } as never,
        { extensions: ['.ts', '.js'] } as never,
      );
      const output = result.output as {
        summary: { violations: { from: string; to: string; rule: { name: string } }[] };
      };
      expect(output.summary.violations.map((v) => `${v.rule.name} ${v.from} -> ${v.to}`)).toEqual([
        'layer-0:pg src/pg/quote.ts -> src/cli/main.ts',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
