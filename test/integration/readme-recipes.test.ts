/**
 * The README's CI recipe, `scripts/check-migrations.sh`, run as printed there on a small project
 * (tidal migrations, and the plain SQL migrations an ORM wrote), with `npx tidal` resolving to
 * this build the way an installed package does.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const CREATE_ITEMS = `operations:
  - create_table:
      name: items
      columns:
        - name: id
          type: bigint
          pk: true
        - name: name
          type: text
`;

const ADD_SKU = `operations:
  - add_column:
      table: items
      column:
        name: sku
        type: text
        nullable: true
`;

const ORM_SQL = 'CREATE TABLE item_notes (id bigint PRIMARY KEY, note text NOT NULL);\n';

/** The script block of the README, as printed. */
async function checkScript(): Promise<string> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const match =
    /```sh\n(#!\/usr\/bin\/env bash\n# scripts\/check-migrations\.sh\n[\s\S]*?)```/.exec(readme);
  if (!match?.[1]) throw new Error('README.md: no scripts/check-migrations.sh block');
  return match[1];
}

let db: TestDatabase;
let project: string;

/** A project with tidal installed: node_modules/tidal and its bin, as npm links them. */
async function makeProject(ormSql: string): Promise<void> {
  project = await mkdtemp(join(tmpdir(), 'tidal-recipe-'));
  await mkdir(join(project, 'migrations'));
  await mkdir(join(project, 'prisma/migrations/20260101000000_init'), { recursive: true });
  await mkdir(join(project, 'scripts'));
  await mkdir(join(project, 'node_modules/.bin'), { recursive: true });
  await writeFile(join(project, 'migrations/01_create_items.yaml'), CREATE_ITEMS);
  await writeFile(join(project, 'migrations/02_add_sku.yaml'), ADD_SKU);
  await writeFile(join(project, 'prisma/migrations/20260101000000_init/migration.sql'), ormSql);
  await writeFile(join(project, 'scripts/check-migrations.sh'), await checkScript());
  await writeFile(
    join(project, 'package.json'),
    JSON.stringify({ name: 'recipe', private: true, dependencies: { tidal: '*' } }),
  );
  await symlink(ROOT, join(project, 'node_modules/tidal'));
  const bin = join(project, 'node_modules/.bin/tidal');
  await writeFile(
    bin,
    `#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, 'dist/cli/main.js')}" "$@"\n`,
  );
  await chmod(bin, 0o755);
}

function runScript(): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(
      'bash',
      ['scripts/check-migrations.sh'],
      { cwd: project, env: { ...process.env, DATABASE_URL: db.url }, timeout: 120_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, output: `${stdout}\n${stderr}` });
      },
    );
  });
}

async function schemas(): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(
    `SELECT nspname AS name FROM pg_namespace WHERE nspname LIKE 'public%' ORDER BY 1`,
  );
  return rows.map((r) => r.name);
}

beforeEach(async () => {
  db = await createTestDatabase();
});

afterEach(async () => {
  await db.dispose();
  await rm(project, { recursive: true, force: true });
});

describe('the CI recipe (scripts/check-migrations.sh)', () => {
  it('builds the database from the earlier migrations, plans, starts and rolls back the newest, lints the SQL', async () => {
    await makeProject(ORM_SQL);
    const { code, output } = await runScript();
    expect(code, output).toBe(0);
    // The plan of the newest migration, statement by statement.
    expect(output).toMatch(/ALTER TABLE "public"\."items" ADD COLUMN "_tidal_new_sku" text/);
    // 01 is applied and completed; 02 started and was rolled back: as before it.
    expect(await schemas()).toEqual(['public', 'public_01_create_items']);
    const { rows } = await db.query<{ column_name: string }>(
      `SELECT column_name FROM information_schema.columns
        WHERE table_schema = 'public' AND table_name = 'items' ORDER BY ordinal_position`,
    );
    expect(rows.map((r) => r.column_name)).toEqual(['id', 'name']);
  });

  it('fails on an error-level lint finding in the plain SQL, naming the file and the rule', async () => {
    // An index on a table the file does not create: every write to it would wait for the build.
    await makeProject(`${ORM_SQL}CREATE INDEX items_name ON items (name);\n`);
    const { code, output } = await runScript();
    expect(code, output).toBe(1);
    expect(output).toContain('prisma/migrations/20260101000000_init/migration.sql');
    expect(output).toContain('create-index-not-concurrently');
  });
});
