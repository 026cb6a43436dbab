/** The locks and rewrites the lint rules state, checked against PostgreSQL itself: each rule's
 *  statement runs on a real table in a transaction that is rolled back, reading pg_locks and the
 *  table's relfilenode. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockName } from '../../src/engine/plan-report.js';
import { RULES } from '../../src/lint/rules.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.dispose());

const MODES = [
  'AccessShareLock',
  'RowShareLock',
  'RowExclusiveLock',
  'ShareUpdateExclusiveLock',
  'ShareLock',
  'ShareRowExclusiveLock',
  'ExclusiveLock',
  'AccessExclusiveLock',
];

const withFacts = RULES.filter((r) => r.fact);

describe('lint lock facts', () => {
  it('most rules that name a lock carry a fact to check it by', () => {
    expect(withFacts.length).toBeGreaterThanOrEqual(15);
  });

  it.each(withFacts.map((r) => [r.id, r] as const))('%s', async (_id, rule) => {
    const fact = rule.fact;
    if (!fact) throw new Error('no fact');
    const client = await db.client();
    const schema = `facts_${rule.id.replaceAll('-', '_')}`;
    await client.query(`CREATE SCHEMA ${schema}`);
    await client.query(`SET search_path = ${schema}`);
    try {
      for (const sql of fact.setup) await client.query(sql);
      const oid = (
        await client.query<{ oid: number }>('SELECT $1::regclass::oid::int AS oid', [fact.table])
      ).rows[0]?.oid;
      const before = (await client.query('SELECT pg_relation_filenode($1) AS f', [oid])).rows[0]?.f;
      await client.query('BEGIN');
      await client.query(fact.sql);
      const { rows } = await client.query<{ mode: string }>(
        `SELECT mode FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'relation' AND relation = $1 AND granted`,
        [oid],
      );
      const after = (await client.query('SELECT pg_relation_filenode($1) AS f', [oid])).rows[0]?.f;
      await client.query('ROLLBACK');
      const strongest = MODES[Math.max(...rows.map((r) => MODES.indexOf(r.mode)))]?.replace(
        /Lock$/,
        '',
      );
      expect(strongest).toBe(fact.lock);
      // The rule's documented lock is the one observed (or, for a table dropped, at least it).
      expect(rule.lock?.split(' (')[0]).toBe(lockName(fact.lock));
      expect(after !== before && after !== null).toBe(fact.rewrite);
    } finally {
      await client.query('ROLLBACK').catch(() => {});
      await client.query(`DROP SCHEMA ${schema} CASCADE`);
    }
  });
});
