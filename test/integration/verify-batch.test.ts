/**
 * A verification batch reads its range once and writes only what the fill missed, bounded by
 * the ends that read found: by composite key and by location, batch after batch, every row is
 * seen once, unfilled rows are filled, and rows whose new column differs from `up` are counted.
 */
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type VerifyFinding, type VerifyTarget, verifyBatch } from '../../src/backfill/verify.js';
import {
  type TableWalk,
  type WalkPosition,
  walkByLocation,
  walkFor,
} from '../../src/backfill/walk.js';
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

/** What verification checks in `table`: n2 = n * 2, rows named as by `walk`. */
function target(table: string, walk: TableWalk): VerifyTarget {
  const qualified = `public.${ident(table)}`;
  return {
    table: qualified,
    fill: `n2 = n * 2, ${MARK} = NULL`,
    mark: `${qualified}.${MARK}`,
    columns: [{ column: 'n2', expression: 'n * 2' }],
    sampleKey: walk.rowKey(qualified),
  };
}

/** The whole verification, batch by batch, walking by `key` (by location when empty), rows
 *  named by `named` (the walk's own way when not given): what the batches found, summed. */
async function verifyAll(table: string, key: string[], rows: number, named = key) {
  const walk = await walkFor(client, 'public', table, key);
  const checked = target(table, await walkFor(client, 'public', table, named));
  let from: WalkPosition | null = null;
  const total = { seen: 0, missed: 0, mismatched: 0, batches: 0, sample: [] as unknown[][] };
  for (;;) {
    const finding: VerifyFinding = await verifyBatch(client, walk, checked, from, rows);
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

  it('by location on a table with a key: rows named by their key', async () => {
    await filledTable('keyed_by_location', ', PRIMARY KEY (a, b)');
    const found = await verifyAll('keyed_by_location', [], 100, ['a', 'b']);
    expect(found).toMatchObject({ seen: 1500, missed: UNFILLED, mismatched: WRONG });
    // Rows stayed on their pages in the order they were written: n = 89 comes first.
    expect(found.sample[0]).toEqual(['1', '39']);
  });

  it('by location: the batch after a rewrite of the table finds it not intact; a new walk goes on', async () => {
    await filledTable('rewritten', '');
    const walk = await walkByLocation(client, 'public', 'rewritten');
    const checked = target('rewritten', walk);
    const first = await verifyBatch(client, walk, checked, null, 100);
    expect(first).toMatchObject({ intact: true, seen: expect.any(Number) });
    expect(first.seen).toBeGreaterThan(0);
    const before = await state('rewritten');
    await db.query('VACUUM FULL rewritten');
    expect(await verifyBatch(client, walk, checked, first.position, 100)).toMatchObject({
      intact: false,
    });
    // Nothing was filled in the rewritten table's pages.
    expect(await state('rewritten')).toEqual(before);
    // A walk by key is not concerned: its positions are keys.
    await filledTable('rewritten_keyed', ', PRIMARY KEY (a, b)');
    const byKey = await walkFor(client, 'public', 'rewritten_keyed', ['a', 'b']);
    const keyed = target('rewritten_keyed', byKey);
    const firstByKey = await verifyBatch(client, byKey, keyed, null, 100);
    await db.query('VACUUM FULL rewritten_keyed');
    expect(await verifyBatch(client, byKey, keyed, firstByKey.position, 100)).toMatchObject({
      intact: true,
      seen: 100,
    });
    const again = await walkByLocation(client, 'public', 'rewritten');
    expect(
      (await verifyBatch(client, again, target('rewritten', again), null, 100)).seen,
    ).toBeGreaterThan(0);
  });
});
