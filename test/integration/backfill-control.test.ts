/** Live control of a running backfill from another connection: pause, resume, rate. */
import { describe, expect, it } from 'vitest';
import type { BackfillProgress } from '../../src/backfill/run.js';
import { Tidal } from '../../src/tidal.js';
import { rows } from '../helpers/cycle.js';
import { createTestDatabase } from '../helpers/db.js';
import { migrationFromYaml, withTidal } from '../helpers/tidal.js';
import { sleep, until } from '../helpers/wait.js';

const ROWS = 20_000;

describe('backfill control', () => {
  it('a pause holds the backfill still until resume; a new rate applies to the next batches', async () => {
    const db = await createTestDatabase();
    try {
      await db.query('CREATE TABLE items (id int PRIMARY KEY, n int)');
      await db.query(`INSERT INTO items SELECT g, g FROM generate_series(1, ${ROWS}) g`);
      const loaded = await migrationFromYaml(
        'double',
        'operations:\n  - add_column: {table: items, up: n * 2, column: {name: n2, type: int, nullable: true}}\n',
      );
      const progress: BackfillProgress[] = [];
      const runner = await Tidal.connect({
        connectionString: db.url,
        backfillBatchSize: 100,
        backfillRate: 1000,
        onEvent: (e) => {
          if (e.type === 'backfill') progress.push(e);
        },
      });
      const state = async () =>
        (
          await rows<{ done: number; throttle: string | null }>(
            db.pool,
            'SELECT rows_done::int AS done, throttle FROM tidal.backfills',
          )
        )[0];
      try {
        const started = runner.start(loaded);
        await until(
          '300 rows backfilled',
          async () => ((await state().catch(() => undefined))?.done ?? 0) >= 300,
        );

        expect(await withTidal(db.url, (t) => t.backfill({ pause: true }))).toMatchObject({
          migration: 'double',
          paused: true,
        });
        await until(
          'the backfill reports the pause',
          async () => (await state())?.throttle === 'paused',
        );
        const held = (await state())?.done;
        await sleep(1000);
        expect((await state())?.done).toBe(held);
        expect(progress.at(-1)?.throttle).toMatch(/^paused/);

        // Faster, then resumed: the batches that follow are sized to the new ceiling.
        await withTidal(db.url, (t) => t.backfill({ rowsPerSecond: 50_000 }));
        const resumed = await withTidal(db.url, (t) => t.backfill({ resume: true }));
        expect(resumed).toMatchObject({ paused: false, rowsPerSecond: 50_000, resumed: false });
        await started;
        const after = progress.filter((p) => p.throttle === 'rate 50000 rows/s');
        expect(after.length).toBeGreaterThan(0);
        expect(progress.filter((p) => p.throttle === 'rate 1000 rows/s').length).toBeGreaterThan(0);
        // Before, no batch took more than a second's worth of the old ceiling.
        const before = progress.filter((p) => p.throttle === 'rate 1000 rows/s');
        expect(Math.max(...before.map((p) => p.batchSize))).toBeLessThanOrEqual(1000);
      } finally {
        await runner.close();
      }
      expect(
        await rows(
          db.pool,
          'SELECT count(*)::int AS wrong FROM items WHERE _tidal_new_n2 IS DISTINCT FROM n * 2',
        ),
      ).toEqual([{ wrong: 0 }]);
      // Every row visited once: paused and resumed, not restarted.
      expect(
        await rows(db.pool, 'SELECT rows_done::int AS done, done AS finished FROM tidal.backfills'),
      ).toEqual([{ done: ROWS, finished: true }]);
    } finally {
      await db.dispose();
    }
  }, 60_000);

  it('refuses control with no active migration, naming the schema', async () => {
    const db = await createTestDatabase();
    try {
      const error = await withTidal(db.url, (t) => t.backfill({ pause: true })).catch(
        (e: Error) => e,
      );
      expect((error as Error).message).toMatch(/no migration is active in schema "public"/);
    } finally {
      await db.dispose();
    }
  });
});
