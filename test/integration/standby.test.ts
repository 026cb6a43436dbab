/**
 * The replica-lag throttle against a real streaming standby: a cluster of the test's own (an
 * embedded primary, and a standby made from an online base backup of it), whatever server the
 * other tests use. Replay paused holds the backfill until it resumes; a standby that goes away
 * holds it too, saying it cannot be read.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type EmbeddedServer,
  startEmbeddedPostgres,
  startEmbeddedStandby,
} from '../../src/pg/embedded.js';
import { Tidal } from '../../src/tidal.js';
import { migrationFromYaml, runCli, startCli } from '../helpers/tidal.js';
import { sleep, until } from '../helpers/wait.js';

const MIGRATION =
  'operations:\n  - add_column: {table: items, up: n * 2, column: {name: n2, type: int, nullable: true}}\n';
const WAIT_MS = 30_000;

let primary: EmbeddedServer;
let standby: EmbeddedServer;

beforeAll(async () => {
  primary = await startEmbeddedPostgres();
  standby = await startEmbeddedStandby(primary);
}, 120_000);

afterAll(async () => {
  await standby?.stop();
  await primary?.stop();
});

/** `url` with its database replaced. */
function on(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function query<R extends pg.QueryResultRow>(
  url: string,
  sql: string,
  params: unknown[] = [],
) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/** A database on the primary with `items (id, n)` of `rows` rows, and it on the standby. */
async function seeded(name: string, rows: number): Promise<string> {
  await query(primary.url, `CREATE DATABASE ${name}`);
  const url = on(primary.url, name);
  await query(url, 'CREATE TABLE items (id int PRIMARY KEY, n int)');
  await query(url, `INSERT INTO items SELECT g, g FROM generate_series(1, ${rows}) g`);
  await replayed(name);
  return url;
}

/** Waits until the standby has replayed everything the primary has written. */
async function replayed(database: string): Promise<void> {
  const [position] = await query<{ lsn: string }>(
    primary.url,
    'SELECT pg_current_wal_lsn()::text AS lsn',
  );
  const lsn = position?.lsn ?? '0/0';
  await until(
    'the standby replays what the primary wrote',
    async () =>
      (
        await query<{ done: boolean }>(
          on(standby.url, database),
          'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS done',
          [lsn],
        ).catch(() => [{ done: false }])
      )[0]?.done === true,
    WAIT_MS,
  );
}

async function backfillState(url: string) {
  const [row] = await query<{ done: number; throttle: string | null }>(
    url,
    `SELECT rows_done::int AS done, throttle FROM tidal.backfills`,
  ).catch(() => []);
  return row;
}

describe('replica lag on a real standby', () => {
  it('holds the backfill while replay is paused, and lets it go on once replay resumes', async () => {
    const url = await seeded('paused', 8000);
    const standbyUrl = on(standby.url, 'paused');
    const runner = await Tidal.connect({
      connectionString: url,
      maxReplicaLagMs: 500,
      replicaUrls: [standbyUrl],
      // Slow enough that the lag is read before the fill is over.
      backfillRate: 2000,
    });
    let started: Promise<unknown> | undefined;
    try {
      await query(standbyUrl, 'SELECT pg_wal_replay_pause()');
      started = runner.start(await migrationFromYaml('double', MIGRATION));
      let held = await backfillState(url);
      await until(
        'the backfill is held by replica lag',
        async () => {
          held = await backfillState(url);
          return /^replica lag/.test(held?.throttle ?? '');
        },
        WAIT_MS,
      );
      expect(held?.throttle).toMatch(/^replica lag( at [^ ]+)? \d+ ms over 500 ms$/);
      // Held: nothing moves while replay stays paused.
      const before = (await backfillState(url))?.done;
      await sleep(1500);
      expect((await backfillState(url))?.done).toBe(before);
      expect(before).toBeLessThan(8000);

      await query(standbyUrl, 'SELECT pg_wal_replay_resume()');
      await started;
      await replayed('paused');
      // The standby has the filled column too.
      expect(
        await query(
          standbyUrl,
          'SELECT count(*)::int AS wrong FROM items WHERE _tidal_new_n2 IS DISTINCT FROM n * 2',
        ),
      ).toEqual([{ wrong: 0 }]);
    } finally {
      await query(standbyUrl, 'SELECT pg_wal_replay_resume()').catch(() => {});
      await started?.catch(() => {});
      await runner.close();
    }
  }, 120_000);

  it('holds the backfill, saying it cannot be read, when the standby goes away', async () => {
    const url = await seeded('gone', 8000);
    const standbyUrl = on(standby.url, 'gone');
    const file = join(await mkdtemp(join(tmpdir(), 'tidal-standby-')), 'double.yaml');
    await writeFile(file, MIGRATION);
    // Slow enough to be running when the standby stops.
    const { child, exited } = startCli([
      'start',
      file,
      '--url',
      url,
      '--replica',
      standbyUrl,
      '--backfill-rate',
      '2000',
    ]);
    try {
      await until(
        'the backfill runs',
        async () => ((await backfillState(url))?.done ?? 0) > 0,
        WAIT_MS,
      );
      await standby.stop();
      await until(
        'the backfill is held: the standby cannot be read',
        async () => /cannot be read/.test((await backfillState(url))?.throttle ?? ''),
        WAIT_MS,
      );
      const state = await backfillState(url);
      expect(state?.throttle).toMatch(/^replica lag at 127\.0\.0\.1:\d+ cannot be read \(.+\)$/);
      const before = state?.done;
      await sleep(1500);
      expect((await backfillState(url))?.done).toBe(before);
      expect(before).toBeLessThan(8000);
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    expect((await runCli(['rollback', '--url', url])).code).toBe(0);
  }, 120_000);
});
