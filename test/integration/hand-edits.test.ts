/**
 * Hand edits in the middle of a migration: complete checks that what start made is all there
 * before its first destructive step, and status reports what is not.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { snapshotCatalog } from '../helpers/catalog.js';
import { rows } from '../helpers/cycle.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { runCli } from '../helpers/tidal.js';

let db: TestDatabase;
let file: string;

const RETYPE = `operations:
  - alter_column:
      table: t
      column: v
      type: bigint
      up: v
      down: v
`;

beforeEach(async () => {
  db = await createTestDatabase();
  await db.query(`CREATE TABLE t (id int PRIMARY KEY, v int)`);
  await db.query(`INSERT INTO t SELECT g, g * 10 FROM generate_series(1, 50) g`);
  const dir = await mkdtemp(join(tmpdir(), 'tidal-hand-'));
  file = join(dir, 'retype.yaml');
  await writeFile(file, RETYPE);
});

afterEach(async () => {
  await db.dispose();
});

async function status(): Promise<{ text: string; json: Record<string, unknown> }> {
  const text = await runCli(['--url', db.url, 'status']);
  const json = await runCli(['--url', db.url, 'status', '--json']);
  return { text: text.stdout, json: JSON.parse(json.stdout) };
}

describe('complete refuses what start made that is gone', () => {
  it('the copy column dropped by hand: complete changes nothing, the old column keeps its data', async () => {
    expect((await runCli(['--url', db.url, 'start', file])).code).toBe(0);
    await db.query(`ALTER TABLE t DROP COLUMN _tidal_new_v CASCADE`);
    const before = await snapshotCatalog(db.pool);
    const result = await runCli(['--url', db.url, 'complete']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /complete of "retype" refused, nothing was changed: .*\n\s+- column "_tidal_new_v" of table "t" is gone/,
    );
    expect(await snapshotCatalog(db.pool)).toEqual(before);
    expect(await rows(db.pool, 'SELECT sum(v)::int AS sum FROM t')).toEqual([{ sum: 12750 }]);
    const { text, json } = await status();
    expect(text).toMatch(
      /changed by hand since start.*\n\s+column "_tidal_new_v" of table "t" is gone/,
    );
    // The dual-write trigger fires on UPDATE of the column: CASCADE dropped it too.
    expect((json.active as { drift: string[] }).drift).toEqual([
      expect.stringMatching(/column "_tidal_new_v" of table "t" is gone/),
      expect.stringMatching(/the dual-write trigger of table "t" is gone/),
    ]);
    // Rollback still brings back the old version.
    expect((await runCli(['--url', db.url, 'rollback'])).code).toBe(0);
  });

  it('the dual-write trigger dropped or disabled by hand: complete refuses, naming it', async () => {
    expect((await runCli(['--url', db.url, 'start', file])).code).toBe(0);
    await db.query(`DROP TRIGGER "~tidal_sync" ON t`);
    await db.query(`UPDATE t SET v = 777 WHERE id = 1`);
    const result = await runCli(['--url', db.url, 'complete']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/the dual-write trigger of table "t" is gone: writes since/);
    expect((await status()).text).toMatch(/the dual-write trigger of table "t" is gone/);
    expect((await runCli(['--url', db.url, 'rollback'])).code).toBe(0);
    expect(await rows(db.pool, 'SELECT v FROM t WHERE id = 1')).toEqual([{ v: 777 }]);

    expect((await runCli(['--url', db.url, 'start', file])).code).toBe(0);
    await db.query(`ALTER TABLE t DISABLE TRIGGER "~tidal_sync"`);
    const disabled = await runCli(['--url', db.url, 'complete']);
    expect(disabled.code).toBe(1);
    expect(disabled.stderr).toMatch(/the dual-write trigger of table "t" is disabled/);
    await db.query(`ALTER TABLE t ENABLE TRIGGER "~tidal_sync"`);
    expect((await runCli(['--url', db.url, 'complete'])).code).toBe(0);
  });

  it('nothing changed by hand: status reports no drift and complete runs', async () => {
    expect((await runCli(['--url', db.url, 'start', file])).code).toBe(0);
    expect(((await status()).json.active as { drift: string[] }).drift).toEqual([]);
    expect((await runCli(['--url', db.url, 'complete'])).code).toBe(0);
  });
});

describe('a state schema dropped mid-migration', () => {
  it('status names what is left on the tables instead of saying nothing', async () => {
    await writeFile(
      file,
      `operations:
  - add_column:
      table: t
      up: v * 2
      column:
        name: w
        type: int
        nullable: false
`,
    );
    expect((await runCli(['--url', db.url, 'start', file])).code).toBe(0);
    await db.query(`DROP SCHEMA tidal CASCADE`);
    const { text, json } = await status();
    expect(text).toMatch(/active migration: none\n\s+yet objects named like tidal's own/);
    expect(json.leftovers).toEqual([
      'check "_tidal_nn_w" of table "t": every write it rejects fails',
      'column "_tidal_needs_backfill" of table "t"',
      'column "_tidal_new_w" of table "t"',
    ]);
  });
});
