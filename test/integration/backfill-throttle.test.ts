/** A backfill waits while a signal is over its limit or cannot be read, and says why. */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { Tidal } from '../../src/tidal.js';
import { rows } from '../helpers/cycle.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { migrationFromYaml, runCli, startCli } from '../helpers/tidal.js';
import { sleep } from '../helpers/wait.js';

const MIGRATION =
  'operations:\n  - add_column: {table: items, up: n * 2, column: {name: n2, type: int, nullable: true}}\n';

async function seeded(): Promise<TestDatabase> {
  const db = await createTestDatabase();
  await db.query('CREATE TABLE items (id int PRIMARY KEY, n int)');
  await db.query('INSERT INTO items SELECT g, g FROM generate_series(1, 5000) g');
  return db;
}

/** The backfill's row in the state schema, once it exists. */
async function waitForThrottle(db: TestDatabase, pattern: RegExp) {
  for (let i = 0; i < 200; i++) {
    const [row] = await rows<{ done: number; throttle: string | null }>(
      db.pool,
      `SELECT rows_done::int AS done, throttle FROM tidal.backfills
        WHERE to_regclass('tidal.backfills') IS NOT NULL`,
    ).catch(() => []);
    if (row?.throttle && pattern.test(row.throttle)) return row;
    await sleep(50);
  }
  throw new Error(`the backfill never said ${pattern}`);
}

/** Rows whose new column is not what `up` gives. */
async function wrongRows(db: TestDatabase): Promise<number> {
  const [row] = await rows<{ wrong: number }>(
    db.pool,
    'SELECT count(*)::int AS wrong FROM items WHERE _tidal_new_n2 IS DISTINCT FROM n * 2',
  );
  return row?.wrong ?? -1;
}

describe('backfill throttling', () => {
  it('waits while more sessions than allowed are busy, then goes on', async () => {
    const db = await seeded();
    const busy = await Promise.all(
      [1, 2].map(async () => {
        const client = new pg.Client({ connectionString: db.url });
        await client.connect();
        return client;
      }),
    );
    const runner = await Tidal.connect({ connectionString: db.url, maxActiveSessions: 1 });
    try {
      const sleeping = busy.map((c) => c.query('SELECT pg_sleep(2)'));
      const started = runner.start(await migrationFromYaml('double', MIGRATION));
      const held = await waitForThrottle(db, /^active sessions \d+ sessions over 1 sessions$/);
      expect(held.done).toBe(0);
      await Promise.all(sleeping);
      await started;
      expect(await wrongRows(db)).toBe(0);
    } finally {
      await runner.close();
      for (const c of busy) await c.end();
      await db.dispose();
    }
  }, 60_000);

  it('waits while the server writes more WAL than allowed, and goes on once it writes less', async () => {
    const db = await seeded();
    await db.query('CREATE TABLE junk (body text)');
    const writer = await db.client();
    let writing = true;
    // About 5 MB of WAL per statement, back to back: far over 1 MB/s.
    const writes = (async () => {
      while (writing) {
        await writer.query(
          `INSERT INTO junk SELECT repeat(md5(g::text), 30) FROM generate_series(1, 5000) g`,
        );
      }
    })();
    const runner = await Tidal.connect({ connectionString: db.url, maxWalRateMBps: 1 });
    let started: Promise<unknown> | undefined;
    try {
      started = runner.start(await migrationFromYaml('double', MIGRATION));
      const held = await waitForThrottle(db, /^WAL rate \d+ MB\/s over 1 MB\/s$/);
      expect(held.done).toBe(0);
      const status = await runCli(['status', '--url', db.url]);
      expect(status.stdout).toMatch(
        /backfill items: 0\/\d+ rows .*WAL rate \d+ MB\/s over 1 MB\/s/,
      );
      writing = false;
      await writes;
      await started;
      expect(await wrongRows(db)).toBe(0);
    } finally {
      writing = false;
      await writes;
      await started?.catch(() => {});
      await runner.close();
      await db.dispose();
    }
  }, 60_000);

  it('waits while the WAL since the last checkpoint nears forcing the next, and goes on after a checkpoint', async () => {
    const db = await seeded();
    // 1% of what forces a checkpoint (5 MB with the defaults): about 16 MB of WAL is over it.
    await db.query(
      'CREATE TABLE junk AS SELECT repeat(md5(g::text), 30) AS body FROM generate_series(1, 16000) g',
    );
    const runner = await Tidal.connect({ connectionString: db.url, maxCheckpointWalPercent: 1 });
    let started: Promise<unknown> | undefined;
    let checkpointing = false;
    let checkpoints: Promise<void> | undefined;
    try {
      started = runner.start(await migrationFromYaml('double', MIGRATION));
      const held = await waitForThrottle(db, /^WAL toward a forced checkpoint \d+ % over 1 %$/);
      expect(held.done).toBe(0);
      // Checkpoints (other tests write WAL too) until the backfill is through.
      checkpointing = true;
      checkpoints = (async () => {
        while (checkpointing) {
          await db.query('CHECKPOINT');
          await sleep(300);
        }
      })();
      await started;
      expect(await wrongRows(db)).toBe(0);
    } finally {
      checkpointing = false;
      await checkpoints;
      await started?.catch(() => {});
      await runner.close();
      await db.dispose();
    }
  }, 60_000);

  it('waits, saying so, when a standby it was told to watch cannot be read', async () => {
    const db = await seeded();
    try {
      const file = join(await mkdtemp(join(tmpdir(), 'tidal-throttle-')), 'double.yaml');
      await writeFile(file, MIGRATION);
      // The primary itself is no standby: its replay lag cannot be read.
      const { child, exited } = startCli(['start', file, '--url', db.url, '--replica', db.url]);
      const held = await waitForThrottle(
        db,
        /^replica lag at .+ cannot be read \(not a standby\)$/,
      );
      expect(held.done).toBe(0);
      const status = await runCli(['status', '--url', db.url]);
      expect(status.stdout).toMatch(
        /backfill items: 0\/\d+ rows .*replica lag at .* cannot be read/,
      );
      child.kill('SIGKILL');
      await exited;
      expect((await runCli(['rollback', '--url', db.url])).code).toBe(0);
    } finally {
      await db.dispose();
    }
  }, 60_000);
});
