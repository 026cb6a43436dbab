/**
 * What `npm pack` makes is a working package: every entry point package.json names (exports,
 * main, types, bin) is in it, the bin runs as a command, and nothing but dist/, the README and
 * package.json goes in. examples/rolling-deploy installs the packed package in CI (.ci/run).
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Manifest {
  main: string;
  types: string;
  bin: Record<string, string>;
  exports: Record<string, string | Record<string, string>>;
}

let packed: Set<string>;
let manifest: Manifest;

/** `./dist/x.js` → `dist/x.js`, as npm lists packed files. */
const inPack = (target: string) => target.replace(/^\.\//, '');

beforeAll(async () => {
  // --ignore-scripts: `prepare` would rebuild dist/ under the other tests' feet.
  const { stdout } = await promisify(execFile)(
    'npm',
    ['pack', '--dry-run', '--json', '--ignore-scripts'],
    { cwd: ROOT },
  );
  const [pack] = JSON.parse(stdout) as { files: { path: string }[] }[];
  packed = new Set(pack?.files.map((f) => f.path));
  manifest = JSON.parse(await readFile(`${ROOT}package.json`, 'utf8'));
}, 60_000);

describe('npm pack', () => {
  it('holds every entry point package.json names', () => {
    const targets = [
      manifest.main,
      manifest.types,
      ...Object.values(manifest.bin),
      ...Object.values(manifest.exports).flatMap((entry) =>
        typeof entry === 'string' ? [entry] : Object.values(entry),
      ),
    ].map(inPack);
    expect(targets).toContain('dist/client/index.js');
    expect(targets).toContain('dist/cli/main.js');
    expect(targets.filter((target) => !packed.has(target))).toEqual([]);
  });

  it("holds the dashboard's page beside its server (tsc does not copy it)", () => {
    for (const file of ['index.html', 'app.js', 'style.css'])
      expect(packed.has(`dist/dashboard/assets/${file}`)).toBe(true);
    expect(packed.has('dist/dashboard/server.js')).toBe(true);
  });

  it('holds nothing but dist/, the README and package.json', () => {
    const outside = [...packed].filter((path) => !path.startsWith('dist/'));
    expect(outside.sort()).toEqual(['README.md', 'package.json']);
  });

  it('its bin runs as a command: a node shebang', async () => {
    for (const bin of Object.values(manifest.bin)) {
      const text = await readFile(`${ROOT}${inPack(bin)}`, 'utf8');
      expect(text.split('\n')[0]).toBe('#!/usr/bin/env node');
    }
  });
});
