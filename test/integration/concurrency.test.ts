/**
 * tidal under concurrency: waiting for a lock another session holds without stalling traffic,
 * giving up cleanly (and resumably) when the lock never comes, and two tidal commands at once.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Blocker } from '../../src/catalog/activity.js';
import { BusyError, LockTimeoutError } from '../../src/errors.js';
import type { TidalEvent } from '../../src/tidal.js';
import { snapshotCatalog } from '../helpers/catalog.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { migrationFromYaml, runCli, withTidal } from '../helpers/tidal.js';
import { sleep } from '../helpers/wait.js';

const LOCK_TIMEOUT_MS = 200;
/**
 * Longest a reader or writer may take while tidal retries. A query queued behind tidal's waiting
 * ALTER TABLE waits at most one lock_timeout; the margin absorbs a noisy 2-core machine. Had
 * tidal waited without a timeout, queries would have stalled for the whole ~2 s the holder keeps
 * its lock.
 */
const TRAFFIC_LATENCY_LIMIT_MS = LOCK_TIMEOUT_MS + 500;
const HOLD_MS = 2_000;
const ROWS = 1_000;
const TRAFFIC_CONNECTIONS = 4;

let db: TestDatabase;
let dir: string;

function addColumnYaml(column: string): string {
  return `operations:
  - add_column:
      table: accounts
      column:
        name: ${column}
        type: text
        nullable: true
`;
}

async function writeMigration(name: string, yaml: string): Promise<string> {
  const file = join(dir, `${name}.yaml`);
  await writeFile(file, yaml);
  return file;
}

