/**
 * The live check of tidal/client: which versions a release may connect to as migrations start,
 * complete and roll back; each library refusing a version that is not live, with the message;
 * and what a role that cannot read tidal's state can still be told.
 */
import { randomBytes } from 'node:crypto';
import { drizzle } from 'drizzle-orm/node-postgres';
import knex from 'knex';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  assertVersionLive,
  type ClientVersion,
  drizzleSetup,
  knexConfig,
  kyselyDialectConfig,
  pgClientConfig,
  pgPoolConfig,
  tidalVersion,
  VersionNotLiveError,
  versionLiveness,
} from '../../src/client/index.js';
import { ident } from '../../src/pg/quote.js';
import { adminUrl, createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { migrationFromYaml, withTidal } from '../helpers/tidal.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await db.query(`CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL)`);
});
afterAll(() => db.dispose());

const rename = (from: string, to: string, versionSchema?: string) =>
  `${versionSchema ? `version_schema: ${versionSchema}\n` : ''}operations:\n  - rename_column: {table: users, from: ${from}, to: ${to}}\n`;

/** The reason assertVersionLive gives, with its message; 'live' when it passes. */
async function verdict(version: string | ClientVersion, on: pg.ClientBase | pg.Pool = db.pool) {
  const resolved = typeof version === 'string' ? tidalVersion(version) : version;
  const error = await assertVersionLive(on, resolved).catch((e: unknown) => e);
  if (error === undefined) return 'live';
  if (!(error instanceof VersionNotLiveError)) throw error;
  return `${error.reason}: ${error.message}`;
}

describe('which versions are live', () => {
  it('follows start, complete and rollback; the messages say why not and what to run', async () => {
    // No state schema yet: tidal never ran here.
    expect(await verdict('public')).toBe('live');
    expect(await verdict('02_display')).toBe(
      'not-started: version "02_display" is not started on this database: run tidal start migrations/02_display.yaml first',
    );

    await withTidal(db.url, async (t) =>
      t.start(await migrationFromYaml('02_display', rename('name', 'display_name'))),
    );
    expect(await verdict('public')).toBe('live');
    expect(await verdict('02_display')).toBe('live');
    expect(await verdict('public_02_display')).toBe('live');
    expect(await verdict('03_nick')).toMatch(/^not-started: version "03_nick" is not started/);

    await withTidal(db.url, async (t) => {
      await t.complete();
      await t.start(await migrationFromYaml('03_nick', rename('display_name', 'nickname')));
    });
    expect(await verdict('02_display')).toBe('live');
    expect(await verdict('03_nick')).toBe('live');
    expect(await verdict('public')).toBe(
      'contracted: version "public" (the base version, before any migration) was contracted when "02_display" completed: deploy a release built for "02_display" or newer, or run tidal url for the newest',
    );

    await withTidal(db.url, (t) => t.complete());
    expect(await verdict('03_nick')).toBe('live');
    expect(await verdict('02_display')).toBe(
      'contracted: version "02_display" was contracted when "03_nick" completed: deploy a release built for "03_nick" or newer, or run tidal url for the newest',
    );

    // A file that sets version_schema: its version is that name, not the file's.
    await withTidal(db.url, async (t) =>
      t.start(await migrationFromYaml('04_handle', rename('nickname', 'handle', 'v4'))),
    );
    expect(await verdict('v4')).toBe('live');
    expect(await verdict('04_handle')).toBe(
      'other-version-schema: version "04_handle": migration "04_handle" sets version_schema, so its version schema is "public_v4", not "public_04_handle": select version "public_v4"',
    );
    await withTidal(db.url, (t) => t.rollback());
    expect(await verdict('v4')).toMatch(/^not-started: version "v4" is not started/);
    expect(await verdict('03_nick')).toBe('live');
  });

  it('a version still starting, or being rolled back, is not live', () => {
    const version = tidalVersion('03_c');
    const completed = { name: '02_b', versionSchema: 'public_02_b', phase: 'completed' } as const;
    expect(
      versionLiveness(version, [
        completed,
        { ...completed, name: '03_c', versionSchema: 'public_03_c', phase: 'starting' },
      ]),
    ).toEqual({
      live: false,
      reason: 'starting',
      message:
        'version "03_c" is not started on this database yet: tidal start migrations/03_c.yaml has not finished (its version schema comes last; if it was interrupted, running it again finishes it)',
    });
    expect(
      versionLiveness(version, [
        completed,
        { ...completed, name: '03_c', versionSchema: 'public_03_c', phase: 'rolling_back' },
      ]),
    ).toMatchObject({
      reason: 'rolling-back',
      message:
        'version "03_c" is being rolled back (tidal rollback finishes it): deploy the release built for "02_b"',
    });
  });

  it('a version named by a migration that set version_schema is judged by that schema', () => {
    const completed = (name: string, versionSchema: string) =>
      ({ name, versionSchema, phase: 'completed' }) as const;
    const records = [completed('02_b', 'public_02_b'), completed('04_handle', 'public_v4')];
    // Live under its own schema: the release is told which schema to select.
    expect(versionLiveness(tidalVersion('04_handle'), records)).toMatchObject({
      reason: 'other-version-schema',
    });
    // Contracted under its own schema: it says so, not to select a schema that is gone.
    expect(
      versionLiveness(tidalVersion('04_handle'), [...records, completed('05_e', 'public_05_e')]),
    ).toEqual({
      live: false,
      reason: 'contracted',
      message:
        'version "04_handle" was contracted when "05_e" completed: deploy a release built for "05_e" or newer, or run tidal url for the newest',
    });
  });
});

