/** The rows a backfill expects on a table never analysed (right after a bulk load): the
 *  planner's estimate from its size, not none, so progress is not "100%" from the start. */
import { describe, expect, it } from 'vitest';
import { estimatedRows } from '../../src/catalog/statistics.js';
import { rows } from '../helpers/cycle.js';
import { createTestDatabase } from '../helpers/db.js';
import { migrationFromYaml, withTidal } from '../helpers/tidal.js';

describe('the rows a backfill expects', () => {
  it('on a table never analysed, is estimated from its size', async () => {
    const db = await createTestDatabase();
    try {
      await db.query(
        'CREATE TABLE items (id int PRIMARY KEY, n int) WITH (autovacuum_enabled = false)',
      );
      await db.query('INSERT INTO items SELECT g, g FROM generate_series(1, 20000) g');
      const [stats] = await rows<{ reltuples: number }>(
        db.pool,
        `SELECT reltuples::float8 AS reltuples FROM pg_class WHERE oid = 'items'::regclass`,
      );
      expect(stats?.reltuples).toBe(-1);
      const client = await db.client();
      try {
        const estimate = await estimatedRows(client, 'public.items');
        expect(estimate).toBeGreaterThan(15_000);
        expect(estimate).toBeLessThan(25_000);
        expect(await estimatedRows(client, 'public.missing')).toBeNull();
      } finally {
        await client.end();
      }
      const firstTotals: number[] = [];
      await withTidal(
        db.url,
        async (tidal) => {
          await tidal.start(
            await migrationFromYaml(
              'double',
              'operations:\n  - add_column: {table: items, up: n * 2, column: {name: n2, type: int, nullable: true}}\n',
            ),
          );
        },
        {
          backfillRate: 20_000,
          onEvent: (e) => {
            if (e.type === 'backfill' && e.pass === 'fill' && !e.done)
              firstTotals.push(e.rowsTotal);
          },
        },
      );
      expect(firstTotals.length).toBeGreaterThan(0);
      expect(firstTotals[0]).toBeGreaterThan(15_000);
    } finally {
      await db.dispose();
    }
  }, 60_000);
});
