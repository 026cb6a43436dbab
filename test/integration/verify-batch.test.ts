/**
 * A verification batch reads its range once and writes only what the fill missed, bounded by
 * the ends that read found: by composite key and by location, batch after batch, every row is
 * seen once, unfilled rows are filled, and rows whose new column differs from `up` are counted.
 */
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type VerifyFinding, verifyBatch } from '../../src/backfill/verify.js';
import { type WalkPosition, walkFor } from '../../src/backfill/walk.js';
import { NEEDS_BACKFILL_COLUMN } from '../../src/model/names.js';
import { ident } from '../../src/pg/quote.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

let db: TestDatabase;
let client: pg.Client;
beforeAll(async () => {
  db = await createTestDatabase();
  client = await db.client();
});
afterAll(() => db.dispose());

const MARK = ident(NEEDS_BACKFILL_COLUMN);

/**
 * `table (a int, b int, n int, n2 int, mark)` of 30 x 50 rows, filled (n2 = n * 2, mark NULL)
 * but for the rows with n % 97 = 0, left unfilled (mark true), and those with n % 89 = 0, whose
 * n2 is wrong. Pages keep room, so an updated row stays on its page: one the verification fills
 * must not move to a page ahead of the walk, where it would be seen twice (which is harmless,
 * but not what this counts).
 */
async function filledTable(table: string, key: string): Promise<void> {
  await db.query(`CREATE TABLE ${table} (a int NOT NULL, b int NOT NULL, n int, n2 int,
                  ${MARK} boolean DEFAULT true ${key}) WITH (fillfactor = 25)`);
  await db.query(`INSERT INTO ${table} (a, b, n)
                  SELECT a, b, a * 50 + b FROM generate_series(1, 30) a, generate_series(1, 50) b`);
  await db.query(`UPDATE ${table} SET n2 = n * 2, ${MARK} = NULL WHERE n % 97 <> 0`);
  await db.query(`UPDATE ${table} SET n2 = -1 WHERE n % 89 = 0`);
}

/** The whole verification, batch by batch: what the batches found, summed. */
async function verifyAll(table: string, key: string[], rows: number) {
  const qualified = `public.${ident(table)}`;
  const walk = await walkFor(client, 'public', table, key);
  const fill = `n2 = n * 2, ${MARK} = NULL`;
  const columns = [{ column: 'n2', expression: 'n * 2' }];
  let from: WalkPosition | null = null;
  const total = { seen: 0, missed: 0, mismatched: 0, batches: 0, sample: [] as unknown[][] };
  for (;;) {
    const finding: VerifyFinding = await verifyBatch(
      client,
      walk,
      qualified,
      fill,
      `${qualified}.${MARK}`,
      columns,
      from,
      rows,
    );
    const next: WalkPosition | null = finding.position ?? from;
    walk.record(from, next, finding.seen);
    total.seen += finding.seen;
    total.missed += finding.missed;
    total.mismatched += finding.mismatched;
    total.batches++;
    if (total.sample.length === 0) total.sample = finding.sample;
    from = next;
    if (walk.finished(next, finding.seen, rows)) return total;
  }
}

async function state(table: string) {
  const { rows } = await db.query<{ unfilled: number; wrong: number }>(
    `SELECT count(*) FILTER (WHERE ${MARK})::int AS unfilled,
            count(*) FILTER (WHERE n2 IS DISTINCT FROM n * 2)::int AS wrong FROM ${table}`,
  );
  return rows[0];
}

// n from 51 to 1550: 15 multiples of 97 unfilled, 17 multiples of 89 (none also of 97) wrong.
const UNFILLED = 15;
const WRONG = 17;

describe('a verification batch', () => {
  it('by composite key: every row seen once, the unfilled filled, the wrong counted', async () => {
    await filledTable('by_key', ', PRIMARY KEY (a, b)');
    const found = await verifyAll('by_key', ['a', 'b'], 64);
    expect(found).toMatchObject({ seen: 1500, missed: UNFILLED, mismatched: WRONG });
    expect(found.batches).toBe(Math.ceil(1500 / 64));
    // The first wrong row is n = 89: a = 1, b = 39.
    expect(found.sample[0]).toEqual(['1', '39']);
    expect(await state('by_key')).toEqual({ unfilled: 0, wrong: WRONG });
  });

  it('by location: the same, over runs of pages', async () => {
    await filledTable('by_location', '');
    const found = await verifyAll('by_location', [], 100);
    expect(found).toMatchObject({ seen: 1500, missed: UNFILLED, mismatched: WRONG });
    expect(await state('by_location')).toEqual({ unfilled: 0, wrong: WRONG });
  });
});
