/** Probes: asking the database what statements would do, keeping nothing they do. */
import type pg from 'pg';
import type { Queryable } from './queryable.js';

/**
 * Runs `opening` (settings such as `SET LOCAL search_path`, temporary tables...) in a
 * transaction that is always rolled back, in the round trip of its BEGIN; then `work`, if
 * given, in the same transaction. Without `work` the ROLLBACK goes in that round trip too and
 * the opening statements' results are returned. An error rolls back as well and is thrown.
 */
export async function rolledBack(
  db: Queryable,
  opening: readonly string[],
): Promise<pg.QueryResult[]>;
export async function rolledBack<T>(
  db: Queryable,
  opening: readonly string[],
  work: () => Promise<T>,
): Promise<T>;
export async function rolledBack<T>(
  db: Queryable,
  opening: readonly string[],
  work?: () => Promise<T>,
): Promise<T | pg.QueryResult[]> {
  // A multi-statement string stops at its first error, leaving the transaction to roll back.
  const text = ['BEGIN', ...opening, ...(work ? [] : ['ROLLBACK'])].join(';\n');
  let done = false;
  try {
    const results = [(await db.query(text)) as unknown as pg.QueryResult | pg.QueryResult[]].flat();
    if (!work) {
      done = true;
      return results.slice(1, 1 + opening.length);
    }
    return await work();
  } finally {
    if (!done) await db.query('ROLLBACK').catch(() => {});
  }
}
