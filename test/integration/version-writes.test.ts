/**
 * A write through a version schema's view is that version's write, however the application
 * names the table: through search_path, or schema-qualified (Drizzle's pgSchema, Kysely's
 * withSchema) with the session's search_path left at its default.
 */

import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import {
  bigint as pgBigint,
  integer as pgInteger,
  pgSchema,
  text as pgText,
} from 'drizzle-orm/pg-core';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { syncTriggerColumns } from '../helpers/catalog.js';
import { rows } from '../helpers/cycle.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { migrationFromYaml, withTidal } from '../helpers/tidal.js';

let db: TestDatabase;

beforeEach(async () => {
  db = await createTestDatabase();
  await db.query(`CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL, score int)`);
  await db.query(`INSERT INTO users SELECT g, 'user ' || g, g FROM generate_series(1, 20) g`);
});

afterEach(async () => {
  await db.dispose();
});

const widenScore = `
operations:
  - alter_column:
      table: users
      column: score
      type: bigint
      up: score
      down: score
`;

async function startWiden(): Promise<void> {
  await withTidal(db.url, async (t) => t.start(await migrationFromYaml('v2', widenScore)));
}

async function scores(): Promise<Record<number, string | null>> {
  const result = await rows<{ id: number; score: string | null }>(
    db.pool,
    'SELECT id, score::text AS score FROM users ORDER BY id',
  );
  return Object.fromEntries(result.map((r) => [r.id, r.score]));
}

/** A session with the server's default search_path, as an ORM that names schemas leaves it. */
async function defaultSession(): Promise<pg.Client> {
  const client = await db.client('app default search_path');
  expect((await client.query('SHOW search_path')).rows[0].search_path).toBe('"$user", public');
  return client;
}

/** A session of the new version, selected by search_path as tidal url gives it. */
async function newVersionSession(): Promise<pg.Client> {
  const client = await db.client('app v2');
  await client.query('SET search_path = public_v2, public');
  return client;
}

