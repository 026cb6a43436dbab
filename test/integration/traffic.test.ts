/** Both application versions write all the way through start, backfill and complete: no
 *  transaction fails and no row or update is lost. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkInvariants,
  DEMO_MIGRATION,
  NEW_APP,
  OLD_APP,
  seedAccounts,
} from '../../src/demo/compare.js';
import { summarize, TrafficGroup } from '../../src/demo/traffic.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { migrationFromYaml, withTidal } from '../helpers/tidal.js';

const ROWS = 20_000;
let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
  await seedAccounts(db.url, ROWS);
});
afterAll(() => db.dispose());

describe('a migration under traffic from both versions', () => {
  it('loses no transaction, row or update through start, backfill and complete', async () => {
    const loaded = await migrationFromYaml('cents', DEMO_MIGRATION);
    const old = new TrafficGroup({
      url: db.url,
      versionSchema: null,
      connections: 3,
      ratePerSecond: 300,
      workload: OLD_APP,
      maxId: ROWS,
    });
    const next = new TrafficGroup({
      url: db.url,
      versionSchema: 'public_cents',
      connections: 2,
      ratePerSecond: 100,
      workload: NEW_APP,
      maxId: ROWS,
    });
    await old.start();
    try {
      await withTidal(
        db.url,
        async (tidal) => {
          // Small batches make the backfill take long enough to overlap the traffic.
          await tidal.start(loaded);
          await next.start();
          await new Promise((r) => setTimeout(r, 1000));
          await old.stop();
          await tidal.complete();
          await new Promise((r) => setTimeout(r, 300));
        },
        { backfillBatchSize: 200 },
      );
    } finally {
      await old.stop();
      await next.stop();
    }
    const all = [...old.transactions, ...next.transactions];
    const failures = all.filter((t) => !t.ok);
    expect(failures.map((f) => f.error)).toEqual([]);
    expect(old.transactions.length).toBeGreaterThan(100);
    expect(next.transactions.length).toBeGreaterThan(20);
    expect(summarize(all, 0, Number.POSITIVE_INFINITY).failed).toBe(0);

    // Every row seeded or inserted present, every update in the balances, every cents column right.
    await db.query('SELECT balance_cents FROM accounts LIMIT 1'); // complete made the column
    const checks = await checkInvariants(db.pool, ROWS, [old, next]);
    expect(checks).toHaveLength(4);
    for (const check of checks) expect(check.actual, check.name).toBe(check.expected);
  });
});
