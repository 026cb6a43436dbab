/**
 * Several workers fill and verify disjoint segments of a table at once, each on a connection of
 * its own; pause, the rate ceiling and the throttle signals hold all of them together.
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { BackfillProgress } from '../../src/backfill/run.js';
import { segmentCount, workersFor } from '../../src/backfill/workers.js';
import { Tidal, type TidalOptions } from '../../src/tidal.js';
import { rows } from '../helpers/cycle.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { migrationFromYaml, withTidal } from '../helpers/tidal.js';
import { sleep, until } from '../helpers/wait.js';

const MIGRATION =
  'operations:\n  - add_column: {table: items, up: n * 2, column: {name: n2, type: int, nullable: true}}\n';

async function seeded(count: number): Promise<TestDatabase> {
  const db = await createTestDatabase();
  await db.query('CREATE TABLE items (id int PRIMARY KEY, n int)');
  await db.query(`INSERT INTO items SELECT g, g FROM generate_series(1, ${count}) g`);
  await db.query('ANALYZE items');
  return db;
}

/** Rows whose new column is not what `up` gives. */
async function wrongRows(db: TestDatabase): Promise<number> {
  const [row] = await rows<{ wrong: number }>(
    db.pool,
    'SELECT count(*)::int AS wrong FROM items WHERE _tidal_new_n2 IS DISTINCT FROM n * 2',
  );
  return row?.wrong ?? -1;
}

async function backfillState(db: TestDatabase) {
  const [row] = await rows<{ done: number; verified: number; throttle: string | null }>(
    db.pool,
    `SELECT rows_done::int AS done, rows_verified::int AS verified, throttle FROM tidal.backfills
      WHERE to_regclass('tidal.backfills') IS NOT NULL`,
  ).catch(() => []);
  return row;
}

/** Starts the migration with `options`, collecting its progress events. */
async function starting(db: TestDatabase, options: TidalOptions) {
  const progress: BackfillProgress[] = [];
  const runner = await Tidal.connect({
    connectionString: db.url,
    ...options,
    onEvent: (e) => {
      if (e.type === 'backfill') progress.push(e);
    },
  });
  const started = runner.start(await migrationFromYaml('double', MIGRATION));
  started.catch(() => {});
  return {
    progress,
    started,
    async finish() {
      await started.catch(() => {});
      await runner.close();
    },
  };
}

