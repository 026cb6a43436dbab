/** The table locks a session holds, as tidal's steps name them. */
import type { LockMode } from '../../src/model/step.js';
import { LOCK_MODES } from '../../src/model/step.js';
import type { Queryable } from '../../src/pg/queryable.js';

/** The strongest of pg_locks' modes (`AccessExclusiveLock` is `AccessExclusive`), or 'none'. */
function strongest(modes: string[]): LockMode {
  const held = modes
    .map((m) => LOCK_MODES.indexOf(m.replace(/Lock$/, '') as (typeof LOCK_MODES)[number]))
    .filter((i) => i >= 0);
  return held.length === 0 ? 'none' : (LOCK_MODES[Math.max(...held)] ?? 'none');
}

/** The strongest lock this session holds on relation `oid`, or 'none'. */
export async function strongestLock(db: Queryable, oid: number): Promise<LockMode> {
  const { rows } = await db.query<{ mode: string }>(
    `SELECT mode FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'relation' AND relation = $1 AND granted`,
    [oid],
  );
  return strongest(rows.map((r) => r.mode));
}

/**
 * The strongest lock this session holds on each table other than `except`, keyed
 * `schema.table`: what a step declares in `alsoLocks`. Tables of PostgreSQL's own catalogs and
 * of `ignoreSchemas` (tidal's state) do not count.
 */
export async function otherTableLocks(
  db: Queryable,
  except: number,
  ignoreSchemas: string[] = [],
): Promise<Record<string, LockMode>> {
  const { rows } = await db.query<{ table: string; modes: string[] }>(
    `SELECT n.nspname || '.' || c.relname AS table, array_agg(l.mode::text) AS modes
       FROM pg_locks l
       JOIN pg_class c ON c.oid = l.relation AND c.relkind IN ('r', 'p')
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted
        AND l.relation <> $1 AND n.nspname NOT IN ('pg_catalog', 'information_schema')
        AND n.nspname NOT LIKE 'pg\\_toast%' AND NOT n.nspname = ANY($2::text[])
      GROUP BY 1 ORDER BY 1`,
    [except, ignoreSchemas],
  );
  return Object.fromEntries(rows.map((r) => [r.table, strongest(r.modes)]));
}
