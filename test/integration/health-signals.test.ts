/**
 * The health signals that hold a backfill, each made to cross its limit on a real server: the
 * database's rollback and deadlock rates, sessions waiting on the backfill's locks, and a probe
 * of the user's; and a critical value that stops start cleanly, to be resumed.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { Tidal, type TidalOptions } from '../../src/tidal.js';
import { rows } from '../helpers/cycle.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { migrationFromYaml, runCli } from '../helpers/tidal.js';
import { sleep } from '../helpers/wait.js';

const MIGRATION =
  'operations:\n  - add_column: {table: items, up: n * 2, column: {name: n2, type: int, nullable: true}}\n';

async function seeded(count = 5000): Promise<TestDatabase> {
  const db = await createTestDatabase();
  await db.query('CREATE TABLE items (id int PRIMARY KEY, n int)');
  await db.query(`INSERT INTO items SELECT g, g FROM generate_series(1, ${count}) g`);
  return db;
}

interface BackfillRow {
  done: number;
  throttle: string | null;
}

async function backfillRow(db: TestDatabase): Promise<BackfillRow | undefined> {
  const [row] = await rows<BackfillRow>(
    db.pool,
    `SELECT rows_done::int AS done, throttle FROM tidal.backfills
      WHERE to_regclass('tidal.backfills') IS NOT NULL`,
  ).catch(() => []);
  return row;
}

/** The backfill's row once its recorded throttle reason matches. */
async function waitForThrottle(db: TestDatabase, pattern: RegExp): Promise<BackfillRow> {
  for (let i = 0; i < 400; i++) {
    const row = await backfillRow(db);
    if (row?.throttle && pattern.test(row.throttle)) return row;
    await sleep(50);
  }
  throw new Error(`the backfill never said ${pattern}; last: ${(await backfillRow(db))?.throttle}`);
}

/** Rows whose new column is not what `up` gives. */
async function wrongRows(db: TestDatabase): Promise<number> {
  const [row] = await rows<{ wrong: number }>(
    db.pool,
    'SELECT count(*)::int AS wrong FROM items WHERE _tidal_new_n2 IS DISTINCT FROM n * 2',
  );
  return row?.wrong ?? -1;
}

/** Runs `step` on `client` over and over until the returned stop is called. */
function loop(step: () => Promise<void>): () => Promise<void> {
  let running = true;
  const done = (async () => {
    while (running) await step();
  })();
  return async () => {
    running = false;
    await done;
  };
}

/** Starts the migration with `options` while `load` runs; checks that the backfill was held
 *  at its first batch for `reason`, then lifts the load and lets it finish with every row
 *  right. */
async function heldBy(
  db: TestDatabase,
  options: TidalOptions,
  load: () => () => Promise<void>,
  reason: RegExp,
): Promise<void> {
  const stop = load();
  const runner = await Tidal.connect({ connectionString: db.url, ...options });
  let started: Promise<unknown> | undefined;
  let stopped = false;
  try {
    started = runner.start(await migrationFromYaml('double', MIGRATION));
    const held = await waitForThrottle(db, reason);
    expect(held.done).toBe(0);
    await stop();
    stopped = true;
    await started;
    expect(await wrongRows(db)).toBe(0);
  } finally {
    if (!stopped) await stop();
    await started?.catch(() => {});
    await runner.close();
  }
}