describe('several backfill workers', () => {
  it('fill and verify disjoint segments at once, each row once, each on its own connection', async () => {
    const db = await seeded(30_000);
    // Sessions of the workers seen running a batch together, sampled while start runs.
    const seen = new Set<number>();
    let together = 0;
    let watching = true;
    const watch = (async () => {
      while (watching) {
        const busy = await rows<{ pid: number }>(
          db.pool,
          `SELECT pid FROM pg_stat_activity
            WHERE application_name = 'tidal backfill' AND state <> 'idle' AND datname = current_database()`,
        );
        for (const { pid } of busy) seen.add(pid);
        together = Math.max(together, busy.length);
        await sleep(5);
      }
    })();
    const run = await starting(db, {
      backfillWorkers: 3,
      backfillBatchSize: 200,
      backfillBatchMs: 20,
    });
    try {
      await run.started;
    } finally {
      watching = false;
      await watch;
      await run.finish();
    }
    expect(await wrongRows(db)).toBe(0);
    expect(seen.size).toBe(3);
    expect(together).toBeGreaterThanOrEqual(2);
    for (const pass of ['fill', 'verify'] as const) {
      const events = run.progress.filter((p) => p.pass === pass);
      expect(events.every((p) => p.workers === 3)).toBe(true);
      expect(events.at(-1)).toMatchObject({ rowsDone: 30_000, done: true });
      // Four segments for each worker, one after the other: each starts where the last ended,
      // and their rows add up to the table's, each row once.
      const segments = await rows<{ start: unknown; end: unknown; done: boolean; rows: number }>(
        db.pool,
        `SELECT start_key AS start, end_key AS end, done, rows_done::int AS rows
           FROM tidal.backfill_segments WHERE pass = $1 ORDER BY segment`,
        [pass],
      );
      expect(segments).toHaveLength(12);
      expect(segments.every((s) => s.done)).toBe(true);
      expect(segments.reduce((sum, s) => sum + s.rows, 0)).toBe(30_000);
      if (pass === 'fill') {
        // Key ranges: from the table's start to its end, each after the last.
        expect(segments[0]?.start).toBeNull();
        expect(segments.at(-1)?.end).toBeNull();
        for (let i = 1; i < segments.length; i++) {
          expect(segments[i]?.start).toEqual(segments[i - 1]?.end);
        }
        expect(segments.every((s) => s.rows > 0)).toBe(true);
      } else {
        // Runs of pages [first, end, file] from page 0 to the table's end, each after the last
        // (the first ones hold only the versions the fill left dead: no rows).
        const runs = segments.map((s) => s.start as string[]);
        expect(runs[0]?.[0]).toBe('0');
        for (let i = 1; i < runs.length; i++) expect(runs[i]?.[0]).toBe(runs[i - 1]?.[1]);
        expect(new Set(runs.map((r) => r[2])).size).toBe(1);
        expect(segments.every((s) => s.end === null)).toBe(true);
      }
    }
    expect(await backfillState(db)).toMatchObject({ done: 30_000, verified: 30_000 });
    await db.dispose();
  });

  it('stay under the rows per second ceiling all together', async () => {
    const db = await seeded(9000);
    const begun = Date.now();
    const run = await starting(db, {
      backfillWorkers: 3,
      backfillRate: 3000,
      backfillVerify: false,
    });
    try {
      await run.started;
    } finally {
      await run.finish();
    }
    // Each worker alone would go at 3000 rows/s: together they take 3 s, less the first batch
    // of each (at most a second's worth of a third of the ceiling).
    expect(Date.now() - begun).toBeGreaterThanOrEqual(2500);
    const fill = run.progress.filter((p) => p.pass === 'fill' && !p.done);
    expect(fill.length).toBeGreaterThan(0);
    expect(fill.every((p) => p.throttle === 'rate 3000 rows/s')).toBe(true);
    expect(await wrongRows(db)).toBe(0);
    await db.dispose();
  });

  it('all hold while paused, and go on together on resume', async () => {
    const db = await seeded(20_000);
    const run = await starting(db, {
      backfillWorkers: 3,
      backfillBatchSize: 100,
      backfillRate: 1500,
    });
    try {
      await until('600 rows backfilled', async () => ((await backfillState(db))?.done ?? 0) >= 600);
      await withTidal(db.url, (t) => t.backfill({ pause: true }));
      await until(
        'the pause is recorded',
        async () => (await backfillState(db))?.throttle === 'paused',
      );
      // Batches under way when the pause was read finish; none begins after.
      await sleep(500);
      const held = (await backfillState(db))?.done;
      await sleep(1000);
      expect((await backfillState(db))?.done).toBe(held);
      expect(held).toBeLessThan(20_000);
      await withTidal(db.url, (t) => t.backfill({ rowsPerSecond: 100_000 }));
      await withTidal(db.url, (t) => t.backfill({ resume: true }));
      await run.started;
      expect(await wrongRows(db)).toBe(0);
      expect(await backfillState(db)).toMatchObject({ done: 20_000, verified: 20_000 });
    } finally {
      await run.finish();
      await db.dispose();
    }
  });

  it('all wait while a throttle signal is over its limit, and do not count their own sessions', async () => {
    const db = await seeded(20_000);
    const busy = await Promise.all(
      [1, 2].map(async () => {
        const client = new pg.Client({ connectionString: db.url });
        await client.connect();
        return client;
      }),
    );
    const sleeping = busy.map((c) => c.query('SELECT pg_sleep(1.5)'));
    const run = await starting(db, { backfillWorkers: 3, maxActiveSessions: 1 });
    try {
      await until('the backfill is held', async () =>
        /^active sessions \d+ sessions over 1 /.test((await backfillState(db))?.throttle ?? ''),
      );
      expect((await backfillState(db))?.done).toBe(0);
      await Promise.all(sleeping);
      // Three workers busy at once are more than the limit: only the application's count.
      await run.started;
      expect(await wrongRows(db)).toBe(0);
      expect(run.progress.filter((p) => p.pass === 'fill').at(-1)?.workers).toBe(3);
    } finally {
      await run.finish();
      for (const c of busy) await c.end();
      await db.dispose();
    }
  });
});

describe('how many workers', () => {
  it('auto: one under a million rows; else what the server lets one query use, at most four', async () => {
    const db = await createTestDatabase();
    const client = await db.client();
    try {
      const auto = async (perGather: number, rows: number) => {
        await client.query(`SET max_parallel_workers_per_gather = ${perGather}`);
        return workersFor(client, 'auto', rows);
      };
      expect(await auto(2, 999_999)).toBe(1);
      expect(await auto(2, 5_000_000)).toBe(3);
      expect(await auto(0, 5_000_000)).toBe(1);
      expect(await auto(1, 5_000_000)).toBe(2);
      expect(await auto(8, 5_000_000)).toBe(4);
      // A number asked for is what runs, whatever the table's size.
      expect(await workersFor(client, 6, 10)).toBe(6);
    } finally {
      await client.end();
      await db.dispose();
    }
  });

  it('segments: four per worker at least, about one per 250,000 rows, at most 64', () => {
    expect(segmentCount(0, 1)).toBe(1);
    expect(segmentCount(400_000, 1)).toBe(2);
    expect(segmentCount(0, 3)).toBe(12);
    expect(segmentCount(10_000_000, 3)).toBe(40);
    expect(segmentCount(100_000_000, 4)).toBe(64);
  });
});
