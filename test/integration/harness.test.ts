import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectAdmin, createTestDatabase, type TestDatabase } from '../helpers/db.js';

describe('test database harness', () => {
  let first: TestDatabase;
  let second: TestDatabase;
  let admin: pg.Client;

  beforeAll(async () => {
    [first, second, admin] = await Promise.all([
      createTestDatabase(),
      createTestDatabase(),
      connectAdmin(),
    ]);
  });

  afterAll(async () => {
    await Promise.all([first?.dispose(), second?.dispose()]);
    await admin?.end();
  });

  it('reports the server version', async () => {
    const { rows } = await first.query<{ num: string; version: string }>(
      `SELECT current_setting('server_version_num') AS num, version() AS version`,
    );
    const major = Math.floor(Number(rows[0]?.num) / 10_000);
    console.log(`harness: PostgreSQL ${major} (${rows[0]?.version})`);
    expect(major).toBeGreaterThanOrEqual(14);
  });

  it('connects to a fresh database with no user tables', async () => {
    const { rows } = await first.query<{ db: string; tables: string }>(
      `SELECT current_database() AS db,
              (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = 'public') AS tables`,
    );
    expect(rows[0]).toEqual({ db: first.name, tables: '0' });
    expect(first.name).toMatch(/^tidal_test_[0-9a-f]{12}$/);
  });

  it('creates distinct, isolated databases', async () => {
    expect(second.name).not.toBe(first.name);
    expect(second.url).not.toBe(first.url);

    await first.query('CREATE TABLE only_in_first (id int PRIMARY KEY)');
    await first.query('INSERT INTO only_in_first VALUES (1)');
    const inFirst = await first.query(`SELECT to_regclass('public.only_in_first') AS t`);
    const inSecond = await second.query(`SELECT to_regclass('public.only_in_first') AS t`);
    expect(inFirst.rows[0]?.t).toBe('only_in_first');
    expect(inSecond.rows[0]?.t).toBeNull();
  });

  it('hands out dedicated connections to the same database', async () => {
    const a = await first.client();
    const b = await first.client();
    const pids = await Promise.all(
      [a, b].map(async (c) => {
        const { rows } = await c.query('SELECT pg_backend_pid() AS pid, current_database() AS db');
        return rows[0] as { pid: number; db: string };
      }),
    );
    expect(pids[0]?.db).toBe(first.name);
    expect(pids[1]?.db).toBe(first.name);
    expect(pids[0]?.pid).not.toBe(pids[1]?.pid);
  });

  it('drops the database on dispose, even with connections it did not hand out', async () => {
    const throwaway = await createTestDatabase();
    const session = await throwaway.client();
    const leaked = new pg.Client({ connectionString: throwaway.url });
    leaked.on('error', () => {});
    await leaked.connect();
    const exists = `SELECT count(*)::int AS n FROM pg_database WHERE datname = $1`;
    expect((await admin.query(exists, [throwaway.name])).rows[0]?.n).toBe(1);

    await throwaway.dispose();

    expect((await admin.query(exists, [throwaway.name])).rows[0]?.n).toBe(0);
    await expect(session.query('SELECT 1')).rejects.toThrow();
    await expect(leaked.query('SELECT 1')).rejects.toThrow();
    await leaked.end().catch(() => {});
    await expect(throwaway.dispose()).resolves.toBeUndefined();
  });
});
