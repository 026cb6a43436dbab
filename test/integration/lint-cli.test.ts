/** `tidal lint` over a folder of migrations shaped like Prisma's, Drizzle's and Knex's: what
 *  it reports, in each output format, and its exit codes. */
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { lintText } from '../../src/lint/lint.js';
import { rulesTable } from '../../src/lint/report.js';
import { loadMigrationText } from '../../src/migration/load.js';
import { initSqlParser } from '../../src/migration/sql-text.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { migrationFromYaml, runCli, withTidal } from '../helpers/tidal.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/lint', import.meta.url));

describe('tidal lint', () => {
  it('reports what it should in the folder and nothing else, exit 1 for the errors', async () => {
    const result = await runCli(['lint', FIXTURES, '--format', 'json']);
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout) as {
      files: string[];
      findings: { file: string; line: number; rule: string; level: string }[];
    };
    expect(report.files).toHaveLength(5);
    expect(
      report.findings.map((f) => [f.file.slice(FIXTURES.length + 1), f.line, f.rule, f.level]),
    ).toEqual([
      ['drizzle/0001_orders_note.sql', 5, 'alter-column-type', 'error'],
      ['knex/20240301_backfill.sql', 5, 'unbatched-update', 'warning'],
      [
        'prisma/migrations/20240201000000_add_status/migration.sql',
        3,
        'missing-lock-timeout',
        'warning',
      ],
      [
        'prisma/migrations/20240201000000_add_status/migration.sql',
        6,
        'create-index-not-concurrently',
        'error',
      ],
    ]);
    expect(result.stderr).toMatch(/2 error-level finding/);
  });

  it('--write DIR: each file converted into DIR as one migration, named after it', async () => {
    const out = join(await mkdtemp(join(tmpdir(), 'tidal-lint-write-')), 'tidal');
    const result = await runCli(['lint', FIXTURES, '--format', 'json', '--write', out]);
    expect(result.code).toBe(1);
    expect((await readdir(out)).sort()).toEqual([
      '0000_orders.yaml',
      '0001_orders_note.yaml',
      '20240101000000_init.yaml',
      '20240201000000_add_status.yaml',
      '20240301_backfill.yaml',
    ]);
    // Knex's ADD COLUMN and the UPDATE that fills it: one add_column with up, outside BEGIN.
    const knex = await loadMigrationText(
      await readFile(join(out, '20240301_backfill.yaml'), 'utf8'),
      'knex.yaml',
    );
    expect(knex.migration.operations.map((o) => o.kind)).toEqual([
      'add_column',
      'drop_column',
      'create_index',
    ]);
    expect(knex.migration.operations[0]?.options).toMatchObject({
      up: "split_part(email, '@', 1)",
    });
    // Drizzle's table and the foreign key it adds after: one create_table.
    const drizzle = await readFile(join(out, '0000_orders.yaml'), 'utf8');
    expect(drizzle).toMatch(/create_table:[\s\S]*type: foreign_key[\s\S]*on_delete: CASCADE/);
    expect(drizzle).not.toMatch(/sql:/);
    expect(result.stderr).toContain(
      `wrote ${join(out, '0001_orders_note.yaml')}: 2 operation(s), 0 of them sql; 2 field(s) left for you to write`,
    );
    // Never over a file: a second run refuses.
    expect((await runCli(['lint', FIXTURES, '--write', out])).code).toBe(2);
  });

  it('exits 0 when only warnings remain, and prints text by default', async () => {
    const result = await runCli(['lint', join(FIXTURES, 'knex')]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /knex\/20240301_backfill\.sql:5:1: warning \[unbatched-update\] .*With tidal: add_column or alter_column with `up`/,
    );
    expect(result.stdout).toMatch(/1 file\(s\): 0 error\(s\), 1 warning\(s\), 0 note\(s\)/);
  });

  it('writes SARIF 2.1.0 with the rules and each result located', async () => {
    const result = await runCli(['lint', join(FIXTURES, 'prisma'), '--format', 'sarif']);
    const sarif = JSON.parse(result.stdout);
    expect(sarif.version).toBe('2.1.0');
    const run = sarif.runs[0];
    expect(run.tool.driver.rules.map((r: { id: string }) => r.id)).toContain(
      'create-index-not-concurrently',
    );
    expect(run.results).toEqual([
      expect.objectContaining({ ruleId: 'missing-lock-timeout', level: 'warning' }),
      expect.objectContaining({
        ruleId: 'create-index-not-concurrently',
        level: 'error',
        locations: [
          {
            physicalLocation: {
              artifactLocation: {
                uri: join(FIXTURES, 'prisma/migrations/20240201000000_add_status/migration.sql'),
              },
              region: { startLine: 6, startColumn: 1 },
            },
          },
        ],
      }),
    ]);
  });

  it('a file that does not parse is bad input: exit 2, naming file and line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tidal-lint-'));
    const file = join(dir, 'broken.sql');
    await writeFile(file, "SET lock_timeout = '1s';\nALTER TABLE t ADD COLUMN;\n");
    const result = await runCli(['lint', file]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${file}:2:`);
    expect((await runCli(['lint', join(dir, 'missing.sql')])).code).toBe(2);
  });

  it('the tidal migrations it suggests make the change on a real database', async () => {
    const db = await createTestDatabase();
    try {
      await db.query('CREATE TABLE users (id bigint PRIMARY KEY, name text, email text)');
      await db.query('CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint, qty int)');
      await db.query(`INSERT INTO users VALUES (1, 'a', 'a@x'), (2, 'b', 'b@x')`);
      await db.query('INSERT INTO orders VALUES (1, 1, 3), (2, 2, 4)');
      await initSqlParser();
      const findings = lintText(
        [
          "SET lock_timeout = '1s'",
          'ALTER TABLE users RENAME COLUMN name TO full_name',
          'ALTER TABLE orders ALTER COLUMN qty TYPE bigint',
          'ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id)',
          'CREATE UNIQUE INDEX users_email ON users (email)',
          'ALTER TABLE users ALTER COLUMN email SET NOT NULL',
          '',
        ].join(';\n'),
        'm.sql',
      );
      const migrations = findings.flatMap((f) => (f.tidalMigration ? [f.tidalMigration] : []));
      expect(migrations).toHaveLength(5);
      // What the SQL does not say is left to write: the type qty had, whether rows break the
      // foreign key or are NULL. Here the column itself is right each time.
      const left = migrations.join('\n').match(/TODO\(tidal\): \w+/g);
      expect(left).toEqual(['TODO(tidal): qty', 'TODO(tidal): user_id', 'TODO(tidal): email']);
      for (const [i, suggested] of migrations.entries()) {
        const yaml = suggested.replace(/"TODO\(tidal\): (\w+)[^"\n]*"/g, '$1');
        const loaded = await migrationFromYaml(`m${i}`, yaml);
        await withTidal(db.url, (t) => t.start(loaded, { complete: true }));
      }
      expect(await snapshotColumns(db)).toEqual([
        'orders.id bigint NO',
        'orders.qty bigint YES',
        'orders.user_id bigint YES',
        'users.email text NO',
        'users.full_name text YES',
        'users.id bigint NO',
      ]);
      const { rows } = await db.query(
        `SELECT conname, convalidated FROM pg_constraint WHERE conname = 'orders_user_fk'
         UNION ALL SELECT indexname, true FROM pg_indexes WHERE indexname = 'users_email'`,
      );
      expect(rows).toEqual([
        { conname: 'orders_user_fk', convalidated: true },
        { conname: 'users_email', convalidated: true },
      ]);
    } finally {
      await db.dispose();
    }
  });

  it("the README's rule table is the one the rules make", async () => {
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
    const printed = await runCli(['lint', '--rules']);
    expect(printed.stdout.trim()).toBe(rulesTable());
    // Compared cell by cell: the formatter pads the README's columns.
    const section = (readme.split('<!-- lint-rules -->')[1] ?? '').trim().split('\n\n')[0] ?? '';
    expect(cells(section)).toEqual(cells(rulesTable()));
  });
});

/** The cells of a Markdown table's rows, trimmed; the separator row left out. */
function cells(markdown: string): string[][] {
  return markdown
    .split('\n')
    .filter((line) => line.startsWith('|') && !/^\|[\s|:-]+\|$/.test(line))
    .map((line) =>
      line
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map((cell) => cell.trim()),
    );
}

async function snapshotColumns(db: TestDatabase): Promise<string[]> {
  const { rows } = await db.query<{ line: string }>(
    `SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable AS line
       FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1`,
  );
  return rows.map((r) => r.line);
}
