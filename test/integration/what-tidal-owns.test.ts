/**
 * tidal never drops or changes what it did not create: names it needs are checked before the
 * first statement, a column is the application's whatever its name, and rollback undoes only
 * what the state records start made.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OperationError } from '../../src/errors.js';
import { snapshotCatalog } from '../helpers/catalog.js';
import { rows } from '../helpers/cycle.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { migrationFromYaml, runCli, withTidal } from '../helpers/tidal.js';

let db: TestDatabase;

beforeEach(async () => {
  db = await createTestDatabase();
});

afterEach(async () => {
  await db.dispose();
});

async function writeMigration(name: string, yaml: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tidal-owns-'));
  const file = join(dir, `${name}.yaml`);
  await writeFile(file, yaml);
  return file;
}

describe('names tidal needs', () => {
  it('a user column named like the copy tidal would make stops start before anything runs', async () => {
    await db.query(`CREATE TABLE users (id int PRIMARY KEY, score int, _tidal_new_score text)`);
    await db.query(`INSERT INTO users VALUES (1, 10, 'mine')`);
    const before = await snapshotCatalog(db.pool);
    const file = await writeMigration(
      'widen',
      `operations:
  - alter_column:
      table: users
      column: score
      type: bigint
`,
    );
    const result = await runCli(['--url', db.url, 'start', file]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /widen\.yaml: tidal needs the name "_tidal_new_score" for a column of its own on table "users", and table "users" already has one/,
    );
    expect(await snapshotCatalog(db.pool)).toEqual(before);
    expect(await rows(db.pool, 'SELECT * FROM users')).toEqual([
      { id: 1, score: 10, _tidal_new_score: 'mine' },
    ]);
  });

  it("a user column whose name starts with _tidal_ is the application's: views show it and constraints may use it", async () => {
    await db.query(`CREATE TABLE users (id int PRIMARY KEY, _tidal_flag int)`);
    await db.query(`INSERT INTO users VALUES (1, 5)`);
    const migration = await migrationFromYaml(
      'flag',
      `operations:
  - create_constraint:
      type: check
      table: users
      name: flag_positive
      columns: [_tidal_flag]
      check: _tidal_flag > 0
      up:
        _tidal_flag: _tidal_flag
      down:
        _tidal_flag: _tidal_flag
  - add_column:
      table: users
      column:
        name: note
        type: text
        nullable: true
`,
    );
    await withTidal(db.url, (t) => t.start(migration));
    expect(await rows(db.pool, 'SELECT id, _tidal_flag, note FROM public_flag.users')).toEqual([
      { id: 1, _tidal_flag: 5, note: null },
    ]);
    await withTidal(db.url, (t) => t.complete());
    expect(await rows(db.pool, 'SELECT id, _tidal_flag FROM public_flag.users')).toEqual([
      { id: 1, _tidal_flag: 5 },
    ]);
    await expect(db.query('INSERT INTO users VALUES (2, -1)')).rejects.toThrow(/flag_positive/);
  });
});

describe('rollback undoes only what start made', () => {
  const failingIndex = `
  - create_index:
      name: items_code_key
      table: items
      columns:
        - column: code
      unique: true`;

  beforeEach(async () => {
    await db.query(`CREATE TABLE items (id int PRIMARY KEY, code text)`);
    // Duplicate codes: the unique index fails to build, and start rolls back.
    await db.query(`INSERT INTO items VALUES (1, 'a'), (2, 'a')`);
    await db.query(`CREATE TABLE audit (id int)`);
    await db.query(`INSERT INTO audit VALUES (42)`);
  });

  it('keeps a table a later sql operation never got to create', async () => {
    const migration = await migrationFromYaml(
      'index_then_sql',
      `operations:${failingIndex}
  - sql:
      up: CREATE TABLE audit (id int)
`,
    );
    const error = await withTidal(db.url, (t) => t.start(migration)).catch((e: Error) => e);
    expect(error).toBeInstanceOf(OperationError);
    expect((error as Error).message).toMatch(/was rolled back/);
    expect(await rows(db.pool, 'SELECT id FROM audit')).toEqual([{ id: 42 }]);
  });

  it('keeps an object a CREATE ... IF NOT EXISTS found already there', async () => {
    const migration = await migrationFromYaml(
      'sql_then_index',
      `operations:
  - sql:
      up: CREATE TABLE IF NOT EXISTS audit (id int)${failingIndex}
`,
    );
    const error = await withTidal(db.url, (t) => t.start(migration)).catch((e: Error) => e);
    expect((error as Error).message).toMatch(/was rolled back/);
    expect(await rows(db.pool, 'SELECT id FROM audit')).toEqual([{ id: 42 }]);
  });

  it('still drops what start made before it failed', async () => {
    const migration = await migrationFromYaml(
      'made_then_failed',
      `operations:
  - sql:
      up: CREATE TABLE scratch (id int)
  - add_column:
      table: items
      column:
        name: note
        type: text
        nullable: true${failingIndex}
`,
    );
    const before = await snapshotCatalog(db.pool);
    await withTidal(db.url, (t) => t.start(migration)).catch(() => {});
    expect(await snapshotCatalog(db.pool)).toEqual(before);
  });
});
