/** The locks and rewrites the lint rules state, checked against PostgreSQL itself: each rule's
 *  statement runs on a real table in a transaction that is rolled back, reading pg_locks and the
 *  table's relfilenode. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OtherTableLock, RULES } from '../../src/lint/rules.js';
import type { LockMode } from '../../src/model/step.js';
import { lockName } from '../../src/planner/plan-report.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { otherTableLocks, strongestLock } from '../helpers/locks.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.dispose());

const withFacts = RULES.filter((r) => r.fact);

/** Runs `setup` and `before` committed in a schema of its own, then `sql` in a transaction that
 *  is rolled back; returns the strongest lock it took on `table`, on each other table, and
 *  whether it rewrote `table`. */
async function observe(
  name: string,
  statements: { setup: string[]; before: string[]; sql: string; table: string },
): Promise<{ lock: LockMode; others: Record<string, LockMode>; rewrite: boolean }> {
  const client = await db.client();
  const schema = `facts_${name.replaceAll('-', '_')}`;
  await client.query(`CREATE SCHEMA ${schema}`);
  await client.query(`SET search_path = ${schema}`);
  try {
    for (const sql of [...statements.setup, ...statements.before]) await client.query(sql);
    const oid = (
      await client.query<{ oid: number }>('SELECT $1::regclass::oid::int AS oid', [
        statements.table,
      ])
    ).rows[0]?.oid;
    const before = (await client.query('SELECT pg_relation_filenode($1) AS f', [oid])).rows[0]?.f;
    await client.query('BEGIN');
    await client.query(statements.sql);
    const lock = await strongestLock(client, oid ?? 0);
    const others = Object.fromEntries(
      Object.entries(await otherTableLocks(client, oid ?? 0)).map(([table, mode]) => [
        table.slice(schema.length + 1),
        mode,
      ]),
    );
    const after = (await client.query('SELECT pg_relation_filenode($1) AS f', [oid])).rows[0]?.f;
    await client.query('ROLLBACK');
    return { lock, others, rewrite: after !== before && after !== null };
  } finally {
    await client.query('ROLLBACK').catch(() => {});
    await client.query(`DROP SCHEMA ${schema} CASCADE`);
  }
}

/** Declared locks on other tables, as `observe` reports them. */
const byTable = (locks: OtherTableLock[] = []) =>
  Object.fromEntries(locks.map((l) => [l.table, l.lock]));

describe('lint lock facts', () => {
  it('most rules that name a lock carry a fact to check it by', () => {
    expect(withFacts.length).toBeGreaterThanOrEqual(15);
  });

  it.each(withFacts.map((r) => [r.id, r] as const))(
    '%s: the unsafe statement',
    async (id, rule) => {
      const fact = rule.fact;
      if (!fact) throw new Error('no fact');
      const seen = await observe(id, { ...fact, before: [] });
      expect(seen.lock).toBe(fact.lock);
      expect(seen.others).toEqual(byTable(fact.alsoLocks));
      // The rule's documented lock is the one observed.
      expect(rule.lock?.split(' (')[0]).toBe(lockName(fact.lock));
      expect(seen.rewrite).toBe(fact.rewrite);
    },
  );

  it.each(RULES.filter((r) => r.safeFact).map((r) => [r.id, r] as const))(
    '%s: the safe way rewrites nothing and takes the lock it says',
    async (id, rule) => {
      const fact = rule.fact;
      const safe = rule.safeFact;
      if (!fact || !safe) throw new Error('no facts');
      const seen = await observe(`${id}_safe`, { setup: fact.setup, table: fact.table, ...safe });
      expect(seen).toEqual({ lock: safe.lock, others: byTable(safe.alsoLocks), rewrite: false });
    },
  );
});
