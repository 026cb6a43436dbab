/** A tidal process killed mid-command leaves a state the same command finishes. */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snapshotCatalog } from '../helpers/catalog.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { runCli, startCli } from '../helpers/tidal.js';

const ROWS = 5000;
let db: TestDatabase;
let file: string;
let partsFile: string;
let ordersFile: string;
let eventsFile: string;
let ledgerFile: string;
let logsFile: string;
let workersFile: string;
let heapFile: string;

function addUpperColumn(table: string): string {
  return `operations:
  - add_column:
      table: ${table}
      up: upper(name)
      column:
        name: shout
        type: text
`;
}

beforeAll(async () => {
  db = await createTestDatabase();
  for (const table of ['items', 'parts', 'orders', 'events']) {
    await db.query(`CREATE TABLE ${table} (id int PRIMARY KEY, name text NOT NULL)`);
    await db.query(
      `INSERT INTO ${table} SELECT g, 'item ' || g FROM generate_series(1, ${ROWS}) g`,
    );
  }
  const dir = await mkdtemp(join(tmpdir(), 'tidal-kill-'));
  file = join(dir, 'upper.yaml');
  partsFile = join(dir, 'parts_upper.yaml');
  await writeFile(file, addUpperColumn('items'));
  await writeFile(partsFile, addUpperColumn('parts'));
  ordersFile = join(dir, 'orders_upper.yaml');
  await writeFile(ordersFile, addUpperColumn('orders'));
  eventsFile = join(dir, 'events_upper.yaml');
  await writeFile(eventsFile, addUpperColumn('events'));
  // A composite key, and no key at all (walked by location).
  await db.query(
    'CREATE TABLE ledger (tenant int, id int, name text NOT NULL, PRIMARY KEY (tenant, id))',
  );
  await db.query(
    `INSERT INTO ledger SELECT g % 7, g, 'item ' || g FROM generate_series(1, ${ROWS}) g`,
  );
  await db.query('CREATE TABLE logs (name text NOT NULL)');
  await db.query(`INSERT INTO logs SELECT 'item ' || (g % 100) FROM generate_series(1, ${ROWS}) g`);
  await db.query('ANALYZE ledger, logs');
  ledgerFile = join(dir, 'ledger_upper.yaml');
  await writeFile(ledgerFile, addUpperColumn('ledger'));
  logsFile = join(dir, 'logs_upper.yaml');
  await writeFile(logsFile, addUpperColumn('logs'));
  // For several workers: a key, and none (an id column the test writes by, but no key).
  await db.query('CREATE TABLE workers (id int PRIMARY KEY, name text NOT NULL)');
  await db.query('CREATE TABLE heap (id int NOT NULL, name text NOT NULL)');
  for (const table of ['workers', 'heap']) {
    await db.query(
      `INSERT INTO ${table} SELECT g, 'item ' || g FROM generate_series(1, ${ROWS}) g`,
    );
  }
  await db.query('ANALYZE workers, heap');
  workersFile = join(dir, 'workers_upper.yaml');
  await writeFile(workersFile, addUpperColumn('workers'));
  heapFile = join(dir, 'heap_upper.yaml');
  await writeFile(heapFile, addUpperColumn('heap'));
});
afterAll(() => db.dispose());

/** Starts `tidal start` with a slow backfill and kills it with SIGKILL once it is under way
 *  (once `afterRows` more rows are done than when it started), with `args` added. */
