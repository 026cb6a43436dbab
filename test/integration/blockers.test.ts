/**
 * tidal names the session it really waits for: the old snapshot a concurrent index build waits
 * out, held by a transaction that never touched the table.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Blocker } from '../../src/executor/blockers.js';
import { indexesOf } from '../helpers/catalog.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { runCli } from '../helpers/tidal.js';

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