describe('schema-qualified writes through the new version', () => {
  it('UPDATE, INSERT, INSERT ... ON CONFLICT and RETURNING count as the new version, and survive complete', async () => {
    await startWiden();
    const app = await defaultSession();
    await app.query(`UPDATE public_v2.users SET score = 5 WHERE id = 1`);
    const returned = await app.query(
      `UPDATE public_v2.users SET score = score + 1 WHERE id = 2 RETURNING score::text AS score`,
    );
    expect(returned.rows).toEqual([{ score: '3' }]);
    await app.query(`INSERT INTO public_v2.users (id, name, score) VALUES (21, 'new', 21000)`);
    // The insert half of an upsert, then its update half.
    await app.query(
      `INSERT INTO public_v2.users AS u (id, name, score) VALUES (22, 'upsert', 220)
       ON CONFLICT (id) DO UPDATE SET score = excluded.score`,
    );
    await app.query(
      `INSERT INTO public_v2.users AS u (id, name, score) VALUES (3, 'upsert', 330)
       ON CONFLICT (id) DO UPDATE SET score = excluded.score`,
    );
    await app.query(`DELETE FROM public_v2.users WHERE id = 4`);
    // Through the old version, by its plain table, at the same time.
    await app.query(`UPDATE users SET score = 66 WHERE id = 6`);
    await app.query(`INSERT INTO users (id, name, score) VALUES (23, 'old', 23)`);

    const expected = {
      1: '5',
      2: '3',
      3: '330',
      6: '66',
      21: '21000',
      22: '220',
      23: '23',
    };
    // Both versions read every write while the migration is active.
    const viaNew = await rows<{ id: number; score: string }>(
      app,
      `SELECT id, score::text AS score FROM public_v2.users WHERE id = ANY($1) ORDER BY id`,
      [Object.keys(expected).map(Number)],
    );
    expect(Object.fromEntries(viaNew.map((r) => [r.id, r.score]))).toEqual(expected);
    expect(await scores()).toMatchObject(expected);
    await app.end();

    await withTidal(db.url, (t) => t.complete());
    const after = await scores();
    expect(after).toMatchObject(expected);
    expect(after[4]).toBeUndefined();
    expect(Object.values(after).filter((s) => s === null)).toEqual([]);
  });

  it('an UPDATE that changes a column only each version shows cannot be told, and fails saying so', async () => {
    await startWiden();
    const error = await db
      .query(`UPDATE users SET score = 100, _tidal_new_score = 200 WHERE id = 1`)
      .catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(
      /cannot tell which version wrote this row of "users".*"score".*version "v2"/,
    );
    expect(await scores()).toMatchObject({ 1: '1' });
  });

  it('a write through the new version by its search_path still counts as new; the session setting wins over both', async () => {
    await startWiden();
    const next = await newVersionSession();
    await next.query(`UPDATE users SET name = 'renamed' WHERE id = 7`);
    await next.query(`UPDATE users SET score = 77 WHERE id = 7`);
    const old = await db.client('app v1 by setting');
    await old.query(`SET tidal.version = 'v1'`);
    await old.query(`UPDATE users SET score = 88 WHERE id = 8`);
    await next.end();
    await old.end();
    await withTidal(db.url, (t) => t.complete());
    expect(await scores()).toMatchObject({ 7: '77', 8: '88' });
  });

  it('Drizzle pgSchema and Kysely withSchema write the new version with the default search_path', async () => {
    await startWiden();
    const pool = new pg.Pool({ connectionString: db.url, max: 2 });
    try {
      const v2 = pgSchema('public_v2');
      const users = v2.table('users', {
        id: pgInteger('id').primaryKey(),
        name: pgText('name').notNull(),
        score: pgBigint('score', { mode: 'number' }),
      });
      const orm = drizzle(pool);
      await orm.update(users).set({ score: 101 }).where(eq(users.id, 10));
      await orm.insert(users).values({ id: 30, name: 'drizzle', score: 3_000_000 });
      await orm
        .insert(users)
        .values({ id: 11, name: 'drizzle upsert', score: 111 })
        .onConflictDoUpdate({ target: users.id, set: { score: 111 } });

      interface Database {
        users: { id: number; name: string; score: string | number | null };
      }
      const kysely = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
      const scoped = kysely.withSchema('public_v2');
      await scoped.updateTable('users').set({ score: 121 }).where('id', '=', 12).execute();
      await scoped.insertInto('users').values({ id: 31, name: 'kysely', score: 31 }).execute();
    } finally {
      await pool.end();
    }
    await withTidal(db.url, (t) => t.complete());
    expect(await scores()).toMatchObject({
      10: '101',
      11: '111',
      12: '121',
      30: '3000000',
      31: '31',
    });
  });
});

describe('new columns with a default while both versions write', () => {
  it('the new version gives its default, the old version gets up, and complete gives the table the default back', async () => {
    const migration = await migrationFromYaml(
      'v2',
      `
operations:
  - add_column:
      table: users
      column:
        name: level
        type: int
        default: "7"
        nullable: false
  - add_column:
      table: users
      column:
        name: shout
        type: text
        nullable: true
      up: upper(name)
`,
    );
    await withTidal(db.url, (t) => t.start(migration));
    const app = await defaultSession();
    // Old version: the trigger gives the default (and up).
    await app.query(`INSERT INTO users (id, name) VALUES (40, 'old')`);
    // New version, schema-qualified, leaving level to its default, then setting it.
    await app.query(`INSERT INTO public_v2.users (id, name, shout) VALUES (41, 'new', 'mine')`);
    await app.query(`INSERT INTO public_v2.users (id, name, level) VALUES (42, 'new', 9)`);
    await app.end();
    await withTidal(db.url, (t) => t.complete());
    expect(
      await rows(db.pool, `SELECT id, level, shout FROM users WHERE id >= 40 ORDER BY id`),
    ).toEqual([
      { id: 40, level: 7, shout: 'OLD' },
      { id: 41, level: 7, shout: 'mine' },
      { id: 42, level: 9, shout: null },
    ]);
    const { rows: defaults } = await db.query<{ default: string | null }>(
      `SELECT pg_get_expr(d.adbin, d.adrelid) AS default FROM pg_attrdef d
        JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
       WHERE d.adrelid = 'users'::regclass AND a.attname = 'level'`,
    );
    expect(defaults).toEqual([{ default: '7' }]);
  });
});

