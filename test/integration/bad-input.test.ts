/**
 * Bad input through the CLI: every invalid migration file exits 2 with a message naming the
 * file, the operation and the field, runs nothing, and records nothing.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CatalogSnapshot, snapshotCatalog } from '../helpers/catalog.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { type CliResult, runCli } from '../helpers/tidal.js';

let db: TestDatabase;
let dir: string;
let before: CatalogSnapshot;
let itemsBefore: unknown[];

/** A valid first operation, so a file that fails on its second one proves nothing ran. */
const VALID_FIRST = `operations:
  - add_column:
      table: items
      column:
        name: note
        type: text
        nullable: true
`;

interface Case {
  name: string;
  file: string;
  yaml: string;
  /** What the message must contain besides the file name. */
  expected: (string | RegExp)[];
}

const CASES: Case[] = [
  {
    name: 'malformed YAML',
    file: 'b01_malformed.yaml',
    yaml: `${VALID_FIRST}  - add_column: {table: items, column: {name: x, type: int}\n`,
    expected: [/line \d+, column \d+/, 'invalid YAML'],
  },
  {
    name: 'an unknown operation',
    file: 'b02_unknown_operation.yaml',
    yaml: `${VALID_FIRST}  - add_colum:\n      table: items\n`,
    expected: ['operations[1]', 'unknown operation "add_colum"', 'did you mean "add_column"'],
  },
  {
    name: 'a missing required field',
    file: 'b03_missing_field.yaml',
    yaml: `${VALID_FIRST}  - add_column:\n      table: items\n      column:\n        name: weight\n        nullable: true\n`,
    expected: ['operations[1].add_column.column.type', 'required field missing'],
  },
  {
    name: 'an up expression that is not valid SQL',
    file: 'b04_up_not_sql.yaml',
    yaml: `${VALID_FIRST}  - add_column:\n      table: items\n      up: "price + * 2 ("\n      column:\n        name: doubled\n        type: int\n        nullable: true\n`,
    expected: ['operations[1].add_column.up', /not a valid SQL expression|syntax error/],
  },
  {
    name: 'an up expression over a column that does not exist',
    file: 'b05_up_unknown_column.yaml',
    yaml: `${VALID_FIRST}  - add_column:\n      table: items\n      up: "no_such_column * 2"\n      column:\n        name: doubled\n        type: int\n        nullable: true\n`,
    expected: ['operations[1].add_column.up', 'column "no_such_column" does not exist'],
  },
  {
    name: 'a table that does not exist',
    file: 'b06_no_table.yaml',
    yaml: `${VALID_FIRST}  - add_column:\n      table: no_such_table\n      column:\n        name: x\n        type: int\n        nullable: true\n`,
    expected: ['operations[1].add_column.table', '"no_such_table"', 'does not exist'],
  },
  {
    name: 'a NOT NULL column without up or default on a table with rows',
    file: 'b07_not_null_no_value.yaml',
    yaml: `${VALID_FIRST}  - add_column:\n      table: items\n      column:\n        name: sku\n        type: text\n        nullable: false\n`,
    expected: ['operations[1].add_column.column', '"sku"', /NOT NULL/],
  },
  {
    name: 'dropping a NOT NULL column without down',
    file: 'b08_drop_not_null.yaml',
    yaml: `${VALID_FIRST}  - drop_column:\n      table: items\n      column: name\n`,
    expected: ['operations[1].drop_column.down', '"name"', /NOT NULL/],
  },
  {
    // Would make a version schema and a history entry that change nothing.
    name: 'an empty list of operations',
    file: 'b12_no_operations.yaml',
    yaml: 'operations: []\n',
    expected: ['operations', 'no operations'],
  },
  {
    name: 'an up whose value cannot be assigned to the new column',
    file: 'b20_up_not_assignable.yaml',
    yaml: `${VALID_FIRST}  - add_column:\n      table: items\n      up: name\n      column:\n        name: weight\n        type: int\n        nullable: true\n`,
    expected: [
      'operations[1].add_column.up',
      'column "weight" is of type integer but expression is of type text',
    ],
  },
  {
    name: 'a down whose value cannot be assigned to the old column',
    file: 'b21_down_not_assignable.yaml',
    yaml: `${VALID_FIRST}  - alter_column:\n      table: items\n      column: price\n      type: text\n      up: price::text\n      down: price\n`,
    expected: [
      'operations[1].alter_column.down',
      'column "price" is of type integer but expression is of type text',
    ],
  },
];

function expectMessage(text: string, file: string, expected: (string | RegExp)[]): void {
  expect(text).toContain(file);
  for (const part of expected) {
    if (typeof part === 'string') expect(text).toContain(part);
    else expect(text).toMatch(part);
  }
}

function expectNoStackTrace(result: CliResult): void {
  expect(result.stderr).not.toMatch(/^\s+at /m);
  expect(result.stderr).not.toMatch(/node:internal|\.js:\d+:\d+/);
}

