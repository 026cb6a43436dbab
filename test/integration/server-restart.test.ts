/** The server crashes and restarts mid-backfill: the backfill goes on from its checkpoint. */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedServer, startEmbeddedPostgres } from '../../src/pg/embedded.js';
import { runCli, startCli } from '../helpers/tidal.js';

const ROWS = 20_000;
// A server of its own: restarting the shared one would break the other test files.
let server: EmbeddedServer;

beforeAll(async () => {
  server = await startEmbeddedPostgres();
});
afterAll(() => server?.stop());

/** One query on a connection of its own: connections do not survive the restart. */
async function query<R extends pg.QueryResultRow>(sql: string): Promise<R[]> {
  const client = new pg.Client({ connectionString: server.url });
  client.on('error', () => {});
  await client.connect();
  try {
    return (await client.query<R>(sql)).rows;
  } finally {
    await client.end().catch(() => {});
  }
}

async function checkpoint(): Promise<{ done: number; finished: boolean; verified: boolean }> {
  const rows = await query<{ done: number; finished: boolean; verified: boolean }>(
    `SELECT rows_done::int AS done, done AS finished, verified FROM tidal.backfills`,
  ).catch(() => []);
  return rows[0] ?? { done: 0, finished: false, verified: false };
}

describe('a server restart mid-backfill', () => {
  it('cuts the running start, which says how to go on; start again continues from the checkpoint', async () => {
    await query('CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL)');
    await query(`INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, ${ROWS}) g`);
    const dir = await mkdtemp(join(tmpdir(), 'tidal-restart-'));
    const file = join(dir, 'shout.yaml');
    await writeFile(
      file,
      'operations:\n  - add_column:\n      table: items\n      up: upper(name)\n      column: {name: shout, type: text}\n',
    );

    const cli = startCli([
      'start',
      file,
      '--url',
      server.url,
      '--backfill-batch-size',
      '200',
      '--backfill-rate',
      '5000',
    ]);
    for (let i = 0; i < 500 && (await checkpoint()).done < 6000; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect((await checkpoint()).done).toBeGreaterThanOrEqual(6000);

    await server.restart();
    expect(await cli.exited).toBe(1);
    expect(cli.stderr()).toMatch(/connection was lost during start of "shout".*run `tidal start`/s);
    // Batches commit without waiting for their WAL flush, so the crash may have undone the
    // last few, each with its checkpoint; the earlier ones survived. The table was not
    // finished: the restart cut a backfill under way.
    const after = await checkpoint();
    expect(after.done).toBeGreaterThan(0);
    expect(after.finished).toBe(false);
    const status = await runCli(['status', '--json', '--url', server.url]);
    expect(JSON.parse(status.stdout).active).toMatchObject({ name: 'shout', phase: 'starting' });

    const resumed = await runCli(['start', file, '--url', server.url]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/resuming/);
    // Resumed, not restarted: the rows visited add up to the table once.
    expect(await checkpoint()).toEqual({ done: ROWS, finished: true, verified: true });
    expect((await runCli(['complete', '--url', server.url])).code).toBe(0);
    expect(
      await query(
        'SELECT count(*)::int AS wrong FROM items WHERE shout IS DISTINCT FROM upper(name)',
      ),
    ).toEqual([{ wrong: 0 }]);
  }, 120_000);
});