describe('which updates fire the dual-write trigger', () => {
  const addShout = `
operations:
  - add_column:
      table: users
      up: upper(name)
      column: {name: shout, type: text, nullable: true}
`;

  /** The trigger step of the plan: what it runs, and what plan says of it. */
  async function triggerStep(yaml: string) {
    const loaded = await migrationFromYaml('v2', yaml);
    const { plan } = await withTidal(db.url, (t) => t.plan(loaded));
    return plan.start.find((step) => step.sql.startsWith('CREATE OR REPLACE TRIGGER'));
  }

  it('only an UPDATE of a column it reads, writes or compares, or of the key: another leaves the row as it was', async () => {
    expect((await triggerStep(addShout))?.summary).toBe(
      'install the dual-write trigger on "users", fired by INSERT and by UPDATE of "id", "name", "_tidal_new_shout"',
    );
    await withTidal(db.url, async (t) => t.start(await migrationFromYaml('v2', addShout)));
    expect(await syncTriggerColumns(db.pool, 'users')).toEqual(['id', 'name', '_tidal_new_shout']);
    const app = await defaultSession();
    const next = await newVersionSession();
    // The new version's own value stays when the old version then writes a column up does not
    // read: up is computed again only from a change of what it reads.
    await next.query(`UPDATE users SET shout = 'MINE' WHERE id = 1`);
    await app.query(`UPDATE users SET score = 100 WHERE id = 1`);
    await app.query(`UPDATE users SET name = 'renamed' WHERE id = 2`);
    await app.query(`UPDATE users SET score = 300 WHERE id = 3`);
    await app.query(`UPDATE users SET id = 40 WHERE id = 4`);
    await next.end();
    await app.end();
    await withTidal(db.url, (t) => t.complete());
    expect(
      await rows(
        db.pool,
        'SELECT id, name, score, shout FROM users WHERE id <= 4 OR id = 40 ORDER BY id',
      ),
    ).toEqual([
      { id: 1, name: 'user 1', score: 100, shout: 'MINE' },
      { id: 2, name: 'renamed', score: 2, shout: 'RENAMED' },
      { id: 3, name: 'user 3', score: 300, shout: 'USER 3' },
      { id: 40, name: 'user 4', score: 4, shout: 'USER 4' },
    ]);
  });

  it('a column given only a default keeps what the new version wrote when the old version updates the row', async () => {
    const withStatus = `${addShout}  - add_column:
      table: users
      column: {name: status, type: text, default: "'new'"}
`;
    await withTidal(db.url, async (t) => t.start(await migrationFromYaml('v2', withStatus)));
    const app = await defaultSession();
    const next = await newVersionSession();
    await next.query(`UPDATE users SET status = 'shipped' WHERE id IN (1, 2)`);
    // These fire the trigger (up reads name; id is the key): the default is not given again.
    await app.query(`UPDATE users SET name = 'renamed' WHERE id = 1`);
    await app.query(`UPDATE users SET id = 22 WHERE id = 2`);
    // A row the old version inserts gets the default, as one the new version inserts does.
    await app.query(`INSERT INTO users (id, name) VALUES (21, 'old')`);
    await next.query(`INSERT INTO users (id, name) VALUES (23, 'next')`);
    await next.end();
    await app.end();
    await withTidal(db.url, (t) => t.complete());
    expect(
      await rows(
        db.pool,
        'SELECT id, shout, status FROM users WHERE id IN (1, 3, 21, 22, 23) ORDER BY id',
      ),
    ).toEqual([
      { id: 1, shout: 'RENAMED', status: 'shipped' },
      { id: 3, shout: 'USER 3', status: 'new' },
      { id: 21, shout: 'OLD', status: 'new' },
      { id: 22, shout: 'USER 2', status: 'shipped' },
      { id: 23, shout: null, status: 'new' },
    ]);
  });

  it('every UPDATE when an expression is not immutable: it is computed again on each write, as before', async () => {
    const stamp = `
operations:
  - add_column:
      table: users
      up: clock_timestamp()
      column: {name: seen_at, type: timestamptz, nullable: true}
`;
    expect((await triggerStep(stamp))?.summary).toMatch(
      /fired by every INSERT and UPDATE: the up of "seen_at" is not immutable$/,
    );
    await withTidal(db.url, async (t) => t.start(await migrationFromYaml('v2', stamp)));
    expect(await syncTriggerColumns(db.pool, 'users')).toEqual([]);
    const seen = async () =>
      (
        await rows<{ at: string }>(
          db.pool,
          'SELECT _tidal_new_seen_at::text AS at FROM users WHERE id = 1',
        )
      )[0]?.at;
    const before = await seen();
    await db.query(`UPDATE users SET score = 100 WHERE id = 1`);
    expect(await seen()).not.toBe(before);
  });
});