describe('health signals that hold the backfill', () => {
  it('the rollback rate: waits while the database rolls back more transactions per second than allowed', async () => {
    const db = await seeded();
    const app = await db.client();
    try {
      await heldBy(
        db,
        { maxRollbackRate: 20 },
        () =>
          loop(async () => {
            await app.query('BEGIN');
            await app.query('SELECT 1');
            await app.query('ROLLBACK');
          }),
        /^rollback rate \d+ rollbacks\/s over 20 rollbacks\/s$/,
      );
    } finally {
      await app.end();
      await db.dispose();
    }
  }, 90_000);

  it('the deadlock rate: waits while the database detects more deadlocks per minute than allowed', async () => {
    const db = await seeded();
    await db.query('CREATE TABLE pair (id int PRIMARY KEY, v int)');
    await db.query('INSERT INTO pair VALUES (1, 0), (2, 0)');
    const [a, b] = [await db.client(), await db.client()] as [pg.Client, pg.Client];
    try {
      for (const c of [a, b]) await c.query(`SET deadlock_timeout = '10ms'`);
      // Each locks one row, then wants the other's: one of the two is chosen as the victim.
      const deadlock = async () => {
        await a.query('BEGIN');
        await b.query('BEGIN');
        await a.query('UPDATE pair SET v = v + 1 WHERE id = 1');
        await b.query('UPDATE pair SET v = v + 1 WHERE id = 2');
        await Promise.allSettled([
          a.query('UPDATE pair SET v = v + 1 WHERE id = 2'),
          b.query('UPDATE pair SET v = v + 1 WHERE id = 1'),
        ]);
        await a.query('ROLLBACK');
        await b.query('ROLLBACK');
      };
      await heldBy(
        db,
        { maxDeadlockRate: 30 },
        () => loop(deadlock),
        /^deadlock rate \d+ deadlocks\/min over 30 deadlocks\/min$/,
      );
      const [counted] = await rows<{ deadlocks: number }>(
        db.pool,
        'SELECT deadlocks::int FROM pg_stat_database WHERE datname = current_database()',
      );
      expect(counted?.deadlocks).toBeGreaterThan(0);
    } finally {
      await a.end();
      await b.end();
      await db.dispose();
    }
  }, 90_000);

  it("sessions waiting on tidal's locks: a worker waits while the application waits on rows another worker's batch holds", async () => {
    const db = await seeded();
    // The 300th row a batch computes makes that batch sleep, holding the rows it has updated.
    await db.query('CREATE SEQUENCE tick');
    const up =
      "CASE WHEN current_setting('tidal.backfill', true) = 'on' THEN CASE WHEN nextval('tick') = 300 THEN n * 2 + length(pg_sleep(3)::text) ELSE n * 2 END ELSE n * 2 END";
    const slow = `operations:\n  - add_column: {table: items, up: "${up}", column: {name: n2, type: int, nullable: true}}\n`;
    const app = await db.client();
    const runner = await Tidal.connect({
      connectionString: db.url,
      maxLockWaiters: 0,
      backfillWorkers: 2,
      backfillRate: 1000,
      backfillVerify: false,
    });
    let started: Promise<unknown> | undefined;
    try {
      started = runner.start(await migrationFromYaml('double', slow));
      let sleeping = false;
      for (let i = 0; i < 400 && !sleeping; i++) {
        sleeping =
          (
            await rows(
              db.pool,
              `SELECT 1 FROM pg_stat_activity WHERE application_name = 'tidal backfill' AND wait_event = 'PgSleep'`,
            )
          ).length > 0;
        if (!sleeping) await sleep(25);
      }
      expect(sleeping).toBe(true);
      // The rows the sleeping batch holds are those SKIP LOCKED leaves out.
      await app.query('BEGIN');
      const free = await app.query<{ id: number }>(
        'SELECT id FROM items ORDER BY id FOR UPDATE SKIP LOCKED',
      );
      await app.query('ROLLBACK');
      const freeIds = new Set(free.rows.map((r) => r.id));
      const locked = [...Array(5000).keys()].map((i) => i + 1).find((id) => !freeIds.has(id));
      expect(locked).toBeDefined();
      const waiting = app.query('UPDATE items SET n = n WHERE id = $1', [locked]);
      const held = await waitForThrottle(
        db,
        /^sessions waiting on tidal's locks 1 sessions over 0 sessions$/,
      );
      expect(held.done).toBeLessThan(5000);
      await waiting;
      await started;
      expect(await wrongRows(db)).toBe(0);
    } finally {
      await started?.catch(() => {});
      await runner.close();
      await app.end();
      await db.dispose();
    }
  }, 90_000);

  it('a probe of the user: waits while its query returns more than its max', async () => {
    const db = await seeded();
    await db.query('CREATE TABLE load_gauge (value numeric)');
    await db.query('INSERT INTO load_gauge VALUES (50)');
    try {
      await heldBy(
        db,
        { probe: { sql: 'SELECT value FROM load_gauge', max: 10 } },
        () => async () => {
          await db.query('UPDATE load_gauge SET value = 2');
        },
        /^probe 50 over 10$/,
      );
    } finally {
      await db.dispose();
    }
  }, 60_000);
});