/** The application schema and its data are as before, and tidal recorded no migration. */
async function expectDatabaseUnchanged(): Promise<void> {
  expect(await snapshotCatalog(db)).toEqual(before);
  expect((await db.query('SELECT * FROM items ORDER BY id')).rows).toEqual(itemsBefore);
  const status = await runCli(['status', '--json', '--url', db.url]);
  expect(status.code, status.stderr).toBe(0);
  const parsed = JSON.parse(status.stdout);
  expect(parsed.active).toBeNull();
  expect(parsed.applied).toBe(0);
  const { rows } = await db.query<{ exists: boolean }>(
    `SELECT to_regclass('tidal.migrations') IS NOT NULL AS exists`,
  );
  if (rows[0]?.exists) {
    const recorded = await db.query(`SELECT name FROM tidal.migrations`);
    expect(recorded.rows).toEqual([]);
    // b09_valid is the one file that is meant to run (and is rolled back).
    const events = await db.query(
      `SELECT migration, kind FROM tidal.events WHERE migration IS DISTINCT FROM 'b09_valid'`,
    );
    expect(events.rows).toEqual([]);
  }
}

beforeAll(async () => {
  db = await createTestDatabase();
  dir = await mkdtemp(join(tmpdir(), 'tidal-bad-input-'));
  await db.query('CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, price int)');
  await db.query(`INSERT INTO items SELECT g, 'item ' || g, g * 10 FROM generate_series(1, 20) g`);
  itemsBefore = (await db.query('SELECT * FROM items ORDER BY id')).rows;
  before = await snapshotCatalog(db);
  for (const c of CASES) await writeFile(join(dir, c.file), c.yaml);
});

afterAll(async () => {
  await db?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('invalid migration files', () => {
  it.each(CASES)('$name: exit 2, names file, operation and field; nothing changes', async (c) => {
    const file = join(dir, c.file);

    const human = await runCli(['start', file], { DATABASE_URL: db.url });
    expect(human.code, human.stderr).toBe(2);
    expectMessage(human.stderr, file, c.expected);
    expectNoStackTrace(human);
    expect(human.stdout).toBe('');

    const json = await runCli(['start', file, '--json'], { DATABASE_URL: db.url });
    expect(json.code, json.stderr).toBe(2);
    const lines = json.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const output = JSON.parse(lines[0] ?? '');
    expect(output).toEqual({ error: expect.any(String), exitCode: 2 });
    expectMessage(output.error, file, c.expected);

    await expectDatabaseUnchanged();
  });

  it('the valid first operation alone would have changed the schema (the cases prove something)', async () => {
    const file = join(dir, 'b09_valid.yaml');
    await writeFile(file, VALID_FIRST);
    const result = await runCli(['start', file], { DATABASE_URL: db.url });
    expect(result.code, result.stderr).toBe(0);
    expect(await snapshotCatalog(db)).not.toEqual(before);
    const rollback = await runCli(['rollback'], { DATABASE_URL: db.url });
    expect(rollback.code, rollback.stderr).toBe(0);
    expect(await snapshotCatalog(db)).toEqual(before);
  });

  it('a file that does not exist: exit 2 naming it', async () => {
    const file = join(dir, 'b10_missing.yaml');
    const result = await runCli(['start', file], { DATABASE_URL: db.url });
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toContain(file);
    expectNoStackTrace(result);
  });

  it('a file with an unsupported extension: exit 2 naming it', async () => {
    const file = join(dir, 'b11_wrong.txt');
    await writeFile(file, VALID_FIRST);
    const result = await runCli(['start', file], { DATABASE_URL: db.url });
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toContain(file);
    expect(result.stderr).toMatch(/extension/);
  });
});

describe('usage errors exit 2', () => {
  it('an unknown command', async () => {
    const result = await runCli(['frobnicate'], { DATABASE_URL: db.url });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/unknown command/);
    expect(result.stderr).toContain('frobnicate');
  });

  it('a missing argument', async () => {
    const result = await runCli(['start'], { DATABASE_URL: db.url });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/missing required argument/);
    expect(result.stderr).toMatch(/file/);
  });

  it('an invalid argument choice and an invalid option value', async () => {
    const latest = await runCli(['latest', 'everything'], { DATABASE_URL: db.url });
    expect(latest.code).toBe(2);
    expect(latest.stderr).toContain('everything');
    const timeout = await runCli(['status', '--lock-timeout', 'soon'], { DATABASE_URL: db.url });
    expect(timeout.code).toBe(2);
    expect(timeout.stderr).toMatch(/lock-timeout/);
    for (const workers of ['0', 'many', '33']) {
      const result = await runCli(['status', '--backfill-workers', workers], {
        DATABASE_URL: db.url,
      });
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/--backfill-workers/);
      expect(result.stderr).toMatch(/expected auto or a number of workers from 1 to 32/);
    }
  });

  it('an unknown option', async () => {
    const result = await runCli(['status', '--frobnicate'], { DATABASE_URL: db.url });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/unknown option/);
  });

  it('with --json, a usage error is reported as JSON on stdout', async () => {
    const result = await runCli(['start', '--json'], { DATABASE_URL: db.url });
    expect(result.code).toBe(2);
    const lines = result.stdout.trim().split('\n');
    const output = JSON.parse(lines.at(-1) || 'null');
    expect(output).toEqual({
      error: expect.stringMatching(/missing required argument/),
      exitCode: 2,
    });
  });

  it('usage errors change nothing', async () => {
    await expectDatabaseUnchanged();
  });
});