/** A session that holds a lock on accounts in an open transaction until `release`. */
async function holdLock(
  mode = 'ACCESS SHARE',
  applicationName = 'lock-holder',
): Promise<{ pid: number; client: pg.Client; release: () => Promise<number> }> {
  const client = await db.client(applicationName);
  const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  await client.query('BEGIN');
  await client.query(`LOCK TABLE accounts IN ${mode} MODE`);
  let released: number | undefined;
  return {
    pid: rows[0]?.pid as number,
    client,
    async release() {
      if (released === undefined) {
        released = Date.now();
        await client.query('COMMIT');
      }
      return released;
    },
  };
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** The pid of the session holding tidal's advisory lock (from pg_locks), if any. */
async function advisoryHolderPid(): Promise<number | undefined> {
  const { rows } = await db.query<{ pid: number }>(
    `SELECT l.pid FROM pg_locks l
      WHERE l.locktype = 'advisory' AND l.granted
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
  );
  return rows[0]?.pid;
}

/** The pid of a session waiting (not granted) for a lock on accounts, if any. */
async function waiterOnAccounts(): Promise<number | undefined> {
  const { rows } = await db.query<{ pid: number }>(
    `SELECT pid FROM pg_locks
      WHERE locktype = 'relation' AND NOT granted AND relation = 'public.accounts'::regclass`,
  );
  return rows[0]?.pid;
}

async function activeMigration(): Promise<string | null> {
  return withTidal(db.url, async (tidal) => (await tidal.status()).active?.name ?? null);
}

interface Sample {
  kind: 'read' | 'write';
  startedAt: number;
  ms: number;
}

/**
 * Readers and writers on accounts, each on its own connection, one short autocommit query after
 * another, every latency recorded. Writers update disjoint rows, so they never wait on each
 * other's row locks: any wait is a table lock.
 */
async function startTraffic(): Promise<{
  samples: Sample[];
  errors: unknown[];
  stop: () => Promise<void>;
}> {
  const samples: Sample[] = [];
  const errors: unknown[] = [];
  let running = true;
  const clients = await Promise.all(
    Array.from({ length: TRAFFIC_CONNECTIONS }, (_, i) => db.client(`traffic-${i}`)),
  );
  const loops = clients.map(async (client, i) => {
    const kind: Sample['kind'] = i % 2 === 0 ? 'read' : 'write';
    let n = 0;
    while (running) {
      n++;
      // Connection i touches only ids congruent to i + 1 modulo the connection count.
      const id = ((n * TRAFFIC_CONNECTIONS + i) % ROWS) + 1;
      const startedAt = Date.now();
      try {
        if (kind === 'read') {
          await client.query('SELECT balance FROM accounts WHERE id = $1', [id]);
        } else {
          await client.query('UPDATE accounts SET balance = balance + 1 WHERE id = $1', [id]);
        }
        samples.push({ kind, startedAt, ms: Date.now() - startedAt });
      } catch (error) {
        errors.push(error);
      }
      await sleep(5);
    }
  });
  return {
    samples,
    errors,
    async stop() {
      running = false;
      await Promise.all(loops);
      await Promise.all(clients.map((c) => c.end().catch(() => {})));
    },
  };
}

function blockersOf(events: TidalEvent[]): Blocker[][] {
  return events.flatMap((e) => (e.type === 'lock-retry' ? [e.blockers] : []));
}

beforeAll(async () => {
  db = await createTestDatabase();
  dir = await mkdtemp(join(tmpdir(), 'tidal-concurrency-'));
  await db.query('CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL)');
  await db.query(`INSERT INTO accounts SELECT g, 100 FROM generate_series(1, ${ROWS}) g`);
});

afterAll(async () => {
  await db?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('waiting for a lock another session holds', () => {
  it('retries with a short lock_timeout, keeps traffic flowing, and finishes once the lock is released', async () => {
    const loaded = await migrationFromYaml('c01_add_note', addColumnYaml('note'));
    const holder = await holdLock();
    const traffic = await startTraffic();
    let releasedAt = 0;
    let startedAt = 0;
    let finishedAt = 0;
    const events: TidalEvent[] = [];
    const retryTimes: number[] = [];
    try {
      await sleep(300); // traffic before tidal starts
      const record = await withTidal(
        db.url,
        async (tidal) => {
          startedAt = Date.now();
          const start = tidal.start(loaded).finally(() => {
            finishedAt = Date.now();
          });
          await sleep(HOLD_MS);
          expect(finishedAt, 'start finished while the lock was still held').toBe(0);
          releasedAt = await holder.release();
          return start;
        },
        {
          lockTimeoutMs: LOCK_TIMEOUT_MS,
          lockRetryDeadlineMs: 60_000,
          onEvent: (event) => {
            events.push(event);
            if (event.type === 'lock-retry') retryTimes.push(Date.now());
          },
        },
      );
      await sleep(300); // traffic after tidal finished
      await traffic.stop();

      expect(record.phase).toBe('active');
      expect(finishedAt).toBeGreaterThanOrEqual(releasedAt);

      // tidal retried while the holder held the lock, and named it.
      const retries = blockersOf(events);
      expect(retries.length).toBeGreaterThanOrEqual(1);
      expect(retryTimes.every((t) => t <= releasedAt + 1_000)).toBe(true);
      const namedHolder = retries.some((blockers) =>
        blockers.some((b) => b.pid === holder.pid && b.applicationName === 'lock-holder'),
      );
      expect(namedHolder, JSON.stringify(retries)).toBe(true);
      const firstRetry = events.find((e) => e.type === 'lock-retry');
      expect(firstRetry?.type === 'lock-retry' && firstRetry.step.sql).toMatch(/ALTER TABLE/);

      // The new column is there, through the new version.
      const { rows } = await db.query(
        `SELECT id, balance, note FROM "${record.versionSchema}".accounts WHERE id = 1`,
      );
      expect(rows).toEqual([{ id: 1, balance: expect.any(Number), note: null }]);

      // Traffic never stalled for longer than about one lock_timeout.
      expect(traffic.errors).toEqual([]);
      const during = traffic.samples.filter(
        (s) => s.startedAt >= startedAt && s.startedAt <= releasedAt,
      );
      expect(during.filter((s) => s.kind === 'read').length).toBeGreaterThan(20);
      expect(during.filter((s) => s.kind === 'write').length).toBeGreaterThan(20);
      const slowest = traffic.samples.reduce((max, s) => (s.ms > max.ms ? s : max));
      expect(
        slowest.ms,
        `slowest ${slowest.kind} took ${slowest.ms} ms, ${slowest.startedAt - startedAt} ms after start began`,
      ).toBeLessThan(TRAFFIC_LATENCY_LIMIT_MS);
    } finally {
      await traffic.stop();
      await holder.release().catch(() => {});
    }
    await withTidal(db.url, (tidal) => tidal.rollback());
  });

  it('gives up after the retry deadline naming the blocking session, and rollback restores the catalog', async () => {
    const before = await snapshotCatalog(db);
    const loaded = await migrationFromYaml('c02_add_memo', addColumnYaml('memo'));
    const holder = await holdLock();
    let error: unknown;
    let elapsed = 0;
    try {
      await withTidal(
        db.url,
        async (tidal) => {
          const t0 = Date.now();
          error = await tidal.start(loaded).then(
            () => undefined,
            (e: unknown) => e,
          );
          elapsed = Date.now() - t0;
        },
        { lockTimeoutMs: LOCK_TIMEOUT_MS, lockRetryDeadlineMs: 1_500 },
      );

      expect(error).toBeInstanceOf(LockTimeoutError);
      const message = (error as Error).message;
      expect(message).toContain(`pid ${holder.pid}`);
      expect(message).toContain('application "lock-holder"');
      expect(message).toMatch(/accounts/);
      expect(message).toMatch(/tidal rollback/);
      expect(elapsed).toBeGreaterThanOrEqual(LOCK_TIMEOUT_MS);
      expect(elapsed).toBeLessThan(1_500 + 3_000);

      // The migration is recorded as unfinished, with the reason.
      const status = await withTidal(db.url, (tidal) => tidal.status());
      expect(status.active?.name).toBe('c02_add_memo');
      expect(status.active?.phase).toBe('starting');
      expect(status.active?.lastError).toContain(`pid ${holder.pid}`);
    } finally {
      await holder.release();
    }

    await withTidal(db.url, (tidal) => tidal.rollback());
    expect(await activeMigration()).toBeNull();
    expect(await snapshotCatalog(db)).toEqual(before);
    const { rows } = await db.query(`SELECT count(*)::int AS n FROM tidal.migrations`);
    expect(rows[0]?.n).toBe(0);
  });

  it('resumes a start that gave up once the lock is free', async () => {
    const before = await snapshotCatalog(db);
    const loaded = await migrationFromYaml('c03_add_tag', addColumnYaml('tag'));
    const holder = await holdLock();
    const options = { lockTimeoutMs: LOCK_TIMEOUT_MS, lockRetryDeadlineMs: 1_000 };
    try {
      await expect(withTidal(db.url, (tidal) => tidal.start(loaded), options)).rejects.toThrow(
        LockTimeoutError,
      );
    } finally {
      await holder.release();
    }
    const record = await withTidal(db.url, (tidal) => tidal.start(loaded), options);
    expect(record.phase).toBe('active');
    const { rows } = await db.query(
      `SELECT tag FROM "${record.versionSchema}".accounts WHERE id = 2`,
    );
    expect(rows).toEqual([{ tag: null }]);
    const status = await withTidal(db.url, (tidal) => tidal.status());
    expect(status.active).toMatchObject({ name: 'c03_add_tag', phase: 'active', lastError: null });

    await withTidal(db.url, (tidal) => tidal.rollback());
    expect(await snapshotCatalog(db)).toEqual(before);
  });

  it('through the CLI: exit 1 naming the blocking session, no stack trace', async () => {
    const before = await snapshotCatalog(db);
    const file = await writeMigration('c04_add_label', addColumnYaml('label'));
    const holder = await holdLock('ROW EXCLUSIVE', 'uncommitted-writer');
    let result: Awaited<ReturnType<typeof runCli>>;
    try {
      result = await runCli([
        'start',
        file,
        '--url',
        db.url,
        '--lock-timeout',
        String(LOCK_TIMEOUT_MS),
        '--lock-retry-deadline',
        '1500',
      ]);
    } finally {
      await holder.release();
    }
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toContain(`pid ${holder.pid}`);
    expect(result.stderr).toContain('uncommitted-writer');
    expect(result.stderr).not.toMatch(/^\s+at /m);

    const status = await runCli(['status', '--json', '--url', db.url]);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout).active).toMatchObject({
      name: 'c04_add_label',
      phase: 'starting',
    });
    const rollback = await runCli(['rollback', '--url', db.url]);
    expect(rollback.code, rollback.stderr).toBe(0);
    expect(await snapshotCatalog(db)).toEqual(before);
  });
});

describe('two tidal commands at once', () => {
  it('a second start (CLI) fails at once naming the running one, which then finishes', async () => {
    const first = await migrationFromYaml('c10_first', addColumnYaml('first_col'));
    const secondFile = await writeMigration('c11_second', addColumnYaml('second_col'));
    const holder = await holdLock();
    const events: TidalEvent[] = [];
    let firstSettled = false;
    try {
      const record = await withTidal(
        db.url,
        async (tidal) => {
          const start = tidal.start(first).finally(() => {
            firstSettled = true;
          });
          await waitFor('the first start to retry', () =>
            events.some((e) => e.type === 'lock-retry') ? true : undefined,
          );
          const firstPid = await waitFor('the advisory lock holder', advisoryHolderPid);

          const t0 = Date.now();
          const second = await runCli(['start', secondFile, '--url', db.url]);
          const secondMs = Date.now() - t0;
          expect(firstSettled, 'the first start ended before the second one').toBe(false);
          expect(second.code, second.stderr).toBe(1);
          expect(second.stderr).toMatch(/another tidal command is running/);
          expect(second.stderr).toContain(`pid ${firstPid}`);
          expect(second.stderr).toContain('tidal start c10_first');
          expect(second.stderr).not.toMatch(/^\s+at /m);
          expect(secondMs).toBeLessThan(15_000);

          const json = await runCli(['start', secondFile, '--url', db.url, '--json']);
          expect(json.code).toBe(1);
          const lines = json.stdout.trim().split('\n');
          const output = JSON.parse(lines.at(-1) ?? '');
          expect(output.exitCode).toBe(1);
          expect(output.error).toContain(`pid ${firstPid}`);
          expect(firstSettled).toBe(false);

          await holder.release();
          return start;
        },
        {
          lockTimeoutMs: LOCK_TIMEOUT_MS,
          lockRetryDeadlineMs: 60_000,
          onEvent: (e) => events.push(e),
        },
      );
      expect(record.phase).toBe('active');
    } finally {
      await holder.release();
    }
    // The second left nothing behind: the first is the only migration.
    const status = await withTidal(db.url, (tidal) => tidal.status());
    expect(status.active?.name).toBe('c10_first');
    const { rows } = await db.query<{ name: string }>(`SELECT name FROM tidal.migrations`);
    expect(rows.map((r) => r.name)).toEqual(['c10_first']);
    await withTidal(db.url, (tidal) => tidal.rollback());
  });

  it('two CLI processes: exactly one runs, the other exits 1 at once', async () => {
    const before = await snapshotCatalog(db);
    const firstFile = await writeMigration('c20_first', addColumnYaml('a_col'));
    const secondFile = await writeMigration('c21_second', addColumnYaml('b_col'));
    const holder = await holdLock();
    const args = ['--url', db.url, '--lock-timeout', String(LOCK_TIMEOUT_MS)];
    let firstDone = false;
    const firstRun = runCli(['start', firstFile, ...args]).finally(() => {
      firstDone = true;
    });
    try {
      // The first process holds tidal's lock and waits on accounts.
      const firstPid = await waitFor('the first process to hold the advisory lock', async () => {
        const pid = await advisoryHolderPid();
        return pid !== undefined && pid === (await waiterOnAccounts()) ? pid : undefined;
      });
      const second = await runCli(['start', secondFile, ...args]);
      expect(firstDone, 'the first process ended before the second one').toBe(false);
      expect(second.code, second.stderr).toBe(1);
      expect(second.stderr).toMatch(/another tidal command is running/);
      expect(second.stderr).toContain(`pid ${firstPid}`);
    } finally {
      await holder.release();
    }
    const first = await firstRun;
    expect(first.code, first.stderr).toBe(0);
    const status = await runCli(['status', '--json', '--url', db.url]);
    expect(JSON.parse(status.stdout).active).toMatchObject({ name: 'c20_first', phase: 'active' });

    const rollback = await runCli(['rollback', '--url', db.url]);
    expect(rollback.code, rollback.stderr).toBe(0);
    expect(await snapshotCatalog(db)).toEqual(before);
  });

  it('two Tidal instances started together: one wins, the other gets BusyError naming it', async () => {
    const before = await snapshotCatalog(db);
    const holder = await holdLock();
    const migrations = await Promise.all([
      migrationFromYaml('c30_left', addColumnYaml('left_col')),
      migrationFromYaml('c31_right', addColumnYaml('right_col')),
    ]);
    let winnerPid: number | undefined;
    let outcomes: PromiseSettledResult<unknown>[] = [];
    try {
      outcomes = await Promise.allSettled(
        migrations.map((m) =>
          withTidal(
            db.url,
            async (tidal) => {
              try {
                return await tidal.start(m);
              } catch (error) {
                // The winner still holds the lock while it waits for the holder.
                winnerPid = await advisoryHolderPid();
                await holder.release();
                throw error;
              }
            },
            { lockTimeoutMs: LOCK_TIMEOUT_MS, lockRetryDeadlineMs: 60_000 },
          ),
        ),
      );
    } finally {
      await holder.release();
    }
    const failed = outcomes.filter((o) => o.status === 'rejected');
    const succeeded = outcomes.filter((o) => o.status === 'fulfilled');
    expect(failed).toHaveLength(1);
    expect(succeeded).toHaveLength(1);
    const reason = (failed[0] as PromiseRejectedResult).reason;
    expect(reason).toBeInstanceOf(BusyError);
    expect(winnerPid).toBeDefined();
    expect((reason as Error).message).toContain(`pid ${winnerPid}`);

    const status = await withTidal(db.url, (tidal) => tidal.status());
    const winner = (succeeded[0] as PromiseFulfilledResult<{ name: string }>).value.name;
    expect(status.active?.name).toBe(winner);
    await withTidal(db.url, (tidal) => tidal.rollback());
    expect(await snapshotCatalog(db)).toEqual(before);
  });
});