async function killMidBackfill(file: string, afterRows = 1000, args: string[] = []): Promise<void> {
  const { child, exited } = startCli([
    'start',
    file,
    '--url',
    db.url,
    '--backfill-batch-size',
    '100',
    '--backfill-rate',
    '2000',
    ...args,
  ]);
  const done = async () => {
    const { rows } = await db
      .query(
        `SELECT rows_done::int AS done FROM tidal.backfills WHERE to_regclass('tidal.backfills') IS NOT NULL AND NOT done`,
      )
      .catch(() => ({ rows: [] as { done: number }[] }));
    return rows[0]?.done ?? 0;
  };
  const from = await done();
  for (let i = 0; i < 200; i++) {
    if ((await done()) >= from + afterRows) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  child.kill('SIGKILL');
  await exited;
}

describe('interrupted start', () => {
  it('resumes the backfill from its checkpoint after SIGKILL, then completes with every row right', async () => {
    await killMidBackfill(file);
    const { rows: checkpoint } = await db.query(
      'SELECT rows_done::int AS done, done AS finished FROM tidal.backfills',
    );
    expect(checkpoint[0]?.finished).toBe(false);
    expect(checkpoint[0]?.done).toBeGreaterThanOrEqual(1000);
    expect(checkpoint[0]?.done).toBeLessThan(ROWS);
    const status = await runCli(['status', '--json', '--url', db.url]);
    expect(JSON.parse(status.stdout).active).toMatchObject({ name: 'upper', phase: 'starting' });

    const resumed = await runCli(['start', file, '--url', db.url]);
    expect(resumed.code).toBe(0);
    expect(resumed.stderr).toMatch(/resuming/);
    const { rows: after } = await db.query(
      'SELECT rows_done::int AS done, done AS finished FROM tidal.backfills',
    );
    // Resumed, not restarted: the rows visited add up to the table once.
    expect(after[0]).toEqual({ done: ROWS, finished: true });

    expect((await runCli(['complete', '--url', db.url])).code).toBe(0);
    const { rows } = await db.query(
      `SELECT count(*)::int AS wrong FROM items WHERE shout IS DISTINCT FROM upper(name)`,
    );
    expect(rows).toEqual([{ wrong: 0 }]);
  });

  it('`tidal backfill resume`, without the file, continues a killed backfill from its checkpoint', async () => {
    await killMidBackfill(ordersFile);
    const { rows: checkpoint } = await db.query(
      `SELECT rows_done::int AS done FROM tidal.backfills WHERE migration = 'orders_upper'`,
    );
    expect(checkpoint[0]?.done).toBeLessThan(ROWS);
    const resumed = await runCli(['backfill', 'resume', '--url', db.url]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(/resumed from its checkpoint/);
    const { rows: after } = await db.query(
      `SELECT rows_done::int AS done, done AS finished FROM tidal.backfills WHERE migration = 'orders_upper'`,
    );
    expect(after[0]).toEqual({ done: ROWS, finished: true });
    const status = await runCli(['status', '--json', '--url', db.url]);
    expect(JSON.parse(status.stdout).active).toMatchObject({
      name: 'orders_upper',
      phase: 'active',
    });
    expect((await runCli(['complete', '--url', db.url])).code).toBe(0);
    const { rows } = await db.query(
      `SELECT count(*)::int AS wrong FROM orders WHERE shout IS DISTINCT FROM upper(name)`,
    );
    expect(rows).toEqual([{ wrong: 0 }]);
  });

  it('killed ten times at random points while the application writes, it loses nothing and visits each row once', async () => {
    // The application keeps writing through the old version: inserts and updates.
    let writing = true;
    let inserted = 0;
    const writer = (async () => {
      for (let id = ROWS + 1; writing; id++) {
        await db.query('INSERT INTO events VALUES ($1, $2)', [id, `item ${id}`]);
        await db.query(`UPDATE events SET name = name || '!' WHERE id = $1`, [1 + (id % ROWS)]);
        inserted++;
      }
    })();
    const checkpoints: number[] = [];
    try {
      for (let kill = 0; kill < 10; kill++) {
        await killMidBackfill(eventsFile, 50 + Math.floor(Math.random() * 400));
        const { rows } = await db.query<{ done: number }>(
          `SELECT rows_done::int AS done FROM tidal.backfills WHERE migration = 'events_upper'`,
        );
        checkpoints.push(rows[0]?.done ?? 0);
      }
    } finally {
      writing = false;
      await writer;
    }
    // Each run went on from the last checkpoint: they only grow.
    expect(checkpoints).toEqual([...checkpoints].sort((a, b) => a - b));
    expect(new Set(checkpoints).size).toBe(checkpoints.length);
    const resumed = await runCli(['start', eventsFile, '--url', db.url]);
    expect(resumed.code, resumed.stderr).toBe(0);
    // The keys the backfill walked add up to the rows that existed before start, plus the ones
    // the application inserted behind its position: every row once, none twice.
    const { rows: after } = await db.query<{ done: number; finished: boolean }>(
      `SELECT rows_done::int AS done, done AS finished FROM tidal.backfills WHERE migration = 'events_upper'`,
    );
    expect(after[0]?.finished).toBe(true);
    const { rows: total } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM events');
    expect(total[0]?.n).toBe(ROWS + inserted);
    expect(after[0]?.done).toBeGreaterThanOrEqual(ROWS);
    expect(after[0]?.done).toBeLessThanOrEqual(ROWS + inserted);
    expect((await runCli(['complete', '--url', db.url])).code).toBe(0);
    const { rows } = await db.query(
      `SELECT count(*)::int AS wrong FROM events WHERE shout IS DISTINCT FROM upper(name)`,
    );
    expect(rows).toEqual([{ wrong: 0 }]);
  }, 120_000);

  it.each([
    ['a composite primary key', 'ledger', () => ledgerFile],
    ['no key (walked by location)', 'logs', () => logsFile],
  ])(
    'with %s, killed five times, it resumes from each checkpoint and fills every row',
    async (_shape, table, file) => {
      const positions: string[] = [];
      for (let kill = 0; kill < 5; kill++) {
        await killMidBackfill(file(), 50 + Math.floor(Math.random() * 400));
        const { rows } = await db.query<{ done: number; position: string }>(
          `SELECT rows_done::int AS done,
                  (SELECT string_agg(position::text, ' ' ORDER BY segment) FROM tidal.backfill_segments s
                    WHERE s.migration = b.migration AND s.pass = 'fill') AS position
             FROM tidal.backfills b WHERE migration = $1`,
          [`${table}_upper`],
        );
        positions.push(rows[0]?.position ?? '');
        // Never past the table: no row counted twice across the runs.
        expect(rows[0]?.done).toBeLessThanOrEqual(ROWS);
      }
      // Each run moved the checkpoint on.
      expect(new Set(positions).size).toBe(positions.length);
      const resumed = await runCli(['start', file(), '--url', db.url]);
      expect(resumed.code, resumed.stderr).toBe(0);
      const { rows: after } = await db.query(
        `SELECT rows_done::int AS done, done AS finished, verified FROM tidal.backfills WHERE migration = $1`,
        [`${table}_upper`],
      );
      expect(after[0]).toEqual({ done: ROWS, finished: true, verified: true });
      expect((await runCli(['complete', '--url', db.url])).code).toBe(0);
      const { rows } = await db.query(
        `SELECT count(*)::int AS n, count(*) FILTER (WHERE shout IS DISTINCT FROM upper(name))::int AS wrong FROM ${table}`,
      );
      expect(rows).toEqual([{ n: ROWS, wrong: 0 }]);
    },
    60_000,
  );

  it.each([
    ['a primary key, the application writing', 'workers', () => workersFile, true],
    ['no key (walked by location)', 'heap', () => heapFile, false],
  ])(
    'with several workers and %s, killed and resumed with other numbers of workers, it fills every row once',
    async (_shape, table, file, writes) => {
      let writing = writes;
      let inserted = 0;
      const writer = (async () => {
        for (let id = ROWS + 1; writing; id++) {
          await db.query(`INSERT INTO ${table} VALUES ($1, $2)`, [id, `item ${id}`]);
          await db.query(`UPDATE ${table} SET name = name || '!' WHERE id = $1`, [1 + (id % ROWS)]);
          inserted++;
        }
      })();
      const segments = () =>
        db.query<{ segment: number; position: string; done: boolean; rows: number }>(
          `SELECT segment, position::text, done, rows_done::int AS rows FROM tidal.backfill_segments
            WHERE migration = $1 AND pass = 'fill' ORDER BY segment`,
          [`${table}_upper`],
        );
      const walked: number[] = [];
      try {
        for (const workers of [3, 1, 4, 2]) {
          await killMidBackfill(file(), 300 + Math.floor(Math.random() * 600), [
            '--backfill-workers',
            String(workers),
          ]);
          const { rows } = await segments();
          walked.push(rows.reduce((sum, s) => sum + s.rows, 0));
        }
      } finally {
        writing = false;
        await writer;
      }
      // Planned once, by the first run: four segments for each of its three workers.
      expect((await segments()).rows.map((s) => s.segment)).toEqual([...Array(12).keys()]);
      // Each run went on from where the runs before it had stopped.
      expect(walked).toEqual([...walked].sort((a, b) => a - b));
      expect(new Set(walked).size).toBe(walked.length);
      const resumed = await runCli(['start', file(), '--url', db.url, '--backfill-workers', '3']);
      expect(resumed.code, resumed.stderr).toBe(0);
      const { rows: after } = await db.query<{ done: number; finished: boolean }>(
        `SELECT rows_done::int AS done, done AS finished FROM tidal.backfills WHERE migration = $1`,
        [`${table}_upper`],
      );
      expect(after[0]?.finished).toBe(true);
      expect((await segments()).rows.every((s) => s.done)).toBe(true);
      // Every row that existed at start once, and at most the rows inserted behind a worker.
      expect(after[0]?.done).toBeGreaterThanOrEqual(ROWS);
      expect(after[0]?.done).toBeLessThanOrEqual(ROWS + inserted);
      expect((await runCli(['complete', '--url', db.url])).code).toBe(0);
      const { rows } = await db.query(
        `SELECT count(*)::int AS n, count(*) FILTER (WHERE shout IS DISTINCT FROM upper(name))::int AS wrong FROM ${table}`,
      );
      expect(rows).toEqual([{ n: ROWS + inserted, wrong: 0 }]);
    },
    90_000,
  );

  it('rolls back to exactly the schema before after a SIGKILL mid-backfill', async () => {
    const before = await snapshotCatalog(db.pool);
    await killMidBackfill(partsFile);
    const rollback = await runCli(['rollback', '--url', db.url]);
    expect(rollback.code).toBe(0);
    expect(await snapshotCatalog(db.pool)).toEqual(before);
  });
});