describe('a critical value stops start cleanly, and start resumes it', () => {
  it('stops the backfill part way with exit 1 and the reason, keeps what it did, and resumes', async () => {
    const db = await seeded(20_000);
    await db.query('CREATE TABLE load_gauge (value int)');
    await db.query('INSERT INTO load_gauge VALUES (0)');
    const file = join(await mkdtemp(join(tmpdir(), 'tidal-critical-')), 'double.yaml');
    await writeFile(file, MIGRATION);
    const flags = [
      '--url',
      db.url,
      '--probe',
      'SELECT value FROM load_gauge',
      '--probe-max',
      '100',
      '--critical-load',
      'probe=1000',
      '--backfill-rate',
      '4000',
    ];
    try {
      const run = runCli(['start', file, ...flags]);
      for (let i = 0; i < 400 && ((await backfillRow(db))?.done ?? 0) === 0; i++) await sleep(25);
      await db.query('UPDATE load_gauge SET value = 5000');
      const stopped = await run;
      expect(stopped.code).toBe(1);
      expect(stopped.stderr).toContain('the backfill stopped: probe 5000 over the critical 1000');
      expect(stopped.stderr).toMatch(/start of "double" stopped where its checkpoint is/);
      const row = await backfillRow(db);
      expect(row?.throttle).toBe('stopped: probe 5000 over the critical 1000');
      expect(row?.done).toBeGreaterThan(0);
      expect(row?.done).toBeLessThan(20_000);
      const status = await runCli(['status', '--url', db.url]);
      expect(status.stdout).toMatch(/active migration: double \(starting\)/);
      expect(status.stdout).toMatch(/backfill items: .*stopped: probe 5000 over the critical 1000/);

      await db.query('UPDATE load_gauge SET value = 0');
      const resumed = await runCli(['start', file, ...flags]);
      expect(resumed.code).toBe(0);
      expect(resumed.stderr).toContain('resuming the interrupted start of "double"');
      expect(await wrongRows(db)).toBe(0);
    } finally {
      await db.dispose();
    }
  }, 90_000);

  it('refuses a probe that fails or returns no number, and a critical load it cannot read, with exit 2 and nothing changed', async () => {
    const db = await seeded(10);
    const file = join(await mkdtemp(join(tmpdir(), 'tidal-probe-')), 'double.yaml');
    await writeFile(file, MIGRATION);
    try {
      const cases: [string[], RegExp][] = [
        [['--probe', 'SELECT nope', '--probe-max', '1'], /--probe "SELECT nope" failed: .*nope/],
        [
          ['--probe', 'SELECT 1, 2', '--probe-max', '1'],
          /--probe "SELECT 1, 2": it returned 1 rows of 2 columns, not one number/,
        ],
        [['--probe', "SELECT 'high'", '--probe-max', '1'], /it returned "high", not a number/],
        [['--probe', 'SELECT 1'], /--probe: give --probe-max or --critical-load probe=N/],
        [['--critical-load', 'load=5'], /--critical-load.*signals: replica-lag, /],
        [['--critical-load', 'probe=-1'], /--critical-load.*expected a number above 0/],
      ];
      for (const [extra, message] of cases) {
        const result = await runCli(['start', file, '--url', db.url, ...extra]);
        expect({ extra, code: result.code }).toEqual({ extra, code: 2 });
        expect(result.stderr).toMatch(message);
      }
      const [state] = await rows<{ state: string | null; columns: number }>(
        db.pool,
        `SELECT to_regclass('tidal.migrations')::text AS state,
                (SELECT count(*)::int FROM information_schema.columns WHERE table_name = 'items') AS columns`,
      );
      expect(state).toEqual({ state: null, columns: 2 });
    } finally {
      await db.dispose();
    }
  }, 60_000);
});