describe('each library refuses a version that is not live', () => {
  // After the test above: 03_nick is the newest, 02_display contracted, 05_x never started.
  const contracted = /^version "02_display" was contracted when "03_nick" completed/;
  const notStarted = /^version "05_x" is not started on this database/;

  it('node-postgres: a pool fails the query, a Client is checked after connect', async () => {
    for (const [version, message] of [
      ['02_display', contracted],
      ['05_x', notStarted],
    ] as const) {
      const pool = new pg.Pool(pgPoolConfig(tidalVersion(version), { connectionString: db.url }));
      await expect(pool.query('SELECT 1')).rejects.toThrow(message);
      expect(pool.totalCount).toBe(0);
      await pool.end();
      const client = new pg.Client(
        pgClientConfig(tidalVersion(version), { connectionString: db.url }),
      );
      await client.connect();
      await expect(assertVersionLive(client, tidalVersion(version))).rejects.toThrow(message);
      await client.end();
    }
    const live = new pg.Pool(pgPoolConfig(tidalVersion('03_nick'), { connectionString: db.url }));
    expect((await live.query('SELECT nickname FROM users')).rows).toEqual([]);
    await live.end();
  });

  it('Knex: the query fails and the refused connection is closed', async () => {
    for (const [version, message] of [
      ['02_display', contracted],
      ['05_x', notStarted],
    ] as const) {
      const k = knex(
        knexConfig(tidalVersion(version), { connection: db.url, pool: { min: 0, max: 2 } }),
      );
      await expect(k('users').select()).rejects.toThrow(message);
      await k.destroy();
      const { rows } = await db.query(
        `SELECT 1 FROM pg_stat_activity WHERE application_name = $1`,
        [`tidal:${tidalVersion(version).versionSchema}`],
      );
      expect(rows).toEqual([]);
    }
    const live = knex(
      knexConfig(tidalVersion('03_nick'), { connection: db.url, pool: { min: 0, max: 1 } }),
    );
    expect(await live('users').select('nickname')).toEqual([]);
    await live.destroy();
  });

  it('Drizzle and Kysely: the query fails with the message', async () => {
    for (const [version, message] of [
      ['02_display', contracted],
      ['05_x', notStarted],
    ] as const) {
      const setup = drizzleSetup(tidalVersion(version), { connectionString: db.url });
      const pool = new pg.Pool(setup.poolConfig);
      // Drizzle wraps the driver's error: "Failed query: ...", the check's error as its cause.
      const failed = await drizzle(pool)
        .execute('SELECT 1')
        .catch((e: Error) => e);
      expect((failed as Error).cause).toBeInstanceOf(VersionNotLiveError);
      expect(((failed as Error).cause as Error).message).toMatch(message);
      await pool.end();

      const kysely = new Kysely({
        dialect: new PostgresDialect(
          kyselyDialectConfig(tidalVersion(version), pg.Pool, { connectionString: db.url }),
        ),
      });
      await expect(sql`SELECT 1`.execute(kysely)).rejects.toThrow(message);
      await kysely.destroy();
    }
  });
});

describe('a role that cannot read tidal state', () => {
  const role = `tidal_app_${randomBytes(4).toString('hex')}`;
  let admin: pg.Client;
  beforeAll(async () => {
    admin = new pg.Client({ connectionString: adminUrl() });
    await admin.connect();
    await admin.query(`CREATE ROLE ${ident(role)}`);
  });
  afterAll(async () => {
    // The role's privileges go with the test database.
    await db.dispose();
    await admin.query(`DROP ROLE IF EXISTS ${ident(role)}`);
    await admin.end();
  });

  async function asRole<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = await db.client();
    try {
      await client.query(`SET ROLE ${ident(role)}`);
      return await work(client);
    } finally {
      await client.end();
    }
  }

  it('is told only whether the version schema exists and it may use it', async () => {
    // No privilege on the table, so none on its view nor USAGE on the version schema.
    expect(await asRole((c) => verdict('03_nick', c))).toBe(
      'schema-unusable: version "03_nick": this role may not use schema "public_03_nick" (no USAGE), so its search_path would skip it: grant the role privileges on the tables (tidal gives their views the same, and USAGE on the schema)',
    );
    await db.query(`GRANT SELECT, INSERT, UPDATE ON users TO ${ident(role)}`);
    await withTidal(db.url, async (t) =>
      t.start(await migrationFromYaml('05_x', rename('nickname', 'handle'))),
    );
    expect(await asRole((c) => verdict('05_x', c))).toBe('live');
    // A version schema takes the tables' privileges when it is made: 03_nick's came before the
    // grant.
    expect(await asRole((c) => verdict('03_nick', c))).toMatch(/^schema-unusable: /);
    expect(await asRole((c) => verdict('02_display', c))).toBe(
      'unknown: version "02_display" is not started on this database, or was already contracted (its schema "public_02_display" does not exist, and this role cannot read "tidal".migrations to tell which): run tidal status, then tidal start migrations/02_display.yaml or deploy a newer release',
    );
    // The limit: the base version's schema always exists, so it passes though contracted.
    expect(await asRole((c) => verdict('public', c))).toBe('live');
  });
});