describe('what the trigger says and refuses', () => {
  it('a new-version value the old column cannot hold fails naming the column and why', async () => {
    await startWiden();
    const next = await newVersionSession();
    const error = await next
      .query(`UPDATE users SET score = 3000000000 WHERE id = 1`)
      .catch((e: Error) => e);
    await next.end();
    expect((error as Error).message).toMatch(
      /version "v2" wrote a value of "users"\."score" that the previous version's column \(integer\) cannot hold: until the migration to "v2" completes/,
    );
    expect((error as { detail?: string }).detail).toMatch(/integer out of range/);
    // Only the direction that can fail pays for the guard (a subtransaction per write): every
    // integer the old version writes fits the new bigint column.
    const { rows: source } = await db.query<{ body: string }>(
      `SELECT prosrc AS body FROM pg_proc WHERE proname LIKE 'sync\\_users\\_%'`,
    );
    expect(source[0]?.body.match(/EXCEPTION WHEN data_exception/g)).toHaveLength(1);
    await withTidal(db.url, (t) => t.complete());
    // Once complete, the new version holds it.
    await db.query(`UPDATE public_v2.users SET score = 3000000000 WHERE id = 1`);
    expect(await scores()).toMatchObject({ 1: '3000000000' });
  });

  it('an up holding the function body quote of tidal stays an expression', async () => {
    const migration = await migrationFromYaml(
      'quoted',
      `operations:
  - add_column:
      table: users
      column:
        name: tag
        type: text
        nullable: true
      up: "'a$tidal_sync$; --' || name"
`,
    );
    await withTidal(db.url, (t) => t.start(migration));
    await db.query(`INSERT INTO users (id, name) VALUES (50, 'x')`);
    await withTidal(db.url, (t) => t.complete());
    expect(await rows(db.pool, `SELECT tag FROM users WHERE id IN (1, 50) ORDER BY id`)).toEqual([
      { tag: 'a$tidal_sync$; --user 1' },
      { tag: 'a$tidal_sync$; --x' },
    ]);
  });

  it('a version named like the application schema is refused before anything runs', async () => {
    const migration = await migrationFromYaml(
      'public',
      `operations:
  - alter_column:
      table: users
      column: score
      type: bigint
`,
    );
    const error = await withTidal(db.url, (t) => t.start(migration)).catch((e: Error) => e);
    expect((error as Error).message).toMatch(
      /public\.yaml: version "public" is named like the application schema/,
    );
    expect((error as { exitCode?: number }).exitCode).toBe(2);
    expect(
      await rows(db.pool, `SELECT nspname FROM pg_namespace WHERE nspname LIKE 'public\\_%'`),
    ).toEqual([]);
  });

  it('a session whose search_path starts with a schema named like the version stays the old version', async () => {
    await db.query(`CREATE SCHEMA reporting`);
    await withTidal(db.url, async (t) => t.start(await migrationFromYaml('reporting', widenScore)));
    const old = await db.client('reporting app');
    await old.query(`SET search_path = reporting, public`);
    await old.query(`INSERT INTO users (id, name, score) VALUES (60, 'x', 6)`);
    await old.end();
    await withTidal(db.url, (t) => t.complete());
    expect(await scores()).toMatchObject({ 60: '6' });
  });

  it("a version schema that exists and is not tidal's is refused", async () => {
    await db.query(`CREATE SCHEMA public_v2`);
    const error = await withTidal(db.url, async (t) =>
      t.start(await migrationFromYaml('v2', widenScore)),
    ).catch((e: Error) => e);
    expect((error as Error).message).toMatch(/schema "public_v2" already exists/);
    expect((error as { exitCode?: number }).exitCode).toBe(2);
  });
});
