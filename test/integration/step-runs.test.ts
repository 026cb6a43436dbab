/** Each stored step is recorded as it ran (its lock, how long it waited for it, its attempts),
 *  for the dashboard's timeline on any machine; a rollback forgets them with the migration. */
import { describe, expect, it } from 'vitest';
import { rows } from '../helpers/cycle.js';
import { createTestDatabase } from '../helpers/db.js';
import { migrationFromYaml, withTidal } from '../helpers/tidal.js';
import { sleep, until } from '../helpers/wait.js';

describe('step runs', () => {
  it('record the lock a step took, how long it waited and its attempts; rollback forgets them', async () => {
    const db = await createTestDatabase();
    const reader = await db.client();
    try {
      await db.query('CREATE TABLE items (id int PRIMARY KEY, n int)');
      await db.query('INSERT INTO items SELECT g, g FROM generate_series(1, 100) g');
      await withTidal(
        db.url,
        async (tidal) => {
          // An open transaction that read the table: ADD COLUMN waits for it.
          await reader.query('BEGIN');
          await reader.query('SELECT count(*) FROM items');
          let attempts = 0;
          const started = tidal.start(
            await migrationFromYaml(
              'double',
              'operations:\n  - add_column: {table: items, up: n * 2, column: {name: n2, type: int, nullable: true}}\n',
            ),
          );
          await until('start retried its lock', async () => {
            const [row] = await rows<{ n: number }>(
              db.pool,
              `SELECT count(*)::int AS n FROM pg_stat_activity
                WHERE application_name LIKE 'tidal%' AND wait_event_type = 'Lock'`,
            );
            attempts += row?.n ?? 0;
            return attempts > 2;
          });
          await sleep(300);
          await reader.query('COMMIT');
          await started;

          const { steps } = await tidal.watch();
          const [first] = steps;
          expect(first).toMatchObject({
            migration: 'double',
            phase: 'start',
            step: 0,
            lock: 'AccessExclusive',
            table: 'public.items',
          });
          expect(first?.attempts).toBeGreaterThan(1);
          expect(first?.waitedMs).toBeGreaterThan(0);
          expect(first?.ms).toBeGreaterThanOrEqual(first?.waitedMs ?? 0);
          const startSteps = steps.filter((s) => s.phase === 'start');
          expect(startSteps.map((s) => s.step)).toEqual(startSteps.map((_, i) => i));

          await tidal.rollback();
          const [left] = await rows<{ n: number }>(
            db.pool,
            `SELECT count(*)::int AS n FROM tidal.step_runs WHERE migration = 'double'`,
          );
          expect(left?.n).toBe(0);
        },
        { lockTimeoutMs: 50 },
      );
    } finally {
      await reader.end();
      await db.dispose();
    }
  }, 60_000);
});
