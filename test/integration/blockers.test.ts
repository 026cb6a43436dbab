/**
 * tidal names the session it really waits for: the old snapshot a concurrent index build waits
 * out (held by a transaction that never touched the table), and the application transaction
 * holding rows a backfill batch needs.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BackfillControl } from '../../src/backfill/control.js';
import type { BackfillProgress } from '../../src/backfill/run.js';
import type { Blocker } from '../../src/catalog/activity.js';
import { Tidal } from '../../src/tidal.js';
import { indexesOf } from '../helpers/catalog.js';
import { rows } from '../helpers/cycle.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { migrationFromYaml, runCli, withTidal } from '../helpers/tidal.js';
import { until } from '../helpers/wait.js';

const LOCK_TIMEOUT_MS = 200;

/** Each test has a database of its own: a failed one leaves its migration behind. */
let db: TestDatabase;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tidal-blockers-'));
});

beforeEach(async () => {
  db = await createTestDatabase();
});

afterEach(async () => {
  await db.dispose();
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A session of its own, with its pid (closed with the database). */
async function session(applicationName: string): Promise<{ pid: number; client: pg.Client }> {
  const client = await db.client(applicationName);
  const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  return { pid: rows[0]?.pid as number, client };
}

describe('a concurrent index build waiting for an old snapshot', () => {
  it('names the transaction holding it, though that transaction never touched the table', async () => {
    await db.query('CREATE TABLE accounts (id int PRIMARY KEY, email text)');
    await db.query(`INSERT INTO accounts SELECT g, 'a' || g FROM generate_series(1, 100) g`);
    await db.query('CREATE TABLE audit (id int)');
    const file = join(dir, 'b01_index_email.yaml');
    await writeFile(
      file,
      'operations:\n  - create_index: {name: accounts_email, table: accounts, columns: [{column: email}]}\n',
    );
    // A report in REPEATABLE READ: its snapshot stays while it is open.
    const report = await session('nightly-report');
    await report.client.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    await report.client.query('SELECT count(*) FROM audit');
    let result: Awaited<ReturnType<typeof runCli>>;
    try {
      result = await runCli([
        'start',
        file,
        '--json',
        '--url',
        db.url,
        '--lock-timeout',
        String(LOCK_TIMEOUT_MS),
        '--lock-retry-deadline',
        '1500',
      ]);
    } finally {
      await report.client.query('COMMIT');
    }
    expect(result.code, result.stderr).toBe(1);
    const lines = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);

    // Every retry named the report, with what it is doing.
    const retries = lines.filter((l) => l.event === 'lock-retry');
    expect(retries.length).toBeGreaterThanOrEqual(1);
    for (const retry of retries) {
      expect(retry.blockers as Blocker[]).toContainEqual(
        expect.objectContaining({
          pid: report.pid,
          applicationName: 'nightly-report',
          state: 'idle in transaction',
          transactionStart: expect.any(String),
          query: 'SELECT count(*) FROM audit',
        }),
      );
    }

    // So did the error tidal gave up with.
    const error = String(lines.at(-1)?.error);
    expect(error).toContain(`pid ${report.pid}, application "nightly-report"`);
    expect(error).toContain('state idle in transaction');
    expect(error).toMatch(/transaction open for \d+s, started \d{4}-\d\d-\d\d /);
    expect(error).toContain('last query: SELECT count(*) FROM audit');
    expect(error).not.toContain('had ended');
    expect(result.stderr).toContain(`pid ${report.pid}, application "nightly-report"`);

    // Once the report is over, rollback leaves no index behind.
    const rollback = await runCli(['rollback', '--url', db.url]);
    expect(rollback.code, rollback.stderr).toBe(0);
    expect((await indexesOf(db, 'accounts')).map((i) => i.name)).toEqual(['accounts_pkey']);
  });
});

describe('a backfill batch waiting on rows the application holds', () => {
  it('tidal status says whose transaction it waits for, and the backfill finishes once it ends', async () => {
    await db.query('CREATE TABLE items (id int PRIMARY KEY, n int)');
    await db.query('INSERT INTO items SELECT g, g FROM generate_series(1, 200) g');
    const name = 'b02_double';
    const loaded = await migrationFromYaml(
      name,
      'operations:\n  - add_column: {table: items, up: n * 2, column: {name: n2, type: int, nullable: true}}\n',
    );
    // Paused from the start: the application takes its row locks after the expand phase (which
    // would wait for them) and before the first batch.
    await withTidal(db.url, (t) => t.init());
    const control = new BackfillControl(db.pool, 'tidal', 'public', name);
    await control.write({ paused: true });
    const progress: BackfillProgress[] = [];
    const runner = await Tidal.connect({
      connectionString: db.url,
      lockTimeoutMs: LOCK_TIMEOUT_MS,
      backfillBatchSize: 10,
      onEvent: (e) => {
        if (e.type === 'backfill') progress.push(e);
      },
    });
    const throttle = async () => {
      const status = await withTidal(db.url, (t) => t.status());
      return status.active?.backfills[0]?.throttle ?? null;
    };
    // An older writer holds a row far ahead; the one the first batch meets is held by another.
    const older = await session('slow-importer');
    const holder = await session('checkout');
    try {
      const started = runner.start(loaded);
      started.catch(() => {}); // awaited below, unless a check fails first
      await until('the backfill is paused', async () => (await throttle()) === 'paused', 20_000);
      await older.client.query('BEGIN');
      await older.client.query('UPDATE items SET n = n + 1000 WHERE id = 150');
      await holder.client.query('BEGIN');
      await holder.client.query('UPDATE items SET n = n + 100 WHERE id = 5');
      await control.write({ paused: false });

      // The first batch waits for the checkout's row, not for the older importer.
      const waitingFor = async (who: { pid: number }, what: string) => {
        let shown = '';
        await until(
          what,
          async () => {
            shown = (await throttle()) ?? '';
            return shown.includes(`waiting for rows locked by pid ${who.pid},`);
          },
          20_000,
        );
        return shown;
      };
      const shown = await waitingFor(holder, 'status names the checkout');
      expect(shown).toContain('application "checkout"');
      expect(shown).toContain('state idle in transaction');
      expect(shown).toMatch(/transaction open for \d+s, started /);
      expect(shown).toContain('last query: UPDATE items SET n = n + 100 WHERE id = 5');
      expect(progress.some((p) => p.throttle === shown)).toBe(true);
      expect(
        (
          await rows<{ done: number }>(
            db.pool,
            'SELECT rows_done::int AS done FROM tidal.backfills',
          )
        )[0]?.done,
      ).toBe(0);

      // Once it commits, the backfill goes on up to the importer's row, and names the importer.
      await holder.client.query('COMMIT');
      expect(await waitingFor(older, 'status names the importer')).toContain(
        'last query: UPDATE items SET n = n + 1000 WHERE id = 150',
      );
      await older.client.query('COMMIT');

      const record = await started;
      expect(record.phase).toBe('active');
    } finally {
      await holder.client.query('ROLLBACK').catch(() => {});
      await older.client.query('ROLLBACK').catch(() => {});
      await runner.close();
    }
    // Every row has its value, those the application changed meanwhile included.
    expect(
      await rows(
        db.pool,
        `SELECT count(*)::int AS rows, count(*) FILTER (WHERE n2 IS DISTINCT FROM n * 2)::int AS wrong
           FROM public_b02_double.items`,
      ),
    ).toEqual([{ rows: 200, wrong: 0 }]);
    expect(await rows(db.pool, 'SELECT n FROM items WHERE id IN (5, 150) ORDER BY id')).toEqual([
      { n: 105 },
      { n: 1150 },
    ]);
    const [backfill] = (await withTidal(db.url, (t) => t.status())).active?.backfills ?? [];
    expect(backfill).toMatchObject({ done: true, rowsDone: 200 });
  }, 60_000);
});
