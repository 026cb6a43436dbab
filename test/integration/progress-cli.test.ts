/** What the CLI prints where no terminal reads it (CI, a container's log): a progress line per
 *  --progress-interval while a backfill runs, an ISO time on every --json event, and status
 *  with an ETA. The built binary runs as a child process, so its stderr is a pipe. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { runCli, startCli } from '../helpers/tidal.js';
import { until } from '../helpers/wait.js';

let db: TestDatabase;
let dir: string;

const ITEMS = 4000;
const ORDERS = 2000;
/** 4000 rows at 1000 rows/s take more than three of the 1 s intervals. */
const SLOW = ['--backfill-rate', '1000', '--backfill-workers', '1', '--progress-interval', '1s'];

const addColumn = (table: string) =>
  `operations:\n  - add_column: {table: ${table}, up: n * 2, column: {name: n2, type: int, nullable: true}}\n`;

beforeAll(async () => {
  db = await createTestDatabase();
  dir = await mkdtemp(join(tmpdir(), 'tidal-progress-'));
  await db.query('CREATE TABLE items (id int PRIMARY KEY, n int)');
  await db.query(`INSERT INTO items SELECT g, g FROM generate_series(1, ${ITEMS}) g`);
  await db.query('CREATE TABLE orders (id int PRIMARY KEY, n int)');
  await db.query(`INSERT INTO orders SELECT g, g FROM generate_series(1, ${ORDERS}) g`);
  await db.query('ANALYZE');
  await writeFile(join(dir, '01_items_n2.yaml'), addColumn('items'));
  await writeFile(join(dir, '02_orders_n2.yaml'), addColumn('orders'));
});

afterAll(async () => {
  await db?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface StatusBackfill {
  table: string;
  done: boolean;
  etaSeconds: number | null;
}

async function statusJson(): Promise<{ active: { backfills: StatusBackfill[] } | null }> {
  const status = await runCli(['status', '--json', '--url', db.url]);
  expect(status.code, status.stderr).toBe(0);
  return JSON.parse(status.stdout);
}

describe('progress without a terminal', () => {
  it('prints a plain line per interval with rows/s and ETA before the done line; status gives the ETA meanwhile', async () => {
    const cli = startCli(['start', join(dir, '01_items_n2.yaml'), '--url', db.url, ...SLOW]);
    // Another process, while the fill runs: the ETA of the rows left.
    let filling: StatusBackfill | undefined;
    await until(
      'status shows the fill running with an ETA',
      async () => {
        filling = (await statusJson()).active?.backfills.find(
          (b) => !b.done && b.etaSeconds !== null,
        );
        return filling !== undefined;
      },
      20_000,
    );
    expect(filling?.etaSeconds).toBeGreaterThan(0);
    expect(await cli.exited, cli.stderr()).toBe(0);

    const stderr = cli.stderr();
    expect(stderr).not.toContain('\r');
    for (const pass of ['backfill', 'verify']) {
      const lines = stderr.split('\n').filter((l) => l.startsWith(`  ${pass} items: `));
      const done = lines.findIndex((l) => l.endsWith(', done'));
      // Lines before the done line, and none after it.
      expect(done, stderr).toBeGreaterThan(0);
      expect(done, stderr).toBe(lines.length - 1);
      for (const line of lines.slice(0, done))
        expect(line).toMatch(
          new RegExp(
            `^  ${pass} items: \\d+/${ITEMS} rows \\(\\d+\\.\\d%\\), [\\d.]+k? rows/s, ETA \\d+[smh]\\S*( \\(.+\\))?$`,
          ),
        );
      expect(lines[done]).toMatch(
        new RegExp(
          `^  ${pass} items: ${ITEMS}/${ITEMS} rows \\(100\\.0%\\), [\\d.]+k? rows/s, done$`,
        ),
      );
    }
  });

  it('status once start finished: the rows counted as the total, no ETA, and what is active', async () => {
    const backfill = (await statusJson()).active?.backfills[0];
    expect(backfill).toMatchObject({ table: 'items', done: true, etaSeconds: null });
    const human = await runCli(['status', '--url', db.url]);
    expect(human.stdout).toContain(
      `  backfill items: ${ITEMS}/${ITEMS} rows (100.0%), filled and verified`,
    );
    expect(human.stdout).toContain(
      'applied: no migration file completed yet; active, counted once completed: 01_items_n2 (active)',
    );
    expect((await runCli(['complete', '--url', db.url])).code).toBe(0);
    expect((await runCli(['status', '--url', db.url])).stdout).toContain(
      'applied: 1 migration file completed; none active',
    );
  });
});

describe('--json', () => {
  it('every event line carries the ISO time it was written, in order; the result document is as it was', async () => {
    const result = await runCli([
      'start',
      join(dir, '02_orders_n2.yaml'),
      '--complete',
      '--json',
      '--url',
      db.url,
      ...SLOW,
    ]);
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const events = lines.slice(0, -1);
    expect(events.every((e) => typeof e.event === 'string')).toBe(true);
    expect(events.filter((e) => e.event === 'backfill').length).toBeGreaterThan(1);
    const times = events.map((e) => e.at as string);
    for (const at of times) expect(new Date(at).toISOString()).toBe(at);
    expect([...times].sort()).toEqual(times);
    expect(lines.at(-1)).toMatchObject({ migration: '02_orders_n2', phase: 'completed' });
    expect(lines.at(-1)).not.toHaveProperty('at');
  });
});

describe('bad input', () => {
  it('--progress-interval that is no duration: exit 2, saying what it expected', async () => {
    const result = await runCli(['status', '--progress-interval', 'abc', '--url', db.url]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      "option '--progress-interval <duration>' argument 'abc' is invalid. expected a duration such as 30s, 10m or 1h",
    );
  });
});
