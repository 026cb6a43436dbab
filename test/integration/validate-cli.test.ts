/**
 * `tidal create` and `tidal validate` from the command line: numbered files, the template and
 * a converted file refused until written; every problem at its file and field, offline and
 * against a real database, which validate leaves as it was.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createTestDatabase } from '../helpers/db.js';
import { runCli } from '../helpers/tidal.js';

const ADD_SHOUT = `operations:
  - add_column:
      table: notes
      up: upper(body)
      column: {name: shout, type: text, nullable: true}
`;

interface ValidateReport {
  valid: boolean;
  files: string[];
  problems: { file: string; path: string; message: string }[];
  database: { applied: string[]; planned: string[] } | null;
}

const validate = async (args: string[], env: Record<string, string> = {}) => {
  const result = await runCli(['validate', ...args, '--json'], env);
  return { code: result.code, report: JSON.parse(result.stdout) as ValidateReport };
};

describe('tidal create', () => {
  it('numbers each file after the last; the template and a converted file are refused until written', async () => {
    const dir = join(await mkdtemp(join(tmpdir(), 'tidal-create-')), 'migrations');
    const first = await runCli(['create', 'add_shout', '--dir', dir]);
    expect(first.code).toBe(0);
    expect(first.stdout.trim()).toBe(join(dir, '0001_add_shout.yaml'));
    await writeFile(join(dir, '0007_by_hand.yaml'), ADD_SHOUT);
    const sql = join(dir, '..', 'change.sql');
    await writeFile(
      sql,
      "ALTER TABLE notes ADD COLUMN stars int NOT NULL;\nCREATE TYPE mood AS ENUM ('a');\n",
    );
    const converted = await runCli(['create', 'stars', '--dir', dir, '--from', sql]);
    expect(converted.code).toBe(0);
    const path = join(dir, '0008_stars.yaml');
    expect(converted.stdout.trim()).toBe(path);
    expect(converted.stderr).toContain(
      `${sql}:2: kept as a sql operation: no tidal operation does this`,
    );
    expect(converted.stderr).toContain(
      `${path}: operations[0].add_column.up: left for you to write: the value of stars for the rows already in notes`,
    );
    expect(await readFile(path, 'utf8')).toMatch(
      /^# Converted by tidal convert from .*change\.sql\./,
    );
    expect((await readdir(dir)).sort()).toEqual([
      '0001_add_shout.yaml',
      '0007_by_hand.yaml',
      '0008_stars.yaml',
    ]);
    expect((await runCli(['create', 'no spaces', '--dir', dir])).code).toBe(2);

    const { code, report } = await validate([dir]);
    expect(code).toBe(2);
    expect(report.valid).toBe(false);
    expect(report.problems).toEqual([
      {
        file: join(dir, '0001_add_shout.yaml'),
        path: 'operations',
        message: 'no operations: a migration needs at least one',
      },
      {
        file: path,
        path: 'operations[0].add_column.up',
        message: 'left for you to write: the value of stars for the rows already in notes',
      },
    ]);
    // Offline only: no database was named.
    expect(report.database).toBeNull();
  });
});

describe('tidal validate', () => {
  it('against a database: applied files unchanged, the rest planned in turn; it changes nothing', async () => {
    const db = await createTestDatabase();
    try {
      await db.query('CREATE TABLE notes (id int PRIMARY KEY, body text)');
      const dir = await mkdtemp(join(tmpdir(), 'tidal-validate-'));
      await writeFile(join(dir, '01_shout.yaml'), ADD_SHOUT);
      await writeFile(
        join(dir, '02_index.yaml'),
        'operations:\n  - create_index: {name: notes_shout, table: notes, columns: [{column: shout}]}\n',
      );
      // Planned against the schema 01 leaves: shout exists by then.
      const fresh = await validate([dir, '--url', db.url]);
      expect(fresh.code).toBe(0);
      expect(fresh.report.database).toEqual({
        applied: [],
        baselined: [],
        planned: [join(dir, '01_shout.yaml'), join(dir, '02_index.yaml')],
      });
      const { rows: untouched } = await db.query(
        `SELECT to_regnamespace('tidal') IS NULL AS no_state,
                (SELECT count(*)::int FROM information_schema.columns WHERE table_name = 'notes') AS columns`,
      );
      expect(untouched).toEqual([{ no_state: true, columns: 2 }]);

      expect((await runCli(['migrate', dir, '--complete', '--url', db.url])).code).toBe(0);
      await writeFile(
        join(dir, '03_missing.yaml'),
        'operations:\n  - drop_column: {table: nowhere, column: body}\n',
      );
      const next = await runCli(['validate', dir, '--url', db.url]);
      expect(next.code).toBe(2);
      expect(next.stdout).toMatch(/03_missing\.yaml: .*nowhere/);
      await writeFile(
        join(dir, '03_missing.yaml'),
        'operations:\n  - drop_column: {table: notes, column: shout}\n',
      );
      const planned = await runCli(['validate', dir, '--url', db.url]);
      expect(planned.code).toBe(0);
      expect(planned.stdout.trim()).toBe(
        '3 file(s) checked offline: valid; against the database: 2 applied and unchanged, 1 planned',
      );

      // A file changed after it was applied is refused, at the file.
      await writeFile(join(dir, '01_shout.yaml'), ADD_SHOUT.replace('upper', 'lower'));
      const changed = await validate([dir, '--url', db.url]);
      expect(changed.code).toBe(2);
      expect(changed.report.problems).toEqual([
        {
          file: join(dir, '01_shout.yaml'),
          path: '',
          message: expect.stringMatching(/was applied with different content/),
        },
      ]);
      // --offline checks only the files.
      expect((await validate([dir, '--url', db.url, '--offline'])).report).toMatchObject({
        valid: true,
        database: null,
      });
    } finally {
      await db.dispose();
    }
  }, 60_000);
});

describe('tidal pull', () => {
  it('writes what the database recorded, byte for byte; leaves files that match; refuses one that differs', async () => {
    const db = await createTestDatabase();
    try {
      await db.query('CREATE TABLE notes (id int PRIMARY KEY, body text)');
      const dir = await mkdtemp(join(tmpdir(), 'tidal-pull-src-'));
      const json =
        '{\n  "operations": [\n    {"create_index": {"name": "notes_body", "table": "notes", "columns": [{"column": "body"}]}}\n  ]\n}\n';
      await writeFile(join(dir, '01_shout.yaml'), `# the shout column\n${ADD_SHOUT}`);
      await writeFile(join(dir, '02_index.json'), json);
      // The first completed, the second active.
      expect((await runCli(['migrate', dir, '--url', db.url])).code).toBe(0);

      const checkout = join(await mkdtemp(join(tmpdir(), 'tidal-pull-')), 'migrations');
      const pulled = await runCli(['pull', checkout, '--url', db.url, '--json']);
      expect(pulled.code).toBe(0);
      expect(JSON.parse(pulled.stdout).migrations).toEqual([
        {
          name: '01_shout',
          path: join(checkout, '01_shout.yaml'),
          outcome: 'written',
          active: false,
        },
        {
          name: '02_index',
          path: join(checkout, '02_index.json'),
          outcome: 'written',
          active: true,
        },
      ]);
      expect(await readFile(join(checkout, '01_shout.yaml'), 'utf8')).toBe(
        `# the shout column\n${ADD_SHOUT}`,
      );
      expect(await readFile(join(checkout, '02_index.json'), 'utf8')).toBe(json);

      const again = await runCli(['pull', checkout, '--url', db.url]);
      expect(again.stdout).toContain('2 migration(s) recorded; 0 written into');
      await writeFile(join(checkout, '01_shout.yaml'), ADD_SHOUT);
      await rm(join(checkout, '02_index.json'));
      const refused = await runCli(['pull', checkout, '--url', db.url]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain(
        `${join(checkout, '01_shout.yaml')}: differs from what the database recorded for "01_shout"`,
      );
      // Nothing was written: the missing file stays missing.
      expect((await readdir(checkout)).sort()).toEqual(['01_shout.yaml']);
    } finally {
      await db.dispose();
    }
  }, 60_000);
});
