/**
 * PostgreSQL's 1600 columns per table, dropped ones included: a start that would add more than a
 * table can take is refused before anything runs, since each ADD COLUMN it got through would
 * stay behind as a dropped attribute after the rollback.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { snapshotCatalog } from '../helpers/catalog.js';
import { rows } from '../helpers/cycle.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { migrationFromYaml, runCli, withTidal } from '../helpers/tidal.js';

let db: TestDatabase;
let dir: string;

/** `table (id, name)` with `dropped` columns dropped: `2 + dropped` attribute numbers taken. */
async function tableWithDropped(table: string, dropped: number): Promise<void> {
  const extra = Array.from({ length: dropped }, (_, i) => `x${i} int`);
  await db.query(`CREATE TABLE ${table} (id int PRIMARY KEY, name text, ${extra.join(', ')})`);
  await db.query(
    `ALTER TABLE ${table} ${Array.from({ length: dropped }, (_, i) => `DROP COLUMN x${i}`).join(', ')}`,
  );
  await db.query(`INSERT INTO ${table} SELECT g, 'name ' || g FROM generate_series(1, 5) g`);
}

async function attributes(table: string): Promise<{ live: number; dropped: number }[]> {
  return rows(
    db.pool,
    `SELECT count(*) FILTER (WHERE NOT attisdropped)::int AS live,
            count(*) FILTER (WHERE attisdropped)::int AS dropped
       FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0`,
    [table],
  );
}

/** A new column filled by `up`, and a copy of `name` (a new type, `up` computes): with the
 *  backfill's row mark, three columns start adds. */
const threeColumns = (table: string) => `operations:
  - add_column:
      table: ${table}
      up: name || '!'
      column: {name: note, type: text, nullable: true}
  - alter_column:
      table: ${table}
      column: name
      type: varchar(100)
      up: upper(name)
      down: lower(name)
`;

beforeAll(async () => {
  db = await createTestDatabase();
  dir = await mkdtemp(join(tmpdir(), 'tidal-column-limit-'));
  // 1600 - 3: room for exactly three more; one more dropped column leaves room for two.
  await tableWithDropped('fits', 1595);
  await tableWithDropped('over', 1596);
});

afterAll(async () => {
  await db?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the columns a table can take', () => {
  it('refuses a start that adds more than a table with dropped columns can take: exit 2, nothing changed', async () => {
    const before = await snapshotCatalog(db.pool);
    const file = join(dir, 'm_over.yaml');
    await writeFile(file, threeColumns('over'));
    const result = await runCli(['start', file, '--url', db.url]);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toContain(
      `${file}: table "over" cannot take the columns this migration adds: it has 2 columns and 1596 dropped ones, start would add 3 (new columns, copies of changed ones, the backfill's row mark), and PostgreSQL allows 1600 per table, dropped columns included. Dropped columns are only reclaimed by making the table anew`,
    );
    expect(result.stderr).not.toMatch(/^\s+at /m);
    expect(await snapshotCatalog(db.pool)).toEqual(before);
    expect(await attributes('over')).toEqual([{ live: 2, dropped: 1596 }]);
    expect(await rows(db.pool, `SELECT to_regnamespace('tidal') AS s`)).toEqual([{ s: null }]);
  });

  it('runs a start that fits exactly', async () => {
    const file = join(dir, 'm_fits.yaml');
    await writeFile(file, threeColumns('fits'));
    const result = await runCli(['start', file, '--complete', '--url', db.url]);
    expect(result.code, result.stderr).toBe(0);
    expect(
      await rows(db.pool, 'SELECT id, name, note FROM fits WHERE id <= 2 ORDER BY id'),
    ).toEqual([
      { id: 1, name: 'NAME 1', note: 'name 1!' },
      { id: 2, name: 'NAME 2', note: 'name 2!' },
    ]);
    // The three added, then the mark and the old "name" dropped at complete.
    expect(await attributes('fits')).toEqual([{ live: 3, dropped: 1597 }]);
  });

  it('refuses thousands of add_column on one table as soon as planning gets over the limit, before the checks against the database', async () => {
    await db.query('CREATE TABLE narrow (id int PRIMARY KEY, a int)');
    const before = await attributes('narrow');
    const operations = Array.from(
      { length: 3000 },
      (_, i) =>
        // One expression the database would refuse: the limit is reported first.
        `  - add_column: {table: narrow, up: "${i === 1 ? 'no_such_column' : `a * ${i}`}", column: {name: c${i}, type: int, nullable: true}}`,
    );
    const loaded = await migrationFromYaml('m_many', `operations:\n${operations.join('\n')}\n`);
    const error = await withTidal(db.url, (t) => t.plan(loaded)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputError);
    expect((error as Error).message).toMatch(
      /^m_many\.yaml: table "narrow" cannot take the columns this migration adds: it has 2 columns and 0 dropped ones, start would add at least 3000 /,
    );
    expect(await attributes('narrow')).toEqual(before);
  });

  it('counts the columns of a table the migration creates', async () => {
    const columns = Array.from(
      { length: 1599 },
      (_, i) => `{name: c${i}, type: int, nullable: true}`,
    );
    const loaded = await migrationFromYaml(
      'm_created',
      `operations:
  - create_table: {name: made, columns: [${columns.join(', ')}]}
  - add_column: {table: made, column: {name: one, type: int, nullable: true}}
  - add_column: {table: made, column: {name: two, type: int, nullable: true}}
`,
    );
    await expect(withTidal(db.url, (t) => t.plan(loaded))).rejects.toThrow(
      'm_created.yaml: table "made" cannot take the columns this migration adds: it has 1599 columns and 0 dropped ones, start would add at least 2 ',
    );
    expect(await rows(db.pool, `SELECT to_regclass('made') AS t`)).toEqual([{ t: null }]);
  });
});
